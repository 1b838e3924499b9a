// Pixels -> AXI-Stream words in the handoff's layout (compiler/handoff/axi.py): ELEMS elements per frame in
// channels-last order, PW lanes of EB bits per word, each element sign-extended into its lane, WORDS words per
// frame, the last one zero-padded and marked with tlast.
module fc_axis_out (clk, rst, s_data, s_valid, s_ready, m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast);
    parameter integer C     = 1;
    parameter integer W     = 16;
    parameter integer EB    = 16;
    parameter integer WB    = 64;
    parameter integer PW    = 4;
    parameter integer ELEMS = 4;
    parameter integer WORDS = 1;
    `include "tpe_util.svh"
    localparam integer CAP = C + PW;
    input  logic                  clk;
    input  logic                  rst;
    input  logic [cmul(C, W)-1:0] s_data;
    input  logic                  s_valid;
    output logic                  s_ready;
    output logic [WB-1:0]         m_axis_tdata;
    output logic                  m_axis_tvalid;
    input  logic                  m_axis_tready;
    output logic                  m_axis_tlast;

    logic [W-1:0] eb [0:CAP-1];
    integer n, eidx, cnt;
    always_comb cnt = (ELEMS - eidx < PW) ? ELEMS - eidx : PW;
    wire emit = (n >= cnt) && (!m_axis_tvalid || m_axis_tready);
    wire [31:0] base = n - (emit ? cnt : 0);
    assign s_ready = !rst && (base + C <= CAP);
    wire put = s_valid && s_ready;

    always_ff @(posedge clk) begin
        if (rst) begin
            n <= 0; eidx <= 0; m_axis_tvalid <= 1'b0; m_axis_tlast <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (emit) begin
                m_axis_tvalid <= 1'b1;
                m_axis_tlast <= eidx + cnt == ELEMS;
                for (int i = 0; i < PW; i++)
                    m_axis_tdata[cmul(i, EB) +: EB] <= (i < cnt) ? EB'($signed(eb[i])) : '0;
                for (int j = 0; j < CAP; j++)
                    if (j + cnt < CAP) eb[j] <= eb[j + cnt];
                eidx <= (eidx + cnt == ELEMS) ? 0 : eidx + cnt;
            end
            if (put)
                for (int c = 0; c < C; c++) eb[base + c] <= s_data[cmul(c, W) +: W];
            n <= base + (put ? C : 0);
        end
    end
endmodule
