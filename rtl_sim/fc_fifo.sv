// Stream FIFO (valid/ready), DEPTH entries of DW bits; s_ready and m_valid come from registers only, so a FIFO
// between two modules also cuts their combinational ready/valid paths. Depth 2 passes one beat per cycle.
module fc_fifo (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer DW    = 8;
    parameter integer DEPTH = 2;
    localparam integer AW = (DEPTH <= 2) ? 1 : $clog2(DEPTH);
    input  logic          clk;
    input  logic          rst;
    input  logic [DW-1:0] s_data;
    input  logic          s_valid;
    output logic          s_ready;
    output logic [DW-1:0] m_data;
    output logic          m_valid;
    input  logic          m_ready;

    logic [DW-1:0] mem [0:DEPTH-1];
    logic [AW-1:0] rd, wr;
    logic [AW:0]   cnt;
    wire wfire = s_valid && s_ready;
    wire rfire = m_valid && m_ready;
    assign s_ready = !rst && (cnt != DEPTH[AW:0]);
    assign m_valid = cnt != '0;
    assign m_data  = mem[rd];
    always_ff @(posedge clk) begin
        if (wfire) mem[wr] <= s_data;
        if (rst) begin
            rd <= '0; wr <= '0; cnt <= '0;
        end else begin
            if (wfire) wr <= (wr == AW'(DEPTH - 1)) ? '0 : wr + 1'b1;
            if (rfire) rd <= (rd == AW'(DEPTH - 1)) ? '0 : rd + 1'b1;
            cnt <= cnt + {{AW{1'b0}}, wfire} - {{AW{1'b0}}, rfire};
        end
    end
endmodule
