"""cocotb 2.x testbench of one generated PE-array layer (rtl_sim/tpe_layer.sv behind its generated top).

The stimulus is a JSON file named by FCOMP_TB_STIM (written by compiler/rtl/sim.py): the input tdata words of
every vector, the expected output tdata words (the golden model's), and the handshake pattern: the source
offers a beat with probability `valid_prob` per cycle (and holds it until taken, as AXI-Stream requires), the
sink is ready with probability `ready_prob`. Everything is sampled and driven at the falling clock edge, so a
transfer seen there happens at the next rising edge. The transfer cycle of every beat, the output words and
tlast flags go to FCOMP_TB_OUT; the test fails unless every output word equals the expected one bit for bit
and tlast marks exactly the last beat of each vector.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


@cocotb.test()
async def stream(dut):
    with open(os.environ["FCOMP_TB_STIM"], encoding="utf-8") as f:
        stim = json.load(f)
    beats_in = [int(v, 16) for v in stim["in"]]
    expected = [int(v, 16) for v in stim["out"]]
    nbi, rpp = stim["NBI"], stim["RPP"]
    rng = random.Random(stim.get("seed", 0))
    pv, pr = stim.get("valid_prob", 1.0), stim.get("ready_prob", 1.0)
    max_cycles = stim.get("max_cycles", 100000)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)

    cycle, i, holding, taken = 0, 0, False, False
    got, lasts, t_in, t_out = [], [], [], []
    while len(got) < len(expected) and cycle < max_cycles:
        if taken:                       # the beat offered at the previous falling edge was transferred
            i, holding, taken = i + 1, False, False
        if not holding and i < len(beats_in) and (pv >= 1.0 or rng.random() < pv):
            dut.s_axis_tdata.value = beats_in[i]
            dut.s_axis_tlast.value = int(i % nbi == nbi - 1)
            holding = True
        dut.s_axis_tvalid.value = int(holding)
        ready = pr >= 1.0 or rng.random() < pr
        dut.m_axis_tready.value = int(ready)
        if holding and int(dut.s_axis_tready.value):
            taken = True
            t_in.append(cycle)
        if ready and int(dut.m_axis_tvalid.value):
            got.append(int(dut.m_axis_tdata.value))
            lasts.append(int(dut.m_axis_tlast.value))
            t_out.append(cycle)
        await FallingEdge(dut.clk)
        cycle += 1

    with open(os.environ["FCOMP_TB_OUT"], "w", encoding="utf-8") as f:
        json.dump({"out": [f"{v:x}" for v in got], "tlast": lasts, "t_in": t_in, "t_out": t_out,
                   "cycles": cycle}, f)
    assert len(got) == len(expected), f"only {len(got)} of {len(expected)} output beats in {cycle} cycles"
    bad = [k for k, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not bad, (f"{len(bad)} output beats differ from the golden model, first: beat {bad[0]} "
                     f"(vector {bad[0] // rpp}): got {got[bad[0]]:x}, expected {expected[bad[0]]:x}")
    want_last = [int(k % rpp == rpp - 1) for k in range(len(got))]
    assert lasts == want_last, "tlast does not mark the last beat of each output vector"
