// Width converter, wide -> narrow: one vector of N lanes of W bits -> NBEATS beats of L lanes (lanes beyond N are
// 0), beat i holding lanes i*L .. i*L+L-1; tlast on the last beat of a vector. A new vector is taken in the cycle
// its predecessor's last beat leaves, so vectors follow each other every NBEATS cycles.
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

    logic [PADW-1:0] v;
    logic [BW-1:0]   beat;
    assign m_data  = v[cmul(beat, OW) +: OW];
    assign m_last  = beat == BW'(NBEATS - 1);
    assign s_ready = !rst && (!m_valid || (m_ready && m_last));
    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid <= 1'b0; beat <= '0;
        end else if (s_valid && s_ready) begin
            v <= PADW'(s_data); m_valid <= 1'b1; beat <= '0;
        end else if (m_valid && m_ready) begin
            if (m_last) m_valid <= 1'b0;
            else beat <= beat + 1'b1;
        end
    end
endmodule
