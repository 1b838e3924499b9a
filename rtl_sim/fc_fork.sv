// One stream to N consumers: every beat is offered to all of them and retired once each has taken it.
module fc_fork (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer DW = 8;
    parameter integer N  = 2;
    input  logic          clk;
    input  logic          rst;
    input  logic [DW-1:0] s_data;
    input  logic          s_valid;
    output logic          s_ready;
    output logic [DW-1:0] m_data;
    output logic [N-1:0]  m_valid;
    input  logic [N-1:0]  m_ready;

    logic [N-1:0] taken;
    assign m_data  = s_data;
    assign m_valid = {N{s_valid}} & ~taken;
    assign s_ready = &(taken | m_ready);
    always_ff @(posedge clk) begin
        if (rst) taken <= '0;
        else if (s_valid && s_ready) taken <= '0;
        else taken <= taken | (m_valid & m_ready);
    end
endmodule
