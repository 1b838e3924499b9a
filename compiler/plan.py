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
    channels: int = 0      # input channels of a conv whose window is streamed in chunks (`window_channels`), else 0

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

    def in_blocks(self, K: int) -> int:
        """S-lane blocks per input beat (IB) of the PE array with K steps per vector: the narrowest input stream
        that keeps up (loading a vector, ceil(NB/IB) beats, never takes more than K cycles). For a conv whose
        window is streamed in chunks (`channels`), the next IB whose IB*S lanes divide the channels, so a beat is
        one chunk of one pixel (`window_chunked`); when none is wide enough, the plain one (a whole-window
        generator and a width converter feed it)."""
        nb = math.ceil(self.cols / self.simd)
        ib = max(1, math.ceil(nb / max(1, K)))
        if self.channels and self.channels % self.simd == 0:
            for b in range(ib, self.channels // self.simd + 1):
                if self.channels % (b * self.simd) == 0:
                    return b
        return ib

    def window_chunked(self, in_blocks: int) -> bool:
        """Whether the PE array's input beats of `in_blocks` S-lane blocks are chunks of one pixel, so that the
        chunked window generator (rtl_sim/fc_swg.sv) feeds it directly."""
        return self.channels > 0 and self.channels % (in_blocks * self.simd) == 0

    def stream_shape(self, kept_groups_per_pe: list[int]) -> tuple[int, int, int]:
        """(K, NBI, RPP) of the generated layer: the input stream sized as the generator does (`in_blocks`)."""
        K = max(kept_groups_per_pe)
        nb = math.ceil(self.cols / self.simd)
        return K, math.ceil(nb / self.in_blocks(K)), math.ceil(self.rows / self.pe)

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


def kernel_major(node: Node) -> bool:
    """Column order of a weighted layer's matrix-vector view: a conv's columns run kernel-major, (kh, kw, c), the
    order in which a sliding-window generator streams a window (channel chunks of one pixel after another, as in
    FINN's ConvolutionInputGenerator), so a PE-wise group of S columns is S channels of one kernel tap whenever
    S divides C. Grouped convs keep ONNX order (c, kh, kw): their lanes are wired per group
    (`rtl.network.grouped_lanes`). Dense layers have one order."""
    return node.op == "conv" and int(node.attrs.get("group", 1)) == 1


def window_channels(node: Node) -> int:
    """Input channels of a conv whose window a generator streams in chunks of one pixel (kernel-major, with a
    window: not a 1x1 stride-1 unpadded conv, whose vector is the pixel itself), else 0 (`LayerMapping.channels`)."""
    if not kernel_major(node):
        return 0
    a = node.attrs
    if tuple(a["kernel"]) == (1, 1) and tuple(a["strides"]) == (1, 1) and not any(a["pads"]):
        return 0
    return int(node.weights["W"].shape[1])


def chunkable_simd(channels: int, simd: int, max_simd: int) -> bool:
    """Whether a layer whose window is streamed in chunks (`window_channels` > 0, else any S goes) may take
    S = `simd`: one with at least `max_simd` input channels only an S dividing them, so its window streams in
    pixel chunks (rtl_sim/fc_swg.sv) rather than whole (fc_window + fc_serialize: at ResNet-18 widths about
    10x the logic, `bench/plan.py`); a narrower one (a first layer of 1-3 channels) any S."""
    return channels < max_simd or channels % simd == 0


def matrix_columns(w, kernel_major_order: bool = True):
    """(out, in, kh, kw) conv weight (numpy array or torch tensor) -> (out, cols) in the matrix column order
    (`kernel_major`): the one definition the compressor's groups, the golden model, the ROMs and the window
    generators follow."""
    if kernel_major_order and w.ndim == 4:
        w = w.permute(0, 2, 3, 1) if hasattr(w, "permute") else w.transpose(0, 2, 3, 1)
    return w.reshape(w.shape[0], -1)


def columns_to_weight(mat, shape, kernel_major_order: bool = True):
    """Inverse of `matrix_columns`: (out, cols) -> the weight's own (out, in, kh, kw) shape."""
    if kernel_major_order and len(shape) == 4:
        o, i, kh, kw = shape
        m = mat.reshape(o, kh, kw, i)
        return m.permute(0, 3, 1, 2) if hasattr(m, "permute") else m.transpose(0, 3, 1, 2)
    return mat.reshape(tuple(shape))


def weight_matrix(node: Node, w=None):
    """A conv/dense IR node's (rows, cols) weight (or codes, `w`) matrix in its column order."""
    w = node.weights["W"] if w is None else w
    if node.op == "conv":
        return matrix_columns(w, kernel_major(node))
    return w.T


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
    """Default folding: P and S are the largest divisors of rows/cols not above the defaults (no idle lanes); S
    divides the input channels where the window streams in chunks (`chunkable_simd`)."""
    plan = {}
    for node in graph.weighted():
        rows, cols, vectors = layer_matrix(node)
        c = window_channels(node)
        s = _largest_divisor_at_most(c if c >= simd else cols, simd)
        plan[node.name] = LayerMapping(node.name, rows, cols, _largest_divisor_at_most(rows, pe), s, vectors,
                                       channels=c)
    return plan
