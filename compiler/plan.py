"""The PE mapping: how each weighted layer is folded onto the hardware, shared by every later stage.

A layer's weights form a matrix of shape (out, in*kh*kw). P processing elements each take S inputs (SIMD lanes)
per cycle; output row r runs on PE r mod P (as in FINN's MVAU folding). One output vector (one pixel of a conv)
then takes ceil(out/P) * ceil(in/S) cycles. hls4ml's ReuseFactor is the same folding seen from the multipliers:
P*S products per cycle out of in*out, so ReuseFactor = in*out / (P*S).

`plan_layers` is the fixed default (`DEFAULT_PE`, `DEFAULT_SIMD`); the board planner (`compiler.planner.
plan_for_board`) chooses P, S and the memory kinds of the weights and activation buffers per layer for a board and
returns the same object, so compression groups, hls4ml and RTL can never disagree. `valid_reuse_factor` is hls4ml's
own rule for the Resource strategy (`FPGABackend._validate_reuse_factor`), restated so the planner never hands
hls4ml a ReuseFactor it would silently replace; `foldings` lists the (P, S) a layer may take under it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from .ir import Graph, Node

DEFAULT_PE = 16
DEFAULT_SIMD = 16
MEMORY_KINDS = ("lutram", "bram", "uram")


@dataclass(frozen=True)
class LayerMapping:
    layer: str
    rows: int       # output channels / neurons
    cols: int       # inputs per output: in_channels * kh * kw, or n_in
    pe: int         # P
    simd: int       # S
    vectors: int    # output vectors per frame (output pixels of a conv; 1 for dense)
    memory: str = "bram"   # where the layer's weights live: "lutram" | "bram" | "uram" (the planner chooses)
    buffers: str = "bram"  # its activation buffers (and those of the element-wise ops and pools it feeds)

    def __post_init__(self):
        for kind in (self.memory, self.buffers):
            if kind not in MEMORY_KINDS:
                raise ValueError(f"layer {self.layer}: memory kind {kind!r} is not one of {MEMORY_KINDS}")

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

    def stream_shape(self, kept_groups_per_pe: list[int]) -> tuple[int, int, int]:
        """(K, NBI, RPP) of the generated layer: the input stream sized as the generator does (IB = ceil(NB/K)
        blocks per beat, `rtl.data.auto_in_blocks`)."""
        K = max(kept_groups_per_pe)
        nb = math.ceil(self.cols / self.simd)
        nbi = math.ceil(nb / max(1, math.ceil(nb / max(1, K))))
        return K, nbi, math.ceil(self.rows / self.pe)

    def steady_cycles_per_vector(self, kept_groups_per_pe: list[int], nib: int = 3, nob: int = 4) -> Fraction:
        """The RTL's exact steady state (`compiler.rtl.cycles.steady_cycles_per_vector`) with its input stream
        sized as the generator does (`stream_shape`): equal to `pruned_cycles_per_vector` except for K = 1 with
        one output beat (ceil(rows/P) = 1), where the NOB = 4 output banks need (K + 1 + 4) / 4 = 1.5 cycles per
        vector. The generator's shared scale units (`scale_units`) never change it."""
        K, nbi, rpp = self.stream_shape(kept_groups_per_pe)
        return max(Fraction(K), Fraction(nbi), Fraction(rpp), Fraction(K + nbi + 1, nib), Fraction(K + rpp + 4, nob))

    def scale_units(self, kept_groups_per_pe: list[int], nib: int = 3, nob: int = 4) -> int:
        """The generated layer's scale units U (`compiler.rtl.cycles.scale_units`): as few as keep its steady
        state, 1 whenever the P*RPP results of a vector fit in its cycles per vector."""
        from .rtl.cycles import scale_units

        K, nbi, rpp = self.stream_shape(kept_groups_per_pe)
        return scale_units(self.pe, K, nbi, rpp, nib, nob)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(reuse_factor=self.reuse_factor, cycles_per_frame=self.cycles_per_frame())
        return d


def valid_reuse_factor(rows: int, cols: int, rf: int) -> bool:
    """hls4ml 1.3's `FPGABackend._validate_reuse_factor(n_in=cols, n_out=rows, rf)`, which the Vivado/Vitis
    backends apply to Dense and Conv layers under the Resource strategy (an invalid value is replaced by the
    closest valid one with only a printed warning)."""
    if rf < 1:
        return False
    mult_limit = math.ceil(cols * rows / min(cols, rf))
    ok = (mult_limit % rows == 0) or rf >= cols
    ok = ok and (rf % cols == 0 or rf < cols)
    return ok and (cols * rows) % rf == 0


def closest_valid_reuse_factor(n_in: int, n_out: int, want: int) -> int:
    """The ReuseFactor hls4ml accepts for a layer of n_in x n_out multiplications closest to `want` (the smaller
    one on a tie), as `FPGABackend.set_closest_reuse_factor` would pick it."""
    n = n_in * n_out
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    cands = sorted(set(small + [n // d for d in small]))
    valid = [rf for rf in cands if valid_reuse_factor(n_out, n_in, rf)] or [1]
    return min(valid, key=lambda rf: (abs(rf - want), rf))


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def foldings(rows: int, cols: int) -> list[tuple[int, int]]:
    """Every (P, S) with P | rows and S | cols (no idle PE or lane) whose ReuseFactor rows*cols/(P*S) hls4ml
    accepts; sorted by lanes P*S, then P. (P, S) = (1, 1) is always among them."""
    out = [(p, s) for p in divisors(rows) for s in divisors(cols)
           if valid_reuse_factor(rows, cols, rows * cols // (p * s))]
    return sorted(out, key=lambda ps: (ps[0] * ps[1], ps[0]))


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
