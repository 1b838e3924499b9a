"""What torch's dynamo exporter (the default of torch.onnx.export in torch 2.9+) writes, normalized: each pass
alone on a hand-built model (structure, and ONNX Runtime computing the same before and after), then real
exports of a small CNN through import_onnx, checked against ONNX Runtime."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import onnx_builders as B
from compiler.errors import UnsupportedModelError
from compiler.frontend import import_onnx
from compiler.frontend.inspect import inspect_model
from compiler.frontend.passes import (CastLikeToCast, FoldConstantWeights, ReduceMeanToGlobalAveragePool,
                                      ShapeToConstant, run_passes)

TOL = 1e-5


def ops(model):
    return [n.op_type for n in model.graph.node]


def same_outputs(before, after, seeds=(0, 1)):
    for seed in seeds:
        x = B.random_input(before, seed)
        want, got = B.run_ort(before, x), B.run_ort(after, x)
        assert want.shape == got.shape and float(np.max(np.abs(want - got))) < TOL


def model18(nodes, inputs, outputs, inits=(), opset=18):
    m = B.make_model(nodes, inputs, outputs, inits)
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("", opset))
    return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def applied(pass_, model):
    after = run_passes(B.copy(model), [pass_])
    onnx.checker.check_model(after)
    return after


# ---- ReduceMeanToGlobalAveragePool -----------------------------------------------------------------------------
@pytest.mark.parametrize("axes", [[2, 3], [-1, -2], [3, -2]])
def test_reducemean_keepdims_becomes_globalaveragepool(axes):
    m = model18([helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=1)],
                [B.vi("x", [1, 3, 5, 4])], [B.vi("y", [1, 3, 1, 1])], [B.init("axes", np.array(axes, np.int64))])
    after = applied(ReduceMeanToGlobalAveragePool(), m)
    assert ops(after) == ["GlobalAveragePool"] and after.graph.node[0].name == "mean"
    assert not after.graph.initializer                       # the axes constant is dropped
    same_outputs(m, after)


def test_reducemean_without_keepdims_becomes_gap_and_flatten():
    """opset 17 form (axes attribute), keepdims=0: (1, C) out, as `x.mean((2, 3))` exports."""
    m = B.make_model([helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[2, 3], keepdims=0)],
                     [B.vi("x", [1, 6, 3, 3])], [B.vi("y", [1, 6])])
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    after = applied(ReduceMeanToGlobalAveragePool(), m)
    assert ops(after) == ["GlobalAveragePool", "Flatten"] and after.graph.node[1].output[0] == "y"
    same_outputs(m, after)


@pytest.mark.parametrize("axes,keep", [([1], 1), ([1, 2, 3], 1), ([2], 0), ([2, 2], 1), (None, 1)])
def test_other_reductions_are_left_for_to_ir(tmp_path, axes, keep):
    inputs = ["x", "axes"] if axes is not None else ["x"]
    inits = [B.init("axes", np.array(axes, np.int64))] if axes is not None else []
    m = model18([helper.make_node("ReduceMean", inputs, ["y"], name="mean", keepdims=keep)],
                [B.vi("x", [1, 3, 4, 4])], [B.vi("y", None)], inits)
    after = applied(ReduceMeanToGlobalAveragePool(), m)
    assert ops(after) == ["ReduceMean"]
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "m.onnx"))
    assert err.value.node == "mean" and err.value.op == "ReduceMean" and "H and W" in str(err.value)


# ---- ShapeToConstant, CastLikeToCast, and folding the shape arithmetic ------------------------------------------
@pytest.mark.parametrize("start,end,want", [(None, None, [1, 4, 3, 2]), (0, 1, [1]), (-2, None, [3, 2]),
                                            (1, 100, [4, 3, 2]), (3, 1, [])])
def test_shape_of_a_static_tensor_becomes_a_constant(start, end, want):
    kw = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    m = model18([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["r"], ["s"], name="sh", **kw),
                 helper.make_node("Cast", ["s"], ["f"], to=TensorProto.FLOAT),
                 helper.make_node("ReduceSum", ["f"], ["y"], keepdims=1)],
                [B.vi("x", [1, 4, 3, 2])], [B.vi("y", [1])])
    after = applied(ShapeToConstant(), m)
    assert "Shape" not in ops(after)
    s = next(t for t in after.graph.initializer if t.name == "s")
    assert onnx.numpy_helper.to_array(s).tolist() == want
    same_outputs(m, after)


def test_shape_of_a_dynamic_tensor_stays():
    m = B.make_model([helper.make_node("Shape", ["x"], ["y"])], [B.vi("x", ["n", 3])], [B.vi("y", [2], TensorProto.INT64)])
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    assert ops(applied(ShapeToConstant(), B.copy(m))) == ["Shape"]


def test_castlike_becomes_cast_of_the_like_type():
    m = model18([helper.make_node("CastLike", ["lo", "x"], ["lo_f"], name="cl"),
                 helper.make_node("Max", ["x", "lo_f"], ["y"])],
                [B.vi("x", [1, 5])], [B.vi("y", [1, 5])], [B.init("lo", np.array(0.25, np.float64))])
    after = applied(CastLikeToCast(), m)
    cast = after.graph.node[0]
    assert cast.op_type == "Cast" and cast.name == "cl" and cast.attribute[0].i == TensorProto.FLOAT
    same_outputs(m, after)
    folded = applied(FoldConstantWeights(), after)
    assert ops(folded) == ["Max"]


def _view_chain_model():
    """x.view(x.size(0), -1) as torch's TorchScript exporter writes it: Shape -> Gather -> Unsqueeze -> Concat."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Shape", ["r"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["r", "shape"], ["y"], name="view")]
    return model18(nodes, [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 18])],
                   [B.init("zero", np.array(0, np.int64)), B.init("ax0", np.array([0], np.int64)),
                    B.init("minus1", np.array([-1], np.int64))])


def test_shape_chain_folds_to_a_constant_reshape(tmp_path):
    m = _view_chain_model()
    after = run_passes(B.copy(m), [ShapeToConstant(), FoldConstantWeights()])
    assert ops(after) == ["Relu", "Reshape"]
    shape = next(t for t in after.graph.initializer if t.name == after.graph.node[1].input[1])
    assert onnx.numpy_helper.to_array(shape).tolist() == [1, -1]
    same_outputs(m, after)
    g = import_onnx(B.save(m, tmp_path / "view.onnx")).graph
    assert [n.op for n in g.nodes] == ["input", "relu", "flatten"]


def test_gather_and_concat_fold_only_when_exact():
    fold = FoldConstantWeights()._compute
    gather = helper.make_node("Gather", ["a", "i"], ["o"], axis=0)
    assert fold(gather, [np.array([4, 5, 6]), np.array([-1, 0])]).tolist() == [6, 4]
    assert fold(gather, [np.array([4, 5, 6]), np.array([3])]) is None           # out of range: left alone
    assert fold(gather, [np.array([4, 5, 6]), np.array([0.5])]) is None         # non-integer indices
    concat = helper.make_node("Concat", ["a", "b"], ["o"], axis=0)
    assert fold(concat, [np.array([1]), np.array([2, 3])]).tolist() == [1, 2, 3]
    assert fold(concat, [np.array([1]), np.array([2.0])]) is None               # mixed types
    assert fold(helper.make_node("Concat", ["a"], ["o"]), [np.array([1])]) is None   # axis is required


# ---- real dynamo exports ---------------------------------------------------------------------------------------
class _Net(torch.nn.Module):
    """Conv+BN+ReLU, MaxPool, a residual Add, a mean over H, W and a Linear; `view` picks the flatten form."""

    def __init__(self, view: str):
        super().__init__()
        self.view = view
        self.c1 = torch.nn.Conv2d(1, 8, 3, 1, 1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.c2 = torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn(self.c1(x))))
        y = torch.relu(self.c2(y)) + y
        if self.view == "mean":                      # ReduceMean keepdims=0, straight into the Gemm
            return self.fc(y.mean((2, 3)))
        if self.view == "gap":                       # ReduceMean keepdims=1 + Reshape to (1, C)
            return self.fc(torch.flatten(self.gap(y), 1))
        y = y.mean((2, 3), keepdim=True)
        return self.fc(y.view(y.size(0), -1))        # shape computed from the input's


def _export(tmp_path, view, **kw):
    torch.manual_seed(0)
    net = _Net(view).eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path / f"{view}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2 if kw else 1, 1, 16, 16),), str(path), **kw)
    return path


@pytest.mark.parametrize("view,kw", [("mean", {}), ("gap", {}),
                                     ("view", {"dynamic_shapes": ({0: torch.export.Dim("batch")},),
                                               "optimize": False})])
def test_dynamo_exports_import_and_compute_what_onnx_runtime_does(tmp_path, view, kw):
    """Default torch.onnx.export (dynamo): external weights, ReduceMean, Reshape; the unoptimized form with a
    dynamic batch also writes BatchNormalization, CastLike, and the Shape/Squeeze/Reshape/Concat chain."""
    path = _export(tmp_path, view, **kw)
    raw = onnx.load_model(str(path), load_external_data=False)
    assert any(t.external_data for t in raw.graph.initializer), "the exporter wrote external data"
    assert "ReduceMean" in ops(raw)
    if kw:
        assert {"Shape", "Concat", "BatchNormalization"} <= set(ops(raw))
    fe = import_onnx(path)
    assert [n.op for n in fe.graph.nodes] == ["input", "conv", "relu", "maxpool", "conv", "relu", "add",
                                              "globalavgpool", "flatten", "dense"]
    full = onnx.load_model(str(path))
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((1, 1, 16, 16)).astype(np.float32)
        want = B.run_ort(full, x)
        assert np.allclose(B.run_ir(fe.graph, x), want, atol=1e-4)
        assert np.allclose(B.run_ort(fe.onnx_model, x), want, atol=1e-5)
    d = inspect_model(path)
    assert d["supported"] and not any(r["problems"] for r in d["nodes"])
    passes = {s["pass"] for s in d["normalization"]}
    assert {"ExternalData", "ReduceMeanToGlobalAveragePool"} <= passes
    if kw:
        assert {"ShapeToConstant", "CastLikeToCast", "FoldBatchNorm"} <= passes or \
            {"ShapeToConstant", "FoldBatchNorm"} <= passes
