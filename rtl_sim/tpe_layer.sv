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
//   4. once all K steps of a vector are written, the output bank streams out through U pipelined scale units
//      (tpe_post: scale + bias, per-channel terms from POST_FILE) shared by the P PEs: one beat of P results
//      every G = ceil(P/U) cycles, T + 2 cycles after its last group is issued.
// Cycle model (compiler/rtl/cycles.py, exact, checked cycle by cycle by the testbench): with a source that is
// always valid and a sink that is always ready, vectors follow each other every
//     max(K, NBI, RPP*G, (K + NBI + 1) / NIB, (K + RPP*G + 4) / NOB)
// cycles on average; the generator picks the fewest U that keep this at its G = 1 value, which with the
// default NIB = 3, NOB = 4 is max(K, NBI, RPP) for every K >= 2.
//
// Weights loaded at run time (WLOAD = 1): the codes and index words are not ROMs but memories written through
// w_en / w_data after reset (a ROM initialized by $readmemh cannot be UltraRAM, which has no initial contents).
// Entry t of the schedule is the MW-bit word {index word, codes word} (codes in the low P*2S bits), cut into
// NCOL = ceil(MW / WLW) columns of WLW bits, each its own K-deep memory with one write and one synchronous read
// port (UltraRAM with URAM = 1, else where synthesis puts it). The words arrive entry by entry, column 0 first:
// K*NCOL pulses of w_en (compiler/rtl/accel.py `weight_load_words`, the same order). The layer must not run
// before its K*NCOL words are written (fcomp_accel holds its frame input until every layer is loaded).
module tpe_layer (clk, rst, s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast,
                  m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast, w_en, w_data);
    parameter integer P     = 1;     // PEs
    parameter integer S     = 16;    // SIMD lanes per PE
    parameter integer W     = 8;     // activation width
    parameter integer IB    = 1;     // S-lane blocks per input beat
    parameter integer NBI   = 1;     // input beats per vector
    parameter integer BW    = 1;     // block index width: {beat (BW - SBW bits), sub-block (SBW bits)}
    parameter integer SBW   = 0;     // sub-block bits: 0 when IB = 1, else 2**SBW >= IB
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
    parameter integer U     = 1;     // scale units (1..P): G = ceil(P/U) cycles per output beat
    parameter integer NIB   = 3;     // input banks (2..4)
    parameter integer NOB   = 4;     // output banks (2..4)
    parameter integer WLOAD = 0;     // 1: codes and index written at run time through w_en / w_data, else ROMs
    parameter integer WLW   = 64;    // load word width (the columns of the run-time memories)
    parameter integer URAM  = 0;     // 1: the run-time memories as UltraRAM (ram_style "ultra")
    parameter CODES_FILE = "codes.mem";
    parameter INDEX_FILE = "index.mem";
    parameter POST_FILE  = "post.mem";
    `include "tpe_util.svh"
    localparam integer LANE_W = cmul(S, W);
    localparam integer IN_W   = cmul(IB, LANE_W);
    localparam integer CODE_W = cmul(S, 2);
    localparam integer IXW    = BW + SW + 1;
    localparam integer BWB    = BW - SBW;         // beat index bits
    localparam integer NBK    = cmul(NIB, NBI);   // bank words per PE copy: bank b's beat j at b*NBI + j
    localparam integer BAW    = idxw(NBK);

    // the first word of bank b (a mux of NIB constants, no multiplier)
    function automatic [BAW-1:0] bank_base(input [1:0] bank);
        bank_base = (bank == 2'd0) ? BAW'(0) : (bank == 2'd1) ? BAW'(NBI) : (bank == 2'd2) ? BAW'(cmul(2, NBI))
                                                                           : BAW'(cmul(3, NBI));
    endfunction
    localparam integer TERM_W = 2 + KSW;
    localparam integer PFW    = cmul(T, TERM_W) + BB;
    localparam integer G      = (P + U - 1) / U;   // groups of U PEs per output beat
    localparam integer GU     = cmul(G, U);
    localparam integer GW     = idxw(G);
    localparam integer PAW    = idxw(cmul(RPP, G));

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
    input  logic                       w_en;
    input  logic [WLW-1:0]             w_data;


    // ---- input banks: one copy per PE ------------------------------------------------------------------------------
    // Each PE reads its own kept block every step, so each PE has its own copy of the NIB banks: one memory of
    // whole input beats (bank*NBI + beat -> IB blocks), one write port (the beat) and one synchronous read port,
    // which synthesis maps to LUTRAM or BRAM as it is (a single memory with P read ports does not map: Yosys's
    // memory mapping grew past 6 GB at P = 16). The PE selects its block of the beat after the read.
    logic [NIB-1:0]    in_full;
    logic [1:0]        wb;                     // bank being written
    logic [KW+BW:0]    wbeat;                  // beat within the vector
    assign s_axis_tready = !rst && !in_full[wb];
    wire in_fire = s_axis_tvalid && s_axis_tready;

    genvar p, b;
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

    // ---- schedule memories (synchronous read at step t), one word per step holding all P PEs ----------------------
    localparam integer MW   = cmul(P, CODE_W + IXW);
    localparam integer NCOL = (MW + WLW - 1) / WLW;
    generate
        if (WLOAD == 0) begin : g_rom
            logic [cmul(P, CODE_W)-1:0] codes_rom [0:K-1];
            logic [cmul(P, IXW)-1:0]    index_rom [0:K-1];
            initial begin
                $readmemh(CODES_FILE, codes_rom);
                $readmemh(INDEX_FILE, index_rom);
            end
            always_ff @(posedge clk) begin
                r_codes <= codes_rom[t];
                r_index <= index_rom[t];
            end
        end else begin : g_ram
            logic [KW-1:0]         la;      // entry being loaded
            logic [idxw(NCOL)-1:0] lc;      // its column
            always_ff @(posedge clk)
                if (rst) begin
                    la <= '0; lc <= '0;
                end else if (w_en) begin
                    if (lc == NCOL - 1) begin lc <= '0; la <= la + 1'b1; end
                    else lc <= lc + 1'b1;
                end
            wire [cmul(NCOL, WLW)-1:0] rword;
            genvar c;
            for (c = 0; c < NCOL; c = c + 1) begin : g_col
                logic [WLW-1:0] q;
                if (URAM != 0) begin : g_u
                    (* ram_style = "ultra" *) logic [WLW-1:0] mem [0:K-1];
                    always_ff @(posedge clk) if (w_en && lc == c) mem[la] <= w_data;
                    always_ff @(posedge clk) q <= mem[t];
                end else begin : g_b
                    logic [WLW-1:0] mem [0:K-1];
                    always_ff @(posedge clk) if (w_en && lc == c) mem[la] <= w_data;
                    always_ff @(posedge clk) q <= mem[t];
                end
                assign rword[cmul(c, WLW) +: WLW] = q;
            end
            assign r_codes = rword[cmul(P, CODE_W)-1:0];
            assign r_index = rword[MW-1:cmul(P, CODE_W)];
        end
    endgenerate
    // stage B: activations read from the input bank
    logic b_v, b_vlast;
    logic [1:0] b_ob;
    logic [cmul(P, CODE_W)-1:0] b_codes;
    wire  [cmul(P, LANE_W)-1:0] b_act;
    logic [P-1:0]               b_last;
    logic [cmul(P, SW)-1:0]     b_slot;
    // stage T: inside tpe_array (sum registered); results valid
    logic t_v, t_vlast;
    logic [1:0] t_ob;
    logic [cmul(P, SW)-1:0]     t_slot;

    // ---- output side: issue (bank, slot, group) to the scale units ------------------------------------------------
    logic [1:0]        sb;             // bank being streamed
    logic [SW-1:0]     j;              // slot being streamed
    logic [GW-1:0]     g;              // group of U PEs being issued
    logic [PAW-1:0]    pa;             // post ROM address: j*G + g
    logic [T:0]        pv, ptag_g, ptag_j;   // scale pipeline, per stage: valid, last group of a beat, last beat
    wire adv    = !m_axis_tvalid || m_axis_tready;   // the whole output pipeline moves (else it holds)
    wire st_go  = out_full[sb] && adv;               // issue group g of slot j of bank sb this cycle
    wire last_g = (g == G - 1);
    wire last_j = (j == RPP - 1);

    always_ff @(posedge clk) begin
        if (rst) begin
            in_full <= '0; wb <= '0; wbeat <= '0;
            iss_v <= 1'b0; t <= '0; cur_rb <= '0; cur_ob <= '0; nxt_rb <= '0; nxt_ob <= '0;
            out_busy <= '0; out_full <= '0;
            r_v <= 1'b0; b_v <= 1'b0; t_v <= 1'b0;
            sb <= '0; j <= '0; g <= '0; pa <= '0; pv <= '0; m_axis_tvalid <= 1'b0; m_axis_tlast <= 1'b0;
        end else begin
            // input beats
            if (in_fire) begin
                if (wbeat == NBI - 1) begin
                    wbeat <= '0; in_full[wb] <= 1'b1; wb <= next_bank(wb, NIB);
                end else begin
                    wbeat <= wbeat + 1'b1;
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
            // issue: the output bank is released with its last group's read (sampled at that edge)
            if (st_go) begin
                if (last_g) begin
                    g <= '0;
                    if (last_j) begin
                        j <= '0; pa <= '0; out_full[sb] <= 1'b0; out_busy[sb] <= 1'b0; sb <= next_bank(sb, NOB);
                    end else begin
                        j <= j + 1'b1; pa <= pa + 1'b1;
                    end
                end else begin
                    g <= g + 1'b1; pa <= pa + 1'b1;
                end
            end
            // the scale pipeline's valid bits; the output register takes a beat when its last group arrives
            if (adv) begin
                pv <= {pv[T-1:0], st_go};
                if (pv[T] && ptag_g[T]) begin
                    m_axis_tvalid <= 1'b1; m_axis_tlast <= ptag_j[T];
                end else begin
                    m_axis_tvalid <= 1'b0;
                end
            end
        end
    end

    // datapath registers (no reset needed)
    always_ff @(posedge clk) begin
        r_vlast <= iss_last; r_rb <= cur_rb; r_ob <= cur_ob;
        b_codes <= r_codes; b_vlast <= r_vlast; b_ob <= r_ob;
        t_vlast <= b_vlast; t_ob <= b_ob; t_slot <= b_slot;
    end

    generate
        for (p = 0; p < P; p = p + 1) begin : g_rd
            logic [IN_W-1:0] ibuf [0:NBK-1];            // bank*NBI + beat: this PE's copy
            logic [IN_W-1:0] b_word;
            wire [IXW-1:0] ix = r_index[cmul(p, IXW) +: IXW];
            always_ff @(posedge clk)
                if (in_fire) ibuf[bank_base(wb) + BAW'(wbeat)] <= s_axis_tdata;
            always_ff @(posedge clk) begin
                b_word <= ibuf[bank_base(r_rb) + BAW'(ix[BW-1:SBW])];
                b_slot[cmul(p, SW) +: SW] <= ix[BW +: SW];
                b_last[p] <= ix[BW + SW];
            end
            logic [LANE_W-1:0] act;
            assign b_act[cmul(p, LANE_W) +: LANE_W] = act;
            if (SBW == 0) begin : g_one
                assign act = b_word[LANE_W-1:0];
            end else begin : g_sel
                logic [SBW-1:0] b_sub;
                always_ff @(posedge clk) b_sub <= ix[SBW-1:0];
                always_comb begin
                    act = b_word[LANE_W-1:0];
                    for (int i = 1; i < IB; i++)
                        if (b_sub == SBW'(i)) act = b_word[cmul(i, LANE_W) +: LANE_W];
                end
            end
        end
    endgenerate

    // ---- the PE array --------------------------------------------------------------------------------------------
    logic [cmul(P, ACC_W)-1:0] res;
    logic [P-1:0]              res_valid;
    tpe_array #(.P(P), .S(S), .W(W), .ACC_W(ACC_W)) u_array (
        .clk(clk), .rst(rst), .in_valid(b_v), .act(b_act), .codes(b_codes), .last(b_last),
        .res(res), .res_valid(res_valid));

    // ---- output banks, per PE ---------------------------------------------------------------------------------------
    logic [ACC_W-1:0] rd [0:GU-1];     // PE p's accumulator at {sb, j}; zero for the padding PEs p >= P
    generate
        for (p = 0; p < GU; p = p + 1) begin : g_out
            if (p < P) begin : g_pe
                logic [ACC_W-1:0] obuf [0:(NOB << SW)-1];   // {bank, slot}
                wire  [SW-1:0]    wslot = t_slot[cmul(p, SW) +: SW];
                always_ff @(posedge clk)
                    if (res_valid[p]) obuf[{t_ob, wslot}] <= res[cmul(p, ACC_W) +: ACC_W];
                assign rd[p] = obuf[{sb, j}];
            end else begin : g_pad
                assign rd[p] = '0;
            end
        end
    endgenerate

    // ---- the scale stage: U pipelined units shared by the P PEs, G = ceil(P/U) groups per output beat ----------
    // Group g of a beat is PEs g*U .. g*U+U-1; unit u takes PE g*U+u. Cycle c issues (j, g): the units' inputs
    // (the accumulator, muxed from the group's output banks, and the post ROM word j*G+g, read synchronously)
    // are registered at the edge after c, go through the units' T stages, and the last group's results enter
    // the output register T+1 edges after that, with the earlier groups of the beat kept in `asm`. So beat j of
    // a vector whose first group issues at O is transferred at O + (j+1)*G + T + 1 (compiler/rtl/cycles.py).
    logic [cmul(U, PFW)-1:0]   post_rom [0:cmul(RPP, G)-1];
    initial $readmemh(POST_FILE, post_rom);
    logic [cmul(U, PFW)-1:0]   s_pf;                 // stage 0: the ROM word and the units' accumulators
    logic [cmul(U, ACC_W)-1:0] s_acc;
    logic [cmul(U, OUT_W)-1:0] ys;                   // the units' results (combinational, stage T)
    always_ff @(posedge clk)
        if (adv) begin
            s_pf <= post_rom[pa];
            ptag_g <= {ptag_g[T-1:0], last_g};
            ptag_j <= {ptag_j[T-1:0], last_j};
        end
    generate
        for (b = 0; b < U; b = b + 1) begin : g_unit
            // the mux of the group's PEs: rd[g*U + b] (a constant-index table, no multiplier)
            logic [ACC_W-1:0] sel;
            integer gi;
            always_comb begin
                sel = rd[b];
                for (gi = 1; gi < G; gi = gi + 1)
                    if (g == gi) sel = rd[cmul(gi, U) + b];
            end
            always_ff @(posedge clk)
                if (adv) s_acc[cmul(b, ACC_W) +: ACC_W] <= sel;
            wire [PFW-1:0] pf = s_pf[cmul(b, PFW) +: PFW];
            tpe_post #(.ACC_W(ACC_W), .T(T), .KSW(KSW), .BB(BB), .PW(PW), .RSH(RSH), .OUT_W(OUT_W), .SAT(SAT))
                u_post (.clk(clk), .en(adv), .acc(s_acc[cmul(b, ACC_W) +: ACC_W]), .terms(pf[cmul(T, TERM_W)-1:0]),
                        .bias(pf[PFW-1 -: BB]), .y(ys[cmul(b, OUT_W) +: OUT_W]));
        end
    endgenerate

    // beat assembly: groups shift in from the top; the last one completes the beat into the output register
    generate
        if (G == 1) begin : g_one
            always_ff @(posedge clk)
                if (adv && pv[T]) m_axis_tdata <= ys[cmul(P, OUT_W)-1:0];
        end else begin : g_asm
            localparam integer AW = cmul(G - 1, cmul(U, OUT_W));
            logic [AW-1:0] asm;
            wire [AW + cmul(U, OUT_W) - 1:0] nxt = {ys, asm};
            always_ff @(posedge clk)
                if (adv && pv[T]) begin
                    asm <= nxt[AW + cmul(U, OUT_W) - 1 -: AW];
                    if (ptag_g[T]) m_axis_tdata <= nxt[cmul(P, OUT_W)-1:0];
                end
        end
    endgenerate
endmodule
