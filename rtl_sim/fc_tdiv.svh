// Division by the constant DN truncated towards zero (C's `/`, ap_fixed's sdiv), without a divider or `*`:
// |s| / DN = (|s| * DM) >> DSH for every |s| < 2**AW with DM = ceil(2**DSH / DN), DSH = AW + ceil(log2 DN)
// (the generator checks it); the product is a sum of shifted copies of |s|, one per set bit of DM.
// `include'd inside a module that defines AW, DM (64-bit) and DSH.
function automatic logic signed [AW-1:0] fc_tdiv_fn(input logic signed [AW-1:0] s);
    logic [AW-1:0] m;
    logic [AW+64:0] p;
    begin
        m = s[AW-1] ? AW'(-s) : AW'(s);
        p = '0;
        for (int i = 0; i < 64; i++)
            if (DM[i]) p = p + ((AW+65)'(m) << i);
        p = p >> DSH;
        fc_tdiv_fn = s[AW-1] ? -$signed(p[AW-1:0]) : $signed(p[AW-1:0]);
    end
endfunction
