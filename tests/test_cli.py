"""The CLI's contract: exit codes, clear one-line errors, no half-written output folders."""

import json
import os
import subprocess
import sys

import pytest

from compiler.cli import main

import onnx_builders as ob


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "fcomp 0.1.0" in capsys.readouterr().out


def test_no_command_is_usage_error():
    assert main([]) == 2


def test_boards_lists_all(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for b in ("zcu104", "zcu102", "ultra96v2", "kv260", "pynq-z2", "alveo-u250"):
        assert b in out


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 50])
def test_bad_file_exit_2_no_output(tmp_path, capsys, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    out = tmp_path / "out"
    assert main(["build", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.onnx"]   # no temporary folder left either


def test_unsupported_op_names_node_and_op(tmp_path, capsys):
    path = ob.save(ob.unsupported_op_model("Softplus", "my_softplus"), tmp_path / "m.onnx")
    assert main(["build", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "my_softplus" in err and "Softplus" in err
    assert len([l for l in err.splitlines() if "error" in l]) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_board_exit_2(tmp_path, capsys, zoo_onnx):
    assert main(["build", str(zoo_onnx("digits_mlp")), "--board", "nope", "-o", str(tmp_path / "o")]) == 2
    assert "zcu104" in capsys.readouterr().err


def test_non_empty_output_needs_force(tmp_path, capsys, zoo_onnx):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous build")
    assert main(["build", str(zoo_onnx("digits_mlp")), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "previous build"


def test_console_script_runs_outside_repo(tmp_path):
    """The installed entry point works from another folder (boards come from package data)."""
    exe = os.path.join(os.path.dirname(sys.executable), "fcomp")
    r = subprocess.run([exe, "boards"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "xczu7ev-ffvc1156-2-e" in r.stdout


@pytest.mark.sim
def test_check_failure_exit_1_keeps_output(tmp_path, capsys, zoo_onnx):
    out = tmp_path / "out"
    # an agreement bound above 100% cannot be met: exercises the exit-1 path with a real C-sim run
    assert main(["build", str(zoo_onnx("digits_mlp")), "-o", str(out), "--min-agreement", "1.01",
                 "--check-inputs", "5"]) == 1
    assert "check failed" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["check"]["passed"] is False and report["check"]["top1_agreement"] == 1.0


def test_non_editable_install_carries_board_files(tmp_path):
    """`pip install .` (a wheel, not the editable checkout) gives a working fcomp with its board files, RTL and
    HLS sources."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"), root],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "wheel").glob("fcomp-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    code = ("import compiler, compiler.cli as c; print(compiler.__file__); c.main(['boards']); "
            "from compiler.handoff.axi import hls_dir; from compiler.rtl.layer import RTL_DIR; "
            "print(sorted(p.name for p in hls_dir().glob('*.cpp')), (RTL_DIR / 'tpe_layer.sv').is_file())")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(str(tmp_path / "site"))
    assert "xczu7ev-ffvc1156-2-e" in r.stdout and "alveo-u250" in r.stdout
    # the handoff's HLS C++ and the PE-array RTL travel as package data too
    assert r.stdout.splitlines()[-1] == "['fcomp_top_axi.cpp', 'fcomp_top_axi_test.cpp'] True"


def test_compress_subcommand_writes_compressed_model(tmp_path, capsys, zoo_onnx):
    """`fcomp compress` end to end (it once crashed on a build-only option)."""
    out = tmp_path / "c"
    assert main(["compress", str(zoo_onnx("digits_mlp")), "--data", "digits", "--epochs", "2",
                 "--target-compression", "12", "--max-accuracy-drop", "100", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ratio"] >= 12 * 0.99 and summary["strategy"] == "pe-wise+wpc" and not summary["data_free"]
    assert {p.name for p in out.iterdir()} == {"model.normalized.onnx", "model.compressed.onnx", "compression.json"}
    doc = json.loads((out / "compression.json").read_text())
    assert len(doc["history"]) == 2 and doc["config"]["epochs"] == 2


def test_compress_accuracy_budget_and_ceiling(tmp_path, capsys, zoo_onnx):
    """An explicit target whose test drop exceeds the budget exits 1 with the output kept; a target above the
    model's ceiling exits 2 before training, naming the ceiling; without a target the search reports its probes."""
    model = str(zoo_onnx("digits_mlp"))
    out = tmp_path / "over"
    assert main(["compress", model, "--data", "digits", "--epochs", "1", "--target-compression", "40",
                 "--max-accuracy-drop", "0", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "accuracy budget exceeded" in err and "--max-accuracy-drop 0" in err
    doc = json.loads((out / "compression.json").read_text())
    acc = doc["accuracy"]
    assert acc["drop_points"] > 0 and acc["test_inputs"] == 450 and acc["validation_inputs"] > 0
    assert doc["search"]["passed"] is False and doc["ratio_weights_only"] > doc["ratio"]
    assert main(["compress", model, "--data", "digits", "--target-compression", "5000",
                 "-o", str(tmp_path / "ceil")]) == 2
    assert "ceiling of" in capsys.readouterr().err and not (tmp_path / "ceil").exists()
    assert main(["compress", model, "--data", "digits", "--epochs", "1", "--max-accuracy-drop", "100",
                 "-o", str(tmp_path / "search"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    probes = s["search"]["probes"]
    assert s["search"]["mode"] == "search" and s["search"]["passed"] and len(probes) >= 2
    # the unpruned ratio first (the noisy check's reference), then from 21x up
    assert probes[0]["target"] < 21 == probes[1]["target"] and all(p["within_budget"] for p in probes)
    assert s["target_ratio"] == max(p["target"] for p in probes) <= s["search"]["ceiling_ratio"]
    assert main(["compress", model, "--max-accuracy-drop", "1", "-o", str(tmp_path / "df")]) == 2
    assert "needs labelled data" in capsys.readouterr().err


def test_compress_data_free_says_so(tmp_path, capsys, zoo_onnx):
    assert main(["compress", str(zoo_onnx("digits_mlp")), "-o", str(tmp_path / "c")]) == 0
    captured = capsys.readouterr()
    assert "DATA-FREE" in captured.err and "DATA-FREE" in captured.out
