"""Yosys synthesis of generated layers to measure the scale stage (tpe_post): LUT, FF, CARRY and logic depth of
the whole layer top and of one scale unit alone, on a few layer shapes.

Usage (from the repo root)::

    python bench/scale_stage.py [--shapes mlp1,p8] [--root TREE]

`--root` runs the same layers through another source tree's generator and RTL (e.g. an export of an earlier
commit, `git archive <rev> | tar -x -C /tmp/old`), so before/after figures come from one script. Yosys 0.23
`synth_xilinx -family xcup`, hierarchy kept during mapping and flattened for counting (compiler/rtl/synth.py);
depth is `ltp -noff` over the mapped LUT/CARRY/MUXF cells (as compiler/synth).

Shapes (random ternary codes, half the S-wide groups pruned, seed 0; scales with 7 signed power-of-two terms):
  mlp1  32 x 64 on P=4 x S=16 (digits_mlp's first dense layer shape)
  p8    16 x 128 on P=8 x S=8 (tests/test_rtl_synth.py's scale-stage test)
  p12   12 x 64 on P=12 x S=4, and p16 16 x 64 on P=16 x S=4: Yosys grew past 6 GB on both while the input
        banks were one memory with P read ports (the earlier synthesis of digits_resnet found its P=16 layers
        growing past 8 GB in MEMORY_LIBMAP); with one bank copy per PE (2026-12-02): p16 2,531 LUT / 1,755 FF in
        81 s, p12 1,968 / 1,413 in 53 s, mlp1 3,548 / 1,724 (3,429 / 1,726 before), p8 2,423 / 1,564 (2,357 /
        1,568 before), under `ulimit -v 8000000`
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

UNIT38 = dict(ACC_W=20, T=7, KSW=4, BB=24, PW=38, RSH=14, OUT_W=8, SAT=1)   # README's T=7 / 38-bit unit
SHAPES = {"mlp1": (32, 64, 4, 16), "p8": (16, 128, 8, 8), "p16": (16, 64, 16, 4), "p12": (12, 64, 12, 4)}


def layer(shape: str):
    from compiler.rtl import RtlFormat, build_from_arrays

    rows, cols, P, S = SHAPES[shape]
    rng = np.random.default_rng(0)
    nb = -(-cols // S)
    gm = rng.random((rows, nb)) < 0.5
    gm[:, 0] = True
    codes = rng.integers(-1, 2, size=(rows, nb * S)) * np.repeat(gm, S, axis=1)
    codes = codes[:, :cols]
    # 7 CSD digits: 0b1010101010101 / 2^14 has 7; the rest random 14-bit fractions
    scale = rng.random(rows) * 0.5 + 0.05
    scale[0] = 0b1010101010101 / 2 ** 14
    bias = rng.normal(size=rows)
    fmt = RtlFormat(in_bits=8, in_frac=4, weight_frac=14, bias_frac=6, out_bits=8, out_frac=4)
    return build_from_arrays(shape, codes.astype(np.int8), scale, bias, P, S, fmt, group_mask=gm)


def yosys(top: str, files: list[Path], chparams: dict | None = None) -> dict:
    from compiler.rtl.layer import RTL_DIR
    from compiler.rtl.synth import parse_stat, run_yosys, summarize

    read = "".join(f"read_verilog -sv -defer -I{RTL_DIR} {f}\n" for f in files)
    ch = "".join(f"chparam -set {k} {v} {top}\n" for k, v in (chparams or {}).items())
    script = (read + ch + f"synth_xilinx -family xcup -top {top}\nflatten\ntee -q -o stat.txt stat\n"
              "tee -q -o ltp.txt ltp -noff w:* t:LUT* t:CARRY* t:MUXF*\n")
    t0 = time.time()
    out = run_yosys(script, ("stat.txt", "ltp.txt"), timeout=3600)
    s = summarize(parse_stat(out["stat.txt"]))
    depth = [int(m) for m in re.findall(r"\(length=(\d+)\)", out["ltp.txt"])]
    s["depth"] = max(depth) if depth else None
    s["s"] = round(time.time() - t0)
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="mlp1,p8")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from compiler.rtl import write_layer
    from compiler.rtl.layer import RTL_DIR, rtl_sources, top_name

    print(f"tree {args.root.resolve()}  (rtl {RTL_DIR})")
    u = yosys("tpe_post", [RTL_DIR / "tpe_post.sv"], UNIT38)
    print(f"tpe_post alone at {UNIT38}: LUT {u['LUT']:,}  FF {u['FF']:,}  CARRY {u['CARRY']:,}  depth {u['depth']}"
          f"  ({u['s']} s)", flush=True)
    for shape in args.shapes.split(","):
        L = layer(shape)
        p = L.params
        post = {k: p[k] for k in ("ACC_W", "T", "KSW", "BB", "PW", "RSH", "OUT_W", "SAT")}
        with tempfile.TemporaryDirectory() as tmp:
            top = write_layer(L, Path(tmp))
            s = yosys(top_name(L.name), [*rtl_sources(), top])
        u = yosys("tpe_post", [RTL_DIR / "tpe_post.sv"], post)
        print(f"{shape}: {L.rows}x{L.cols} P={L.P} S={L.S} K={L.K} NBI={L.NBI} RPP={L.RPP} T={p['T']} "
              f"PW={p['PW']} ACC_W={p['ACC_W']} U={p.get('U', L.P)}")
        print(f"  layer     LUT {s['LUT']:6,}  FF {s['FF']:6,}  CARRY {s['CARRY']:5,}  LUTRAM {s['LUTRAM']:4}"
              f"  depth {s['depth']}  ({s['s']} s)")
        print(f"  tpe_post  LUT {u['LUT']:6,}  FF {u['FF']:6,}  CARRY {u['CARRY']:5,}  depth {u['depth']}"
              f"  ({u['s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
