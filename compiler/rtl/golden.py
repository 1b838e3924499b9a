"""Golden models of the PE-array RTL's fixed-point arithmetic (docs/rtl.md), bit-exact with rtl_sim/.

`golden` is the plain definition: exact integer dot products of the ternary codes with the activations, the
per-channel integer scale and bias in the accumulator's domain, one rounding and saturation at the end.
`golden_hw` computes the same numbers the way the hardware does (schedule walk over kept groups only, ones'
complement lanes, ACC_W-bit accumulators, shift-and-add post stage with the corrected bias, PW-bit wrap), so
its agreement with `golden` checks the generator's ROM contents and widths without a simulator.
"""

from __future__ import annotations

import numpy as np

from .layer import RtlLayer


def _finish(layer: RtlLayer, v: np.ndarray) -> np.ndarray:
    """Accumulator-domain values (with the rounding constant added) -> output integers."""
    ow = layer.fmt.out_bits
    y = v >> layer.RSH
    if layer.fmt.saturate:
        return np.clip(y, -(1 << (ow - 1)), (1 << (ow - 1)) - 1)
    y = y & ((1 << ow) - 1)
    return np.where(y >> (ow - 1), y - (1 << ow), y)


def check_inputs(layer: RtlLayer, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != layer.cols:
        raise ValueError(f"expected (n, {layer.cols}) input vectors, got {x.shape}")
    lo, hi = -(1 << (layer.W - 1)), (1 << (layer.W - 1)) - 1
    if x.min(initial=0) < lo or x.max(initial=0) > hi:
        raise ValueError(f"inputs outside the signed {layer.W}-bit range")
    return x.astype(np.int64)


def golden(layer: RtlLayer, x: np.ndarray) -> np.ndarray:
    """(n, cols) signed W-bit activations -> (n, rows) outputs:
    y = sat(round((m_r * sum_c codes[r, c] * x[c] + B_r) / 2**RSH))."""
    x = check_inputs(layer, x)
    acc = x @ layer.codes.astype(np.int64).T                          # exact integer dot products
    m = np.array(layer.m[:layer.rows], dtype=np.int64)
    B = np.array(layer.B[:layer.rows], dtype=np.int64)
    rnd = (1 << (layer.RSH - 1)) if (layer.fmt.round_nearest and layer.RSH > 0) else 0
    return _finish(layer, acc * m + B + rnd)


def _wrap(v: np.ndarray, bits: int) -> np.ndarray:
    v = v & ((1 << bits) - 1)
    return np.where(v >> (bits - 1), v - (1 << bits), v)


def golden_hw(layer: RtlLayer, x: np.ndarray) -> np.ndarray:
    """The same outputs, computed as the RTL does it."""
    x = check_inputs(layer, x)
    n = x.shape[0]
    p = layer.params
    S, acc_w, pw = layer.S, p["ACC_W"], p["PW"]
    blocks = np.zeros((n, layer.NBI * layer.IB * S), dtype=np.int64)
    blocks[:, :layer.cols] = x
    blocks = blocks.reshape(n, -1, S)
    res = np.zeros((n, layer.RPP * layer.P), dtype=np.int64)
    for pe in range(layer.P):
        acc = np.zeros(n, dtype=np.int64)
        for k in range(layer.K):
            c = layer.sched_codes[pe, k].astype(np.int64)
            a = blocks[:, layer.sched_block[pe, k], :]
            sel = np.where(c == 1, a, np.where(c == -1, ~a, 0))          # ones' complement for -1
            acc = _wrap(acc + sel.sum(1), acc_w)
            if layer.sched_last[pe, k]:
                res[:, layer.sched_slot[pe, k] * layer.P + pe] = acc
                acc[:] = 0
    out = np.zeros((n, layer.RPP * layer.P), dtype=np.int64)
    for r in range(layer.RPP * layer.P):
        v = np.full(n, layer.B_hw[r], dtype=np.int64)
        for s, k in layer.terms[r]:
            v = v + s * (res[:, r] << k)
        v = _wrap(v, pw)
        out[:, r] = v
    y = out >> layer.RSH
    ow = layer.fmt.out_bits
    if layer.fmt.saturate:
        y = np.clip(y, -(1 << (ow - 1)), (1 << (ow - 1)) - 1)
    else:
        y = _wrap(y, ow)
    return y[:, :layer.rows]


def reference_float(layer: RtlLayer, x: np.ndarray) -> np.ndarray:
    """The layer in floating point on the quantized scale and bias (outputs in output LSBs, unrounded)."""
    f = layer.fmt
    xr = check_inputs(layer, x) * 2.0 ** -f.in_frac
    w = layer.codes * (layer.scale_int[:, None] * 2.0 ** -f.weight_frac)
    b = layer.bias_int * 2.0 ** -f.bias_frac
    return (xr @ w.T + b) * 2.0 ** f.out_frac
