// Sliding-window generator that streams each window in chunks (FINN's ConvolutionInputGenerator order): a stream
// of pixels (C lanes of W bits, row-major, one frame of H x WD pixels) -> for every output position (HO x WO,
// row-major) KH*KW*NC beats of CW lanes, NC = C / CW, in kernel-major order (kh, kw, chunk): beat
// (kh*KW + kw)*NC + j holds channels j*CW .. j*CW+CW-1 of input pixel (orow*SH - PT + kh, ocol*SW - PL + kw), 0 for
// a position in the padding. Concatenated, a position's beats are the conv's matrix columns in the order
// (kh, kw, c) (compiler/plan.py `kernel_major`), so the PE array takes them as its input beats with no
// width converter: CW = IB*S lanes. m_last marks a position's last beat.
//
// Line buffer: NR (a power of two >= KH + SH) rows of WD pixels in a circular buffer (the flow control of
// fc_window.sv: a row is written only when it is no longer needed; a window is emitted once its last pixel is
// in; frames follow each other without a gap), held as NC memories of CW-lane words, one per chunk, each with
// one write port (the input pixel's chunk) and one synchronous read port at the same address (block RAM or
// LUT-RAM): one word per cycle is read, so the window is never held in registers whole. With F > 1 the NC chunks
// share NC/F memories, F chunks each (chunk j in memory j / F at {j mod F, slot, column}): a line buffer of few
// short rows then fills a block RAM's depth instead of spreading over NC half-empty ones. A pixel's F chunks per
// memory are written over F cycles (the first from s_data as it is taken, the others from a register), so the
// input takes one pixel per F cycles; the pixel counts for the windows once its last chunk is in. The read register is the
// output register: a beat is issued (read) when the output is free or leaving, and a memory holds its read word
// while the sink stalls (read enable), so the stream runs at one beat per cycle. A read never meets the write of
// the same cycle: the window's pixels are in, the input writes later columns or rows no window still needs.
module fc_swg (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready, m_last);
    parameter integer C  = 1;
    parameter integer W  = 16;
    parameter integer H  = 8;
    parameter integer WD = 8;
    parameter integer KH = 3;
    parameter integer KW = 3;
    parameter integer SH = 1;
    parameter integer SW = 1;
    parameter integer PT = 1;
    parameter integer PL = 1;
    parameter integer HO = 8;
    parameter integer WO = 8;
    parameter integer NR = 4;
    parameter integer CW = 1;    // lanes per beat, dividing C
    parameter integer F  = 1;    // chunks per line-buffer memory, dividing C / CW
    `include "tpe_util.svh"
    localparam integer NC   = C / CW;
    localparam integer NM   = NC / F;             // memories
    localparam integer FW   = idxw(F);
    localparam integer PXW  = cmul(C, W);
    localparam integer OW   = cmul(CW, W);
    localparam integer RW   = idxw(NR);
    localparam integer LW   = idxw(WD);       // column bits: a memory is addressed {slot, column}
    localparam integer JW   = idxw(NC);
    input  logic           clk;
    input  logic           rst;
    input  logic [PXW-1:0] s_data;
    input  logic           s_valid;
    output logic           s_ready;
    output wire  [OW-1:0]  m_data;
    output logic           m_valid;
    input  logic           m_ready;
    output logic           m_last;

    integer in_rows;          // row being written, relative to the output frame's row 0
    integer ic;               // its column
    logic [RW-1:0] wslot;     // its line-buffer slot
    integer orow, ocol;       // output position
    integer rb, cb;           // its window's top-left input position: orow*SH - PT, ocol*SW - PL
    integer th, tw;           // the kernel tap being emitted
    logic [JW-1:0] tj;        // its chunk

    integer out_low, r_hi, c_hi, r, q;
    logic avail, fire_out, in_frame, last_beat;
    logic [RW-1:0] rslot;
    always_comb begin
        out_low = (rb < 0) ? 0 : rb;
        r_hi = (rb + KH - 1 > H - 1) ? H - 1 : rb + KH - 1;
        c_hi = (cb + KW - 1 > WD - 1) ? WD - 1 : cb + KW - 1;
        avail = (in_rows > r_hi) || (in_rows == r_hi && ic > c_hi);
        r = rb + th;
        q = cb + tw;
        in_frame = r >= 0 && r < H && q >= 0 && q < WD;
        rslot = RW'(wslot - RW'(in_rows) + RW'(r));
        last_beat = th == KH - 1 && tw == KW - 1 && tj == JW'(NC - 1);
    end
    logic          busy;          // F > 1: a taken pixel whose chunks 1 .. F-1 per memory are still being written
    logic [FW-1:0] wsub;          // the chunk (within each memory) written this cycle while busy
    logic [PXW-1:0] px;           // that pixel
    assign s_ready  = !rst && !busy && (in_rows < out_low + NR);
    assign fire_out = avail && (!m_valid || m_ready);
    wire   fire_in  = s_valid && s_ready;
    wire   px_done  = (F == 1) ? fire_in : (busy && wsub == FW'(F - 1));   // the pixel's last chunk is written

    logic [OW-1:0] rd [0:NM-1];
    logic [JW-1:0] tj_q;
    logic          in_q;
    genvar gj;
    generate
        for (gj = 0; gj < NM; gj = gj + 1) begin : g_mem
            logic [OW-1:0] lb [0:cmul(F, NR << LW)-1];
            if (F == 1) begin : g_one
                always_ff @(posedge clk) begin
                    if (fire_in) lb[{wslot, LW'(ic)}] <= s_data[cmul(gj, OW) +: OW];
                    if (fire_out) rd[gj] <= lb[{rslot, LW'(q)}];
                end
            end else begin : g_packed
                // chunk gj*F + k of the pixel at {k, slot, column}
                wire [FW-1:0] rsub = FW'(tj % F);
                always_ff @(posedge clk) begin
                    if (fire_in) lb[{FW'(0), wslot, LW'(ic)}] <= s_data[cmul(cmul(gj, F), OW) +: OW];
                    else if (busy) lb[{wsub, wslot, LW'(ic)}] <= px[cmul(cmul(gj, F) + wsub, OW) +: OW];
                    if (fire_out) rd[gj] <= lb[{rsub, rslot, LW'(q)}];
                end
            end
        end
    endgenerate
    assign m_data = in_q ? rd[tj_q / F] : '0;

    always_ff @(posedge clk) begin
        if (rst) begin
            in_rows <= 0; ic <= 0; wslot <= '0; orow <= 0; ocol <= 0; rb <= -PT; cb <= -PL;
            th <= 0; tw <= 0; tj <= '0; m_valid <= 1'b0; m_last <= 1'b0; in_q <= 1'b0; tj_q <= '0;
            busy <= 1'b0; wsub <= '0;
        end else begin
            integer rows_next;
            rows_next = in_rows;
            if (F > 1) begin
                if (fire_in) begin busy <= 1'b1; wsub <= FW'(1); px <= s_data; end
                else if (busy) begin
                    if (wsub == FW'(F - 1)) busy <= 1'b0;
                    wsub <= wsub + 1'b1;
                end
            end
            if (px_done) begin
                if (ic == WD - 1) begin
                    ic <= 0; wslot <= wslot + 1'b1; rows_next = rows_next + 1;
                end else ic <= ic + 1;
            end
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (fire_out) begin
                m_valid <= 1'b1;
                in_q    <= in_frame;
                tj_q    <= tj;
                m_last  <= last_beat;
                if (tj != JW'(NC - 1)) tj <= tj + 1'b1;
                else begin
                    tj <= '0;
                    if (tw != KW - 1) tw <= tw + 1;
                    else begin
                        tw <= 0;
                        if (th != KH - 1) th <= th + 1;
                        else th <= 0;
                    end
                end
                if (last_beat) begin
                    if (ocol == WO - 1) begin
                        ocol <= 0; cb <= -PL;
                        if (orow == HO - 1) begin orow <= 0; rb <= -PT; rows_next = rows_next - H; end
                        else begin orow <= orow + 1; rb <= rb + SH; end
                    end else begin ocol <= ocol + 1; cb <= cb + SW; end
                end
            end
            in_rows <= rows_next;
        end
    end
endmodule
