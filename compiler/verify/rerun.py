"""`fcomp verify OUTPUT`: re-run a finished build's checks from what is on disk, nothing from the build's memory.

The C simulation is recompiled from the hls4ml project in OUTPUT/hls (in a temporary copy: OUTPUT is not touched,
and the library the build compiled pointed at the build's temporary folder anyway), run through ctypes on the
check inputs the build saved (`check_inputs.npz`), and compared with ONNX Runtime running the build's reference
model, with the same bounds. Each RTL layer folder with a stored stimulus is re-simulated. So a folder that was
copied, edited or archived can be re-checked by someone who never ran the build.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx

from ..backend.hls4ml_project import PROJECT_NAME
from ..errors import FcompError
from ..progress import log, progress_bar

CHECK_INPUTS = "check_inputs.npz"


class CsimLibrary:
    """The hls4ml C-simulation library of a project folder, compiled by the project's own build_lib.sh."""

    def __init__(self, hls_dir: Path, work: Path, in_size: int, out_size: int):
        src = Path(hls_dir)
        if not (src / "build_lib.sh").is_file():
            raise FcompError(f"{src} holds no hls4ml project (build_lib.sh missing)")
        self.dir = Path(work) / "hls"
        shutil.copytree(src, self.dir, ignore=shutil.ignore_patterns("*.so", "*.o", "hls4ml.log"))
        proc = subprocess.run(["bash", "build_lib.sh"], cwd=self.dir, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise FcompError(f"g++ could not compile the C simulation of {src}: " + " | ".join(tail))
        lib = next(iter(sorted((self.dir / "firmware").glob(f"{PROJECT_NAME}-*.so"))), None)
        if lib is None:
            raise FcompError(f"build_lib.sh of {src} produced no library")
        self._lib = ctypes.CDLL(str(lib))
        self._fn = getattr(self._lib, f"{PROJECT_NAME}_float")
        ptr = np.ctypeslib.ndpointer(ctypes.c_float, flags="C_CONTIGUOUS")
        self._fn.restype, self._fn.argtypes = None, [ptr, ptr]
        self.in_size, self.out_size = in_size, out_size

    def predict(self, x_channels_last: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x_channels_last, dtype=np.float32).reshape(len(x_channels_last), -1)
        if x.shape[1] != self.in_size:
            raise FcompError(f"input size {x.shape[1]} does not match the project's {self.in_size}")
        out = np.zeros((len(x), self.out_size), dtype=np.float32)
        for i in range(len(x)):
            y = np.zeros(self.out_size, dtype=np.float32)
            self._fn(np.ascontiguousarray(x[i]), y)
            out[i] = y
        return out


def save_check_inputs(out_dir: Path, samples) -> None:
    """Written by the build: the exact inputs its C-sim check used (and their labels), for `fcomp verify`."""
    arrays = {"x": samples.check}
    if samples.labels is not None:
        arrays["y"] = samples.labels
    np.savez_compressed(Path(out_dir) / CHECK_INPUTS, **arrays)


def verify_output(out_dir: Path, rtl: bool = True, rtl_frames: int | None = None) -> dict:
    """`fcomp verify`: recompile the build's C simulation and compare it with ONNX Runtime on the saved check
    inputs, and re-simulate every RTL layer from its stored stimulus, all in temporary folders (`out_dir` is
    not written). Returns {'passed', 'check', 'same_as_build', 'rtl', 'message'}."""
    from ..data import Samples
    from ..frontend import import_onnx
    from ..pipeline import _check

    out_dir = Path(out_dir)
    if not (out_dir / "report.json").is_file():
        raise FcompError(f"{out_dir} is not an fcomp build output (no report.json in it)")
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    ref_path = out_dir / ("model.compressed.onnx" if report.get("compression") else "model.normalized.onnx")
    inputs = out_dir / CHECK_INPUTS
    for p in (ref_path, inputs, out_dir / "hls"):
        if not p.exists():
            raise FcompError(f"{out_dir} lacks {p.name}, needed to re-run its checks")
    graph = import_onnx(out_dir / "model.normalized.onnx").graph
    with np.load(inputs) as z:
        x = z["x"]
        y = z["y"] if "y" in z.files else None
    samples = Samples(x[:0], x, y, "saved check inputs")
    opts = report["options"]
    in_size = int(np.prod(report["model"]["input_shape"]))
    out_size = int(np.prod(report["model"]["output_shape"]))
    with tempfile.TemporaryDirectory(prefix="fcomp-verify-") as work:
        log.info("Recompiling the C simulation from %s", out_dir / "hls")
        lib = CsimLibrary(out_dir / "hls", Path(work), in_size, out_size)
        log.info("C simulation vs ONNX Runtime on %d saved inputs", len(x))
        check = _check(lib, onnx.load(str(ref_path)), graph, samples, opts["min_agreement"], opts["tie_margin"])
    result = {"output": str(out_dir), "check": check,
              "same_as_build": _same_check(check, report.get("check") or {}), "rtl": None}
    result["network"] = None
    if rtl:
        result["rtl"] = _rerun_rtl(out_dir)
        if rtl_frames != 0:
            from .network import rerun_network

            log.info("Re-simulating the whole-network RTL (fcomp_accel) on its stored frames")
            result["network"] = rerun_network(out_dir, rtl_frames)
    rtl_ok = result["rtl"] is None or result["rtl"]["passed"]
    net_ok = result["network"] is None or result["network"]["passed"]
    result["passed"] = bool(check["passed"] and rtl_ok and net_ok)
    lines = [check["message"]]
    if not result["same_as_build"]:
        lines.append("C-sim results differ from the ones the build recorded in report.json")
    if result["rtl"] is not None:
        lines.append(result["rtl"]["message"])
    if result["network"] is not None:
        lines.append(result["network"]["message"])
    result["message"] = "\n".join(lines)
    return result


def _same_check(now: dict, then: dict) -> bool:
    keys = ("max_abs_error", "top1_agreement", "top1_agreement_strict")
    return all(k in then and np.isclose(now[k], then[k], rtol=0, atol=1e-9) for k in keys)


def _rerun_rtl(out_dir: Path) -> dict:
    from ..rtl.layer import find_layers
    from .rtl import rerun_layer

    found = find_layers(out_dir / "rtl")
    layers = []
    with tempfile.TemporaryDirectory(prefix="fcomp_verify_rtl_") as work:  # OUTPUT itself is not written to
        for name in progress_bar(list(found), "RTL re-simulation"):
            layers.append({"layer": name, **rerun_layer(found[name], work_dir=Path(work) / name)})
    passed = all(l.get("passed", False) for l in layers)
    if not layers:
        msg = "RTL: no layer folders with a stored stimulus"
    else:
        msg = f"RTL: {sum(bool(l.get('passed')) for l in layers)}/{len(layers)} layer(s) bit-exact and cycle-exact " \
              "on re-simulation"
        bad = [l for l in layers if not l.get("passed")]
        if bad:
            msg += "; FAILED: " + ", ".join(
                f"{l['layer']} ({l['mismatches']} of {l['beats']} output beats differ)" if "mismatches" in l
                else l["layer"] for l in bad)
    return {"passed": passed, "layers": layers, "message": msg}
