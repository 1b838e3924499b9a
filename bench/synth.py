"""Estimate vs Yosys synthesis of the generated accelerator, per node kind, for build outputs.

Usage (from the repo root)::

    python bench/synth.py OUT [OUT ...] [--jobs N] [--timeout S] [--json FILE]
    python bench/synth.py --calibrate OUT [OUT ...] [--sweep] [--write]

--calibrate fits the per-module cost model (`compiler.synth.costmodel`) on the synthesized modules of every
OUT, prints each design held out (fitted on the others) per module kind, and with --write stores the
coefficients in compiler/synth/cost_model.json (the model `fcomp synth` and the estimate read). --sweep adds
`SWEEP`: stream modules synthesized alone at sizes up to ResNet-18's (8/16-bit, wide and deep), cached like any
module, as one more design named "sweep".

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
from compiler.synth.costmodel import MODEL_JSON, RESOURCES, calibrate, calibrate_kinds, load_model  # noqa: E402


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


def _axis(c: int, w: int, elems: int) -> dict:
    eb = 8 if w <= 8 else 16 if w <= 16 else 32
    return {"C": c, "W": w, "EB": eb, "WB": 64, "PW": 64 // eb, "ELEMS": elems, "WORDS": -(-elems // (64 // eb))}


def _win(c, w, h, k, s, p, nr):
    ho = (h + 2 * p - k) // s + 1
    return {"C": c, "W": w, "H": h, "WD": h, "KH": k, "KW": k, "SH": s, "SW": s, "PT": p, "PL": p, "HO": ho,
            "WO": ho, "NR": nr}


def _swg(c, w, h, k, s, p, cw, f=1):
    return {**_win(c, w, h, k, s, p, 1 << (k + s - 1).bit_length()), "CW": cw, "F": f}


def _gap(c, npix, w, lanes=None):
    from compiler.rtl.accel import tdiv_constants

    aw = w + (npix - 1).bit_length() + 1
    dm, dsh = tdiv_constants(npix, aw)
    return {"C": c, "L": lanes or c, "NPIX": npix, "W": w, "AW": aw, "LSA": 0, "DM": f"64'd{dm}", "DSH": dsh, "OW": w, "RSH": 0,
            "LSH": 0, "RND": 1, "SAT": 1}


def _pool(c, kk, w, avg=False):
    """fc_pool (a beat per tap) at C channels, KK taps, W-bit lanes; max, or average (`_gap`'s division)."""
    if not avg:
        return {"C": c, "KK": kk, "W": w, "AVG": 0, "OW": w}
    g = _gap(c, kk, w)
    return {"C": c, "KK": kk, "W": w, "AVG": 1, **{k: g[k] for k in ("AW", "LSA", "DM", "DSH", "OW", "RSH", "LSH",
                                                                    "RND", "SAT")}}


def _mac(n, r, p, s, iw, ww, nc=None, groups=1):
    """fc_mac_layer at N inputs, R rows, P x S lanes, IW-bit activations, WW-bit weights; with `groups` > 1 a
    grouped conv of NC columns per row (per-PE lanes, the expanded window of `rtl.accel.grouped_expansion`)."""
    import math

    cols = nc or n
    aw = iw + ww + max(1, math.ceil(math.log2(max(2, cols))))
    q = {"N": n, "R": r}
    if groups > 1:
        q = {"N": math.ceil(r / p) * math.ceil(cols / s) * p * s, "NC": cols, "PEL": 1, "R": r}
    return {**q, "P": p, "S": s, "IW": iw, "WW": ww, "AW": aw, "OW": iw, "PRSH": 0, "PLSH": 0, "PRND": 0,
            "PSAT": 0, "RSH": ww - 2, "LSH": 0, "RND": 1, "SAT": 1}


def _hswish(n, w, frac):
    """fc_hardswish at N lanes of a W-bit input with `frac` fraction bits, cast to the same type."""
    from compiler.backend.precision import Fixed
    from compiler.ir import Node
    from compiler.rtl.accel import _slit, cast_params
    from compiler.rtl.network import hardswish_types

    t_in = Fixed(w, w - frac)
    t = hardswish_types(Node("h", "hardswish", ["x"], (n,), attrs={"alpha": 1 / 6, "beta": 0.5}), t_in)
    return {"N": n, "XW": w, "SLW": t.k.slope_bits, "HW": t.h_width, "IW": t.p_width, **cast_params(t.p_frac, t_in),
            "SLOPE": f"64'd{t.k.slope}", "SHIFTV": _slit(t.shift_raw), "ONE": _slit(1 << t.h_frac)}


# stream modules alone, from digits sizes towards ResNet-18's (C up to 256, a 7x7 stride-2 window, deep FIFOs)
SWEEP = [
    ("fc_axis_out", _axis(4, 8, 4)), ("fc_axis_out", _axis(64, 16, 64)), ("fc_axis_out", _axis(100, 16, 100)),
    ("fc_axis_out", _axis(256, 16, 256)), ("fc_axis_out", _axis(10, 16, 10)),
    ("fc_axis_in", _axis(3, 16, 3 * 32 * 32)), ("fc_axis_in", _axis(256, 8, 256)), ("fc_axis_in", _axis(3, 8, 3 * 224 * 224)),
    ("fc_window", _win(64, 16, 14, 3, 1, 1, 4)), ("fc_window", _win(128, 8, 7, 3, 1, 1, 4)),
    ("fc_window", _win(32, 16, 28, 3, 2, 1, 8)), ("fc_window", _win(3, 16, 56, 7, 2, 3, 16)),
    ("fc_window", _win(64, 16, 28, 1, 2, 0, 4)),
    # chunked window generators (kernel-major, CW lanes per beat): digits sizes to ResNet-18's stages
    ("fc_swg", _swg(8, 16, 8, 3, 1, 1, 8)), ("fc_swg", _swg(16, 16, 14, 3, 1, 1, 4)),
    ("fc_swg", _swg(32, 8, 14, 3, 1, 1, 8)), ("fc_swg", _swg(64, 16, 56, 3, 1, 1, 16)),
    ("fc_swg", _swg(64, 16, 56, 3, 2, 1, 32)), ("fc_swg", _swg(128, 16, 28, 3, 1, 1, 32)),
    ("fc_swg", _swg(256, 16, 14, 3, 1, 1, 64)), ("fc_swg", _swg(512, 8, 7, 3, 1, 1, 128)),
    ("fc_swg", _swg(3, 16, 224, 7, 2, 3, 3)),
    # F chunks per line-buffer memory (`rtl.accel.swg_params`: rows of 14-56 pixels packed to a block RAM's depth)
    ("fc_swg", _swg(64, 16, 56, 3, 1, 1, 8, 2)), ("fc_swg", _swg(128, 16, 28, 3, 1, 1, 8, 4)),
    ("fc_swg", _swg(256, 16, 14, 3, 2, 1, 16, 4)), ("fc_swg", _swg(128, 8, 28, 3, 1, 1, 4, 4)),
    ("fc_swg", _swg(64, 16, 56, 1, 2, 0, 4, 2)),
    ("fc_serialize", {"N": 1152, "L": 32, "W": 16, "NBEATS": 36}), ("fc_serialize", {"N": 576, "L": 64, "W": 8, "NBEATS": 9}),
    ("fc_serialize", {"N": 147, "L": 3, "W": 16, "NBEATS": 49}),
    ("fc_collect", {"IW": 256, "NBEATS": 64}), ("fc_collect", {"IW": 1024, "NBEATS": 4}),
    ("fc_cast", {"N": 64, "IW": 16, "OW": 16, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1, "RELU": 1}),
    ("fc_cast", {"N": 256, "IW": 16, "OW": 16, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1, "RELU": 1}),
    ("fc_cast", {"N": 128, "IW": 8, "OW": 8, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1, "RELU": 1}),
    ("fc_add", {"N": 128, "AW": 16, "BW": 16, "LSA": 0, "LSB": 0, "IW": 17, "OW": 16, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1}),
    ("fc_add", {"N": 256, "AW": 8, "BW": 8, "LSA": 1, "LSB": 0, "IW": 10, "OW": 8, "RSH": 1, "LSH": 0, "RND": 1, "SAT": 1}),
    ("fc_gap", _gap(64, 49, 16)), ("fc_gap", _gap(128, 16, 8)), ("fc_gap", _gap(512, 49, 16, 2)),
    ("fc_gap", _gap(512, 49, 16, 16)), ("fc_gap", _gap(256, 16, 16, 4)), ("fc_gap", _gap(32, 16, 16, 8)),
    ("fc_gap", _gap(16, 9, 16)),
    ("fc_pool", _pool(64, 9, 16)), ("fc_pool", _pool(128, 4, 8)), ("fc_pool", _pool(16, 4, 16)),
    ("fc_pool", _pool(256, 9, 16)), ("fc_pool", _pool(32, 4, 8)), ("fc_pool", _pool(64, 9, 16, avg=True)),
    ("fc_pool", _pool(16, 4, 16, avg=True)), ("fc_pool", _pool(128, 4, 8, avg=True)),
    ("fc_fifo", {"DW": 1024, "DEPTH": 256}), ("fc_fifo", {"DW": 256, "DEPTH": 1024}), ("fc_fifo", {"DW": 2048, "DEPTH": 2}),
    ("fc_fifo", {"DW": 64, "DEPTH": 64}), ("fc_fifo", {"DW": 4096, "DEPTH": 96}),
    ("fc_fork", {"DW": 1024, "N": 3}),
    ("fc_clip", {"N": 64, "XW": 16, "PSH": 0, "IW": 16, "OW": 16, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1, "HAS_LO": 1,
                 "HAS_HI": 1, "CLO": "64'sd0", "CHI": "64'sd6144"}),
    ("fc_clip", {"N": 16, "XW": 8, "PSH": 0, "IW": 8, "OW": 8, "RSH": 0, "LSH": 0, "RND": 1, "SAT": 1, "HAS_LO": 1,
                 "HAS_HI": 1, "CLO": "64'sd0", "CHI": "64'sd96"}),
    ("fc_concat", {"NA": 32, "NB": 32, "W": 16}), ("fc_concat", {"NA": 64, "NB": 128, "W": 8}),
    ("fc_upsample", {"N": 4, "W": 16, "WD": 8, "SH": 2, "SW": 2}), ("fc_upsample", {"N": 64, "W": 16, "WD": 14, "SH": 2, "SW": 2}),
    ("fc_upsample", {"N": 128, "W": 8, "WD": 28, "SH": 2, "SW": 2}), ("fc_upsample", {"N": 32, "W": 16, "WD": 112, "SH": 2, "SW": 2}),
    ("fc_upsample", {"N": 16, "W": 16, "WD": 16, "SH": 1, "SW": 3}), ("fc_upsample", {"N": 256, "W": 16, "WD": 7, "SH": 2, "SW": 2}),
    ("fc_upsample", {"N": 8, "W": 8, "WD": 56, "SH": 4, "SW": 4}),
    # sigmoid tables (TABLE_FILE written by `sweep` from the golden model's table in a (OW, 3) result type)
    ("fc_sigmoid", {"N": 1, "IW": 16, "FX": 10, "OW": 16}), ("fc_sigmoid", {"N": 4, "IW": 16, "FX": 10, "OW": 16}),
    ("fc_sigmoid", {"N": 16, "IW": 16, "FX": 8, "OW": 16}), ("fc_sigmoid", {"N": 8, "IW": 8, "FX": 3, "OW": 8}),
    ("fc_sigmoid", {"N": 32, "IW": 8, "FX": 4, "OW": 8}),
    ("fc_hardsigmoid", {"N": 1, "XW": 16, "SLW": 17, "IW": 45, "OW": 16, "RSH": 12, "LSH": 0, "RND": 1, "SAT": 1,
                        "SLOPE": "64'd10923", "SHIFTV": "64'sd32768", "ONE": "64'sd67108864"}),
    ("fc_hardsigmoid", {"N": 16, "XW": 16, "SLW": 17, "IW": 45, "OW": 16, "RSH": 12, "LSH": 0, "RND": 1, "SAT": 1,
                        "SLOPE": "64'd10923", "SHIFTV": "64'sd32768", "ONE": "64'sd67108864"}),
    ("fc_hardsigmoid", {"N": 64, "XW": 8, "SLW": 17, "IW": 34, "OW": 8, "RSH": 14, "LSH": 0, "RND": 1, "SAT": 1,
                        "SLOPE": "64'd13107", "SHIFTV": "64'sd262144", "ONE": "64'sd1048576"}),
    ("fc_hardsigmoid", {"N": 8, "XW": 16, "SLW": 17, "IW": 45, "OW": 16, "RSH": 12, "LSH": 0, "RND": 1, "SAT": 1,
                        "SLOPE": "64'd13107", "SHIFTV": "64'sd32768", "ONE": "64'sd67108864"}),
    ("fc_hardswish", _hswish(1, 16, 10)), ("fc_hardswish", _hswish(8, 16, 10)), ("fc_hardswish", _hswish(16, 16, 12)),
    ("fc_hardswish", _hswish(32, 8, 4)), ("fc_hardswish", _hswish(4, 8, 5)),
    # fixed-point conv/dense layers (weight and bias ROMs of seeded random values written by `sweep`): dense and
    # conv windows, and grouped/depthwise convs with per-PE lanes (MobileNetV2-like widths)
    ("fc_mac_layer", _mac(64, 32, 4, 8, 16, 16)), ("fc_mac_layer", _mac(256, 10, 2, 16, 16, 8)),
    ("fc_mac_layer", _mac(72, 16, 4, 9, 16, 16)), ("fc_mac_layer", _mac(288, 64, 8, 8, 16, 8)),
    ("fc_mac_layer", _mac(576, 64, 4, 16, 8, 8)),
    ("fc_mac_layer", _mac(144, 16, 2, 3, 16, 16, nc=9, groups=16)),
    ("fc_mac_layer", _mac(864, 96, 8, 9, 16, 8, nc=9, groups=96)),
    ("fc_mac_layer", _mac(576, 64, 4, 3, 8, 8, nc=9, groups=64)),
    ("fc_mac_layer", _mac(72, 8, 2, 4, 16, 16, nc=36, groups=2)),
]


def sweep(jobs: int | None, timeout: float, kinds: list[str] | None = None) -> dict:
    """Synthesize SWEEP (each alone, cached; only the module `kinds` when given): a synth.json-shaped document
    with its modules."""
    from concurrent.futures import ThreadPoolExecutor

    from compiler.synth import default_jobs
    from compiler.synth.instances import Instance
    from compiler.synth.yosys import synth_instance, yosys_version, require_yosys

    import tempfile

    from compiler.backend.precision import Fixed
    from compiler.rtl.layer import _hex
    from compiler.rtl.network import sigmoid_table

    roms_dir = Path(tempfile.mkdtemp(prefix="fcomp-sweep-"))
    insts = []
    for i, (mod, p) in enumerate(SWEEP):
        if kinds and mod not in kinds:
            continue
        params, roms = {k: str(v) for k, v in p.items()}, {}
        if mod == "fc_sigmoid":
            ow = int(p["OW"])
            rom = roms_dir / f"n{i}_sigmoid.mem"
            rom.write_text(_hex([int(v) & ((1 << ow) - 1) for v in sigmoid_table(Fixed(ow, 3))], ow))
            params["TABLE_FILE"], roms["TABLE_FILE"] = f'"{rom.name}"', rom
        if mod == "fc_mac_layer":   # seeded random weights (WW bits) and biases (AW - 4 bits), packed as generated
            import numpy as np

            rng = np.random.default_rng(i)
            P, S, R, WW, AW = (int(p[k]) for k in ("P", "S", "R", "WW", "AW"))
            nf, sf = -(-R // P), -(-int(p.get("NC", p["N"])) // S)

            def words(n, lanes, width, bits):
                vals = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (n, lanes))
                return [sum((int(v) & ((1 << width) - 1)) << (k * width) for k, v in enumerate(row)) for row in vals]

            for key, name, ws, width in (("WEIGHTS_FILE", "weights", words(nf * sf, P * S, WW, WW), P * S * WW),
                                         ("BIAS_FILE", "bias", words(nf, P, AW, AW - 4), P * AW)):
                rom = roms_dir / f"n{i}_{name}.mem"
                rom.write_text(_hex(ws, width))
                params[key], roms[key] = f'"{rom.name}"', rom
        insts.append(Instance(f"u_s{i}", mod, params, f"s{i}", node=f"s{i}", roms=roms))

    def run(inst):
        r = synth_instance(inst, "xcup", timeout)
        print(f"  {inst.module:13s} {inst.name:6s} {r['status']:8s} {r['seconds']:7.1f}s"
              f"{' (cached)' if r.get('cached') else ''}", flush=True)
        return inst, r

    with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        results = list(pool.map(run, insts))
    return {"tool": {"yosys": yosys_version(require_yosys()), "family": "xcup"},
            "modules": [{"module": i.module, "params": i.params, "resources": r.get("resources"), "count": 1,
                         "status": r["status"]} for i, r in results]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outputs", nargs="*", type=Path)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json", type=Path, help="write the per-kind figures here")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit the per-module cost model on the OUTs' synth.json and print each design held out")
    ap.add_argument("--write", action="store_true", help="with --calibrate: store the fit in " + str(MODEL_JSON))
    ap.add_argument("--sweep", action="store_true", help="with --calibrate: add the SWEEP of stream modules")
    ap.add_argument("--kinds", default="", help="with --calibrate: refit only these module kinds (comma-separated; "
                    "the others stay as stored), from the OUTs and their SWEEP entries")
    args = ap.parse_args(argv)
    if args.calibrate and args.kinds:
        kinds = [k for k in args.kinds.split(",") if k]
        designs = {out.name: load(out, args.jobs, args.timeout)[1] for out in args.outputs}
        designs["sweep"] = sweep(args.jobs, args.timeout, kinds)
        cmd = ("python bench/synth.py --calibrate " + " ".join(o.name for o in args.outputs) +
               f" --kinds {','.join(kinds)} --write").replace("  ", " ")
        doc = calibrate_kinds(designs, kinds, load_model(), command=cmd)
        print(f"| {' | '.join(['module', 'params'] + [f'{r} synth / held-out model' for r in RESOURCES])} |")
        print("|---|---|" + "---:|" * len(RESOURCES))
        for h in doc["calibration"]["refits"][-1]["held_out_instances"]:
            ps = ", ".join(f"{k}={v}" for k, v in h["params"].items())
            print(f"| {h['module']} | {ps} | " + " | ".join(f"{h[r]['synth']:g} / {h[r]['model']}" for r in RESOURCES)
                  + " |")
        if args.write:
            MODEL_JSON.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"written: {MODEL_JSON}")
        return 0
    if args.calibrate:
        designs = {out.name: load(out, args.jobs, args.timeout)[1] for out in args.outputs}
        if args.sweep:
            designs["sweep"] = sweep(args.jobs, args.timeout)
        cmd = "python bench/synth.py --calibrate " + " ".join(o.name for o in args.outputs) + \
            (" --sweep" if args.sweep else "") + " --write"
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
