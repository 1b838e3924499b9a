"""Whole-network RTL figures: `fcomp build` of a model with its fcomp_accel simulated end to end in Verilator.

    python bench/rtl_network.py                          # resnet18 on zcu104, 1 frame (224x224), data-free
    python bench/rtl_network.py --model models/digits_resnet.onnx --data digits --frames 8 --check-inputs 8

Prints the Verilator build and simulation wall times, the simulated cycles per frame against the cycle model,
the latency, the mismatches against the golden model (which the build checks bit-exact against hls4ml's C-sim
on the same input) and the generated design's size; writes the figures as JSON (--json FILE). With one frame
there is no steady-state figure: the cycles of that frame are its latency, and the cycle model's initiation
interval is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/resnet18.onnx")
    ap.add_argument("--board", default="zcu104")
    ap.add_argument("--data", default=None)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--check-inputs", type=int, default=1)
    ap.add_argument("--target", type=float, default=21.0, help="compression target (default 21; the RTL does not "
                    "depend on the accuracy, so no budget search)")
    ap.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs with --data (default 3)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--cache", action="store_true", help="reuse compiled simulators (default: a fresh cache, so "
                    "the Verilator build time is measured)")
    args = ap.parse_args()
    if not args.cache:
        import tempfile

        os.environ["FCOMP_CACHE_DIR"] = tempfile.mkdtemp(prefix="fcomp-bench-cache-")

    from compiler.compress.engine import CompressionConfig
    from compiler.pipeline import BuildOptions, build

    model = Path(args.model)
    if not model.is_file():
        print(f"{model} is missing: run `python -m models.export {model.stem}` first", file=sys.stderr)
        return 2
    out = Path(args.out or f"build/bench-rtl-network-{model.stem}")
    t0 = time.perf_counter()
    report = build(BuildOptions(model=model, board=args.board, output=out, force=True, data=args.data,
                                n_check=args.check_inputs, n_calibration=8, rtl_frames=args.frames,
                                compression=CompressionConfig(target=args.target, max_drop=100.0 if args.data else None,
                                                              epochs=args.epochs if args.data else 0)))
    wall = time.perf_counter() - t0
    net = json.loads((out / "verify.json").read_text())["network"]
    accel = json.loads((out / "rtl" / "fcomp_accel" / "accel.json").read_text())
    sv = (out / "rtl" / "fcomp_accel" / "fcomp_accel.sv").stat().st_size
    golden = report["check"]["golden"]
    fig = {"model": model.name, "board": args.board, "frames": net.get("frames"),
           "passed": net.get("passed"), "mismatches": net.get("mismatches"),
           "golden_bit_exact_vs_csim": golden["bit_exact_vs_csim"], "csim_inputs": golden["check_inputs"],
           "cycles_per_frame_predicted": net.get("cycles_per_frame_predicted"),
           "cycles_per_frame_measured": net.get("cycles_per_frame_measured"),
           "latency_cycles_measured": net.get("latency_cycles_measured"),
           "verilator_build_s": net.get("build_s"), "simulation_wall_s": net.get("wall_s"),
           "build_wall_s": round(wall, 1), "rtl_network_stage_s": report["timings_s"].get("rtl_network"),
           "nodes": len(accel["nodes"]), "top_sv_bytes": sv, "rom_files": len(list((out / "rtl" / "fcomp_accel").glob("*.mem"))),
           "bottleneck": accel["cycle_model"]["bottleneck"], "simulator": net.get("simulator")}
    print(f"{model.name} on {args.board}: fcomp_accel, {fig['nodes']} nodes, {fig['rom_files']} ROM files")
    print(f"  cycle model: {fig['cycles_per_frame_predicted']:,} cycles/frame (bottleneck {fig['bottleneck']['node']}, "
          f"{fig['bottleneck']['module']})")
    print(f"  simulated {fig['frames']} frame(s): {'bit-exact' if fig['passed'] else 'FAILED'} vs the golden model "
          f"({fig['mismatches']} mismatches); golden vs C-sim bit-exact: {fig['golden_bit_exact_vs_csim']} on "
          f"{fig['csim_inputs']} input(s)")
    print(f"  latency {fig['latency_cycles_measured']} cycles; cycles/frame measured "
          + (f"{fig['cycles_per_frame_measured']}" if fig["cycles_per_frame_measured"] is not None
             else "- (one frame: no steady state)"))
    print(f"  Verilator build {fig['verilator_build_s']} s, simulation {fig['simulation_wall_s']} s, "
          f"rtl_network stage {fig['rtl_network_stage_s']:.1f} s, whole build {fig['build_wall_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=1) + "\n")
    return 0 if fig["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
