"""compiler.compress.export_onnx (IR -> model.compressed.onnx with visible ternary codes and scales) and the
frontend's FoldConstantWeights pass that reads such files back."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import onnx_builders as B
from compiler.compress.export_onnx import export_compressed_onnx
from compiler.compress.torch_ir import IRModule
from compiler.frontend import import_onnx
from compiler.frontend.passes import FoldConstantWeights, run_passes
from compiler.ir import Graph
from compiler.verify.reference import run_onnx
from models.zoo import MODELS

SMALL = [n for n in MODELS if n != "resnet18"]


def _import(path: str):
    return B.cached_import(path)


def _inputs(shape, count, seed=11):
    return B.gaussian_inputs(shape, count, seed)


def _torch(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def ternarize(graph: Graph) -> Graph:
    """Crude ternarization: codes = sign(W) * (|W| > 0.7 mean|W|), scale = mean |W| over the nonzero codes of each
    output channel; W becomes codes * scale (IR layout)."""
    nodes = []
    for n in graph.nodes:
        if n.op in ("conv", "dense"):
            w = n.weights["W"]
            wc = w if n.op == "conv" else w.T                      # output channel first
            flat = wc.reshape(wc.shape[0], -1)
            codes = (np.sign(flat) * (np.abs(flat) > 0.7 * np.abs(flat).mean())).astype(np.int8)
            nz = np.maximum((codes != 0).sum(1), 1)
            scale = ((np.abs(flat) * (codes != 0)).sum(1) / nz).astype(np.float32)
            codes = codes.reshape(wc.shape)
            if n.op == "dense":
                codes = codes.T.copy()
            shape = (-1, 1, 1, 1) if n.op == "conv" else (1, -1)
            tw = (codes.astype(np.float32) * scale.reshape(shape)).astype(np.float32)
            n = dataclasses.replace(n, weights={**n.weights, "W": tw, "codes": codes, "scale": scale})
        nodes.append(n)
    return graph.replace(nodes=nodes)


@pytest.fixture(scope="module")
def ternary_cnn(zoo_onnx, tmp_path_factory):
    graph = ternarize(_import(str(zoo_onnx("digits_cnn"))).graph)
    path = tmp_path_factory.mktemp("export") / "model.compressed.onnx"
    return graph, export_compressed_onnx(graph, path), path


def test_compressed_file_shows_codes_and_scales(ternary_cnn):
    graph, model, path = ternary_cnn
    on_disk = onnx.load(str(path))
    onnx.checker.check_model(on_disk, full_check=True)
    assert on_disk.ir_version == 8 and [(o.domain, o.version) for o in on_disk.opset_import] == [("", 17)]
    assert {p.key: p.value for p in on_disk.metadata_props}["fcomp.compressed"] == "1"
    assert on_disk.graph.input[0].name == graph.nodes[0].name and on_disk.graph.output[0].name == graph.outputs[0]
    inits = {t.name: t for t in on_disk.graph.initializer}
    ops = [n.op_type for n in on_disk.graph.node]
    weighted = graph.weighted()
    assert ops.count("Cast") == ops.count("Mul") == len(weighted)
    for n in weighted:
        codes = inits[f"{n.name}_codes"]
        assert codes.data_type == TensorProto.INT8
        np.testing.assert_array_equal(numpy_helper.to_array(codes), n.weights["codes"])
        assert set(np.unique(numpy_helper.to_array(codes))) <= {-1, 0, 1}
        scale = numpy_helper.to_array(inits[f"{n.name}_scale"])
        assert scale.dtype == np.float32
        assert scale.shape == ((n.shape[0], 1, 1, 1) if n.op == "conv" else (1, n.shape[0]))
        np.testing.assert_array_equal(scale.reshape(-1), n.weights["scale"])
        # Cast(codes) -> Mul(., scale) -> the Conv/MatMul weight input
        cast = next(c for c in on_disk.graph.node if c.op_type == "Cast" and c.input[0] == codes.name)
        mul = next(c for c in on_disk.graph.node if c.op_type == "Mul" and cast.output[0] in c.input)
        assert list(mul.input) == [cast.output[0], f"{n.name}_scale"]
        user = next(c for c in on_disk.graph.node if mul.output[0] in c.input)
        assert user.op_type in ("Conv", "MatMul") and list(user.input).index(mul.output[0]) == 1
    assert not any(t.data_type == TensorProto.FLOAT and t.name.endswith("_W") for t in on_disk.graph.initializer)


def test_compressed_onnx_runs_like_the_module(ternary_cnn):
    graph, model, path = ternary_cnn
    x = _inputs(graph.nodes[0].shape, 3)
    want = _torch(IRModule(graph).eval(), x)
    np.testing.assert_allclose(run_onnx(onnx.load(str(path)), x)[graph.outputs[0]], want, atol=1e-5, rtol=0)


def test_reimported_compressed_onnx_has_effective_weights(ternary_cnn):
    graph, model, path = ternary_cnn
    result = import_onnx(path)
    g2 = result.graph
    assert not any(n.op_type in ("Cast", "Mul") for n in result.onnx_model.graph.node)
    assert [(n.name, n.op, n.inputs, n.shape) for n in g2.nodes] == [(n.name, n.op, n.inputs, n.shape)
                                                                      for n in graph.nodes]
    for n in graph.weighted():
        scale = n.weights["scale"].reshape((-1, 1, 1, 1) if n.op == "conv" else (1, -1))
        np.testing.assert_allclose(g2.node(n.name).weights["W"], n.weights["codes"] * scale, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(g2.node(n.name).weights["b"], n.weights["b"])
    x = _inputs(graph.nodes[0].shape, 3, seed=12)
    want = _torch(IRModule(graph).eval(), x)
    np.testing.assert_allclose(_torch(IRModule(g2).eval(), x), want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(run_onnx(result.onnx_model, x)[g2.outputs[0]], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", SMALL)
def test_plain_export_matches_normalized_model(name, zoo_onnx, tmp_path):
    result = _import(str(zoo_onnx(name)))
    model = export_compressed_onnx(result.graph, tmp_path / "m.onnx")
    assert not any(n.op_type in ("Cast", "Mul") for n in model.graph.node)
    x = _inputs(result.graph.nodes[0].shape, 2)
    out = result.graph.outputs[0]
    np.testing.assert_allclose(run_onnx(model, x)[out], run_onnx(result.onnx_model, x)[out], atol=1e-5, rtol=0)
    again = import_onnx(tmp_path / "m.onnx").graph
    # by position: a re-import may rename (names.sanitize is not idempotent on cut names with "__")
    assert [n.op for n in again.nodes] == [n.op for n in result.graph.nodes]
    for a, n in zip(again.weighted(), result.graph.weighted()):
        np.testing.assert_array_equal(a.weights["W"], n.weights["W"])


def test_export_rejects_inconsistent_ternary_weights(zoo_onnx, tmp_path):
    graph = ternarize(_import(str(zoo_onnx("digits_mlp"))).graph)
    fc = graph.weighted()[0]

    def with_weights(**w):
        return graph.replace(nodes=[dataclasses.replace(n, weights={**n.weights, **w}) if n is fc else n
                                    for n in graph.nodes])
    with pytest.raises(ValueError, match="codes \\* scale"):
        export_compressed_onnx(with_weights(W=fc.weights["W"] * 2), tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="-1, 0, \\+1"):
        export_compressed_onnx(with_weights(codes=fc.weights["codes"] * 2), tmp_path / "b.onnx")
    with pytest.raises(ValueError, match="scale"):
        export_compressed_onnx(with_weights(scale=fc.weights["scale"][:-1]), tmp_path / "c.onnx")
    assert not list(tmp_path.iterdir())  # nothing written, no temp files left


# ---- FoldConstantWeights alone --------------------------------------------------------------------------------
def _fold_model():
    """x(1,2,5,5) -> Conv(W = Mul(Cast(int8 codes), Unsqueeze(Div(Cast(Div(int64 a, int64 b)), ten)))) -> Relu
    -> Flatten -> MatMul(Transpose(Squeeze(Wt))) -> Add(Reshape(bias (1,4))) -> y(1,4)."""
    r = np.random.default_rng(3)
    codes = r.integers(-1, 2, (3, 2, 3, 3)).astype(np.int8)
    num, den = np.array([-7, 7, 9], np.int64), np.array([2, 2, -4], np.int64)  # ONNX truncates: -3, 3, -2
    wt = r.standard_normal((1, 4, 27)).astype(np.float32)
    inits = [B.init("codes", codes), B.init("num", num), B.init("den", den), B.init("ten", np.array(10, np.float32)),
             B.init("axes", np.array([1, 2, 3], np.int64)), B.init("sq_axes", np.array([0], np.int64)),
             B.init("Wt", wt), B.init("bias", r.standard_normal((1, 4)).astype(np.float32)),
             B.init("bshape", np.array([-1], np.int64)), B.init("cb", r.standard_normal(3).astype(np.float32))]
    nodes = [helper.make_node("Cast", ["codes"], ["codes_f"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Div", ["num", "den"], ["q"], name="idiv"),
             helper.make_node("Cast", ["q"], ["qf"], name="cast_q", to=TensorProto.FLOAT),
             helper.make_node("Div", ["qf", "ten"], ["s"], name="fdiv"),
             helper.make_node("Unsqueeze", ["s", "axes"], ["s4"], name="unsq"),
             helper.make_node("Mul", ["codes_f", "s4"], ["W"], name="dequant"),
             helper.make_node("Conv", ["x", "W", "cb"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["rl"], name="relu"),
             helper.make_node("Flatten", ["rl"], ["f"], name="flat"),
             helper.make_node("Squeeze", ["Wt", "sq_axes"], ["Wt2"], name="sq"),
             helper.make_node("Transpose", ["Wt2"], ["Wm"], name="tr", perm=[1, 0]),
             helper.make_node("MatMul", ["f", "Wm"], ["m"], name="mm"),
             helper.make_node("Reshape", ["bias", "bshape"], ["b1"], name="rs"),
             helper.make_node("Add", ["m", "b1"], ["y"], name="add")]
    model = B.checked(B.make_model(nodes, [B.vi("x", [1, 2, 5, 5])], [B.vi("y", [1, 4])], inits))
    w = codes.astype(np.float32) * (np.array([-3, 3, -2], np.float32) / np.float32(10)).reshape(-1, 1, 1, 1)
    return model, w, wt[0].T


def test_fold_constant_weights_alone():
    model, w, wm = _fold_model()
    x = B.random_input(model)
    before = B.run_ort(model, x)
    folded = run_passes(B.copy(model), [FoldConstantWeights()])
    onnx.checker.check_model(folded, full_check=True)
    assert [n.op_type for n in folded.graph.node] == ["Conv", "Relu", "Flatten", "MatMul", "Add"]
    inits = {t.name: numpy_helper.to_array(t) for t in folded.graph.initializer}
    assert set(inits) == {"W", "cb", "Wm", "b1"}  # the inputs of folded nodes are gone
    np.testing.assert_array_equal(inits["W"], w)
    np.testing.assert_array_equal(inits["Wm"], wm)
    assert inits["b1"].shape == (4,)
    np.testing.assert_allclose(B.run_ort(folded, x), before, atol=1e-6, rtol=0)
    assert FoldConstantWeights().apply(folded)[1] is False


def test_fold_leaves_activation_ops_and_graph_outputs():
    r = np.random.default_rng(0)
    nodes = [helper.make_node("Mul", ["x", "k"], ["xm"], name="scale_act"),
             helper.make_node("Relu", ["xm"], ["y"], name="relu"),
             helper.make_node("Transpose", ["k2"], ["kt"], name="tr_out", perm=[1, 0])]
    model = B.make_model(nodes, [B.vi("x", [1, 3])], [B.vi("y", [1, 3]), B.vi("kt", [2, 1])],
                         [B.init("k", r.standard_normal(3).astype(np.float32)),
                          B.init("k2", r.standard_normal((1, 2)).astype(np.float32))])
    folded, changed = FoldConstantWeights().apply(B.copy(model))
    assert not changed and [n.op_type for n in folded.graph.node] == ["Mul", "Relu", "Transpose"]


def test_import_folds_weight_expressions(tmp_path):
    model, w, wm = _fold_model()
    result = import_onnx(B.save(model, tmp_path / "fold.onnx"))
    conv, dense = result.graph.weighted()
    np.testing.assert_array_equal(conv.weights["W"], w)
    np.testing.assert_array_equal(dense.weights["W"], wm)
    x = B.random_input(model, seed=4)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5, rtol=0)
