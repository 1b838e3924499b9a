"""The README's headline command, end to end: `fcomp build models/resnet18.onnx --board zcu104` as `make build`
runs it (data-free, 2 check inputs, 8 calibration inputs), in a CLI process of its own.

Marked slow (about 5 min on 2 cores: hls4ml write and g++, two 224x224 C-sim frames, two RTL layers in
Verilator, the handoff bundle); `make bench` runs it, CI does not. The figures are the README's Builds table
(`bench/builds.py`): a change that moves them must update the README too. The planner's numbers are
deterministic (data-free compression is seeded): resources and cycles are pinned exactly, frames/s to the README's
rounding, the C-sim's error to its order. With the previous README figures (195,445 LUT, 226 BRAM36, 95.16
frames/s, before the per-PE input-bank copies and conv1 planned whole) it fails.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.sim]

ROOT = Path(__file__).resolve().parent.parent
# README "Builds" table, resnet18 row (make build, 2026-12-02)
README = {"ratio": 21.0, "lut": 195_576, "ff": 45_642, "dsp": 21, "bram36": 221, "uram": 81,
          "frames_per_s": 84.81, "cycles_per_frame": 2_358_272}


@pytest.fixture(scope="module")
def build(zoo_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("resnet18") / "out"
    fcomp = Path(sys.executable).with_name("fcomp")
    cmd = [os.fspath(fcomp), "build", os.fspath(zoo_onnx("resnet18")), "--board", "zcu104", "--force",
           "--check-inputs", "2", "--calibration-inputs", "8", "-o", os.fspath(out)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text()), p.stderr


def test_resnet18_estimate_is_the_readme_figure(build):
    _, r, _ = build
    est, c = r["estimate"], r["compression"]
    assert c["data_free"] and c["strategy"] == "pe-wise+wpc"
    assert c["ratio"] == pytest.approx(README["ratio"], rel=0.005)
    for k in ("lut", "ff", "dsp", "bram36", "uram"):
        assert est["total"][k] == README[k], k
    assert est["fits"] is True
    assert round(est["frames_per_s"], 2) == README["frames_per_s"]
    assert est["cycles_per_frame"] == README["cycles_per_frame"]
    # the estimate and the generated accelerator's cycle model describe one design (they disagreed while the
    # estimate assumed every group of the unpruned conv1 where its RTL schedule skips the all-zero ones)
    assert r["rtl"]["network"]["cycles_per_frame_predicted"] == est["cycles_per_frame"]


def test_resnet18_csim_golden_and_ternary_backend(build):
    _, r, _ = build
    chk = r["check"]
    assert chk["passed"] and chk["inputs"] == 2 and chk["top1_agreement"] == 1.0
    assert chk["max_abs_error"] < 2e-3
    assert chk["golden"]["bit_exact_vs_csim"] is True and chk["golden"]["check_inputs"] == 2
    b = r["backend"]
    assert b["all_ternary_multiplier_free"] and len(b["ternary_layers"]) == 21


def test_resnet18_rtl_and_bundle(build):
    out, r, stderr = build
    rtl = r["rtl"]
    assert rtl["passed"] and len(rtl["layers"]) == 2 and all(l["mismatches"] == 0 for l in rtl["layers"])
    # the whole-network simulation is over the build's default cycle limit: skipped with a message that says how
    assert "--rtl-frames" in rtl["network"]["message"] and "--rtl-frames" in stderr
    h = r["handoff"]
    assert h["design"] == "fcomp_accel (RTL)"
    bundle = out / "handoff"
    for f in ("HANDOFF.md", "run_all.sh", "build_vivado.tcl", "manifest.json", "driver/driver.py",
              "driver/driver.json", "driver/output_reference.npy", "rtl/fcomp_accel/fcomp_accel.sv",
              "rtl/fcomp_accel/accel.json"):
        assert (bundle / f).is_file(), f
    cfg = json.loads((bundle / "driver" / "driver.json").read_text())
    assert cfg["design"] == "fcomp_accel"
