// Element-wise Clip of N lanes (compiler/rtl/network.py `clip`): x (XW-bit signed) is widened exactly to IW bits
// and shifted left by PSH to F = max(input, output) fraction bits, clamped to [CLO, CHI] (the bounds rounded to
// F bits; HAS_LO / HAS_HI = 0: no bound), then cast to OW bits (fc_cast.svh: RSH, RND, SAT). One register stage.
module fc_clip (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N      = 1;
    parameter integer XW     = 16;
    parameter integer PSH    = 0;
    parameter integer IW     = 18;
    parameter integer OW     = 16;
    parameter integer RSH    = 0;
    parameter integer LSH    = 0;
    parameter integer RND    = 1;
    parameter integer SAT    = 1;
    parameter integer HAS_LO = 0;
    parameter integer HAS_HI = 0;
    parameter logic signed [63:0] CLO = 0;
    parameter logic signed [63:0] CHI = 0;
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

    localparam logic signed [IW-1:0] LO = CLO[IW-1:0];
    localparam logic signed [IW-1:0] HI = CHI[IW-1:0];
    logic [cmul(N, OW)-1:0] y;
    always_comb begin
        for (int i = 0; i < N; i++) begin
            logic signed [IW-1:0] v;
            v = IW'($signed(s_data[cmul(i, XW) +: XW])) <<< PSH;
            if (HAS_LO != 0 && v < LO) v = LO;
            if (HAS_HI != 0 && v > HI) v = HI;
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
