// hls4ml's table sigmoid on N lanes (compiler/rtl/network.py `sigmoid_index`, `sigmoid_table`): the index of a
// lane x (IW bits, FX fraction bits) is trunc_to_zero(x * 64) + 512 clamped to 0..1023, the result the table's
// entry (1024 words of OW bits, the result type, from TABLE_FILE). Two stages, stalled together: the index
// register, then the table read into the output register (a synchronous read of the lane's own copy of
// the table: block RAM, or LUTs where Yosys folds the ROM into logic).
module fc_sigmoid (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N  = 1;
    parameter integer IW = 16;
    parameter integer FX = 10;
    parameter integer OW = 16;
    parameter TABLE_FILE = "sigmoid.mem";
    `include "tpe_util.svh"
    localparam integer XW = IW + 8;          // x * 64 and the offset, signed
    input  logic                  clk;
    input  logic                  rst;
    input  logic [cmul(N, IW)-1:0] s_data;
    input  logic                  s_valid;
    output logic                  s_ready;
    output wire  [cmul(N, OW)-1:0] m_data;
    output logic                  m_valid;
    input  logic                  m_ready;

    wire en = !rst && (!m_valid || m_ready);     // both stages move together
    logic i_valid;
    assign s_ready = en;
    always_ff @(posedge clk) begin
        if (rst) begin i_valid <= 1'b0; m_valid <= 1'b0; end
        else if (en) begin i_valid <= s_valid; m_valid <= i_valid; end
    end

    genvar l;
    generate
        for (l = 0; l < N; l = l + 1) begin : g_lane
            wire signed [IW-1:0] x = s_data[l*IW +: IW];
            wire signed [XW-1:0] q;
            if (FX >= 6) begin : g_down
                // truncation towards zero of x / 2^(FX-6): a negative x is biased up first
                localparam integer SH = FX - 6;
                wire signed [XW-1:0] bias = (x < 0) ? XW'((64'd1 << SH) - 64'd1) : XW'(0);
                assign q = (XW'(x) + bias) >>> SH;
            end else begin : g_up
                localparam integer SH = 6 - FX;
                assign q = XW'(x) <<< SH;
            end
            wire signed [XW-1:0] v = q + XW'(512);
            logic [9:0] idx;
            logic [OW-1:0] y;
            // one table per lane: each memory has one read port (a 16-port ROM ran Yosys 0.23's
            // memory_libmap out of memory), and the hardware is what it costs: N tables
            logic [OW-1:0] table_rom [0:1023];
            initial $readmemh(TABLE_FILE, table_rom);
            always_ff @(posedge clk)
                if (en) idx <= (v < 0) ? 10'd0 : (v > XW'(1023)) ? 10'd1023 : v[9:0];
            always_ff @(posedge clk)
                if (en) y <= table_rom[idx];
            assign m_data[l*OW +: OW] = y;
        end
    endgenerate
endmodule
