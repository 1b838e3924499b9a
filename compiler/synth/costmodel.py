"""Per-module cost model of fcomp_accel, fitted on Yosys synthesis of generated modules.

Every module kind in rtl_sim/ that the accelerator generator instances has a few features computed from its
parameters (`features`): bits of a register file, lanes of an adder tree, words of a mux, a constant. Its LUT
(LUT_TOTAL: logic plus LUT-RAM/SRL), FF and BRAM36 are non-negative linear combinations of them, with
coefficients fitted by non-negative least squares on synthesized instances (`fit`), one set per module kind and
resource. The coefficients live as data in `cost_model.json` beside this file, with the command that
regenerates them (`python bench/synth.py --calibrate OUT ...`: the synth.json files of synthesized builds).

`predict_instances(instances)` costs a generated accelerator instance by instance: the model of the design that is
handed off, side by side with synthesis in synth.json (`model`). A module kind with no coefficients (not in the
calibration set) is reported as not modelled, never guessed.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_JSON = Path(__file__).with_name("cost_model.json")
RESOURCES = ("LUT_TOTAL", "FF", "BRAM36", "URAM")
URAM_DEPTH, URAM_WIDTH = 4096, 72     # one URAM288: 4096 x 72 bits


def _i(p: dict, k: str, default: int = 0) -> int:
    v = p.get(k, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(2, n))))


ROM_BRAM_DEPTH = 128      # fc_mac_layer's weight ROM: block RAM from this depth (`features`)
LUTRAM_MAX_DEPTH = 64     # Yosys 0.23 xcup maps deeper memories to block RAM (seen on FIFOs, banks, line buffers)


def _memory(depth: int, width: int) -> tuple[float, float]:
    """(LUT-RAM bits, block-RAM primitives) of a depth x width memory as Yosys 0.23 maps it: LUT-RAM up to
    LUTRAM_MAX_DEPTH words (a 64-deep word costs a LUT per bit), else RAMB36 at the best aspect ratio
    (`_bram_columns`)."""
    if depth <= 0 or width <= 0:
        return 0.0, 0.0
    if depth <= LUTRAM_MAX_DEPTH:
        return float(width * max(32, depth)), 0.0
    return 0.0, _bram_columns(depth, width)


BRAM36_ASPECTS = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
BRAM18_ASPECTS = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def _bram_columns(depth: int, width: int) -> float:
    """RAMB36 of a block-RAM memory as Yosys 0.23 maps it: the best of the RAMB36 aspect ratios (32K x 1 .. 512 x 72)
    and of the RAMB18 ones (16K x 1 .. 512 x 36, half a RAMB36 each). A narrow deep FIFO (16 bits x 34,560) is 17
    RAMB36 as 2K x 18, not 34 as 72-bit columns of 512 words; wide memories are 72-bit columns either way."""
    b36 = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM36_ASPECTS)
    b18 = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM18_ASPECTS) / 2
    return float(min(b36, b18))


def _const_ones(p: dict, key: str) -> int:
    """Set bits of a constant parameter (Verilog text 64'd...; SLOPE, DM): the adders of its shift-and-add multiply."""
    v = str(p.get(key, "1")).split("d")[-1]
    return bin(int(v)).count("1") if v.isdigit() else 1


def _slope_ones(p: dict) -> int:
    return _const_ones(p, "SLOPE")


def features(module: str, p: dict) -> dict[str, float] | None:
    """Features of one instance (`p`: its parameters, Verilog value text or ints). None for an unknown kind."""
    g = lambda k, d=0: _i(p, k, d)  # noqa: E731
    if module == "fc_fifo":
        dw, depth = g("DW"), g("DEPTH")
        lut, bram = _memory(depth, dw)
        return {"one": 1.0, "lutram_bits": lut, "bram_cols": bram, "ctrl": _clog2(depth) if bram else 0.0,
                "reg_bits": dw if bram else 0.0}
    if module == "fc_fork":
        return {"one": 1.0, "outs": g("N")}
    if module in ("fc_cast", "fc_clip"):
        return {"one": 1.0, "lanes_bits": g("N") * max(g("IW"), g("OW", g("IW")))}
    if module == "fc_add":
        return {"one": 1.0, "lanes_bits": g("N") * g("IW")}
    if module == "fc_concat":
        return {"one": 1.0, "lanes_bits": (g("NA") + g("NB")) * g("W")}
    if module == "fc_pool":
        # a beat per tap: per channel a running max (W bits) or sum (AW bits) and its comparator or adder, the
        # output register, and for the average the division by KK as a multiply by the constant DM
        c, w = g("C"), g("W", 16)
        avg = bool(g("AVG"))
        rw = g("AW", w) if avg else w
        ones = _const_ones(p, "DM")
        return {"one": 1.0, "run_bits": c * rw, "out_bits": c * g("OW", w), "max_bits": 0.0 if avg else c * w,
                "avg_bits": c * rw if avg else 0.0, "mult_bits": c * rw * ones if avg else 0.0}
    if module == "fc_gap":
        # per channel an accumulator and a division by NPIX as a multiply by the constant DM (shift-and-add:
        # one adder per set bit)
        # (L lanes a beat: the sums an array of C/L chunk words read at the chunk counter, the adders and
        # dividers L lanes wide)
        ones = _const_ones(p, "DM")
        c, lanes, aw = g("C"), g("L", g("C")), g("AW")
        return {"one": 1.0, "acc_bits": c * aw, "mult_bits": lanes * aw * ones,
                "mux_bits": lanes * aw * (c // max(1, lanes) - 1)}
    if module == "fc_window":
        c, w, kh, kw = g("C"), g("W"), g("KH"), g("KW")
        lut, bram = _memory(g("NR") * g("WD"), c * w)
        return {"one": 1.0, "window_bits": c * w * kh * kw, "lutram_bits": lut, "bram_cols": bram * kh,
                "counters": _clog2(g("H")) + _clog2(g("WD"))}
    if module == "fc_swg":
        # NC = C/CW line-buffer memories of NR rows x 2**ceil(log2 WD) columns of CW lanes, one synchronous read
        # port each (its read register is the output register: flip-flops beside LUT-RAM, inside a block RAM),
        # and the NC:1 chunk mux after them
        # (F chunks per memory: NC/F memories F times as deep, the pixel register for the F-1 later writes)
        c, w, cw, f = g("C"), g("W"), max(1, g("CW", 1)), max(1, g("F", 1))
        nc = max(1, c // cw)
        nm = max(1, nc // f)
        lut, bram = _memory(f * g("NR") * (1 << _clog2(g("WD"))), cw * w)
        return {"one": 1.0, "read_reg_bits": c * w if lut else 0.0, "mux_bits": cw * w * (nm - 1),
                "lutram_bits": nm * lut, "bram_cols": nm * bram, "counters": _clog2(g("H")) + _clog2(g("WD")) + _clog2(nc),
                "pack_bits": c * w if f > 1 else 0.0}
    if module == "fc_sigmoid":
        # a 1024-word table per lane and the index arithmetic. Yosys 0.23 (xcup) put each 16-bit table in a
        # RAMB18 (1024 x 18) and folded each 8-bit one into LUT logic (bench/synth.py sweep, 5 instances)
        n, ow = g("N"), g("OW", 16)
        wide = ow > 8
        return {"one": 1.0, "lanes": n, "lane_bits": n * g("IW"), "rom_logic_bits": 0.0 if wide else n * ow * 1024.0,
                "bram_cols": n * math.ceil(ow / 18) * 0.5 if wide else 0.0}
    if module == "fc_hardsigmoid":
        # a multiply by the constant SLOPE per lane (shift-and-add: an adder per set bit), the clamp and the cast
        return {"one": 1.0, "lanes_bits": g("N") * g("IW"), "mult_bits": g("N") * g("XW") * _slope_ones(p)}
    if module == "fc_hardswish":
        # fc_hardsigmoid's constant multiply and clamp, then a multiply by the input (XW x HW bits) and the cast
        return {"one": 1.0, "lanes_bits": g("N") * g("IW"), "mult_bits": g("N") * g("XW") * _slope_ones(p),
                "prod_bits": g("N") * g("XW") * g("HW")}
    if module == "fc_upsample":
        # the output and repeat registers, a 2-3 input mux per bit, and the row buffer when rows repeat
        dw = g("N") * g("W")
        lut, bram = _memory(g("WD"), dw) if g("SH", 1) > 1 else (0.0, 0.0)
        return {"one": 1.0, "reg_bits": dw, "lutram_bits": lut, "bram_cols": bram,
                "counters": _clog2(g("WD")) + _clog2(g("SH", 1)) + _clog2(g("SW", 1))}
    if module == "fc_serialize":
        ow, nb = g("L") * g("W"), g("NBEATS")
        return {"one": 1.0, "reg_bits": g("N") * g("W"), "mux_bits": ow * (nb - 1)}
    if module == "fc_collect":
        return {"one": 1.0, "reg_bits": g("IW") * g("NBEATS")}
    if module in ("fc_axis_in", "fc_axis_out"):
        # a pixel of C elements assembled from / cut into words: its register and the word-side muxes
        return {"one": 1.0, "pixel_bits": g("C") * g("W"), "word_bits": g("WB"),
                "counters": _clog2(g("ELEMS")) + _clog2(g("WORDS", 1))}
    if module == "tpe_layer":
        P, S, W = g("P"), g("S"), g("W")
        ib, nbi, K, rpp = g("IB", 1), g("NBI", 1), g("K", 1), g("RPP", 1)
        index = 1 + _clog2(rpp) + g("BW", 1)
        # one bank copy per PE of NIB * NBI words (bank b's beat j at b*NBI + j: rtl_sim/tpe_layer.sv `ibuf`)
        bank_lut, bank_bram = _memory(g("NIB", 3) * nbi, ib * S * W)
        rom_lut, rom_bram = _memory(K, P * (2 * S + index))
        uram = 0.0
        if g("WLOAD"):      # run-time loaded: NCOL columns of WLW bits, one K-deep memory each
            ncol = -(-P * (2 * S + index) // max(1, g("WLW", 64)))
            if g("URAM"):
                uram, rom_lut, rom_bram = float(ncol * -(-g("WLW", 64) // URAM_WIDTH) * -(-K // URAM_DEPTH)), 0.0, 0.0
            else:
                lut, bram = _memory(K, g("WLW", 64))
                rom_lut, rom_bram = ncol * lut, ncol * bram
        return {"one": 1.0, "uram_cols": uram, "pe": P, "lane_bits": P * S * W, "acc_bits": P * g("ACC_W"),
                "scale_bits": g("U", 1) * g("T", 1) * g("PW"), "bank_lutram_bits": P * bank_lut,
                "bram_cols": P * bank_bram + rom_bram, "rom_lutram_bits": rom_lut + rpp * P * 2 * g("PW"),
                "out_bits": P * rpp * g("OUT_W") * g("NOB", 4)}
    if module == "fc_mac_layer":
        P, S, N, R = g("P"), g("S"), g("N"), g("R")
        # per-PE lanes (PEL, a grouped conv): N is the expanded vector, the ROM holds R rows of NC columns. The
        # weight ROM (one P*S*WW-bit word per step) goes to block RAM from ROM_BRAM_DEPTH words (Yosys 0.23 on the
        # SWEEP: 80 words stayed logic, 288 and 576 took 7.5 and 14.5 RAMB36), else to LUT logic
        steps = -(-R // max(1, P)) * -(-g("NC", N) // max(1, S))
        wbits = steps * P * S * g("WW")
        bram = _bram_columns(steps, P * S * g("WW")) if steps >= ROM_BRAM_DEPTH else 0.0
        return {"one": 1.0, "vector_bits": N * g("IW"), "mac_bits": P * S * g("AW"), "out_bits": R * g("OW"),
                "rom_bits": (0 if bram else wbits) + R * g("AW"), "bram_rom": bram}
    return None


def fit(rows: list[tuple[str, dict, dict]]) -> dict:
    """rows: (module, params, resources) of synthesized instances. Returns {module: {resource: {feature: coef}}}
    by non-negative least squares (the features are costs, a negative coefficient would be a fitting artefact)."""
    from scipy.optimize import nnls

    by: dict[str, list] = {}
    for module, params, res in rows:
        f = features(module, params)
        if f is not None:
            by.setdefault(module, []).append((f, res))
    out = {}
    for module, data in sorted(by.items()):
        names = sorted(data[0][0])
        a = np.array([[f[n] for n in names] for f, _ in data], float)
        scale = np.maximum(a.max(axis=0), 1e-9)      # column scaling keeps NNLS well conditioned
        out[module] = {}
        for r in RESOURCES:
            if r == "URAM":     # a primitive count, not fitted (`predict`)
                continue
            # block RAM comes only from memories Yosys maps to block RAM (the bram_* features)
            cols = [i for i, n in enumerate(names) if (r != "BRAM36" or n.startswith("bram"))
                    and not n.startswith("uram")]
            y = np.array([float(res.get(r, 0)) for _, res in data])
            if not cols:
                out[module][r] = {}
                continue
            coef, _ = nnls(a[:, cols] / scale[cols], y)
            out[module][r] = {names[i]: round(float(c / scale[i]), 6) for i, c in zip(cols, coef) if c > 0}
    return out


def load_model(path: Path | None = None) -> dict:
    """The coefficients document (default: the shipped cost_model.json, read once per process)."""
    return _read_model(Path(path or MODEL_JSON))


@lru_cache(maxsize=4)
def _read_model(path: Path) -> dict:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def predict(module: str, params: dict, model: dict | None = None) -> dict[str, float] | None:
    """{LUT_TOTAL, FF, BRAM36, URAM} of one instance, or None when its kind has no coefficients."""
    model = load_model() if model is None else model
    coefs = model.get("modules", {}).get(module)
    f = features(module, params)
    if coefs is None or f is None:
        return None
    out = {r: sum(c * f.get(n, 0.0) for n, c in coefs.get(r, {}).items()) for r in RESOURCES}
    if "URAM" not in coefs:     # UltraRAM is a primitive count: one per 72-bit column per 4096 words (`features`)
        out["URAM"] = f.get("uram_cols", 0.0)
    return out


def predict_instances(instances, model: dict | None = None) -> dict:
    """The model of a list of `compiler.synth.instances.Instance`: per node and in total, and the kinds that
    have no coefficients (their instances are left out of the total, which is then a lower bound)."""
    model = load_model() if model is None else model
    total = dict.fromkeys(RESOURCES, 0.0)
    nodes: dict[str, dict] = {}
    missing: set[str] = set()
    for inst in instances:
        r = predict(inst.module, inst.params, model)
        if r is None:
            missing.add(inst.module)
            continue
        n = nodes.setdefault(inst.node or inst.node_id, dict.fromkeys(RESOURCES, 0.0))
        for k in RESOURCES:
            n[k] += r[k]
            total[k] += r[k]
    rnd = lambda d: {k: round(v, 1) for k, v in d.items()}  # noqa: E731
    return {"total": rnd(total), "nodes": {k: rnd(v) for k, v in nodes.items()},
            "not_modelled": sorted(missing), "total_is_lower_bound": bool(missing),
            "calibration": model.get("calibration", {})}


def design_rows(doc: dict) -> list[tuple[str, dict, dict, int]]:
    """(module, params, resources, instance count) of every synthesized module of one synth.json document."""
    return [(m["module"], m["params"], m["resources"], int(m["count"])) for m in doc["modules"]
            if m["status"] == "ok"]


def _sums(rows, model) -> dict:
    """Per module kind and in total: synthesized vs predicted LUT_TOTAL/FF/BRAM36 over `rows` (instances
    counted); kinds the model does not know are listed, their synthesized figures still counted."""
    kinds: dict[str, dict] = {}
    for module, params, res, count in rows:
        k = kinds.setdefault(module, {"instances": 0, "modelled": True,
                                      **{f"{r}_{s}": 0.0 for r in RESOURCES for s in ("synth", "model")}})
        k["instances"] += count
        pr = predict(module, params, model)
        if pr is None:
            k["modelled"] = False
        for r in RESOURCES:
            k[f"{r}_synth"] += count * float(res.get(r, 0))
            k[f"{r}_model"] += count * (pr[r] if pr else 0.0)
    total = {f"{r}_{s}": sum(k[f"{r}_{s}"] for k in kinds.values()) for r in RESOURCES for s in ("synth", "model")}
    return {"kinds": kinds, "total": total}


def calibrate_kinds(designs: dict[str, dict], kinds: list[str], base: dict, command: str = "") -> dict:
    """Refit only the module `kinds` (fits are per kind, independent of the others) on the designs' instances of
    them, keep every other kind of `base` as it is, and record each instance held out (fitted on the other
    instances of its kind): how a new module kind joins the model without re-synthesizing every design."""
    rows = [(m, p, r) for doc in designs.values() for m, p, r, _ in design_rows(doc) if m in kinds]
    found = sorted({m for m, _, _ in rows})
    if sorted(set(kinds)) != found:
        raise ValueError(f"no synthesized instances of {sorted(set(kinds) - set(found))}")
    model = json.loads(json.dumps(base))
    model.setdefault("modules", {}).update(fit(rows))
    held = []
    for i, (m, p, r) in enumerate(rows):
        others = [row for j, row in enumerate(rows) if j != i and row[0] == m]
        pr = predict(m, p, {"modules": fit(others)}) if others else None
        held.append({"module": m, "params": p, **{res: {"synth": float(r.get(res, 0)),
                                                      "model": None if pr is None else round(pr[res], 1)}
                                                for res in RESOURCES}})
    cal = model.setdefault("calibration", {})
    cal.setdefault("refits", [])
    cal["refits"] = [x for x in cal["refits"] if not set(x["kinds"]) & set(kinds)] + [
        {"kinds": sorted(set(kinds)), "command": command, "designs": sorted(designs), "instances": len(rows),
         "held_out_instances": held}]
    return model


def calibrate(designs: dict[str, dict], command: str = "") -> dict:
    """Fit on every design's synthesized modules (`designs`: name -> synth.json document) and measure each
    design held out (fitted on the others): the cost_model.json document."""
    rows = {name: design_rows(doc) for name, doc in designs.items()}
    flat = [(m, p, r) for rs in rows.values() for m, p, r, _ in rs]
    model = {"schema": 1, "command": command, "modules": fit(flat)}
    held = {}
    for name in rows:
        others = [(m, p, r) for n2, rs in rows.items() if n2 != name for m, p, r, _ in rs]
        sums = _sums(rows[name], {"modules": fit(others)})
        t = sums["total"]
        held[name] = {"total": {r: {"synth": round(t[f"{r}_synth"], 1), "model": round(t[f"{r}_model"], 1)}
                                for r in RESOURCES},
                      "kinds": {k: {"instances": v["instances"], "modelled": v["modelled"],
                                    **{r: {"synth": round(v[f"{r}_synth"], 1), "model": round(v[f"{r}_model"], 1)}
                                       for r in RESOURCES}} for k, v in sums["kinds"].items()}}
    first = next(iter(designs.values()), {})
    model["calibration"] = {
        "designs": sorted(designs), "yosys": first.get("tool", {}).get("yosys"),
        "family": first.get("tool", {}).get("family"),
        "instances": sum(c for rs in rows.values() for *_, c in rs),
        "distinct_modules": sum(len(rs) for rs in rows.values()),
        "held_out": held}
    return model
