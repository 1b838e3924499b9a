// Balanced adder tree over N signed IW-bit values; every level is exactly one bit wider than its inputs, so no
// adder is wider than it needs to be and no sum can overflow. Purely combinational, recursive.
module tpe_addtree (in_flat, sum);
    parameter integer N  = 16;
    parameter integer IW = 8;
    parameter integer OW = IW + $clog2(N);
    `include "tpe_util.svh"
    input  logic [cmul(N, IW)-1:0] in_flat;   // element i at [i*IW +: IW]
    output logic [OW-1:0]          sum;
    generate
        if (N == 1) begin : g_leaf
            assign sum = $signed(in_flat[IW-1:0]);           // sign-extended to OW
        end else begin : g_node
            localparam integer NA  = (N + 1) / 2;
            localparam integer NB  = N - NA;
            localparam integer OWA = IW + $clog2(NA);
            localparam integer OWB = IW + $clog2(NB);
            logic [OWA-1:0] a;
            logic [OWB-1:0] b;
            tpe_addtree #(.N(NA), .IW(IW), .OW(OWA)) u_a (.in_flat(in_flat[cmul(NA, IW)-1:0]), .sum(a));
            tpe_addtree #(.N(NB), .IW(IW), .OW(OWB)) u_b (.in_flat(in_flat[cmul(N, IW)-1:cmul(NA, IW)]), .sum(b));
            assign sum = $signed(a) + $signed(b);             // both sign-extended to OW
        end
    endgenerate
endmodule

// First adder level of a PE: two lanes' ternary selects and their sum, in one module so that synthesis folds
// the selects into the adder's LUTs (the propagate bit of sum bit i is a 6-input function of x0[i], x1[i] and
// the two 2-bit codes: one LUT6). sel(x, 01) = x, sel(x, 11) = ~x = -x-1 (ones' complement), sel(x, x0) = 0.
module tpe_lanepair (x0, c0, x1, c1, sum);
    parameter integer W = 8;
    input  logic [W-1:0] x0, x1;
    input  logic [1:0]   c0, c1;
    output logic [W:0]   sum;
    wire [W-1:0] a = {W{c0[0]}} & (x0 ^ {W{c0[1]}});
    wire [W-1:0] b = {W{c1[0]}} & (x1 ^ {W{c1[1]}});
    assign sum = $signed(a) + $signed(b);
endmodule
