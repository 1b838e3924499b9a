"""The PE-array RTL in real simulators (cocotb 2.x runner): Verilator for every layer, Icarus as the second
simulator. Outputs must equal the golden model bit for bit, and every beat's transfer cycle must equal the cycle
model's; the steady-state cycles per output vector must equal the compiler's analytic model (kept groups per PE).
"""

import math

import numpy as np
import pytest

from compiler.rtl import RtlFormat, build_from_arrays, golden
from compiler.rtl.cycles import compiler_cycles_per_vector, layer_timing
from compiler.rtl.data import real_layer
from compiler.rtl.sim import LayerSim

pytestmark = pytest.mark.sim

# (model, predicate on (node, mapping)) -> one real layer of each required shape
REAL_LAYERS = {
    "conv3x3_pruned": ("digits_cnn", lambda n, m: n.op == "conv" and n.attrs["kernel"] == [3, 3] and m.cols > m.simd),
    "conv1x1": ("digits_resnet", lambda n, m: n.op == "conv" and n.attrs["kernel"] == [1, 1] and m.cols > m.simd),
    "dense": ("digits_cnn", lambda n, m: n.op == "dense" and m.cols > 4 * m.simd),
}

_cache: dict = {}


def _select(zoo_onnx, key):
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers

    model, pred = REAL_LAYERS[key]
    path = zoo_onnx(model)
    graph = import_onnx(path).graph
    plan = plan_layers(graph)
    name = next(n.name for n in graph.weighted() if pred(n, plan[n.name]))
    return path, name


def corner_vectors(layer, rng, n_random):
    lo, hi = -(1 << (layer.W - 1)), (1 << (layer.W - 1)) - 1
    c = layer.cols
    fixed = [np.full(c, hi), np.full(c, lo), np.zeros(c, int), np.where(np.arange(c) % 2, lo, hi),
             np.where(layer.codes[0] < 0, lo, hi)]        # drives row 0 towards its extreme
    return np.vstack(fixed + [rng.integers(lo, hi + 1, size=(n_random, c))])


@pytest.fixture(scope="module")
def real(zoo_onnx, tmp_path_factory):
    def get(key):
        if key not in _cache:
            path, name = _select(zoo_onnx, key)
            R = real_layer(path, name, n_samples=4, max_vectors=12)
            sim = LayerSim(R.rtl, tmp_path_factory.mktemp(key), "verilator")
            _cache[key] = (R, sim)
        return _cache[key]
    return get


@pytest.mark.parametrize("key", list(REAL_LAYERS))
def test_real_layer_is_bit_exact_and_cycle_exact(real, key):
    R, sim = real(key)
    L = R.rtl
    rng = np.random.default_rng(7)
    x = np.vstack([R.vectors, corner_vectors(L, rng, 4)])
    r = sim.run(x)
    want = golden(L, x)
    assert r.passed, "the testbench saw outputs differ from the golden model"
    np.testing.assert_array_equal(r.outputs, want)
    # cycle by cycle: every input and output beat where the cycle model says
    model = layer_timing(L, len(x))
    t0 = r.t_in[0]
    assert [t - t0 for t in r.t_in] == model["in"]
    assert [t - t0 for t in r.t_out] == model["out"]
    # steady state equals the compiler's analytic model: kept groups per PE cycles per output vector
    firsts = r.t_out[::L.RPP]
    n = 8
    assert (firsts[-1] - firsts[-1 - n]) == n * compiler_cycles_per_vector(R.mapping, R.kept_groups_per_pe)
    # the layer really is what its name says
    if key == "conv3x3_pruned":
        assert L.K < math.ceil(L.rows / L.P) * L.NB, "expected a pruned layer"
    if key == "conv1x1":
        assert R.node.attrs["kernel"] == [1, 1]
    if key == "dense":
        assert R.node.op == "dense"


def test_back_pressure_keeps_results_exact(real):
    R, sim = real("dense")
    L = R.rtl
    x = np.vstack([R.vectors, corner_vectors(L, np.random.default_rng(3), 6)])
    r = sim.run(x, valid_prob=0.55, ready_prob=0.35, seed=11)
    assert r.passed
    np.testing.assert_array_equal(r.outputs, golden(L, x))
    assert r.cycles > layer_timing(L, len(x))["out"][-1] + 10   # it really stalled


# ---- corner cases on a synthetic layer -------------------------------------------------------------------------
def corner_layer():
    """13 rows on 4 PEs (the last slot half empty), 7 lanes (odd: one lane skips the pair adders), 5 groups per
    row; an all-pruned row, kept groups that are all zero, a PE that keeps more than the others (the rest are
    padded), a row of all +1 and one of all -1 (accumulator extremes), an 8-bit output that saturates."""
    rng = np.random.default_rng(5)
    rows, cols, P, S = 13, 35, 4, 7
    nb = 5
    gm = rng.random((rows, nb)) < 0.6
    gm[2] = False                       # all groups of row 2 pruned
    gm[5] = True
    gm[9] = True
    codes = rng.integers(-1, 2, size=(rows, cols)) * np.repeat(gm, S, axis=1)
    codes[5] = 1                        # all +1
    codes[9] = -1                       # all -1
    codes[6, :] = 0                     # row 6: its kept groups are all zero
    gm[6, :2] = True
    codes[0, 7:14] = 0                  # row 0: group 1 kept but zero
    gm[0, 1] = True
    scale = rng.random(rows) * 0.4 + 0.05
    scale[5] = scale[9] = 0.02
    bias = rng.normal(size=rows)
    fmt = RtlFormat(in_bits=8, in_frac=3, weight_frac=7, bias_frac=5, out_bits=8, out_frac=3)
    return build_from_arrays("corner", codes, scale, bias, P, S, fmt, group_mask=gm)


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    L = corner_layer()
    return L, LayerSim(L, tmp_path_factory.mktemp("corner"), "verilator")


def test_corner_cases(corner):
    L, sim = corner
    x = corner_vectors(L, np.random.default_rng(1), 10)
    want = golden(L, x)
    lo, hi = -(1 << 7), (1 << 7) - 1
    assert (want == hi).any() and (want == lo).any(), "the corner vectors should saturate some outputs"
    assert L.empty_rows[2] and len(set(L.kept_groups_per_pe)) > 1
    for valid_prob, ready_prob in ((1.0, 1.0), (0.3, 0.5), (1.0, 0.2), (0.25, 1.0)):
        r = sim.run(x, valid_prob=valid_prob, ready_prob=ready_prob, seed=int(valid_prob * 100 + ready_prob * 10))
        assert r.passed, (valid_prob, ready_prob)
        np.testing.assert_array_equal(r.outputs, want)
        if valid_prob == ready_prob == 1.0:
            model = layer_timing(L, len(x))
            assert [t - r.t_in[0] for t in r.t_out] == model["out"]


def test_flipped_weight_code_is_caught(corner):
    """A deliberately injected bug, one weight code flipped in the ROM file, fails the testbench."""
    L, sim = corner
    rom = sim.rom_dir / "codes.mem"
    good = rom.read_text()
    # flip the first +1 of PE 1 (lane l of step k): it becomes -1
    pe = 1
    k, l = map(int, np.argwhere(L.sched_codes[pe] == 1)[0])
    bit = 2 * (pe * L.S + l) + 1                          # 01 -> 11
    words = good.split()
    width = len(words[k])
    words[k] = f"{int(words[k], 16) ^ (1 << bit):0{width}x}"
    x = corner_vectors(L, np.random.default_rng(2), 6)
    x[:, :] = np.clip(x, -100, 100)                       # no saturation hides the error
    try:
        rom.write_text("\n".join(words) + "\n")
        r = sim.run(x)
    finally:
        rom.write_text(good)
    assert not r.passed, "the flipped code went unnoticed"
    row = L.sched_slot[pe, k] * L.P + pe
    differs = np.flatnonzero((r.outputs != golden(L, x)).any(0))
    assert list(differs) == [row]
    assert sim.run(x).passed                              # and the restored ROM passes again


def test_icarus_agrees(corner, tmp_path):
    from compiler.rtl.sim import missing_tool

    L, vsim = corner
    assert missing_tool("icarus") is None, "iverilog is required (apt-get install iverilog)"
    isim = LayerSim(L, tmp_path, "icarus")
    x = corner_vectors(L, np.random.default_rng(4), 3)
    ri, rv = isim.run(x), vsim.run(x)
    assert ri.passed and rv.passed
    np.testing.assert_array_equal(ri.outputs, golden(L, x))
    assert ri.t_out == rv.t_out and ri.t_in == rv.t_in
    ri = isim.run(x, valid_prob=0.5, ready_prob=0.5, seed=2)
    assert ri.passed


@pytest.mark.parametrize("key", list(REAL_LAYERS))
def test_real_layer_matches_hls4ml_csim(real, key, tmp_path):
    """(b): hls4ml's C simulation of the same layer with the same fixed-point types, on real activations of
    whole samples: equal to the golden model on every output vector, and to the RTL on the ones simulated."""
    from compiler.compress.export_onnx import export_compressed_onnx
    from compiler.rtl.hls_ref import LayerCsim
    from compiler.verify.reference import run_onnx

    R, sim = real(key)
    csim = LayerCsim(R, tmp_path / "hls")
    acts = run_onnx(export_compressed_onnx(R.graph), R.samples, [R.node.inputs[0]])[R.node.inputs[0]]
    vectors, hls_out = csim.run(acts)
    np.testing.assert_array_equal(hls_out, golden(R.rtl, vectors))
    pick = np.linspace(0, len(vectors) - 1, min(len(vectors), 10)).round().astype(int)
    r = sim.run(vectors[pick])
    assert r.passed
    np.testing.assert_array_equal(r.outputs, hls_out[pick])
