// The fixed-point cast of compiler/rtl/network.py `cast`, as a function over IW-bit signed values
// (`include'd inside a module that defines IW, OW, RSH, LSH, RND, SAT): shift to the output's fraction bits
// (RSH > 0: add half an LSB when RND, then an arithmetic right shift; else a left shift by LSH), then clamp to
// the signed OW-bit range (SAT) or keep the low OW bits (wrap).
function automatic logic [OW-1:0] fc_cast_fn(input logic signed [IW-1:0] x);
    logic signed [IW+LSH+1:0] v;
    logic signed [IW+LSH+1:0] hi, lo;
    begin
        v = {{(LSH + 2){x[IW-1]}}, x};
        if (RSH > 0) begin
            if (RND != 0) v = v + ((IW+LSH+2)'(1) <<< (RSH - 1));
            v = v >>> RSH;
        end else begin
            v = v <<< LSH;
        end
        hi = ((IW+LSH+2)'(1) <<< (OW - 1)) - 1;
        lo = -((IW+LSH+2)'(1) <<< (OW - 1));
        if (SAT != 0 && v > hi) fc_cast_fn = hi[OW-1:0];
        else if (SAT != 0 && v < lo) fc_cast_fn = lo[OW-1:0];
        else fc_cast_fn = v[OW-1:0];
    end
endfunction
