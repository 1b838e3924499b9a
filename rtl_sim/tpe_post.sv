// Per-channel scale and bias after accumulation, multiplier-free and bit-exact:
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
module tpe_post (acc, terms, bias, y);
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
    input  logic [ACC_W-1:0]             acc;
    input  logic [cmul(T, TERM_W)-1:0]   terms;
    input  logic [BB-1:0]                bias;
    output logic [OUT_W-1:0]             y;

    localparam logic [PW-1:0] MAXV = {{(PW - OUT_W + 1){1'b0}}, {(OUT_W - 1){1'b1}}};
    localparam logic [PW-1:0] MINV = {{(PW - OUT_W + 1){1'b1}}, {(OUT_W - 1){1'b0}}};

    logic signed [PW-1:0] a_ext, v, r;
    logic [TERM_W-1:0] term;
    integer i, off;
    always_comb begin
        a_ext = $signed(acc);
        v = $signed(bias);
        off = 0;
        for (i = 0; i < T; i = i + 1) begin
            term = terms[off +: TERM_W];
            if (term[0]) begin
                if (term[1]) v = v - (a_ext <<< term[TERM_W-1:2]);
                else         v = v + (a_ext <<< term[TERM_W-1:2]);
            end
            off = off + TERM_W;
        end
        r = v >>> RSH;
        if (SAT != 0 && r > $signed(MAXV))      y = MAXV[OUT_W-1:0];
        else if (SAT != 0 && r < $signed(MINV)) y = MINV[OUT_W-1:0];
        else                                    y = r[OUT_W-1:0];
    end
endmodule
