"""End-to-end simulation of `fcomp_accel` with Verilator and a C++ testbench (rtl_sim/tb/tb_accel.cpp): whole
frames in as AXI words, every output word compared with the golden model, steady-state cycles per frame and
latency measured, layer-boundary traces naming the first node that differs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..handoff.axi import pack_frame
from ..runtime import simulator, wordlayout
from .accel import ACCEL_SOURCES, TOP, Accel, stream_of
from .layer import RTL_DIR
from .network import run_network
from .sim import tool_env

TB = RTL_DIR / "tb" / "tb_accel.cpp"


@dataclass
class RunResult:
    outputs: np.ndarray          # (frames, elements) integers, channels-last order
    out_cycles: list[int]        # cycle of each frame's last output word
    in_cycles: list[int]         # cycle each frame's first input word was taken
    cycles: int
    status: str                  # done | deadlock | timeout
    err_short: bool
    err_long: bool
    words: list[int]
    wall_s: float
    trace: Path | None = None


class AccelSim:
    """fcomp_accel of one build folder (fcomp_accel.sv + ROMs), compiled once with Verilator (the build command
    and its cache are `compiler.runtime.simulator`'s, which the bundle's driver uses too)."""

    def __init__(self, accel_dir: Path, work_dir: Path, waves: bool = False, jobs: int = 2):
        tool_env()
        self.accel_dir = Path(accel_dir).resolve()
        self.work = Path(work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.waves = waves
        srcs = [RTL_DIR / f for f in ACCEL_SOURCES] + [self.accel_dir / f"{TOP}.sv"]
        try:
            self.exe, self.cached, self.build_s = simulator.build(
                srcs, RTL_DIR, TB, self.work / ("build_vcd.log" if waves else "build.log"), waves, jobs)
        except simulator.SimError as e:
            raise FcompError(str(e)) from None
        self.runs = 0

    def run_words(self, frames_words: list[list[int]], out_words: int, ready_prob: float = 1.0, seed: int = 1,
                  idle: int = 100_000, trace: bool = False, vcd: bool = False,
                  last_flags: list[list[int]] | None = None) -> tuple[RunResult, list[int]]:
        """Stream frames (lists of AXI words; tlast on each frame's last word unless `last_flags` says otherwise)
        and collect `out_words` output words. Returns the result and the tlast flag of every output word."""
        self.runs += 1
        try:
            r = simulator.run(self.exe, self.accel_dir, self.work / f"run_{self.runs}", frames_words, out_words,
                              ready_prob, seed, idle, trace, vcd and self.waves, last_flags)
        except simulator.SimError as e:
            raise FcompError(str(e)) from None
        return RunResult(np.zeros((0, 0), np.int64), r.out_cycles, r.in_cycles, r.cycles, r.status, r.err_short,
                         r.err_long, r.words, r.wall_s, r.trace), r.lasts

    def run(self, acc: Accel, x_int_frames: np.ndarray, ready_prob: float = 1.0, seed: int = 1,
            trace: bool = False, vcd: bool = False, idle: int | None = None) -> RunResult:
        """Integer input frames (n, elements, channels-last) -> outputs decoded from the AXI words."""
        fin, fout = acc.fin, acc.fout
        frames = [pack_frame(f, fin) for f in x_int_frames]
        if idle is None:
            idle = 4 * acc.cycle_model()["cycles_per_frame"] + 20_000
        res, lasts = self.run_words(frames, fout.words * len(frames), ready_prob, seed, idle, trace, vcd)
        n_done = len(res.words) // fout.words
        res.outputs = np.zeros((0, fout.elements), np.int64)
        try:
            if n_done:
                res.outputs = wordlayout.unpack(np.asarray(res.words[:n_done * fout.words], np.uint64)
                                                .reshape(n_done, fout.words), fout)
        except wordlayout.LayoutError as e:
            raise FcompError(f"{TOP}: {e}") from None
        bad = wordlayout.framing_error(lasts, fout.words)
        if bad:
            raise FcompError(f"{TOP}: {bad}")
        return res


def channels_last(v: np.ndarray) -> np.ndarray:
    """(n, C, H, W) or (n, k) integers -> (n, elements) in channels-last (stream) order."""
    v = np.asarray(v)
    if v.ndim == 4:
        v = v.transpose(0, 2, 3, 1)
    return v.reshape(len(v), -1)


def read_trace(path: Path, streams: dict[str, tuple[str, int, int]]) -> dict[str, np.ndarray]:
    """The trace of a run -> {node: (beats, lanes) signed integers} in stream order; streams maps each traced
    id to (node name, lanes, lane width)."""
    beats: dict[str, list[int]] = {}
    for line in Path(path).read_text().splitlines():
        _, nid, hexv = line.split()
        beats.setdefault(nid, []).append(int(hexv, 16))
    out = {}
    for nid, (name, lanes, w) in streams.items():
        arr = np.array([[(word >> (l * w)) & ((1 << w) - 1) for l in range(lanes)] for word in beats.get(nid, [])],
                       dtype=np.int64).reshape(-1, lanes)
        out[name] = np.where(arr >> (w - 1), arr - (1 << w), arr)
    return out


def trace_streams(acc: Accel) -> dict[str, tuple[str, int, int]]:
    return {i: (name, stream_of(acc.net.nodes[name]).lanes, stream_of(acc.net.nodes[name]).width)
            for name, i in acc.ids.items()}


def first_mismatch(acc: Accel, trace: dict[str, np.ndarray], golden: dict[str, np.ndarray]) -> str | None:
    """The first node (in graph order) whose traced beats differ from the golden model's (or are missing)."""
    for name in acc.net.order:
        want = channels_last(golden[name]).reshape(-1, stream_of(acc.net.nodes[name]).lanes)
        if not _beats_equal(trace.get(name), want):
            return name
    return None


def _beats_equal(got: np.ndarray | None, want: np.ndarray) -> bool:
    """The traced beats start with the wanted ones (a run may have traced more frames)."""
    return got is not None and got.shape[0] >= want.shape[0] and np.array_equal(got[:want.shape[0]], want)


def simulate_network(acc: Accel, x: np.ndarray, accel_dir: Path, work: Path, ready_prob: float = 0.5,
                     seed: int = 1, sim: AccelSim | None = None) -> dict:
    """Every frame of x (real inputs) through fcomp_accel: outputs vs the golden model, cycles vs the model.
    On a mismatch or a deadlock the run is repeated with layer-boundary traces to name the first node that
    differs (and with a VCD waveform)."""
    sim = sim or AccelSim(accel_dir, work)
    gold = run_network(acc.net, x, keep=True)
    x_int = channels_last(gold[acc.net.input.name])
    want = channels_last(gold[acc.net.graph.outputs[0]])
    res = sim.run(acc, x_int, ready_prob=ready_prob, seed=seed)
    n = len(x_int)
    mism = int(np.sum(res.outputs != want[:len(res.outputs)])) + (n - len(res.outputs)) * want.shape[1]
    model = acc.cycle_model()
    ii = simulator.steady_ii(res.out_cycles)
    doc = {"frames": n, "frames_out": int(len(res.outputs)), "mismatches": mism, "status": res.status,
           "err_short": res.err_short, "err_long": res.err_long,
           "cycles_per_frame_predicted": int(model["cycles_per_frame"]), "bottleneck": model["bottleneck"],
           "cycles_per_frame_measured": ii, "latency_cycles_measured":
               (res.out_cycles[0] - res.in_cycles[0]) if res.out_cycles and res.in_cycles else None,
           "cycles": res.cycles, "ready_prob": ready_prob, "wall_s": round(res.wall_s, 3),
           "build_s": round(sim.build_s, 1), "simulator": simulator.verilator_version(), "first_mismatch_layer": None}
    if ii is not None:
        doc["cycles_error"] = round(ii / model["cycles_per_frame"] - 1, 4)
    doc["passed"] = bool(mism == 0 and res.status == "done" and not res.err_short and not res.err_long)
    if not doc["passed"]:
        tr = sim.run(acc, x_int, ready_prob=ready_prob, seed=seed, trace=True)
        doc["first_mismatch_layer"] = first_mismatch(acc, read_trace(tr.trace, trace_streams(acc)), gold) if tr.trace.is_file() \
            else None
        doc["trace"] = str(tr.trace)
    return doc
