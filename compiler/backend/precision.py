"""Fixed-point types for hls4ml, sized from value ranges seen on calibration data.

Every IR tensor gets `fixed<W, I, RND, SAT>` with I integer bits (sign included) covering twice the largest
|value| seen, so an input a bit outside the calibration set still fits, and saturates rather than wraps.
Accumulators keep every fractional bit of the products (exact sums) and wrap: two's-complement sums are
exact whenever the final value fits, so only the final range matters for them.

Ternary layers (IR weights `codes` in {-1, 0, +1} and a per-channel `scale`) get the multiplier-free form
(issue #5): weights typed exactly `int<2>` (hls4ml 1.3.0 then picks its `weight_ternary` product: select, negate
or zero, no multiplier), and an exact accumulation type that cannot overflow: the input's fraction bits, and
the input's integer bits + ceil(log2(largest row L1 norm of the codes)) + 1 (the +1 holds -(-2^(I-1))). The
per-channel scale and the bias move to a following fixed-point scale stage y = acc * scale + bias (hls4ml's
BatchNormalization: an exact product and sum, one RND+SAT cast into the output type sized from the calibrated
output range). Scale and bias are rounded to their types here, once (`quantize`), so hls4ml, the RTL and the
report all see the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph

MIN_FRACTION_BITS = 4
MAX_ACCUM_WIDTH = 64


@dataclass(frozen=True)
class Fixed:
    width: int
    integer: int
    signed: bool = True
    saturate: bool = True
    rounding: bool = True
    is_int: bool = False     # hls4ml IntegerPrecisionType (`int<W>`): what makes it choose weight_ternary

    @classmethod
    def ap_int(cls, width: int, signed: bool = True) -> "Fixed":
        return cls(width, width, signed, saturate=False, rounding=False, is_int=True)

    @property
    def fraction(self) -> int:
        return self.width - self.integer

    def hls(self) -> str:
        if self.is_int:
            return f"{'' if self.signed else 'u'}int<{self.width}>"
        base = "fixed" if self.signed else "ufixed"
        mode = (",RND" if self.rounding else ",TRN") + (",SAT" if self.saturate else ",WRAP")
        if mode == ",TRN,WRAP":
            mode = ""  # hls4ml's and ap_fixed's default
        return f"{base}<{self.width},{self.integer}{mode}>"

    def max_value(self) -> float:
        return 2.0 ** (self.integer - (1 if self.signed else 0)) - 2.0 ** -self.fraction


def integer_bits(max_abs: float, headroom: float = 2.0) -> int:
    """Signed integer bits (sign included) so that headroom * max_abs is representable."""
    if not np.isfinite(max_abs):
        raise ValueError("non-finite value range")
    if max_abs <= 0:
        return 1
    return max(1, math.floor(math.log2(max_abs * headroom)) + 2)


def for_range(max_abs: float, width: int, headroom: float = 2.0) -> Fixed:
    i = integer_bits(max_abs, headroom)
    return Fixed(max(width, i + MIN_FRACTION_BITS), i)


def for_weights(w: np.ndarray, width: int) -> Fixed:
    """Weights are known exactly: no headroom beyond the largest magnitude, no saturation needed.

    They round to nearest: truncation biases every weight by half an LSB in the same direction, and that bias
    adds up linearly over thousands of products (16-bit ResNet-18 logits were off by 0.046 truncated).
    """
    m = float(np.max(np.abs(w))) if w.size else 0.0
    i = -6 if m == 0 else min(width - 1, max(-6, math.floor(math.log2(m)) + 2))
    return Fixed(width, i, saturate=False, rounding=True)


def accumulator(result: Fixed, inputs: Fixed, weights: Fixed) -> Fixed:
    frac = min(inputs.fraction + weights.fraction, MAX_ACCUM_WIDTH - result.integer - 2)
    frac = max(frac, result.fraction)
    return Fixed(result.integer + 2 + frac, result.integer + 2, saturate=False, rounding=False)


def assign_precisions(graph: Graph, ranges: dict[str, float], act_bits: int = 16,
                      weight_bits: int = 16) -> dict[str, dict[str, Fixed]]:
    """Per IR node: {'result', and for weighted layers 'weight', 'bias', 'accum'; for pools 'accum'}; ternary
    layers also 'scale' (see `ternary_precisions`)."""
    out: dict[str, dict[str, Fixed]] = {}
    for node in graph.nodes:
        p = {"result": for_range(ranges[node.name], act_bits)}
        if node.inputs:
            src = out[node.inputs[0]]["result"]
        if is_ternary(node):
            p = ternary_precisions(node, src, p["result"], weight_bits)
        elif node.op in ("conv", "dense"):
            p["weight"] = for_weights(node.weights["W"], weight_bits)
            p["bias"] = for_weights(node.weights["b"], weight_bits)
            p["accum"] = accumulator(p["result"], src, p["weight"])
        elif node.op in ("avgpool", "globalavgpool"):
            window = (np.prod(node.attrs["kernel"]) if node.op == "avgpool"
                      else np.prod(graph.node(node.inputs[0]).shape[1:]))
            grow = math.ceil(math.log2(max(2, int(window))))
            p["accum"] = Fixed(src.integer + grow + max(src.fraction, p["result"].fraction) + 1,
                               src.integer + grow + 1, saturate=False, rounding=False)
        elif node.op in ("sigmoid", "hardsigmoid"):   # values in [0, 1]
            p["result"] = for_range(max(1.0, ranges[node.name]), act_bits)
            if node.op == "sigmoid":   # hls4ml's table holds them in the result type (one rounding)
                p["table"] = p["result"]
        elif node.op == "upsample":   # copies: hls4ml's resize_nearest has one stream type in and out
            p = {"result": src}
        elif node.op == "maxpool":
            # the max is taken in the input's own type: hls4ml's default pooling accumulator (the model's
            # default fixed<16,6>, truncating) would drop fraction bits before the max
            p = {"result": src, "accum": src}
        elif node.op in ("relu", "clip", "flatten"):
            p["result"] = src if node.op == "flatten" else p["result"]
        out[node.name] = p
    return out


def quantize(v, frac: int) -> np.ndarray:
    """Round real values to multiples of 2**-frac, nearest with ties up (ap_fixed's AP_RND): the integers."""
    return np.floor(np.asarray(v, np.float64) * 2.0 ** frac + 0.5).astype(np.int64)


def wrap(v: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    """Integers reduced to their low `bits` bits (AP_WRAP), two's complement when signed."""
    v = np.asarray(v, np.int64) & ((1 << bits) - 1)
    return np.where(v >> (bits - 1), v - (1 << bits), v) if signed else v


def saturate(v: np.ndarray, t: Fixed) -> np.ndarray:
    """Integers clamped to type t's range (AP_SAT)."""
    lo, hi = ((-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1) if t.signed else (0, (1 << t.width) - 1))
    return np.clip(v, lo, hi)


def fixed_ints(v, t: Fixed) -> np.ndarray:
    """Constant real values (weights, biases) as the integers of type t: rounded to nearest (ties up, AP_RND), then
    clamped (SAT) or wrapped (WRAP) to t's width. The one conversion of fixed-point weights: the golden model and
    the RTL ROMs use these integers, and hls4ml is handed exactly these values (`fixed_values`)."""
    q = quantize(v, t.fraction)
    return saturate(q, t) if t.saturate else wrap(q, t.width, t.signed)


def fixed_values(v, t: Fixed) -> np.ndarray:
    """`fixed_ints` as real values (float64, exact): k * 2**-frac prints exactly with `frac` decimals, which is how
    hls4ml writes a weight of type t, so its C-sim reads back the same value. A raw float32 weight at a rounding
    tie ((2k+1) * 2**-(frac+1)) would print rounded to `frac` decimals, below the tie, and round down in C++
    where AP_RND rounds up (uncompressed digits_cnn: 1 LSB on 3 of 6,400 values of its first Gemm)."""
    return fixed_ints(v, t).astype(np.float64) * 2.0 ** -t.fraction


def is_ternary(node) -> bool:
    return node.op in ("conv", "dense") and "codes" in node.weights and "scale" in node.weights


def codes_matrix(node) -> np.ndarray:
    """(out, fan-in) codes of a ternary conv (out, in, kh, kw) or dense (in, out) node, columns in the
    matrix order (`plan.weight_matrix`)."""
    from ..plan import weight_matrix

    return weight_matrix(node, np.asarray(node.weights["codes"]))


def exact_accumulator(inputs: Fixed, max_l1: int) -> Fixed:
    """Sum of at most max_l1 terms +-x, x of type `inputs`: never overflows, keeps every bit."""
    grow = math.ceil(math.log2(max(1, int(max_l1))))
    i = inputs.integer + grow + 1
    return Fixed(i + inputs.fraction, i, saturate=False, rounding=False)


def for_scale(values: np.ndarray, width: int) -> Fixed:
    """The per-channel scales (>= 0): integer bits from the largest, `width` bits in all (rounded once)."""
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    i = -6 if m == 0 else min(width - 1, math.floor(math.log2(m)) + 2)
    return Fixed(width, i, saturate=False, rounding=True)


def ternary_precisions(node, inputs: Fixed, result: Fixed, weight_bits: int) -> dict[str, Fixed]:
    """The multiplier-free types of a ternary layer: 'weight' int<2>, 'accum' (the conv/dense result, exact),
    'scale' and 'bias' of the scale stage, 'result' (its output)."""
    scale = np.asarray(node.weights["scale"], np.float64).reshape(-1)
    bias = np.asarray(node.weights["b"], np.float64).reshape(-1)
    l1 = int(np.abs(codes_matrix(node)).sum(1).max()) if scale.size else 0
    s_t = for_scale(scale, weight_bits)
    b_w = for_weights(bias, weight_bits)
    # the bias rounds to well below the output's LSB even when its own range is large
    frac = max(b_w.fraction, result.fraction + 2)
    b_t = Fixed(b_w.integer + frac, b_w.integer, saturate=False, rounding=True)
    return {"weight": Fixed.ap_int(2), "accum": exact_accumulator(inputs, l1), "scale": s_t, "bias": b_t,
            "result": result}


def scale_quantization(node, p: dict[str, Fixed]) -> dict:
    """How far the stored scales and biases are from the compressed model's (reported per layer)."""
    scale = np.asarray(node.weights["scale"], np.float64).reshape(-1)
    bias = np.asarray(node.weights["b"], np.float64).reshape(-1)
    sq = quantize(scale, p["scale"].fraction) * 2.0 ** -p["scale"].fraction
    bq = quantize(bias, p["bias"].fraction) * 2.0 ** -p["bias"].fraction
    nz = scale > 0
    rel = float(np.max(np.abs(sq[nz] - scale[nz]) / scale[nz])) if nz.any() else 0.0
    return {"scale_max_abs_error": float(np.max(np.abs(sq - scale), initial=0.0)),
            "scale_max_rel_error": rel, "bias_max_abs_error": float(np.max(np.abs(bq - bias), initial=0.0))}
