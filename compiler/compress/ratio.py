"""Compression ratio, counted honestly.

ratio = (32 bits x every conv/dense weight) / (bits actually stored), where stored bits are
  * weights: 2 bits per stored weight for ternary layers (8 or 32 for layers kept at higher precision). A
    structured (PE-wise) layer stores every weight of a kept group, zeros included, since the PE reads whole
    groups; an unstructured layer stores only its non-pruned weights;
  * the sparse index: per kept group, the index of its column block (ceil(log2(blocks)) bits); for unstructured
    pruning the cheaper of a bitmap (1 bit per weight) and per-weight indices (ceil(log2(cols)) bits);
  * one scale per output channel (16-bit fixed point) for ternary/int layers;
  * biases at their fixed-point precision (16 bits by default).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# prune_first "auto": a first layer holding this share of the weights is prunable (the compression engine's rule,
# which the planner follows when it plans a layer's kept groups before compression: `planner.planned_keep_shares`)
FIRST_LAYER_SHARE = 0.2

SCALE_BITS = 16
BIAS_BITS = 16


@dataclass
class LayerCost:
    name: str
    weights: int            # all weights of the layer
    stored_weights: int     # weights whose codes are stored
    weight_bits: int        # bits per stored weight (2 ternary, 8, 32)
    index_bits: int
    scales: int
    biases: int

    @property
    def fp32_bits(self) -> int:
        return 32 * self.weights

    @property
    def stored_bits(self) -> int:
        return (self.stored_weights * self.weight_bits + self.index_bits + self.scales * SCALE_BITS
                + self.biases * BIAS_BITS)

    @property
    def ratio(self) -> float:
        return self.fp32_bits / self.stored_bits

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(fp32_bits=self.fp32_bits, stored_bits=self.stored_bits, ratio=round(self.ratio, 3))
        return d


def bits_for(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def structured_cost(name: str, rows: int, cols: int, simd: int, kept_groups: int,
                    stored_weights: int | None = None, weight_bits: int = 2, has_scale: bool = True) -> LayerCost:
    """`stored_weights` is exact when the mask is known (sum of the kept groups' widths: a row's last block may
    be narrower than S); before that it is estimated with the mean block width."""
    blocks = math.ceil(cols / simd)
    stored = stored_weights if stored_weights is not None else round(kept_groups * cols / blocks)
    index = 0 if kept_groups == rows * blocks else kept_groups * bits_for(blocks)
    return LayerCost(name, rows * cols, stored, weight_bits, index, rows if has_scale else 0, rows)


def unstructured_cost(name: str, rows: int, cols: int, kept: int, weight_bits: int = 2,
                      has_scale: bool = True) -> LayerCost:
    total = rows * cols
    index = 0 if kept == total else min(total, kept * bits_for(cols))
    return LayerCost(name, total, kept, weight_bits, index, rows if has_scale else 0, rows)


def dense_cost(name: str, rows: int, cols: int, weight_bits: int = 32) -> LayerCost:
    """An uncompressed layer: every weight, no index, no scale."""
    return LayerCost(name, rows * cols, rows * cols, weight_bits, 0, 0 if weight_bits == 32 else rows, rows)


def total_ratio(costs: list[LayerCost]) -> float:
    """Sum of fp32 bits over sum of stored bits; 1.0 for a model without weighted layers."""
    stored = sum(c.stored_bits for c in costs)
    return sum(c.fp32_bits for c in costs) / stored if stored else 1.0
