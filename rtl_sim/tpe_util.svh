// Elaboration-time helpers shared by the ternary PE array sources (`include'd inside each module).
// cmul() multiplies two constants by shift-and-add, so no `*` operator appears in the ternary RTL at all:
// every product in these files is a parameter/index computation folded away at elaboration.
function automatic integer cmul(input integer a, input integer b);
    integer i, r;
    begin
        r = 0;
        for (i = 0; i < 31; i = i + 1)
            if (((b >> i) & 1) != 0) r = r + (a << i);
        cmul = r;
    end
endfunction

// ceil(log2(n)), at least 1: the width of an index into n entries.
function automatic integer idxw(input integer n);
    begin
        idxw = (n <= 2) ? 1 : $clog2(n);
    end
endfunction
