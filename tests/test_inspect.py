"""`inspect_model` / `format_inspect`: what a model contains and every reason fcomp cannot build it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

import onnx_builders as B
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.frontend.inspect import format_inspect, inspect_model

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"


def test_zoo_model_all_supported_and_totals_match_the_ir(zoo_onnx):
    path = zoo_onnx("digits_cnn")
    d = inspect_model(path)
    json.dumps(d)  # machine-readable as it is (--json)
    assert d["supported"] and not d["problems"] and d["import_error"] is None
    assert d["opset"] == 17 and d["ir_version"] >= 7
    assert d["inputs"] == [{"name": "input", "shape": [1, 1, 16, 16], "dtype": "float"}]
    assert all(r["supported"] and not r["problems"] for r in d["nodes"])
    graph = import_onnx(path).graph
    assert d["totals"]["params"] == sum(n.params for n in graph.nodes)
    assert d["totals"]["macs"] == sum(n.macs() for n in graph.nodes)
    assert d["totals"]["unsupported_nodes"] == 0 and d["totals"]["nodes"] == len(d["nodes"])
    gemms = [r for r in d["nodes"] if r["op"] == "Gemm"]
    assert gemms and all(r["normalized"] == "becomes MatMul + Add (bias)" for r in gemms)
    text = format_inspect(d)
    assert "/0/Conv" in text and "18,432" in text and "supported: fcomp can build this model" in text


def _three_problem_model():
    """x -> Conv(dilations 2) 'dconv' -> Relu -> MaxPool(ceil_mode) 'pool' -> Softplus 'act': three separate
    reasons (the first was a grouped conv until grouped convs were built)."""
    r = B.rng(0)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="dconv", kernel_shape=[3, 3], dilations=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             helper.make_node("Softplus", ["p"], ["y"], name="act")]
    return B.checked(B.make_model(nodes, [B.vi("x", [1, 4, 7, 7])], [B.vi("y", [1, 4, 2, 2])],
                                  [B.init("W", r.standard_normal((4, 4, 3, 3)).astype(np.float32)),
                                   B.init("B", np.zeros(4, np.float32))]))


def test_unsupported_model_lists_every_problem_by_node(tmp_path):
    path = B.save(_three_problem_model(), tmp_path / "three.onnx")
    with pytest.raises(FcompError):  # the build stops at the first ...
        import_onnx(path)
    d = inspect_model(path)  # ... inspect lists all of them
    assert not d["supported"] and d["import_error"]
    rows = {r["name"]: r for r in d["nodes"]}
    assert not rows["dconv"]["supported"] and any("dilations" in p for p in rows["dconv"]["problems"])
    assert not rows["pool"]["supported"] and any("ceil_mode" in p for p in rows["pool"]["problems"])
    assert not rows["act"]["supported"] and rows["act"]["problems"] == ["unsupported op"]
    assert rows["relu"]["supported"]
    assert d["totals"]["unsupported_nodes"] == 3
    assert rows["dconv"]["params"] == 4 * 4 * 9 + 4 and rows["dconv"]["macs"] == 4 * 3 * 3 * 4 * 9
    text = format_inspect(d)
    for name in ("dconv", "pool", "act"):
        line = next(line for line in text.splitlines() if f" {name} " in line)
        assert " NO " in line
    assert "NOT supported: 3 node(s)" in text


def test_lstm_model_is_inspectable(tmp_path):
    d = inspect_model(B.save(B.lstm_model(), tmp_path / "lstm.onnx"))
    (row,) = d["nodes"]
    assert row["name"] == "lstm" and row["op"] == "LSTM" and not row["supported"]
    assert not d["supported"]


def test_normalization_is_described(tmp_path):
    d = inspect_model(B.save(B.conv_bn_relu_model(), tmp_path / "cbr.onnx"))
    assert d["supported"]
    passes = {step["pass"]: step["changes"] for step in d["normalization"]}
    assert passes["FoldBatchNorm"] == ["BatchNormalization 'bn' folded into the Conv before it"]
    rows = {r["name"]: r for r in d["nodes"]}
    assert rows["bn"]["normalized"] == "folded into the Conv before it" and rows["bn"]["params"] == 16

    d = inspect_model(B.save(B.identity_dropout_constant_model(), tmp_path / "idc.onnx"))
    passes = {step["pass"]: step["changes"] for step in d["normalization"]}
    assert any("Identity 'id_act'" in c for c in passes["RemoveIdentities"])
    assert any("Dropout 'drop'" in c for c in passes["RemoveIdentities"])
    assert any("Constant 'const_w'" in c for c in passes["ConstantsToInitializers"])
    rows = {r["name"]: r for r in d["nodes"]}
    assert rows["conv"]["params"] == 4 * 2 * 9  # weights from a Constant node count

    d = inspect_model(B.save(B.dynamic_batch_model(), tmp_path / "dyn.onnx"))
    assert d["inputs"][0]["shape"] == ["N", 1, 4, 4]
    assert d["nodes"][0]["output_shape"][0] == 1  # shapes shown with the batch fixed to 1
    assert any("batch dimension -> 1" in c for s in d["normalization"] for c in s["changes"])


def test_model_level_problems(tmp_path):
    d = inspect_model(B.save(B.two_outputs_model(), tmp_path / "two.onnx"))
    assert not d["supported"] and any("2 outputs" in p for p in d["problems"])
    assert len(d["nodes"]) == 2

    d = inspect_model(CORPUS / "const_external_data_cwd.onnx")  # never follows external data
    assert not d["supported"] and any("secret.bin" in p for p in d["problems"])

    d = inspect_model(CORPUS / "nan_conv_weights.onnx")
    assert not d["supported"] and any("NaN" in p for p in d["problems"])


def test_unreadable_files_raise(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(FcompError, match="not a readable ONNX model"):
        inspect_model(bad)
    with pytest.raises(FcompError, match="no such file"):
        inspect_model(tmp_path / "missing.onnx")


def test_hostile_names_stay_one_row_each(tmp_path):
    model = B.evil_names_model()
    d = inspect_model(B.save(model, tmp_path / "evil.onnx"))
    assert d["supported"]
    text = format_inspect(d)
    assert all(line.isprintable() for line in text.splitlines())
    table = text.split("\n-")[1].splitlines()[1:]
    assert len([line for line in table if line.strip()]) == len(model.graph.node)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.onnx")))
def test_inspect_never_crashes_on_the_fuzz_corpus(name):
    try:
        d = inspect_model(CORPUS / name)
    except FcompError:
        return
    json.dumps(d)
    format_inspect(d)
    assert d["supported"] == (d["import_error"] is None)


def test_inspect_agrees_with_the_build_on_a_reducemean_without_value_info(tmp_path):
    """torch's legacy exporter writes `x.mean((2, 3))` as ReduceMean without keepdims and no value_info: the
    build rewrites it (shapes inferred on load), and inspect's pass-by-pass copy said NO until it inferred shapes
    too (a supported model with an unsupported row)."""
    r = B.rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("ReduceMean", ["c"], ["y"], name="mean", axes=[2, 3], keepdims=0)]
    m = B.make_model(nodes, [B.vi("x", [1, 1, 4, 4])], [B.vi("y", [1, 2])],
                     [B.init("w", r.standard_normal((2, 1, 3, 3)).astype(np.float32))])
    del m.graph.value_info[:]
    d = inspect_model(B.save(m, tmp_path / "mean.onnx"))
    row = next(r for r in d["nodes"] if r["op"] == "ReduceMean")
    assert d["supported"] and row["supported"] and "GlobalAveragePool" in row["normalized"], row
