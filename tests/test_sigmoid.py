"""Sigmoid as hls4ml builds it (a 1024-entry table over [-8, 8) indexed by trunc(x * 64) + 512), HardSigmoid
(hls4ml's hard_sigmoid: clip(slope x + shift, 0, 1) exact, one cast) and HardSwish (fcomp's own hls4ml layer:
x * that, exact, one cast): the frontend, the golden model against
hls4ml's C simulation on inputs that reach every table entry and both clamps (16- and 8-bit activations: the
index shifts down or up), and fcomp_accel's fc_sigmoid / fc_hardsigmoid bit-exact with the golden model in
Verilator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import helper

import onnx_builders as B
from compiler.backend.precision import Fixed
from compiler.frontend import import_onnx
from compiler.rtl.network import SIGMOID_TABLE, sigmoid_index, sigmoid_table


def test_sigmoid_imports_and_computes_what_onnx_runtime_does(tmp_path):
    r = B.rng(0)
    w = B.init("w", (r.standard_normal((2, 3, 3, 3)) * 0.5).astype(np.float32))
    m = B.make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                      helper.make_node("Sigmoid", ["c"], ["y"], name="sig")],
                     [B.vi("x", [1, 3, 5, 5])], [B.vi("y", [1, 2, 5, 5])], [w])
    fe = import_onnx(B.save(m, tmp_path / "s.onnx"))
    assert [n.op for n in fe.graph.nodes] == ["input", "conv", "sigmoid"]
    x = B.random_input(m)
    assert np.allclose(B.run_ir(fe.graph, x), B.run_ort(m, x), atol=1e-6)


def test_table_and_index_follow_the_definition():
    t = Fixed(16, 2)
    tab = sigmoid_table(t)
    assert len(tab) == SIGMOID_TABLE and np.all(np.diff(tab) >= 0)
    assert tab[512] == 1 << (t.fraction - 1)                            # sigmoid(0) = 1/2 exactly
    assert abs(tab[0] / 2 ** t.fraction - 1 / (1 + np.exp(8))) < 2 ** -t.fraction
    f = 10
    x = np.array([0, 1, -1, 16, -16, 17, -17, 8 << f, -(8 << f), 100 << f, -(100 << f)])
    # x * 64 / 2^10: 16 -> 1, -16 -> -1, 17 -> 1.06 -> 1, -17 -> -1 (towards zero), +-8 -> the ends, clamped
    assert list(sigmoid_index(x, f)) == [512, 512, 512, 513, 511, 513, 511, 1023, 0, 1023, 0]
    assert list(sigmoid_index(np.array([1, -1, 3]), 3)) == [520, 504, 536]     # fewer than 6 fraction bits


def test_hardswish_imports_and_computes_what_onnx_runtime_does(tmp_path):
    m = B.make_model([helper.make_node("HardSwish", ["x"], ["y"], name="hsw")],
                     [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 2, 3, 3])], [])
    m.opset_import[0].version = 14
    fe = import_onnx(B.save(m, tmp_path / "hsw.onnx"))
    assert fe.graph.nodes[-1].op == "hardswish"
    x = B.random_input(m) * 5
    assert np.allclose(B.run_ir(fe.graph, x), B.run_ort(m, x), atol=1e-6)


def test_hardswish_golden_is_exact_then_one_cast():
    from compiler.ir import Node
    from compiler.rtl.network import hardswish_int, hardswish_types

    t_in, t_out = Fixed(16, 6), Fixed(16, 6)
    node = Node("h", "hardswish", ["x"], (1,), attrs={"alpha": 1 / 6, "beta": 0.5})
    t = hardswish_types(node, t_in)
    assert (t.k.slope, t.k.shift, t.h_frac, t.p_frac) == (10923, 32768, 26, 36)
    x = np.array([-4 << 10, -3 << 10, -(3 << 9), 0, 1 << 10, 3 << 10, 5 << 10])      # -4 .. 5 at 10 bits
    h = np.clip(x * 10923 + (32768 << 10), 0, 1 << 26)
    want = (x * h + (1 << 25)) >> 26                                                   # RND to 10 bits
    assert list(hardswish_int(x, t_in, t, t_out)) == list(want)
    real = hardswish_int(x, t_in, t, t_out) / 1024
    assert np.allclose(real, [0, 0, -0.375, 0, 2 / 3, 3, 5], atol=2e-3)


def test_hardsigmoid_forms_import(tmp_path):
    """ONNX's default (alpha 0.2, beta 0.5), torch's Hardsigmoid (1/6, 1/2) and bad constants named."""
    from compiler.errors import UnsupportedModelError

    for attrs, want in (({}, (0.2, 0.5)), ({"alpha": 1 / 6, "beta": 0.5}, (1 / 6, 0.5))):
        m = B.make_model([helper.make_node("HardSigmoid", ["x"], ["y"], name="hs", **attrs)],
                         [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 2, 3, 3])], [])
        fe = import_onnx(B.save(m, tmp_path / "h.onnx"))
        hs = fe.graph.nodes[-1]
        assert hs.op == "hardsigmoid" and (hs.attrs["alpha"], hs.attrs["beta"]) == pytest.approx(want)
        x = B.random_input(m) * 8
        assert np.allclose(B.run_ir(fe.graph, x), B.run_ort(m, x), atol=1e-6)
    m = B.make_model([helper.make_node("HardSigmoid", ["x"], ["y"], name="hs", alpha=-1.0)],
                     [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 2, 3, 3])], [])
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "h.onnx"))
    assert err.value.op == "HardSigmoid" and "0 < alpha" in str(err.value)


class _SigNet(torch.nn.Module):
    """The input straight into the activation (so the check inputs choose the table entries / cover the clamps),
    a 1x1 conv, a global pool and a classifier."""

    def __init__(self, kind="sigmoid"):
        super().__init__()
        self.act = {"sigmoid": torch.nn.Sigmoid, "hardsigmoid": torch.nn.Hardsigmoid,
                    "hardswish": torch.nn.Hardswish}[kind]()
        self.mix = torch.nn.Conv2d(4, 4, 1)
        self.fc = torch.nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.mix(self.act(x)).mean((2, 3)))


def _inputs():
    # 2 frames of 4 x 16 x 16 = 2048 values from -9 to +9: every table entry (steps of 1/64 over [-8, 8)), both
    # clamps, positive and negative values between entries
    v = np.linspace(-9.0, 9.0, 2 * 4 * 16 * 16, dtype=np.float32)
    return v.reshape(2, 4, 16, 16)


@pytest.fixture(scope="module", params=[("sigmoid", 16), ("sigmoid", 8), ("hardsigmoid", 16), ("hardsigmoid", 8),
                                        ("hardswish", 16), ("hardswish", 8)],
                ids=["sigmoid16", "sigmoid8", "hard16", "hard8", "hswish16", "hswish8"])
def signet(request, tmp_path_factory):
    from small_net import build_small_net

    kind, bits = request.param
    x = _inputs()
    s = build_small_net(_SigNet(kind), (4, 16, 16), tmp_path_factory.mktemp(f"{kind}{bits}"), pe=2, simd=4,
                        target=2, x=x, cal=x, act_bits=bits)
    if kind == "hardswish":
        assert sum(l["class_name"] == "FcompHardSwish" for l in s.layers) == 1
    else:
        want = "sigmoid" if kind == "sigmoid" else "hard_sigmoid"
        assert sum(l.get("activation") == want for l in s.layers) == 1
    s.kind = kind
    return s


@pytest.mark.sim
def test_golden_sigmoid_equals_csim_on_every_table_entry(signet):
    from compiler.rtl.network import quantize_input
    from small_net import golden_equals_csim_node_by_node

    sig = next(n for n in signet.net.nodes.values() if n.op == signet.kind)
    src = signet.net.nodes[sig.node.inputs[0]]
    if signet.kind == "sigmoid":
        idx = sigmoid_index(quantize_input(signet.x, src.out), src.out.fraction)
        assert len(np.unique(idx)) > (900 if src.out.fraction >= 6 else 100) and idx.min() == 0 and idx.max() == 1023
    compared = golden_equals_csim_node_by_node(signet)
    assert sig.name in compared


@pytest.mark.sim
def test_accel_sigmoid_bit_exact(signet, tmp_path):
    from small_net import accel_bit_exact

    assert any(m.kind == f"fc_{signet.kind}" for m in signet.acc.modules)
    accel_bit_exact(signet, tmp_path, check_rate=False)


def test_estimate_prices_hardsigmoid_with_its_slope():
    """The design model costs fc_hardsigmoid's constant multipliers by the slope's set bits, as the generator
    passes it (without SLOPE it counted one set bit: 670 instead of 1,314 LUT at 16 lanes)."""
    from compiler.estimate import node_instances
    from compiler.ir import Graph, Node
    from compiler.synth.costmodel import predict

    g = Graph("g", [Node("x", "input", [], (16, 4, 4)),
                    Node("h", "hardsigmoid", ["x"], (16, 4, 4), attrs={"alpha": 1 / 6, "beta": 0.5})], ["h"])
    (kind, p), *_ = node_instances(g, g.node("h"), None, 16)
    assert kind == "fc_hardsigmoid" and p["SLOPE"] == "64'd10923"        # 1/6 at 16 fraction bits
    with_slope, without = predict(kind, p), predict(kind, {k: v for k, v in p.items() if k != "SLOPE"})
    assert with_slope["LUT_TOTAL"] > 1.5 * without["LUT_TOTAL"]
