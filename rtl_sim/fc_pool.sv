// Pooling over a window beat (C channels x KK positions, lanes in (c, k) order, from fc_window) -> C lanes.
// MAX: the largest value (the output keeps the input's type). AVG: s = sum of the KK values in the accumulator
// type (AW bits, the input shifted left by LSA: exact), q = trunc_to_zero(s / KK), y = CAST(q). One register.
module fc_pool (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer C   = 1;
    parameter integer KK  = 4;
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
    input  logic                               clk;
    input  logic                               rst;
    input  logic [cmul(cmul(C, KK), W)-1:0]    s_data;
    input  logic                               s_valid;
    output logic                               s_ready;
    output logic [cmul(C, OW)-1:0]             m_data;
    output logic                               m_valid;
    input  logic                               m_ready;

    logic [cmul(C, OW)-1:0] y;
    always_comb begin
        for (int c = 0; c < C; c++) begin
            logic signed [W-1:0] mx, x;
            logic signed [AW-1:0] s;
            mx = s_data[cmul(cmul(c, KK), W) +: W];
            s = '0;
            for (int k = 0; k < KK; k++) begin
                x = s_data[cmul(cmul(c, KK) + k, W) +: W];
                if (x > mx) mx = x;
                s = s + (AW'(x) <<< LSA);
            end
            if (AVG != 0) y[cmul(c, OW) +: OW] = fc_cast_fn(fc_tdiv_fn(s));
            else y[cmul(c, OW) +: OW] = OW'(mx);
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
