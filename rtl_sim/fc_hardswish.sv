// HardSwish of N lanes (compiler/rtl/network.py `hardswish_int`, hls/nnet_fcomp_hardswish.h): h = SLOPE * x +
// SHIFTV exact in HW-bit signed arithmetic at F = the input's fraction bits + 16 (SLOPE and the shift are 1/6 and
// 1/2 rounded to 16 fraction bits; the generator passes the shift already aligned to F), clamped to [0, ONE = 1.0];
// p = x * h exact in IW bits; then cast to OW bits (fc_cast.svh: RSH, LSH, RND, SAT). One register stage; a
// constant multiplier and an XW x HW multiplier per lane.
module fc_hardswish (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N   = 1;
    parameter integer XW  = 16;
    parameter integer SLW = 17;
    parameter integer HW  = 36;
    parameter integer IW  = 50;
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

    localparam logic signed [HW-1:0] S  = HW'($signed({1'b0, SLOPE[SLW-1:0]}));
    localparam logic signed [HW-1:0] B  = SHIFTV[HW-1:0];
    localparam logic signed [HW-1:0] HI = ONE[HW-1:0];
    logic [cmul(N, OW)-1:0] y;
    always_comb begin
        for (int i = 0; i < N; i++) begin
            logic signed [XW-1:0] x;
            logic signed [HW-1:0] h;
            logic signed [IW-1:0] p;
            x = $signed(s_data[cmul(i, XW) +: XW]);
            h = HW'(x) * S + B;
            if (h < 0) h = '0;
            if (h > HI) h = HI;
            p = IW'(x) * IW'(h);
            y[cmul(i, OW) +: OW] = fc_cast_fn(p);
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
