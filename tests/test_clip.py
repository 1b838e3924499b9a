"""Clip (ReLU6 and general constant bounds): one arithmetic definition (compiler/rtl/network.py `clip_bounds`,
`clip_int`) checked against its definition on exact rationals, then the golden model, hls4ml's C simulation
(fcomp's `nnet::fcomp_clip` layer) and the RTL (`fc_clip` in fcomp_accel, Verilator) bit for bit on types that
need widening, rounding and saturation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from compiler.backend.precision import Fixed
from compiler.ir import Graph, Node
from compiler.rtl.network import build_network, clip_bounds, clip_int, run_network


def _clip_exact(v: int, in_t: Fixed, lo, hi, out_t: Fixed) -> int:
    """From the definition: the real input, bounds rounded half up to F = max(frac in, frac out) bits, ONNX Clip
    (min(max(x, lo), hi)), then ap_fixed's conversion to out_t (round half up or floor, then clamp or wrap)."""
    f = max(in_t.fraction, out_t.fraction)
    x = Fraction(v, 2 ** in_t.fraction)
    if lo is not None:
        x = max(x, Fraction((Fraction(lo) * 2 ** f + Fraction(1, 2)).__floor__(), 2 ** f))
    if hi is not None:
        x = min(x, Fraction((Fraction(hi) * 2 ** f + Fraction(1, 2)).__floor__(), 2 ** f))
    q = x * 2 ** out_t.fraction
    q = (q + Fraction(1, 2)).__floor__() if out_t.rounding else q.__floor__()
    lo_o, hi_o = -(1 << (out_t.width - 1)), (1 << (out_t.width - 1)) - 1
    if out_t.saturate:
        return max(lo_o, min(hi_o, q))
    q &= (1 << out_t.width) - 1
    return q - (1 << out_t.width) if q >> (out_t.width - 1) else q


def _node(lo, hi, shape=(8,)):
    return Node("c", "clip", ["x"], shape, {"min": lo, "max": hi})


@pytest.mark.parametrize("in_t,out_t", [(Fixed(16, 6), Fixed(16, 6)), (Fixed(12, 5), Fixed(16, 5)),
                                        (Fixed(16, 4), Fixed(10, 4)), (Fixed(16, 8), Fixed(8, 3)),
                                        (Fixed(16, 6), Fixed(12, 3, rounding=False)),
                                        (Fixed(14, 6), Fixed(10, 2, saturate=False))])
@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.3, 2.71), (None, 1.0 / 3), (-0.7, None), (None, None),
                                   (2.0, -1.0), (-100.0, 100.0), (0.015, 0.02)])
def test_clip_is_its_definition(in_t, out_t, lo, hi):
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.integers(-(1 << (in_t.width - 1)), 1 << (in_t.width - 1), 600),
                        [-(1 << (in_t.width - 1)), (1 << (in_t.width - 1)) - 1, 0, 1, -1]])
    b = clip_bounds(_node(lo, hi), in_t, out_t)
    got = clip_int(v, in_t, b, out_t)
    assert [int(g) for g in got] == [_clip_exact(int(x), in_t, lo, hi, out_t) for x in v], (lo, hi)
    # the comparison width holds every widened input and both bounds
    for bound in (b.lo, b.hi):
        assert bound is None or -(1 << (b.width - 1)) <= bound < (1 << (b.width - 1))
    assert (1 << (in_t.width - 1)) << (b.frac - in_t.fraction) < (1 << (b.width - 1))


def test_torchscript_relu6_and_flt_max_bounds(tmp_path):
    """torch.nn.ReLU6 through the TorchScript exporter (Clip with constant min/max inputs), and an opset-6 Clip
    whose 'no bound' is written as +-FLT_MAX: both import, and FLT_MAX is no comparison."""
    import warnings

    import onnx
    import torch
    from onnx import helper

    import onnx_builders as B
    from compiler.frontend import import_onnx

    path = tmp_path / "r6.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU6()).eval(),
                          (torch.zeros(1, 1, 5, 5),), str(path), dynamo=False, opset_version=17)
    clip = next(n for n in import_onnx(path).graph.nodes if n.op == "clip")
    assert (clip.attrs["min"], clip.attrs["max"]) == (0.0, 6.0)
    m = B.make_model([helper.make_node("Clip", ["x"], ["y"], name="c6", min=-3.4028234663852886e38, max=2.5)],
                     [B.vi("x", [1, 4])], [B.vi("y", [1, 4])])
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("", 6))
    m.ir_version = 3
    clip = next(n for n in import_onnx(B.save(m, tmp_path / "c6.onnx")).graph.nodes if n.op == "clip")
    b = clip_bounds(clip, Fixed(16, 6), Fixed(16, 6))
    assert b.lo is None and b.hi == int(2.5 * 2 ** 10)


def test_bounds_outside_the_input_range_are_no_comparison():
    b = clip_bounds(_node(-100.0, 100.0), Fixed(16, 6), Fixed(16, 6))   # inputs lie in [-32, 32)
    assert b.lo is None and b.hi is None
    b = clip_bounds(_node(0.0, 6.0), Fixed(16, 6), Fixed(16, 6))
    assert b.lo == 0 and b.hi == 6 << 10


# ---- golden model vs hls4ml C-sim vs RTL ----------------------------------------------------------------------
CHAIN = [("relu6", 0.0, 6.0, Fixed(16, 5)), ("general", -1.3, 2.71, Fixed(18, 4)),   # more fraction bits out
         ("upper", None, 0.4, Fixed(10, 2)),                                         # fewer, saturating
         ("lower", -0.35, None, Fixed(12, 3, rounding=False))]


@pytest.fixture(scope="module")
def clip_chain(tmp_path_factory):
    """input (3, 5, 5) -> four Clips with hand-picked types, compiled as an hls4ml project."""
    from compiler.backend.hls4ml_emit import hls_config, lower_to_hls4ml
    from compiler.backend.hls4ml_project import HlsProject

    root = tmp_path_factory.mktemp("clip")
    shape = (3, 5, 5)
    nodes, prec, src = [Node("x", "input", [], shape)], {"x": {"result": Fixed(16, 6)}}, "x"
    for name, lo, hi, t in CHAIN:
        nodes.append(Node(name, "clip", [src], shape, {"min": lo, "max": hi}))
        prec[name] = {"result": t}
        src = name
    g = Graph("clips", nodes, [src])
    layers, names = lower_to_hls4ml(g, "clips.onnx", prec)
    assert [l["class_name"] for l in layers[1:]] == ["FcompClip"] * 4
    project = HlsProject(layers, hls_config(g, layers, names, prec, {}, trace=True), root / "hls",
                         "xczu7ev-ffvc1156-2-e", 200, names["x"], names[src])
    project.write()
    project.compile()
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-9, 9, (6, *shape)), rng.uniform(-0.5, 0.5, (2, *shape))]).astype(np.float32)
    net = build_network(g, prec, {})
    return g, net, project, names, x, root


@pytest.mark.sim
def test_golden_equals_hls4ml_csim_bit_for_bit(clip_chain):
    from compiler.rtl.accel_sim import channels_last

    g, net, project, names, x, root = clip_chain
    gold = run_network(net, x, keep=True)
    trace = project.trace(x.transpose(0, 2, 3, 1).reshape(len(x), -1))
    for name, *_ in CHAIN:
        t = net.nodes[name].out
        got = np.round(np.asarray(trace[names[name]], np.float64).reshape(len(x), -1) * 2.0 ** t.fraction)
        assert np.array_equal(got.astype(np.int64), channels_last(gold[name])), name
    # the clips really clip: every bound is hit by some value, and ReLU6 keeps [0, 6]
    r6 = gold["relu6"] * 2.0 ** -net.nodes["relu6"].out.fraction
    assert r6.min() == 0 and r6.max() == 6 and ((r6 > 0) & (r6 < 6)).any()
    header = (root / "hls" / "firmware" / "nnet_utils" / "nnet_fcomp_clip.h")
    assert header.is_file() and "fcomp_clip" in (root / "hls" / "firmware" / "fcomp_top.cpp").read_text()


@pytest.mark.sim
def test_rtl_fc_clip_equals_golden_end_to_end(clip_chain, tmp_path):
    from compiler.rtl.accel import generate, write_accel
    from compiler.rtl.accel_sim import simulate_network

    g, net, project, names, x, root = clip_chain
    acc = generate(net)
    assert sum(m.kind == "fc_clip" for m in acc.modules) == 4
    write_accel(acc, tmp_path / "accel")
    for ready in (1.0, 0.4):
        doc = simulate_network(acc, x, tmp_path / "accel", tmp_path / f"run{ready}", ready_prob=ready)
        assert doc["passed"] and doc["mismatches"] == 0 and doc["frames_out"] == len(x), doc
