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
