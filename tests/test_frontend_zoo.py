"""The zoo models through the frontend: IR structure and size, and the normalized ONNX model (and its onnx2torch
conversion) computing what the exported model computes."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import onnx
import pytest

import onnx_builders as B
from compiler.frontend import import_onnx
from models.zoo import MODELS

NAMES = list(MODELS)
SMALL = [n for n in NAMES if n != "resnet18"]

EXPECTED_OPS = {
    "resnet18": {"input", "conv", "relu", "maxpool", "add", "globalavgpool", "flatten", "dense"},
    "digits_resnet": {"input", "conv", "relu", "add", "globalavgpool", "flatten", "dense"},
    "digits_cnn": {"input", "conv", "relu", "maxpool", "flatten", "dense"},
    "digits_mlp": {"input", "dense", "relu"},
    "digits_mobilenet": {"input", "conv", "clip", "add", "globalavgpool", "flatten", "dense"},
}
NUM_CLASSES = {"resnet18": 1000, "digits_resnet": 10, "digits_cnn": 10, "digits_mlp": 10, "digits_mobilenet": 10}


@functools.cache
def _load(path: str):
    return onnx.load(path), import_onnx(path)


@pytest.fixture(params=NAMES)
def zoo(request, zoo_onnx):
    """(name, original ONNX model, FrontendResult), imported once per session."""
    name = request.param
    original, result = _load(str(zoo_onnx(name)))
    return name, original, result


def inputs_for(name: str, count: int) -> list[np.ndarray]:
    r = np.random.default_rng(1234)
    return [r.standard_normal(MODELS[name].input_shape).astype(np.float32) for _ in range(count)]


def onnx_shapes(model) -> dict[str, tuple[int, ...]]:
    g = model.graph
    return {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
            for v in list(g.value_info) + list(g.output) + list(g.input)}


def test_zoo_covers_expected_models():
    assert set(NAMES) == set(EXPECTED_OPS)


def test_ir_structure(zoo):
    name, original, result = zoo
    g = result.graph
    assert {n.op for n in g.nodes} == EXPECTED_OPS[name]
    assert [n.op for n in g.nodes].count("input") == 1 and g.nodes[0].op == "input"
    assert g.nodes[0].shape == MODELS[name].input_shape[1:]
    assert len(g.outputs) == 1 and g.node(g.outputs[0]).shape == (NUM_CLASSES[name],)
    assert g.outputs[0] == g.nodes[-1].name
    for n in g.nodes:
        assert B.SAFE_NAME.match(n.name), n.name
    # one IR layer per ONNX Conv / Gemm, nothing else carries weights
    orig_ops = [n.op_type for n in original.graph.node]
    assert sum(n.op == "conv" for n in g.nodes) == orig_ops.count("Conv")
    assert sum(n.op == "dense" for n in g.nodes) == orig_ops.count("Gemm") + orig_ops.count("MatMul")
    assert all(not n.weights for n in g.nodes if n.op not in ("conv", "dense"))


def test_ir_shapes_match_normalized_onnx(zoo):
    name, _, result = zoo
    shapes = onnx_shapes(result.onnx_model)
    for n in result.graph.nodes:
        assert shapes[n.name][0] == 1
        assert shapes[n.name][1:] == n.shape, n.name
        for w in n.weights.values():
            assert w.dtype == np.float32
        if n.op == "conv":
            in_c = result.graph.node(n.inputs[0]).shape[0]
            out_c, w_in, kh, kw = n.weights["W"].shape
            groups = n.attrs.get("group", 1)
            assert (out_c, w_in * groups) == (n.shape[0], in_c) and [kh, kw] == list(n.attrs["kernel"])
            assert n.weights["b"].shape == (out_c,)
        elif n.op == "dense":
            (n_in,) = result.graph.node(n.inputs[0]).shape
            assert n.weights["W"].shape == (n_in, n.shape[0]) and n.weights["b"].shape == n.shape


def test_ir_params_equal_onnx_weights(zoo):
    name, original, result = zoo
    inits = {t.name: t for t in original.graph.initializer}
    onnx_params = 0
    for node in original.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            onnx_params += sum(int(np.prod(inits[i].dims)) for i in node.input[1:] if i)
    ir_params = sum(n.params for n in result.graph.nodes)
    assert ir_params == onnx_params
    if name == "resnet18":
        # torchvision's count; folding BN drops gamma and beta (2 x 4800 channels) and adds a conv bias (4800)
        assert ir_params == 11_689_512 - 2 * 4800 + 4800


def test_ir_sources_are_original_node_names(zoo):
    name, original, result = zoo
    nodes = {n.name for n in original.graph.node}
    assert result.graph.nodes[0].source == original.graph.input[0].name
    for n in result.graph.nodes[1:]:
        if n.op != "dense":  # dense layers: see test_dense_source_is_the_original_gemm
            assert n.source in nodes, (n.name, n.source)


def test_dense_source_is_the_original_gemm(zoo_onnx):
    original, result = _load(str(zoo_onnx("digits_mlp")))
    gemms = [n.name for n in original.graph.node if n.op_type == "Gemm"]
    assert [n.source for n in result.graph.nodes if n.op == "dense"] == gemms


def test_normalized_model_matches_original(zoo):
    name, original, result = zoo
    onnx.checker.check_model(result.onnx_model)
    assert result.onnx_model.graph.input[0].name == result.graph.nodes[0].name
    assert result.onnx_model.graph.output[0].name == result.graph.outputs[0]
    for x in inputs_for(name, 1 if name == "resnet18" else 3):
        want, got = B.run_ort(original, x), B.run_ort(result.onnx_model, x)
        assert got.shape == want.shape == (1, NUM_CLASSES[name])
        scale = max(1.0, float(np.max(np.abs(want))))
        assert float(np.max(np.abs(got - want))) < 1e-5 * scale


@pytest.mark.parametrize("name", SMALL)
def test_ir_interpreter_matches_original(name, zoo_onnx):
    """The IR itself (weights, attrs, layout) computes what the exported model computes."""
    original, result = _load(str(zoo_onnx(name)))
    for x in inputs_for(name, 2):
        np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(original, x), atol=1e-4, rtol=1e-4)


def test_onnx2torch_matches_ort(zoo):
    import onnx2torch
    import torch

    name, _, result = zoo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = onnx2torch.convert(result.onnx_model).eval()
    for x in inputs_for(name, 1 if name == "resnet18" else 3):
        want = B.run_ort(result.onnx_model, x)
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
