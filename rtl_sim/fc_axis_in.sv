// AXI-Stream words -> pixels, with frame checking. The word layout is the handoff's (compiler/handoff/axi.py):
// a frame is ELEMS elements in channels-last order, PW lanes of EB bits per WB-bit word (lane i at bits
// [i*EB +: EB], the element's raw fixed-point bits in the lane's low W bits), WORDS words, the last one padded.
// Output: pixels of C lanes of W bits.
// tlast must come with word WORDS-1 of every frame. A frame that ends early (tlast on an earlier word) sets
// err_short and is completed with zeros; a frame that does not end (no tlast on its last word) sets err_long and
// the words up to and including the next tlast are dropped. Either way the next frame starts aligned. The flags
// are sticky until reset.
module fc_axis_in (clk, rst, s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast, m_data, m_valid, m_ready,
                   err_short, err_long);
    parameter integer C     = 1;
    parameter integer W     = 16;
    parameter integer EB    = 16;
    parameter integer WB    = 64;
    parameter integer PW    = 4;
    parameter integer ELEMS = 4;
    parameter integer WORDS = 1;
    `include "tpe_util.svh"
    localparam integer CAP  = C + PW;
    localparam integer LAST_N = ELEMS - cmul(WORDS - 1, PW);   // elements in the last word
    input  logic                  clk;
    input  logic                  rst;
    input  logic [WB-1:0]         s_axis_tdata;
    input  logic                  s_axis_tvalid;
    output logic                  s_axis_tready;
    input  logic                  s_axis_tlast;
    output logic [cmul(C, W)-1:0] m_data;
    output logic                  m_valid;
    input  logic                  m_ready;
    output logic                  err_short;
    output logic                  err_long;

    logic [W-1:0] eb [0:CAP-1];
    integer n, widx;
    logic fill, discard;
    wire emit  = (n >= C) && (!m_valid || m_ready);
    wire room  = (n - (emit ? C : 0)) <= C;
    assign s_axis_tready = !rst && (discard || (!fill && room));
    wire take  = s_axis_tvalid && s_axis_tready && !discard;   // a word of the frame from the bus
    wire put   = take || (fill && room);                       // a word (bus or zero fill) enters the buffer
    wire lastw = widx == WORDS - 1;

    always_ff @(posedge clk) begin
        if (rst) begin
            n <= 0; widx <= 0; fill <= 1'b0; discard <= 1'b0; m_valid <= 1'b0;
            err_short <= 1'b0; err_long <= 1'b0;
        end else begin
            integer base, cnt;
            base = n - (emit ? C : 0);
            cnt  = lastw ? LAST_N : PW;
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (emit) begin
                m_valid <= 1'b1;
                for (int c = 0; c < C; c++) m_data[cmul(c, W) +: W] <= eb[c];
                for (int j = 0; j < CAP - C; j++) eb[j] <= eb[j + C];
            end
            if (put) begin
                for (int i = 0; i < PW; i++)
                    if (i < cnt) eb[base + i] <= take ? s_axis_tdata[cmul(i, EB) +: W] : '0;
                n <= base + cnt;
                widx <= lastw ? 0 : widx + 1;
                if (take && s_axis_tlast && !lastw) begin fill <= 1'b1; err_short <= 1'b1; end
                if (fill && lastw) fill <= 1'b0;
                if (take && !s_axis_tlast && lastw) begin discard <= 1'b1; err_long <= 1'b1; end
            end else n <= base;
            if (discard && s_axis_tvalid && s_axis_tlast) discard <= 1'b0;
        end
    end
endmodule
