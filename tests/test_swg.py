"""rtl_sim/fc_swg.sv alone in Icarus: frames of C-lane pixels -> every output position's window as KH*KW*NC beats
of CW lanes in kernel-major order (kh, kw, chunk), zeros in the padding, m_last on a position's last beat, under
random valid and ready, frames back to back. The expected beats are the golden model's own windows
(`rtl.data.im2col` in kernel-major order, the conv's matrix columns), cut into CW-lane beats. The whole-network
tests (test_accel, test_build_csim) cover it inside fcomp_accel."""

from __future__ import annotations

import random
import shutil
import subprocess

import numpy as np
import pytest

from compiler.rtl.accel import _pow2_at_least
from compiler.rtl.data import im2col
from compiler.rtl.layer import RTL_DIR

TB = r"""module tb;
    parameter integer C = 4, W = 8, H = 5, WD = 6, KH = 3, KW = 3, SH = 1, SW = 1, PT = 1, PL = 1, HO = 5, WO = 6;
    parameter integer NR = 4, CW = 2, F = 1, NPIX = 30, SEED = 1, VR = 4, RR = 3;
    logic clk = 0, rst = 1;
    logic [C*W-1:0] s_data; logic s_valid = 0; wire s_ready;
    wire [CW*W-1:0] m_data; wire m_valid, m_last; logic m_ready = 0;
    fc_swg #(.C(C), .W(W), .H(H), .WD(WD), .KH(KH), .KW(KW), .SH(SH), .SW(SW), .PT(PT), .PL(PL), .HO(HO), .WO(WO),
             .NR(NR), .CW(CW), .F(F)) dut (
        .clk(clk), .rst(rst), .s_data(s_data), .s_valid(s_valid), .s_ready(s_ready), .m_data(m_data),
        .m_valid(m_valid), .m_ready(m_ready), .m_last(m_last));
    logic [C*W-1:0] pix [0:NPIX-1];
    integer sent = 0, got = 0, seed = SEED, cyc = 0, idle = 0, fd;
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
        if (m_valid && m_ready) begin $fwrite(fd, "%h %0d %0d\n", m_data, m_last, cyc); got = got + 1; idle = 0; end
        else idle = idle + 1;
        s_valid <= (sent < NPIX) && ($urandom(seed) % VR != 0);
        seed = seed + 1;
        m_ready <= ($urandom(seed) % RR != 0);
        if (cyc > 200000 || (sent >= NPIX && idle > 200)) begin
            $fclose(fd); $finish;
        end
    end
    always @(*) s_data = pix[sent < NPIX ? sent : 0];
endmodule
"""


def _run(tmp_path, C, W, H, WD, KH, KW, SH, SW, pads, CW, frames, seed, vr=4, rr=3, F=1):
    rnd = np.random.default_rng(seed)
    top, left, bottom, right = pads
    HO, WO = (H + top + bottom - KH) // SH + 1, (WD + left + right - KW) // SW + 1
    acts = rnd.integers(-(1 << (W - 1)), 1 << (W - 1), size=(frames, C, H, WD))
    mask = (1 << W) - 1
    lines = []
    for a in acts:
        for px in a.transpose(1, 2, 0).reshape(-1, C):
            lines.append(f"{sum((int(x) & mask) << (c * W) for c, x in enumerate(px)):x}\n")
    (tmp_path / "pix.hex").write_text("".join(lines))
    (tmp_path / "tb.sv").write_text(TB)
    params = dict(C=C, W=W, H=H, WD=WD, KH=KH, KW=KW, SH=SH, SW=SW, PT=top, PL=left, HO=HO, WO=WO,
                  NR=_pow2_at_least(KH + SH), CW=CW, F=F, NPIX=len(lines), SEED=seed, VR=vr, RR=rr)
    subprocess.run(["iverilog", "-g2012", "-I", str(RTL_DIR), "-o", "sim",
                    *[f"-Ptb.{k}={v}" for k, v in params.items()], "tb.sv", str(RTL_DIR / "fc_swg.sv")],
                   cwd=tmp_path, check=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    rows = [l.split() for l in (tmp_path / "out.txt").read_text().splitlines()]
    got = [(int(a, 16), int(b)) for a, b, _ in rows]
    _run.cycles = [int(c) for _, _, c in rows]
    want = []
    for a in acts:
        for vec in im2col(a, (KH, KW), (SH, SW), pads, kernel_major_order=True):
            beats = vec.reshape(-1, CW)
            for i, b in enumerate(beats):
                want.append((sum((int(x) & mask) << (l * W) for l, x in enumerate(b)), int(i == len(beats) - 1)))
    return got, want


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("C,H,WD,KH,KW,SH,SW,pads,CW,frames", [
    (4, 5, 6, 3, 3, 1, 1, (1, 1, 1, 1), 2, 2),      # 3x3 same padding, two chunks per pixel
    (4, 5, 6, 3, 3, 1, 1, (1, 1, 1, 1), 4, 2),      # one chunk per pixel
    (6, 7, 7, 3, 3, 2, 2, (1, 1, 1, 1), 3, 2),      # stride 2 (a ResNet downsample)
    (2, 9, 9, 7, 7, 2, 2, (3, 3, 3, 3), 1, 1),      # 7x7 stride 2 pad 3 (ResNet's stem), one lane per beat
    (4, 6, 5, 2, 3, 1, 2, (0, 1, 1, 0), 2, 2),      # non-square kernel, asymmetric padding
    (8, 4, 4, 3, 3, 1, 1, (0, 0, 0, 0), 8, 3),      # valid padding, whole pixel per beat, three frames
])
def test_swg_streams_kernel_major_chunks_under_backpressure(tmp_path, C, H, WD, KH, KW, SH, SW, pads, CW, frames):
    got, want = _run(tmp_path, C, 8, H, WD, KH, KW, SH, SW, pads, CW, frames, seed=C * 100 + KH * 10 + CW)
    assert len(got) == len(want)
    assert got == want


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
def test_swg_runs_at_one_beat_per_cycle_when_never_stalled(tmp_path):
    """With the source always valid and the sink always ready, a position's NCH beats leave one per cycle, so a
    frame costs about HO*WO*NCH cycles (the rate the PE array's NBI input beats need)."""
    got, want = _run(tmp_path, 4, 8, 6, 6, 3, 3, 1, 1, (1, 1, 1, 1), 2, 2, seed=7, vr=1 << 30, rr=1 << 30)
    assert got == want
    cyc = _run.cycles
    assert cyc[-1] - cyc[0] + 1 == len(got)      # 2 frames x 36 positions x 18 beats, not one cycle lost


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("C,H,WD,KH,KW,SH,SW,pads,CW,F,frames", [
    (8, 5, 6, 3, 3, 1, 1, (1, 1, 1, 1), 2, 2, 2),     # 4 chunks in 2 memories
    (8, 5, 6, 3, 3, 1, 1, (1, 1, 1, 1), 2, 4, 2),     # 4 chunks in one memory
    (16, 7, 7, 3, 3, 2, 2, (1, 1, 1, 1), 4, 2, 2),    # stride 2
    (8, 6, 5, 1, 1, 2, 2, (0, 0, 0, 0), 1, 8, 3),     # 1x1 stride 2 (a downsample), 8 chunks in one memory
])
def test_swg_packed_chunks_per_memory(tmp_path, C, H, WD, KH, KW, SH, SW, pads, CW, F, frames):
    """F chunks share a line-buffer memory (written over F cycles a pixel): the same beats, under random
    valid/ready, frames back to back."""
    got, want = _run(tmp_path, C, 8, H, WD, KH, KW, SH, SW, pads, CW, frames, seed=C + F, F=F)
    assert len(got) == len(want)
    assert got == want


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
def test_packed_swg_keeps_one_beat_per_cycle_when_the_input_keeps_up(tmp_path):
    """With F = 2 the input takes a pixel every 2 cycles; a 3x3 window of 4 chunks emits 36 beats a position,
    so the output still leaves one beat per cycle."""
    got, want = _run(tmp_path, 8, 8, 6, 6, 3, 3, 1, 1, (1, 1, 1, 1), 2, 2, seed=9, vr=1 << 30, rr=1 << 30, F=2)
    assert got == want
    cyc = _run.cycles
    assert cyc[-1] - cyc[0] + 1 == len(got)
