"""`fcomp verify OUTPUT` re-runs a finished build's checks: it must pass on an untouched build without writing to
it, and fail (exit 1) when the RTL stimulus or the hls4ml weights were tampered with."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from compiler import cli
from rom_defects import flip_a_weight_sign

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
    assert res["network"]["passed"] and res["network"]["frames"] >= 2     # fcomp_accel end to end, re-simulated
    assert _tree_hash(built) == before


def test_verify_fails_on_a_flipped_accelerator_rom_bit_and_names_the_layer(built, tmp_path, capsys):
    """A real ROM defect (one weight code of the classifier, +1 -> -1) in rtl/fcomp_accel/: the re-simulation
    differs from the stored expected frames, exit 1, and the layer-boundary trace names the layer."""
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    info = json.loads((out / "rtl" / "fcomp_accel" / "accel.json").read_text())
    name, node = [(n, d) for n, d in info["nodes"].items() if d["op"] in ("conv", "dense")][-1]
    rom = out / "rtl" / "fcomp_accel" / f"{node['id']}_codes.mem"
    flip_a_weight_sign(rom)
    rc, res = _verify(out, capsys)
    assert rc == 1 and not res["passed"] and res["check"]["passed"]
    assert not res["network"]["passed"] and res["network"]["mismatches"] > 0
    assert res["network"]["first_mismatch_layer"] == name and name in res["message"]


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


def test_verify_fails_on_a_flipped_weight_rom_bit_and_names_the_layer(built, tmp_path, capsys):
    """A defect in the design itself, not in its expectation: one bit of the shipped ternary-code ROM flipped (a +1
    weight, code 01, becomes -1, code 11). The re-simulated RTL then computes other outputs than the build stored."""
    from compiler.rtl.layer import find_layers

    out = tmp_path / "copy"
    shutil.copytree(built, out)
    (layer, rom), = find_layers(out / "rtl").items()
    mem = rom / "codes.mem"
    words = mem.read_text().split()
    for i, w in enumerate(words):
        v = int(w, 16)
        lane = next((l for l in range(len(w) * 2) if (v >> 2 * l) & 3 == 1), None)
        if lane is not None:
            words[i] = format(v | 2 << 2 * lane, f"0{len(w)}x")
            break
    else:
        pytest.fail("no +1 code in the ROM")
    mem.write_text("\n".join(words) + "\n")
    rc, res = _verify(out, capsys)
    assert rc == 1 and not res["passed"] and res["check"]["passed"]
    assert res["rtl"]["layers"][0]["mismatches"] >= 1
    assert f"FAILED: {layer} (" in res["message"], res["message"]     # the line `fcomp verify` prints


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
