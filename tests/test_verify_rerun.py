"""`fcomp verify OUTPUT` re-runs a finished build's checks: it must pass on an untouched build without writing to
it, and fail (exit 1) when the RTL stimulus or the hls4ml weights were tampered with."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from compiler import cli

pytestmark = pytest.mark.sim


def _tree_hash(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, zoo_onnx):
    out = tmp_path_factory.mktemp("verify") / "out"
    rc = cli.main(["build", str(zoo_onnx("digits_cnn")), "--data", "digits", "--epochs", "1", "--target-compression", "21",
                   "--max-accuracy-drop", "100", "-o", str(out),
                   "--check-inputs", "12", "--calibration-inputs", "16", "--rtl-layers", "1", "-q"])
    assert rc == 0
    return out


def _verify(out: Path, capsys, *extra) -> tuple[int, dict]:
    capsys.readouterr()
    rc = cli.main(["verify", str(out), "--json", "-q", *extra])
    return rc, json.loads(capsys.readouterr().out)


def test_verify_passes_and_leaves_the_output_untouched(built, capsys):
    before = _tree_hash(built)
    rc, res = _verify(built, capsys)
    assert rc == 0 and res["passed"] and res["same_as_build"]
    assert res["rtl"]["passed"] and len(res["rtl"]["layers"]) == 1
    assert res["rtl"]["layers"][0]["mismatches"] == 0
    assert _tree_hash(built) == before


def test_verify_fails_on_a_changed_rtl_expectation(built, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    mem = next(out.glob("rtl/*/rom/expected_out.mem"))
    words = mem.read_text().split()
    words[0] = format(int(words[0], 16) ^ 1, "0" + str(len(words[0])) + "x")   # flip one output bit
    mem.write_text("\n".join(words) + "\n")
    rc, res = _verify(out, capsys)
    assert rc == 1 and not res["passed"]
    assert res["check"]["passed"]                      # the C-sim part is still fine
    assert res["rtl"]["layers"][0]["mismatches"] >= 1


def _negate_codes(text: str) -> str:
    return re.sub(r"-?1\b", lambda m: "1" if m.group(0) == "-1" else "-1", text)


def test_verify_fails_when_hls_weights_were_changed(built, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    ternary = {r["scale_layer"] for r in json.loads((out / "report.json").read_text())["backend"]["ternary_layers"]}
    assert ternary
    changed = 0
    for f in sorted((out / "hls" / "firmware" / "weights").glob("w*")):
        if f.suffix == ".txt":
            f.write_text(_negate_codes(f.read_text()))
        else:   # header: only the initializer between the braces
            f.write_text(re.sub(r"\{[^}]*\}", lambda m: _negate_codes(m.group(0)), f.read_text()))
        changed += 1
    assert changed
    rc, res = _verify(out, capsys, "--no-rtl")
    assert rc == 1 and not res["passed"] and not res["same_as_build"]


def test_verify_rejects_a_folder_that_is_not_a_build(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path)]) == 2
    assert "not an fcomp build output" in capsys.readouterr().err
