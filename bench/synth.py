"""Estimate vs Yosys synthesis of the generated accelerator, per node kind, for build outputs.

Usage (from the repo root)::

    python bench/synth.py OUT [OUT ...] [--jobs N] [--timeout S] [--json FILE]
    python bench/synth.py --calibrate OUT [OUT ...] [--write]

--calibrate fits the per-module cost model (`compiler.synth.costmodel`) on the synthesized modules of every
OUT, prints each design held out (fitted on the others) per module kind, and with --write stores the
coefficients in compiler/synth/cost_model.json (the model `fcomp synth` and the estimate read).

OUT is an `fcomp build` output folder (with rtl/fcomp_accel/ and report.json). Its synth.json is used when
present, else the accelerator is synthesized first (`compiler.synth`, the same as `fcomp synth OUT`; cached).
Prints, per model: per node kind (op; a node's FIFO/fork instances count with the node that produces into
them, fc_axis_in with the input node, fc_axis_out with the output node) the estimate's LUT/FF/BRAM36/DSP next
to the synthesized LUT (logic + LUT-RAM/SRL)/FF/BRAM36/DSP and the ratio, the total, the three biggest LUT
consumers (module instances), the deepest module and the synthesis time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.boards import get_board  # noqa: E402
from compiler.synth import SYNTH_JSON, synthesize, write_synth  # noqa: E402
from compiler.synth.costmodel import MODEL_JSON, calibrate  # noqa: E402


def load(out: Path, jobs, timeout) -> tuple[dict, dict]:
    report = json.loads((out / "report.json").read_text())
    path = out / SYNTH_JSON
    if path.is_file():
        return report, json.loads(path.read_text())
    doc = synthesize(out, get_board(report["board"]["name"]), jobs, timeout, estimate=report.get("estimate"))
    write_synth(out, doc)
    return report, doc


def by_kind(report: dict, doc: dict) -> dict[str, dict]:
    kinds: dict[str, dict] = {}
    for l in report["estimate"]["layers"]:
        k = kinds.setdefault(l["op"], {"nodes": 0, "est": dict.fromkeys(("lut", "ff", "bram36", "dsp"), 0),
                                       "syn": dict.fromkeys(("LUT_TOTAL", "FF", "BRAM36", "DSP"), 0)})
        k["nodes"] += 1
        for r in k["est"]:
            k["est"][r] += l.get(r, 0)
    for n in doc["nodes"]:
        k = kinds.setdefault(n["op"], {"nodes": 0, "est": dict.fromkeys(("lut", "ff", "bram36", "dsp"), 0),
                                       "syn": dict.fromkeys(("LUT_TOTAL", "FF", "BRAM36", "DSP"), 0)})
        for r in k["syn"]:
            k["syn"][r] += n["synth"][r]
        k["incomplete"] = k.get("incomplete", 0) + (not n.get("complete", True))
    return kinds


def _ratio(s, e) -> str:
    return f"x{s / e:.2f}" if e else "-"


def table(name: str, report: dict, doc: dict) -> str:
    rows = [f"## {name} ({doc['board']['name']}, {doc['tool']['yosys'].split(' (')[0]} synth_xilinx -family "
            f"{doc['tool']['family']}; estimate = the planner's model in report.json)",
            f"{'kind':14s} {'nodes':>5s} {'LUT est':>9s} {'LUT syn':>9s} {'ratio':>7s} {'FF est':>8s} "
            f"{'FF syn':>8s} {'ratio':>7s} {'BRAM est':>8s} {'BRAM syn':>8s} {'DSP est':>7s} {'DSP syn':>7s}"]
    kinds = by_kind(report, doc)
    for op, k in sorted(kinds.items(), key=lambda kv: -kv[1]["syn"]["LUT_TOTAL"]):
        e, s = k["est"], k["syn"]
        label = op + (f" ({k['incomplete']} inc.)" if k.get("incomplete") else "")
        rows.append(f"{label:14s} {k['nodes']:5d} {e['lut']:9,.0f} {s['LUT_TOTAL']:9,} {_ratio(s['LUT_TOTAL'], e['lut']):>7s}"
                    f" {e['ff']:8,.0f} {s['FF']:8,} {_ratio(s['FF'], e['ff']):>7s} {e['bram36']:8g} "
                    f"{s['BRAM36']:8g} {e['dsp']:7d} {s['DSP']:7d}")
    c = doc["compare"]
    rows.append(f"{'total':14s} {len(doc['nodes']):5d} {c['lut']['estimate']:9,} {c['lut']['synth']:9,} "
                f"{_ratio(c['lut']['synth'], c['lut']['estimate']):>7s} {c['ff']['estimate']:8,} "
                f"{c['ff']['synth']:8,} {_ratio(c['ff']['synth'], c['ff']['estimate']):>7s} "
                f"{c['bram36']['estimate']:8g} {c['bram36']['synth']:8g} {c['dsp']['estimate']:7d} "
                f"{c['dsp']['synth']:7d}")
    insts = []
    for m in doc["modules"]:
        if m["status"] == "ok":
            insts += [(m["resources"]["LUT_TOTAL"], m["module"], i, m["resources"]) for i in m["instances"]]
    insts.sort(key=lambda t: -t[0])
    total = max(1, c["lut"]["synth"])
    rows.append("biggest LUT consumers: " + "; ".join(
        f"{mod} {inst} {lut:,} LUT ({lut / total:.0%}: LUT {r['LUT']:,} + mem {r['LUT_MEM']:,}, MUXF {r['MUXF']:,}, "
        f"CARRY {r['CARRY']:,}, FF {r['FF']:,})" for lut, mod, inst, r in insts[:3]))
    d, sl = doc["deepest_module"], doc["slowest_module"]
    if d:
        rows.append(f"deepest: {d['module']} {d['instance']} depth {d['depth']} (ltp cells)")
    if sl:
        rows.append(f"slowest synthesis: {sl['module']} {sl['instance']} {sl['seconds']:.0f} s; "
                    f"{doc['synth_s']:.0f} s of synthesis in {doc['wall_s']:.0f} s wall, {doc['jobs']} jobs, "
                    f"{doc['cached_modules']}/{doc['distinct_modules']} modules cached")
    for f in doc["failed"]:
        rows.append(f"NOT synthesized: {f['module']} {f['instances']}: {f['status']} {f['error'][-160:]!r}")
    if doc["failed"]:
        rows.append("(inc. = nodes with a module that was not synthesized: their sums, the kind's and the total are "
                    "lower bounds)")
    return "\n".join(rows)


def _pct(model: float, synth: float) -> str:
    return f"{model / synth - 1:+.1%}" if synth else ("-" if not model else "new")


def calibration_table(doc: dict) -> str:
    rows = [f"## cost model calibration: {len(doc['calibration']['designs'])} designs, "
            f"{doc['calibration']['distinct_modules']} synthesized modules ({doc['calibration']['yosys']}, "
            f"-family {doc['calibration']['family']}); each design held out: fitted on the others"]
    for name, h in doc["calibration"]["held_out"].items():
        t = h["total"]
        rows.append(f"### {name} held out: LUT {t['LUT_TOTAL']['synth']:,.0f} synthesized, "
                    f"{t['LUT_TOTAL']['model']:,.0f} model ({_pct(t['LUT_TOTAL']['model'], t['LUT_TOTAL']['synth'])})"
                    f"; FF {t['FF']['synth']:,.0f} / {t['FF']['model']:,.0f} ({_pct(t['FF']['model'], t['FF']['synth'])})"
                    f"; BRAM36 {t['BRAM36']['synth']:g} / {t['BRAM36']['model']:.1f}")
        rows.append(f"{'module':14s} {'inst':>4s} {'LUT syn':>9s} {'LUT model':>9s} {'err':>7s} {'FF syn':>8s} "
                    f"{'FF model':>8s} {'err':>7s} {'BRAM syn':>8s} {'model':>6s}")
        for k, v in sorted(h["kinds"].items(), key=lambda kv: -kv[1]["LUT_TOTAL"]["synth"]):
            l, f, b = v["LUT_TOTAL"], v["FF"], v["BRAM36"]
            rows.append(f"{k:14s} {v['instances']:4d} {l['synth']:9,.0f} {l['model']:9,.0f} "
                        f"{_pct(l['model'], l['synth']) if v['modelled'] else 'no fit':>7s} {f['synth']:8,.0f} "
                        f"{f['model']:8,.0f} {_pct(f['model'], f['synth']) if v['modelled'] else '':>7s} "
                        f"{b['synth']:8g} {b['model']:6.1f}")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outputs", nargs="+", type=Path)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json", type=Path, help="write the per-kind figures here")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit the per-module cost model on the OUTs' synth.json and print each design held out")
    ap.add_argument("--write", action="store_true", help="with --calibrate: store the fit in " + str(MODEL_JSON))
    args = ap.parse_args(argv)
    if args.calibrate:
        designs = {out.name: load(out, args.jobs, args.timeout)[1] for out in args.outputs}
        cmd = "python bench/synth.py --calibrate " + " ".join(o.name for o in args.outputs) + " --write"
        doc = calibrate(designs, command=cmd)
        print(calibration_table(doc))
        if args.write:
            MODEL_JSON.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"written: {MODEL_JSON}")
        return 0
    result = {}
    for out in args.outputs:
        report, doc = load(out, args.jobs, args.timeout)
        print(table(out.name, report, doc))
        print()
        result[out.name] = {"by_kind": by_kind(report, doc), "compare": doc["compare"], "total": doc["total"]}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
