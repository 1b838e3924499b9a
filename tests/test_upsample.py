"""Nearest-neighbour upsampling (ONNX Resize / Upsample by integer factors): the frontend's forms (scales, sizes,
the deprecated Upsample, torch's 'nearest' and 'nearest-exact' exports) compute what ONNX Runtime computes, the
forms that are not a pixel repeat are named by node and op; then a U-Net-style network (pool, conv, upsample,
concat with the skip branch) compressed to ternary: hls4ml's Resize in the C simulation equals the golden model
node by node, and fcomp_accel (fc_upsample) equals the golden model end to end in Verilator, with and without
back-pressure, at the cycles the model predicts."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

import onnx_builders as B
from compiler.errors import UnsupportedModelError
from compiler.frontend import import_onnx


def _resize_model(scales=(1, 1, 2, 2), sizes=None, opset=13, op="Resize", **attrs):
    """conv (3 -> 2 channels, 4x5) then the resize; attrs go to the Resize node."""
    r = B.rng(0)
    inits = [B.init("w", (r.standard_normal((2, 3, 3, 3)) * 0.3).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    if op == "Upsample":
        inits.append(B.init("s", np.asarray(scales, np.float32)))
        nodes.append(helper.make_node("Upsample", ["c", "s"], ["y"], name="up", mode="nearest"))
    else:
        ins = ["c", ""]
        if sizes is not None:
            inits.append(helper.make_tensor("sz", TensorProto.INT64, [4], list(sizes)))
            ins += ["", "sz"]
        else:
            inits.append(B.init("s", np.asarray(scales, np.float32)))
            ins.append("s")
        nodes.append(helper.make_node("Resize", ins, ["y"], name="up", mode=attrs.pop("mode", "nearest"), **attrs))
    f = sizes if sizes is not None else [int(1 * scales[0]), int(2 * scales[1]), int(4 * scales[2]),
                                         int(5 * scales[3])]
    m = B.make_model(nodes, [B.vi("x", [1, 3, 4, 5])], [B.vi("y", list(f))], inits)
    m.opset_import[0].version = opset
    return m


@pytest.mark.parametrize("kw", [
    {},                                                                         # half_pixel, round_prefer_floor
    {"scales": (1, 1, 3, 2), "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    {"scales": (1, 1, 4, 1), "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_ceil"},
    {"sizes": (1, 2, 8, 15), "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    {"op": "Upsample", "opset": 9, "scales": (1, 1, 2, 3)},
])
def test_nearest_resize_forms_import_and_compute_what_onnx_runtime_does(tmp_path, kw):
    m = _resize_model(**kw)
    fe = import_onnx(B.save(m, tmp_path / "up.onnx"))
    ups = [x for x in fe.graph.nodes if x.op == "upsample"]
    assert len(ups) == 1
    x = B.random_input(m)
    want = B.run_ort(m, x)
    assert ups[0].shape == want.shape[1:]
    assert np.allclose(B.run_ir(fe.graph, x), want, atol=1e-5)


@pytest.mark.parametrize("kw,why", [
    ({"mode": "linear"}, "only mode 'nearest'"),
    ({"scales": (1, 1, 1.5, 2)}, "integer upsampling factors"),
    ({"scales": (1, 2, 2, 2)}, "N, C must stay 1"),
    ({"scales": (1, 1, 3, 3), "coordinate_transformation_mode": "asymmetric"}, "do not repeat each pixel"),
    ({"sizes": (1, 2, 6, 10)}, "not integer multiples"),
    ({"coordinate_transformation_mode": "tf_crop_and_resize"}, "not supported"),
])
def test_resizes_that_are_not_a_pixel_repeat_are_named(tmp_path, kw, why):
    m = _resize_model(**kw)
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "up.onnx"))
    assert err.value.node == "up" and err.value.op == "Resize" and why in str(err.value), str(err.value)


def test_run_time_scales_are_named(tmp_path):
    """scales computed from the activation (a max over it): inspect names Resize's own problem."""
    from compiler.frontend.inspect import inspect_model

    m = _resize_model()
    m.graph.initializer.pop()
    m.graph.initializer.extend([helper.make_tensor("one", TensorProto.FLOAT, [2], [1.0, 1.0]),
                                helper.make_tensor("ax", TensorProto.INT64, [1], [0])])
    m.graph.node.insert(1, helper.make_node("ReduceMax", ["c"], ["mx"], keepdims=0))
    m.graph.node.insert(2, helper.make_node("Unsqueeze", ["mx", "ax"], ["mx1"]))
    m.graph.node.insert(3, helper.make_node("Concat", ["one", "mx1", "mx1"], ["s"], axis=0))
    d = inspect_model(B.save(m, tmp_path / "up.onnx"))
    row = next(r for r in d["nodes"] if r["op"] == "Resize")
    assert not d["supported"] and any("computed at run time" in p for p in row["problems"]), row


class _UNet(torch.nn.Module):
    """Stem at 8x8, a pooled branch (2x2 max pool, 3x3 conv at 4x4, nearest upsample back to 8x8) concatenated
    with the stem, a 1x1 mix, a (1, 3) upsample along W (SH = 1), a global pool and a classifier; dynamo export."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 4, 3, 1, 1)
        self.down = torch.nn.Conv2d(4, 6, 3, 1, 1)
        self.mix = torch.nn.Conv2d(10, 8, 1)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        d = torch.relu(self.down(torch.nn.functional.max_pool2d(s, 2)))
        y = torch.cat([s, torch.nn.functional.interpolate(d, scale_factor=2, mode="nearest")], 1)
        y = torch.relu(self.mix(y))
        y = torch.nn.functional.interpolate(y, scale_factor=(1, 3), mode="nearest")
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    from small_net import build_small_net

    s = build_small_net(_UNet(), (1, 8, 8), tmp_path_factory.mktemp("upsample"), pe=2, simd=4, target=6, n_check=4)
    assert [tuple(n.attrs["scale"]) for n in s.graph.nodes if n.op == "upsample"] == [(2, 2), (1, 3)]
    assert sum(l["class_name"] == "Resize" for l in s.layers) == 2
    return s


def test_compressed_export_round_trips_the_upsample(unet):
    import onnxruntime as ort

    assert [n.op_type for n in unet.ref.graph.node].count("Resize") == 2
    sess = ort.InferenceSession(unet.ref.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: unet.x[:1]})[0]
    assert np.allclose(got, B.run_ir(unet.graph, unet.x[:1]), atol=1e-4)


@pytest.mark.sim
def test_golden_equals_csim_node_by_node_and_csim_follows_onnx_runtime(unet):
    from small_net import golden_equals_csim_node_by_node, golden_follows_onnx_runtime

    compared = golden_equals_csim_node_by_node(unet)
    assert sum(unet.net.nodes[n].op == "upsample" for n in compared) == 2 and len(compared) >= 8
    golden_follows_onnx_runtime(unet)


@pytest.mark.sim
def test_accel_upsamples_bit_exact_at_the_predicted_rate(unet, tmp_path):
    from small_net import accel_bit_exact

    ups = [m for m in unet.acc.modules if m.kind == "fc_upsample"]
    assert len(ups) == 2 and ups[1].cycles_per_frame == 8 * 24       # one beat per output pixel
    accel_bit_exact(unet, tmp_path)


def test_estimate_names_the_upsample_the_generator_makes(unet):
    from compiler.estimate import node_instances

    g, net = unet.graph, unet.net
    for n in g.nodes:
        if n.op == "upsample":
            (kind, p), *_ = node_instances(g, n, None, 16)
            made = next(m for m in net.nodes.values() if m.name == n.name)
            assert kind == "fc_upsample" and (p["SH"], p["SW"]) == tuple(n.attrs["scale"])
            assert p["WD"] == g.node(n.inputs[0]).shape[2] and p["N"] == n.shape[0] == made.shape[0]


def test_inspect_says_what_it_builds_for_resize(tmp_path):
    from compiler.frontend.inspect import inspect_model

    d = inspect_model(B.save(_resize_model(), tmp_path / "up.onnx"))
    row = next(r for r in d["nodes"] if r["op"] == "Resize")
    assert d["supported"] and "fc_upsample" in row["lowered"] and "Resize" in row["lowered"]
