"""PE-array RTL benchmark: simulator speed and synthesized size.

Usage (from the repo root)::

    python bench/rtl.py [--vectors 300] [--lanes 8 16 32] [--out DIR] [--skip-sim] [--skip-synth]

1. Simulation speed: one real layer (the digits_cnn dense layer, 16 PEs x 16 lanes, compressed data-free with
   PE-wise pruning) through the same cocotb testbench (rtl_sim/tb/tb_layer.py) under Verilator (model compiled
   with -O2) and Icarus Verilog. The figure is simulated clock cycles per wall-clock second of the test run
   (simulator start, cocotb and the Python testbench included, the build excluded), and the same without the
   start-up (measured on a 4-vector run); both runs are checked bit-exact against the golden model. cocotb
   drives and samples every cycle from Python, which bounds both simulators' speed.
2. Synthesis (Yosys synth_xilinx -family xcup): the ternary PE array (tpe_array) against a conventional MAC
   array of the same shape (mac_array, 8-bit weights) with DSPs and with -nodsp, 8-bit activations, one PE of
   8, 16 and 32 lanes: LUT/FF/CARRY/DSP counts, LUTs per lane, and the MAC/ternary ratios.

Results are printed and written to DIR/rtl_bench.json (default build/bench). Exits 0 even when a part fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_sim(n_vectors: int, work: Path) -> dict:
    import numpy as np

    from compiler.rtl.data import real_layer
    from compiler.rtl.golden import golden
    from compiler.rtl.sim import LayerSim

    R = real_layer(ROOT / "models" / "digits_cnn.onnx", "t_12_Gemm_output_0")
    L = R.rtl
    rng = np.random.default_rng(0)
    x = np.vstack([R.vectors, rng.integers(-(1 << (L.W - 1)), 1 << (L.W - 1), size=(n_vectors - len(R.vectors),
                                                                                     L.cols))])
    want = golden(L, x)
    out = {"layer": L.name, "shape": f"{L.rows}x{L.cols}", "P": L.P, "S": L.S, "K": L.K, "vectors": len(x)}
    for sim in ("verilator", "icarus"):
        t0 = time.perf_counter()
        s = LayerSim(L, work / sim, sim, cxx_opt="-O2")
        build = time.perf_counter() - t0
        small = s.run(x[:4])                 # start-up cost: simulator, cocotb, reading the stimulus
        r = s.run(x)
        ok = bool(r.passed and small.passed and (r.outputs == want).all())
        marginal = (r.cycles - small.cycles) / max(1e-9, r.wall_s - small.wall_s)
        out[sim] = {"build_s": round(build, 2), "run_s": round(r.wall_s, 3), "cycles": r.cycles,
                    "cycles_per_s": round(r.cycles / r.wall_s), "startup_s": round(small.wall_s, 3),
                    "marginal_cycles_per_s": round(marginal), "bit_exact": ok}
    out["verilator_over_icarus"] = round(out["verilator"]["cycles_per_s"] / out["icarus"]["cycles_per_s"], 2)
    out["verilator_over_icarus_marginal"] = round(out["verilator"]["marginal_cycles_per_s"]
                                                  / out["icarus"]["marginal_cycles_per_s"], 2)
    return out


def bench_synth(lanes: list[int]) -> list[dict]:
    from compiler.rtl import synth

    rows = []
    for s in lanes:
        t = synth.pe_array("ternary", 1, s)
        m = synth.pe_array("mac", 1, s)
        mn = synth.pe_array("mac", 1, s, nodsp=True)
        row = {"lanes": s}
        for tag, d in (("ternary", t), ("mac", m), ("mac_nodsp", mn)):
            row[tag] = {k: d[k] for k in ("LUT", "FF", "CARRY", "DSP", "mul")}
            row[tag]["lut_per_lane"] = round(d["lut_per_lane"], 2)
        row["lut_ratio_mac_over_ternary"] = round(m["LUT"] / t["LUT"], 2)
        row["lut_ratio_mac_nodsp_over_ternary"] = round(mn["LUT"] / t["LUT"], 2)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", type=int, default=300)
    ap.add_argument("--lanes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--skip-synth", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {}
    if not args.skip_synth:
        try:
            result["synth"] = bench_synth(args.lanes)
        except Exception as exc:  # a benchmark reports, it does not stop
            traceback.print_exc()
            result["synth_error"] = f"{type(exc).__name__}: {exc}"
        for r in result.get("synth", []):
            print(f"{r['lanes']:3d} lanes (1 PE, 8-bit activations):")
            for tag in ("ternary", "mac", "mac_nodsp"):
                d = r[tag]
                print(f"    {tag:10s} LUT {d['LUT']:6d}  FF {d['FF']:4d}  CARRY {d['CARRY']:4d}  DSP {d['DSP']:3d}"
                      f"  $mul {d['mul']:3d}  LUT/lane {d['lut_per_lane']:7.2f}")
            print(f"    LUT ratio MAC/ternary {r['lut_ratio_mac_over_ternary']:.2f} (+{r['mac']['DSP']} DSP), "
                  f"MAC -nodsp/ternary {r['lut_ratio_mac_nodsp_over_ternary']:.2f}")
    if not args.skip_sim:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                result["sim"] = bench_sim(args.vectors, Path(tmp))
            except Exception as exc:
                traceback.print_exc()
                result["sim_error"] = f"{type(exc).__name__}: {exc}"
        s = result.get("sim")
        if s:
            print(f"simulation: layer {s['layer']} ({s['shape']}, {s['P']} PEs x {s['S']} lanes, K={s['K']}), "
                  f"{s['vectors']} vectors, same cocotb testbench")
            for sim in ("verilator", "icarus"):
                d = s[sim]
                print(f"    {sim:9s} {d['cycles']:7d} cycles in {d['run_s']:7.3f} s = {d['cycles_per_s']:8d} cycles/s"
                      f"; without the {d['startup_s']:.2f} s start-up {d['marginal_cycles_per_s']:8d} cycles/s"
                      f"  (build {d['build_s']:.1f} s, bit-exact {d['bit_exact']})")
            print(f"    Verilator/Icarus: {s['verilator_over_icarus']:.2f}x "
                  f"({s['verilator_over_icarus_marginal']:.2f}x without start-up)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rtl_bench.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out / 'rtl_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
