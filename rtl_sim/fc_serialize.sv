// Width converter, wide -> narrow: one vector of N lanes of W bits -> NBEATS beats of L lanes (lanes beyond N are
// 0), beat i holding lanes i*L .. i*L+L-1; tlast on the last beat of a vector. A new vector is taken in the cycle
// its predecessor's last beat leaves, so vectors follow each other every NBEATS cycles.
// The vector is held as NBEATS words of an array read at the beat counter: Yosys 0.23 builds that as an NBEATS:1
// mux per output bit (576 lanes in 24 beats: 5,442 LUT, 114 s), where the former variable part-select
// v[beat*OW +: OW] became a shifter over the whole vector that was still in Yosys after 15 min.
module fc_serialize (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready, m_last);
    parameter integer N      = 1;
    parameter integer L      = 1;
    parameter integer W      = 16;
    parameter integer NBEATS = 1;
    `include "tpe_util.svh"
    localparam integer IW = cmul(N, W);
    localparam integer OW = cmul(L, W);
    localparam integer PADW = cmul(cmul(NBEATS, L), W);
    localparam integer BW = idxw(NBEATS);
    input  logic          clk;
    input  logic          rst;
    input  logic [IW-1:0] s_data;
    input  logic          s_valid;
    output logic          s_ready;
    output logic [OW-1:0] m_data;
    output logic          m_valid;
    input  logic          m_ready;
    output logic          m_last;

    wire  [PADW-1:0] pad = PADW'(s_data);
    logic [OW-1:0]   v [0:NBEATS-1];
    logic [BW-1:0]   beat;
    integer i;
    assign m_data  = v[beat];
    assign m_last  = beat == BW'(NBEATS - 1);
    assign s_ready = !rst && (!m_valid || (m_ready && m_last));
    always_ff @(posedge clk) begin
        if (s_valid && s_ready)
            for (i = 0; i < NBEATS; i = i + 1) v[i] <= pad[i*OW +: OW];
    end
    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid <= 1'b0; beat <= '0;
        end else if (s_valid && s_ready) begin
            m_valid <= 1'b1; beat <= '0;
        end else if (m_valid && m_ready) begin
            if (m_last) m_valid <= 1'b0;
            else beat <= beat + 1'b1;
        end
    end
endmodule
