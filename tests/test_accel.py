"""The whole network in fixed point (compiler/rtl/network.py) and as RTL (fcomp_accel, compiler/rtl/accel.py):
the arithmetic against its definition, the golden model against hls4ml's C simulation node by node, and the
accelerator end to end in Verilator against the golden model, including its failure paths (a flipped ROM bit,
an undersized skip FIFO, frames with a wrong length)."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from rom_defects import flip_a_live_weight_sign
import torch

from compiler.backend.precision import Fixed
from compiler.handoff.axi import format_for, pack_frame, unpack_frame
from compiler.rtl.accel import generate, tdiv_constants, write_accel
from compiler.rtl.accel_sim import AccelSim, channels_last, simulate_network
from compiler.rtl.network import build_network, cast, run_network, to_real, trunc_div
from compiler.verify.network import simulate_accel


# ---- arithmetic ------------------------------------------------------------------------------------------------
def _cast_exact(v: int, frac: int, t: Fixed) -> int:
    """ap_fixed's conversion, from the definition: the exact value, rounded half up or floored, then clamped or
    wrapped."""
    x = Fraction(v, 2 ** frac) * 2 ** t.fraction
    q = (x + Fraction(1, 2)).__floor__() if t.rounding else x.__floor__()
    lo, hi = -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1
    if t.saturate:
        return max(lo, min(hi, q))
    q &= (1 << t.width) - 1
    return q - (1 << t.width) if q >> (t.width - 1) else q


@pytest.mark.parametrize("t", [Fixed(8, 3), Fixed(8, 3, rounding=False), Fixed(8, 3, saturate=False),
                               Fixed(10, 6, rounding=False, saturate=False), Fixed(12, 14)])
def test_cast_is_ap_fixed_conversion(t):
    rng = np.random.default_rng(1)
    for frac in (0, 3, 5, 9):
        v = np.concatenate([rng.integers(-5000, 5000, 400), np.arange(-40, 40)])
        got = cast(v, frac, t)
        assert [int(g) for g in got] == [_cast_exact(int(x), frac, t) for x in v], (t, frac)


@pytest.mark.parametrize("n", [2, 3, 7, 9, 16, 49, 196])
@pytest.mark.parametrize("aw", [8, 19, 33])
def test_constant_division_by_shift_add_is_truncating_division(n, aw):
    """fc_tdiv.svh divides by a constant as (|s| * DM) >> DSH: equal to C's truncating division for every |s|
    below 2**aw (checked at the edges and on random values)."""
    dm, dsh = tdiv_constants(n, aw)
    rng = np.random.default_rng(n)
    s = np.concatenate([np.arange(0, 3 * n), (1 << aw) - 1 - np.arange(3 * n),
                        rng.integers(0, 1 << aw, 2000, dtype=np.int64)])
    s = s[(s >= 0) & (s < (1 << aw))]
    got = [(int(x) * dm) >> dsh for x in s]
    assert got == [int(x) // n for x in s]
    assert list(trunc_div(np.array([-7, -1, 0, 1, 7]), 2)) == [-3, 0, 0, 0, 3]


def test_frame_words_round_trip():
    fmt = format_for("x", Fixed(12, 4), channels=3, elements=3 * 5)
    v = np.arange(-7, 8) * 37
    words = pack_frame(v, fmt)
    assert len(words) == fmt.words == 4 and fmt.per_word == 4      # 16-bit lanes, last word padded
    assert list(unpack_frame(words, fmt, extended=False)) == list(v)
    with pytest.raises(Exception, match="sign-extended"):
        unpack_frame(words, fmt)                                 # input lanes hold the low 12 bits only
    with pytest.raises(Exception, match="elements"):
        pack_frame(v[:-1], fmt)


# ---- a network that exercises every module ----------------------------------------------------------------------
class _Everything(torch.nn.Module):
    """Strided padded 3x3 conv, ReLU, 2x2 AveragePool, a residual add over a 3x3 conv and a 1x1 conv (the one
    conv without a window generator), a 3x3 (non power of two) global average pool, flatten and a dense layer;
    3 x 12 x 12 input."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.pool = torch.nn.AvgPool2d(2)
        self.mid = torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.pw = torch.nn.Conv2d(8, 8, 1)
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = self.pool(torch.relu(self.conv(x)))
        y = torch.relu(self.pw(torch.relu(self.mid(y))) + y)
        return self.fc(torch.flatten(self.gap(y), 1))


def _everything_build(root: Path, weights: str = "ternary"):
    """(network, its C-sim project, hls4ml names, accel, accel dir, samples) of _Everything: `weights` "ternary"
    (PE-wise compression data-free, every layer ternary), "first-last-8" (the same with the first conv and the
    classifier at 8-bit fixed-point weights) or "fixed" (uncompressed, 16-bit fixed-point weights everywhere)."""
    from compiler.backend.hls4ml_emit import hls_config, lower_to_hls4ml
    from compiler.backend.hls4ml_project import HlsProject
    from compiler.backend.precision import assign_precisions
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.compress.export_onnx import export_compressed_onnx
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers
    from compiler.verify.reference import tensor_ranges

    torch.manual_seed(0)
    model = _Everything().eval()
    path = root / "everything.onnx"
    torch.onnx.export(model, torch.randn(1, 3, 12, 12), str(path), input_names=["x"], output_names=["y"],
                      dynamo=False)
    fe = import_onnx(path)
    g = fe.graph
    assert {n.op for n in g.nodes} >= {"conv", "avgpool", "add", "globalavgpool", "dense"}
    plan = plan_layers(g, pe=4, simd=4)
    rows = None
    if weights == "fixed":
        ref = fe.onnx_model
    else:
        res = compress(g, plan, CompressionConfig(strategy="pe-wise", target=12 if weights == "ternary" else 8,
                                                  first_last_bits=2 if weights == "ternary" else 8))
        g, rows = res.graph, res.layers
        ref = export_compressed_onnx(g)
    rng = np.random.default_rng(0)
    cal, x = rng.random((32, 3, 12, 12), dtype=np.float32), rng.random((6, 3, 12, 12), dtype=np.float32)
    prec = assign_precisions(g, tensor_ranges(ref, cal, [n.name for n in g.nodes]), 16, 16)
    layers, names = lower_to_hls4ml(g, path, prec)
    project = HlsProject(layers, hls_config(g, layers, names, prec, plan, trace=True), root / "hls",
                         "xczu7ev-ffvc1156-2-e", 200, names[g.inputs[0].name], names[g.outputs[0]])
    project.write()
    project.compile()
    net = build_network(g, prec, plan, rows)
    acc = generate(net)
    write_accel(acc, root / "accel")
    return net, project, names, acc, root / "accel", x


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    return _everything_build(tmp_path_factory.mktemp("everything"))


@pytest.fixture(scope="module", params=["first-last-8", "fixed"])
def everything_fixed(request, tmp_path_factory):
    """_Everything with fixed-point layers: the first conv and the classifier at 8 bits, or all of it at 16."""
    return _everything_build(tmp_path_factory.mktemp(request.param), request.param)


def _golden_equals_csim_trace(net, project, names, x) -> int:
    """Every IR tensor of the golden model against hls4ml's C-sim trace, bit for bit; returns how many."""
    gold = run_network(net, x, keep=True)
    trace = project.trace(x.transpose(0, 2, 3, 1).reshape(len(x), -1))
    compared = 0
    for name, nn in net.nodes.items():
        if names[name] not in trace or nn.op in ("input", "flatten"):
            continue
        want = channels_last(gold[name])
        got = np.round(np.asarray(trace[names[name]], np.float64).reshape(len(x), -1) * 2.0 ** nn.out.fraction)
        assert np.array_equal(got.astype(np.int64), want), name
        compared += 1
    return compared


@pytest.mark.sim
def test_golden_model_equals_hls4ml_csim_node_by_node(everything):
    """Every IR tensor of the golden model equals hls4ml's C-sim trace bit for bit (avg pooling and the 3x3
    global average with their truncating divisions, the add of two differently typed inputs, the scale stages)."""
    net, project, names, _, _, x = everything
    compared = _golden_equals_csim_trace(net, project, names, x)
    assert compared >= 8


@pytest.mark.sim
def test_accel_end_to_end_bit_exact_and_on_the_cycle_model(everything, tmp_path):
    net, _, _, acc, accel_dir, x = everything
    # both windowed ternary convs stream their windows in pixel chunks (fc_swg, kernel-major) straight into the
    # PE array: the 3-channel first conv a whole pixel per beat (S = 3), the 8-channel one IB*S lanes
    for conv in ("conv_Conv_output_0", "mid_Conv_output_0"):
        kinds = [m.kind for m in acc.modules if m.node == conv]
        assert kinds[:2] == ["fc_swg", "tpe_layer"] and "fc_serialize" not in kinds, (conv, kinds)
    for ready in (1.0, 0.3):
        doc = simulate_network(acc, x, accel_dir, tmp_path, ready_prob=ready)
        assert doc["passed"] and doc["mismatches"] == 0 and doc["frames_out"] == len(x), doc
        assert doc["first_mismatch_layer"] is None
    # the sink always ready: the slowest module sets the pace, to within 2%
    doc = simulate_network(acc, x, accel_dir, tmp_path, ready_prob=1.0)
    assert abs(doc["cycles_per_frame_measured"] / doc["cycles_per_frame_predicted"] - 1) <= 0.02, doc


# structural parameters: what the estimate must predict exactly (widths and scale terms depend on the trained
# weights and the calibration, and take typical values in the estimate)
_STRUCTURE = {"fc_window": ("C", "H", "WD", "KH", "KW", "SH", "SW", "PT", "PL", "HO", "WO", "NR", "KM"),
              "fc_swg": ("C", "H", "WD", "KH", "KW", "SH", "SW", "PT", "PL", "HO", "WO", "NR", "CW", "F"),
              "fc_serialize": ("N", "L", "NBEATS"), "tpe_layer": ("P", "S", "IB", "NBI", "BW", "SBW", "K", "KW",
                                                                   "RPP", "SW", "U", "NIB", "NOB"),
              "fc_collect": ("NBEATS",), "fc_fifo": ("DEPTH",), "fc_fork": ("N",), "fc_cast": ("N",),
              "fc_add": ("N",), "fc_pool": ("C", "KK", "AVG"), "fc_gap": ("C", "L", "NPIX"),
              "fc_mac_layer": ("N", "R", "P", "S", "WW"), "fc_axis_in": ("C", "ELEMS"),
              "fc_axis_out": ("C", "ELEMS"), "fc_clip": ("N",), "fc_concat": ("NA", "NB")}


def _estimate_instances_equal_the_generated(net, accel_dir):
    from compiler import estimate as E
    from compiler.synth.instances import read_accel

    g = net.graph
    plan = {n: nn.mapping for n, nn in net.nodes.items() if nn.mapping is not None}
    K = {n: nn.layer.params["K"] for n, nn in net.nodes.items() if nn.layer is not None}
    # the skip FIFOs depend on each layer's scale terms T, which the trained weights set (TYPICAL_T before
    # compression; a T of 8 instead of 7 made one FIFO 73 deep instead of 72 on another machine's training)
    T = {n: nn.layer.params["T"] for n, nn in net.nodes.items() if nn.layer is not None}
    edges, out = E._edges(g, plan, K, T)
    lanes = E.stream_lanes(g, plan, K)
    got: dict[str, list] = {}
    for inst in read_accel(accel_dir)[0]:
        got.setdefault(inst.node, []).append((inst.module, {k: int(inst.params[k]) for k in _STRUCTURE[inst.module]}))
    checked = 0
    for node in g.nodes:
        t = node.name in K
        m = plan.get(node.name)
        wbits = net.nodes[node.name].weight_t.width if (m is not None and not t) else 16
        want = [(mod, {k: int(p[k]) for k in _STRUCTURE[mod]}) for mod, p in E.node_instances(
            g, node, m, 16, ternary=t, wbits=wbits, K=K.get(node.name), out_edges=edges[node.name],
            is_output=node.name == out, lanes=lanes)]
        assert sorted(want, key=str) == sorted(got.get(node.name, []), key=str), node.name
        checked += len(want)
    return checked


def test_estimate_costs_the_instances_the_generator_makes(everything):
    """The planner's estimate (`estimate.node_instances`) names every module the generator instances for every
    node, with its structural parameters: the sliding windows, the PE layers' input-stream width, schedule length
    and scale units, and the skip FIFOs' depths."""
    net, _, _, _, accel_dir, _ = everything
    assert _estimate_instances_equal_the_generated(net, accel_dir) >= 20


def test_estimate_costs_the_fixed_point_instances_the_generator_makes(everything_fixed):
    net, _, _, _, accel_dir, _ = everything_fixed
    assert _estimate_instances_equal_the_generated(net, accel_dir) >= 20


@pytest.mark.sim
def test_fixed_point_layers_golden_equals_csim_and_rtl_end_to_end(everything_fixed, tmp_path):
    """Fixed-point conv/dense layers (first/last at 8 bits, or all of an uncompressed model at 16) are
    fc_mac_layer instances in fcomp_accel: the golden model equals the C-sim node by node, and the RTL equals the
    golden model on every output word, with and without back-pressure, at the cycle model's ceil(rows/P) *
    ceil(cols/S) cycles per vector."""
    net, project, names, acc, accel_dir, x = everything_fixed
    fixed = [n for n in net.order if net.nodes[n].op in ("conv", "dense") and net.nodes[n].layer is None]
    assert len(fixed) >= 2
    for name in fixed:
        kinds = {m.kind for m in acc.modules if m.node == name}
        assert "fc_mac_layer" in kinds and "tpe_layer" not in kinds, (name, kinds)
    assert _golden_equals_csim_trace(net, project, names, x) >= 8
    for ready in (1.0, 0.3):
        doc = simulate_network(acc, x, accel_dir, tmp_path, ready_prob=ready)
        assert doc["passed"] and doc["mismatches"] == 0 and doc["frames_out"] == len(x), doc
    doc = simulate_network(acc, x, accel_dir, tmp_path, ready_prob=1.0)
    assert abs(doc["cycles_per_frame_measured"] / doc["cycles_per_frame_predicted"] - 1) <= 0.02, doc
    first = net.nodes[fixed[0]]
    mac = next(m for m in acc.modules if m.node == fixed[0] and m.kind == "fc_mac_layer")
    assert mac.cycles_per_frame == first.mapping.cycles_per_frame()


@pytest.mark.sim
def test_flipped_fixed_point_weight_bit_is_caught_and_named(everything_fixed, tmp_path):
    net, _, _, acc, accel_dir, x = everything_fixed
    bad = tmp_path / "bad"
    shutil.copytree(accel_dir, bad)
    # the first conv: its first weight multiplies a real input pixel at every output position but the padded ones
    layer = [n for n in net.order if net.nodes[n].op in ("conv", "dense") and net.nodes[n].layer is None][0]
    rom = bad / f"{acc.ids[layer]}_weights.mem"
    words = rom.read_text().split()
    words[0] = f"{int(words[0], 16) ^ (1 << (net.nodes[layer].weight_t.width - 2)):0{len(words[0])}x}"
    rom.write_text("\n".join(words) + "\n")
    doc = simulate_accel(acc, bad, x)
    assert not doc["passed"] and doc["mismatches"] > 0
    assert doc["first_mismatch_layer"] == layer


def test_fixed_point_rom_layout():
    """fc_mac_layer's ROM words: step nf*SF + sf holds PE p lane l's weight of row nf*P + p, column sf*S + l
    (two's complement, WW bits each, zero beyond the matrix); bias words hold the accumulator-typed biases."""
    from types import SimpleNamespace

    from compiler.plan import LayerMapping
    from compiler.rtl.accel import mac_roms

    w = np.arange(-7, 8).reshape(3, 5)           # rows 3, cols 5
    nn = SimpleNamespace(mapping=LayerMapping("l", 3, 5, 2, 2, 1), weight_int=w, weight_t=Fixed(4, 1),
                         bias_int=np.array([1, -2, 3]), bias_t=Fixed(8, 4), accum=Fixed(12, 6, saturate=False,
                                                                                             rounding=False))
    (words, width), (bias, bwidth) = mac_roms(nn)
    assert width == 2 * 2 * 4 and len(words) == 2 * 3 and bwidth == 2 * 12 and len(bias) == 2

    def field(word, k, bits):
        v = (word >> (k * bits)) & ((1 << bits) - 1)
        return v - (1 << bits) if v >> (bits - 1) else v

    for nf in range(2):
        for sf in range(3):
            for p in range(2):
                for lane in range(2):
                    r, c = nf * 2 + p, sf * 2 + lane
                    want = w[r, c] if r < 3 and c < 5 else 0
                    assert field(words[nf * 3 + sf], p * 2 + lane, 4) == want
    # biases with 4 fraction bits -> the accumulator's 6: shifted left by 2
    assert [field(bias[0], 0, 12), field(bias[0], 1, 12), field(bias[1], 0, 12), field(bias[1], 1, 12)] == \
        [4, -8, 12, 0]


@pytest.mark.sim
def test_flipped_rom_bit_is_caught_and_named(everything, tmp_path):
    net, _, _, acc, accel_dir, x = everything
    bad = tmp_path / "bad"
    shutil.copytree(accel_dir, bad)
    layer = [n for n in net.order if net.nodes[n].layer is not None][-1]     # the classifier: feeds the output
    rom = bad / f"{acc.ids[layer]}_codes.mem"
    feed = run_network(net, x, keep=True)[net.nodes[layer].node.inputs[0]].reshape(len(x), -1)
    flip_a_live_weight_sign(rom, net.nodes[layer].layer, (feed != 0).any(0))
    doc = simulate_accel(acc, bad, x)          # as `fcomp build` runs it: the failed run and a waveform are kept
    assert not doc["passed"] and doc["mismatches"] > 0
    assert doc["first_mismatch_layer"] == layer
    assert doc["waveform"].endswith(".vcd")
    vcd = bad / doc["waveform"].split("rtl/fcomp_accel/", 1)[1]
    assert vcd.stat().st_size > 0 and b"$enddefinitions" in vcd.read_bytes()[:200_000]


@pytest.mark.sim
def test_undersized_skip_fifo_is_reported_as_a_deadlock(everything, tmp_path):
    """The skip path of the residual add needs the depth the generator computes (the 3x3 conv on the other
    branch reads a row and a pixel ahead); 1 deadlocks the fork, and the testbench says so instead of hanging."""
    net, _, _, acc, _, x = everything
    add = next(n for n in net.order if net.nodes[n].op == "add")
    assert max(acc.fifo_depths.values()) > 2
    small = generate(net, skip_depths={add: 1})
    write_accel(small, tmp_path / "small")
    doc = simulate_network(small, x[:2], tmp_path / "small", tmp_path / "run", ready_prob=1.0)
    assert not doc["passed"] and doc["status"] == "deadlock", doc


@pytest.mark.sim
def test_frames_with_a_wrong_length_raise_flags_and_do_not_shift_later_frames(everything, tmp_path):
    net, _, _, acc, accel_dir, x = everything
    gold = run_network(net, x[:3], keep=True)
    xi = channels_last(gold[net.input.name])
    fin, fout = acc.fin, acc.fout
    frames = [pack_frame(f, fin) for f in xi]
    lasts = [[int(i == len(w) - 1) for i in range(len(w))] for w in frames]
    short = frames[1][:-3]                                   # tlast three words early: completed with zeros
    frames[1], lasts[1] = short, [int(i == len(short) - 1) for i in range(len(short))]
    longer = frames[2] + [0xdead, 0xbeef]                    # no tlast on its last word, two extra words
    frames[2], lasts[2] = longer, [0] * (len(longer) - 1) + [1]
    frames.append(pack_frame(xi[0], fin))
    lasts.append([int(i == fin.words - 1) for i in range(fin.words)])
    sim = AccelSim(accel_dir, tmp_path)
    res, _ = sim.run_words(frames, fout.words * 4, idle=50_000, last_flags=lasts)
    assert res.status == "done" and res.err_short and res.err_long
    got = [unpack_frame(res.words[i * fout.words:(i + 1) * fout.words], fout) for i in range(4)]
    zero_filled = xi[1].copy()
    zero_filled[(fin.words - 3) * fin.per_word:] = 0
    expect_in = np.stack([xi[0], zero_filled, xi[2], xi[0]])
    shape = net.input.shape
    real = to_real(expect_in.reshape(4, shape[1], shape[2], shape[0]).transpose(0, 3, 1, 2), net.input.out)
    want = channels_last(run_network(net, real))
    assert np.array_equal(np.stack(got), want)


def test_golden_test_split_is_sampled_for_big_models(zoo_onnx, monkeypatch):
    """The golden model runs the whole labelled test split, unless its MACs would take long: then a seeded
    sample, and the report carries the split's size."""
    import compiler.pipeline as P
    from compiler.frontend import import_onnx

    graph = import_onnx(zoo_onnx("digits_cnn")).graph
    x, y, total = P._test_split("digits", graph)
    assert len(x) == len(y) == total == 450
    monkeypatch.setattr(P, "GOLDEN_MAC_BUDGET", 100 * 248_128)     # 100 frames of digits_cnn's MACs
    x2, y2, total2 = P._test_split("digits", graph)
    assert len(x2) == 100 and total2 == 450
    assert np.array_equal(x2, P._test_split("digits", graph)[0])   # seeded: the same sample every time
    assert P._test_split(None, graph) is None


@pytest.mark.sim
def test_runtime_loaded_weights_end_to_end(everything, tmp_path):
    """Every ternary layer's codes and index loaded at run time (WLOAD, the UltraRAM form: a ROM cannot live in
    UltraRAM): the weights.hex transfer goes first, then frames, bit-exact and on the cycle model; the load order
    is `weight_load_words`; a wrong weight word is caught and named; a weight transfer that ends early is flagged."""
    import json

    from compiler.rtl.accel import WEIGHTS_FILE, weight_load_words
    from compiler.rtl.layer import rom_words

    net, _, _, _, _, x = everything
    acc = generate(net, runtime_weights=True)
    d = tmp_path / "wl"
    write_accel(acc, d)
    pe = [n for n in net.order if net.nodes[n].layer is not None]
    doc = json.loads((d / "accel.json").read_text())["weights"]
    assert [ly["node"] for ly in doc["layers"]] == pe and doc["word_bits"] == acc.fin.word_bits
    words = (d / WEIGHTS_FILE).read_text().split()
    assert len(words) == doc["words"] == sum(len(weight_load_words(net.nodes[n].layer, wlw=acc.fin.word_bits))
                                             for n in pe)
    assert not list(d.glob("*_codes.mem")) and not list(d.glob("*_index.mem")) and list(d.glob("*_post.mem"))
    # the first entry of the first layer: its codes word in the low bits, the index word above it
    layer = net.nodes[pe[0]].layer
    (codes, cw), (index, _) = rom_words(layer)["codes.mem"], rom_words(layer)["index.mem"]
    ncol = -(-(cw + rom_words(layer)["index.mem"][1]) // acc.fin.word_bits)
    first = sum(int(w, 16) << (k * acc.fin.word_bits) for k, w in enumerate(words[:ncol]))
    assert first == codes[0] | index[0] << cw
    assert "wl_en" in acc.text and "WLOAD(1)" in acc.text and "URAM(0)" in acc.text
    for ready in (1.0, 0.3):
        r = simulate_network(acc, x, d, tmp_path / f"run{ready}", ready_prob=ready)
        assert r["passed"] and r["mismatches"] == 0 and r["frames_out"] == len(x), r
    assert abs(r["cycles_per_frame_measured"] / r["cycles_per_frame_predicted"] - 1) <= 0.02, r
    # a wrong word in the last layer's load: the first node that differs is that layer
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    ly = doc["layers"][-1]
    feed = run_network(net, x, keep=True)[net.nodes[ly["node"]].node.inputs[0]].reshape(len(x), -1)
    wrong = list(words)
    wrong[ly["first"]] = f"{int(words[ly['first']], 16) ^ 0b11:0{len(words[0])}x}"   # lane 0's code of entry 0
    (bad / WEIGHTS_FILE).write_text("\n".join(wrong) + "\n")
    r = simulate_network(acc, x, bad, tmp_path / "runbad", ready_prob=1.0)
    assert (feed != 0).any()
    assert not r["passed"] and r["first_mismatch_layer"] == ly["node"], r
    # a weight transfer three words short: err_short, sticky
    short = tmp_path / "short"
    shutil.copytree(d, short)
    (short / WEIGHTS_FILE).write_text("\n".join(words[:-3]) + "\n")
    r = simulate_network(acc, x[:1], short, tmp_path / "runshort", ready_prob=1.0)
    assert r["err_short"] and not r["passed"], r


class _Pools(torch.nn.Module):
    """ResNet's stem pool (3x3, stride 2, pad 1) and a 2x2 one, each after a ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(3, 2, 1)
        self.pw = torch.nn.Conv2d(8, 8, 1)
        self.pool2 = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 3 * 3, 4)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        x = self.pool2(torch.relu(self.pw(x)))
        return self.fc(torch.flatten(x, 1))


@pytest.mark.sim
def test_max_pools_stream_tap_by_tap_bit_exact(tmp_path):
    """MaxPool is fc_swg (whole pixels, one beat per tap) -> fc_pool (one running max per channel): bit-exact with
    the golden model end to end under back-pressure, on the cycle model, and the estimate lists the same
    instances."""
    from compiler.backend.precision import assign_precisions
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.compress.export_onnx import export_compressed_onnx
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers
    from compiler.verify.reference import tensor_ranges

    torch.manual_seed(0)
    path = tmp_path / "pools.onnx"
    torch.onnx.export(_Pools().eval(), torch.randn(1, 3, 12, 12), str(path), input_names=["x"],
                      output_names=["y"], dynamo=False)
    g = import_onnx(path).graph
    assert sum(n.op == "maxpool" for n in g.nodes) == 2
    plan = plan_layers(g, pe=4, simd=4)
    res = compress(g, plan, CompressionConfig(strategy="pe-wise", target=8))
    rng = np.random.default_rng(0)
    cal, x = rng.random((32, 3, 12, 12), dtype=np.float32), rng.random((4, 3, 12, 12), dtype=np.float32)
    prec = assign_precisions(res.graph, tensor_ranges(export_compressed_onnx(res.graph), cal,
                                                      [n.name for n in res.graph.nodes]), 16, 16)
    net = build_network(res.graph, prec, plan, res.layers)
    acc = generate(net)
    for pool in (n for n in net.order if net.nodes[n].op == "maxpool"):
        assert [m.kind for m in acc.modules if m.node == pool and m.kind != "fc_collect"] == ["fc_swg", "fc_pool"]
    write_accel(acc, tmp_path / "accel")
    _estimate_instances_equal_the_generated(net, tmp_path / "accel")
    for ready in (1.0, 0.3):
        doc = simulate_network(acc, x, tmp_path / "accel", tmp_path / f"run{ready}", ready_prob=ready)
        assert doc["passed"] and doc["frames_out"] == len(x), doc
    doc = simulate_network(acc, x, tmp_path / "accel", tmp_path / "run", ready_prob=1.0)
    assert abs(doc["cycles_per_frame_measured"] / doc["cycles_per_frame_predicted"] - 1) <= 0.02, doc
