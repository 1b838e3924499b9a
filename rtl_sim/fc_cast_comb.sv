// The fixed-point cast of fc_cast.svh (compiler/rtl/network.py `cast`) as a combinational module, for modules that
// need more than one cast with different parameters (fc_mac_layer: product -> accumulator, accumulator -> output).
module fc_cast_comb (x, y);
    parameter integer IW  = 16;
    parameter integer OW  = 16;
    parameter integer RSH = 0;
    parameter integer LSH = 0;
    parameter integer RND = 1;
    parameter integer SAT = 1;
    `include "fc_cast.svh"
    input  logic [IW-1:0] x;
    output logic [OW-1:0] y;
    assign y = fc_cast_fn(x);
endmodule
