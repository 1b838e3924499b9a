"""The per-module cost model of fcomp_accel (compiler.synth.costmodel): its fit, the shipped coefficients and
their recorded held-out error, and its use on a generated design. The real-Yosys comparison on a small build is
in tests/test_synth_accel.py (synth.json's `model`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.rtl.accel import ACCEL_SOURCES
from compiler.synth import costmodel as cm

# module kinds the generator instances at the top of fcomp_accel (the others are their submodules)
TOP_KINDS = ("fc_fifo", "fc_fork", "fc_cast", "fc_clip", "fc_add", "fc_concat", "fc_window", "fc_serialize",
             "fc_collect", "fc_pool", "fc_gap", "fc_upsample", "fc_sigmoid", "fc_hardsigmoid", "fc_hardswish", "fc_axis_in", "fc_axis_out", "tpe_layer",
             "fc_mac_layer")


def test_every_top_level_module_kind_has_features():
    defined = {f[:-3] for f in ACCEL_SOURCES}
    assert set(TOP_KINDS) <= defined
    for kind in TOP_KINDS:
        f = cm.features(kind, {})
        assert f is not None and f["one"] == 1.0 and all(v >= 0 for v in f.values())
    assert cm.features("no_such_module", {}) is None


def test_memory_kind_follows_yosys_depth_rule():
    assert cm._memory(2, 512) == (512 * 32, 0.0)           # a 2-deep FIFO: LUT-RAM
    assert cm._memory(64, 100)[1] == 0.0                   # up to 64 words: LUT-RAM
    assert cm._memory(84, 1024) == (0.0, 14.5)             # digits_resnet's skip FIFO: 14.5 BRAM36 synthesized
    assert cm._memory(72, 192) == (0.0, 3.0)               # a P=16 layer's bank copy: 48 BRAM36 for 16 PEs
    assert cm._memory(0, 8) == (0.0, 0.0)


def test_fit_recovers_known_coefficients_and_never_goes_negative():
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(12):
        p = {"N": int(rng.integers(1, 64)), "L": int(rng.integers(1, 16)), "W": 16, "NBEATS": int(rng.integers(1, 9))}
        f = cm.features("fc_serialize", p)
        lut = 3.0 + 0.25 * f["mux_bits"] + 0.01 * f["reg_bits"]
        rows.append(("fc_serialize", p, {"LUT_TOTAL": lut, "FF": 1.0 * f["reg_bits"] + 4, "BRAM36": 0}))
    got = cm.fit(rows)["fc_serialize"]
    assert got["LUT_TOTAL"]["mux_bits"] == pytest.approx(0.25, rel=1e-4)
    assert got["LUT_TOTAL"]["one"] == pytest.approx(3.0, rel=1e-3)
    assert got["FF"]["reg_bits"] == pytest.approx(1.0, rel=1e-4)
    assert "BRAM36" not in got or not got["BRAM36"]
    for r in got.values():
        assert all(c > 0 for c in r.values())
    model = {"modules": cm.fit(rows)}
    p = rows[0][1]
    assert cm.predict("fc_serialize", p, model)["LUT_TOTAL"] == pytest.approx(rows[0][2]["LUT_TOTAL"], rel=1e-3)
    assert cm.predict("tpe_layer", {}, model) is None       # not in the calibration: not guessed


def test_calibrate_holds_each_design_out():
    def doc(rows):
        return {"tool": {"yosys": "Yosys 0.23", "family": "xcup"},
                "modules": [{"module": m, "params": p, "resources": r, "count": 1, "status": "ok"} for m, p, r in rows]}
    a = [("fc_collect", {"IW": 16 * k, "NBEATS": 4}, {"LUT_TOTAL": 5, "FF": 64 * k + 2, "BRAM36": 0}) for k in (1, 2, 3)]
    b = [("fc_collect", {"IW": 16 * k, "NBEATS": 8}, {"LUT_TOTAL": 5, "FF": 128 * k + 2, "BRAM36": 0}) for k in (1, 2)]
    c = [("fc_add", {"N": 8, "IW": 17}, {"LUT_TOTAL": 450, "FF": 129, "BRAM36": 0})]
    out = cm.calibrate({"a": doc(a), "b": doc(b), "c": doc(c + b)}, command="x")
    held = out["calibration"]["held_out"]
    # b held out: a's fc_collect fit (FF = bits + 2) predicts b's exactly
    assert held["b"]["total"]["FF"]["model"] == pytest.approx(held["b"]["total"]["FF"]["synth"], rel=1e-3)
    # c held out: fc_add is only in c, so it is not modelled there, and its LUTs are not in the model
    assert held["c"]["kinds"]["fc_add"]["modelled"] is False
    assert held["c"]["kinds"]["fc_add"]["LUT_TOTAL"]["model"] == 0
    assert set(out["modules"]) == {"fc_collect", "fc_add"} and out["command"] == "x"
    assert out["calibration"]["designs"] == ["a", "b", "c"] and out["calibration"]["distinct_modules"] == 8


def test_calibrate_kinds_refits_one_kind_and_keeps_the_others():
    """A new module kind joins the model from its own synthesized instances (bench/synth.py --kinds); every
    other kind's coefficients stay as they were, and each instance is recorded held out."""
    rows = [("fc_upsample", {"N": n, "W": 16, "WD": 8, "SH": 2, "SW": 2},
             {"LUT_TOTAL": 10 + n * 16 * 0.5, "FF": 2 * n * 16 + 9, "BRAM36": 0}) for n in (2, 4, 8, 16)]
    docs = {"sweep": {"modules": [{"module": m, "params": p, "resources": r, "count": 1, "status": "ok"}
                                  for m, p, r in rows]}}
    base = {"schema": 1, "modules": {"fc_fifo": {"FF": {"one": 5.0}}}, "calibration": {"designs": ["d"]}}
    out = cm.calibrate_kinds(docs, ["fc_upsample"], base, command="c")
    assert out["modules"]["fc_fifo"] == {"FF": {"one": 5.0}} and "fc_upsample" not in base["modules"]
    assert cm.predict("fc_upsample", rows[1][1], out)["FF"] == pytest.approx(2 * 4 * 16 + 9, rel=1e-3)
    refit = out["calibration"]["refits"][-1]
    assert refit["kinds"] == ["fc_upsample"] and len(refit["held_out_instances"]) == 4
    assert refit["held_out_instances"][1]["FF"]["model"] == pytest.approx(2 * 4 * 16 + 9, rel=1e-2)
    with pytest.raises(ValueError, match="fc_gap"):
        cm.calibrate_kinds(docs, ["fc_gap"], base)


def test_shipped_model_is_fitted_on_synthesis_and_its_held_out_error_is_recorded():
    """compiler/synth/cost_model.json, written by `python bench/synth.py --calibrate ... --write`: what README
    quotes. A refit that makes the held-out figures worse than README says fails here."""
    doc = json.loads(cm.MODEL_JSON.read_text())
    assert doc["command"].startswith("python bench/synth.py --calibrate")
    cal = doc["calibration"]
    assert cal["yosys"].startswith("Yosys 0.23") and cal["family"] == "xcup"
    assert {"digits_mlp", "digits_cnn", "digits_resnet"} <= set(cal["designs"])
    for kind in ("tpe_layer", "fc_window", "fc_serialize", "fc_fifo", "fc_mac_layer", "fc_add", "fc_gap"):
        assert kind in doc["modules"] and doc["modules"][kind]["LUT_TOTAL"]
    r = cal["held_out"]["digits_resnet"]
    lut = r["total"]["LUT_TOTAL"]
    assert abs(lut["model"] / lut["synth"] - 1) <= 0.10           # README: within 10% held out
    pe = r["kinds"]["tpe_layer"]["LUT_TOTAL"]
    assert abs(pe["model"] / pe["synth"] - 1) <= 0.10
    # in-sample, the shipped model reproduces every calibration design's total within 10%
    for name, h in cal["held_out"].items():
        assert h["total"]["LUT_TOTAL"]["synth"] > 0, name


def test_predict_instances_reports_what_it_cannot_model():
    from compiler.synth.instances import Instance

    model = {"modules": {"fc_fifo": {"LUT_TOTAL": {"lutram_bits": 0.01}, "FF": {"one": 5.0}}},
             "calibration": {"designs": ["d"]}}
    insts = [Instance("u_a", "fc_fifo", {"DW": "100", "DEPTH": "2"}, "n1", node="a"),
             Instance("u_b", "fc_fifo", {"DW": "100", "DEPTH": "2"}, "n2", node="b"),
             Instance("u_c", "fc_clip", {"N": "4"}, "n3", node="c")]
    m = cm.predict_instances(insts, model)
    assert m["total"]["LUT_TOTAL"] == pytest.approx(2 * 100 * 32 * 0.01)
    assert m["total"]["FF"] == 10 and m["not_modelled"] == ["fc_clip"] and m["total_is_lower_bound"]
    assert set(m["nodes"]) == {"a", "b"} and m["calibration"]["designs"] == ["d"]


def test_block_ram_follows_the_aspect_ratios_yosys_picks():
    """Yosys 0.23 (xcup) maps a narrow deep memory in RAMB36 of 2K x 18 (or 4K x 9 ...), not 72-bit columns of
    512 words: fc_fifo 16 bits x 34,560 (a ResNet-18 skip FIFO) was 17 RAMB36, 64 x 7,920 16 and 1,024 x 495
    29 RAMB18 (measured 2026-12-03); a 3-lane 16-bit line buffer of 4,096 words 6 (the held-out sweep instance the
    72-bit rule put at 8)."""
    from compiler.synth.costmodel import _bram_columns, predict

    assert predict("fc_fifo", {"DW": 16, "DEPTH": 34560})["BRAM36"] == pytest.approx(17, abs=0.1)
    assert predict("fc_fifo", {"DW": 64, "DEPTH": 7920})["BRAM36"] == pytest.approx(16, abs=0.1)
    assert predict("fc_fifo", {"DW": 1024, "DEPTH": 495})["BRAM36"] == pytest.approx(14.5, abs=0.1)
    assert _bram_columns(4096, 48) == 6 and _bram_columns(512, 72) == 1 and _bram_columns(512, 36) == 0.5
