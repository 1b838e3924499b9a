"""The README's "Builds" table: what `make build` produced, read back from each build's report.json.

    python bench/builds.py --run            # run `make build` (timed end to end), then print the table
    python bench/builds.py                  # print the table of the build folders that are already there
    python bench/builds.py --json FILE      # also write the rows as JSON
    python bench/builds.py --report-time    # also time `fcomp report build/resnet18-<board>` (re-rendering)

The folders are `make build`'s: build/<model>-<board>/ for resnet18, digits_resnet, digits_cnn, digits_mlp,
digits_mobilenet and digits_cnn_qdq (`BOARD=...` as for make). Every figure in a row comes from that build's
report.json: the compression (strategy,
honest ratio, fp32 -> compressed test accuracy on the held-out split, or "data-free"), the planner's estimate, the
C-sim vs ONNX Runtime check, the golden model over the test split, the whole-network RTL simulation and the stage
times of 1 s or more (their sum is the build's time less the process start and imports). With --run the wall time of the whole
`make build` is printed too, with the machine's load average at the start and at the end, since a figure measured on
shared cores is a different figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ZOO = ("resnet18", "digits_resnet", "digits_cnn", "digits_mlp", "digits_mobilenet", "digits_cnn_qdq")


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def row(model: str, r: dict) -> dict:
    """One table row (strings) and the numbers behind it, from a build's report.json."""
    c = r.get("compression") or {}
    est = (r.get("estimate") or {})
    tot = est.get("total") or {}
    res = (r.get("board") or {}).get("resources") or {}
    chk = r.get("check") or {}
    gold = chk.get("golden") or {}
    net = (r.get("rtl") or {}).get("network") or {}
    t = r.get("timings_s") or {}

    if not c:
        comp = "none"
    elif c.get("data_free"):
        comp = f"{c['strategy']} {c['ratio']:.2f}x, data-free"
    else:
        acc = c.get("accuracy") or {}
        s = c.get("search") or {}
        how = (f"searched within {s.get('max_drop_points'):g} pt" if s.get("mode") not in (None, "target")
               else f"target {c.get('target_ratio'):g}x")
        comp = (f"{c['strategy']} {c['ratio']:.2f}x ({how}); test {_pct(acc.get('fp32'))} -> "
                f"{_pct(acc.get('compressed'))} ({acc.get('test_inputs')} held-out)")
    lut = tot.get("lut")
    estimate = (f"LUT {lut:,} ({100 * lut / res['lut']:.0f}%), FF {tot.get('ff', 0):,}, DSP {tot.get('dsp', 0)}, "
                f"BRAM36 {tot.get('bram36', 0)}, URAM {tot.get('uram', 0)}; "
                f"{est.get('frames_per_s', 0):,.1f} frames/s at {est.get('clock_mhz', 0):g} MHz"
                if lut is not None and res.get("lut") else "-")
    csim = (f"{chk.get('inputs')} inputs, top-1 {_pct(chk.get('top1_agreement'))}, "
            f"max abs error {chk.get('max_abs_error', float('nan')):.1e}" if chk else "-")
    golden = "-"
    if gold:
        golden = (f"bit-exact vs C-sim on {gold.get('check_inputs')}: {'yes' if gold.get('bit_exact_vs_csim') else 'NO'}"
                  f"; {gold.get('inputs')} {gold.get('split') or 'generated'} inputs"
                  + (f", accuracy {_pct(gold.get('accuracy'))}" if gold.get("accuracy") is not None else ""))
    if net.get("frames"):
        rtl = (f"{net['frames']} frames, {net.get('mismatches')} mismatches, "
               f"{net.get('cycles_per_frame_measured'):,.0f} / {net.get('cycles_per_frame_predicted'):,} cycles/frame "
               f"measured / predicted")
    else:
        rtl = (net.get("message") or "not simulated").split(";")[0]
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in t.items() if isinstance(v, (int, float)) and v >= 1.0)
    total = sum(v for v in t.values() if isinstance(v, (int, float)))
    return {"model": model, "compression": comp, "estimate": estimate, "csim": csim, "golden": golden, "rtl": rtl,
            "stages": f"{stages}; {total:.0f} s in all", "total_s": round(total, 1),
            "ratio": c.get("ratio"), "accuracy": (c.get("accuracy") or {}), "lut": lut,
            "frames_per_s": est.get("frames_per_s"), "cycles_per_frame": est.get("cycles_per_frame")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="run `make build` first (timed)")
    ap.add_argument("--board", default=os.environ.get("BOARD", "zcu104"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--report-time", action="store_true", help="also time `fcomp report` re-rendering resnet18's "
                    "report.html")
    args = ap.parse_args(argv)

    wall = None
    if args.run:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        rc = subprocess.run(["make", "build", f"BOARD={args.board}"], cwd=REPO).returncode
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()
        print(f"\nmake build: exit {rc}, {wall:.0f} s wall ({wall / 60:.1f} min) on {os.cpu_count()} CPUs, "
              f"load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end", flush=True)
        if rc:
            return rc

    rows = []
    for m in ZOO:
        rep = REPO / "build" / f"{m}-{args.board}" / "report.json"
        if not rep.exists():
            print(f"{rep.relative_to(REPO)} missing: run `make build` (or this script with --run)", file=sys.stderr)
            return 2
        rows.append(row(m, json.loads(rep.read_text())))
    cols = ("model", "compression", "estimate", "csim", "golden", "rtl", "stages")
    head = ("model", "compression (test split)", f"planner estimate on {args.board}", "C-sim vs ONNX Runtime",
            "golden model", "fcomp_accel in Verilator", "stage times")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r[c] for c in cols) + " |")
    print()
    for m, r in zip(ZOO, rows):
        out = REPO / "build" / f"{m}-{args.board}"
        files = [f for f in (out / "handoff").rglob("*") if f.is_file()]
        r["bundle_files"], r["bundle_mb"] = len(files), round(sum(f.stat().st_size for f in files) / 1e6, 1)
        print(f"{m}: handoff bundle {r['bundle_files']} files, {r['bundle_mb']} MB; report.html "
              f"{(out / 'report.html').stat().st_size / 1e3:.0f} KB")
    if args.report_time:
        out = REPO / "build" / f"{ZOO[0]}-{args.board}"
        fcomp = Path(sys.executable).with_name("fcomp")
        t0 = time.perf_counter()
        rc = subprocess.run([str(fcomp), "report", str(out)], cwd=REPO, capture_output=True).returncode
        secs = time.perf_counter() - t0
        rows[0]["report_rerender_s"] = round(secs, 2)
        print(f"`fcomp report {out.relative_to(REPO)}`: exit {rc}, {secs:.1f} s (process start included)")
    if wall is not None:
        print(f"\n`make build` in {wall / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"board": args.board, "make_build_wall_s": wall, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
