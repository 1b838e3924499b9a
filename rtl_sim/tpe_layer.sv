// One compressed layer (conv as im2col vectors, or dense) on the ternary PE array, AXI-Stream in and out.
//
// Input:  one vector of `cols` activations (padded with zeros to NBI*IB*S) per NBI beats of IB blocks of S lanes;
//         lane l of block b of a beat at s_axis_tdata[(b*S + l)*W +: W]. tlast is accepted and ignored: the beat
//         count delimits vectors.
// Output: one vector of `rows` results per RPP beats; beat j carries rows j*P .. j*P+P-1, row j*P+p at
//         m_axis_tdata[p*OUT_W +: OUT_W]; tlast on the last beat of a vector.
//
// Dataflow (one output vector at a time; NIB input banks and NOB output banks so that loading, computing and
// draining overlap):
//   1. input beats fill the next free input bank;
//   2. the sequencer issues K steps; at step t every PE p reads entry t of the layer's schedule from the ROMs:
//      S weight codes (CODES_FILE) and {last, slot, block} (INDEX_FILE), the sparse index: `block` is the kept
//      S-wide column group of the PE's current row, so pruned groups are never visited and cost no cycle.
//      K is the number of kept groups per PE (the same on every PE: balanced pruning; shorter PEs are padded);
//   3. PE p reads that block from the input bank, adds it through its adder tree into its accumulator, and on
//      `last` writes the row's accumulator to its output bank at `slot` (its row slot*P + p);
//   4. once all K steps of a vector are written, the output bank streams out through tpe_post (scale + bias,
//      per-channel terms from POST_FILE), one beat per cycle.
// Cycle model (compiler/rtl/cycles.py, exact, checked cycle by cycle by the testbench): with a source that is
// always valid and a sink that is always ready, vectors follow each other every
//     max(K, NBI, RPP, (K + NBI + 1) / NIB, (K + RPP + 4) / NOB)
// cycles on average; with the default NIB = 3, NOB = 4 that is max(K, NBI, RPP) for every K >= 2.
module tpe_layer (clk, rst, s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast,
                  m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast);
    parameter integer P     = 1;     // PEs
    parameter integer S     = 16;    // SIMD lanes per PE
    parameter integer W     = 8;     // activation width
    parameter integer IB    = 1;     // S-lane blocks per input beat
    parameter integer NBI   = 1;     // input beats per vector
    parameter integer BW    = 1;     // block index width, 2**BW >= NBI*IB
    parameter integer K     = 1;     // schedule steps (kept groups) per PE and vector
    parameter integer KW    = 1;     // step counter width, 2**KW >= K
    parameter integer RPP   = 1;     // rows (slots) per PE = output beats per vector
    parameter integer SW    = 1;     // slot width, 2**SW >= RPP
    parameter integer ACC_W = 16;    // accumulator width (no overflow for this layer)
    parameter integer T     = 1;     // signed power-of-two terms per channel scale
    parameter integer KSW   = 4;     // shift field width
    parameter integer BB    = 24;    // post-stage bias width
    parameter integer PW    = 32;    // post-stage width
    parameter integer RSH   = 0;     // final right shift
    parameter integer OUT_W = 8;     // output width
    parameter integer SAT   = 1;     // 1 saturate, 0 wrap
    parameter integer NIB   = 3;     // input banks (2..4)
    parameter integer NOB   = 4;     // output banks (2..4)
    parameter CODES_FILE = "codes.mem";
    parameter INDEX_FILE = "index.mem";
    parameter POST_FILE  = "post.mem";
    `include "tpe_util.svh"
    localparam integer LANE_W = cmul(S, W);
    localparam integer IN_W   = cmul(IB, LANE_W);
    localparam integer CODE_W = cmul(S, 2);
    localparam integer IXW    = BW + SW + 1;
    localparam integer TERM_W = 2 + KSW;
    localparam integer PFW    = cmul(T, TERM_W) + BB;

    function automatic [1:0] next_bank(input [1:0] bank, input integer n);
        next_bank = (bank == n - 1) ? 2'd0 : bank + 2'd1;
    endfunction

    input  logic                       clk;
    input  logic                       rst;
    input  logic [IN_W-1:0]            s_axis_tdata;
    input  logic                       s_axis_tvalid;
    output logic                       s_axis_tready;
    input  logic                       s_axis_tlast;
    output logic [cmul(P, OUT_W)-1:0]  m_axis_tdata;
    output logic                       m_axis_tvalid;
    input  logic                       m_axis_tready;
    output logic                       m_axis_tlast;

    // ---- ROMs (synchronous read), one word per schedule step / output slot holding all P PEs ------------------
    logic [cmul(P, CODE_W)-1:0] codes_rom [0:K-1];
    logic [cmul(P, IXW)-1:0]    index_rom [0:K-1];
    logic [cmul(P, PFW)-1:0]    post_rom  [0:RPP-1];
    initial begin
        $readmemh(CODES_FILE, codes_rom);
        $readmemh(INDEX_FILE, index_rom);
        $readmemh(POST_FILE, post_rom);
    end

    // ---- input banks ---------------------------------------------------------------------------------------------
    logic [LANE_W-1:0] ibuf [0:(NIB << BW)-1]; // {bank, block}
    logic [NIB-1:0]    in_full;
    logic [1:0]        wb;                     // bank being written
    logic [BW-1:0]     wblk;                   // first block of the current beat
    logic [KW+BW:0]    wbeat;                  // beat within the vector
    assign s_axis_tready = !rst && !in_full[wb];
    wire in_fire = s_axis_tvalid && s_axis_tready;

    genvar p, b;
    generate
        for (b = 0; b < IB; b = b + 1) begin : g_wr
            wire [BW-1:0] blk = wblk + b;
            always_ff @(posedge clk)
                if (in_fire) ibuf[{wb, blk}] <= s_axis_tdata[cmul(b, LANE_W) +: LANE_W];
        end
    endgenerate

    // ---- sequencer ---------------------------------------------------------------------------------------------
    logic          iss_v;          // a step issues this cycle
    logic [KW-1:0] t;
    logic [1:0]    cur_rb, cur_ob, nxt_rb, nxt_ob;
    logic [NOB-1:0] out_busy, out_full;
    wire slot_free = !iss_v || (t == K - 1);
    wire start     = slot_free && in_full[nxt_rb] && !out_busy[nxt_ob];
    wire iss_last  = iss_v && (t == K - 1);

    // stage R: ROM words
    logic r_v, r_vlast;
    logic [1:0] r_rb, r_ob;
    logic [cmul(P, CODE_W)-1:0] r_codes;
    logic [cmul(P, IXW)-1:0]    r_index;
    // stage B: activations read from the input bank
    logic b_v, b_vlast;
    logic [1:0] b_ob;
    logic [cmul(P, CODE_W)-1:0] b_codes;
    logic [cmul(P, LANE_W)-1:0] b_act;
    logic [P-1:0]               b_last;
    logic [cmul(P, SW)-1:0]     b_slot;
    // stage T: inside tpe_array (sum registered); results valid
    logic t_v, t_vlast;
    logic [1:0] t_ob;
    logic [cmul(P, SW)-1:0]     t_slot;

    // ---- output side -------------------------------------------------------------------------------------------
    logic [1:0]        sb;             // bank being streamed
    logic [SW-1:0]     j;              // slot being streamed
    wire st_go = out_full[sb] && (!m_axis_tvalid || m_axis_tready);
    logic [cmul(P, OUT_W)-1:0] post_y;

    always_ff @(posedge clk) begin
        if (rst) begin
            in_full <= '0; wb <= '0; wblk <= '0; wbeat <= '0;
            iss_v <= 1'b0; t <= '0; cur_rb <= '0; cur_ob <= '0; nxt_rb <= '0; nxt_ob <= '0;
            out_busy <= '0; out_full <= '0;
            r_v <= 1'b0; b_v <= 1'b0; t_v <= 1'b0;
            sb <= '0; j <= '0; m_axis_tvalid <= 1'b0; m_axis_tlast <= 1'b0;
        end else begin
            // input beats
            if (in_fire) begin
                if (wbeat == NBI - 1) begin
                    wbeat <= '0; wblk <= '0; in_full[wb] <= 1'b1; wb <= next_bank(wb, NIB);
                end else begin
                    wbeat <= wbeat + 1'b1; wblk <= wblk + IB;
                end
            end
            // issue: the input bank is released with the last step's read (its data is sampled at that edge)
            if (iss_last) in_full[cur_rb] <= 1'b0;
            if (start) begin
                iss_v <= 1'b1; t <= '0;
                cur_rb <= nxt_rb; cur_ob <= nxt_ob; nxt_rb <= next_bank(nxt_rb, NIB); nxt_ob <= next_bank(nxt_ob, NOB);
                out_busy[nxt_ob] <= 1'b1;
            end else if (iss_last) begin
                iss_v <= 1'b0;
            end else if (iss_v) begin
                t <= t + 1'b1;
            end
            r_v <= iss_v; b_v <= r_v; t_v <= b_v;
            // the vector's last step written: its output bank is complete
            if (t_v && t_vlast) out_full[t_ob] <= 1'b1;
            // stream
            if (st_go) begin
                m_axis_tvalid <= 1'b1;
                m_axis_tlast  <= (j == RPP - 1);
                if (j == RPP - 1) begin
                    j <= '0; out_full[sb] <= 1'b0; out_busy[sb] <= 1'b0; sb <= next_bank(sb, NOB);
                end else begin
                    j <= j + 1'b1;
                end
            end else if (m_axis_tready) begin
                m_axis_tvalid <= 1'b0;
            end
        end
    end

    // datapath registers (no reset needed)
    always_ff @(posedge clk) begin
        r_codes <= codes_rom[t];
        r_index <= index_rom[t];
        r_vlast <= iss_last; r_rb <= cur_rb; r_ob <= cur_ob;
        b_codes <= r_codes; b_vlast <= r_vlast; b_ob <= r_ob;
        t_vlast <= b_vlast; t_ob <= b_ob; t_slot <= b_slot;
        if (st_go) m_axis_tdata <= post_y;
    end

    generate
        for (p = 0; p < P; p = p + 1) begin : g_rd
            wire [IXW-1:0] ix = r_index[cmul(p, IXW) +: IXW];
            always_ff @(posedge clk) begin
                b_act[cmul(p, LANE_W) +: LANE_W] <= ibuf[{r_rb, ix[BW-1:0]}];
                b_slot[cmul(p, SW) +: SW] <= ix[BW +: SW];
                b_last[p] <= ix[BW + SW];
            end
        end
    endgenerate

    // ---- the PE array --------------------------------------------------------------------------------------------
    logic [cmul(P, ACC_W)-1:0] res;
    logic [P-1:0]              res_valid;
    tpe_array #(.P(P), .S(S), .W(W), .ACC_W(ACC_W)) u_array (
        .clk(clk), .rst(rst), .in_valid(b_v), .act(b_act), .codes(b_codes), .last(b_last),
        .res(res), .res_valid(res_valid));

    // ---- output banks and post-processing, per PE ---------------------------------------------------------------
    wire [cmul(P, PFW)-1:0] post_word = post_rom[j];
    generate
        for (p = 0; p < P; p = p + 1) begin : g_out
            logic [ACC_W-1:0] obuf [0:(NOB << SW)-1];   // {bank, slot}
            wire  [SW-1:0]    wslot = t_slot[cmul(p, SW) +: SW];
            always_ff @(posedge clk)
                if (res_valid[p]) obuf[{t_ob, wslot}] <= res[cmul(p, ACC_W) +: ACC_W];
            wire [PFW-1:0] pf = post_word[cmul(p, PFW) +: PFW];
            tpe_post #(.ACC_W(ACC_W), .T(T), .KSW(KSW), .BB(BB), .PW(PW), .RSH(RSH), .OUT_W(OUT_W), .SAT(SAT))
                u_post (.acc(obuf[{sb, j}]), .terms(pf[cmul(T, TERM_W)-1:0]), .bias(pf[PFW-1 -: BB]),
                        .y(post_y[cmul(p, OUT_W) +: OUT_W]));
        end
    endgenerate
endmodule
