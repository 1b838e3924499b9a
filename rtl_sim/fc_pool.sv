// Pooling over a window streamed tap by tap (from fc_swg with CW = C: one beat per kernel tap, kernel-major,
// s_last on a window's last tap) -> one beat of C lanes per window.
// MAX: the largest value (the output keeps the input's type). AVG: s = sum of the KK values in the accumulator
// type (AW bits, the input shifted left by LSA: exact), q = trunc_to_zero(s / KK), y = CAST(q).
// The running max / sum of the window is one C-lane register; the output is one register. Only C comparators or
// adders (not C*KK): a window costs KK cycles, one per tap, so the pool keeps up with a producer of whole pixels
// whenever KK <= SH*SW and otherwise takes KK/(SH*SW) cycles per input pixel (the cycle model counts it).
module fc_pool (clk, rst, s_data, s_valid, s_ready, s_last, m_data, m_valid, m_ready);
    parameter integer C   = 1;
    parameter integer KK  = 4;       // taps per window (s_last marks the last; KK is for the cost model)
    parameter integer W   = 16;      // input lane width
    parameter integer AVG = 0;
    parameter integer AW  = 20;      // accumulator width (AVG)
    parameter integer LSA = 0;
    parameter logic [63:0] DM = 64'd1;
    parameter integer DSH = 0;
    parameter integer OW  = 16;
    parameter integer RSH = 0;
    parameter integer LSH = 0;
    parameter integer RND = 1;
    parameter integer SAT = 1;
    localparam integer IW = AW;
    `include "tpe_util.svh"
    `include "fc_cast.svh"
    `include "fc_tdiv.svh"
    localparam integer RW = (AVG != 0) ? AW : W;     // running value width
    input  logic                    clk;
    input  logic                    rst;
    input  logic [cmul(C, W)-1:0]   s_data;
    input  logic                    s_valid;
    output logic                    s_ready;
    input  logic                    s_last;
    output logic [cmul(C, OW)-1:0]  m_data;
    output logic                    m_valid;
    input  logic                    m_ready;

    logic [cmul(C, RW)-1:0] run;     // the window so far
    logic                   first;   // the next beat is a window's first tap
    logic [cmul(C, RW)-1:0] nxt;
    logic [cmul(C, OW)-1:0] y;
    always_comb begin
        for (int c = 0; c < C; c++) begin
            logic signed [W-1:0] x, m;
            logic signed [AW-1:0] s;
            x = s_data[cmul(c, W) +: W];
            if (AVG != 0) begin
                s = AW'(x) <<< LSA;
                if (!first) s = s + $signed(run[cmul(c, RW) +: RW]);
                nxt[cmul(c, RW) +: RW] = RW'(s);
                y[cmul(c, OW) +: OW] = fc_cast_fn(fc_tdiv_fn(s));
            end else begin
                m = x;
                if (!first && $signed(run[cmul(c, RW) +: RW]) > x) m = run[cmul(c, RW) +: RW];
                nxt[cmul(c, RW) +: RW] = RW'(m);
                y[cmul(c, OW) +: OW] = OW'(m);
            end
        end
    end
    assign s_ready = !rst && (!m_valid || m_ready);
    wire fire = s_valid && s_ready;
    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid <= 1'b0; first <= 1'b1;
        end else begin
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (fire) begin
                first <= s_last;
                if (s_last) begin m_valid <= 1'b1; m_data <= y; end
            end
        end
    end
    always_ff @(posedge clk)
        if (fire) run <= nxt;
endmodule
