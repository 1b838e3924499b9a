"""The PE mapping: how each weighted layer is folded onto the hardware, shared by every later stage.

A layer's weights form a matrix of shape (out, in*kh*kw). P processing elements each take S inputs (SIMD lanes)
per cycle; output row r runs on PE r mod P (as in FINN's MVAU folding). One output vector (one pixel of a conv)
then takes ceil(out/P) * ceil(in/S) cycles. hls4ml's ReuseFactor is the same folding seen from the multipliers:
P*S products per cycle out of in*out, so ReuseFactor = in*out / (P*S).

This first planner uses fixed defaults (`DEFAULT_PE`, `DEFAULT_SIMD`); the board planner replaces `plan_layers`
but keeps this object, so compression groups, hls4ml and RTL can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .ir import Graph, Node

DEFAULT_PE = 16
DEFAULT_SIMD = 16


@dataclass(frozen=True)
class LayerMapping:
    layer: str
    rows: int       # output channels / neurons
    cols: int       # inputs per output: in_channels * kh * kw, or n_in
    pe: int         # P
    simd: int       # S
    vectors: int    # output vectors per frame (output pixels of a conv; 1 for dense)

    @property
    def reuse_factor(self) -> int:
        return max(1, (self.rows * self.cols) // (self.pe * self.simd))

    def cycles_per_vector(self) -> int:
        return math.ceil(self.rows / self.pe) * math.ceil(self.cols / self.simd)

    def cycles_per_frame(self) -> int:
        return self.vectors * self.cycles_per_vector()

    def pruned_cycles_per_vector(self, kept_groups_per_pe: list[int]) -> int:
        """With PE-wise pruning a PE spends one cycle per kept group, but the array also emits its P outputs per
        beat, so a very sparse layer is bound by ceil(rows/P) output beats (measured in the RTL, docs/rtl.md)."""
        return max(max(kept_groups_per_pe), math.ceil(self.rows / self.pe))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(reuse_factor=self.reuse_factor, cycles_per_frame=self.cycles_per_frame())
        return d


def layer_matrix(node: Node) -> tuple[int, int, int]:
    """(rows, cols, vectors) of a weighted layer's matrix-vector view."""
    w = node.weights["W"]
    if node.op == "conv":
        out_c, in_c, kh, kw = w.shape
        return out_c, in_c * kh * kw, int(node.shape[1] * node.shape[2])
    n_in, n_out = w.shape
    return n_out, n_in, 1


def _largest_divisor_at_most(n: int, limit: int) -> int:
    for d in range(min(n, limit), 0, -1):
        if n % d == 0:
            return d
    return 1


def plan_layers(graph: Graph, pe: int = DEFAULT_PE, simd: int = DEFAULT_SIMD) -> dict[str, LayerMapping]:
    """Default folding: P and S are the largest divisors of rows/cols not above the defaults (no idle lanes)."""
    plan = {}
    for node in graph.weighted():
        rows, cols, vectors = layer_matrix(node)
        plan[node.name] = LayerMapping(node.name, rows, cols, _largest_divisor_at_most(rows, pe),
                                       _largest_divisor_at_most(cols, simd), vectors)
    return plan
