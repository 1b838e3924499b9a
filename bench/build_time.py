"""Wall time of each `fcomp build` stage vs plain hls4ml on the same ONNX file, in one process.

Usage (from the repo root)::

    python -m bench.build_time [--models resnet18 digits_cnn] [--board zcu104] [--out DIR] [--skip-baseline]
    python bench/build_time.py ...

For every model it runs

* fcomp: `compiler.pipeline.build(BuildOptions(...))`, timed end to end with `time.perf_counter`, plus the per-stage
  seconds fcomp records itself (`report["timings_s"]`);
* the baseline, hls4ml 1.3.0's documented ONNX path: qonnx `cleanup_model` -> `ConvertToChannelsLastAndClean` ->
  `GemmToMatMul` -> `cleanup_model` -> `config_from_onnx_model` -> `convert_from_onnx_model` (Vitis, io_stream) ->
  `write()` -> `compile()`, each stage timed on its own.

fcomp does more than the baseline (it calibrates value ranges and runs a C-sim vs ONNX Runtime check), so two ratios
are printed: on the comparable part (fcomp frontend + hls4ml_convert + hls4ml_write + csim_compile vs all baseline
stages) and on the end-to-end total. A ratio below 1.0 means fcomp is faster.

Heavy imports (hls4ml, qonnx, onnxruntime, the compiler) are done once up front and reported separately, so whichever
tool runs first does not pay for them. hls4ml's `ModelGraph.compile()` is `self.write(); self._compile()`: the
documented flow (`write()` then `compile()`) therefore writes the project twice. The baseline runs exactly that, timing
compile()'s two halves separately (`compile_rewrite`, `compile_gxx`); its `compile` figure is their sum. fcomp's
`csim_compile` calls `_compile()` only (it does not write the project a second time). The baseline is timed, not
checked: its C-sim library is built but never run.

With the pinned onnx (IR version 14) and onnxruntime (loads IR <= 13), qonnx's ConvertToChannelsLastAndClean fails in
FoldConstants, because qonnx runs single nodes through onnxruntime on models stamped with `onnx.IR_VERSION`. Unless
`--no-ir-shim` is given, the baseline then runs with `onnx.IR_VERSION` lowered to what onnxruntime loads (restored
afterwards); the output says so.

This is a benchmark, not a test: it exits 0 even when a stage fails (the failure is in the table and the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/build_time.py` from anywhere
    sys.path.insert(0, str(REPO))

DEFAULT_MODELS = ("resnet18", "digits_cnn")
FCOMP_STAGES = ("frontend", "plan", "calibrate", "hls4ml_convert", "hls4ml_write", "csim_compile", "csim_check")
FCOMP_COMPARABLE = ("frontend", "hls4ml_convert", "hls4ml_write", "csim_compile")
BASELINE_STAGES = ("load", "cleanup", "channels_last", "gemm_to_matmul", "cleanup_2", "config", "convert", "write",
                   "compile_rewrite", "compile_gxx")
BASELINE_LABELS = {
    "load": "load (qonnx ModelWrapper)",
    "cleanup": "qonnx cleanup_model",
    "channels_last": "ConvertToChannelsLastAndClean",
    "gemm_to_matmul": "GemmToMatMul",
    "cleanup_2": "qonnx cleanup_model (2nd)",
    "config": "config_from_onnx_model",
    "convert": "convert_from_onnx_model",
    "write": "write()",
    "compile_rewrite": "compile(): its re-write",
    "compile_gxx": "compile(): its g++ (_compile)",
}


def _one_line(exc: BaseException) -> str:
    """One line; long messages keep their head and tail (ONNX Runtime puts the reason at the very end)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:100] + " ... " + text[-195:]


def _ort_max_ir_version() -> int | None:
    """The highest ONNX IR version onnxruntime loads, when it is below the one `onnx.helper.make_model` writes.

    qonnx runs single nodes through onnxruntime on models built with `make_model`, which stamps `onnx.IR_VERSION`;
    with a newer onnx than onnxruntime supports, ConvertToChannelsLastAndClean (FoldConstants) fails.
    """
    import re

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return None
    except Exception as exc:  # noqa: BLE001
        m = re.search(r"max supported IR version: (\d+)", str(exc))
        if m and int(m.group(1)) < onnx.IR_VERSION:
            return int(m.group(1))
        raise


@contextlib.contextmanager
def _ir_version(version: int | None):
    """Make `onnx.helper.make_model` stamp `version` (the compatibility shim for the baseline; None: no change)."""
    import onnx

    if version is None:
        yield
        return
    saved = onnx.IR_VERSION
    onnx.IR_VERSION = version
    try:
        yield
    finally:
        onnx.IR_VERSION = saved


@contextlib.contextmanager
def _to_log(log_path: Path):
    """Send everything written to stdout/stderr (Python and C level, subprocesses too) to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", encoding="utf-8") as f:
        try:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield
        finally:
            f.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _warm_imports() -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import hls4ml  # noqa: F401
        import hls4ml.converters  # noqa: F401
        import hls4ml.utils.config  # noqa: F401
        import onnxruntime  # noqa: F401
        import qonnx.core.modelwrapper  # noqa: F401
        import qonnx.transformation.channels_last  # noqa: F401
        import qonnx.transformation.gemm_to_matmul  # noqa: F401
        import qonnx.util.cleanup  # noqa: F401

        import compiler.backend.hls4ml_emit  # noqa: F401
        import compiler.backend.hls4ml_project  # noqa: F401
        import compiler.pipeline  # noqa: F401
    return time.perf_counter() - start


def _model_path(name: str) -> Path:
    path = REPO / "models" / f"{name}.onnx"
    if not path.exists():
        print(f"{path} is missing; exporting it with `python -m models.export {name}` ...", flush=True)
        subprocess.run([sys.executable, "-m", "models.export", name], cwd=REPO, check=True)
    return path


def _is_digits(path: Path) -> bool:
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    return meta.get("fcomp.dataset") == "digits"


def run_fcomp(path: Path, board: str, out: Path, log_path: Path) -> dict:
    from compiler.pipeline import BuildOptions, build
    from compiler.errors import CheckFailedError

    digits = _is_digits(path)
    kwargs = {} if digits else {"n_check": 2, "n_calibration": 8}
    opts = BuildOptions(model=path, board=board, output=out, force=True, **kwargs)
    result = {"output": str(out), "options": {"digits_data": digits, **kwargs}, "error": None, "check": None}
    fcomp_log = logging.getLogger("fcomp")
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[fcomp] %(message)s"))
    old = fcomp_log.handlers[:], fcomp_log.level, fcomp_log.propagate
    fcomp_log.handlers[:] = [handler]
    fcomp_log.setLevel(logging.INFO)
    fcomp_log.propagate = False
    report = None
    start = time.perf_counter()
    try:
        with _to_log(log_path):
            report = build(opts)
    except CheckFailedError as exc:  # the report is written all the same
        result["error"] = _one_line(exc)
        report_file = out / "report.json"
        if report_file.exists():
            report = json.loads(report_file.read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - a benchmark records and goes on
        result["error"] = _one_line(exc)
        with open(log_path, "a", encoding="utf-8") as f:
            traceback.print_exc(file=f)
    finally:
        result["total_s"] = time.perf_counter() - start
        handler.close()
        fcomp_log.handlers[:], fcomp_log.level, fcomp_log.propagate = old
    timings = dict(report["timings_s"]) if report else {}
    result["timings_s"] = timings
    if report:
        c = report["check"]
        result["check"] = {k: c.get(k) for k in ("passed", "inputs", "top1_agreement", "top1_agreement_strict",
                                                   "near_ties", "max_abs_error", "mean_abs_error",
                                                   "output_max_abs", "accuracy_onnx", "accuracy_csim") if k in c}
        result["memory"] = report.get("memory")
    result["stages_sum_s"] = sum(timings.values())
    result["untimed_s"] = result["total_s"] - result["stages_sum_s"]
    missing = [s for s in FCOMP_COMPARABLE if s not in timings]
    result["comparable_s"] = None if missing else sum(timings[s] for s in FCOMP_COMPARABLE)
    return result


def run_baseline(path: Path, board, out: Path, log_path: Path, ir_shim: int | None = None) -> dict:
    """hls4ml 1.3.0's documented ONNX flow (qonnx cleanup + channels-last + convert + write + compile)."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    if out.exists():
        shutil.rmtree(out)
    state: dict = {}
    clock_period = round(1000.0 / board.clock_mhz, 3)

    def convert():
        state["hm"] = hls4ml.converters.convert_from_onnx_model(
            state["model"], output_dir=os.fspath(out), io_type="io_stream", backend="Vitis", part=board.part,
            clock_period=clock_period, hls_config=state["config"])

    steps = {
        "load": lambda: state.__setitem__("model", ModelWrapper(os.fspath(path))),
        "cleanup": lambda: state.__setitem__("model", cleanup_model(state["model"])),
        "channels_last": lambda: state.__setitem__("model", state["model"].transform(ConvertToChannelsLastAndClean())),
        "gemm_to_matmul": lambda: state.__setitem__("model", state["model"].transform(GemmToMatMul())),
        "cleanup_2": lambda: state.__setitem__("model", cleanup_model(state["model"])),
        "config": lambda: state.__setitem__("config", hls4ml.utils.config.config_from_onnx_model(
            state["model"], granularity="name", backend="Vitis", default_precision="fixed<16,6>")),
        "convert": convert,
        "write": lambda: state["hm"].write(),
        # ModelGraph.compile() == write() + _compile() (hls4ml 1.3.0 model/graph.py), timed as two stages
        "compile_rewrite": lambda: state["hm"].write(),
        "compile_gxx": lambda: state["hm"]._compile(),
    }
    timings: dict[str, float] = {}
    result = {"output": str(out), "error": None, "failed_stage": None, "timings_s": timings}
    if ir_shim is not None:
        result["ir_version_shim"] = ir_shim
    start = time.perf_counter()
    with _to_log(log_path), _ir_version(ir_shim):
        for name in BASELINE_STAGES:
            print(f"===== baseline stage {name} =====", flush=True)
            t0 = time.perf_counter()
            try:
                steps[name]()
            except Exception as exc:  # noqa: BLE001 - record, skip the stages that depend on it
                timings[name] = time.perf_counter() - t0
                result["failed_stage"], result["error"] = name, _one_line(exc)
                traceback.print_exc()
                break
            timings[name] = time.perf_counter() - t0
    result["total_s"] = time.perf_counter() - start
    result["complete"] = result["failed_stage"] is None
    result["stages_sum_s"] = sum(timings.values())
    result["comparable_s"] = result["stages_sum_s"]  # every baseline stage is in the comparable part
    if "model" in state:
        result["nodes_after_transforms"] = len(state["model"].graph.node)
    return result


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def _ratio(a, b):
    return None if a is None or not b else a / b


def bench_model(name: str, board_name: str, out_root: Path, skip_baseline: bool, ir_shim: int | None = None) -> dict:
    from compiler.boards import get_board

    board = get_board(board_name)
    path = _model_path(name)
    folder = out_root / name
    folder.mkdir(parents=True, exist_ok=True)
    res = {"model": name, "onnx": str(path), "board": board.name, "part": board.part}
    print(f"\n[{name}] fcomp build ... (log: {folder / 'fcomp.log'})", flush=True)
    res["fcomp"] = run_fcomp(path, board.name, folder / "fcomp", folder / "fcomp.log")
    print(f"[{name}] fcomp done in {res['fcomp']['total_s']:.1f} s"
          + (f" -- ERROR: {res['fcomp']['error']}" if res["fcomp"]["error"] else ""), flush=True)
    if skip_baseline:
        res["baseline"] = None
    else:
        print(f"[{name}] hls4ml baseline ... (log: {folder / 'hls4ml_baseline.log'})", flush=True)
        res["baseline"] = run_baseline(path, board, folder / "hls4ml", folder / "hls4ml_baseline.log", ir_shim)
        b = res["baseline"]
        print(f"[{name}] baseline done in {b['total_s']:.1f} s"
              + (f" -- FAILED at {b['failed_stage']}: {b['error']}" if b["error"] else ""), flush=True)
    f, b = res["fcomp"], res["baseline"]
    res["ratio"] = None
    if b is not None:
        res["ratio"] = {
            "comparable": _ratio(f["comparable_s"], b["comparable_s"]),
            "total": _ratio(f["total_s"], b["total_s"]),
            # when the baseline stopped early these compare against the stages it finished, i.e. upper bounds
            "baseline_complete": b["complete"],
        }
    return res


def _fmt(v, width=10):
    if v is None:
        return f"{'-':>{width}}"
    return f"{v:>{width}.2f}"


TABLE_ROWS = (  # (label, fcomp stage, baseline stage)
    ("frontend (fcomp import_onnx)", "frontend", None),
    ("  baseline: " + BASELINE_LABELS["load"], None, "load"),
    ("  baseline: " + BASELINE_LABELS["cleanup"], None, "cleanup"),
    ("  baseline: " + BASELINE_LABELS["channels_last"], None, "channels_last"),
    ("  baseline: " + BASELINE_LABELS["gemm_to_matmul"], None, "gemm_to_matmul"),
    ("  baseline: " + BASELINE_LABELS["cleanup_2"], None, "cleanup_2"),
    ("plan", "plan", None),
    ("calibrate", "calibrate", None),
    ("  baseline: " + BASELINE_LABELS["config"], None, "config"),
    ("hls4ml_convert / convert", "hls4ml_convert", "convert"),
    ("hls4ml_write / write()", "hls4ml_write", "write"),
    ("csim_compile / compile()", "csim_compile", "compile"),
    ("  baseline: " + BASELINE_LABELS["compile_rewrite"], None, "compile_rewrite"),
    ("  baseline: " + BASELINE_LABELS["compile_gxx"], None, "compile_gxx"),
    ("csim_check", "csim_check", None),
)


def format_table(res: dict) -> str:
    f, b = res["fcomp"], res["baseline"]
    ft, bt = f["timings_s"], dict(b["timings_s"] if b else {})
    if "compile_rewrite" in bt:
        bt["compile"] = bt["compile_rewrite"] + bt.get("compile_gxx", 0.0)
    width = 42
    lines = [f"== {res['model']} on {res['board']} ({res['part']}) ==",
             f"{'stage':{width}s} {'fcomp s':>10s} {'baseline s':>10s}", "-" * (width + 22)]
    for label, fs, bs in TABLE_ROWS:
        note = "  <- baseline FAILED here" if b and bs and b["failed_stage"] == bs else ""
        if b and bs == "compile" and b["failed_stage"] in ("compile_rewrite", "compile_gxx"):
            note = "  <- baseline FAILED here"
        lines.append(f"{label:{width}s} {_fmt(ft.get(fs) if fs else None)} {_fmt(bt.get(bs) if bs else None)}{note}")
    b_untimed = (b["total_s"] - b["stages_sum_s"]) if b else None
    lines.append(f"{'untimed rest (fcomp: samples, report)':{width}s} {_fmt(f['untimed_s'])} {_fmt(b_untimed)}")
    lines.append("-" * (width + 22))
    lines.append(f"{'comparable part':{width}s} {_fmt(f['comparable_s'])} {_fmt(b['comparable_s'] if b else None)}")
    lines.append(f"{'total (end to end)':{width}s} {_fmt(f['total_s'])} {_fmt(b['total_s'] if b else None)}")
    lines.append("comparable = fcomp frontend+hls4ml_convert+hls4ml_write+csim_compile vs all baseline stages")
    if f["error"]:
        lines.append(f"fcomp ERROR: {f['error']}")
    if f.get("check"):
        c = f["check"]
        extra = (f", accuracy ONNX {c['accuracy_onnx']:.1%} / C-sim {c['accuracy_csim']:.1%}"
                 if c.get("accuracy_csim") is not None else "")
        strict = (f" (strict {c['top1_agreement_strict']:.1%}, {c.get('near_ties', 0)} near-tie(s))"
                  if c.get("top1_agreement_strict") is not None else "")
        lines.append(f"fcomp check: passed={c['passed']} on {c['inputs']} inputs, top-1 agreement "
                     f"{c['top1_agreement']:.1%}{strict}, max |error| {c['max_abs_error']:.4g}{extra}")
    if b is None:
        lines.append("baseline: skipped (--skip-baseline)")
    else:
        if b.get("ir_version_shim") is not None:
            lines.append(f"baseline ran with onnx.IR_VERSION={b['ir_version_shim']} (onnx/onnxruntime IR shim)")
        if b["error"]:
            lines.append(f"baseline FAILED at stage '{b['failed_stage']}': {b['error']}")
        r = res["ratio"]
        bound = "" if r["baseline_complete"] else "  (baseline incomplete: vs the stages it finished, an upper bound)"
        lines.append(f"ratio fcomp/baseline (<1.0 = fcomp faster): comparable "
                     f"{_fmt(r['comparable'], 0)}, total {_fmt(r['total'], 0)}{bound}")
    return "\n".join(lines)


def _round(o):
    if isinstance(o, float):
        return round(o, 3)
    if isinstance(o, dict):
        return {k: _round(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_round(v) for v in o]
    return o


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.build_time", description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="NAME",
                   help=f"models/<NAME>.onnx to build (default: {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--board", default="zcu104", help="target board (default zcu104)")
    p.add_argument("--out", type=Path, help="output folder (default: a temporary folder, removed at the end)")
    p.add_argument("--skip-baseline", action="store_true", help="time fcomp only")
    p.add_argument("--no-ir-shim", action="store_true",
                   help="run the baseline as is even when onnxruntime cannot load the IR version onnx.helper writes "
                        "(qonnx's ConvertToChannelsLastAndClean then fails)")
    args = p.parse_args(argv)

    from compiler.boards import get_board

    get_board(args.board)  # fail fast on a bad board name
    from models.zoo import MODELS

    unknown = [n for n in args.models if n not in MODELS and not (REPO / "models" / f"{n}.onnx").exists()]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}: no models/<NAME>.onnx and not in the zoo "
                f"({', '.join(MODELS)})")
    temp = args.out is None
    out_root = Path(tempfile.mkdtemp(prefix="fcomp-bench-")) if temp else args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        print(f"output folder: {out_root}" + (" (temporary, removed at the end)" if temp else ""), flush=True)
        imports_s = _warm_imports()
        print(f"warm-up imports (hls4ml, qonnx, onnxruntime, compiler): {imports_s:.1f} s, not in any figure below",
              flush=True)
        import hls4ml
        import onnx
        import onnxruntime
        import qonnx

        ir_shim = None if args.skip_baseline or args.no_ir_shim else _ort_max_ir_version()
        if ir_shim is not None:
            print(f"note: onnx {onnx.__version__} writes IR version {onnx.IR_VERSION}, onnxruntime "
                  f"{onnxruntime.__version__} loads at most {ir_shim}: the baseline runs with onnx.IR_VERSION={ir_shim} "
                  f"so qonnx's single-node ONNX Runtime calls load (--no-ir-shim to turn this off)", flush=True)

        results = {"board": args.board, "imports_s": imports_s, "cpu_count": os.cpu_count(),
                   "python": sys.version.split()[0], "hls4ml": hls4ml.__version__,
                   "qonnx": _version("qonnx"), "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                   "baseline_ir_version_shim": ir_shim, "models": []}
        for name in args.models:
            res = bench_model(name, args.board, out_root, args.skip_baseline, ir_shim)
            results["models"].append(res)
            print("\n" + format_table(res), flush=True)
        json_path = out_root / "bench_build_time.json"
        json_path.write_text(json.dumps(_round(results), indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nresults: {json_path}" + (" (removed with the temporary folder; pass --out to keep it)"
                                            if temp else ""), flush=True)
        print(json.dumps(_round(results), default=str), flush=True)
    finally:
        if temp:
            shutil.rmtree(out_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
