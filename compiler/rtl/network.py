"""The whole network in fixed point: one integer description of every node, its golden model, and the stream
formats the accelerator RTL (`compiler.rtl.accel`) uses between its modules.

Every IR tensor t has the backend's fixed-point type T_t (`compiler.backend.precision.Fixed`): its values are
the integers v with real value v * 2**-frac(T_t). The arithmetic below is hls4ml's C simulation of fcomp's
project, op by op (templates of hls4ml 1.3.0, `nnet_utils/`), written once here for the golden model; the RTL
modules in rtl_sim/fc_*.sv implement exactly these formulas and the tests prove they agree:

* input      x_int = SAT(floor(x * 2**f + 1/2))                (float -> ap_fixed<.., AP_RND, AP_SAT>)
* ternary conv/dense   acc = codes . x (exact), y = RND_SAT(acc * scale + bias)   (`compiler.rtl.golden`)
* conv/dense (fixed-point weights)  acc = WRAP(bias + sum WRAP(w * x)) in the accumulator type, y = CAST(acc)
* relu       y = CAST(max(x, 0))
* clip       F = max(frac(T_x), frac(T_y)); x' = x with F fraction bits (exact); lo, hi = the constant bounds
             rounded to F fraction bits (AP_RND, `clip_bounds`; a missing bound is no bound);
             y = CAST(min(max(x', lo), hi)) (ONNX Clip, so min > max gives max). fcomp's own hls4ml layer
             `nnet::fcomp_clip` (compiler/backend/hls4ml_clip.py) and rtl_sim/fc_clip.sv use these numbers
* add        y = CAST(a + b), the sum exact
* hardsigmoid  S, B = alpha, beta rounded to 16 fraction bits (`hardsigmoid_constants`); v = S x + B exact at
             F = frac(T_x) + 16 bits, clamped to [0, 1], y = CAST(v) (hls4ml's hard_sigmoid: `auto` arithmetic)
* hardswish  S, B as HardSigmoid's (alpha 1/6, beta 1/2); h = min(max(S x + B, 0), 1) exact at F = frac(T_x) + 16,
             y = CAST(x * h) from the exact product at frac(T_x) + F (`hardswish_types`: fcomp's own hls4ml layer
             `nnet::fcomp_hardswish`, compiler/backend/hls4ml_hardswish.py, and rtl_sim/fc_hardswish.sv)
* sigmoid    hls4ml's table (`nnet::sigmoid`, table_size 1024 over [-8, 8)): i = trunc_to_zero(x * 64) + 512
             clamped to 0..1023, y = table[i], the table computed as nnet's init_sigmoid_table does (float32
             1 / (1 + exp(-x_i)) at x_i = 16 (i - 512) / 1024) and held in the result type (`sigmoid_table`)
* maxpool    y = max over the window (zero padding: the input is non-negative, checked by the backend)
* avgpool / globalavgpool   s = sum over the window in the accumulator type (exact), q = trunc_to_zero(s / N)
                            with the accumulator's fraction bits (ap_fixed's `/ int`), y = CAST(q)
* concat     y = the channels of CAST(a) then those of CAST(b) (hls4ml's concatenate: each element assigned to
             the result type)
* upsample   y[c, i, j] = x[c, i // sh, j // sw] (nearest neighbour by integer factors; the type is unchanged:
             hls4ml's resize_nearest reads and writes one stream type)
* flatten    the same values, C*H*W order

CAST(v from fraction f to type T) = shift to T's fraction bits (AP_RND: add half an LSB, then floor; AP_TRN:
floor), then AP_SAT clamps to T's range or AP_WRAP keeps its low bits (`cast`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..backend.precision import Fixed, fixed_ints, is_ternary, quantize as quantize_frac, saturate, wrap
from ..errors import FcompError
from ..ir import Graph, Node, conv_groups, is_grouped
from ..plan import LayerMapping, kernel_major, weight_matrix
from .data import im2col
from .golden import golden
from .layer import RtlFormat, RtlLayer, build_layer, nonzero_groups_per_pe

SUPPORTED_OPS = ("input", "conv", "dense", "relu", "sigmoid", "hardsigmoid", "hardswish", "clip", "add", "concat", "maxpool", "avgpool",
                 "globalavgpool", "upsample", "flatten")


def cast(v: np.ndarray, frac: int, t: Fixed) -> np.ndarray:
    """Integers with `frac` fraction bits -> integers of type t (ap_fixed's conversion with t's modes)."""
    v = np.asarray(v, np.int64)
    d = frac - t.fraction
    if d > 0:
        v = (v + (1 << (d - 1))) >> d if t.rounding else v >> d
    elif d < 0:
        v = v << -d
    return saturate(v, t) if t.saturate else wrap(v, t.width, t.signed)


def trunc_div(v: np.ndarray, n: int) -> np.ndarray:
    """Integer division truncated towards zero (C's `/`, ap_fixed's sdiv)."""
    v = np.asarray(v, np.int64)
    q = np.abs(v) // n
    return np.where(v < 0, -q, q)


SIGMOID_TABLE = 1024     # hls4ml's default table_size for sigmoid; the table spans [-8, 8): 64 entries per unit
SIGMOID_STEPS = SIGMOID_TABLE // 16


def sigmoid_table(t: Fixed) -> np.ndarray:
    """hls4ml's `init_sigmoid_table` as integers of type t (the table type fcomp sets: the result's): entry i is
    float32(1 / (1 + expf(-x_i))) at x_i = 16 (i - 512) / 1024 (nnet's sigmoid_fcn_float), converted to t as
    ap_fixed converts a float (`quantize_input`)."""
    i = np.arange(SIGMOID_TABLE, dtype=np.float64)
    x = (16.0 * (i - SIGMOID_TABLE / 2) / SIGMOID_TABLE).astype(np.float32)
    e = np.exp(-x.astype(np.float64)).astype(np.float32)               # std::exp(float), correctly rounded
    r = (1.0 / (np.float32(1) + e).astype(np.float64)).astype(np.float32)
    return quantize_input(r, t)


HSIG_FRAC = 16           # fraction bits of HardSigmoid's slope and shift


@dataclass(frozen=True)
class HardSigmoidConstants:
    slope: int          # alpha * 2^16, rounded (> 0)
    shift: int          # beta * 2^16, rounded (signed)
    slope_bits: int     # unsigned width holding slope
    shift_bits: int     # signed width holding shift


def hardsigmoid_constants(node: Node) -> HardSigmoidConstants:
    s = int(quantize_frac(node.attrs["alpha"], HSIG_FRAC))
    b = int(quantize_frac(node.attrs["beta"], HSIG_FRAC))
    return HardSigmoidConstants(s, b, max(HSIG_FRAC + 1, s.bit_length()),
                                max(HSIG_FRAC + 2, (b if b >= 0 else ~b).bit_length() + 1))


def hardsigmoid_int(x: np.ndarray, in_t: Fixed, k: HardSigmoidConstants, out_t: Fixed) -> np.ndarray:
    """clip(S x + B, 0, 1) exact at frac(T_x) + 16 fraction bits, then one cast to out_t."""
    if in_t.fraction < 0:
        raise FcompError("HardSigmoid needs an input type with fraction bits >= 0")
    f = in_t.fraction + HSIG_FRAC
    v = np.asarray(x, np.int64) * k.slope + (k.shift << in_t.fraction)
    return cast(np.clip(v, 0, 1 << f), f, out_t)


@dataclass(frozen=True)
class HardSwishTypes:
    """HardSwish's exact intermediate types (widths and fraction bits of signed values): h = S x + B at h_frac =
    the input's fraction bits + 16, then x * h at p_frac; `shift_raw` is B at h_frac."""
    k: HardSigmoidConstants
    shift_raw: int
    h_width: int
    h_frac: int
    p_width: int
    p_frac: int
    k_frac: int = HSIG_FRAC


def hardswish_types(node: Node, in_t: Fixed) -> HardSwishTypes:
    if in_t.fraction < 0:
        raise FcompError(f"node {node.name}: HardSwish needs an input type with fraction bits >= 0")
    k = hardsigmoid_constants(node)
    f = in_t.fraction + HSIG_FRAC
    h_width = max(in_t.width + k.slope_bits + 1, k.shift_bits + in_t.fraction, f + 2) + 1
    p_width = in_t.width + f + 2
    if p_width > 63:
        raise FcompError(f"node {node.name}: a {p_width}-bit HardSwish product has no RTL (at most 63 bits)")
    return HardSwishTypes(k, k.shift << in_t.fraction, h_width, f, p_width, in_t.fraction + f)


def hardswish_int(x: np.ndarray, in_t: Fixed, t: HardSwishTypes, out_t: Fixed) -> np.ndarray:
    """x * clip(S x + B, 0, 1): the clip exact at h_frac, the product exact at p_frac, then one cast to out_t."""
    x = np.asarray(x, np.int64)
    h = np.clip(x * t.k.slope + t.shift_raw, 0, 1 << t.h_frac)
    return cast(x * h, t.p_frac, out_t)


def sigmoid_index(x: np.ndarray, frac: int) -> np.ndarray:
    """nnet::sigmoid's table index of integers x with `frac` fraction bits: int(x * 1024 / 16) (exact, then C's
    truncation towards zero) + 512, clamped to the table."""
    v = np.asarray(x, np.int64) * SIGMOID_STEPS
    q = trunc_div(v, 1 << frac) if frac > 0 else v << -frac
    return np.clip(q + SIGMOID_TABLE // 2, 0, SIGMOID_TABLE - 1)


@dataclass(frozen=True)
class ClipBounds:
    """A Clip's arithmetic (see the module doc): compare at `frac` fraction bits, in `width`-bit signed values."""
    frac: int
    lo: int | None
    hi: int | None
    width: int


def clip_bounds(node: Node, in_t: Fixed, out_t: Fixed) -> ClipBounds:
    """The Clip's bounds as integers with F = max(input, output) fraction bits, and a signed width holding them
    and every input value shifted to F bits (the comparison's width in C++ and RTL)."""
    f = max(in_t.fraction, out_t.fraction)
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    x_lo = (-(1 << (in_t.width - 1)) if in_t.signed else 0) << (f - in_t.fraction)
    x_hi = ((1 << (in_t.width - (1 if in_t.signed else 0))) - 1) << (f - in_t.fraction)
    # a bound no input reaches is no comparison (also exporters' +-FLT_MAX for "none")
    if lo is not None and lo * 2.0 ** f <= x_lo and (hi is None or hi >= lo):
        lo = None
    if hi is not None and hi * 2.0 ** f >= x_hi and (lo is None or hi >= lo):
        hi = None
    for b in (lo, hi):
        if b is not None and abs(b) * 2.0 ** f >= 2.0 ** 60:
            raise FcompError(f"node {node.name}: Clip bound {b} is too large for a {f}-fraction-bit comparison")
    lo = None if lo is None else int(quantize_frac(lo, f))
    hi = None if hi is None else int(quantize_frac(hi, f))
    width = in_t.width + (f - in_t.fraction) + (0 if in_t.signed else 1)
    for b in (lo, hi):
        if b is not None:
            width = max(width, (b if b >= 0 else ~b).bit_length() + 1)
    return ClipBounds(f, lo, hi, width + 1)


def clip_int(x: np.ndarray, in_t: Fixed, b: ClipBounds, out_t: Fixed) -> np.ndarray:
    v = np.asarray(x, np.int64) << (b.frac - in_t.fraction)
    if b.lo is not None:
        v = np.maximum(v, b.lo)
    if b.hi is not None:
        v = np.minimum(v, b.hi)
    return cast(v, b.frac, out_t)


def quantize_input(x: np.ndarray, t: Fixed) -> np.ndarray:
    """Real inputs -> integers of the input type (ap_fixed's conversion of a double with t's modes; the one
    definition, `compiler.runtime.wordlayout.quantize_real`, is the board driver's too)."""
    from ..runtime.wordlayout import LayoutError, quantize_real

    try:
        return quantize_real(x, t.width, t.fraction, t.signed, t.rounding, t.saturate)
    except LayoutError as e:
        raise FcompError(str(e)) from None


@dataclass
class NetNode:
    """One node of the fixed-point network: its IR node, output type and (weighted layers) integer weights."""
    node: Node
    out: Fixed
    accum: Fixed | None = None            # pools and fixed-point conv/dense
    layer: RtlLayer | None = None         # ternary conv/dense: the PE-array description (codes, scale, bias)
    mapping: LayerMapping | None = None
    weight_int: np.ndarray | None = None  # fixed-point conv/dense: (rows, cols) integers
    weight_t: Fixed | None = None
    bias_int: np.ndarray | None = None
    bias_t: Fixed | None = None
    lanes: int | None = None              # lanes per beat of its stream in fcomp_accel (`rtl.accel.stream_lanes`)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op(self) -> str:
        return self.node.op

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.node.shape)


@dataclass
class Network:
    graph: Graph
    nodes: dict[str, NetNode]
    order: list[str] = field(default_factory=list)

    @property
    def input(self) -> NetNode:
        return self.nodes[self.graph.inputs[0].name]

    @property
    def output(self) -> NetNode:
        return self.nodes[self.graph.outputs[0]]

    def uncovered(self) -> list[str]:
        """Why the accelerator RTL cannot build this network ([] when it can)."""
        why = []
        for nn in self.nodes.values():
            if nn.op not in SUPPORTED_OPS:
                why.append(f"{nn.name}: op {nn.op} has no RTL module")
            elif nn.op in ("conv", "dense") and nn.layer is None and nn.mapping is None:
                why.append(f"{nn.name}: no PE mapping for its fixed-point weights")
        return why


def kept_per_pe(compression_rows: list[dict] | None, name: str) -> int | None:
    for r in compression_rows or []:
        if r["name"] == name and r.get("kept_groups_per_pe"):
            return int(max(r["kept_groups_per_pe"]))
    return None


def build_network(graph: Graph, precisions: dict, plan: dict[str, LayerMapping],
                  compression_rows: list[dict] | None = None, in_blocks: dict[str, int] | None = None) -> Network:
    """The integer view of a (compressed) IR graph with the backend's types and the planner's PE mapping."""
    from .data import auto_in_blocks

    nodes: dict[str, NetNode] = {}
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            raise FcompError(f"node {node.name}: op {node.op} is not in the fixed-point network model")
        p = precisions[node.name]
        nn = NetNode(node, p["result"], accum=p.get("accum"))
        if node.op in ("conv", "dense"):
            mapping = plan[node.name]
            nn.mapping = mapping
            src_t = precisions[node.inputs[0]]["result"]
            if is_ternary(node) and is_grouped(node):
                raise FcompError(f"layer {node.name}: a ternary grouped conv has no PE-array form (grouped convs "
                                 "keep fixed-point weights, `compress.engine.layer_bits`)")
            if is_ternary(node):
                fmt = RtlFormat.from_backend(src_t, p)
                k = kept_per_pe(compression_rows, node.name)
                # a layer compression did not prune (or an imported ternary model): its schedule visits the
                # nonzero groups, as `pipeline.estimate_compressed` counts them, so the input stream is sized to it
                steps = k or max(1, *nonzero_groups_per_pe(weight_matrix(node, node.weights["codes"]),
                                                           mapping.pe, mapping.simd))
                ib = (in_blocks or {}).get(node.name) or auto_in_blocks(mapping, steps)
                nn.layer = build_layer(node, mapping, fmt, kept_per_pe=k, in_blocks=ib)
            else:
                mat = weight_matrix(node)
                nn.weight_t, nn.bias_t = p["weight"], p["bias"]
                nn.weight_int = fixed_ints(mat, p["weight"])
                nn.bias_int = fixed_ints(node.weights["b"], p["bias"])
        nodes[node.name] = nn
    return Network(graph, nodes, [n.name for n in graph.nodes])


# ---- the golden model ----------------------------------------------------------------------------------------------
def _windows(x: np.ndarray, kernel, strides, pads, kernel_major_order: bool = False) -> np.ndarray:
    """(N, C, H, W) -> (N, Ho*Wo, C*kh*kw) zero-padded windows, lanes (c, kh, kw), or (kh, kw, c) when
    `kernel_major_order` (a conv's matrix columns, `plan.kernel_major`)."""
    return np.stack([im2col(a, kernel, strides, pads, kernel_major_order) for a in x])


def _conv_out(node: Node) -> tuple[int, int, int]:
    return tuple(node.shape)


def run_node(net: Network, nn: NetNode, xs: list[np.ndarray], ts: list[Fixed]) -> np.ndarray:
    """One node on a batch: integer inputs (N, *shape) of types ts -> integer outputs (N, *nn.shape)."""
    node, n = nn.node, len(xs[0])
    if node.op == "relu":
        return cast(np.maximum(xs[0], 0), ts[0].fraction, nn.out)
    if node.op == "hardsigmoid":
        return hardsigmoid_int(xs[0], ts[0], hardsigmoid_constants(node), nn.out)
    if node.op == "hardswish":
        return hardswish_int(xs[0], ts[0], hardswish_types(node, ts[0]), nn.out)
    if node.op == "sigmoid":
        return sigmoid_table(nn.out)[sigmoid_index(xs[0], ts[0].fraction)]
    if node.op == "clip":
        return clip_int(xs[0], ts[0], clip_bounds(node, ts[0], nn.out), nn.out)
    if node.op == "flatten":
        return xs[0].reshape(n, -1)
    if node.op == "add":
        f = max(ts[0].fraction, ts[1].fraction)
        s = (xs[0] << (f - ts[0].fraction)) + (xs[1] << (f - ts[1].fraction))
        return cast(s, f, nn.out)
    if node.op == "upsample":
        sh, sw = node.attrs["scale"]
        return cast(xs[0], ts[0].fraction, nn.out).repeat(sh, axis=2).repeat(sw, axis=3)
    if node.op == "concat":
        return np.concatenate([cast(x, t.fraction, nn.out) for x, t in zip(xs, ts)], axis=1)
    if node.op in ("conv", "dense"):
        if node.op == "conv":
            vec = _windows(xs[0], node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"], kernel_major(node))
        else:
            vec = xs[0].reshape(n, 1, -1)
        flat = vec.reshape(-1, vec.shape[-1])
        if nn.layer is not None:
            y = golden(nn.layer, flat)
        else:
            y = _fixed_layer(nn, flat, ts[0])
        y = y.reshape(n, vec.shape[1], -1)
        if node.op == "conv":
            c, h, w = node.shape
            return y.transpose(0, 2, 1).reshape(n, c, h, w)
        return y.reshape(n, -1)
    if node.op == "maxpool":
        c = xs[0].shape[1]
        win = _windows(xs[0], node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"])
        k = int(np.prod(node.attrs["kernel"]))
        y = win.reshape(n, -1, c, k).max(-1)
        return y.transpose(0, 2, 1).reshape(n, *node.shape)
    if node.op in ("avgpool", "globalavgpool"):
        c = xs[0].shape[1]
        if node.op == "avgpool":
            win = _windows(xs[0], node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"])
            k = int(np.prod(node.attrs["kernel"]))
            win = win.reshape(n, -1, c, k)
        else:
            k = int(np.prod(xs[0].shape[2:]))
            win = xs[0].reshape(n, 1, c, k)
        acc = nn.accum
        s = wrap(cast(win, ts[0].fraction, acc).sum(-1), acc.width, acc.signed)
        q = wrap(trunc_div(s, k), acc.width, acc.signed)
        y = cast(q, acc.fraction, nn.out)
        return y.transpose(0, 2, 1).reshape(n, *node.shape)
    raise FcompError(f"node {node.name}: no golden model for op {node.op}")


def grouped_lanes(rows: int, cols: int, groups: int) -> np.ndarray:
    """(rows, cols) window lane read by row r, column c of a grouped conv: the window vector is in ONNX weight
    order (channel, kh, kw), so group g's input channels are lanes g*cols .. (g+1)*cols - 1, and row r belongs to
    group r // (rows / groups)."""
    g = np.arange(rows) // (rows // groups)
    return g[:, None] * cols + np.arange(cols)[None, :]


def _fixed_layer(nn: NetNode, x: np.ndarray, in_t: Fixed) -> np.ndarray:
    """hls4ml's Dense/Conv (Resource strategy): acc = (accum_t) bias; acc += (accum_t)(w * x); res = (res_t) acc."""
    acc_t = nn.accum
    fp = in_t.fraction + nn.weight_t.fraction
    rows, cols = nn.weight_int.shape
    if x.shape[1] != cols:   # a grouped conv: row r reads the window lanes of its group (`grouped_lanes`)
        prods = x[:, grouped_lanes(rows, cols, conv_groups(nn.node))] * nn.weight_int[None, :, :]
    else:
        prods = x[:, None, :] * nn.weight_int[None, :, :]             # (n, rows, cols), exact
    prods = wrap(cast(prods, fp, acc_t), acc_t.width, acc_t.signed)
    acc = wrap(cast(nn.bias_int, nn.bias_t.fraction, acc_t)[None, :] + prods.sum(-1), acc_t.width, acc_t.signed)
    return cast(acc, acc_t.fraction, nn.out)


def run_network(net: Network, x: np.ndarray, keep: bool = False) -> dict[str, np.ndarray] | np.ndarray:
    """Real network inputs (N, *input shape) -> the integer output (N, *output shape); keep=True returns every
    node's integer tensor {name: (N, *shape)} (the layer-boundary traces the RTL is compared with)."""
    x = np.asarray(x)
    if x.ndim == len(net.input.shape):
        x = x[None]
    vals: dict[str, np.ndarray] = {}
    for name in net.order:
        nn = net.nodes[name]
        if nn.op == "input":
            vals[name] = quantize_input(x.reshape(len(x), *nn.shape), nn.out)
            continue
        srcs = [net.nodes[i] for i in nn.node.inputs]
        vals[name] = run_node(net, nn, [vals[s.name] for s in srcs], [s.out for s in srcs])
        if not keep:
            for s in srcs:   # free tensors no later node reads
                if s.name not in net.graph.outputs and all(
                        s.name not in net.nodes[m].node.inputs for m in net.order[net.order.index(name) + 1:]):
                    vals.pop(s.name, None)
    return vals if keep else vals[net.graph.outputs[0]]


def to_real(v: np.ndarray, t: Fixed) -> np.ndarray:
    return np.asarray(v, np.float64) * 2.0 ** -t.fraction


def from_real(y: np.ndarray, t: Fixed) -> np.ndarray:
    """Exact fixed-point values (e.g. hls4ml's C-sim outputs) -> integers of type t."""
    return np.round(np.asarray(y, np.float64) * 2.0 ** t.fraction).astype(np.int64)
