"""Real interruptions of `fcomp build` (a CLI subprocess, digits_mlp): SIGINT (Ctrl-C) and SIGTERM (what `timeout`
and a CI job's time limit send) while g++ compiles the hls4ml C simulation and while Verilator's model is being
compiled. The signal goes to the fcomp process alone, as `kill PID` sends it (a terminal's Ctrl-C or `timeout`
also reach the children; this is the harder case): fcomp must exit 130 / 143, stop every process it started,
leave the previous output folder as it was and no `.out.tmp-*` sibling.

The phase is read from the build's progress lines on stderr and then confirmed by a compiler process (cc1plus)
running below fcomp, so the signal lands during the compile, not before or after it. Without fcomp's SIGTERM
handler the SIGTERM cases end with -15 and the temporary folder left; without its stopping of the child processes
the RTL cases find make's g++ still running after fcomp exited (in the C-sim case hls4ml's g++ usually fails on
its own once the clean-up deleted the headers it was reading, so that case guards exit code and folders).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from compiler.interrupt import live_descendants

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parent.parent
PHASES = {"csim": "Compiling the C simulation (g++) ...",
          "rtl": "RTL verification of compressed layers (Verilator) ..."}
# the compile to interrupt: hls4ml's build_lib.sh first runs quick `g++ -fsyntax-only` probes, then the firmware
# (the long one); Verilator's make compiles the generated model
COMPILING = {"csim": "firmware/fcomp_top.cpp", "rtl": ".cpp"}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _compiling(pid: int, source: str) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _comm(pid) == "cc1plus" and any(a.endswith(source.encode()) for a in args)


def _session_alive(sid: int) -> list[str]:
    """Processes of session `sid` that have not exited: 'pid comm state'."""
    alive = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        if int(rest[3]) == sid and rest[0] not in "ZX":     # field 6 of stat: the session id
            alive.append(f"{d.name} {_comm(int(d.name))} {rest[0]}")
    return alive


def _lines(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


@pytest.fixture(scope="module")
def model(zoo_onnx):
    return zoo_onnx("digits_mlp")


# SIGINT during Verilator is `slow` (not in `make test`): the same handler as SIGTERM there, and SIGINT's own exit
# code is checked during g++; it saves CI a build up to the RTL stage.
@pytest.mark.parametrize("sig, phase", [(signal.SIGINT, "csim"), (signal.SIGTERM, "csim"), (signal.SIGTERM, "rtl"),
                                        pytest.param(signal.SIGINT, "rtl", marks=pytest.mark.slow)],
                         ids=lambda v: v.name if isinstance(v, signal.Signals) else v)
def test_signal_stops_the_build_cleanly(tmp_path, model, sig, phase):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("previous build\n")
    (out / "hls").mkdir()
    (out / "hls" / "kept.txt").write_text("previous hls\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "compiler.cli", "build", str(model), "-o", str(out), "--force",
           "--check-inputs", "2", "--calibration-inputs", "8", "--rtl-layers", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, q), daemon=True).start()
    err: list[str] = []
    try:
        deadline = time.monotonic() + 600
        while not any(PHASES[phase] in l for l in err):      # the progress line that opens the phase
            line = q.get(timeout=max(1.0, deadline - time.monotonic()))
            assert line is not None, "build ended before the phase:\n" + "".join(err)
            err.append(line)
        compiler = None
        while compiler is None:                          # and the compiler it runs, below fcomp
            assert proc.poll() is None and time.monotonic() < deadline, "".join(err)
            compiler = next((p for p in live_descendants(proc.pid) if _compiling(p, COMPILING[phase])), None)
            time.sleep(0.05)
        proc.send_signal(sig)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    while (line := q.get(timeout=30)) is not None:
        err.append(line)
    text = "".join(err)
    done = PHASES[phase].replace(" ...", " done in")      # logged only when the stage finished
    assert done not in text, f"the phase ended before the signal:\n{text}"
    assert rc == 128 + sig, text
    assert f"interrupted ({signal.Signals(sig).name})" in text and "Traceback" not in text, text
    assert _session_alive(proc.pid) == [], "processes fcomp started outlived it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a temporary sibling was left behind"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["hls", "hls/kept.txt", "report.json"]
    assert (out / "report.json").read_text() == "previous build\n"
    assert (out / "hls" / "kept.txt").read_text() == "previous hls\n"
