"""rtl_sim/fc_axis_out.sv alone in Icarus: pixels of C elements -> AXI words of PW lanes in the handoff's layout
(sign-extended lanes, words crossing pixel boundaries, the frame's last word zero-padded with tlast), under random
valid and ready, for shapes where PW divides C and where it does not (the repacking stage and its end-of-frame
flush). The whole-network tests (test_accel, test_handoff) cover it inside fcomp_accel."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from compiler.rtl.layer import RTL_DIR

TB = r"""module tb;
    parameter integer C = 10, W = 16, EB = 16, WB = 64, PW = 4, ELEMS = 10, WORDS = 3, NPIX = 2, SEED = 1;
    localparam integer PIX = ELEMS / C;
    logic clk = 0, rst = 1;
    logic [C*W-1:0] s_data; logic s_valid = 0; wire s_ready;
    wire [WB-1:0] m_data; wire m_valid, m_last; logic m_ready = 0;
    fc_axis_out #(.C(C), .W(W), .EB(EB), .WB(WB), .PW(PW), .ELEMS(ELEMS), .WORDS(WORDS)) dut (
        .clk(clk), .rst(rst), .s_data(s_data), .s_valid(s_valid), .s_ready(s_ready), .m_axis_tdata(m_data),
        .m_axis_tvalid(m_valid), .m_axis_tready(m_ready), .m_axis_tlast(m_last));
    logic [C*W-1:0] pix [0:NPIX-1];
    integer sent = 0, got = 0, seed = SEED, cyc = 0, fd;
    always #5 clk = ~clk;
    initial begin
        $readmemh("pix.hex", pix);
        fd = $fopen("out.txt", "w");
        repeat (3) @(posedge clk);
        rst <= 0;
    end
    always @(posedge clk) if (!rst) begin
        cyc <= cyc + 1;
        if (s_valid && s_ready) sent = sent + 1;
        if (m_valid && m_ready) begin $fwrite(fd, "%h %0d\n", m_data, m_last); got = got + 1; end
        s_valid <= (sent < NPIX) && ($urandom(seed) % 4 != 0);
        seed = seed + 1;
        m_ready <= ($urandom(seed) % 3 != 0);
        if (cyc > 20000 || (sent >= NPIX && got > 0 && !m_valid && cyc > NPIX * 20 + 200)) begin
            $fclose(fd); $finish;
        end
    end
    always @(*) s_data = pix[sent < NPIX ? sent : 0];
endmodule
"""


def _expected(vals, C, PIX, PW, EB, frames):
    out = []
    elems, words = C * PIX, -(-(C * PIX) // PW)
    for fr in range(frames):
        el = [x for v in vals[fr * PIX:(fr + 1) * PIX] for x in v]
        assert len(el) == elems
        for w in range(words):
            word = 0
            for i, x in enumerate(el[w * PW:(w + 1) * PW]):
                word |= (x & ((1 << EB) - 1)) << (i * EB)
            out.append((word, int(w == words - 1)))
    return out


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("C,W,EB,PW,PIX,frames", [
    (10, 16, 16, 4, 1, 3),    # a classifier: 3 words, the last one half padding
    (8, 16, 16, 4, 4, 2),     # PW divides C
    (3, 8, 8, 8, 5, 2),       # words span pixels; 15 elements: a partial last word
    (5, 16, 16, 4, 3, 3),     # 15 elements, chunks of 4 + 1 repacked across pixels
    (1, 16, 16, 4, 6, 2),     # one element per pixel
    (7, 6, 8, 8, 3, 2),       # 6-bit elements sign-extended into 8-bit lanes, 21 elements
])
def test_axis_out_packs_frames_into_words_under_backpressure(tmp_path, C, W, EB, PW, PIX, frames):
    seed = C * 1000 + PIX * 10 + frames
    rnd = random.Random(seed)
    npix = PIX * frames
    vals = [[rnd.randrange(-(1 << (W - 1)), 1 << (W - 1)) for _ in range(C)] for _ in range(npix)]
    (tmp_path / "pix.hex").write_text("".join(
        f"{sum((x & ((1 << W) - 1)) << (c * W) for c, x in enumerate(v)):x}\n" for v in vals))
    (tmp_path / "tb.sv").write_text(TB)
    elems = C * PIX
    subprocess.run(["iverilog", "-g2012", "-I", str(RTL_DIR), "-o", "sim", f"-Ptb.C={C}", f"-Ptb.W={W}",
                    f"-Ptb.EB={EB}", f"-Ptb.PW={PW}", f"-Ptb.ELEMS={elems}", f"-Ptb.WORDS={-(-elems // PW)}",
                    f"-Ptb.NPIX={npix}", f"-Ptb.SEED={seed}", "tb.sv", str(RTL_DIR / "fc_axis_out.sv")],
                   cwd=tmp_path, check=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    got = [(int(a, 16), int(b)) for a, b in (l.split() for l in (tmp_path / "out.txt").read_text().splitlines())]
    assert got == _expected(vals, C, PIX, PW, EB, frames)
