"""PE-array RTL generator without a simulator: fixed-point golden models, ROM encoding, schedule, cycle model."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from compiler.errors import FcompError
from compiler.rtl import RtlFormat, build_from_arrays, csd, golden, golden_hw, write_layer
from compiler.rtl.cycles import stream_timing, steady_cycles_per_vector
from compiler.rtl.golden import reference_float
from compiler.rtl.layer import RTL_DIR, RTL_SOURCES


def random_layer(rng, rows, cols, P, S, fmt, keep=0.6, **kw):
    nb = math.ceil(cols / S)
    gm = rng.random((rows, nb)) < keep
    codes = rng.integers(-1, 2, size=(rows, cols)) * np.repeat(gm, S, axis=1)[:, :cols]
    scale = rng.random(rows) * 0.7
    bias = rng.normal(size=rows) * 2
    return build_from_arrays("t", codes, scale, bias, P, S, fmt, group_mask=gm, **kw)


def extreme_inputs(rng, layer, n):
    lo, hi = -(1 << (layer.W - 1)), (1 << (layer.W - 1)) - 1
    x = rng.integers(lo, hi + 1, size=(n, layer.cols))
    x[0], x[1] = lo, hi
    x[2] = np.where(np.arange(layer.cols) % 2, lo, hi)
    return x


def test_csd_is_exact_and_canonical():
    for n in range(0, 4097):
        digits = csd(n)
        assert sum(s << k for s, k in digits) == n
        ks = [k for _, k in digits]
        assert all(b - a >= 2 for a, b in zip(ks, ks[1:]))   # no two adjacent nonzero digits
        assert len(digits) <= (n.bit_length() + 2) // 2


FORMATS = [
    RtlFormat(in_bits=8, in_frac=4, weight_frac=8, bias_frac=6, out_bits=8, out_frac=4),
    RtlFormat(in_bits=6, in_frac=0, weight_frac=5, bias_frac=9, out_bits=10, out_frac=6, acc_frac=4 + 5,
              round_nearest=False, saturate=False),          # bias truncated into the accumulator, wrap, floor
    RtlFormat(in_bits=8, in_frac=2, weight_frac=3, bias_frac=3, out_bits=12, out_frac=9),   # output shifts left
    RtlFormat(in_bits=12, in_frac=8, weight_frac=10, bias_frac=8, out_bits=6, out_frac=1),  # saturates a lot
]


@pytest.mark.parametrize("fi", range(len(FORMATS)))
@pytest.mark.parametrize("shape", [(8, 40, 4, 8), (10, 64, 10, 16), (7, 27, 3, 9), (16, 16, 16, 16), (5, 3, 1, 3)])
def test_hardware_arithmetic_equals_golden(fi, shape):
    rng = np.random.default_rng(fi * 100 + shape[1])
    rows, cols, P, S = shape
    layer = random_layer(rng, rows, cols, P, S, FORMATS[fi])
    x = extreme_inputs(rng, layer, 64)
    g = golden(layer, x)
    np.testing.assert_array_equal(golden_hw(layer, x), g)
    if FORMATS[fi].saturate:
        lo, hi = -(1 << (layer.fmt.out_bits - 1)), (1 << (layer.fmt.out_bits - 1)) - 1
        f = reference_float(layer, x)
        inside = (f > lo) & (f < hi)
        tol = 0.5 if FORMATS[fi].round_nearest else 1.0
        assert np.all(np.abs(g - f)[inside] <= tol + 1e-9)


def test_schedule_visits_only_kept_groups_and_is_balanced():
    rng = np.random.default_rng(1)
    fmt = FORMATS[0]
    layer = random_layer(rng, 12, 50, 4, 8, fmt, keep=0.5)
    kept = layer.kept_groups_per_pe
    assert layer.K == max(kept)
    for p in range(layer.P):
        real = [(s, b) for s, b, c in zip(layer.sched_slot[p], layer.sched_block[p], layer.sched_codes[p])
                if c.any()]
        want = [(slot, b) for slot in range(layer.RPP) for b in np.flatnonzero(layer.gmask[slot * layer.P + p])
                if layer.codes[slot * layer.P + p, b * 8:(b + 1) * 8].any()]
        assert real == want
        assert layer.sched_last[p, -1]
    padded = build_from_arrays("t", layer.codes, np.ones(12), np.zeros(12), 4, 8, fmt, kept_per_pe=layer.K + 3)
    assert padded.K == layer.K + 3
    x = extreme_inputs(rng, layer, 8)
    np.testing.assert_array_equal(golden_hw(padded, x), golden(padded, x))


def test_all_pruned_rows_output_the_bias():
    codes = np.ones((4, 16), dtype=int)
    codes[1] = 0
    codes[3, :8] = 0
    layer = build_from_arrays("t", codes, np.full(4, 0.5), np.array([0.25, -1.5, 2.0, 0.75]), 2, 8, FORMATS[0])
    assert list(layer.empty_rows) == [False, True, False, False]
    x = np.full((3, 16), 100)
    y = golden_hw(layer, x)
    np.testing.assert_array_equal(y, golden(layer, x))
    assert (y[:, 1] == round(-1.5 * 16)).all()


def test_generator_rejects_codes_in_pruned_groups():
    codes = np.ones((2, 16), dtype=int)
    gm = np.array([[True, False], [True, True]])
    with pytest.raises(FcompError, match="pruned groups"):
        build_from_arrays("t", codes, np.ones(2), np.zeros(2), 1, 8, FORMATS[0], group_mask=gm)


def _fields(word, width, n):
    return [(word >> (i * width)) & ((1 << width) - 1) for i in range(n)]


def test_rom_files_encode_the_schedule_and_post_stage(tmp_path):
    rng = np.random.default_rng(2)
    layer = random_layer(rng, 9, 30, 3, 8, FORMATS[0])
    top = write_layer(layer, tmp_path)
    p = layer.params
    codes = [int(l, 16) for l in (tmp_path / "codes.mem").read_text().split()]
    index = [int(l, 16) for l in (tmp_path / "index.mem").read_text().split()]
    post = [int(l, 16) for l in (tmp_path / "post.mem").read_text().split()]
    U = p["U"]
    G = -(-layer.P // U)
    assert 1 <= U < layer.P, "expected shared scale units on this layer"
    assert len(codes) == len(index) == layer.K and len(post) == layer.RPP * G
    dec = {0: 0, 1: 1, 3: -1}
    ixw = p["BW"] + p["SW"] + 1
    for k in range(layer.K):
        c = _fields(codes[k], 2, layer.P * layer.S)
        ix = _fields(index[k], ixw, layer.P)
        for pe in range(layer.P):
            assert [dec[v] for v in c[pe * layer.S:(pe + 1) * layer.S]] == list(layer.sched_codes[pe, k])
            blk = ix[pe] & ((1 << p["BW"]) - 1)     # {beat, sub-block}: tpe_layer reads the beat, then selects
            assert (blk >> p["SBW"]) * layer.IB + (blk & ((1 << p["SBW"]) - 1)) == layer.sched_block[pe, k]
            assert (ix[pe] >> p["BW"]) & ((1 << p["SW"]) - 1) == layer.sched_slot[pe, k]
            assert bool(ix[pe] >> (p["BW"] + p["SW"])) == layer.sched_last[pe, k]
    term_w = 2 + p["KSW"]
    pfw = p["T"] * term_w + p["BB"]
    seen = set()
    for a, word in enumerate(post):
        j, g = divmod(a, G)
        for u, f in enumerate(_fields(word, pfw, U)):
            pe = g * U + u
            if pe >= layer.P:
                assert f == 0
                continue
            r = j * layer.P + pe
            seen.add(r)
            terms = [(1 if t & 3 == 1 else -1, t >> 2) for t in _fields(f, term_w, p["T"]) if t & 1]
            assert terms == layer.terms[r]
            assert sum(s << k for s, k in terms) == (0 if layer.empty_rows[r] else layer.m[r])
            b = f >> (p["T"] * term_w)
            assert b - ((b >> (p["BB"] - 1)) << p["BB"]) == layer.B_hw[r]
    assert seen == set(range(layer.RPP * layer.P))
    text = top.read_text()
    assert "tpe_layer #(" in text and str(tmp_path / "codes.mem") in text


def test_ternary_rtl_has_no_multiply_operator():
    """The issue's rule, literally: no `*` anywhere in the ternary PE-array sources (comments and synthesis
    attributes such as (* ram_style = "ultra" *) aside)."""
    for name in (*RTL_SOURCES, "tpe_util.svh"):
        text = (RTL_DIR / name).read_text()
        code = re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))
        code = re.sub(r"\(\*[^()]*?\*\)", "", code)
        assert "*" not in code, name


@pytest.mark.parametrize("K,NBI,RPP", [(5, 5, 1), (15, 8, 2), (2, 2, 2), (1, 1, 2), (4, 2, 4), (1, 1, 1),
                                       (3, 9, 1), (2, 1, 7), (9, 9, 9), (6, 1, 1)])
def test_cycle_model_steady_state(K, NBI, RPP):
    n = 240
    t = stream_timing(K, NBI, RPP, n)
    firsts = t["out"][::RPP]
    # average period over the last 120 vectors equals the max cycle mean
    period = Fraction(firsts[-1] - firsts[-121], 120)
    assert period == steady_cycles_per_vector(K, NBI, RPP)
    if K >= 2 and NBI <= K and RPP <= K:
        assert period == K


@pytest.mark.parametrize("P,K,NBI,RPP", [(16, 40, 3, 2), (4, 16, 4, 8), (16, 2, 1, 2), (8, 1, 1, 1), (10, 9, 2, 1),
                                         (64, 576, 36, 1), (4, 3, 3, 4)])
def test_scale_units_keep_the_steady_state(P, K, NBI, RPP):
    """U shared scale units (G = ceil(P/U) cycles per output beat) never slow a layer down, and are as few as
    that allows: one fewer unit would."""
    from compiler.rtl.cycles import scale_units

    U = scale_units(P, K, NBI, RPP)
    G = -(-P // U)
    one_per_pe = steady_cycles_per_vector(K, NBI, RPP)
    assert steady_cycles_per_vector(K, NBI, RPP, G=G) == one_per_pe
    if U > 1:
        assert steady_cycles_per_vector(K, NBI, RPP, G=-(-P // (U - 1))) > one_per_pe
    n = 200
    t = stream_timing(K, NBI, RPP, n, G=G, T=5)
    firsts = t["out"][::RPP]
    assert Fraction(firsts[-1] - firsts[-101], 100) == one_per_pe
    if RPP * P <= K:
        assert U == 1


def test_rtl_layer_selection():
    from compiler.errors import FcompError
    from compiler.verify.rtl import select_layers

    cands, sizes = ["a", "b", "c"], {"a": 30, "b": 10, "c": 20}
    assert select_layers("none", cands, sizes) == []
    assert select_layers("all", cands, sizes) == cands
    assert select_layers("2", cands, sizes) == ["b", "c"]
    assert select_layers("c,a", cands, sizes) == ["c", "a"]
    with pytest.raises(FcompError, match="not ternary layers"):
        select_layers("zz", cands, sizes)


def _exact_scale_stage(layer, x):
    """hls4ml's scale stage in exact rationals: y = round_half_up(acc * scale_q + bias_q) in output LSBs,
    saturated; acc = sum codes * x in the input type (issue #5 arithmetic)."""
    f = layer.fmt
    lo, hi = -(1 << (f.out_bits - 1)), (1 << (f.out_bits - 1)) - 1
    out = np.zeros((len(x), layer.rows), dtype=np.int64)
    for i, v in enumerate(x):
        for r in range(layer.rows):
            acc = Fraction(int(np.dot(layer.codes[r].astype(np.int64), v)), 2 ** f.in_frac)
            y = acc * Fraction(int(layer.scale_int[r]), 2 ** f.weight_frac) + \
                Fraction(int(layer.bias_int[r]), 2 ** f.bias_frac)
            q = math.floor(y * 2 ** f.out_frac + Fraction(1, 2))
            out[i, r] = min(hi, max(lo, q))
    return out


def test_scales_at_rounding_ties_are_rounded_once_not_refused():
    """The scale is one number per channel now (hls4ml's scale stage), so an exact rounding tie is just
    rounded up, as the backend does, and the RTL arithmetic equals the exact definition."""
    from compiler.backend.precision import quantize

    fmt = RtlFormat(in_bits=8, in_frac=3, weight_frac=4, bias_frac=5, out_bits=10, out_frac=3)
    rng = np.random.default_rng(5)
    scale = np.array([2.5, 0.5, 7.5, 11.0]) / 16            # exact ties at 4 fraction bits (but the last)
    codes = rng.integers(-1, 2, size=(4, 20))
    bias = np.array([0.3, -1.0, 2.0 + 1 / 64, -0.7])         # a bias tie at 5 fraction bits too
    layer = build_from_arrays("tie", codes, scale, bias, 2, 4, fmt)
    assert list(layer.scale_int) == [3, 1, 8, 11] == list(quantize(scale, 4))
    assert list(layer.bias_int) == list(quantize(bias, 5))
    x = extreme_inputs(rng, layer, 40)
    np.testing.assert_array_equal(golden(layer, x), _exact_scale_stage(layer, x))
    np.testing.assert_array_equal(golden_hw(layer, x), golden(layer, x))


def test_format_from_backend_types_keeps_the_scale_stage_exact():
    """RtlFormat.from_backend: scale/bias/result types of the backend's ternary layer, accumulator exact."""
    from compiler.backend.precision import Fixed

    p = {"weight": Fixed.ap_int(2), "accum": Fixed(20, 8, saturate=False, rounding=False),
         "scale": Fixed(16, -2, saturate=False), "bias": Fixed(16, 3, saturate=False), "result": Fixed(16, 6)}
    fmt = RtlFormat.from_backend(Fixed(16, 4), p)
    assert (fmt.in_bits, fmt.in_frac, fmt.weight_frac, fmt.bias_frac, fmt.out_bits, fmt.out_frac) == \
        (16, 12, 18, 13, 16, 10)
    assert fmt.acc_frac is None and fmt.round_nearest and fmt.saturate
    with pytest.raises(FcompError):
        RtlFormat.from_backend(Fixed(16, 4), {"weight": Fixed(16, 1), "bias": Fixed(16, 3), "result": Fixed(16, 6)})


def test_unpruned_layer_steps_are_its_nonzero_groups():
    """A ternary layer compression left unpruned (no group mask) skips its all-zero S-wide groups in the RTL
    schedule; `nonzero_groups_per_pe` counts exactly those steps, which the build's estimate uses for such layers
    (resnet18's conv1 at S=1: 188 steps per vector in the RTL where the estimate had assumed all 294)."""
    from compiler.rtl.layer import RtlFormat, build_from_arrays, nonzero_groups_per_pe

    rng = np.random.default_rng(3)
    for rows, cols, P, S in ((8, 27, 4, 1), (16, 40, 4, 4), (6, 9, 3, 2)):
        codes = rng.integers(-1, 2, size=(rows, cols)) * (rng.random((rows, cols)) < 0.5)
        layer = build_from_arrays("l", codes.astype(np.int8), np.ones(rows), np.zeros(rows), P, S, RtlFormat())
        counts = nonzero_groups_per_pe(codes, P, S)
        assert layer.K == max(counts) and layer.kept_groups_per_pe == counts
