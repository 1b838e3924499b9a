// Sliding-window generator: a stream of pixels (C lanes of W bits, row-major, one frame of H x WD pixels) ->
// one beat per output position (HO x WO, row-major) holding the KH x KW window of all C channels, lanes in ONNX
// weight order (c, kh, kw): lane (c*KH + kh)*KW + kw at bits [lane*W +: W]; with KM = 1 kernel-major (kh, kw, c):
// lane (kh*KW + kw)*C + c (a conv's matrix columns, compiler/plan.py `kernel_major`). Positions outside the frame
// (padding PT/PL/PB/PR) are 0.
//
// Line buffer: NR (a power of two >= KH + SH) rows of WD pixels in a circular buffer, no im2col copy. The input
// writes row `in_rows` (counted from the output frame's first row; negative while it still writes the rows the
// previous output frame did not need) while the rows the current output row needs stay in place: a row is
// written only when in_rows < lowest row still needed + NR. A window is emitted as soon as its last pixel is in.
// Frames follow each other without a gap: the next frame's rows are written while the last output rows of this
// one are read.
module fc_window (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
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
    parameter integer KM = 0;    // lane order: 0 (c, kh, kw), 1 (kh, kw, c)
    `include "tpe_util.svh"
    localparam integer PXW  = cmul(C, W);
    localparam integer KK   = cmul(KH, KW);
    localparam integer OUTW = cmul(PXW, KK);
    localparam integer RW   = idxw(NR);
    localparam integer LW   = idxw(WD);       // column bits: the buffer is addressed {slot, column}
    input  logic            clk;
    input  logic            rst;
    input  logic [PXW-1:0]  s_data;
    input  logic            s_valid;
    output logic            s_ready;
    output logic [OUTW-1:0] m_data;
    output logic            m_valid;
    input  logic            m_ready;

    logic [PXW-1:0] lb [0:(NR << LW)-1];
    integer in_rows;          // row being written, relative to the output frame's row 0
    integer ic;               // its column
    logic [RW-1:0] wslot;     // its line-buffer slot
    integer orow, ocol;       // output position
    integer rb, cb;           // its window's top-left input position: orow*SH - PT, ocol*SW - PL

    integer out_low, r_hi, c_hi;
    logic avail, fire_out;
    always_comb begin
        out_low = (rb < 0) ? 0 : rb;
        r_hi = (rb + KH - 1 > H - 1) ? H - 1 : rb + KH - 1;
        c_hi = (cb + KW - 1 > WD - 1) ? WD - 1 : cb + KW - 1;
        avail = (in_rows > r_hi) || (in_rows == r_hi && ic > c_hi);
    end
    assign s_ready  = !rst && (in_rows < out_low + NR);
    assign fire_out = avail && (!m_valid || m_ready);
    wire   fire_in  = s_valid && s_ready;

    // the window at (orow, ocol): KH x KW pixel reads; the channel lanes are placed by wiring
    logic [PXW-1:0] pix [0:KK-1];
    logic [OUTW-1:0] win;
    genvar gh, gw, gc;
    generate
        for (gh = 0; gh < KH; gh = gh + 1) begin : g_h
            for (gw = 0; gw < KW; gw = gw + 1) begin : g_w
                localparam integer K = cmul(gh, KW) + gw;
                integer r, q;
                logic [RW-1:0] slot;
                always_comb begin
                    r = rb + gh;
                    q = cb + gw;
                    slot = RW'(wslot - RW'(in_rows) + RW'(r));
                    if (r < 0 || r >= H || q < 0 || q >= WD) pix[K] = '0;
                    else pix[K] = lb[{slot, LW'(q)}];
                end
                for (gc = 0; gc < C; gc = gc + 1) begin : g_c
                    localparam integer LANE = KM ? cmul(K, C) + gc : cmul(gc, KK) + K;
                    assign win[cmul(LANE, W) +: W] = pix[K][cmul(gc, W) +: W];
                end
            end
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (fire_in) lb[{wslot, LW'(ic)}] <= s_data;
        if (rst) begin
            in_rows <= 0; ic <= 0; wslot <= '0; orow <= 0; ocol <= 0; rb <= -PT; cb <= -PL;
            m_valid <= 1'b0;
        end else begin
            integer rows_next;
            rows_next = in_rows;
            if (fire_in) begin
                if (ic == WD - 1) begin
                    ic <= 0; wslot <= wslot + 1'b1; rows_next = rows_next + 1;
                end else ic <= ic + 1;
            end
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (fire_out) begin
                m_valid <= 1'b1;
                m_data  <= win;
                if (ocol == WO - 1) begin
                    ocol <= 0; cb <= -PL;
                    if (orow == HO - 1) begin orow <= 0; rb <= -PT; rows_next = rows_next - H; end
                    else begin orow <= orow + 1; rb <= rb + SH; end
                end else begin ocol <= ocol + 1; cb <= cb + SW; end
            end
            in_rows <= rows_next;
        end
    end
endmodule
