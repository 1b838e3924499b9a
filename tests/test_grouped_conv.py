"""Grouped and depthwise convolution (ONNX Conv with group > 1): the frontend's forms compute what ONNX Runtime
computes and a group that does not split the channels is named by node and op; then a MobileNetV2-style network
(1x1 expand, 3x3 depthwise, ReLU6 as Clip, 1x1 project, residual add; a grouped conv and a depthwise conv with
channel multiplier 2) compressed: the grouped layers keep 8-bit weights (not pruned, not ternarized), hls4ml's
DepthwiseConv2D and block-diagonal Conv2D in the C simulation equal the golden model node by node, and
fcomp_accel (fc_mac_layer with per-PE lanes) equals the golden model end to end in Verilator, with and without
back-pressure, at the cycles the model predicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import helper

import onnx_builders as B
from compiler.errors import UnsupportedModelError
from compiler.frontend import import_onnx


def _grouped_model(c_in=4, c_out=4, group=4, w_in=None, stride=1):
    r = B.rng(0)
    w_in = c_in // group if w_in is None else w_in
    inits = [B.init("w", (r.standard_normal((c_out, w_in, 3, 3)) * 0.3).astype(np.float32)),
             B.init("b", (r.standard_normal(c_out) * 0.1).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="gc", group=group, pads=[1, 1, 1, 1],
                              strides=[stride, stride])]
    o = (5 - 1) // stride + 1
    return B.make_model(nodes, [B.vi("x", [1, c_in, 5, 5])], [B.vi("y", [1, c_out, o, o])], inits)


@pytest.mark.parametrize("kw", [
    {},                                          # depthwise 4 channels
    {"c_in": 4, "c_out": 8, "group": 4},         # depthwise, channel multiplier 2
    {"c_in": 6, "c_out": 4, "group": 2},         # grouped: 3 input channels per group, 2 outputs each
    {"c_in": 4, "c_out": 4, "group": 4, "stride": 2},
])
def test_grouped_forms_import_and_compute_what_onnx_runtime_does(tmp_path, kw):
    m = _grouped_model(**kw)
    g = import_onnx(B.save(m, tmp_path / "g.onnx")).graph
    conv = next(n for n in g.nodes if n.op == "conv")
    assert conv.attrs["group"] == kw.get("group", 4)
    x = B.random_input(m)
    assert np.allclose(B.run_ir(g, x), B.run_ort(m, x), atol=1e-5)


def test_a_group_that_does_not_split_the_channels_is_named(tmp_path):
    m = _grouped_model(c_in=6, c_out=4, group=4, w_in=1)     # 6 channels in 4 groups
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "g.onnx"))
    assert err.value.node == "gc" and err.value.op == "Conv" and "group=4" in str(err.value), str(err.value)


def test_inspect_says_what_it_builds_for_grouped_convs(tmp_path):
    from compiler.frontend.inspect import inspect_model

    for kw, want in (({}, "hls4ml DepthwiseConv2D"), ({"c_in": 6, "c_out": 4, "group": 2}, "block-diagonal")):
        d = inspect_model(B.save(_grouped_model(**kw), tmp_path / "g.onnx"))
        row = next(r for r in d["nodes"] if r["op"] == "Conv")
        assert d["supported"] and want in row["lowered"] and "per-PE lanes" in row["lowered"], row
        c_in, c_out, group = kw.get("c_in", 4), kw.get("c_out", 4), kw.get("group", 4)
        per = c_in // group * 9                         # each output reads in/group x 3 x 3 inputs
        assert row["params"] == c_out * per + c_out and row["macs"] == c_out * 5 * 5 * per


class _MobileBlock(torch.nn.Module):
    """Stem 3x3 (1 -> 8) + ReLU6; an inverted residual (1x1 expand 8 -> 16, ReLU6, 3x3 depthwise, ReLU6, 1x1
    project 16 -> 8, add); a grouped 3x3 (8 -> 8, 2 groups) + ReLU; a stride-2 depthwise with channel multiplier
    2 (8 -> 16); global pool and classifier. Dynamo export."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 8, 3, 1, 1)
        self.expand = torch.nn.Conv2d(8, 16, 1)
        self.dw = torch.nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.project = torch.nn.Conv2d(16, 8, 1)
        self.grouped = torch.nn.Conv2d(8, 8, 3, 1, 1, groups=2)
        self.dw2 = torch.nn.Conv2d(8, 16, 3, 2, 1, groups=8)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        s = torch.nn.functional.relu6(self.stem(x))
        y = torch.nn.functional.relu6(self.expand(s))
        y = torch.nn.functional.relu6(self.dw(y))
        y = s + self.project(y)
        y = torch.relu(self.grouped(y))
        y = torch.relu(self.dw2(y))
        return self.fc(y.mean((2, 3)))


GROUPED = ("dw", "grouped", "dw2")


@pytest.fixture(scope="module")
def mobile(tmp_path_factory):
    from small_net import build_small_net

    s = build_small_net(_MobileBlock(), (1, 8, 8), tmp_path_factory.mktemp("grouped"), pe=2, simd=4, target=4,
                        n_check=4)
    groups = {n.name: n.attrs.get("group", 1) for n in s.graph.nodes if n.op == "conv"}
    assert sorted(g for g in groups.values() if g > 1) == [2, 8, 16], groups
    kinds = [l["class_name"] for l in s.layers]
    assert kinds.count("DepthwiseConv2D") == 1, kinds      # dw; dw2 (multiplier 2) and grouped are block-diagonal
    return s


def _grouped_names(s):
    return [n.name for n in s.graph.nodes if n.op == "conv" and n.attrs.get("group", 1) > 1]


def test_grouped_layers_keep_8_bit_weights_and_the_rest_is_ternary(mobile):
    from compiler.backend.precision import is_ternary

    grouped = set(_grouped_names(mobile))
    assert len(grouped) == 3
    for n in mobile.graph.weighted():
        assert is_ternary(n) == (n.name not in grouped), n.name
    for name in grouped:
        nn = mobile.net.nodes[name]
        assert nn.layer is None and nn.weight_int is not None      # fc_mac_layer, fixed-point weights


def test_compression_reports_why_grouped_layers_are_not_pruned(tmp_path):
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.plan import plan_layers

    path = tmp_path / "m.onnx"
    torch.onnx.export(_MobileBlock().eval(), (torch.randn(1, 1, 8, 8),), str(path))
    g = import_onnx(path).graph
    res = compress(g, plan_layers(g, pe=2, simd=4), CompressionConfig(strategy="pe-wise", target=4))
    rows = {r["name"]: r for r in res.layers}
    for name in (n.name for n in g.nodes if n.op == "conv" and n.attrs.get("group", 1) > 1):
        assert rows[name]["bits"] == 8 and "grouped conv" in rows[name]["reason"], rows[name]
    assert any("depthwise" in r["reason"] for r in rows.values())


def test_compressed_export_round_trips_the_groups(mobile):
    import onnxruntime as ort

    assert sum(1 for n in mobile.ref.graph.node if n.op_type == "Conv" and
               any(a.name == "group" for a in n.attribute)) == 3
    sess = ort.InferenceSession(mobile.ref.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: mobile.x[:1]})[0]
    assert np.allclose(got, B.run_ir(mobile.graph, mobile.x[:1]), atol=1e-4)


def test_grouped_expansion_reads_each_rows_group():
    from compiler.rtl.accel import grouped_expansion
    from compiler.rtl.network import grouped_lanes

    # depthwise 3x3 at S = 9, P | rows: the window itself
    assert grouped_expansion(16, 9, 16, 4, 9) == list(range(16 * 9))
    # 2 groups of 3 rows x 4 columns at P = 2, S = 3: row 3 (group 1) reads lanes 4..7; padding is None
    lanes = grouped_expansion(6, 4, 2, 2, 3)
    assert len(lanes) == 3 * 2 * 2 * 3
    k = ((3 // 2) * 2 + 0) * 6 + (3 % 2) * 3      # fold 1, step 0, PE 1
    assert lanes[k:k + 3] == [4, 5, 6] and lanes[k + 6:k + 9] == [7, None, None]
    assert grouped_lanes(6, 4, 2)[3].tolist() == [4, 5, 6, 7]


def test_estimate_names_the_fc_mac_layer_the_generator_makes(mobile):
    from compiler.estimate import node_instances

    for name in _grouped_names(mobile):
        node = mobile.graph.node(name)
        insts = dict(node_instances(mobile.graph, node, mobile.net.nodes[name].mapping, 16, ternary=False))
        made = next(m for m in mobile.acc.modules if m.node == name and m.kind == "fc_mac_layer")
        p = insts["fc_mac_layer"]
        for k in ("N", "NC", "PEL", "P", "S", "R"):
            assert f".{k}({p[k]})" in made.text, (k, p[k], made.text[:300])


@pytest.mark.sim
def test_golden_equals_csim_node_by_node_and_csim_follows_onnx_runtime(mobile):
    from small_net import golden_equals_csim_node_by_node, golden_follows_onnx_runtime

    compared = golden_equals_csim_node_by_node(mobile)
    assert set(_grouped_names(mobile)) <= set(compared), compared
    golden_follows_onnx_runtime(mobile)


@pytest.mark.sim
def test_accel_runs_grouped_convs_bit_exact_at_the_predicted_rate(mobile, tmp_path):
    from small_net import accel_bit_exact

    macs = [m for m in mobile.acc.modules if m.kind == "fc_mac_layer"]
    assert {m.node for m in macs} >= set(_grouped_names(mobile))
    accel_bit_exact(mobile, tmp_path)
