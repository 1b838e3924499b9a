"""Models whose weights sit in an external data file (torch's dynamo exporter, onnx.save_as_external_data):
read from the model's own folder only; every location, file or size that is wrong is one exit-2 line naming the
tensor, and nothing outside the folder is ever read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest

import onnx_builders as B
from compiler.cli import main
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.frontend.inspect import inspect_model


def _save_external(model: onnx.ModelProto, folder: Path, name="m.onnx", location="w.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    onnx.save_model(B.copy(model), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return path


def _edit(path: Path, tensor: str, **entries) -> None:
    """Set (or with None, remove) external_data entries of one tensor, writing the model without its data."""
    m = onnx.load_model(str(path), load_external_data=False)
    t = next(t for t in m.graph.initializer if t.name == tensor)
    have = {e.key: e.value for e in t.external_data}
    for k, v in entries.items():
        if v is None:
            have.pop(k, None)
        else:
            have[k] = str(v)
    del t.external_data[:]
    for k, v in have.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    path.write_bytes(m.SerializeToString())


def _entries(path: Path, tensor: str) -> dict:
    m = onnx.load_model(str(path), load_external_data=False)
    t = next(t for t in m.graph.initializer if t.name == tensor)
    return {e.key: e.value for e in t.external_data}


def _error(path) -> str:
    with pytest.raises(FcompError) as err:
        import_onnx(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and "Traceback" not in msg, msg
    return msg


@pytest.fixture
def model():
    return B.conv_bn_relu_model()


@pytest.fixture
def weight(model):
    """The name of the Conv weight (the initializer every bad-location case points elsewhere)."""
    return next(n for n in model.graph.node if n.op_type == "Conv").input[1]


def test_external_weights_import_like_inline_ones(tmp_path, model, monkeypatch):
    inline = import_onnx(B.save(model, tmp_path / "inline.onnx")).graph
    path = _save_external(model, tmp_path / "ext")
    assert _entries(path, model.graph.initializer[0].name)["location"] == "w.bin"
    monkeypatch.chdir(tmp_path)      # resolved against the model's folder, not the current directory
    got = import_onnx(path)
    for a, b in zip(inline.nodes, got.graph.nodes):
        assert a.op == b.op and a.weights.keys() == b.weights.keys()
        for k in a.weights:
            assert np.array_equal(a.weights[k], b.weights[k]), (a.name, k)
    # the normalized model carries the weights inline (it is written as one file) and runs in ONNX Runtime
    assert not any(t.external_data for t in got.onnx_model.graph.initializer)
    x = B.random_input(model)
    assert np.allclose(B.run_ort(got.onnx_model, x), B.run_ort(model, x), atol=1e-5)


def test_location_with_dotdot_is_refused_and_never_read(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    os.replace(tmp_path / "m" / "w.bin", tmp_path / "w.bin")          # a valid file, but one folder up
    _edit(path, weight, location="../w.bin")
    msg = _error(path)
    assert f"initializer '{weight}'" in msg and "outside the model's folder" in msg, msg


def test_dotdot_that_stays_inside_is_fine(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    (tmp_path / "m" / "sub").mkdir()
    _edit(path, weight, location="sub/../w.bin")
    import_onnx(path)


def test_absolute_location_is_refused(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    _edit(path, weight, location=str((tmp_path / "m" / "w.bin").resolve()))   # even pointing at the real file
    msg = _error(path)
    assert f"initializer '{weight}'" in msg and "absolute path" in msg, msg


def test_symlink_out_of_the_folder_is_refused(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    (tmp_path / "elsewhere").mkdir()
    os.replace(tmp_path / "m" / "w.bin", tmp_path / "elsewhere" / "w.bin")
    (tmp_path / "m" / "w.bin").symlink_to(tmp_path / "elsewhere" / "w.bin")
    msg = _error(path)
    assert f"initializer '{weight}'" in msg and "outside the model's folder" in msg, msg
    # a symlink that stays inside the folder is followed
    os.replace(tmp_path / "elsewhere" / "w.bin", tmp_path / "m" / "real.bin")
    (tmp_path / "m" / "w.bin").unlink()
    (tmp_path / "m" / "w.bin").symlink_to("real.bin")
    import_onnx(path)


def test_missing_file(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    (tmp_path / "m" / "w.bin").unlink()
    msg = _error(path)
    assert "external data file 'w.bin' is missing" in msg and "initializer '" in msg, msg


@pytest.mark.parametrize("what", ["directory", "fifo"])
def test_location_that_is_not_a_regular_file(tmp_path, model, weight, what):
    path = _save_external(model, tmp_path / "m")
    target = tmp_path / "m" / "odd"
    target.mkdir() if what == "directory" else os.mkfifo(target)     # a FIFO must not block the read
    _edit(path, weight, location="odd")
    msg = _error(path)
    assert f"initializer '{weight}'" in msg and ("not a regular file" in msg or "cannot be opened" in msg), msg


def test_offsets_and_lengths_that_do_not_match(tmp_path, model, weight):
    path = _save_external(model, tmp_path / "m")
    e = _entries(path, weight)
    size = (tmp_path / "m" / "w.bin").stat().st_size
    n = int(e["length"])
    cases = [({"offset": size - n // 2}, "runs past the end"),              # the tensor does not fit
             ({"length": n - 4}, "does not match the tensor"),              # too short for its dims
             ({"length": None, "offset": 0}, "does not match the tensor"),  # no length: the rest of the file
             ({"offset": -4}, "not a non-negative integer"),
             ({"length": "12abc"}, "not a non-negative integer"),
             ({"location": None}, "no usable 'location'"),
             ({"checksum": "0" * 40}, "checksum"),
             ({"sneaky": "1"}, "unknown key")]
    for change, expect in cases:
        _edit(path, weight, **{"offset": e.get("offset", "0"), "length": e["length"], "location": "w.bin",
                               "checksum": None, "sneaky": None, **change})
        msg = _error(path)
        assert f"initializer '{weight}'" in msg and expect in msg, (change, msg)
    _edit(path, weight, offset=e.get("offset", "0"), length=e["length"], sneaky=None)
    import_onnx(path)                                                       # restored: fine again


def test_cli_exit_2_one_line_and_inspect_explains(tmp_path, model, weight, capsys):
    path = _save_external(model, tmp_path / "m")
    d = inspect_model(path)
    assert d["supported"], d["problems"]
    assert any(s["pass"] == "ExternalData" and "'w.bin'" in s["changes"][0] for s in d["normalization"])
    _edit(path, weight, location="../" * 40 + "etc/passwd")
    capsys.readouterr()
    assert main(["build", str(path), "-o", str(tmp_path / "out")]) == 2
    err = [l for l in capsys.readouterr().err.strip().splitlines() if "error" in l]
    assert len(err) == 1 and weight in err[0] and "outside the model's folder" in err[0], err
    assert not (tmp_path / "out").exists()
    d = inspect_model(path)
    assert not d["supported"] and any("outside the model's folder" in p for p in d["problems"])
    assert main(["inspect", str(path)]) == 2
