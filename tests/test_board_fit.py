"""The build plans for the board before any compiling: a model that cannot fit stops with exit 2, the numbers
per resource and the smallest board that fits, and writes nothing; resource limits stop a build just as early."""

import pytest

from compiler import cli


def _fails_early(argv, capsys, out):
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not out.exists()
    return err


def test_resnet18_on_pynq_z2_names_the_smallest_board_that_fits(zoo_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("resnet18")), "--board", "pynq-z2", "-o", str(out)], capsys, out)
    assert "resnet18.onnx does not fit pynq-z2" in err
    assert "needed vs" in err and "available" in err
    assert "smallest board in boards/ that fits is zcu102" in err
    assert "Traceback" not in err


def test_uncompressed_resnet18_does_not_fit_zcu104(zoo_onnx, tmp_path, capsys):
    """178 Mbit of 16-bit weights in ROMs (fc_mac_layer): initialized memories cannot be UltraRAM, so not even
    alveo-u250's 97 Mbit of block RAM holds them."""
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("resnet18")), "--strategy", "none", "-o", str(out)], capsys, out)
    assert "does not fit zcu104" in err and "no board in boards/ fits it" in err


def test_a_tighter_margin_is_honoured(zoo_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("resnet18")), "--margin", "0.05", "-o", str(out)], capsys, out)
    assert "(5% of its resources)" in err


def test_predicted_csim_time_over_the_limit_stops_before_any_output(zoo_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("digits_cnn")), "--max-csim-minutes", "0.001", "-o", str(out)],
                       capsys, out)
    assert "--max-csim-minutes" in err


def test_predicted_memory_over_the_limit_stops_before_any_output(zoo_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("resnet18")), "--max-memory-gb", "0.1", "-o", str(out)], capsys, out)
    assert "--max-memory-gb" in err


# README "Board planner" table (`bench/plan.py`, default --max-simd 16): LUT, DSP, BRAM36, URAM, frames/s, latency ms.
# The plan is integer arithmetic on the model's shapes: exact, except for the README's rounding of frames/s and ms
# to 0.1 (tolerance 0.05). A change that moves them must update the README too.
README_PLAN = {"zcu104": (195_779, 21, 259, 80, 27.1, 381.1), "zcu102": (207_220, 21, 773, 0, 92.5, 198.3),
               "alveo-u250": (1_468_751, 24, 590, 93, 1_138.8, 11.1)}
README_MODEL_LUT = {"zcu104": 188_144, "zcu102": 235_859, "alveo-u250": 551_630}


@pytest.mark.parametrize("board", list(README_PLAN))
def test_compressed_resnet18_fits_the_larger_boards(zoo_onnx, board):
    from compiler.boards import get_board
    from compiler.frontend import import_onnx
    from compiler.pipeline import BuildOptions, plan_for_board

    fe = import_onnx(zoo_onnx("resnet18"))
    plan, est = plan_for_board(fe.graph, get_board(board), BuildOptions(model=zoo_onnx("resnet18"), board=board))
    assert set(plan) == {n.name for n in fe.graph.weighted()}
    assert est.total()["dsp"] < 0.1 * get_board(board).resources["dsp"]
    lut, dsp, bram36, uram, fps, latency_ms = README_PLAN[board]
    t = est.total()
    assert (t["lut"], t["dsp"], t["bram36"], t["uram"]) == (lut, dsp, bram36, uram)
    assert est.frames_per_s == pytest.approx(fps, abs=0.05)
    assert est.to_dict()["latency_ms"] == pytest.approx(latency_ms, abs=0.05)
    # README's "model LUT" column: the same plan as the generator would make it, costed by the per-module model
    # fitted on Yosys (compiler/synth/cost_model.json); a refit that moves it must update README
    from compiler.estimate import design_model
    from compiler.planner import planned_keep_shares

    dm = design_model(fe.graph, plan, keep_share=planned_keep_shares(fe.graph, 21.0))
    assert dm["total"]["LUT_TOTAL"] == pytest.approx(README_MODEL_LUT[board], rel=0.001)


def test_target_fps_plans_the_cheapest_design_that_reaches_it(zoo_onnx):
    from compiler.boards import get_board
    from compiler.frontend import import_onnx
    from compiler.pipeline import BuildOptions, plan_for_board

    model = zoo_onnx("digits_resnet")
    g, board = import_onnx(model).graph, get_board("zcu104")
    _, fastest = plan_for_board(g, board, BuildOptions(model=model))
    _, slow = plan_for_board(g, board, BuildOptions(model=model, target_fps=1000))
    assert 1000 <= slow.frames_per_s < fastest.frames_per_s
    assert slow.total()["lut"] < fastest.total()["lut"] / 4


def test_an_unreachable_frame_rate_is_refused(zoo_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("digits_resnet")), "--target-fps", "1e9", "-o", str(out)], capsys, out)
    assert "reaches at most" in err and "below the target" in err


def test_the_planner_never_plans_faster_than_a_frame_arrives(zoo_onnx):
    """digits_mlp's 64 inputs arrive in 16 AXI words; before the input stage was modelled the planner bought
    512-lane PEs for 4 cycles per frame (100M frames/s) and 32-wide pruning groups that cost accuracy."""
    from compiler.boards import get_board
    from compiler.estimate import input_frame_cycles
    from compiler.frontend import import_onnx
    from compiler.pipeline import BuildOptions, plan_for_board
    from compiler.planner import MAX_SIMD

    model = zoo_onnx("digits_mlp")
    g = import_onnx(model).graph
    plan, est = plan_for_board(g, get_board("alveo-u250"), BuildOptions(model=model, board="alveo-u250"))
    assert input_frame_cycles(g.inputs[0].shape, 16) == 16
    assert est.cycles_per_frame == 16
    assert all(m.simd <= MAX_SIMD for m in plan.values())


@pytest.mark.parametrize("flag, value", [("--margin", "1.5"), ("--margin", "0"), ("--margin", "nan"),
                                         ("--target-fps", "nan"), ("--target-fps", "-5"), ("--max-simd", "0")])
def test_planner_options_out_of_range_are_usage_errors(zoo_onnx, tmp_path, capsys, flag, value):
    """--margin 1.5 used to plan 150% of the board's LUTs as a fit, nan crashed with a traceback, and
    --target-fps nan was silently ignored."""
    out = tmp_path / "out"
    err = _fails_early(["build", str(zoo_onnx("digits_mlp")), flag, value, "-o", str(out)], capsys, out)
    assert flag in err and "Traceback" not in err


def test_target_fps_is_checked_for_a_model_without_weighted_layers(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                           helper.make_node("Flatten", ["p"], ["y"])], "pool",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])])
    path = tmp_path / "pool.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    out = tmp_path / "out"
    err = _fails_early(["build", str(path), "--strategy", "none", "--target-fps", "1e12", "-o", str(out)], capsys,
                       out)
    assert "below the target" in err


def test_compress_takes_the_planner_options_so_its_groups_match_build(zoo_onnx):
    from compiler import cli as cli_mod

    args = cli_mod._parse(["compress", str(zoo_onnx("digits_mlp")), "--max-simd", "4", "--margin", "0.5"])
    assert args.max_simd == 4 and args.margin == 0.5
