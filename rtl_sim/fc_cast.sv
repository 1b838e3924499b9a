// Element-wise cast of N lanes (optionally ReLU first): y = CAST(RELU ? max(x, 0) : x), one registered stage.
module fc_cast (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer N    = 1;
    parameter integer IW   = 16;
    parameter integer OW   = 16;
    parameter integer RSH  = 0;
    parameter integer LSH  = 0;
    parameter integer RND  = 1;
    parameter integer SAT  = 1;
    parameter integer RELU = 0;
    `include "tpe_util.svh"
    `include "fc_cast.svh"
    input  logic                   clk;
    input  logic                   rst;
    input  logic [cmul(N, IW)-1:0] s_data;
    input  logic                   s_valid;
    output logic                   s_ready;
    output logic [cmul(N, OW)-1:0] m_data;
    output logic                   m_valid;
    input  logic                   m_ready;

    logic [cmul(N, OW)-1:0] y;
    always_comb begin
        for (int i = 0; i < N; i++) begin
            logic signed [IW-1:0] x;
            x = s_data[cmul(i, IW) +: IW];
            if (RELU != 0 && x[IW-1]) x = '0;
            y[cmul(i, OW) +: OW] = fc_cast_fn(x);
        end
    end
    assign s_ready = !rst && (!m_valid || m_ready);
    always_ff @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else if (s_ready) begin
            m_valid <= s_valid;
            if (s_valid) m_data <= y;
        end
    end
endmodule
