// Width converter, narrow -> wide: NBEATS beats of IW bits -> one word of NBEATS*IW bits, beat i at bits
// [i*IW +: IW]. The first beat of the next word is taken in the cycle the full word leaves. Beats shift in from
// the top (after NBEATS beats, beat i sits at [i*IW +: IW]): every register bit has one source, no variable-index
// write, which Yosys built as a shifter (16 beats of 128 bits: 8,198 LUT before, 17 LUT now; Yosys 0.23 xcup).
module fc_collect (clk, rst, s_data, s_valid, s_ready, m_data, m_valid, m_ready);
    parameter integer IW     = 16;
    parameter integer NBEATS = 1;
    `include "tpe_util.svh"
    localparam integer OW = cmul(NBEATS, IW);
    localparam integer CW = idxw(NBEATS + 1);
    input  logic          clk;
    input  logic          rst;
    input  logic [IW-1:0] s_data;
    input  logic          s_valid;
    output logic          s_ready;
    output logic [OW-1:0] m_data;
    output logic          m_valid;
    input  logic          m_ready;

    logic [CW-1:0] cnt;
    logic [OW-1:0] shifted;
    generate
        if (NBEATS == 1) begin : g_one
            assign shifted = s_data;
        end else begin : g_shift
            assign shifted = {s_data, m_data[OW-1:IW]};
        end
    endgenerate
    wire full     = cnt == CW'(NBEATS);
    wire fire_out = full && m_ready;
    assign m_valid = full;
    assign s_ready = !rst && (!full || m_ready);
    always_ff @(posedge clk) begin
        if (rst) cnt <= '0;
        else begin
            if (s_valid && s_ready) begin
                m_data <= shifted;
                cnt <= (fire_out ? '0 : cnt) + 1'b1;
            end else if (fire_out) cnt <= '0;
        end
    end
endmodule
