"""compiler.compress.torch_ir: the IR as a PyTorch module (against ONNX Runtime and the numpy IR interpreter),
the weight_transform hook, and ir_from_module writing trained weights back into the IR."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

import onnx_builders as B
from compiler.compress.export_onnx import export_compressed_onnx
from compiler.compress.torch_ir import IRModule, ir_from_module, weighted_modules
from compiler.frontend import import_onnx
from compiler.ir import Graph, Node
from compiler.verify.reference import run_onnx
from models.zoo import MODELS

NAMES = list(MODELS)
SMALL = [n for n in NAMES if n != "resnet18"]


def _import(path: str):
    return B.cached_import(path)


def _inputs(shape, count, seed=7):
    return B.gaussian_inputs(shape, count, seed)


def _torch(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _imported(tmp_path, model, name="m"):
    return import_onnx(B.save(model, tmp_path / f"{name}.onnx"))


@pytest.mark.parametrize("name", NAMES)
def test_zoo_module_matches_ort(name, zoo_onnx):
    result = _import(str(zoo_onnx(name)))
    module = IRModule(result.graph).eval()
    x = _inputs(result.graph.nodes[0].shape, 1 if name == "resnet18" else 3)
    want = run_onnx(result.onnx_model, x)[result.graph.outputs[0]]
    got = _torch(module, x)  # the whole batch at once
    assert got.shape == want.shape == (x.shape[0], *result.graph.node(result.graph.outputs[0]).shape)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_module_batch_of_4(name, zoo_onnx):
    """One forward on a batch of 4 equals ONNX Runtime sample by sample (the ONNX model is batch 1)."""
    result = _import(str(zoo_onnx(name)))
    module = IRModule(result.graph).eval()
    x = _inputs(result.graph.nodes[0].shape, 4, seed=3)
    batch = _torch(module, x)
    assert batch.shape == (4, *result.graph.node(result.graph.outputs[0]).shape)
    np.testing.assert_allclose(batch, run_onnx(result.onnx_model, x)[result.graph.outputs[0]], atol=1e-4, rtol=0)


@pytest.mark.parametrize("build", [lambda: B.pools_model(size=7), lambda: B.pools_model(size=8),
                                   lambda: B.pools_model(conv_auto_pad="SAME_LOWER", size=8),
                                   B.evil_names_model, B.reshape_model, B.conv_bn_relu_model],
                         ids=["pools7", "pools8_upper", "pools8_lower", "evil", "reshape", "conv_bn"])
def test_builder_models_match_ort_and_interpreter(build, tmp_path):
    """Asymmetric conv/maxpool pads, padded avgpool, clip, add, globalavgpool (IR shape (C,1,1)), flatten."""
    result = _imported(tmp_path, build())
    module = IRModule(result.graph).eval()
    x = _inputs(result.graph.nodes[0].shape, 2)
    got = _torch(module, x)
    np.testing.assert_allclose(got, run_onnx(result.onnx_model, x)[result.graph.outputs[0]], atol=1e-5, rtol=0)
    for i in range(2):
        np.testing.assert_allclose(got[i:i + 1], B.run_ir(result.graph, x[i:i + 1]), atol=1e-5, rtol=0)
    values = module.run(torch.from_numpy(x), keep=True)
    for n in result.graph.nodes:  # every intermediate has the IR's shape (plus the batch)
        assert tuple(values[n.name].shape) == (2, *n.shape), n.name


def _window_out(size, k, s, before, after):
    return (size + before + after - k) // s + 1


def _hand_graph() -> Graph:
    """Windows PyTorch cannot pad by itself: asymmetric conv pads, avg pools with symmetric and asymmetric pads
    (count_include_pad 0 and 1), a max pool with pads; plus clip, globalavgpool, flatten, dense."""
    r = np.random.default_rng(5)
    h = _window_out(9, 3, 2, 0, 2)  # conv: pads top 0 bottom 2, left 1 right 1
    w = _window_out(9, 3, 2, 1, 1)
    nodes = [Node("x", "input", [], (2, 9, 9)),
             Node("conv", "conv", ["x"], (4, h, w), {"kernel": [3, 3], "strides": [2, 2], "pads": [0, 1, 2, 1]},
                  {"W": r.standard_normal((4, 2, 3, 3)).astype(np.float32),
                   "b": r.standard_normal(4).astype(np.float32)}),
             Node("avg_sym", "avgpool", ["conv"], (4, h, w),
                  {"kernel": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0}),
             Node("avg_asym", "avgpool", ["avg_sym"], (4, h, w),
                  {"kernel": [2, 2], "strides": [1, 1], "pads": [0, 0, 1, 1], "count_include_pad": 0}),
             Node("avg_incl", "avgpool", ["avg_asym"], (4, h, w),
                  {"kernel": [2, 2], "strides": [1, 1], "pads": [1, 1, 0, 0], "count_include_pad": 1})]
    mh, mw = _window_out(h, 3, 2, 1, 1), _window_out(w, 3, 2, 1, 1)
    nodes += [Node("pool", "maxpool", ["avg_incl"], (4, mh, mw),
                   {"kernel": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
              Node("clip", "clip", ["pool"], (4, mh, mw), {"min": 0.0, "max": 1.5}),
              Node("gap", "globalavgpool", ["clip"], (4, 1, 1)),
              Node("flat", "flatten", ["gap"], (4,)),
              Node("fc", "dense", ["flat"], (3,), {}, {"W": r.standard_normal((4, 3)).astype(np.float32),
                                                       "b": r.standard_normal(3).astype(np.float32)})]
    return Graph("hand", nodes, ["fc"])


def test_hand_graph_pads_match_ort():
    g = _hand_graph()
    module = IRModule(g).eval()
    x = _inputs((2, 9, 9), 3)
    model = export_compressed_onnx(g, None)
    np.testing.assert_allclose(_torch(module, x), run_onnx(model, x)["fc"], atol=1e-5, rtol=0)


def test_weighted_modules_and_layout(zoo_onnx):
    g = _import(str(zoo_onnx("digits_cnn"))).graph
    module = IRModule(g)
    mods = weighted_modules(module)
    assert list(mods) == [n.name for n in g.weighted()]
    for n in g.weighted():
        m = mods[n.name]
        if n.op == "conv":
            assert isinstance(m, nn.Conv2d)
            np.testing.assert_array_equal(m.weight.detach().numpy(), n.weights["W"])
        else:
            assert isinstance(m, nn.Linear)
            np.testing.assert_array_equal(m.weight.detach().numpy(), n.weights["W"].T)
        np.testing.assert_array_equal(m.bias.detach().numpy(), n.weights["b"])
    assert sum(p.numel() for p in module.parameters()) == sum(n.params for n in g.nodes)


def test_node_names_that_clash_with_moduledict_attributes():
    r = np.random.default_rng(0)

    def dense(name, inp, i, o):
        return Node(name, "dense", [inp], (o,), {}, {"W": r.standard_normal((i, o)).astype(np.float32),
                                                      "b": r.standard_normal(o).astype(np.float32)})
    g = Graph("g", [Node("x", "input", [], (3,)), dense("keys", "x", 3, 4), dense("train", "keys", 4, 2),
                    dense("m_keys", "train", 2, 2)], ["m_keys"])
    module = IRModule(g)
    assert list(weighted_modules(module)) == ["keys", "train", "m_keys"]
    assert len({id(m) for m in weighted_modules(module).values()}) == 3
    x = _inputs((3,), 2)
    np.testing.assert_allclose(_torch(module, x)[:1], B.run_ir(g, x[:1]), atol=1e-5)


def test_weight_transform_is_used_and_written_back(zoo_onnx):
    g = _import(str(zoo_onnx("digits_cnn"))).graph
    module = IRModule(g).eval()
    x = _inputs(g.nodes[0].shape, 2)
    before = _torch(module, x)
    conv = g.weighted()[0].name
    module.weight_transform[conv] = lambda w: torch.zeros_like(w)
    after = _torch(module, x)
    assert not np.allclose(after, before)
    # same as zeroing that conv's weights in the IR
    zeroed = g.replace(nodes=[n if n.name != conv else Node(n.name, n.op, n.inputs, n.shape, n.attrs,
                                                             {"W": np.zeros_like(n.weights["W"]), "b": n.weights["b"]})
                              for n in g.nodes])
    np.testing.assert_allclose(after, _torch(IRModule(zeroed), x), atol=1e-6)
    np.testing.assert_array_equal(ir_from_module(g, module).node(conv).weights["W"], 0)
    # the stored parameter is untouched, and gradients flow through a transform
    assert np.any(weighted_modules(module)[conv].weight.detach().numpy() != 0)
    mask = (torch.rand_like(module.layer(conv).weight) > 0.5).float()
    module.weight_transform[conv] = lambda w: w * mask
    module(torch.from_numpy(x)).sum().backward()
    grad = module.layer(conv).weight.grad
    assert torch.all(grad[mask == 0] == 0) and torch.any(grad[mask == 1] != 0)


@pytest.mark.parametrize("name", SMALL)
def test_ir_from_module_round_trip_through_onnx(name, zoo_onnx, tmp_path):
    g = _import(str(zoo_onnx(name))).graph
    module = IRModule(g).eval()
    mods = weighted_modules(module)
    first, last = g.weighted()[0].name, g.weighted()[-1].name
    with torch.no_grad():
        mods[first].weight.mul_(-0.5)
        mods[first].weight[0].zero_()
        mods[last].bias.add_(1.0)
    extra = {first: {"note": np.arange(3, dtype=np.int32)}}
    g2 = ir_from_module(g, module, extra)
    # the original graph is untouched; structure and everything but weights are the same
    assert np.any(g.node(first).weights["W"] != g2.node(first).weights["W"])
    assert "note" not in g.node(first).weights
    np.testing.assert_array_equal(g2.node(first).weights["note"], np.arange(3))
    assert [(n.name, n.op, n.inputs, n.shape, n.attrs, n.source) for n in g.nodes] == \
           [(n.name, n.op, n.inputs, n.shape, n.attrs, n.source) for n in g2.nodes]
    assert all(a is not b for a, b in zip(g.nodes, g2.nodes)) and g2.outputs == g.outputs
    for n in g2.weighted():
        assert n.weights["W"].dtype == np.float32 and n.weights["W"].shape == g.node(n.name).weights["W"].shape
    np.testing.assert_array_equal(g2.node(last).weights["b"], g.node(last).weights["b"] + np.float32(1.0))
    path = tmp_path / "model.compressed.onnx"
    model = export_compressed_onnx(g2, path)
    assert path.is_file()
    x = _inputs(g.nodes[0].shape, 3)
    want = _torch(module, x)
    np.testing.assert_allclose(run_onnx(model, x)[g.outputs[0]], want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(B.run_ir(g2, x[:1]), want[:1], atol=1e-4, rtol=0)


def test_ir_from_module_rejects_unknown_extra(zoo_onnx):
    g = _import(str(zoo_onnx("digits_mlp"))).graph
    with pytest.raises(ValueError, match="unknown IR nodes"):
        ir_from_module(g, IRModule(g), {"nope": {"codes": np.zeros(1)}})


def test_wrong_input_shape_is_reported(zoo_onnx):
    g = _import(str(zoo_onnx("digits_mlp"))).graph
    with pytest.raises(ValueError, match="input shape"):
        IRModule(g)(torch.zeros(1, 3))
