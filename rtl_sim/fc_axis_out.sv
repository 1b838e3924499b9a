// Pixels -> AXI-Stream words in the handoff's layout (compiler/handoff/axi.py): ELEMS elements per frame in
// channels-last order, PW lanes of EB bits per word, each element sign-extended into its lane, WORDS words per
// frame, the last one zero-padded and marked with tlast.
//
// Two small stages instead of one element buffer with a variable-index write (which Yosys 0.23 built as 5,171
// LUT, 41 cells deep, for 10 elements, and could not finish in 20 min for 64): a pixel is held as NCH chunks of
// PW elements read at a chunk counter (a mux per lane bit, like fc_serialize); a repacking stage keeps the n < PW
// elements left over from the previous chunk and places the next chunk after them (PW-way muxes on 2*PW lanes),
// emitting a word whenever PW elements are there and flushing the rest at the end of the frame. One chunk per
// cycle: PIX * NCH cycles per frame (= WORDS when PW divides C).
module fc_axis_out (clk, rst, s_data, s_valid, s_ready, m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast);
    parameter integer C     = 1;
    parameter integer W     = 16;
    parameter integer EB    = 16;
    parameter integer WB    = 64;
    parameter integer PW    = 4;
    parameter integer ELEMS = 4;
    parameter integer WORDS = 1;
    `include "tpe_util.svh"
    localparam integer PIX  = ELEMS / C;                 // pixels per frame
    localparam integer NCH  = (C + PW - 1) / PW;         // chunks per pixel
    localparam integer LAST = C - (NCH - 1) * PW;        // elements in a pixel's last chunk
    localparam integer CW   = cmul(PW, W);               // a chunk's bits
    localparam integer CB   = idxw(NCH);
    localparam integer PB   = idxw(PIX);
    localparam integer NB   = idxw(2 * PW + 1);
    input  logic                  clk;
    input  logic                  rst;
    input  logic [cmul(C, W)-1:0] s_data;
    input  logic                  s_valid;
    output logic                  s_ready;
    output logic [WB-1:0]         m_axis_tdata;
    output logic                  m_axis_tvalid;
    input  logic                  m_axis_tready;
    output logic                  m_axis_tlast;

    // ---- stage 1: the pixel as NCH chunks ----------------------------------------------------------------------
    wire  [cmul(NCH, CW)-1:0] pad = {{(cmul(NCH, CW) - cmul(C, W)){1'b0}}, s_data};
    logic [CW-1:0] ch [0:NCH-1];
    logic          full;
    logic [CB-1:0] ci;
    logic [PB-1:0] pi;
    wire  [CW-1:0] chunk = ch[ci];
    wire           last_chunk = ci == CB'(NCH - 1);
    wire           frame_end = last_chunk && pi == PB'(PIX - 1);
    wire  [NB-1:0] k = last_chunk ? NB'(LAST) : NB'(PW);

    // ---- stage 2: repacking into words -------------------------------------------------------------------------
    logic [W-1:0]  q [0:PW-1];           // n < PW elements left over, zero above n
    logic [NB-1:0] n;
    logic          flush;                // the frame's last elements are in q: emit them next
    wire           out_free = !m_axis_tvalid || m_axis_tready;
    wire           take = out_free && !flush && full;
    wire  [NB-1:0] m = n + k;            // elements after placing the chunk
    logic [W-1:0]  merged [0:2*PW-1];
    integer j;
    always_comb
        for (j = 0; j < 2 * PW; j = j + 1)
            if (j < PW && NB'(j) < n) merged[j] = q[j];
            else if (NB'(j) - n < k) merged[j] = chunk[(j - n) * W +: W];
            else merged[j] = '0;

    assign s_ready = !rst && (!full || (take && last_chunk));
    integer i;
    always_ff @(posedge clk) begin
        if (s_valid && s_ready)
            for (i = 0; i < NCH; i = i + 1) ch[i] <= pad[i * CW +: CW];
    end
    always_ff @(posedge clk) begin
        if (rst) begin
            full <= 1'b0; ci <= '0; pi <= '0; n <= '0; flush <= 1'b0;
            m_axis_tvalid <= 1'b0; m_axis_tlast <= 1'b0;
            for (i = 0; i < PW; i = i + 1) q[i] <= '0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (s_valid && s_ready) begin
                full <= 1'b1; ci <= '0;
            end else if (take && last_chunk) full <= 1'b0;
            if (take) begin
                if (last_chunk) begin
                    ci <= '0;
                    pi <= frame_end ? '0 : pi + 1'b1;
                end else ci <= ci + 1'b1;
            end
            if (out_free && flush) begin
                for (i = 0; i < PW; i = i + 1) begin
                    m_axis_tdata[i * EB +: EB] <= EB'($signed(q[i]));
                    q[i] <= '0;
                end
                m_axis_tvalid <= 1'b1; m_axis_tlast <= 1'b1; n <= '0; flush <= 1'b0;
            end else if (take) begin
                if (m >= NB'(PW) || frame_end) begin
                    for (i = 0; i < PW; i = i + 1) begin
                        m_axis_tdata[i * EB +: EB] <= EB'($signed(merged[i]));
                        q[i] <= merged[PW + i];
                    end
                    m_axis_tvalid <= 1'b1;
                    m_axis_tlast <= frame_end && m <= NB'(PW);
                    n <= (m > NB'(PW)) ? m - NB'(PW) : '0;
                    flush <= frame_end && m > NB'(PW);
                end else begin
                    for (i = 0; i < PW; i = i + 1) q[i] <= merged[i];
                    n <= m;
                end
            end
        end
    end
endmodule
