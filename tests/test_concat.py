"""Concat on the channel axis: the frontend (two and three inputs, bad forms named by node and op), then a
two-branch network compressed to ternary: hls4ml's Concatenate in the C simulation equals the golden model node
by node, and fcomp_accel (fc_concat joining two pixel streams, skip FIFO sized) equals the golden model end to
end in Verilator, with and without back-pressure."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from onnx import helper

import onnx_builders as B
from compiler.errors import UnsupportedModelError
from compiler.frontend import import_onnx


def _concat_model(axis=1, n=2, const=False):
    r = B.rng(0)
    chans = [k + 2 for k in range(n)] if axis % 4 == 1 else [2] * n
    nodes, inits, outs = [], [], []
    for k, c in enumerate(chans):
        nodes.append(helper.make_node("Conv", ["x", f"w{k}"], [f"c{k}"], pads=[1, 1, 1, 1]))
        inits.append(B.init(f"w{k}", (r.standard_normal((c, 3, 3, 3)) * 0.3).astype(np.float32)))
        outs.append(f"c{k}")
    if const:
        inits.append(B.init("k", np.ones((1, 2, 6, 6), np.float32)))
        outs.append("k")
        chans.append(2)
    shape = [1, sum(chans), 6, 6] if axis % 4 == 1 else [1, 2, 6 * n, 6]
    nodes.append(helper.make_node("Concat", outs, ["y"], axis=axis, name="cat"))
    return B.make_model(nodes, [B.vi("x", [1, 3, 6, 6])], [B.vi("y", shape)], inits)


@pytest.mark.parametrize("axis,n", [(1, 2), (-3, 2), (1, 3)])
def test_channel_concat_imports_and_computes_what_onnx_runtime_does(tmp_path, axis, n):
    m = _concat_model(axis, n)
    fe = import_onnx(B.save(m, tmp_path / "cat.onnx"))
    cats = [x for x in fe.graph.nodes if x.op == "concat"]
    assert len(cats) == n - 1 and all(len(c.inputs) == 2 for c in cats)
    assert cats[-1].shape == (sum(k + 2 for k in range(n)), 6, 6)
    x = B.random_input(m)
    assert np.allclose(B.run_ir(fe.graph, x), B.run_ort(m, x), atol=1e-5)


@pytest.mark.parametrize("kw,why", [({"axis": 2}, "channel axis"), ({"const": True}, "constant"),
                                    ({"twice": True}, "same tensor twice")])
def test_other_concats_are_named(tmp_path, kw, why):
    twice = kw.pop("twice", False)
    m = _concat_model(**kw)
    if twice:
        cat = m.graph.node[-1]
        cat.input[1] = cat.input[0]
        m.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 4
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "cat.onnx"))
    assert err.value.node == "cat" and err.value.op == "Concat" and why in str(err.value), str(err.value)


class _TwoBranch(torch.nn.Module):
    """A stem, then a 1x1 branch and a 3x3 branch joined by Concat, a 1x1 conv over the joined channels, a
    global pool and a classifier; 1 x 12 x 12 input, dynamo export."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 8, 3, 1, 1)
        self.a = torch.nn.Conv2d(8, 4, 1)
        self.b = torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.mix = torch.nn.Conv2d(12, 8, 1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = torch.cat([torch.relu(self.a(y)), torch.nn.functional.relu6(self.b(y))], 1)
        y = torch.relu(self.mix(y))
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module")
def two_branch(tmp_path_factory):
    from small_net import build_small_net

    s = build_small_net(_TwoBranch(), (1, 12, 12), tmp_path_factory.mktemp("concat"), pe=4, simd=4, target=8,
                        n_check=5)
    assert [n.op for n in s.graph.nodes].count("concat") == 1
    assert sum(l["class_name"] == "Concatenate" for l in s.layers) == 1
    return s


@pytest.mark.sim
def test_golden_equals_csim_node_by_node_and_csim_follows_onnx_runtime(two_branch):
    from small_net import golden_equals_csim_node_by_node, golden_follows_onnx_runtime

    cat = next(n for n in two_branch.graph.nodes if n.op == "concat")
    compared = golden_equals_csim_node_by_node(two_branch)
    assert cat.name in compared and len(compared) >= 6
    golden_follows_onnx_runtime(two_branch)


@pytest.mark.sim
def test_accel_joins_the_branches_bit_exact(two_branch, tmp_path):
    from small_net import accel_bit_exact

    s = two_branch
    assert any(m.kind == "fc_concat" for m in s.acc.modules)
    cat = next(n for n in s.graph.nodes if n.op == "concat")
    assert max(d for e, d in s.acc.fifo_depths.items() if e.endswith(f"->{cat.name}")) > 2   # the skip path
    accel_bit_exact(s, tmp_path, check_rate=False)


def test_inspect_says_what_it_builds_for_concat_and_clip(tmp_path):
    from compiler.frontend.inspect import format_inspect, inspect_model

    d = inspect_model(B.save(_concat_model(1, 3), tmp_path / "cat.onnx"))
    row = next(r for r in d["nodes"] if r["op"] == "Concat")
    assert d["supported"] and "Concatenate" in row["lowered"] and "fc_concat" in row["lowered"]
    d = inspect_model(B.save(B.pools_model(), tmp_path / "pools.onnx"))
    row = next(r for r in d["nodes"] if r["op"] == "Clip")
    assert "fcomp_clip" in row["lowered"] and "fcomp_clip" in format_inspect(d)
