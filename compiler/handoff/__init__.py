"""The hardware handoff bundle: everything a hardware engineer needs to take a build to a bitstream, nothing else.

`write_handoff` turns a build's output folder into `handoff/`:

    handoff/
      HANDOFF.md              what it is, the command, what to expect, the AXI interface, verification results
      manifest.json           sha256 of every file, tool versions, model hashes, board, plan, options
      run_all.sh              hls -> vivado (optional: ooc, rtl)
      build_hls.tcl           Vitis HLS: csynth of the AXI-Stream wrapper + export as IP catalog
      build_vivado.tcl        Vivado: PS + AXI DMA block design, synth, impl, bitstream, reports
      synth_ip_ooc.tcl        optional out-of-context check of the IP against constraints/
      synth_rtl.tcl           optional out-of-context synthesis of a PE-array layer
      constraints/<board>.xdc, <board>_rtl.xdc
      hls/                    hls4ml project sources (firmware/, weights, hls4ml's TCL), the AXI wrapper and its
                              C testbench with an example frame (tb_data/)
      rtl/src, rtl/<layer>/, rtl/tb/   PE-array sources, per verified layer its top + ROM files, the cocotb bench
      rtl/fcomp_accel/        the whole-network RTL (the design build_vivado.tcl builds), its Verilator bench
      driver/                 driver.py (PYNQ / /dev/mem / Verilator transports), driver.json, reference .npy files

It is a pure function of the build folder's content: the same model, options and tool versions give the same
bytes (see manifest.py). It runs inside the build's temporary folder (paths are taken relative to `out_dir`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..backend.hls4ml_project import PROJECT_NAME
from ..boards import Board
from ..errors import FcompError
from ..rtl.accel import ACCEL_DIR, ACCEL_JSON
from . import tcl
from .axi import WRAPPER_TOP, write_wrapper
from .doc import render
from .driver import write_driver
from .hls_sources import copy_hls
from .manifest import MANIFEST, fix_modes, portable, sha256_file, tool_versions, write_manifest
from .rtl_sources import copy_accel, copy_rtl

HANDOFF_DIR = "handoff"
TB_SEED = 0

__all__ = ["write_handoff", "HANDOFF_DIR"]


def _plan(report: dict) -> list[dict]:
    plan = []
    for row in report.get("layers", []):
        m = row.get("mapping")
        if m:
            plan.append({"layer": m["layer"], "rows": m["rows"], "cols": m["cols"], "P": m["pe"], "S": m["simd"],
                         "vectors": m["vectors"], "reuse_factor": m["reuse_factor"],
                         "cycles_per_frame": m["cycles_per_frame"]})
    return plan


def _example_frame(input_shape: list[int], out_dir: Path) -> np.ndarray:
    """The wrapper testbench's frame, channels-last: the build's first check input (its C-sim output is then the
    one the check computed: a 224x224 ResNet-18 frame costs about 50 s of C simulation), or, for a build without
    check inputs, a seeded frame of values on a 2^-10 grid in [0, 1) like the zoo's image inputs. Either is
    float32, so the testbench's %.17g text reads back as the same value."""
    from ..verify.rerun import CHECK_INPUTS

    check = Path(out_dir) / CHECK_INPUTS
    if check.is_file():
        with np.load(check) as f:
            x = f["x"]
        if len(x):
            x0 = np.asarray(x[0], dtype=np.float32)
            return x0.transpose(1, 2, 0) if x0.ndim == 3 else x0
    shape = list(input_shape[1:])
    if len(shape) == 3:
        shape = [shape[1], shape[2], shape[0]]
    rng = np.random.default_rng(TB_SEED)
    return np.floor(rng.random(shape) * 1024.0) / 1024.0


def _leaks(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p.relative_to(root).as_posix()}: {n}" for n in needles if n.encode() in data]
    return hits


def write_handoff(out_dir: Path, report: dict, board: Board, *, rtl_layers: dict[str, Path] | None = None,
                  csim: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """Write `out_dir/handoff/` from the build in `out_dir`; returns a summary for the report.

    rtl_layers: {layer name: its RTL folder (`rtl/<layer>` or its `rom/`)}; default: every layer the build wrote
    under `out_dir/rtl`. csim: hls4ml's C-simulation predict (channels-last batch -> outputs); when given, the
    expected output of the wrapper's example frame is written next to it (`hls/tb_data/axi_expected.txt`).
    """
    from ..rtl.accel import accel_sources
    from ..rtl.layer import RTL_DIR, find_layers, rtl_sources

    out_dir = Path(out_dir)
    hls_dir = out_dir / "hls"
    if not hls_dir.is_dir():
        raise FcompError(f"{out_dir} has no hls/ project: write_handoff needs a finished build folder")
    for key in ("model", "layers"):
        if key not in report:
            raise FcompError(f"build report lacks '{key}': write_handoff needs the report of `fcomp build`")
    bundle = out_dir / HANDOFF_DIR
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir()

    scrubbed = copy_hls(hls_dir, bundle / "hls", PROJECT_NAME)
    in_shape, out_shape = report["model"]["input_shape"], report["model"]["output_shape"]
    interface = write_wrapper(bundle / "hls" / "firmware", bundle / "hls", PROJECT_NAME,
                              math.prod(in_shape[1:]), math.prod(out_shape[1:]))
    frame = _example_frame(in_shape, out_dir)
    (bundle / "hls" / "tb_data").mkdir(exist_ok=True)
    (bundle / "hls" / "tb_data" / "axi_input.txt").write_text(
        "".join(f"{v:.17g}\n" for v in frame.ravel()), encoding="utf-8")
    if csim is not None:
        y = np.asarray(csim(frame[None].astype(np.float32)), dtype=np.float64).ravel()
        (bundle / "hls" / "tb_data" / "axi_expected.txt").write_text(
            "".join(f"{v:.17g}\n" for v in y), encoding="utf-8")

    layers = find_layers(out_dir / "rtl") if rtl_layers is None else dict(rtl_layers)
    accel_src = out_dir / "rtl" / ACCEL_DIR
    has_accel = (accel_src / ACCEL_JSON).is_file()
    sources = accel_sources() if has_accel else rtl_sources()
    rtl_rows = copy_rtl(layers, bundle / "rtl", sources, RTL_DIR, RTL_DIR / "tb" / "tb_layer.py")
    accel = copy_accel(accel_src, bundle / "rtl" / ACCEL_DIR, RTL_DIR, RTL_DIR / "tb" / "tb_accel.cpp") \
        if has_accel else None

    (bundle / "constraints").mkdir()
    (bundle / "constraints" / tcl.constraints_name(board)).write_text(tcl.constraints(
        board, "ap_clk", "Out-of-context runs of the HLS IP (synth_ip_ooc.tcl; build_vivado.tcl on boards without "
        "a PS). The block design's clock comes from the PS (pl_clk0 / FCLK_CLK0): not added there."),
        encoding="utf-8")
    (bundle / "constraints" / tcl.rtl_constraints_name(board)).write_text(tcl.constraints(
        board, "clk", "Out-of-context synthesis of the PE-array layers (synth_rtl.tcl)."), encoding="utf-8")
    word_bits = interface["input"]["word_bits"]
    scripts = {
        "build_hls.tcl": tcl.build_hls_tcl(board, __version__, PROJECT_NAME),
        "build_vivado.tcl": tcl.build_vivado_tcl(board, __version__, word_bits, accel, [p.name for p in sources]),
        "synth_ip_ooc.tcl": tcl.synth_ip_ooc_tcl(board, __version__),
        "synth_rtl.tcl": tcl.synth_rtl_tcl(board, __version__, rtl_rows, [p.name for p in sources]),
        "run_all.sh": tcl.run_all_sh(board, __version__, rtl_rows, accel is not None),
    }
    if accel is not None:   # the hls4ml IP's block design stays available beside the RTL one
        scripts["build_vivado_hls.tcl"] = tcl.build_vivado_tcl(board, __version__, word_bits)
    for name, text in scripts.items():
        (bundle / name).write_text(text, encoding="utf-8")

    driver = write_driver(bundle, out_dir, report, board, interface, accel, csim)

    plan = _plan(report)
    (bundle / "HANDOFF.md").write_text(render(report, board, interface, plan, rtl_rows, csim is not None, accel,
                                              driver), encoding="utf-8")

    needles = sorted({str(out_dir.resolve()), str(RTL_DIR), *scrubbed} - {"", "."})
    leaks = _leaks(bundle, needles)
    if leaks:
        raise RuntimeError(f"handoff bundle names a build-machine path (fcomp bug): {leaks[0]}")

    fix_modes(bundle, {"run_all.sh", f"rtl/{ACCEL_DIR}/tb/sim_verilator.sh", "driver/driver.py"})
    compressed = out_dir / "model.compressed.onnx"
    meta = {
        "fcomp_version": __version__,
        "tools": tool_versions(),
        "tool_target": f"AMD Vitis HLS / Vivado {tcl.TOOL_VERSION}",
        "entry": "run_all.sh",
        "model": {"file": report["model"].get("file"), "sha256": report["model"].get("onnx_sha256"),
                  "normalized_sha256": report["model"].get("normalized_sha256"),
                  "compressed_sha256": sha256_file(compressed) if compressed.is_file() else None,
                  "input_shape": in_shape, "output_shape": out_shape},
        "board": board.to_dict(),
        "plan": plan,
        "options": {"build": report.get("options"),
                    "compression": _compression_config(out_dir)},
        "interface": interface,
        "estimate": report.get("estimate"),
        "verification": {"check": report.get("check"), "rtl": report.get("rtl")},
        "rtl_layers": rtl_rows,
        "accelerator": accel,
        "driver": driver,
    }
    doc = write_manifest(bundle, portable(meta))
    return {"dir": HANDOFF_DIR, "files": len(doc["files"]) + 1, "top": WRAPPER_TOP,
            "manifest_sha256": sha256_file(bundle / MANIFEST), "rtl_layers": [r["layer"] for r in rtl_rows],
            "design": "fcomp_accel (RTL)" if accel is not None else f"{WRAPPER_TOP} (hls4ml HLS)",
            "run": f"{HANDOFF_DIR}/run_all.sh", "driver": f"{HANDOFF_DIR}/{driver['dir']}/driver.py"}


def _compression_config(out_dir: Path) -> dict | None:
    import json

    path = out_dir / "compression.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("config")
