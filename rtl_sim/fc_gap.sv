// Global average pooling: NPIX pixels of C channels, each pixel in NCH = C/L beats of L consecutive channels ->
// NCH beats of L lanes, y = CAST(trunc_to_zero(s / NPIX)) with s the per-channel sum in the accumulator type (AW
// bits, inputs shifted left by LSA: exact). The sums are an array of NCH chunk words and the adders, dividers
// and casts are L lanes wide: a chunk of the result leaves with the last pixel's beat of that chunk (L = C: one
// beat in, one beat out, every channel at once).
module fc_gap (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer C    = 1;
    parameter integer L    = C;      // lanes per beat, dividing C
    parameter integer NPIX = 4;
    parameter integer W    = 16;
    parameter integer AW   = 20;
    parameter integer LSA  = 0;
    parameter logic [63:0] DM = 64'd1;
    parameter integer DSH  = 0;
    parameter integer OW   = 16;
    parameter integer RSH  = 0;
    parameter integer LSH  = 0;
    parameter integer RND  = 1;
    parameter integer SAT  = 1;
    localparam integer IW = AW;
    localparam integer NCH = C / L;
    `include "tpe_util.svh"
    `include "fc_cast.svh"
    `include "fc_tdiv.svh"
    localparam integer KW = idxw(NCH);
    input  logic                   clk;
    input  logic                   rst;
    input  logic [cmul(L, W)-1:0]  s_data;
    input  logic                   s_valid;
    output logic                   s_ready;
    output logic [cmul(L, OW)-1:0] m_data;
    output logic                   m_valid;
    input  logic                   m_ready;

    logic [cmul(L, AW)-1:0] acc [0:NCH-1];
    logic [cmul(L, AW)-1:0] nxt;
    logic [KW-1:0] k;         // chunk of the current beat
    integer cnt;              // its pixel
    logic [cmul(L, OW)-1:0] y;
    always_comb begin
        for (int c = 0; c < L; c++) begin
            logic signed [AW-1:0] s;
            s = $signed(acc[k][cmul(c, AW) +: AW]) + (AW'($signed(s_data[cmul(c, W) +: W])) <<< LSA);
            nxt[cmul(c, AW) +: AW] = s;
            y[cmul(c, OW) +: OW] = fc_cast_fn(fc_tdiv_fn(s));
        end
    end
    wire last = cnt == NPIX - 1;
    wire last_k = k == KW'(NCH - 1);
    assign s_ready = !rst && (!m_valid || m_ready);
    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid <= 1'b0; cnt <= 0; k <= '0;
            for (int j = 0; j < NCH; j++) acc[j] <= '0;
        end else begin
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (s_valid && s_ready) begin
                if (last) begin
                    m_valid <= 1'b1; m_data <= y; acc[k] <= '0;
                end else acc[k] <= nxt;
                if (last_k) begin
                    k <= '0;
                    cnt <= last ? 0 : cnt + 1;
                end else k <= k + 1'b1;
            end
        end
    end
endmodule
