"""End-to-end builds with a real hls4ml C simulation (g++), checked against ONNX Runtime."""

import json
import re

import numpy as np
import pytest
import torch

import compiler
from compiler.compress.engine import CompressionConfig
from compiler.pipeline import BuildOptions, build

import onnx_builders as ob

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_resnet", "digits_mobilenet"])
def test_digits_models_match_onnx_runtime(tmp_path, zoo_onnx, name):
    """The backend alone (no compression): hls4ml C-sim of each trained digits model vs ONNX Runtime."""
    report = build(BuildOptions(model=zoo_onnx(name), output=tmp_path / "out", n_check=50, compression=None))
    check = report["check"]
    assert check["passed"] and check["top1_agreement"] == 1.0
    assert check["max_abs_error"] < 0.05 * check["output_max_abs"]
    assert check["accuracy_csim"] >= 0.9
    out = tmp_path / "out"
    assert (out / "model.normalized.onnx").is_file()
    assert (out / "hls" / "firmware" / "fcomp_top.cpp").is_file()
    saved = json.loads((out / "report.json").read_text())
    assert saved["check"] == check
    assert [l["op"] for l in saved["layers"]][0] == "input"
    assert set(saved["timings_s"]) >= {"frontend", "hls4ml_convert", "csim_compile", "csim_check"}
    # no compression: every conv/dense is a fixed-point fc_mac_layer in fcomp_accel (issue 10), simulated end to
    # end and bit-exact; the golden model equals the C-sim, so the driver's reference outputs (the golden outputs
    # the RTL matched) are the C-sim's outputs of the check inputs (dequantized, in the ONNX layout)
    golden = report["check"]["golden"]
    assert golden["bit_exact_vs_csim"] and golden["mismatches_vs_csim"] == 0, golden
    net = report["rtl"]["network"]
    assert net["passed"] and net["mismatches"] == 0 and net["frames"] >= 2, net
    assert net["cycles_per_frame_measured"] == net["cycles_per_frame_predicted"], net
    accel = json.loads((out / "rtl" / "fcomp_accel" / "accel.json").read_text())
    kinds = {m["module"] for m in accel["cycle_model"]["modules"]}
    assert "fc_mac_layer" in kinds and "tpe_layer" not in kinds
    d = out / "handoff" / "driver"
    cfg = json.loads((d / "driver.json").read_text())
    assert cfg["design"] == "fcomp_accel" and cfg["rtl_dir"] == "../rtl"
    x, y = np.load(d / "input_reference.npy"), np.load(d / "output_reference.npy")
    n = net["frames"]
    assert len(x) == len(y) == n and y.shape[1:] == tuple(report["model"]["output_shape"][1:])
    with np.load(out / "check_inputs.npz") as f:
        np.testing.assert_array_equal(x, f["x"][:n])
        np.testing.assert_array_equal(np.load(d / "labels_reference.npy"), f["y"][:n])
    assert np.array_equal(y * 2.0 ** cfg["output"]["frac"], np.round(y * 2.0 ** cfg["output"]["frac"]))
    from compiler.verify.reference import run_onnx
    import onnx

    ref = next(iter(run_onnx(onnx.load(str(out / "model.normalized.onnx")), x).values()))
    assert np.array_equal(np.argmax(y.reshape(n, -1), 1), np.argmax(ref.reshape(n, -1), 1))
    assert np.max(np.abs(y - ref.reshape(y.shape))) <= check["max_abs_error"] + 1e-9


def test_dynamo_exported_unet_with_concat_and_upsample_builds_end_to_end(tmp_path):
    """torch's default (dynamo) exporter, a skip branch joined by Concat, nearest upsampling: the whole build
    (no compression) with the C-sim, the golden model, fcomp_accel end to end and the handoff bundle."""
    import warnings

    from test_upsample import _UNet

    torch.manual_seed(0)
    path = tmp_path / "unet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_UNet().eval(), (torch.randn(1, 1, 8, 8),), str(path))
    report = build(BuildOptions(model=path, output=tmp_path / "out", n_check=8, compression=None))
    assert report["check"]["passed"] and report["check"]["golden"]["bit_exact_vs_csim"]
    net = report["rtl"]["network"]
    assert net["passed"] and net["mismatches"] == 0, net
    accel = json.loads((tmp_path / "out" / "rtl" / "fcomp_accel" / "accel.json").read_text())
    kinds = {m["module"] for m in accel["cycle_model"]["modules"]}
    assert {"fc_concat", "fc_upsample"} <= kinds
    assert (tmp_path / "out" / "handoff" / "HANDOFF.md").is_file()


@pytest.fixture(scope="module")
def resnet_build(zoo_onnx, tmp_path_factory):
    """digits_resnet, fine-tuned PE-wise+WPC compression, built once for the tests below."""
    out = tmp_path_factory.mktemp("resnet") / "out"
    cfg = CompressionConfig(epochs=8, target=21, max_drop=100.0)   # the build is under test, not the accuracy
    report = build(BuildOptions(model=zoo_onnx("digits_resnet"), output=out, data="digits", n_check=40,
                                compression=cfg, rtl_layers="2"))
    return out, report


def test_whole_network_rtl_of_digits_resnet(resnet_build):
    """Issue #10: fcomp_accel (every layer of digits_resnet: windows, PE arrays, residual adds, global pool)
    streamed end to end in Verilator: every output word of every frame equals the golden model, with and
    without back-pressure; the golden model equals the C-sim bit for bit and runs the whole test split; the
    measured cycles per frame are within 2% of the cycle model."""
    out, report = resnet_build
    golden = report["check"]["golden"]
    assert golden["bit_exact_vs_csim"] and golden["check_inputs"] == 40
    assert golden["split"] == "test" and golden["inputs"] == 450 and golden["top1_agreement_onnx"] >= 0.99
    net = report["rtl"]["network"]
    assert net["passed"] and net["frames"] >= 2 and net["mismatches"] == 0, net
    assert abs(net["cycles_per_frame_measured"] / net["cycles_per_frame_predicted"] - 1) <= 0.02, net
    verify = json.loads((out / "verify.json").read_text())
    v = verify["network"]
    assert v["backpressure"]["mismatches"] == 0 and v["backpressure"]["status"] == "done"
    assert set(v["fifo_depths"].values()) - {2}, "the residual adds' skip FIFOs are sized"
    accel = out / "rtl" / "fcomp_accel"
    assert (accel / "fcomp_accel.sv").is_file() and list(accel.glob("*.mem"))
    bundle = out / "handoff"
    assert (bundle / "rtl" / "fcomp_accel" / "fcomp_accel_axis.v").is_file()
    assert "-reference fcomp_accel_axis" in (bundle / "build_vivado.tcl").read_text()


def test_bundle_driver_reproduces_the_reference_on_the_simulated_resnet(resnet_build, tmp_path):
    """Issue #14 on a spatial model (NCHW input, residual adds): the bundle's driver.py, in its own process,
    quantizes input_reference.npy, packs it, runs the bundle's RTL in Verilator and gets output_reference.npy
    back exactly; throughput mode reports the cycles the build measured."""
    import subprocess
    import sys

    out, report = resnet_build
    d = out / "handoff" / "driver"
    x = np.load(d / "input_reference.npy")
    assert x.ndim == 4 and x.shape[1:] == tuple(report["model"]["input_shape"][1:])
    r = subprocess.run([sys.executable, str(d / "driver.py"), "--transport", "sim", "--mode", "execute",
                        "--work", str(tmp_path / "w")], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["passed"] and doc["mismatches"] == 0 and doc["frames"] == report["rtl"]["network"]["frames"]
    r = subprocess.run([sys.executable, str(d / "driver.py"), "--transport", "sim", "--mode", "throughput",
                        "--frames", "3", "--work", str(tmp_path / "w")], cwd=tmp_path, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert abs(t["cycles_per_frame"] / report["rtl"]["network"]["cycles_per_frame_measured"] - 1) <= 0.02, t


def test_compressed_digits_resnet_builds_and_matches_compressed_onnx(resnet_build):
    """Fine-tuned PE-wise+WPC compression, then C-sim checked against the compressed model in ONNX Runtime."""
    out, report = resnet_build
    comp, check = report["compression"], report["check"]
    assert comp["ratio"] >= 21 * 0.99 and not comp["data_free"]
    assert comp["accuracy_after"] >= 0.95
    assert check["passed"] and check["top1_agreement_strict"] >= 0.95
    assert check["accuracy_csim"] >= 0.9
    assert (out / "model.compressed.onnx").is_file() and (out / "compression.json").is_file()
    assert report["memory"]["weight_bits"] == sum(l["cost"]["stored_bits"] for l in comp["layers"])
    # the two smallest ternary layers ran on the PE-array RTL (Verilator): bit-exact, every beat on its cycle
    rtl = report["rtl"]
    assert rtl["passed"] and len(rtl["layers"]) == 2
    assert all(l["mismatches"] == 0 and l["cycles_measured"] == l["cycles_predicted"] for l in rtl["layers"])
    verify = json.loads((out / "verify.json").read_text())
    assert verify["simulator"] == "verilator" and "Verilator" in verify["simulator_version"]
    assert all(l["vectors"] > 0 and l["beats_on_predicted_cycle"] for l in verify["layers"])
    assert not list((out / "rtl").glob("*/build_*"))          # simulator builds dropped after a pass
    assert list((out / "rtl").glob("*/rom/*.mem"))            # ROM files and the layer top stay


def test_ternary_layers_are_multiplier_free_in_the_firmware(resnet_build):
    """Issue #5: ternary layers reach hls4ml as int<2> weights, so the generated firmware uses hls4ml's
    `weight_ternary` product for each of them (read back from parameters.h), with the scale and bias in a
    following BatchNormalization stage; the report says so per layer."""
    out, report = resnet_build
    ternary = [l["name"] for l in report["compression"]["layers"] if l["bits"] == 2]
    backend = report["backend"]
    assert [r["layer"] for r in backend["ternary_layers"]] == ternary and ternary
    assert backend["all_ternary_multiplier_free"]
    params = (out / "hls" / "firmware" / "parameters.h").read_text()
    assert params.count("nnet::product::weight_ternary<") == len(ternary)
    rows = {r["name"]: r for r in report["layers"]}
    for r in backend["ternary_layers"]:
        assert r["product"] == "weight_ternary" and r["types"]["weight"] == "int<2>"
        assert f"// {r['scale_layer']}\n" in params and r["scale_stage_product"] == ["mult"]
        assert rows[r["layer"]]["hls4ml_layer"] == r["scale_layer"]
        assert set(rows[r["layer"]]["precision"]) == {"weight", "accum", "scale", "bias", "result"}
        assert 0 <= r["scale_max_rel_error"] < 2.0 ** -10       # 16-bit scales: reported, and small
        # the scale stage shares its multipliers at the conv/dense's pace: ReuseFactor min(layer's, channels)
        block = params.split(f"// {r['scale_layer']}\n")[1]
        rf = int(re.search(r"reuse_factor = (\d+);", block).group(1))
        row = rows[r["layer"]]
        assert rf == min(row["mapping"]["reuse_factor"], row["shape"][0])


def test_rtl_layer_reruns_from_its_folder(resnet_build, tmp_path):
    """A verified layer's folder holds its stimulus and expected outputs: re-simulating it from the files alone
    passes; a corrupted expected output is reported as a mismatch at that beat."""
    import shutil

    from compiler.verify.rtl import rerun_layer

    out, report = resnet_build
    name = report["rtl"]["layers"][0]["layer"]
    folder = out / "rtl" / name
    info = json.loads((folder / "rom" / "layer.json").read_text())
    assert info["test"]["vectors"] == report["rtl"]["layers"][0]["vectors"]
    r = rerun_layer(folder, work_dir=tmp_path / "ok")
    assert r["passed"] and r["mismatches"] == 0 and r["beats_on_predicted_cycle"], r
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    lines = (bad / "rom" / "expected_out.mem").read_text().splitlines()
    lines[1] = f"{int(lines[1], 16) ^ 1:0{len(lines[1])}x}"
    (bad / "rom" / "expected_out.mem").write_text("\n".join(lines) + "\n")
    r = rerun_layer(bad, work_dir=tmp_path / "bad_run")
    assert not r["passed"] and r["mismatches"] == 1 and r["first_mismatch"]["beat"] == 1, r


class _Stem(torch.nn.Module):
    """ResNet's stem at small size: 7x7/2 conv, ReLU, 3x3/2 MaxPool with padding 1, then a head."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 7, 2, 3)
        self.pool = torch.nn.MaxPool2d(3, 2, 1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.avg = torch.nn.AvgPool2d(2, 2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        x = self.avg(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def test_strided_padded_maxpool_and_flatten_order(tmp_path):
    """3x3/2 padded MaxPool (hls4ml's io_stream asserts on it unpatched) and a CHW flatten into Dense."""
    torch.manual_seed(0)
    path = tmp_path / "stem.onnx"
    torch.onnx.export(_Stem().eval(), torch.zeros(1, 3, 32, 32), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    report = build(BuildOptions(model=path, output=tmp_path / "out", n_check=10, n_calibration=16, rtl_layers="none"))
    ops = [l["op"] for l in report["layers"]]
    assert "maxpool" in ops and "avgpool" in ops and "flatten" in ops
    assert report["check"]["max_abs_error"] < 0.02 * report["check"]["output_max_abs"] + 1e-3
    assert report["check"]["top1_agreement"] == 1.0


def test_hostile_names_build_safely(tmp_path):
    """Node and tensor names full of C++/shell metacharacters never reach the generated project."""
    model = ob.evil_names_model()
    path = ob.save(model, tmp_path / "evil.onnx")
    report = compiler.build(path, output=tmp_path / "out", n_check=4, n_calibration=8, rtl_layers="all")
    assert report["rtl"]["passed"]
    assert report["check"]["passed"]
    raw = {n.name for n in model.graph.node} | {v.name for v in model.graph.value_info} | \
          {i.name for i in model.graph.input} | {o.name for o in model.graph.output}
    generated = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*")
                        if p.is_file() and p.suffix in (".cpp", ".h", ".tcl", ".sh", ".sv", ".mem"))
    for name in raw:
        if len(name) > 3 and not name.isidentifier():
            assert name not in generated
    for p in (tmp_path / "out").rglob("*"):
        assert p.resolve().is_relative_to((tmp_path / "out").resolve())
    assert not (tmp_path / "pwned").exists()


class _PoolOut(torch.nn.Module):
    def forward(self, x):
        return torch.flatten(torch.nn.functional.max_pool2d(torch.relu(x), 3, 2, 1), 1)


def test_spatial_output_is_compared_in_onnx_order(tmp_path):
    """A model whose output is a flatten of C x H x W: C-sim streams HWC, the check must reorder to CHW.

    Before the fix the check compared HWC against CHW and failed with max |error| ~2.9."""
    path = tmp_path / "poolout.onnx"
    torch.onnx.export(_PoolOut(), torch.zeros(1, 2, 12, 12), str(path), dynamo=False, opset_version=17)
    report = build(BuildOptions(model=path, output=tmp_path / "out", n_check=5, n_calibration=8, rtl_layers="none"))
    assert report["check"]["max_abs_error"] < 2e-3


def test_rtl_mismatch_fails_the_build_and_keeps_a_waveform(tmp_path, zoo_onnx, monkeypatch):
    """A golden model that disagrees with the RTL (as a corrupted ROM would) ends the build with exit-1 semantics,
    verify.json names the layer, and the re-run with tracing leaves a VCD."""
    import importlib

    golden_mod = importlib.import_module("compiler.rtl.golden")   # the package re-exports the function's name

    real = golden_mod.golden
    monkeypatch.setattr(golden_mod, "golden", lambda layer, x: real(layer, x) + 1)
    from compiler.errors import CheckFailedError

    with pytest.raises(CheckFailedError, match="RTL verification failed"):
        build(BuildOptions(model=zoo_onnx("digits_mlp"), output=tmp_path / "out", n_check=4, rtl_layers="1",
                           rtl_frames=0))
    verify = json.loads((tmp_path / "out" / "verify.json").read_text())
    (layer,) = verify["layers"]
    assert not verify["passed"] and layer["mismatches"] > 0
    assert layer["waveform"] and layer["waveform"].endswith(".vcd")
    assert (tmp_path / "out" / layer["waveform"]).stat().st_size > 0
    assert (tmp_path / "out" / layer["work_dir"]).is_dir()


def test_rtl_verification_with_a_relative_output_folder(tmp_path, zoo_onnx, monkeypatch):
    """`make build` writes to build/... (relative): the simulator runs in another directory, so relative paths
    once crashed the RTL step with a traceback."""
    monkeypatch.chdir(tmp_path)
    report = build(BuildOptions(model=zoo_onnx("digits_mlp"), output="rel/out", data="digits", n_check=4,
                                compression=CompressionConfig(epochs=2, target=21, max_drop=100.0), rtl_layers="all"))
    verify = json.loads((tmp_path / "rel" / "out" / "verify.json").read_text())
    assert report["rtl"]["passed"] and verify["verified_layers"] >= 1
    assert report["rtl"]["network"]["passed"] and verify["network"]["mismatches"] == 0   # digits_mlp end to end
    for entry in verify["layers"]:   # every layer either verified or reported with its reason, never a crash
        assert entry["passed"] is True or (entry["passed"] is None and entry["error"])
