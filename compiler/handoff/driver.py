"""The bundle's board-side runtime, `driver/`: the driver (compiler/runtime/driver.py and the two modules it
imports, shipped as they are), its description of the build (driver.json), reference inputs and outputs and a
README for the board.

The reference files are the frames the build simulated end to end: `input_reference.npy` holds the build's check
inputs (float, the model's layout), `output_reference.npy` the golden model's outputs for them (dequantized: exact
multiples of 2^-frac), which the Verilator run of fcomp_accel reproduced bit for bit during the build. Without the
RTL (the bundle's design is then the hls4ml IP) the outputs are hls4ml's C simulation of the same inputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ..boards import Board
from ..errors import FcompError
from ..names import sanitize
from ..rtl.accel import ACCEL_DIR, ACCEL_JSON, STIMULUS
from ..runtime import wordlayout
from ..runtime.wordlayout import StreamFormat, dequantize, from_stream_order, quantize, to_stream_order

DRIVER_DIR = "driver"
RUNTIME_FILES = ("driver.py", "wordlayout.py", "simulator.py")
_RUNTIME = Path(__file__).resolve().parent.parent / "runtime"


def bitfile_name(board: Board) -> str:
    """What build_vivado.tcl writes into the bundle's work/ (with the .hwh PYNQ needs beside it)."""
    return f"fcomp_{sanitize(board.name, 'board')}.bit"


def write_driver(bundle: Path, out_dir: Path, report: dict, board: Board, interface: dict, accel: dict | None,
                 csim: Callable[[np.ndarray], np.ndarray] | None) -> dict:
    """Write bundle/driver/; returns its summary (files, reference frames, the design it drives)."""
    dest = Path(bundle) / DRIVER_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for f in RUNTIME_FILES:
        shutil.copyfile(_RUNTIME / f, dest / f)
    in_shape, out_shape = report["model"]["input_shape"], report["model"]["output_shape"]
    if accel is not None:
        info = json.loads((Path(out_dir) / "rtl" / ACCEL_DIR / ACCEL_JSON).read_text(encoding="utf-8"))
        fin, fout = StreamFormat.from_dict(info["input"]), StreamFormat.from_dict(info["output"])
    else:
        fin, fout = StreamFormat.from_dict(interface["input"]), StreamFormat.from_dict(interface["output"])

    x, labels, y, source = _references(Path(out_dir), accel, fin, fout, in_shape, out_shape, csim)
    files = []
    if x is not None:
        np.save(dest / "input_reference.npy", x)
        np.save(dest / "output_reference.npy", y)
        files += ["input_reference.npy", "output_reference.npy"]
        if labels is not None:
            np.save(dest / "labels_reference.npy", labels)
            files.append("labels_reference.npy")
    cfg = {
        "design": "fcomp_accel" if accel is not None else "fcomp_top_axi",
        "input": fin.to_dict(), "output": fout.to_dict(),
        "input_shape": list(in_shape), "output_shape": list(out_shape),
        "clock_mhz": board.clock_mhz, "board": board.name,
        "cycles_per_frame_predicted": accel["cycles_per_frame_predicted"] if accel else None,
        "bundle_root": "..",     # the bitstream's path is relative to the bundle (run_all.sh writes work/)
        "bitfile": f"work/{bitfile_name(board)}",
        "dma": "axi_dma_0",
        "err_gpio": "axi_gpio_err" if accel is not None else None,
        "control_ip": None if accel is not None else "fcomp_top_axi_0",
        "rtl_dir": "../rtl" if accel is not None else None,
        "input_reference": "input_reference.npy" if x is not None else None,
        "output_reference": "output_reference.npy" if x is not None else None,
        "labels_reference": "labels_reference.npy" if labels is not None else None,
        "reference_source": source,
    }
    (dest / "driver.json").write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (dest / "README.md").write_text(_readme(cfg, board, x is not None), encoding="utf-8")
    return {"dir": DRIVER_DIR, "design": cfg["design"], "reference_frames": 0 if x is None else int(len(x)),
            "reference_source": source,
            "files": [f"{DRIVER_DIR}/{f}" for f in (*RUNTIME_FILES, "driver.json", "README.md", *files)]}


def _references(out_dir: Path, accel: dict | None, fin: StreamFormat, fout: StreamFormat, in_shape, out_shape,
                csim) -> tuple:
    """(float inputs, labels or None, float outputs, where the outputs come from) or Nones."""
    from ..verify.rerun import CHECK_INPUTS

    check = out_dir / CHECK_INPUTS
    if not check.is_file():
        return None, None, None, None
    with np.load(check) as f:
        cx = f["x"]
        cy = f["y"] if "y" in f.files else None
    stim = out_dir / "rtl" / ACCEL_DIR / STIMULUS
    if accel is not None and stim.is_file():
        with np.load(stim) as f:
            sx, sy = f["x"], f["y"]
        n = len(sx)
        reps = -(-n // len(cx))
        x = np.concatenate([cx] * reps)[:n]
        labels = None if cy is None else np.concatenate([cy] * reps)[:n].astype(np.int64)
        if not np.array_equal(quantize(to_stream_order(x, in_shape), fin), sx):
            raise FcompError("the driver's quantization of the check inputs differs from the frames the RTL "
                             "simulated (fcomp bug: two definitions of the input conversion)")
        y = from_stream_order(dequantize(sy, fout), out_shape)
        return x, labels, y, "golden model (the frames fcomp_accel simulated bit-exactly in the build)"
    if csim is None:
        return None, None, None, None
    xs = to_stream_order(cx, in_shape)
    if len(in_shape) == 4:       # hls4ml's predict takes channels-last frames
        c, h, w = in_shape[1:]
        frames = xs.reshape(-1, h, w, c)
    else:
        frames = xs
    y = np.asarray(csim(frames.astype(np.float32)), dtype=np.float64).reshape(len(cx), -1)
    q = wordlayout.quantize(y, fout)
    if not np.array_equal(dequantize(q, fout), y):
        raise FcompError("hls4ml's C-sim outputs are not values of the output type (fcomp bug)")
    return cx, None if cy is None else cy.astype(np.int64), from_stream_order(y, out_shape), \
        "hls4ml C simulation"


def _readme(cfg: dict, board: Board, refs: bool) -> str:
    fin, fout = cfg["input"], cfg["output"]
    design = cfg["design"]
    lines = [
        f"# fcomp board driver ({board.name}, design {design})",
        "",
        "`driver.py` runs the accelerator this bundle builds: float in, float out. It quantizes the input to the",
        f"build's input type ({fin['element_type']}), packs it into {fin['word_bits']}-bit AXI words "
        f"({fin['words']} words per frame), streams one frame per DMA transfer (tlast ends every frame), unpacks "
        f"the {fout['words']}-word output frames and dequantizes them ({fout['element_type']}). "
        "`wordlayout.py` is the one definition of that layout; fcomp's compiler, its RTL testbench and the HLS C "
        "testbench use the same code.",
        "",
        "Needs Python 3.8+ and numpy; on the board PYNQ (2.7 or 3.x), or root access to /dev/mem and the u-dma-buf "
        "module for `--transport dev`; for `--transport sim` Verilator 5.x and a C++ compiler.",
        "",
        "## On the board",
        "1. Build the bitstream: `./run_all.sh` in the bundle (writes work/" + cfg["bitfile"].rsplit("/", 1)[-1] +
        " and the .hwh PYNQ needs beside it).",
        "2. Copy the bundle (or `driver/` and `work/*.bit`, `work/*.hwh`) to the board and run, as root:",
        "",
        "        python3 driver.py --mode execute             # reference input -> must equal output_reference.npy",
        "        python3 driver.py --mode execute --input X.npy --output Y.npy",
        "        python3 driver.py --mode throughput --frames 1000 --json throughput.json",
        "        python3 driver.py --mode validate --input X.npy --labels y.npy",
        "",
        f"   Input arrays are float, shaped (n, {', '.join(map(str, cfg['input_shape'][1:]))}) like the ONNX "
        f"model's input; outputs are (n, {', '.join(map(str, cfg['output_shape'][1:]))}).",
        "   Without PYNQ: `--transport dev --dma-base 0x...` (axi_dma_0's address from work/reports/"
        "address_map.txt) and a u-dma-buf buffer (`/dev/udmabuf0`) of at least frames x "
        f"{fin['bytes_per_frame'] + fout['bytes_per_frame']} bytes.",
        "",
        "## Without a board",
        "",
        "        python3 driver.py --transport sim --mode execute",
        "        python3 driver.py --transport sim --mode throughput --frames 16",
        "",
        "`--transport sim` runs the bundle's own RTL (rtl/fcomp_accel: the same sources and ROM files the "
        "bitstream is built from) in Verilator through the same packing and framing code. Its throughput is "
        f"simulated cycles at the build's {cfg['clock_mhz']:g} MHz clock: no DMA or host overhead.",
        "",
        "## Exit status and errors",
        "0: done (against the reference: every output value equal). 1: a run failed (DMA timeout or error, the "
        "accelerator's err_short/err_long frame flags, a simulation deadlock) or differs from the reference. 2: bad "
        "input (missing or truncated .npy, wrong shape, NaN) or options. Every run is bounded by `--timeout` "
        "seconds per frame: a hang is reported, never waited on forever.",
        "",
        "## Status",
        "`--transport sim` is what fcomp's CI runs against every digits model's bundle. `pynq` and `dev` are "
        "written against PYNQ's DMA API and the AXI DMA register map (PG021, simple mode) and have not yet run on "
        "a board: report what you see.",
    ]
    if refs:
        lines += ["", "## Reference files",
                  f"`input_reference.npy` / `output_reference.npy`: outputs from the {cfg['reference_source']}."
                  + (" `labels_reference.npy`: the inputs' labels (the build's check inputs: held-out data)." if cfg["labels_reference"] else "")]
    return "\n".join(lines) + "\n"
