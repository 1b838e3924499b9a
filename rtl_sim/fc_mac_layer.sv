// A fixed-point (not ternary) conv/dense layer of fcomp_accel: the planner's P x S folding with real multipliers
// (one DSP48E2 per product up to 27x18), the arithmetic of compiler/rtl/network.py `_fixed_layer` (hls4ml's
// Resource-strategy Dense/Conv): acc = CAST_acc(bias) + sum CAST_acc(w * x) (wrapping in AW bits), y = CAST_out(acc).
//
// One input beat is one vector of N lanes of IW bits (a window beat of fc_window, lanes in ONNX weight order, or a
// dense input); one output beat is its R results of OW bits. Output row r runs on PE r mod P in row fold r / P
// (the planner's convention). A vector takes NF * SF cycles, NF = ceil(R/P) row folds of SF = ceil(N/S) steps:
// step (nf, sf) reads ROM word nf*SF + sf (P*S weights, PE p lane l at bits [(p*S + l)*WW +: WW]) and input lanes
// sf*S .. sf*S + S - 1 (a register rotated by S lanes a step, no wide mux). BIAS_FILE holds NF words of P
// accumulator-typed biases. The next vector is taken in while this one runs (an input register), so vectors follow
// each other every NF * SF cycles. Pipeline: step -> ROM/lane registers -> product registers -> accumulators ->
// cast, shifted into the output register a row fold at a time; a full output register that is not taken stalls
// the whole pipeline for that cycle (one enable).
//
// Per-PE lanes (PEL = 1, grouped and depthwise convs): each row reads only its group's NC window lanes, so the PEs
// of a step read different lanes. The generator wires the window into N = NF * SF * P * S lanes in step order
// (step k's P*S lanes at [k*P*S*IW +: P*S*IW], PE p lane l at p*S + l, zeros where a row or column is padding:
// `compiler.rtl.accel.grouped_expansion`) and the register rotates by P*S lanes a step; SF = ceil(NC / S).
module fc_mac_layer (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N    = 1;      // inputs per vector (cols; PEL: the expanded vector, NF * SF * P * S)
    parameter integer NC   = N;      // columns per row (the weight matrix's cols)
    parameter integer PEL  = 0;      // 1: per-PE lanes (grouped conv)
    parameter integer R    = 1;      // outputs per vector (rows)
    parameter integer P    = 1;
    parameter integer S    = 1;
    parameter integer IW   = 16;     // input width (signed)
    parameter integer WW   = 8;      // weight width (signed)
    parameter integer AW   = 32;     // accumulator width (signed, wraps)
    parameter integer OW   = 16;     // output width
    parameter integer PRSH = 0;      // product (IW+WW bits) -> accumulator cast
    parameter integer PLSH = 0;
    parameter integer PRND = 0;
    parameter integer PSAT = 0;
    parameter integer RSH  = 0;      // accumulator -> output cast
    parameter integer LSH  = 0;
    parameter integer RND  = 1;
    parameter integer SAT  = 1;
    parameter WEIGHTS_FILE = "weights.mem";
    parameter BIAS_FILE    = "bias.mem";
    `include "tpe_util.svh"
    localparam integer NF    = (R + P - 1) / P;
    localparam integer SF    = (NC + S - 1) / S;
    localparam integer NSTEP = cmul(NF, SF);
    localparam integer LW    = cmul(PEL ? cmul(P, S) : S, IW);      // one step's input lanes
    localparam integer XW    = cmul(PEL ? NSTEP : SF, LW);          // the padded input vector
    localparam integer WWORD = cmul(cmul(P, S), WW);
    localparam integer BWORD = cmul(P, AW);
    localparam integer CW    = cmul(cmul(P, S), AW);   // one step's products, cast
    localparam integer PYW   = cmul(P, OW);            // one row fold's outputs
    localparam integer YW    = cmul(NF, PYW);
    localparam integer PW    = IW + WW;
    localparam integer TW    = AW + $clog2(S + 1);
    localparam integer AB    = idxw(NSTEP);
    localparam integer NB    = idxw(NF);
    localparam integer SB    = idxw(SF);
    input  logic                  clk;
    input  logic                  rst;
    input  logic [cmul(N, IW)-1:0] s_data;
    input  logic                  s_valid;
    output logic                  s_ready;
    output logic [cmul(R, OW)-1:0] m_data;
    output logic                  m_valid;
    input  logic                  m_ready;

    logic [WWORD-1:0] w_rom [0:NSTEP-1];
    logic [BWORD-1:0] b_rom [0:NF-1];
    initial begin
        $readmemh(WEIGHTS_FILE, w_rom);
        $readmemh(BIAS_FILE, b_rom);
    end

    // ---- sequencer: input register, working register, step counters --------------------------------------------
    logic [cmul(N, IW)-1:0] xin;
    logic                   xin_v;
    logic [XW-1:0]          xr;
    logic                   busy;
    logic [NB-1:0]          nf;
    logic [SB-1:0]          sf;
    logic [AB-1:0]          addr;
    logic                   emit;     // stage 4 completes a vector this cycle
    logic                   en;       // the whole pipeline advances
    logic                   at_end, load;
    assign at_end  = nf == NB'(NF - 1) && sf == SB'(SF - 1);
    assign en      = !(emit && m_valid && !m_ready);
    assign load    = en && xin_v && (!busy || at_end);
    assign s_ready = !rst && (!xin_v || load);
    always_ff @(posedge clk) begin
        if (rst) begin
            xin_v <= 1'b0; busy <= 1'b0; nf <= '0; sf <= '0; addr <= '0;
        end else begin
            if (s_valid && s_ready) begin
                xin <= s_data; xin_v <= 1'b1;
            end else if (load) xin_v <= 1'b0;
            if (en) begin
                if (load) begin
                    xr <= XW'(xin); busy <= 1'b1; nf <= '0; sf <= '0; addr <= '0;
                end else if (busy) begin
                    xr <= (xr >> LW) | (xr << (XW - LW));        // rotate by one step's lanes
                    addr <= addr + 1'b1;
                    if (at_end) begin
                        busy <= 1'b0; nf <= '0; sf <= '0; addr <= '0;
                    end else if (sf == SB'(SF - 1)) begin
                        sf <= '0; nf <= nf + 1'b1;
                    end else sf <= sf + 1'b1;
                end
            end
        end
    end

    // ---- stage 1: weights, biases and the step's input lanes --------------------------------------------------
    logic             v1, first1, last1;
    logic [NB-1:0]    nf1;
    logic [LW-1:0]    x1;
    logic [WWORD-1:0] w1;
    logic [BWORD-1:0] b1;
    always_ff @(posedge clk) begin
        if (rst) v1 <= 1'b0;
        else if (en) v1 <= busy;
        if (en) begin
            first1 <= sf == '0; last1 <= sf == SB'(SF - 1); nf1 <= nf;
            x1 <= xr[LW-1:0];
            w1 <= w_rom[addr];
            b1 <= b_rom[nf];
        end
    end

    // ---- stage 2: products, cast to the accumulator type ------------------------------------------------------
    logic [CW-1:0]    pc, c2;
    logic             v2, first2, last2;
    logic [NB-1:0]    nf2;
    logic [BWORD-1:0] b2;
    genvar p, l;
    generate
        for (p = 0; p < P; p = p + 1) begin : g_pe
            for (l = 0; l < S; l = l + 1) begin : g_lane
                logic signed [PW-1:0] prod;
                assign prod = $signed(x1[cmul(PEL ? cmul(p, S) + l : l, IW) +: IW])
                            * $signed(w1[cmul(cmul(p, S) + l, WW) +: WW]);
                fc_cast_comb #(.IW(PW), .OW(AW), .RSH(PRSH), .LSH(PLSH), .RND(PRND), .SAT(PSAT)) u_pc (
                    .x(prod), .y(pc[cmul(cmul(p, S) + l, AW) +: AW]));
            end
        end
    endgenerate
    always_ff @(posedge clk) begin
        if (rst) v2 <= 1'b0;
        else if (en) v2 <= v1;
        if (en) begin
            first2 <= first1; last2 <= last1; nf2 <= nf1; c2 <= pc; b2 <= b1;
        end
    end

    // ---- stage 3: accumulators (the bias first, sums wrap in AW bits) -----------------------------------------
    logic [BWORD-1:0] acc;
    logic             v3;
    logic [NB-1:0]    nf3;
    logic [PYW-1:0]   yc;
    generate
        for (p = 0; p < P; p = p + 1) begin : g_acc
            logic [TW-1:0] tsum;
            logic [AW-1:0] base;
            tpe_addtree #(.N(S), .IW(AW), .OW(TW)) u_tree (.in_flat(c2[cmul(cmul(p, S), AW) +: cmul(S, AW)]),
                                                           .sum(tsum));
            assign base = first2 ? b2[cmul(p, AW) +: AW] : acc[cmul(p, AW) +: AW];
            always_ff @(posedge clk) if (en && v2) acc[cmul(p, AW) +: AW] <= base + tsum[AW-1:0];
            fc_cast_comb #(.IW(AW), .OW(OW), .RSH(RSH), .LSH(LSH), .RND(RND), .SAT(SAT)) u_out (
                .x(acc[cmul(p, AW) +: AW]), .y(yc[cmul(p, OW) +: OW]));
        end
    endgenerate
    always_ff @(posedge clk) begin
        if (rst) v3 <= 1'b0;
        else if (en) v3 <= v2 && last2;
        if (en) nf3 <= nf2;
    end

    // ---- stage 4: a finished row fold's outputs, cast, shifted into the output vector --------------------------
    logic [YW-1:0] ybuf, ynext;
    assign ynext = YW'({yc, ybuf} >> PYW);
    assign emit  = v3 && nf3 == NB'(NF - 1);
    always_ff @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else begin
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (en && v3) begin
                ybuf <= ynext;
                if (emit) begin
                    m_data <= ynext[cmul(R, OW)-1:0]; m_valid <= 1'b1;
                end
            end
        end
    end
endmodule
