// Nearest-neighbour upsampling by integer factors (compiler/rtl/network.py `upsample`): a stream of WD-pixel rows
// of N lanes x W bits in, each pixel repeated SW times along the row and each row SH times, out[y][x] =
// in[y / SH][x / SW]. The values pass unchanged (hls4ml's resize_nearest: one type in and out).
// The first copy of a row passes its pixels through as they arrive (each one also kept in `cur` for its SW-1
// repeats, and written to the row buffer); the SH-1 further copies are read from the row buffer at the pixel
// counter (a synchronous read into the output register: block or LUT RAM). One output beat per cycle: the module
// runs at SH*SW output beats per input beat, the rate its consumer must take anyway.
module fc_upsample (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N  = 1;     // lanes (channels)
    parameter integer W  = 16;    // bits per lane
    parameter integer WD = 1;     // input row width in pixels
    parameter integer SH = 1;     // row repeat
    parameter integer SW = 1;     // pixel repeat
    `include "tpe_util.svh"
    localparam integer DW = cmul(N, W);
    localparam integer XW = idxw(WD);
    localparam integer KW = idxw(SW);
    localparam integer RW = idxw(SH);
    input  logic          clk;
    input  logic          rst;
    input  logic [DW-1:0] s_data;
    input  logic          s_valid;
    output logic          s_ready;
    output logic [DW-1:0] m_data;
    output logic          m_valid;
    input  logic          m_ready;

    logic [XW-1:0] x;       // pixel of the input row
    logic [KW-1:0] k;       // copy of that pixel along the output row
    logic [RW-1:0] r;       // copy of the input row
    logic [DW-1:0] cur;     // the pixel being repeated (first copy of the row)

    wire adv     = !rst && (!m_valid || m_ready);        // the output register can take a beat
    wire need_in = r == '0 && k == '0;                   // this beat is a new input pixel
    assign s_ready = adv && need_in;
    wire take    = s_ready && s_valid;
    wire emit    = adv && (!need_in || s_valid);        // a beat enters the output register
    wire last_k  = k == KW'(SW - 1);
    wire last_x  = x == XW'(WD - 1);
    wire last_r  = r == RW'(SH - 1);

    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid <= 1'b0;
            x <= '0;
            k <= '0;
            r <= '0;
        end else begin
            if (emit) begin
                m_valid <= 1'b1;
                k <= last_k ? '0 : k + 1'b1;
                if (last_k) begin
                    x <= last_x ? '0 : x + 1'b1;
                    if (last_x) r <= last_r ? '0 : r + 1'b1;
                end
            end else if (m_ready) m_valid <= 1'b0;
        end
    end

    // datapath (no reset): the new pixel, its repeats from `cur`, later rows from the row buffer
    generate
        if (SH > 1) begin : g_rows
            logic [DW-1:0] row [0:WD-1];
            always_ff @(posedge clk) begin
                if (take) row[x] <= s_data;
                if (emit) m_data <= take ? s_data : (r == '0 ? cur : row[x]);
            end
        end else begin : g_one
            always_ff @(posedge clk)
                if (emit) m_data <= take ? s_data : cur;
        end
    endgenerate
    always_ff @(posedge clk)
        if (take) cur <= s_data;
endmodule
