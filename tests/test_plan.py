"""The default PE mapping (compiler.plan)."""

import numpy as np
import pytest

from compiler.ir import Graph, Node
from compiler.plan import LayerMapping, plan_layers


def _graph():
    nodes = [Node("x", "input", [], (3, 8, 8)),
             Node("c", "conv", ["x"], (12, 8, 8), {"kernel": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
                  {"W": np.zeros((12, 3, 3, 3), np.float32), "b": np.zeros(12, np.float32)}),
             Node("f", "flatten", ["c"], (768,)),
             Node("d", "dense", ["f"], (10,), {}, {"W": np.zeros((768, 10), np.float32), "b": np.zeros(10, np.float32)})]
    return Graph("g", nodes, ["d"])


def test_mapping_divides_rows_and_cols():
    plan = plan_layers(_graph())
    c, d = plan["c"], plan["d"]
    assert (c.rows, c.cols, c.vectors) == (12, 27, 64)
    assert c.rows % c.pe == 0 and c.cols % c.simd == 0 and c.pe <= 16 and c.simd <= 16
    assert (d.rows, d.cols, d.vectors) == (10, 768, 1)
    assert d.pe == 10 and d.simd == 16


def test_cycles_and_reuse_factor():
    m = LayerMapping("l", rows=32, cols=64, pe=8, simd=16, vectors=4)
    assert m.cycles_per_vector() == (32 // 8) * (64 // 16)
    assert m.cycles_per_frame() == 4 * 16
    assert m.reuse_factor == 32 * 64 // (8 * 16)


def test_pruned_cycles_bound_by_kept_groups_or_output_beats():
    m = LayerMapping("l", rows=32, cols=64, pe=16, simd=16, vectors=1)
    assert m.pruned_cycles_per_vector([3] * 16) == 3
    assert m.pruned_cycles_per_vector([1] * 16) == 2   # 32 rows on 16 PEs leave in 2 output beats


# ---- reuse factors and foldings (compiler.plan) --------------------------------------------------------------------
def test_valid_reuse_factor_is_hls4ml_rule():
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    from compiler.plan import valid_reuse_factor

    for rows, cols in ((10, 768), (12, 27), (64, 576), (1000, 512), (7, 13), (16, 16)):
        for rf in range(1, rows * cols + 1, max(1, rows * cols // 400)):
            assert valid_reuse_factor(rows, cols, rf) == FPGABackend._validate_reuse_factor(None, cols, rows, rf), \
                (rows, cols, rf)


def test_foldings_have_no_idle_lanes_and_valid_reuse_factors():
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    from compiler.plan import foldings

    fs = foldings(1000, 512)
    assert fs[0] == (1, 1)
    assert (10, 16) not in fs                      # the default plan's fc folding: hls4ml would replace its RF
    for p, s in fs:
        assert 1000 % p == 0 and 512 % s == 0
        assert FPGABackend._validate_reuse_factor(None, 512, 1000, 1000 * 512 // (p * s))
    lanes = [p * s for p, s in fs]
    assert lanes == sorted(lanes)


def test_memory_kind_is_checked():
    assert LayerMapping("l", 8, 8, 2, 2, 1).memory == "bram"
    assert LayerMapping("l", 8, 8, 2, 2, 1, "uram").memory == "uram"
    with pytest.raises(ValueError):
        LayerMapping("l", 8, 8, 2, 2, 1, "ddr")


# ---- the board planner (compiler.planner) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet18(zoo_onnx):
    from compiler.frontend import import_onnx

    return import_onnx(zoo_onnx("resnet18")).graph


@pytest.fixture(scope="module")
def keep21(resnet18):
    """{layer: keep share} at 21x as `fcomp build` plans it (the first layer whole, as the engine leaves it)."""
    from compiler.planner import planned_keep_shares

    return planned_keep_shares(resnet18, 21.0)


def _board(name, scale=1.0, **override):
    from compiler.boards import Board, get_board

    b = get_board(name)
    res = {k: int(v * scale) for k, v in b.resources.items()}
    res.update(override)
    return Board(f"{b.name}-x{scale}", b.part, b.family, res, b.clock_mhz)


def test_keep_share_reaches_the_target_ratio(resnet18, keep21):
    from compiler.estimate import weight_memory_bits

    params = sum(n.weights["W"].size for n in resnet18.weighted())
    ratio = 32 * params / weight_memory_bits(resnet18, keep_share=keep21)
    assert 20.9 <= ratio <= 21.5, ratio
    assert 0.3 < min(keep21.values()) < 0.9


def test_layers_the_engine_leaves_unpruned_are_planned_whole(resnet18, keep21, zoo_onnx):
    """The compression engine does not prune the first layer unless it holds 20% of the weights (or the target
    needs it): planning resnet18's conv1 at the shared keep share promised 90.6 frames/s on zcu104 where the
    compressed build, with conv1 whole, estimated 54.2."""
    from compiler.frontend import import_onnx
    from compiler.planner import keep_share_for_ratio, planned_keep_shares

    first = resnet18.weighted()[0].name
    assert keep21[first] == 1.0 and all(v < 1.0 for n, v in keep21.items() if n != first)
    assert min(keep21.values()) <= keep_share_for_ratio(resnet18, 21.0)     # the rest keep a little less
    assert planned_keep_shares(resnet18, 21.0, prune_first="always")[first] < 1.0
    mlp = import_onnx(zoo_onnx("digits_mlp")).graph          # its first layer holds most of its weights: pruned
    assert planned_keep_shares(mlp, 16.0)[mlp.weighted()[0].name] < 1.0


def test_resnet18_compressed_fits_zcu104_with_valid_plan(resnet18, keep21):
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    from compiler.boards import get_board
    from compiler.planner import check_fit, plan_and_estimate

    board = get_board("zcu104")
    plan, est = plan_and_estimate(resnet18, board, keep_share=keep21)
    assert set(plan) == {n.name for n in resnet18.weighted()}
    for m in plan.values():
        assert m.rows % m.pe == 0 and m.cols % m.simd == 0
        assert FPGABackend._validate_reuse_factor(None, m.cols, m.rows, m.reuse_factor)
        assert m.memory in ("lutram", "bram", "uram")
    total = est.total()
    for r in ("lut", "ff", "dsp", "bram36", "uram"):
        assert total[r] <= 0.85 * board.resources[r]
    # ternary products are adder-only; only the per-channel scale stages multiply (rows / ReuseFactor each)
    assert total["dsp"] == sum(-(-m.rows // min(m.reuse_factor, m.rows)) for m in plan.values())
    # README "Board planner" table, zcu104 row (`bench/plan.py` prints it): the planner is integer arithmetic on the
    # model's shapes, so these are exact; the only tolerance is the README's rounding (0.1 frames/s, 0.1 ms). A
    # change that moves them must update the README too.
    assert (total["lut"], total["dsp"], total["bram36"], total["uram"]) == (195_779, 21, 259, 80)
    assert est.frames_per_s == pytest.approx(27.1, abs=0.05)
    assert est.to_dict()["latency_ms"] == pytest.approx(381.1, abs=0.05)
    check_fit(est, board)                          # does not raise


def test_resnet18_uncompressed_does_not_fit_zcu104(resnet18):
    from compiler.boards import get_board
    from compiler.errors import FcompError
    from compiler.planner import DoesNotFitError, plan_for_board

    with pytest.raises(DoesNotFitError) as exc:
        plan_for_board(resnet18, get_board("zcu104"), keep_share=1.0, ternary=False, weight_bits=16)
    msg = str(exc.value)
    assert isinstance(exc.value, FcompError) and "\n" not in msg
    assert "zcu104" in msg and "needed vs" in msg and "available" in msg
    assert "178.3 Mbit" in msg                     # 11.7M weights x 16 bits + biases, in 2^20-bit Mbit
    # initialized ROMs cannot be UltraRAM (`estimate.weight_memory_cost`): 178 Mbit exceed every board's block RAM
    assert "no board in boards/ fits it" in msg


def test_not_fitting_names_the_smallest_board_that_fits(resnet18, keep21):
    import re

    from compiler.boards import get_board, list_boards
    from compiler.planner import DoesNotFitError, on_chip_bits, plan_for_board

    with pytest.raises(DoesNotFitError) as exc:
        plan_for_board(resnet18, get_board("pynq-z2"), keep_share=keep21)
    msg = str(exc.value)
    assert re.search(r"LUT [\d,]+ needed vs 45,220 available", msg)
    assert re.search(r"BRAM36 [\d,]+ needed vs 119 available", msg)
    named = re.search(r"smallest board in boards/ that fits is ([\w-]+)", msg).group(1)
    plan_for_board(resnet18, get_board(named), keep_share=keep21)          # it really fits
    key = lambda b: (on_chip_bits(b), b.resources["lut"])                   # noqa: E731
    for b in list_boards():                                                 # and no smaller board does
        if key(b) < key(get_board(named)) and b.name != "pynq-z2":
            with pytest.raises(DoesNotFitError):
                plan_for_board(resnet18, b, keep_share=keep21)


def test_planner_is_deterministic(resnet18, keep21):
    from compiler.boards import get_board
    from compiler.planner import plan_and_estimate

    a, ea = plan_and_estimate(resnet18, get_board("zcu102"), keep_share=keep21)
    b, eb = plan_and_estimate(resnet18, get_board("zcu102"), keep_share=keep21)
    assert a == b and ea.to_dict() == eb.to_dict()


def test_more_resources_never_lower_frames_per_s(resnet18, keep21):
    from compiler.planner import plan_and_estimate

    fps = [plan_and_estimate(resnet18, _board("zcu104", s), keep_share=keep21)[1].frames_per_s
           for s in (1.0, 1.5, 3.0)]
    assert fps == sorted(fps) and fps[-1] > fps[0], fps


def test_balance_layers_are_folded_down_to_the_bottleneck(resnet18, keep21):
    """A layer much faster than the bottleneck only stays so when no cheaper folding meets the bottleneck's
    cycles; and the big 3x3 convs (many foldings) all land within 2x of it."""
    from compiler.planner import _Search, plan_and_estimate

    from compiler.boards import get_board

    board = get_board("zcu104")
    plan, est = plan_and_estimate(resnet18, board, keep_share=keep21)
    T = est.cycles_per_frame
    search = _Search(resnet18, board, keep21, 16, True, 16, 0.85)
    for le in est.layers:
        if le.layer not in plan:
            assert le.cycles_per_frame <= T
            continue
        chosen = next(c for m, _, c in search.cands[le.layer] if (m.pe, m.simd) == (plan[le.layer].pe,
                                                                                     plan[le.layer].simd))
        cheaper_meeting_T = [m for m, cyc, c in search.cands[le.layer] if cyc <= T and c < chosen]
        assert not cheaper_meeting_T, le.layer
        if "conv" in le.layer and "downsample" not in le.layer and le.layer != "conv1_Conv_output_0":
            # within 2x of the bottleneck, unless its faster folding is its cheapest one anyway (memory
            # primitives round up: a UltraRAM column costs the same at any depth up to 4,096 words)
            cheapest = min(c for _, _, c in search.cands[le.layer])
            assert le.cycles_per_frame >= T / 2 or chosen <= cheapest, (le.layer, le.cycles_per_frame, T)


def test_a_model_without_weighted_layers_gets_an_empty_plan():
    """A pooling-only model has nothing to fold; the planner used to crash on max() of an empty sequence."""
    from compiler.boards import get_board
    from compiler.planner import plan_and_estimate

    g = Graph("pool_only", [Node("x", "input", [], (2, 12, 12)),
                            Node("f", "flatten", ["x"], (288,))], ["f"])
    plan, est = plan_and_estimate(g, get_board("zcu104"), keep_share=1.0, ternary=False)
    assert plan == {} and est.total()["dsp"] == 0


# ---- the matrix column order and chunked windows ---------------------------------------------------------------
def _conv(c_in, c_out=8, k=3, group=1, stride=1, pad=1):
    return Node("k", "conv", ["x"], (c_out, 6, 6), {"kernel": [k, k], "strides": [stride, stride],
                                                   "pads": [pad] * 4, "group": group},
                {"W": np.zeros((c_out, c_in // group, k, k), np.float32), "b": np.zeros(c_out, np.float32)})


def test_conv_columns_are_kernel_major_and_round_trip():
    """A conv's matrix columns run (kh, kw, c): column (kh*KW + kw)*C + c holds W[:, c, kh, kw], for numpy
    arrays and torch tensors alike; grouped convs keep ONNX order (c, kh, kw)."""
    import torch

    from compiler.plan import columns_to_weight, kernel_major, matrix_columns, weight_matrix

    w = np.arange(2 * 4 * 3 * 3).reshape(2, 4, 3, 3)
    m = matrix_columns(w)
    assert m.shape == (2, 36)
    for kh in range(3):
        for kw in range(3):
            for c in range(4):
                assert (m[:, (kh * 3 + kw) * 4 + c] == w[:, c, kh, kw]).all()
    assert (columns_to_weight(m, w.shape) == w).all()
    t = torch.from_numpy(w)
    assert (matrix_columns(t).numpy() == m).all() and (columns_to_weight(matrix_columns(t), w.shape) == t).all()
    node, grouped = _conv(4), _conv(4, group=2)
    assert kernel_major(node) and not kernel_major(grouped)
    assert (weight_matrix(grouped, w) == w.reshape(2, -1)).all()


def test_pruning_groups_are_channels_of_one_kernel_tap():
    """Where S divides the channels, a PE-wise group is S channels of one kernel tap."""
    import torch

    from compiler.compress.groups import expand_group_mask

    gmask = torch.zeros(2, 9 * 8 // 4, dtype=torch.bool)
    gmask[0, 5] = True                       # row 0, columns 20..23: tap (kh, kw) = (0, 2), channels 4..7
    m = expand_group_mask(gmask, (2, 8, 3, 3), 4)
    assert m.sum() == 4 and m[0, 4:8, 0, 2].all()


def test_window_chunks_set_the_input_stream():
    """A kernel-major windowed conv's input beats are IB*S channels of one pixel: IB widens to the next chunk
    that divides C; 1x1 stride-1 convs, grouped convs and dense layers stream whole vectors."""
    from compiler.plan import window_channels

    assert window_channels(_conv(64)) == 64
    assert window_channels(_conv(64, k=1, pad=0)) == 0 and window_channels(_conv(64, k=1, pad=0, stride=2)) == 64
    assert window_channels(_conv(8, group=2)) == 0
    m = LayerMapping("k", rows=8, cols=9 * 24, pe=8, simd=4, vectors=36, channels=24)
    assert m.in_blocks(54) == 1 and m.window_chunked(1)
    assert m.in_blocks(20) == 3 and m.window_chunked(3)          # ceil(54/20) = 3 blocks: 12 | 24
    assert m.in_blocks(12) == 6                                  # ceil(54/12) = 5 -> 6 (24 lanes, a whole pixel)
    assert m.in_blocks(5) == 11 and not m.window_chunked(11)     # no chunk is wide enough: the whole window
    assert m.stream_shape([20]) == (20, 18, 1)


def test_default_and_planned_folding_keep_s_dividing_wide_channels():
    from compiler.plan import chunkable_simd

    assert chunkable_simd(3, 7, 16) and not chunkable_simd(48, 9, 16) and chunkable_simd(48, 12, 16)
    nodes = [Node("x", "input", [], (40, 6, 6)), _conv(40)]
    plan = plan_layers(Graph("g", nodes, ["k"]), pe=4, simd=16)
    assert plan["k"].simd == 10 and plan["k"].channels == 40      # 360 = 9*40 has 15, which does not divide 40
