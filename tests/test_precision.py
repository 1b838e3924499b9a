"""Fixed-point sizing from value ranges (compiler.backend.precision)."""

import numpy as np
import pytest

from compiler.backend.precision import Fixed, accumulator, for_range, for_weights, integer_bits


@pytest.mark.parametrize("max_abs,bits", [(0.0, 1), (0.4, 1), (0.5, 2), (0.9, 2), (1.0, 3), (3.0, 4), (5.0, 5),
                                          (100.0, 9)])
def test_integer_bits_cover_twice_the_range(max_abs, bits):
    assert integer_bits(max_abs) == bits
    # the signed type with that many integer bits represents 2 * max_abs
    assert 2 * max_abs < 2.0 ** (bits - 1)


def test_integer_bits_rejects_nan():
    with pytest.raises(ValueError):
        integer_bits(float("nan"))


def test_for_range_keeps_fraction_bits_when_range_is_huge():
    f = for_range(1e6, 16)
    assert f.integer == integer_bits(1e6) and f.fraction >= 4 and f.width == f.integer + f.fraction


def test_hls_strings():
    assert Fixed(16, 6).hls() == "fixed<16,6,RND,SAT>"
    assert Fixed(32, 8, saturate=False, rounding=False).hls() == "fixed<32,8>"
    assert Fixed(16, 2, saturate=False).hls() == "fixed<16,2,RND,WRAP>"
    assert Fixed(8, 3, signed=False).hls() == "ufixed<8,3,RND,SAT>"


def test_weights_fit_exactly_at_their_largest_magnitude():
    w = np.array([0.7, -0.2, 0.05])
    f = for_weights(w, 8)
    assert f.max_value() >= 0.7 and f.max_value() < 2 * 0.7 + 1   # one integer bit beyond, not more
    assert not f.saturate and f.rounding
    assert f.hls().endswith(",RND,WRAP>")
    assert for_weights(np.zeros(3), 8).width == 8


def test_accumulator_keeps_all_product_fraction_bits():
    res, x, w = Fixed(16, 6), Fixed(16, 4), Fixed(16, 1)
    acc = accumulator(res, x, w)
    assert acc.fraction == x.fraction + w.fraction
    assert acc.integer == res.integer + 2
    assert not acc.saturate and not acc.rounding


# ---- ternary layers: int<2> weights, exact accumulator, scale stage ----------------------------------------------
from compiler.backend.precision import (assign_precisions, exact_accumulator, is_ternary, quantize,  # noqa: E402
                                        scale_quantization, ternary_precisions)
from compiler.ir import Graph, Node  # noqa: E402


def _ternary_dense(codes, scale, bias):
    """A dense IR node (weights (in, out)) holding ternary codes and a per-output-channel scale."""
    codes = np.asarray(codes, np.int8)
    inp = Node("x", "input", [], (codes.shape[0],))
    d = Node("d", "dense", ["x"], (codes.shape[1],),
             weights={"W": codes * np.asarray(scale, np.float32), "b": np.asarray(bias, np.float32),
                      "codes": codes, "scale": np.asarray(scale, np.float32)})
    return Graph("g", [inp, d], ["d"]), d


def test_int2_weight_type_is_what_hls4ml_reads_as_ternary():
    """hls4ml 1.3.0 picks `weight_ternary` only for a signed IntegerPrecisionType of width 2."""
    from hls4ml.backends import get_backend

    assert Fixed.ap_int(2).hls() == "int<2>"
    be = get_backend("Vitis")
    w_t = be.convert_precision_string(Fixed.ap_int(2).hls())
    x_t = be.convert_precision_string(Fixed(16, 6).hls())
    assert be.product_type(x_t, w_t) == "weight_ternary"
    assert be.product_type(x_t, be.convert_precision_string("fixed<2,2>")) == "mult"   # why int<2>, not fixed


def test_exact_accumulator_never_overflows():
    """Worst case: a row of n codes all -1 (or +1) against the input type's extreme values still fits."""
    for x_t in (Fixed(8, 3), Fixed(16, 6), Fixed(6, 1)):
        for n in (1, 2, 3, 5, 64, 4608):
            acc = exact_accumulator(x_t, n)
            assert acc.fraction == x_t.fraction and not acc.saturate and not acc.rounding
            lo = -2 ** (x_t.integer - 1)                     # most negative input value
            hi = 2 ** (x_t.integer - 1) - 2 ** -x_t.fraction
            worst = max(abs(n * lo), abs(n * hi))             # sum of n terms of -x or +x
            assert worst <= acc.max_value() and -worst >= -acc.max_value() - 2 ** -acc.fraction
            # and not wasteful: one bit fewer would overflow for some n
            if n & (n - 1) == 0 and n > 1:
                assert worst > Fixed(acc.width - 1, acc.integer - 1).max_value()


def test_ternary_types_and_scale_rounding():
    codes = np.array([[1, 0, -1], [1, 1, 0], [-1, 0, 0], [1, -1, 1]], np.int8)   # (in=4, out=3)
    scale, bias = [0.3, 0.0123456, 1.7], [0.5, -2.25, 0.001]
    g, d = _ternary_dense(codes, scale, bias)
    assert is_ternary(d)
    x_t, out_t = Fixed(16, 4), Fixed(16, 6)
    p = ternary_precisions(d, x_t, out_t, 16)
    assert p["weight"].hls() == "int<2>" and p["result"] == out_t
    assert p["accum"] == exact_accumulator(x_t, 4)
    # rows of the code matrix are output channels: L1 norms 4, 2, 2 -> ceil(log2(4)) = 2
    assert p["accum"].integer == x_t.integer + 2 + 1
    assert p["scale"].width == 16 and p["scale"].rounding and p["scale"].max_value() >= 1.7
    assert p["bias"].fraction >= out_t.fraction + 2
    q = scale_quantization(d, p)
    lsb = 2.0 ** -p["scale"].fraction
    assert 0 < q["scale_max_abs_error"] <= lsb / 2
    stored = d.weights["scale"].astype(np.float64)            # the IR's float32 scales
    assert q["scale_max_rel_error"] == pytest.approx(max(abs(quantize(s, p["scale"].fraction) * lsb - s) / s
                                                          for s in stored))
    assert q["bias_max_abs_error"] <= 2.0 ** -p["bias"].fraction / 2


def test_assign_precisions_uses_the_ternary_path_only_for_ternary_layers():
    codes = np.array([[1, 0], [0, -1], [1, 1]], np.int8)
    g, d = _ternary_dense(codes, [0.5, 0.25], [0.0, 0.1])
    p = assign_precisions(g, {"x": 1.0, "d": 2.0}, 16, 16)
    assert set(p["d"]) == {"weight", "accum", "scale", "bias", "result"}
    assert p["d"]["accum"] == exact_accumulator(p["x"]["result"], 2)
    del d.weights["codes"], d.weights["scale"]             # the same layer, not compressed: today's path
    p = assign_precisions(g, {"x": 1.0, "d": 2.0}, 16, 16)
    assert set(p["d"]) == {"weight", "bias", "accum", "result"} and p["d"]["weight"].width == 16


def _as_hls4ml_reads_it(v: float, t: Fixed) -> int:
    """hls4ml writes a weight of type t as '{:.<frac>f}' text; the C-sim reads it as a double and converts it
    with t's rounding (AP_RND: floor(x * 2**frac + 1/2))."""
    text = f"{v:.{max(0, t.fraction)}f}"
    return int(np.floor(float(text) * 2.0 ** t.fraction + 0.5))


def test_fixed_point_weights_reach_hls4ml_as_the_golden_integers():
    """A float32 weight exactly at a rounding tie ((2k+1) * 2**-(frac+1)) printed with `frac` decimals lands below
    the tie, so the C-sim rounded it down where the golden model and the RTL ROM round up (1 LSB on 3 of 6,400
    values of uncompressed digits_cnn's Gemm). The lowering hands hls4ml the type's exact values instead."""
    from compiler.backend.hls4ml_emit import lower_to_hls4ml
    from compiler.backend.precision import fixed_ints, fixed_values

    t = Fixed(16, 0, saturate=False, rounding=True)
    tie = np.float32((2 * 1234 + 1) * 2.0 ** -17)              # exactly representable in float32
    assert fixed_ints(np.array([tie]), t)[0] == 1235
    assert _as_hls4ml_reads_it(float(tie), t) == 1234           # the raw value's text: one LSB low
    assert _as_hls4ml_reads_it(float(fixed_values(np.array([tie]), t)[0]), t) == 1235
    # wrap and saturation as the type says
    assert list(fixed_ints(np.array([0.5, -0.5]), t)) == [-32768, -32768]
    assert list(fixed_ints(np.array([0.5, -0.6]), Fixed(16, 0))) == [32767, -32768]

    w = np.zeros((4, 3), np.float32)
    w[1, 2] = tie
    b = np.array([tie, 0, 0], np.float32)
    g = Graph("g", [Node("x", "input", [], (4,)), Node("d", "dense", ["x"], (3,), weights={"W": w, "b": b})], ["d"])
    prec = {"x": {"result": Fixed(16, 6)}, "d": {"result": Fixed(16, 6), "weight": t, "bias": t,
                                                "accum": Fixed(40, 8, saturate=False, rounding=False)}}
    layers, _ = lower_to_hls4ml(g, "m.onnx", prec)
    dense = next(l for l in layers if l["class_name"] == "Dense")
    for arr, want in ((dense["weight_data"], fixed_ints(w, t)), (dense["bias_data"], fixed_ints(b, t))):
        read = np.array([_as_hls4ml_reads_it(float(v), t) for v in np.ravel(arr)]).reshape(np.shape(arr))
        assert np.array_equal(read, want)
