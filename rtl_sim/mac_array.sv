// Baseline for the synthesis comparison only: a conventional multiply-accumulate PE array of the same shape as
// tpe_array (P PEs x S lanes, same registers and accumulator), with WW-bit weights and real multipliers.
module mac_array (clk, rst, in_valid, act, wgt, last, res, res_valid);
    parameter integer P     = 1;
    parameter integer S     = 16;
    parameter integer W     = 8;
    parameter integer WW    = 8;
    parameter integer ACC_W = 16;
    localparam integer PW = W + WW;               // product width
    localparam integer TW = PW + $clog2(S);
    input  logic                  clk;
    input  logic                  rst;
    input  logic                  in_valid;
    input  logic [P*S*W-1:0]      act;
    input  logic [P*S*WW-1:0]     wgt;
    input  logic [P-1:0]          last;
    output logic [P*ACC_W-1:0]    res;
    output logic [P-1:0]          res_valid;

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
            logic [S*PW-1:0] prod;
            for (l = 0; l < S; l = l + 1) begin : g_lane
                assign prod[l*PW +: PW] = $signed(act[(p*S + l)*W +: W]) * $signed(wgt[(p*S + l)*WW +: WW]);
            end
            logic [TW-1:0] tree, sum_q;
            tpe_addtree #(.N(S), .IW(PW), .OW(TW)) u_tree (.in_flat(prod), .sum(tree));
            always_ff @(posedge clk) sum_q <= tree;
            logic [ACC_W-1:0] acc, acc_next;
            assign acc_next = acc + $signed(sum_q);
            always_ff @(posedge clk) begin
                if (rst) acc <= '0;
                else if (v_q) acc <= last_q[p] ? '0 : acc_next;
            end
            assign res[p*ACC_W +: ACC_W] = acc_next;
            assign res_valid[p] = v_q & last_q[p];
        end
    endgenerate
endmodule
