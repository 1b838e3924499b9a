"""`fcomp build`: a list of named steps from an ONNX file to a checked hls4ml project.

Like FINN's dataflow builder, each step records what it did in one report dict, written as `report.json`.
The build happens in a temporary sibling folder that is renamed into place only at the end, so bad input or a
crash never leaves a half-written output folder (and never destroys a previous good one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx

from . import __version__, limits
from .backend.hls4ml_emit import hls_config, lower_to_hls4ml
from .backend.hls4ml_project import HlsProject
from .backend.precision import assign_precisions
from .backend.summary import backend_summary
from .boards import get_board
from .compress.engine import DEFAULT_TARGET, CompressionConfig, get_strategy, layer_bits
from .config import build_options_as_cli, dump_effective
from .data import load_samples
from .errors import CheckFailedError, FcompError
from .estimate import estimate
from .frontend import import_onnx
from .handoff import write_handoff
from .handoff.manifest import sha256_file, tool_versions
from .planner import (DEFAULT_MARGIN, MAX_SIMD, budget, check_fit, keep_share_for_ratio, on_chip_bits, over_budget,
                      planned_keep_shares,
                      plan_and_estimate)
from .progress import StageTimer, log, progress_bar
from .report import render_html, weight_stats
from .rtl.network import build_network
from .verify.network import golden_check, rtl_network
from .verify.network import message as network_message
from .verify.reference import run_onnx, tensor_ranges
from .verify.rerun import save_check_inputs


@dataclass
class BuildOptions:
    model: Path
    board: str = "zcu104"
    output: Path | None = None
    force: bool = False
    data: str | None = None           # None, 'digits' or a .npz path
    n_calibration: int = 64
    n_check: int = 20
    min_agreement: float = 0.9        # top-1 agreement C-sim vs ONNX Runtime needed to pass
    tie_margin: float = 0.01          # reference top-2 gap (share of its score range) under which inputs are ties
    act_bits: int = 16
    weight_bits: int = 16
    compression: CompressionConfig | None = field(default_factory=CompressionConfig)  # None: no compression
    rtl_layers: str = "auto"          # RTL-verified ternary layers: 'none', 'all', a count N (smallest), names, or
                                      # 'auto' (2 when the whole network is not simulated, else none)
    rtl_frames: int | None = None     # frames through the whole-network RTL (None: a few when cheap; 0: none)
    max_memory_gb: float | None = None    # stop early above this predicted memory (None: 80% of the machine's)
    max_csim_minutes: float | None = 60.0  # stop early above this predicted C-sim compile + check time
    margin: float = DEFAULT_MARGIN    # share of the board's resources the plan may use
    target_fps: float | None = None   # cheapest plan reaching this frame rate (None: the fastest that fits)
    max_simd: int = MAX_SIMD          # widest PE (lanes S = pruning group width) the planner may use
    synth: bool = False               # Yosys synthesis of rtl/fcomp_accel (synth.json, exit 2 when over the board)
    synth_jobs: int | None = None     # parallel Yosys runs (None: the machine's cores)
    synth_timeout: float = 1800.0     # seconds one module's synthesis may take
    synth_cache: bool = True
    synth_memory_gb: float | None = None   # per Yosys job (None: 80% of the machine's memory / jobs)

    def resolved_output(self, model_name: str) -> Path:
        return Path(self.output) if self.output else Path("build") / f"{model_name}-{self.board}"


def _model_stem(path: Path) -> str:
    from .names import sanitize

    return sanitize(path.stem, "model")


@contextlib.contextmanager
def _staged_output(target: Path, force: bool, publish=lambda: True):
    """Yield a temporary sibling folder to write into; on success it replaces `target` (only then is a previous
    output removed), on any error or interruption it is deleted. `publish()` is asked at the end: False (a
    torchrun rank other than 0, known only once training joined the process group) discards it."""
    if target.exists() and not target.is_dir():
        raise FcompError(f"output {target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise FcompError(f"output folder {target} is not empty; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not publish():
        shutil.rmtree(tmp, ignore_errors=True)
    elif target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "prev")
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _infer_data(opts: BuildOptions, model: onnx.ModelProto) -> str | None:
    if opts.data is not None:
        return opts.data
    meta = {p.key: p.value for p in model.metadata_props}
    return "digits" if meta.get("fcomp.dataset") == "digits" else None


def _channels_last(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _output_to_onnx_order(y: np.ndarray, graph) -> np.ndarray:
    """C-sim streams the output channels-last; a C x H x W output (or its flatten) is reordered to ONNX's CHW."""
    out = graph.node(graph.outputs[0])
    chw = out.shape if len(out.shape) == 3 else (
        graph.node(out.inputs[0]).shape if out.op == "flatten" else None)
    if chw is None or len(chw) != 3 or chw[1] * chw[2] == 1:
        return y
    c, h, w = chw
    return y.reshape(len(y), h, w, c).transpose(0, 3, 1, 2).reshape(len(y), -1)


def build(opts: BuildOptions) -> dict:
    """Run the whole build; returns the report. Raises FcompError (exit 2) or CheckFailedError (exit 1)."""
    board = get_board(opts.board)
    if opts.rtl_frames is not None and opts.rtl_frames < 0:
        raise FcompError(f"--rtl-frames must be 0 or more, got {opts.rtl_frames}")
    if opts.synth:   # fail before the long stages, not after them
        from .synth import check_options

        check_options(board, opts.synth_jobs, opts.synth_timeout)
        if opts.synth_memory_gb is not None and opts.synth_memory_gb <= 0:
            raise FcompError("--synth-memory-gb must be > 0")
    timer = StageTimer()
    with timer.stage("frontend", f"Importing {opts.model}"):
        fe = import_onnx(opts.model)
    limits.check(int(sum(n.params for n in fe.graph.nodes)), int(sum(n.macs() for n in fe.graph.nodes)),
                 opts.n_check, opts.max_memory_gb, opts.max_csim_minutes)
    target = opts.resolved_output(_model_stem(Path(opts.model)))
    with _staged_output(target, opts.force) as tmp:
        report = _run_steps(opts, board, fe, tmp, timer)
        report["output"] = str(target)
        _write_report(tmp, report)
        render_html(tmp)
        (tmp / "fcomp.effective.yaml").write_text(dump_effective(build_options_as_cli(opts)), encoding="utf-8")
    if not report["check"]["passed"]:
        raise CheckFailedError(report["check"]["message"] + f" (report: {target / 'report.json'})")
    search = (report.get("compression") or {}).get("search")
    if search is not None and not search["passed"]:
        raise CheckFailedError(search["message"] + f" (report: {target / 'report.json'})")
    net = (report.get("rtl") or {}).get("network") or {}
    if net.get("passed") is False:
        raise CheckFailedError(net["message"] + f" (see {target / 'verify.json'})")
    if report.get("rtl") and not report["rtl"]["passed"]:
        bad = [l["layer"] for l in report["rtl"]["layers"] if l["passed"] is False]
        raise CheckFailedError(f"RTL verification failed for {', '.join(bad)}: outputs or cycles differ from the "
                               f"golden model (see {target / 'verify.json'}; simulation folders kept in "
                               f"{target / 'rtl'})")
    if report.get("synth"):   # the output is kept: the build itself is complete and checked
        from .synth import check_capacity

        try:
            check_capacity(report["synth"], target / "synth.json")
        except FcompError as exc:
            raise type(exc)(f"{exc}; the build output is kept in {target}") from None
    return report


def compress_only(opts: BuildOptions) -> dict:
    """`fcomp compress`: frontend, plan and compression only; writes model.compressed.onnx + compression.json."""
    timer = StageTimer()
    cfg = opts.compression or CompressionConfig()
    with timer.stage("frontend", f"Importing {opts.model}"):
        fe = import_onnx(opts.model)
    board = get_board(opts.board)
    with timer.stage("plan", f"Planning the PE mapping for {board.name}"):
        plan, _ = plan_for_board(fe.graph, board, replace(opts, compression=cfg))
    target = Path(opts.output) if opts.output else Path("build") / f"{_model_stem(Path(opts.model))}-compressed"
    # torchrun: every rank trains, rank 0 alone writes the output
    with _staged_output(target, opts.force, publish=lambda: _rank() == 0) as tmp:
        onnx.save_model(fe.onnx_model, os.fspath(tmp / "model.normalized.onnx"))
        result, _ = _compress_and_export(fe.graph, plan, cfg, opts.data, tmp, timer)
    summary = _compression_summary(result)
    summary.update(output=str(target), timings_s=timer.timings)
    if result.search is not None and not result.search["passed"]:
        raise CheckFailedError(result.search["message"] + f" (output kept: {target})")
    return summary


def _rank() -> int:
    import torch

    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _write_report(folder: Path, report: dict) -> None:
    with open(folder / "report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _run_steps(opts: BuildOptions, board, fe, out: Path, timer: StageTimer) -> dict:
    graph = fe.graph
    onnx.save_model(fe.onnx_model, os.fspath(out / "model.normalized.onnx"))
    data = _infer_data(opts, fe.onnx_model)
    with timer.stage("data", "Loading calibration and check inputs"):
        samples = load_samples(data, graph.inputs[0].shape, opts.n_calibration, opts.n_check)
        save_check_inputs(out, samples)

    with timer.stage("plan", f"Planning the PE mapping for {board.name}"):
        plan, est = plan_for_board(graph, board, opts)

    reference = fe.onnx_model
    compression = None
    ternary_in = _ternary_layers(graph, None)
    if opts.compression is None and ternary_in:   # a quantized model's ternary layers, unpruned: their zero groups
        est = estimate_compressed(graph, plan, board, opts, [   # cost no cycle either
            {"name": n.name, "bits": 2 if n.name in ternary_in else opts.weight_bits} for n in graph.weighted()])
        check_fit(est, board, opts.margin, model=Path(opts.model).name)
    if opts.compression is not None:
        compression, reference = _compress_and_export(graph, plan, opts.compression, opts.data, out, timer)
        graph = compression.graph
        est = estimate_compressed(graph, plan, board, opts, compression.layers)
        check_fit(est, board, opts.margin, model=Path(opts.model).name)

    with timer.stage("calibrate", f"Measuring value ranges on {len(samples.calibration)} calibration inputs"):
        ranges = tensor_ranges(reference, samples.calibration, [n.name for n in graph.nodes])
        precisions = assign_precisions(graph, ranges, opts.act_bits, opts.weight_bits)

    with timer.stage("hls4ml_convert", "Lowering to hls4ml (Vitis, io_stream)"):
        layers, hls_names = lower_to_hls4ml(graph, opts.model, precisions)
        cfg = hls_config(graph, layers, hls_names, precisions, plan)
        project = HlsProject(layers, cfg, out / "hls", board.part, board.clock_mhz,
                             hls_names[graph.inputs[0].name], hls_names[graph.outputs[0]])
    with timer.stage("hls4ml_write", "Writing the hls4ml project"):
        project.write()
    with timer.stage("csim_compile", "Compiling the C simulation (g++)"):
        project.compile()
    with timer.stage("csim_check", f"C simulation vs ONNX Runtime on {len(samples.check)} inputs"):
        csim_out = _csim_outputs(project, samples)
        check = _check(project, reference, graph, samples, opts.min_agreement, opts.tie_margin, csim_out)
        qcheck = quantized_model_check(opts.model, graph, samples, _output_to_onnx_order(csim_out, graph),
                                       opts.min_agreement, opts.tie_margin)
        if qcheck is not None:   # it bounds an uncompressed build; after compression it is the compression's cost
            qcheck["gates_the_build"] = compression is None
            check["quantized_model"] = qcheck
            log.info(qcheck.get("message") or qcheck.get("skipped"))
            if qcheck["passed"] is False and check["passed"] and compression is None:
                check["passed"] = False
                check["message"] = qcheck["message"]
    with timer.stage("golden", "Golden fixed-point model vs C-sim (and every labelled test input)"):
        net = build_network(graph, precisions, plan, compression.layers if compression is not None else None)
        test = _test_split(data, graph) if samples.labels is not None else None
        check["golden"] = golden_check(net, csim_out, samples.check, None if test is None else test[:2], reference,
                                       lambda y: _output_to_onnx_order(y, graph))
        if test is not None:
            check["golden"]["split_inputs"] = test[2]   # inputs >= split_inputs: the whole split, else a sample

    rtl = None
    network_doc = None
    if opts.rtl_frames != 0:   # ternary layers as PE arrays, fixed-point ones (uncompressed, 8-bit) as MAC lanes
        why = net.uncovered()
        if why:
            network_doc = {"passed": None, "skipped": "no whole-network RTL: " + "; ".join(why)}
            log.warning(network_doc["skipped"])
        else:
            with timer.stage("rtl_network", "Whole-network RTL (fcomp_accel) end to end (Verilator)"):
                network_doc = rtl_network(net, out / "rtl", samples.check, opts.rtl_frames)
    layers_doc = None
    spec = opts.rtl_layers
    if spec == "auto":   # per-layer checks where the whole network was not simulated
        spec = "none" if network_doc is not None and network_doc.get("passed") is not None else "2"
    if compression is not None and spec != "none":
        with timer.stage("rtl_verify", "RTL verification of compressed layers (Verilator)"):
            layers_doc = _verify_rtl(graph, plan, precisions, reference, samples, compression, spec, out)
    if layers_doc is not None or network_doc is not None:
        rtl = _write_verify(out, layers_doc, network_doc)

    synth_doc = None
    if opts.synth:
        with timer.stage("synth", "Yosys synthesis of fcomp_accel, module by module"):
            synth_doc = _synthesize(net, out, board, opts, _estimate_summary(est, board, opts.margin))

    layer_rows = []
    for row in graph.summary():
        row["precision"] = {k: v.hls() for k, v in precisions[row["name"]].items()}
        row["max_abs_calibration"] = ranges[row["name"]]
        if row["name"] in plan:
            row["mapping"] = plan[row["name"]].to_dict()
        row["hls4ml_layer"] = hls_names[row["name"]]
        layer_rows.append(row)
    if compression is not None:  # what the compressed layers store (codes, index, scales, biases)
        weight_bits = sum(row["cost"]["stored_bits"] for row in compression.layers)
    else:
        weight_bits = sum(n.weights["W"].size * precisions[n.name]["weight"].width
                          + n.weights["b"].size * precisions[n.name]["bias"].width for n in graph.weighted())
    on_chip = on_chip_bits(board)
    memory = {"weight_bits": int(weight_bits), "on_chip_bits": int(on_chip),
              "fits_on_chip": bool(weight_bits <= on_chip)}
    report = {
        "fcomp_version": __version__,
        "model": {"file": os.path.basename(str(opts.model)), "graph": graph.name,
                  "input_shape": [1, *graph.inputs[0].shape], "output_shape": [1, *graph.node(graph.outputs[0]).shape],
                  "params": int(sum(n.params for n in graph.nodes)), "macs": int(sum(n.macs() for n in graph.nodes)),
                  "onnx_sha256": sha256_file(opts.model),
                  # the model as fcomp read it, external data inlined (the .onnx's hash does not cover that file)
                  "normalized_sha256": sha256_file(out / "model.normalized.onnx")},
        "board": board.to_dict(),
        "options": {"act_bits": opts.act_bits, "weight_bits": opts.weight_bits, "data": samples.source,
                    "n_calibration": len(samples.calibration), "n_check": len(samples.check),
                    "min_agreement": opts.min_agreement, "tie_margin": opts.tie_margin},
        "layers": layer_rows,
        "memory": memory,
        "estimate": _estimate_summary(est, board, opts.margin),
        "compression": None if compression is None else _compression_summary(compression),
        "weights": None if compression is None else weight_stats(fe.graph, compression.graph),
        "check": check,
        "backend": backend_summary(graph, precisions, hls_names, out / "hls"),
        "rtl": rtl,
        "synth": None if synth_doc is None else {k: v for k, v in synth_doc.items() if k not in ("nodes", "modules")},
        "timings_s": timer.timings,
        "tools": tool_versions(),
    }
    with timer.stage("handoff", "Writing the Vivado/Vitis handoff bundle"):
        report["handoff"] = write_handoff(out, report, board, csim=project.predict)
    return report


def _synthesize(net, out: Path, board, opts: BuildOptions, estimate: dict) -> dict:
    """synth.json for out/rtl/fcomp_accel (generated here when the network was not simulated)."""
    from .rtl.accel import generate, write_accel
    from .synth import synthesize, write_synth
    from .rtl.accel import ACCEL_DIR

    accel = out / "rtl" / ACCEL_DIR
    if not (accel / "fcomp_accel.sv").is_file():
        why = net.uncovered()
        if why:
            raise FcompError("--synth needs the whole-network RTL, which this network has not: " + "; ".join(why))
        write_accel(generate(net), accel)
    mem = None if opts.synth_memory_gb is None else int(opts.synth_memory_gb * 2**30)
    doc = synthesize(out, board, opts.synth_jobs, opts.synth_timeout, opts.synth_cache, estimate, mem)
    write_synth(out, doc)
    return doc


def _ternary_layers(graph, cfg: CompressionConfig | None) -> set[str]:
    """The layers the compression engine ternarizes (all, or all but the first and last at first_last_bits 8);
    without compression, those a quantized model brings ternary (`frontend.mark_ternary`)."""
    if cfg is None:
        from .backend.precision import is_ternary

        return {n.name for n in graph.weighted() if is_ternary(n)}
    return {name for name, bits in layer_bits(graph, cfg.first_last_bits).items() if bits == 2}


def plan_for_board(graph, board, opts: BuildOptions):
    """The board plan (per layer P, S, memory kind) for the build's compression, and its estimate. Structured
    strategies are planned at the keep share that reaches the target ratio; the others as dense ternary. A budget
    search (labelled data, no target) may end anywhere from the unpruned ratio up, and the PE groups it prunes
    follow this plan, so it is planned as dense ternary too: whatever ratio the search keeps then fits the board
    (planned at 21x, digits_resnet's search chose 32.6x whose kept groups needed 197K LUT, over the 85% margin)."""
    cfg = opts.compression
    ternary = _ternary_layers(graph, cfg)
    keep = 1.0
    search = cfg is not None and cfg.target is None and opts.data is not None
    if cfg is not None and get_strategy(cfg.strategy).structured and not search:
        keep = planned_keep_shares(graph, cfg.target or DEFAULT_TARGET, ternary=ternary,
                                   weight_bits=layer_bits(graph, cfg.first_last_bits), prune_first=cfg.prune_first)
    return plan_and_estimate(graph, board, keep_share=keep, act_bits=opts.act_bits, ternary=ternary,
                             weight_bits=opts.weight_bits, margin=opts.margin, target_fps=opts.target_fps,
                             max_simd=opts.max_simd, model=Path(opts.model).name)


def estimate_compressed(graph, plan, board, opts: BuildOptions, layers: list[dict]):
    """The estimate re-made with what compression really kept (groups per PE, ternary or fixed-point layers)."""
    from .backend.precision import codes_matrix, is_ternary
    from .rtl.layer import nonzero_groups_per_pe

    kept = {r["name"]: r["kept_groups_per_pe"] for r in layers if r.get("kept_groups_per_pe") is not None}
    ternary = {r["name"] for r in layers if r["bits"] == 2}
    for node in graph.weighted():   # unpruned ternary layers: the RTL's schedule skips their all-zero groups too
        if node.name in ternary and node.name not in kept and is_ternary(node):
            m = plan[node.name]
            kept[node.name] = nonzero_groups_per_pe(codes_matrix(node), m.pe, m.simd)
    return estimate(graph, plan, clock_mhz=board.clock_mhz, act_bits=opts.act_bits, ternary=ternary,
                    weight_bits=opts.weight_bits, kept_groups=kept, keep_share=1.0)


def _estimate_summary(est, board, margin: float) -> dict:
    d = est.to_dict()
    d["margin"] = margin
    d["budget"] = {r: int(v) for r, v in budget(board, margin).items()}
    d["fits"] = not over_budget(est.total(), board, margin)
    return d


def _compress_and_export(graph, plan, cfg: CompressionConfig, data: str | None, out: Path, timer: StageTimer):
    """Compress, write compression.json and model.compressed.onnx; returns (result, the compressed ONNX model),
    the model being the reference every later check compares against."""
    from .compress.export_onnx import export_compressed_onnx

    result = run_compression(graph, plan, cfg, data, out, timer)
    return result, export_compressed_onnx(result.graph, out / "model.compressed.onnx")


def _classes(graph) -> int:
    """The model's output size: the classes its labels may take."""
    return int(np.prod(graph.node(graph.outputs[0]).shape))


def run_compression(graph, plan, cfg: CompressionConfig, data: str | None, out: Path, timer: StageTimer):
    """Compress (fine-tuning when labelled data is given, data-free otherwise) and write compression.json."""
    from .compress.engine import compress_auto
    from .data import load_training_data

    train = None if data is None else load_training_data(data, graph.inputs[0].shape, cfg.seed,
                                                         classes=_classes(graph))
    if train is None:
        log.warning("NO TRAINING DATA: compressing DATA-FREE (no labels: no accuracy budget; the compressed model "
                    "is distilled from the fp32 one on generated inputs where affordable); expect an accuracy "
                    "loss. Pass --data digits|FILE.npz to fine-tune.")
    if cfg.target is not None or train is None:
        target = f"target {cfg.target or DEFAULT_TARGET:g}x"
    else:
        target = f"largest ratio within {cfg.max_drop if cfg.max_drop is not None else 1.0:g} accuracy points"
    what = f"Compressing ({cfg.strategy}, {target}, " + (
        f"{'auto' if cfg.epochs is None else cfg.epochs} epochs on {len(train.x_train)} samples)"
        if train is not None else "data-free)")
    with timer.stage("compress", what):
        result = compress_auto(graph, plan, cfg, train)
    doc = result.to_dict()
    doc["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    with open(out / "compression.json", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, default=_json_default)
        f.write("\n")
    log.info("compression %.1fx (target %.1fx)%s", result.ratio, result.target,
             "" if result.accuracy_before is None else
             f", test accuracy {result.accuracy_before:.2%} -> {result.accuracy_after:.2%}")
    return result


def _verify_rtl(graph, plan, precisions, reference, samples, compression, spec: str, out: Path) -> dict:
    """Run the per-layer RTL check; simulator build folders are dropped when everything passed."""
    from .verify.rtl import verify_layers

    doc = verify_layers(graph, plan, precisions, reference, samples.check, compression.layers, spec, out / "rtl")
    if doc["passed"]:  # keep ROMs and tops; drop simulator builds, runs and their logs
        for p in [*(out / "rtl").glob("*/build_*"), *(out / "rtl").glob("*/run_*")]:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()
        for entry in doc["layers"]:
            entry.pop("work_dir", None)
    return doc


def _write_verify(out: Path, layers_doc: dict | None, network_doc: dict | None) -> dict:
    """verify.json (per-layer checks and the `network` section) and the report's summary of it."""
    doc = dict(layers_doc or {"passed": True, "layers": [], "simulator_version": None})
    doc["network"] = network_doc
    if network_doc is not None and network_doc.get("passed") is False:
        doc["passed"] = False
    with open(out / "verify.json", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, default=_json_default)
        f.write("\n")
    keys = ("layer", "vectors", "mismatches", "cycles_measured", "cycles_predicted", "passed", "error")
    summary = {"passed": doc["passed"], "layers": [{k: l[k] for k in keys if k in l} for l in doc["layers"]],
               "simulator_version": doc["simulator_version"]}
    if network_doc is not None:
        nkeys = ("passed", "skipped", "frames", "mismatches", "first_mismatch_layer", "cycles_per_frame_measured",
                 "cycles_per_frame_predicted", "latency_cycles_measured", "cycles_error", "simulator")
        summary["network"] = {k: network_doc[k] for k in nkeys if k in network_doc}
        summary["network"]["message"] = network_message(network_doc)
        rm = (network_doc.get("resources_model") or {}).get("total")
        if rm:      # the generated design's own figures (the cost model fitted on synthesis), for HANDOFF.md
            summary["network"]["resources_model"] = rm
    return summary


GOLDEN_MAC_BUDGET = 5e10   # the golden model's test-split run: about 4 min of numpy at resnet18's size
GOLDEN_MIN_INPUTS = 16


def _test_split(data: str | None, graph):
    """(x, y, size of the split): the labelled test split the golden model runs on (a seeded sample of it when a
    big model would take long on all of it), or None (no labels / not loadable)."""
    from .data import load_training_data

    if data is None:
        return None
    try:
        t = load_training_data(data, graph.inputs[0].shape)
    except FcompError:
        return None
    macs = max(1, int(sum(n.macs() for n in graph.nodes)))
    n = max(GOLDEN_MIN_INPUTS, int(GOLDEN_MAC_BUDGET // macs))
    if n < len(t.x_test):   # a big model on a big split: a seeded sample (the report says how many of how many)
        log.warning("golden model on %d of the %d test inputs (%.2g MACs each; budget %.2g MACs)", n,
                    len(t.x_test), macs, GOLDEN_MAC_BUDGET)
        pick = np.sort(np.random.default_rng(0).permutation(len(t.x_test))[:n])
        return t.x_test[pick], t.y_test[pick], len(t.x_test)
    return t.x_test, t.y_test, len(t.x_test)


def _compression_summary(result) -> dict:
    d = result.to_dict()
    d.pop("history")
    d["layers"] = [{k: v for k, v in row.items() if k != "kept_groups_per_pe"} for row in d["layers"]]
    return d


def _csim_outputs(project: HlsProject, samples) -> np.ndarray:
    """The C-sim's outputs on the check inputs, channels-last as hls4ml streams them."""
    return np.concatenate([project.predict(_channels_last(samples.check[i:i + 1]))
                           for i in progress_bar(range(len(samples.check)), "C-sim")])


def _check(project: HlsProject, model, graph, samples, min_agreement: float, tie_margin: float,
           csim_out: np.ndarray | None = None) -> dict:
    """C-sim (its outputs `csim_out` when already run) against ONNX Runtime on the check inputs."""
    ref = run_onnx(model, samples.check)[graph.outputs[0]].reshape(len(samples.check), -1)
    sim = _output_to_onnx_order(_csim_outputs(project, samples) if csim_out is None else csim_out, graph)
    return _agreement(sim, ref, samples.labels, min_agreement, tie_margin, "C-sim vs ONNX Runtime")


def quantized_model_check(path, graph, samples, sim_onnx_order: np.ndarray, min_agreement: float,
                          tie_margin: float) -> dict | None:
    """A quantized input model (QDQ: QuantizeLinear/DequantizeLinear) is the reference the user trained or
    calibrated: the C-sim against ONNX Runtime running that file itself (the build's other checks run the
    normalized model, whose quantizers are Clips: `frontend.passes.QuantizersToClip`). None for other models;
    QONNX files, which ONNX Runtime cannot run, say so."""
    import onnxruntime as ort

    from .frontend.load import load_onnx

    q = graph.metadata.get("quantized")
    if not q:
        return None
    if q.get("format") != "QDQ":
        return {"format": q.get("format"), "skipped": "ONNX Runtime cannot run QONNX's Quant ops (and qonnx 1.0's "
                "executor builds IR-version-14 models this ONNX Runtime refuses); the C-sim was checked against the "
                "model with its quantizers folded and lowered (model.normalized.onnx)", "passed": None}
    model = load_onnx(path)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    ref = np.concatenate([np.asarray(sess.run(None, {name: x[None].astype(np.float32)})[0]).reshape(1, -1)
                          for x in samples.check])
    return {"format": "QDQ", **_agreement(sim_onnx_order, ref, samples.labels, min_agreement, tie_margin,
                                          "C-sim vs ONNX Runtime on the quantized model itself")}


def _agreement(sim: np.ndarray, ref: np.ndarray, labels, min_agreement: float, tie_margin: float,
               what: str) -> dict:
    """Top-1 agreement of `sim` with the reference `ref` (near-ties not counted against it), errors, accuracies
    when labels are known, and the one-line `message` (prefixed "check failed: " below the bound)."""
    err = np.abs(sim - ref)
    strict = sim.argmax(1) == ref.argmax(1)
    # An input whose two best reference scores are closer than tie_margin of its score range is a near-tie:
    # any fixed-point design may pick either class, so it is reported but does not count against the bound.
    top2 = np.sort(ref, axis=1)[:, -2:] if ref.shape[1] > 1 else np.concatenate([ref, ref], 1)
    spread = np.ptp(ref, axis=1) if ref.shape[1] > 1 else np.ones(len(ref))
    decisive = (top2[:, 1] - top2[:, 0]) > tie_margin * np.maximum(spread, 1e-12)
    counted = strict | ~decisive
    agreement = float(np.mean(counted))
    result = {"inputs": int(len(ref)), "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
              "output_max_abs": float(np.abs(ref).max()), "top1_agreement": agreement,
              "top1_agreement_strict": float(np.mean(strict)), "near_ties": int(np.sum(~decisive)),
              "near_ties_disagreeing": int(np.sum(~decisive & ~strict)), "tie_margin": tie_margin,
              "min_agreement": min_agreement, "passed": bool(agreement >= min_agreement)}
    if labels is not None:
        result["accuracy_onnx"] = float(np.mean(ref.argmax(1) == labels))
        result["accuracy_csim"] = float(np.mean(sim.argmax(1) == labels))
    ties = f", {result['near_ties']} near-tie(s)" if result["near_ties"] else ""
    result["message"] = (f"{what}: top-1 agreement {agreement:.1%} on {len(ref)} inputs (bound {min_agreement:.0%}; "
                         f"strict {result['top1_agreement_strict']:.1%}{ties}), "
                         f"max |error| {result['max_abs_error']:.4g}")
    if not result["passed"]:
        result["message"] = "check failed: " + result["message"]
    return result
