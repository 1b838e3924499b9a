"""`fcomp synth` / `build --synth`: Yosys synthesis of the generated accelerator (compiler/synth), module by module.

The `sim` tests run the real Yosys (synth_xilinx -family xcup) on a small generated fcomp_accel (a ternary MLP,
16 -> 8 -> 4, 8-bit activations): the synth.json schema, totals = the sum over instances, the cache (second run:
every module from the cache, same figures, fast), the over-capacity exit 2 and report.html's section. The
others check the parsing and the CLI's error paths without Yosys (a recorded Yosys `stat`/`ltp` output).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from compiler import cli
from compiler.boards import Board, get_board
from compiler.errors import FcompError
from compiler.synth import (COMPARE, check_capacity, summary, synth_output, synthesize, write_synth)
from compiler.synth.instances import read_accel
from compiler.synth.yosys import (RESOURCES, parse_ltp, summarize, yosys_exe)
from compiler.rtl.synth import parse_stat


class _Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(16, 8)
        self.b = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """A folder shaped like a build output: rtl/fcomp_accel/ of a small ternary MLP, and a report.json with its
    board and the planner's estimate."""
    from compiler.backend.precision import assign_precisions
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.compress.export_onnx import export_compressed_onnx
    from compiler.estimate import estimate
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers
    from compiler.rtl.accel import generate, write_accel
    from compiler.rtl.network import build_network
    from compiler.verify.reference import tensor_ranges

    root = tmp_path_factory.mktemp("synth_small")
    torch.manual_seed(0)
    path = root / "mlp.onnx"
    torch.onnx.export(_Mlp().eval(), torch.randn(1, 16), str(path), input_names=["x"], output_names=["y"],
                      dynamo=False)
    g = import_onnx(path).graph
    plan = plan_layers(g, pe=2, simd=4)
    res = compress(g, plan, CompressionConfig(strategy="pe-wise", target=8))
    g = res.graph
    ref = export_compressed_onnx(g)
    cal = np.random.default_rng(0).random((16, 16), dtype=np.float32)
    prec = assign_precisions(g, tensor_ranges(ref, cal, [n.name for n in g.nodes]), 8, 8)
    net = build_network(g, prec, plan, res.layers)
    out = root / "out"
    write_accel(generate(net), out / "rtl" / "fcomp_accel")
    board = get_board("zcu104")
    est = estimate(g, plan, clock_mhz=board.clock_mhz, act_bits=8, ternary={n.name for n in g.weighted()},
                   weight_bits=8, keep_share=1.0)
    (out / "report.json").write_text(json.dumps({"board": board.to_dict(), "estimate": est.to_dict()}))
    return out


# ---- without Yosys ------------------------------------------------------------------------------------------------
STAT = """
=== fc_thing ===

   Number of wires:                 40
   Number of cells:                 31
     CARRY8                          2
     FDRE                           10
     LUT2                            4
     LUT6                            5
     MUXF7                           1
     RAM64M8                         2
     RAMB18E2                        3
     RAMB36E2                        1
     SRLC32E                         2
     DSP48E2                         1
"""
LTP = """
Longest topological path in fc_thing (length=7):
    0: \\a
"""


def test_summary_of_recorded_yosys_output():
    cells = parse_stat(STAT)
    s = summarize(cells)
    assert s["LUT"] == 9 and s["FF"] == 10 and s["CARRY"] == 2 and s["MUXF"] == 1
    assert s["LUTRAM"] == 2 and s["SRL"] == 2 and s["LUT_MEM"] == 2 * 8 + 2 and s["LUT_TOTAL"] == 9 + 18
    assert s["BRAM36"] == 1 + 1.5 and s["DSP"] == 1 and s["URAM"] == 0
    assert parse_ltp(LTP) == 7 and parse_ltp("no path here") is None


def test_a_yosys_crash_is_one_line_naming_the_signal_and_the_pass():
    from compiler.synth.yosys import failure_text

    log = "19.27. Executing OPT_CLEAN pass (remove unused cells and wires).\n19.28. Executing MEMORY_LIBMAP pass " \
          "(mapping memories to cells).\n"
    assert failure_text(-11, log) == ("yosys killed by SIGSEGV in 'MEMORY_LIBMAP pass (mapping memories to cells)' "
                                      "without an ERROR line (a Yosys crash)")
    assert failure_text(1, log + "ERROR: Can not open file `x.mem`\n") == "ERROR: Can not open file `x.mem`"


def test_instances_are_read_back_and_identical_ones_share_a_key(small_build):
    from compiler.synth.yosys import job_key

    insts, meta = read_accel(small_build / "rtl" / "fcomp_accel")
    names = [i.name for i in insts]
    assert len(names) == len(set(names)) and "u_in" in names and "u_out" in names
    pe = [i for i in insts if i.module == "tpe_layer"]
    assert len(pe) == 2 and all(set(i.roms) == {"CODES_FILE", "INDEX_FILE", "POST_FILE"} for i in pe)
    fifos = [i for i in insts if i.module == "fc_fifo"]
    keys = {job_key(i, "xcup", "v") for i in fifos}
    assert len(keys) < len(fifos)      # same width and depth: one synthesis
    # ROM contents are part of the key: a changed ROM word is another module
    k0 = job_key(pe[0], "xcup", "v")
    rom = pe[0].roms["CODES_FILE"]
    text = rom.read_text()
    try:
        rom.write_text(("1" if text[0] == "0" else "0") + text[1:])
        assert job_key(pe[0], "xcup", "v") != k0
    finally:
        rom.write_text(text)
    assert job_key(pe[0], "xcup", "v") == k0 and job_key(pe[0], "xc7", "v") != k0


def test_editing_one_module_source_only_invalidates_the_modules_built_from_it(tmp_path, monkeypatch):
    """The cache key covers the files a module is built from (its own, the modules it instances, the includes),
    not every source: re-synthesizing digits_resnet after an fc_serialize fix took 8 modules, not 55."""
    from compiler.rtl.layer import RTL_DIR
    from compiler.synth import yosys as Y
    from compiler.synth.instances import Instance

    assert Y.module_files("tpe_layer") == ["tpe_addtree.sv", "tpe_array.sv", "tpe_layer.sv", "tpe_post.sv",
                                           "tpe_util.svh"]
    assert Y.module_files("fc_fifo") == ["fc_fifo.sv"]
    assert "fc_cast.svh" in Y.module_files("fc_mac_layer") and "fc_cast_comb.sv" in Y.module_files("fc_mac_layer")
    with pytest.raises(FcompError, match="no source defines"):
        Y.module_files("nope")
    copy = tmp_path / "rtl"
    shutil.copytree(RTL_DIR, copy)
    monkeypatch.setattr(Y, "RTL_DIR", copy)
    insts = [Instance(f"u_{m}", m, {"N": "4"}, "n1") for m in ("fc_serialize", "tpe_layer", "fc_fifo", "fc_cast")]
    before = {i.module: Y.job_key(i, "xcup", "v") for i in insts}
    (copy / "fc_serialize.sv").write_text((copy / "fc_serialize.sv").read_text() + "\n// edited\n")
    after = {i.module: Y.job_key(i, "xcup", "v") for i in insts}
    assert after["fc_serialize"] != before["fc_serialize"]
    assert all(after[m] == before[m] for m in ("tpe_layer", "fc_fifo", "fc_cast"))
    (copy / "tpe_util.svh").write_text((copy / "tpe_util.svh").read_text() + "\n// edited\n")
    again = {i.module: Y.job_key(i, "xcup", "v") for i in insts}
    assert again["tpe_layer"] != after["tpe_layer"] and again["fc_fifo"] == after["fc_fifo"]


def test_a_tampered_parameter_never_reaches_yosys(small_build, tmp_path):
    acc = tmp_path / "out" / "rtl" / "fcomp_accel"
    shutil.copytree(small_build / "rtl" / "fcomp_accel", acc)
    top = acc / "fcomp_accel.sv"
    top.write_text(top.read_text().replace(".DEPTH(2)", ".DEPTH(2); exec rm)", 1))
    with pytest.raises(FcompError, match="unexpected value|parameter list"):
        read_accel(acc)


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, small_build):
    assert cli.main(["synth", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["synth", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no generated accelerator" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("PATH", str(tmp_path))            # no yosys on PATH
    assert cli.main(["synth", str(small_build)]) == 2
    err = capsys.readouterr().err
    assert "yosys not found" in err and "Traceback" not in err
    monkeypatch.undo()
    assert cli.main(["synth", str(small_build), "--board", "nope"]) == 2
    assert "unknown board" in capsys.readouterr().err


# ---- real Yosys -----------------------------------------------------------------------------------------------------
needs_yosys = pytest.mark.skipif(yosys_exe() is None, reason="yosys is not installed")


@pytest.fixture(scope="module")
def synthesized(small_build, tmp_path_factory):
    """The small build synthesized once with an empty cache: (folder, synth.json, wall seconds)."""
    import os

    cache = tmp_path_factory.mktemp("yosys_cache")
    old = os.environ.get("FCOMP_CACHE_DIR")
    os.environ["FCOMP_CACHE_DIR"] = str(cache)
    try:
        t0 = time.monotonic()
        doc = synth_output(small_build, jobs=2)
        yield small_build, doc, time.monotonic() - t0
    finally:
        if old is None:
            os.environ.pop("FCOMP_CACHE_DIR", None)
        else:
            os.environ["FCOMP_CACHE_DIR"] = old


@pytest.mark.sim
@needs_yosys
def test_synth_json_schema_and_totals_are_the_sum_over_instances(synthesized):
    out, doc, _ = synthesized
    on_disk = json.loads((out / "synth.json").read_text())
    assert on_disk == json.loads(json.dumps(doc))
    assert doc["complete"] and not doc["failed"] and doc["cached_modules"] == 0
    assert doc["tool"]["yosys"].startswith("Yosys") and doc["tool"]["family"] == "xcup"
    insts, _ = read_accel(out / "rtl" / "fcomp_accel")
    assert doc["instances"] == len(insts) == sum(m["count"] for m in doc["modules"])
    assert doc["distinct_modules"] == len(doc["modules"]) < len(insts)
    for r in RESOURCES:    # total = sum over instances = sum over nodes
        assert doc["total"][r] == pytest.approx(sum(m["count"] * m["resources"][r] for m in doc["modules"]))
        assert doc["total"][r] == pytest.approx(sum(n["synth"][r] for n in doc["nodes"]))
    t = doc["total"]
    assert t["LUT"] > 0 and t["FF"] > 0 and t["CARRY"] > 0 and t["DSP"] == 0      # adder-only: no multiplier
    assert t["LUT_TOTAL"] == t["LUT"] + t["LUT_MEM"]
    pe = [m for m in doc["modules"] if m["module"] == "tpe_layer"]
    assert len(pe) == 2 and all(m["resources"]["LUT"] > 50 and m["depth"] >= 2 for m in pe)
    assert all(isinstance(m["depth"], int) and m["seconds"] > 0 for m in doc["modules"])
    # the estimate beside the synthesis, with its ratio, per node and in total
    report = json.loads((out / "report.json").read_text())
    for ek, sk in COMPARE.items():
        c = doc["compare"][ek]
        assert c["synth"] == t[sk] and c["estimate"] == report["estimate"]["total"][ek]
        assert c["ratio"] == (round(c["synth"] / c["estimate"], 3) if c["estimate"] else None)
    assert {n["node"] for n in doc["nodes"]} <= {l["layer"] for l in report["estimate"]["layers"]}
    assert doc["capacity"] == get_board("zcu104").resources and doc["fits"]
    assert doc["deepest_module"]["depth"] == max(m["depth"] for m in doc["modules"])
    text = summary(doc)
    assert f"LUT {t['LUT_TOTAL']:,}/230,400" in text and "estimate" in text


@pytest.mark.sim
@needs_yosys
def test_cost_model_of_the_design_sits_beside_the_synthesis(synthesized):
    """synth.json's `model`: the per-module cost model (fitted on the digits designs at 16-bit activations) applied
    to this 8-bit MLP's instances, which were not in its calibration, compared with Yosys."""
    out, doc, _ = synthesized
    m = doc["model"]
    assert m["not_modelled"] == [] and not m["total_is_lower_bound"]
    assert "digits_resnet" in m["calibration_designs"]
    for r in ("LUT_TOTAL", "FF", "BRAM36"):
        assert m["compare"][r]["synth"] == doc["total"][r]
    assert sum(n["model"]["LUT_TOTAL"] for n in doc["nodes"]) == pytest.approx(m["total"]["LUT_TOTAL"], abs=1)
    ratio = m["compare"]["LUT_TOTAL"]["ratio"]
    print(f"small MLP: LUT synthesized {doc['total']['LUT_TOTAL']:,} vs cost model {m['total']['LUT_TOTAL']:,.0f}"
          f" (x{ratio})")
    # measured 2026-12-02: 2,425 synthesized vs 4,020 model (x0.60): the calibration's PE layers are all from
    # 16-bit digits designs, so a design this small and narrow is over-predicted (README says so); the band
    # catches a model that is off by more than 2x either way
    assert 0.5 <= ratio <= 2.0, ratio
    # the same model is what a build records for its generated design (verify.json network.resources_model)
    from compiler.verify.network import resources_model

    rm = resources_model(out / "rtl" / "fcomp_accel")
    assert rm["total"] == m["total"] and rm["not_modelled"] == []


@pytest.mark.sim
@needs_yosys
def test_second_run_hits_the_cache_with_the_same_figures(synthesized):
    out, doc, first_s = synthesized
    t0 = time.monotonic()
    again = synthesize(out, get_board("zcu104"), jobs=1, estimate=json.loads((out / "report.json").read_text())
                       ["estimate"])
    took = time.monotonic() - t0
    assert again["cached_modules"] == again["distinct_modules"] and again["synth_s"] == 0
    assert again["total"] == doc["total"] and [m["depth"] for m in again["modules"]] == \
        [m["depth"] for m in doc["modules"]]
    assert took < max(5.0, first_s / 5), (took, first_s)


@pytest.mark.sim
@needs_yosys
def test_over_capacity_is_exit_2_with_the_numbers(synthesized, tmp_path, capsys, monkeypatch):
    out, doc, _ = synthesized
    tiny = Board("tiny", "xczu-tiny", "zynquplus", {"lut": 100, "ff": 10_000_000, "dsp": 0, "bram36": 0,
                                                     "uram": 0}, 100.0)
    small = synthesize(out, tiny, jobs=1)          # every module from the cache: the board only changes the check
    assert not small["fits"] and [o["resource"] for o in small["over_capacity"]] == ["lut"]
    with pytest.raises(FcompError, match=r"does not fit tiny: LUT [\d,]+ synthesized vs 100 available"):
        check_capacity(small)
    # the CLI: exit 2, one error line with the numbers, synth.json written, no traceback
    import compiler.boards as boards

    real = boards.list_boards
    monkeypatch.setattr(boards, "list_boards", lambda: [*real(), tiny])
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    assert cli.main(["synth", str(copy), "--board", "tiny"]) == 2
    cap = capsys.readouterr()
    assert "does not fit tiny: LUT" in cap.err and "Traceback" not in cap.err
    assert "synthesized:" in cap.out
    assert json.loads((copy / "synth.json").read_text())["fits"] is False


@pytest.mark.sim
@needs_yosys
def test_report_html_renders_estimate_vs_synthesis_from_synth_json(synthesized, tmp_path):
    from compiler.report.html import _synth_section

    out, doc, _ = synthesized
    html = str(_synth_section(json.loads((out / "synth.json").read_text())))
    assert "Estimate vs synthesis" in html and f"{doc['total']['LUT_TOTAL']:,}" in html
    assert _synth_section(None) == ""


@pytest.mark.sim
@needs_yosys
def test_a_module_over_its_timeout_is_reported_not_waited_for(small_build, tmp_path, monkeypatch):
    monkeypatch.setenv("FCOMP_CACHE_DIR", str(tmp_path / "cache"))
    t0 = time.monotonic()
    doc = synthesize(small_build, get_board("zcu104"), jobs=2, timeout_s=0.5)
    assert time.monotonic() - t0 < 60
    assert not doc["complete"] and doc["failed"] and all(f["status"] == "timeout" for f in doc["failed"])
    with pytest.raises(FcompError, match="timeout"):
        check_capacity(doc)
    assert not any((tmp_path / "cache" / "yosys").glob("*.json"))     # a timeout is not cached


def test_build_synth_refuses_early(small_build, tmp_path, capsys, monkeypatch):
    """`build --synth` checks what synthesis needs before the long stages: no output folder is written."""
    model = small_build.parent / "mlp.onnx"
    out = tmp_path / "b"
    t0 = time.monotonic()
    assert cli.main(["build", str(model), "-o", str(out), "--synth", "--synth-timeout", "0"]) == 2
    assert "--synth-timeout" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["build", str(model), "-o", str(out), "--synth"]) == 2
    assert "yosys not found" in capsys.readouterr().err
    assert time.monotonic() - t0 < 30 and not out.exists()


@pytest.mark.sim
@needs_yosys
def test_a_yosys_run_over_its_memory_cap_fails_alone_and_says_so(small_build, tmp_path, monkeypatch):
    from compiler.synth.yosys import synth_instance

    monkeypatch.setenv("FCOMP_CACHE_DIR", str(tmp_path / "cache"))
    insts, _ = read_accel(small_build / "rtl" / "fcomp_accel")
    pe = next(i for i in insts if i.module == "tpe_layer")
    r = synth_instance(pe, "xcup", 300, use_cache=False, memory_limit_bytes=40 * 2**20)
    assert r["status"] == "error" and r["error"].startswith("out of memory: over the 40 MiB per-job limit")
    assert Path(r["log"]).is_file() and not list((tmp_path / "cache" / "yosys").glob("*.json"))


@pytest.mark.sim
@needs_yosys
def test_a_runtime_loaded_layer_maps_its_weights_to_uram_as_the_cost_model_counts(small_build, tmp_path, monkeypatch):
    """A tpe_layer with WLOAD = 1, URAM = 1 (the form the generator makes for a layer the plan puts in URAM):
    Yosys maps its codes/index columns to URAM288, as many as `costmodel.features` counts, and no ROM file is
    read."""
    import dataclasses

    from compiler.synth.costmodel import predict
    from compiler.synth.yosys import synth_instance

    monkeypatch.setenv("FCOMP_CACHE_DIR", str(tmp_path / "cache"))
    insts, _ = read_accel(small_build / "rtl" / "fcomp_accel")
    pe = next(i for i in insts if i.module == "tpe_layer")
    params = {k: v for k, v in pe.params.items() if k not in ("CODES_FILE", "INDEX_FILE")}
    params.update(WLOAD="1", WLW="64", URAM="1")
    wl = dataclasses.replace(pe, params=params, roms={k: v for k, v in pe.roms.items() if k == "POST_FILE"})
    r = synth_instance(wl, "xcup", 600)
    assert r["status"] == "ok", r
    want = predict("tpe_layer", wl.params)["URAM"]
    assert want >= 1 and r["resources"]["URAM"] == want, (r["resources"], want)
