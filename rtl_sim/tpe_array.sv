// The adder-only PE array: P processing elements x S SIMD lanes, ternary weights, no multiplier.
//
// Every cycle with in_valid, PE p takes S signed W-bit activations and S 2-bit weight codes and adds
//     sum_p = sum_l sel(x_l, c_l),   sel(x, 2'b01) = x,  sel(x, 2'b11) = ~x = -x - 1,  sel(x, 2'b00/2'b10) = 0
// to its accumulator. A -1 weight costs one inverter per bit (ones' complement); the missing +1 per -1 weight is
// a per-row constant the generator folds into that row's bias (compiler/rtl/layer.py), so the lane select is a
// pure bitwise function of (x[i], c[1:0]); tpe_lanepair puts two lanes' selects and their adder in one module
// so that synthesis maps each sum bit's select-select-xor into the one LUT6 in front of the carry chain.
// On a step with last[p], PE p presents acc + sum on res (res_valid[p]) and restarts its accumulator at zero.
//
// Timing: operands in cycle c -> sum registered -> in cycle c+1 res/res_valid (combinational from the
// accumulator adder) and the accumulator updates at the end of c+1.
// ACC_W is chosen per layer by the generator so that no row's accumulation can overflow; a narrower ACC_W than
// the tree output is exact (two's complement modulo 2^ACC_W) because every partial sum fits in ACC_W.
module tpe_array (clk, rst, in_valid, act, codes, last, res, res_valid);
    parameter integer P     = 1;
    parameter integer S     = 16;
    parameter integer W     = 8;
    parameter integer ACC_W = 16;
    `include "tpe_util.svh"
    localparam integer LANE_W = cmul(S, W);       // one PE's activations
    localparam integer NPAIR  = S / 2;            // first-level lane pairs
    localparam integer NL1    = NPAIR + S % 2;    // first-level outputs
    localparam integer TW     = W + 1 + $clog2(NL1);   // adder tree output
    input  logic                      clk;
    input  logic                      rst;
    input  logic                      in_valid;
    input  logic [cmul(P, LANE_W)-1:0] act;       // PE p lane l at [(p*S + l)*W +: W]
    input  logic [cmul(P, cmul(S, 2))-1:0] codes; // PE p lane l at [(p*S + l)*2 +: 2]
    input  logic [P-1:0]              last;
    output logic [cmul(P, ACC_W)-1:0] res;        // PE p at [p*ACC_W +: ACC_W]
    output logic [P-1:0]              res_valid;

    logic v_q;
    logic [P-1:0] last_q;
    always_ff @(posedge clk) begin
        if (rst) v_q <= 1'b0;
        else     v_q <= in_valid;
        last_q <= last;
    end

    genvar p, l;
    generate
        for (p = 0; p < P; p = p + 1) begin : g_pe
            // first adder level: lane pairs, each lane's sign/zero select folded into the pair adder's LUTs
            logic [cmul(NL1, W + 1)-1:0] lvl1;
            for (l = 0; l < NPAIR; l = l + 1) begin : g_pair
                tpe_lanepair #(.W(W)) u_pair (
                    .x0(act[cmul(cmul(p, S) + (l << 1), W) +: W]),     .c0(codes[cmul(cmul(p, S) + (l << 1), 2) +: 2]),
                    .x1(act[cmul(cmul(p, S) + (l << 1) + 1, W) +: W]), .c1(codes[cmul(cmul(p, S) + (l << 1) + 1, 2) +: 2]),
                    .sum(lvl1[cmul(l, W + 1) +: W + 1]));
            end
            if (S % 2 == 1) begin : g_odd      // an odd lane out joins the tree at the second level
                wire [W-1:0] x = act[cmul(cmul(p, S) + S - 1, W) +: W];
                wire [1:0]   c = codes[cmul(cmul(p, S) + S - 1, 2) +: 2];
                wire [W-1:0] sel = {W{c[0]}} & (x ^ {W{c[1]}});
                assign lvl1[cmul(NL1 - 1, W + 1) +: W + 1] = $signed(sel);
            end
            logic [TW-1:0] tree, sum_q;
            tpe_addtree #(.N(NL1), .IW(W + 1), .OW(TW)) u_tree (.in_flat(lvl1), .sum(tree));
            always_ff @(posedge clk) sum_q <= tree;

            // accumulate
            logic [ACC_W-1:0] sum_ext, acc, acc_next;
            if (ACC_W > TW) begin : g_ext
                assign sum_ext = $signed(sum_q);
            end else begin : g_trunc
                assign sum_ext = sum_q[ACC_W-1:0];
            end
            assign acc_next = acc + sum_ext;
            always_ff @(posedge clk) begin
                if (rst) acc <= '0;
                else if (v_q) acc <= last_q[p] ? '0 : acc_next;
            end
            assign res[cmul(p, ACC_W) +: ACC_W] = acc_next;
            assign res_valid[p] = v_q & last_q[p];
        end
    endgenerate
endmodule
