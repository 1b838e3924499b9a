// Element-wise add of two streams of N lanes: y = CAST((a << LSA) + (b << LSB)), the sum exact (IW bits), one
// registered stage; a beat fires when both inputs are valid.
module fc_add (clk, rst, a_data, a_valid, a_ready, b_data, b_valid, b_ready, m_data, m_valid, m_ready);
    parameter integer N   = 1;
    parameter integer AW  = 16;
    parameter integer BW  = 16;
    parameter integer LSA = 0;
    parameter integer LSB = 0;
    parameter integer IW  = 18;      // width of the exact sum
    parameter integer OW  = 16;
    parameter integer RSH = 0;
    parameter integer LSH = 0;
    parameter integer RND = 1;
    parameter integer SAT = 1;
    `include "tpe_util.svh"
    `include "fc_cast.svh"
    input  logic                   clk;
    input  logic                   rst;
    input  logic [cmul(N, AW)-1:0] a_data;
    input  logic                   a_valid;
    output logic                   a_ready;
    input  logic [cmul(N, BW)-1:0] b_data;
    input  logic                   b_valid;
    output logic                   b_ready;
    output logic [cmul(N, OW)-1:0] m_data;
    output logic                   m_valid;
    input  logic                   m_ready;

    logic [cmul(N, OW)-1:0] y;
    always_comb begin
        for (int i = 0; i < N; i++) begin
            logic signed [IW-1:0] a, b;
            a = IW'($signed(a_data[cmul(i, AW) +: AW])) <<< LSA;
            b = IW'($signed(b_data[cmul(i, BW) +: BW])) <<< LSB;
            y[cmul(i, OW) +: OW] = fc_cast_fn(a + b);
        end
    end
    wire go = !rst && (!m_valid || m_ready) && a_valid && b_valid;
    assign a_ready = go;
    assign b_ready = go;
    always_ff @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else if (go) begin m_valid <= 1'b1; m_data <= y; end
        else if (m_ready) m_valid <= 1'b0;
    end
endmodule
