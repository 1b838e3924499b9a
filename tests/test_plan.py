"""The default PE mapping (compiler.plan)."""

import numpy as np

from compiler.ir import Graph, Node
from compiler.plan import LayerMapping, plan_layers


def _graph():
    nodes = [Node("x", "input", [], (3, 8, 8)),
             Node("c", "conv", ["x"], (12, 8, 8), {"kernel": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
                  {"W": np.zeros((12, 3, 3, 3), np.float32), "b": np.zeros(12, np.float32)}),
             Node("f", "flatten", ["c"], (768,)),
             Node("d", "dense", ["f"], (10,), {}, {"W": np.zeros((768, 10), np.float32), "b": np.zeros(10, np.float32)})]
    return Graph("g", nodes, ["d"])


def test_mapping_divides_rows_and_cols():
    plan = plan_layers(_graph())
    c, d = plan["c"], plan["d"]
    assert (c.rows, c.cols, c.vectors) == (12, 27, 64)
    assert c.rows % c.pe == 0 and c.cols % c.simd == 0 and c.pe <= 16 and c.simd <= 16
    assert (d.rows, d.cols, d.vectors) == (10, 768, 1)
    assert d.pe == 10 and d.simd == 16


def test_cycles_and_reuse_factor():
    m = LayerMapping("l", rows=32, cols=64, pe=8, simd=16, vectors=4)
    assert m.cycles_per_vector() == (32 // 8) * (64 // 16)
    assert m.cycles_per_frame() == 4 * 16
    assert m.reuse_factor == 32 * 64 // (8 * 16)


def test_pruned_cycles_bound_by_kept_groups_or_output_beats():
    m = LayerMapping("l", rows=32, cols=64, pe=16, simd=16, vectors=1)
    assert m.pruned_cycles_per_vector([3] * 16) == 3
    assert m.pruned_cycles_per_vector([1] * 16) == 2   # 32 rows on 16 PEs leave in 2 output beats
