"""Ctrl-C (SIGINT) and SIGTERM (what `timeout`, a CI job's time limit or `kill` send) end a CLI run the same way:
the processes fcomp started (g++ under hls4ml's build_lib.sh, make, verilator, the simulator) are stopped first,
then an `Interrupted` exception unwinds the Python stack through the same clean-up as Ctrl-C (the staged output's
temporary folder is deleted, a previous output stays as it was) and the CLI exits 128 + the signal number
(130, 143), as a shell reports a process the signal ended.

Python's default SIGTERM action ends the process at once, without unwinding, which left `.NAME.tmp-*` behind and
the compiler running. A signal sent to fcomp alone (`kill PID`) does not reach its children, and a `subprocess.run`
that is interrupted kills only its direct child (a shell), not the g++ or make below it; so the handler collects
every descendant from /proc and stops them before the exception runs any clean-up, and makes fcomp a child
subreaper so that a child's child orphaned meanwhile is still found.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_CHILD_SUBREAPER = 36
TERM_GRACE_S = 5.0      # what a process gets to exit after SIGTERM before SIGKILL


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM turned into the exception Ctrl-C raises, so every `except KeyboardInterrupt` and
    `except BaseException` clean-up runs for both."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process /proc shows (empty where there is no /proc)."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()   # the command name, in (), may hold spaces
        if len(rest) >= 2:
            table[int(name)] = (int(rest[1]), rest[0])
    return table


def live_descendants(pid: int | None = None) -> list[int]:
    """Descendants of `pid` (default: this process) that have not exited (zombies excluded)."""
    root = os.getpid() if pid is None else pid
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(p)
    found, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return [p for p in found if table.get(p, (0, "Z"))[1] not in "ZX"]


def _send(pids, sig) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, sig)


def stop_descendants(grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM every live descendant, SIGKILL what is left after grace_s; repeated until none is left (a make
    may start a compiler between two looks)."""
    with contextlib.suppress(Exception):   # orphans of our children are re-parented to us, not to init
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    deadline = time.monotonic() + grace_s
    killed = False
    while True:
        pids = live_descendants()
        if not pids:
            return
        if time.monotonic() < deadline:
            _send(pids, signal.SIGTERM)
        else:
            _send(pids, signal.SIGKILL)
            if killed and time.monotonic() > deadline + grace_s:
                return          # unkillable (uninterruptible sleep): give up rather than hang
            killed = True
        time.sleep(0.05)


@contextlib.contextmanager
def signals_as_interrupts():
    """While active (main thread only), SIGINT and SIGTERM stop the descendants and raise `Interrupted`; a
    second signal during the clean-up is ignored so the clean-up can finish. Restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = []

    def handler(signum, frame):
        if stopping:
            return
        stopping.append(signum)
        stop_descendants()
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
