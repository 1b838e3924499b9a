// Per-channel scale and bias after accumulation, multiplier-free and bit-exact, as a pipeline of T stages:
//
//     v = bias + sum_{i < T, term i on} (+/-) (acc << k_i)        (PW-bit two's complement, cannot overflow)
//     y = SAT ? clamp(v >>> RSH, -2^(OUT_W-1), 2^(OUT_W-1)-1) : (v >>> RSH) mod 2^OUT_W
//
// i.e. y = floor((m * acc + bias) / 2^RSH) with the channel's integer scale m = sum (+/-) 2^k_i given as signed
// power-of-two terms (its canonical signed digits, chosen by the generator). Rounding to nearest is a constant
// 2^(RSH-1) the generator adds into the bias, as is the ones' complement correction of the PE array; see
// docs/rtl.md and compiler/rtl/golden.py for the exact arithmetic.
// Term i sits at terms[i*(2+KSW) +: 2+KSW]: bits [1:0] the sign code (01 add, 11 subtract, x0 off), the
// upper KSW bits the shift k_i.
//
// Timing: (acc, terms, bias) are taken at a clock edge with `en`; stage i (0..T-1) adds term i into v and
// registers it, so y (combinational from the last stage: the arithmetic shift, which is wiring, and the
// saturation) belongs to the input taken T enabled edges earlier. Every stage advances only with `en` (the
// layer's output handshake), so the unit holds its contents while the stream is stalled.
// Logic depth (200 MHz on UltraScale+): a register-to-register path through a stage is one variable shift
// (ceil(KSW/2) LUT6 levels of 4:1 muxes, or a LUT and MUXF7/8), the add/subtract select folded into the adder's
// LUT and one PW+1-bit carry chain; the saturation is a reduction of the PW-OUT_W-RSH+1 upper bits and a select,
// and feeds the layer's output register directly. The bound chosen: at most 4 LUT/MUXF levels plus that one
// carry chain on any path, i.e. 4 + ceil((PW+1)/4) cells as Yosys 0.23 `ltp` counts them (its xcup carry cells
// are 4 bits each): 14 at PW = 38, where the unit measures 13 and the combinational stage measured 50. Four LUT
// levels and a 40-bit carry chain are a usual 5 ns path on UltraScale+ (an estimate: no place and route here).
// tests/test_rtl_synth.py checks the bound on a generated layer's unit.
module tpe_post (clk, en, acc, terms, bias, y);
    parameter integer ACC_W = 16;
    parameter integer T     = 1;
    parameter integer KSW   = 4;
    parameter integer BB    = 24;
    parameter integer PW    = 32;
    parameter integer RSH   = 0;
    parameter integer OUT_W = 8;
    parameter integer SAT   = 1;
    `include "tpe_util.svh"
    localparam integer TERM_W = 2 + KSW;
    localparam integer TW     = cmul(T, TERM_W);
    input  logic                 clk;
    input  logic                 en;
    input  logic [ACC_W-1:0]     acc;
    input  logic [TW-1:0]        terms;
    input  logic [BB-1:0]        bias;
    output logic [OUT_W-1:0]     y;

    // stage i holds the operand, the running sum and the terms still to add (term i+1.. at the bottom)
    logic signed [ACC_W-1:0] a_q [0:T-1];
    logic signed [PW-1:0]    v_q [0:T-1];
    logic        [TW-1:0]    t_q [0:T-1];

    // one stage: v + (+/-)(a << k) as a single adder, the subtraction's +1 entering as the carry into bit 0
    function automatic logic signed [PW-1:0] step(input logic signed [PW-1:0] v, input logic signed [ACC_W-1:0] a,
                                                  input logic [TERM_W-1:0] term);
        logic signed [PW-1:0] ax, x, xs;
        logic [PW:0] s;
        begin
            ax = a;                                  // sign-extended to PW bits
            x = term[0] ? (ax <<< term[TERM_W-1:2]) : '0;
            xs = term[1] ? ~x : x;
            s = {v, 1'b1} + {xs, term[1]};
            step = s[PW:1];
        end
    endfunction

    wire signed [BB-1:0] bias_s = bias;
    wire signed [PW-1:0] bias_x = bias_s;           // sign-extended to PW bits
    genvar i;
    generate
        for (i = 0; i < T; i = i + 1) begin : g_st
            if (i == 0) begin : g_first
                always_ff @(posedge clk)
                    if (en) begin
                        a_q[0] <= acc;
                        v_q[0] <= step(bias_x, acc, terms[TERM_W-1:0]);
                        t_q[0] <= terms >> TERM_W;
                    end
            end else begin : g_next
                always_ff @(posedge clk)
                    if (en) begin
                        a_q[i] <= a_q[i-1];
                        v_q[i] <= step(v_q[i-1], a_q[i-1], t_q[i-1][TERM_W-1:0]);
                        t_q[i] <= t_q[i-1] >> TERM_W;
                    end
            end
        end
    endgenerate

    // saturation: v >>> RSH fits OUT_W bits iff its bits OUT_W-1 .. PW-1-RSH all equal the sign
    wire signed [PW-1:0] vl = v_q[T-1];
    wire sign = vl[PW-1];
    wire fits = (vl[PW-1 -: PW - RSH - OUT_W + 1] == {(PW - RSH - OUT_W + 1){sign}});
    always_comb begin
        if (SAT != 0 && !fits) y = sign ? {1'b1, {(OUT_W - 1){1'b0}}} : {1'b0, {(OUT_W - 1){1'b1}}};
        else                   y = vl[RSH +: OUT_W];
    end
endmodule
