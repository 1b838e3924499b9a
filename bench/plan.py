"""Board planning benchmark: resnet18 on every board in boards/, before and after compression.

Usage (from the repo root)::

    python bench/plan.py [--model models/resnet18.onnx] [--target 21] [--act-bits 16] [--margin 0.85] [--out DIR]
    python bench/plan.py --calibrate        # re-measure the PE LUT/FF calibration with Yosys (a few minutes)

Per board: weight memory in Mbit (2^20 bits, as the data sheets count) uncompressed at 16 bits and after
compression to the target ratio, against the board's on-chip BRAM+URAM; then the planner's result for the
compressed model (`compiler.planner.plan_and_estimate`): LUT/FF/DSP/BRAM36/URAM used vs available, estimated
frames/s and latency at the board clock, or the not-fit reason; and whether the uncompressed model (16-bit
fixed-point weights, DSP MACs) fits at all. "After compression" is an estimate made without running
compression: the layers the compression engine leaves unpruned (the first layer by default, layers where pruning
cannot save bits) are planned whole and the others at the keep share the engine would solve for the target ratio
(`planned_keep_shares`), every PE keeping exactly that share of its groups (the engine's balanced PE-wise masks
do; its per-layer sensitivity allocation moves shares between layers, which no plan can know before it runs). Results go to DIR/plan_bench.json (default build/bench).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MBIT = 2 ** 20


def calibrate() -> dict:
    """Yosys counts at the calibration points and at held-out sizes, against the model."""
    from compiler import estimate as E
    from compiler.rtl import synth

    rows = []
    for s, w, *_ in E.PE_SYNTH:
        d = synth.pe_array("ternary", 1, s, W=w, acc_w=w + E.PE_SYNTH_ACC_EXTRA)
        rows.append({"kind": "ternary", "P": 1, "S": s, "W": w, "LUT": d["LUT"], "FF": d["FF"], "fit": True})
    for p, s, w in ((2, 12, 12), (1, 24, 12), (4, 16, 10)):
        d = synth.pe_array("ternary", p, s, W=w, acc_w=w + E.PE_SYNTH_ACC_EXTRA)
        rows.append({"kind": "ternary", "P": p, "S": s, "W": w, "LUT": d["LUT"], "FF": d["FF"], "fit": False})
    for s, w, _ in E.MAC_SYNTH:
        d = synth.pe_array("mac", 1, s, W=w, acc_w=w + 20)
        rows.append({"kind": "mac", "P": 1, "S": s, "W": w, "LUT": d["LUT"], "FF": d["FF"], "DSP": d["DSP"],
                     "fit": True})
    for r in rows:
        if r["kind"] == "ternary":
            r["model_LUT"] = round(E.ternary_pe_lut(r["P"], r["S"], r["W"]), 1)
            r["model_FF"] = E.ternary_pe_ff(r["P"], r["S"], r["W"])
        else:
            r["model_LUT"] = round(E.mac_pe_lut(r["P"], r["S"], r["W"]), 1)
        r["lut_error"] = round(r["model_LUT"] / r["LUT"] - 1, 4)
    return {"yosys": subprocess.run([synth.yosys_exe(), "-V"], capture_output=True, text=True).stdout.strip(),
            "rows": rows}


def bench(model: Path, target: float, act_bits: int, margin: float, max_simd: int = 16) -> dict:
    from compiler.boards import list_boards
    from compiler.estimate import design_model, weight_memory_bits
    from compiler.frontend import import_onnx
    from compiler.planner import DoesNotFitError, on_chip_bits, plan_and_estimate, planned_keep_shares

    graph = import_onnx(model).graph
    keep = planned_keep_shares(graph, target)
    before = weight_memory_bits(graph, ternary=False, weight_bits=16)
    after = weight_memory_bits(graph, keep_share=keep)
    out = {"model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model), "target_ratio": target,
           "keep_share": min(keep.values()), "whole_layers": sorted(n for n, v in keep.items() if v >= 1.0),
           "act_bits": act_bits, "margin": margin, "max_simd": max_simd, "weight_mbit_uncompressed_16bit": before / MBIT,
           "weight_mbit_compressed_estimate": after / MBIT, "boards": []}
    for board in sorted(list_boards(), key=lambda b: (on_chip_bits(b), b.resources["lut"])):
        row = {"board": board.name, "clock_mhz": board.clock_mhz, "on_chip_mbit": on_chip_bits(board) / MBIT,
               "available": dict(board.resources)}
        t0 = time.perf_counter()
        try:
            plan, est = plan_and_estimate(graph, board, keep_share=keep, act_bits=act_bits, margin=margin,
                                          max_simd=max_simd, model=model.name)
            row.update(fits=True, used=est.total(), frames_per_s=est.frames_per_s, latency_ms=est.latency_ms,
                       bottleneck=est.bottleneck.layer, planned_weight_mbit=est.weight_bits / MBIT,
                       planned_buffer_mbit=sum(l.buffer_bits for l in est.layers) / MBIT,
                       plan={n: {"pe": m.pe, "simd": m.simd, "memory": m.memory, "reuse_factor": m.reuse_factor}
                             for n, m in plan.items()})
            # the same plan costed as the fcomp_accel the generator would make, by the per-module model fitted
            # on Yosys synthesis (compiler/synth/cost_model.json): what synthesis is expected to confirm
            dm = design_model(graph, plan, act_bits=act_bits, keep_share=keep)
            row["design_model"] = {"total": dm["total"], "per_module": dm["per_module"]}
        except DoesNotFitError as exc:
            row.update(fits=False, reason=str(exc))
        row["plan_s"] = round(time.perf_counter() - t0, 2)
        try:
            plan_and_estimate(graph, board, keep_share=1.0, act_bits=act_bits, ternary=False, weight_bits=16,
                              margin=margin, max_simd=max_simd, model=model.name)
            row["uncompressed_fits"] = True
        except DoesNotFitError as exc:
            row["uncompressed_fits"] = False
            row["uncompressed_reason"] = str(exc)
        out["boards"].append(row)
    return out


def print_table(r: dict) -> None:
    print(f"{r['model']}: weights {r['weight_mbit_uncompressed_16bit']:.1f} Mbit uncompressed (16-bit), "
          f"{r['weight_mbit_compressed_estimate']:.1f} Mbit at {r['target_ratio']:g}x (estimate: keep share "
          f"{r['keep_share']:.3f} of PE groups, {len(r['whole_layers'])} layer(s) unpruned, no compression run); act_bits {r['act_bits']}, margin {r['margin']}, "
          f"max_simd {r['max_simd']}")
    print(f"{'board':11s} {'on-chip':>8s} {'16b fits':>8s} {'fits':>5s} {'LUT':>17s} {'DSP':>9s} {'BRAM36':>9s} "
          f"{'URAM':>8s} {'weights':>8s} {'frames/s':>9s} {'lat ms':>8s}  {'model LUT':>10s} {'model BRAM36':>12s} {'model URAM':>10s}")
    for b in r["boards"]:
        head = f"{b['board']:11s} {b['on_chip_mbit']:7.1f}M {str(b['uncompressed_fits']):>8s} {str(b['fits']):>5s}"
        if b["fits"]:
            u, a = b["used"], b["available"]
            print(f"{head} {u['lut']:8,d}/{a['lut']:<8,d} {u['dsp']:4d}/{a['dsp']:<4d}"
                  f" {u['bram36']:4d}/{a['bram36']:<4d}"
                  f" {u['uram']:3d}/{a['uram']:<4d} {b['planned_weight_mbit']:7.1f}M {b['frames_per_s']:9.1f}"
                  f" {b['latency_ms']:8.1f}  {b['design_model']['total']['LUT_TOTAL']:10,.0f}"
                  f" {b['design_model']['total']['BRAM36']:12,.1f} {b['design_model']['total'].get('URAM', 0):10,.0f}")
        else:
            print(f"{head}  {b['reason']}")
    fit = [b for b in r["boards"] if b["fits"]]
    if fit:
        b = fit[-1]
        mods = b["design_model"]["per_module"]
        print(f"model LUT/BRAM36/URAM = the planned design as the generator would make it, costed by the per-module model "
              f"fitted on Yosys synthesis (an estimate); on {b['board']} by module: " + "; ".join(
                  f"{k} x{v['instances']} {v['LUT_TOTAL']:,.0f} LUT" for k, v in list(mods.items())[:6]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "resnet18.onnx")
    ap.add_argument("--target", type=float, default=21.0)
    ap.add_argument("--act-bits", type=int, default=16)
    ap.add_argument("--margin", type=float, default=0.85)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    ap.add_argument("--max-simd", type=int, default=16, help="widest PE (lanes), as fcomp build --max-simd")
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.calibrate:
        r = calibrate()
        for row in r["rows"]:
            print(f"{row['kind']:7s} P={row['P']} S={row['S']:2d} W={row['W']:2d}  Yosys LUT {row['LUT']:5d} FF "
                  f"{row['FF']:4d}  model LUT {row['model_LUT']:7.1f} ({100 * row['lut_error']:+.1f}%)"
                  f"{'' if row['fit'] else '  held out'}")
        (args.out / "plan_calibration.json").write_text(json.dumps(r, indent=1))
        print(f"wrote {args.out / 'plan_calibration.json'}")
        return 0
    if not args.model.exists():
        from models.export import export_one  # as `python -m models.export resnet18`
        from models.zoo import MODELS

        export_one(MODELS[args.model.stem], args.model.parent)
    r = bench(args.model, args.target, args.act_bits, args.margin, args.max_simd)
    print_table(r)
    (args.out / "plan_bench.json").write_text(json.dumps(r, indent=1))
    print(f"wrote {args.out / 'plan_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
