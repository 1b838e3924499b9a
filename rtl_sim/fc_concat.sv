// Channel concatenation of two pixel streams of the same length (compiler/rtl/network.py `concat`): output lane c
// is a's lane c for c < NA, else b's lane c - NA; both inputs already cast to the output's W-bit type (fc_cast in
// front where their types differ). One registered stage; a beat fires when both inputs are valid.
module fc_concat (clk, rst, a_data, a_valid, a_ready, b_data, b_valid, b_ready, m_data, m_valid, m_ready);
    parameter integer NA = 1;
    parameter integer NB = 1;
    parameter integer W  = 16;
    `include "tpe_util.svh"
    input  logic                        clk;
    input  logic                        rst;
    input  logic [cmul(NA, W)-1:0]      a_data;
    input  logic                        a_valid;
    output logic                        a_ready;
    input  logic [cmul(NB, W)-1:0]      b_data;
    input  logic                        b_valid;
    output logic                        b_ready;
    output logic [cmul(NA + NB, W)-1:0] m_data;
    output logic                        m_valid;
    input  logic                        m_ready;

    wire go = !rst && (!m_valid || m_ready) && a_valid && b_valid;
    assign a_ready = go;
    assign b_ready = go;
    always_ff @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else if (go) begin m_valid <= 1'b1; m_data <= {b_data, a_data}; end
        else if (m_ready) m_valid <= 1'b0;
    end
endmodule
