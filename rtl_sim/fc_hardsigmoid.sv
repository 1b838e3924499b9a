// HardSigmoid of N lanes as hls4ml computes it (compiler/rtl/network.py `hardsigmoid_int`): v = SLOPE * x +
// SHIFTV, exact in IW-bit signed arithmetic at F = the input's fraction bits + 16 (SLOPE and the shift are alpha
// and beta rounded to 16 fraction bits; the generator passes the shift already aligned to F), clamped to
// [0, ONE = 1.0], then cast to OW bits (fc_cast.svh: RSH, LSH, RND, SAT). One register stage; a constant
// multiplier per lane (a DSP48E2 or shift-and-add).
module fc_hardsigmoid (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N   = 1;
    parameter integer XW  = 16;
    parameter integer SLW = 17;
    parameter integer IW  = 40;
    parameter integer OW  = 16;
    parameter integer RSH = 0;
    parameter integer LSH = 0;
    parameter integer RND = 1;
    parameter integer SAT = 1;
    parameter logic [63:0] SLOPE = 0;
    parameter logic signed [63:0] SHIFTV = 0;
    parameter logic signed [63:0] ONE = 0;
    `include "tpe_util.svh"
    `include "fc_cast.svh"
    input  logic                   clk;
    input  logic                   rst;
    input  logic [cmul(N, XW)-1:0] s_data;
    input  logic                   s_valid;
    output logic                   s_ready;
    output logic [cmul(N, OW)-1:0] m_data;
    output logic                   m_valid;
    input  logic                   m_ready;

    localparam logic signed [IW-1:0] S  = IW'($signed({1'b0, SLOPE[SLW-1:0]}));
    localparam logic signed [IW-1:0] B  = SHIFTV[IW-1:0];
    localparam logic signed [IW-1:0] HI = ONE[IW-1:0];
    logic [cmul(N, OW)-1:0] y;
    always_comb begin
        for (int i = 0; i < N; i++) begin
            logic signed [IW-1:0] v;
            v = IW'($signed(s_data[cmul(i, XW) +: XW])) * S + B;
            if (v < 0) v = '0;
            if (v > HI) v = HI;
            y[cmul(i, OW) +: OW] = fc_cast_fn(v);
        end
    end
    assign s_ready = !rst && (!m_valid || m_ready);
    always_ff @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else if (s_ready) begin
            m_valid <= s_valid;
            if (s_valid) m_data <= y;
        end
    end
endmodule
