"""Command line: parses arguments and calls the library. Exit codes: 0 ok, 1 check failed, 2 bad input/usage,
128 + N when signal N (SIGINT 130, SIGTERM 143) stopped it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import CheckFailedError, FcompError
from .interrupt import signals_as_interrupts
from .progress import log, setup_logging

EPILOG = ("exit codes: 0 ok, 1 a verification check failed, 2 bad input or usage, 130/143 stopped by SIGINT "
          "(Ctrl-C) / SIGTERM (a previous output folder is left as it was)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcomp", description=__doc__.split(":")[0] + ": ONNX CNN -> verified FPGA design",
                                epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"fcomp {__version__}")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="project config file holding any option of the command (default: ./fcomp.yaml if it "
                        "exists); command-line options win over it. Example: fcomp --config team.yaml build m.onnx")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p._fcomp_subparsers = subs = {}

    b = subs["build"] = sub.add_parser(
                       "build", help="ONNX model -> planned, compressed, verified design + hardware handoff bundle "
                                     "for a board",
                       description="Import an ONNX model, plan its PE array for the board (exit 2 when it cannot "
                                   "fit), compress it, lower it to an hls4ml project, compile the C simulation and "
                                   "check it against ONNX Runtime, simulate sampled layers on the PE-array RTL, and "
                                   "write report.html and the Vivado/Vitis handoff bundle. "
                                   "Example: fcomp build models/resnet18.onnx --board zcu104",
                       epilog=EPILOG)
    _common_args(b, "target board (see `fcomp boards`), default zcu104", "build/<model>-<board>/",
                 "'digits', an .npz (x, y) or an image folder: fine-tunes the compression on it, and gives the "
                 "calibration and check inputs; default: data-free compression, digits inputs for zoo digits "
                 "models, else seeded random N(0,1) inputs", "print the report as JSON on stdout")
    b.add_argument("--check-inputs", type=int, default=20, metavar="N",
                   help="inputs to run through C-sim and ONNX Runtime (default 20)")
    b.add_argument("--calibration-inputs", type=int, default=64, metavar="N",
                   help="inputs used to measure value ranges for fixed-point types (default 64)")
    b.add_argument("--min-agreement", type=float, default=0.9, metavar="F",
                   help="fail (exit 1) when C-sim and ONNX Runtime agree on top-1 for less than this share "
                        "of check inputs (default 0.9)")
    b.add_argument("--tie-margin", type=float, default=0.01, metavar="F",
                   help="an input whose two best ONNX Runtime scores differ by less than F of its score range is a "
                        "near-tie and does not count against --min-agreement (default 0.01; 0 counts every input)")
    b.add_argument("--rtl-layers", default="auto", metavar="SPEC",
                   help="ternary layers to verify one by one on the adder-only PE-array RTL with Verilator "
                        "(cocotb, every beat on its predicted cycle): 'all', a count N (the N smallest layers), "
                        "comma-separated layer names (see report.json), or 'auto' (default: 2 when the whole "
                        "network is not simulated, else none)")
    b.add_argument("--rtl-frames", type=int, default=None, metavar="N",
                   help="frames streamed end to end through the whole-network RTL (fcomp_accel) with Verilator, "
                        "every output word compared with the golden model (default: 4 when the cycle model "
                        "predicts under 2M cycles for them, else none with a message; 0: none)")
    b.add_argument("--no-rtl", action="store_true", help="skip the RTL verification (layers and whole network)")
    b.add_argument("--synth", action="store_true",
                   help="also synthesize the generated accelerator with Yosys (as `fcomp synth`): synth.json, "
                        "'Estimate vs synthesis' in report.html; exit 2 (output kept) when it is larger than the "
                        "board")
    _synth_args(b, "--synth-jobs", "--synth-timeout")
    b.add_argument("--act-bits", type=int, default=16, help="activation width in bits (default 16)")
    b.add_argument("--weight-bits", type=int, default=16, help="weight width in bits (default 16)")
    lim = b.add_argument_group("resource limits (checked before any compiling, from the model's sizes)")
    lim.add_argument("--max-memory-gb", type=float, default=None, metavar="GB",
                     help="stop early when the build is predicted to need more memory than this (default: 80%% of "
                          "this machine's memory). Example: --max-memory-gb 8")
    lim.add_argument("--max-csim-minutes", type=float, default=60.0, metavar="MIN",
                     help="stop early when compiling plus running the C simulation on the check inputs is "
                          "predicted to take longer than this (default 60)")
    _planner_args(b)
    _compression_args(b)

    c = subs["compress"] = sub.add_parser("compress", help="ONNX model -> model.compressed.onnx + compression.json (no hardware)",
                       description="Only the compression step: PE-wise pruning + ternarization. Fine-tunes with "
                                   "--data, data-free otherwise. Example: fcomp compress models/digits_resnet.onnx "
                                   "--data digits (the largest ratio within 1 point of accuracy), or with "
                                   "--target-compression 21 --max-accuracy-drop 0.5",
                       epilog=EPILOG)
    _common_args(c, "board whose PE mapping shapes the pruning groups", "build/<model>-compressed/",
                 "'digits', an .npz (x, y) or an image folder: fine-tune on it (else data-free)",
                 "print compression.json's summary on stdout")
    _planner_args(c)
    _compression_args(c, allow_none=False)

    v = subs["verify"] = sub.add_parser(
        "verify", help="re-run the C-sim and RTL checks of an existing build output",
        description="Recompile the hls4ml C simulation from the project in OUTPUT (in a temporary copy; OUTPUT is "
                    "not modified), compare it with ONNX Runtime on the build's check inputs, and re-simulate every "
                    "RTL layer from its stored stimulus. Example: fcomp verify build/digits_cnn-zcu104",
        epilog=EPILOG)
    v.add_argument("output", type=Path, help="a folder written by `fcomp build`")
    v.add_argument("--no-rtl", action="store_true", help="skip the RTL re-simulation")
    v.add_argument("--rtl-frames", type=int, default=None, metavar="N",
                   help="frames re-simulated through the whole-network RTL (default: the build's stored frames; "
                        "more repeat them; 0: none)")
    v.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    v.add_argument("-v", "--verbose", action="store_true", help="debug output")
    v.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")

    i = subs["inspect"] = sub.add_parser(
        "inspect", help="what a model holds and what fcomp can or cannot build, before any work",
        description="List inputs, outputs, every node (op, output shape, params, MACs) and, for each node fcomp "
                    "cannot build, why; also what normalization would change. Exit 0 when the model is buildable, "
                    "2 when it is not. Example: fcomp inspect models/resnet18.onnx",
        epilog=EPILOG)
    i.add_argument("model", type=Path, help="the ONNX file")
    i.add_argument("--json", action="store_true", help="print the inspection as JSON on stdout")

    bd = subs["boards"] = sub.add_parser("boards", help="list the known boards and their resources",
                                         description="Example: fcomp boards --json", epilog=EPILOG)
    bd.add_argument("--json", action="store_true", help="print the boards as JSON on stdout")

    r = subs["report"] = sub.add_parser(
        "report", help="re-render report.html from an output's JSON files",
        description="Render OUTPUT/report.html again from report.json (and compression.json, verify.json). "
                    "Example: fcomp report build/resnet18-zcu104", epilog=EPILOG)
    r.add_argument("output", type=Path, help="a folder written by `fcomp build`")
    from .report.__main__ import _point

    r.add_argument("--point", type=_point, action="append", default=[], metavar="STRATEGY:RATIO:ACCURACY",
                   help="another strategy's result to show in the accuracy-vs-compression plot; repeatable. "
                        "Example: --point magnitude:21.3:0.962")
    r.add_argument("--html", type=Path, metavar="FILE", help="write here instead of OUTPUT/report.html")
    r.add_argument("--json", action="store_true", help="print {\"html\": path} as JSON on stdout")

    sy = subs["synth"] = sub.add_parser(
        "synth", help="Yosys synthesis of a build's generated accelerator, estimate vs synthesis",
        description="Synthesize OUTPUT/rtl/fcomp_accel with Yosys (synth_xilinx for the board's family), module "
                    "by module: each distinct (module, parameters, ROM contents) once, cached by content hash "
                    "($FCOMP_CACHE_DIR/yosys or ~/.cache/fcomp/yosys), in parallel. Writes OUTPUT/synth.json "
                    "(per node and total LUT/FF/CARRY/LUTRAM/SRL/BRAM36/URAM/DSP, logic depth, time, the "
                    "estimate beside it) and re-renders report.html. Exit 2 when the synthesized design is "
                    "larger than the board, a module did not finish, or OUTPUT has no accelerator. "
                    "Example: fcomp synth build/digits_resnet-zcu104 --jobs 4", epilog=EPILOG)
    sy.add_argument("output", type=Path, help="a folder written by `fcomp build` (with rtl/fcomp_accel/)")
    sy.add_argument("--board", default=None, help="board to synthesize for and check against (default: the "
                                                  "build's board)")
    _synth_args(sy, "--jobs", "--timeout")
    sy.add_argument("--json", action="store_true", help="print synth.json on stdout")
    sy.add_argument("-v", "--verbose", action="store_true", help="debug output")
    sy.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def _synth_args(p, jobs: str, timeout: str) -> None:
    from .synth import DEFAULT_TIMEOUT_S

    p.add_argument(jobs, type=int, default=None, metavar="N", dest="synth_jobs",
                   help="Yosys runs in parallel (default: this machine's cores)")
    p.add_argument(timeout, type=float, default=DEFAULT_TIMEOUT_S, metavar="S", dest="synth_timeout",
                   help=f"seconds one module's synthesis may take before it is stopped and reported (default "
                        f"{DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--synth-memory-gb", type=float, default=None, metavar="GB",
                   help="address-space cap of each Yosys run, so one that grows without bound fails alone "
                        "(default: 80%% of this machine's memory divided by the parallel jobs)")
    p.add_argument("--no-synth-cache", action="store_true",
                   help="synthesize every module again instead of reading cached results")


def _common_args(p, board_help: str, output_default: str, data_help: str, json_help: str) -> None:
    p.add_argument("model", type=Path, nargs="?",
                   help="the ONNX file (float32, batch 1 or dynamic batch); may also come from fcomp.yaml")
    p.add_argument("--board", default="zcu104", help=board_help)
    p.add_argument("-o", "--output", type=Path, help=f"output folder, default {output_default}")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--data", help=data_help)
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("-v", "--verbose", action="store_true", help="debug output")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")


def _planner_args(p) -> None:
    from .planner import DEFAULT_MARGIN, MAX_SIMD

    g = p.add_argument_group("board planner (per-layer PE folding; the same plan shapes compression groups)")
    g.add_argument("--margin", type=float, default=DEFAULT_MARGIN, metavar="F",
                   help=f"share of the board's LUT/FF/DSP/BRAM/URAM the plan may use (default {DEFAULT_MARGIN}); a "
                        "model that "
                        "does not fit stops with exit 2, the numbers per resource and the smallest board that fits")
    g.add_argument("--target-fps", type=float, default=None, metavar="F",
                   help="plan the cheapest design that reaches F frames/s (as FINN's target_fps) instead of the "
                        "fastest that fits; exit 2 when the board cannot reach it. Example: --target-fps 1000")
    g.add_argument("--max-simd", type=int, default=MAX_SIMD, metavar="S",
                   help=f"widest PE the planner builds, in lanes (default {MAX_SIMD}); S is also the width of a "
                        "pruning group, so a wider limit buys throughput on large boards at coarser pruning. "
                        "Example: --max-simd 32")


def _compression_args(p, allow_none: bool = True) -> None:
    from .compress.engine import STRATEGIES

    g = p.add_argument_group("compression")
    names = list(STRATEGIES) + (["none"] if allow_none else [])
    g.add_argument("--strategy", default="pe-wise+wpc", choices=names,
                   help="pe-wise+wpc (default): PE-wise balanced group pruning + ternary with Weight Penalty "
                        "Clipping; pe-wise: without WPC; ternary-only; magnitude (unstructured); lottery (IMP "
                        "with rewinding); synflow (data-free); random / inverse tickets (controls)"
                        + ("; none: no compression" if allow_none else ""))
    g.add_argument("--target-compression", type=float, default=None, metavar="X",
                   help="total compression ratio to reach: fp32 weight bits / stored bits. Default: with labelled "
                        "--data, the largest ratio within --max-accuracy-drop (searched, each probe reported); "
                        "data-free, 21 (or the model's ceiling when lower). An explicit target above the model's "
                        "ceiling is refused (exit 2)")
    g.add_argument("--max-accuracy-drop", type=float, default=None, metavar="D",
                   help="accuracy budget in points of test accuracy (default 1.0 with labelled --data): with "
                        "--target-compression, a larger drop fails the run (exit 1, output kept); without it, "
                        "bounds the search on the validation split. Example: --max-accuracy-drop 0.5")
    g.add_argument("--epochs", type=int, default=None,
                   help="fine-tuning epochs when --data is given (default: sized from the data, 1000 optimizer "
                        "steps, up to 4000 for a cheap model)")
    g.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate for fine-tuning (default 2e-3)")
    g.add_argument("--penalty", type=float, default=0.5,
                   help="group-lasso / WPC strength: its gradient norm relative to the task gradient's, per "
                        "pruned layer (default 0.5; 0 turns it off)")
    g.add_argument("--prune-first-layer", choices=("auto", "always", "never"), default="auto",
                   help="auto (default): the first layer is pruned only when the target is out of reach without "
                        "it; always; never")
    g.add_argument("--seed", type=int, default=0, help="seed of training order and random masks (default 0)")
    g.add_argument("--first-last-bits", type=int, choices=(2, 8), default=2,
                   help="2: first and last layers ternary like the rest (default); 8: kept at 8 bits, unpruned")
    g.add_argument("--ternary-scales", choices=("twn", "learned"), default="twn",
                   help="per-channel scale of the ternary weights: twn (default), TWN's closed form recomputed "
                        "from the weights; learned, a trained parameter started from TWN's value (codes still "
                        "from the threshold; exported and built exactly like a TWN scale)")
    g.add_argument("--device", default="cpu", help="torch device for fine-tuning: cpu (default) or cuda")
    g.add_argument("--checkpoint-dir", type=Path, help="save a checkpoint after every epoch here")
    g.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")


def _compression_config(args):
    from .compress.engine import CompressionConfig

    if args.strategy == "none":
        return None
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise FcompError("--device cuda: no CUDA device is available here")
    if args.resume and args.checkpoint_dir is None:
        raise FcompError("--resume needs --checkpoint-dir")
    if (args.target_compression is not None and args.target_compression <= 1) or \
            (args.epochs is not None and args.epochs < 0):
        raise FcompError("--target-compression must be > 1 and --epochs >= 0")
    if args.max_accuracy_drop is not None and args.max_accuracy_drop < 0:
        raise FcompError("--max-accuracy-drop must be >= 0 (points of accuracy)")
    if args.penalty < 0:
        raise FcompError("--penalty must be >= 0")
    return CompressionConfig(strategy=args.strategy, target=args.target_compression, epochs=args.epochs, lr=args.lr,
                             penalty=args.penalty, seed=args.seed, first_last_bits=args.first_last_bits,
                             device=args.device, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                             max_drop=args.max_accuracy_drop, prune_first=args.prune_first_layer,
                             ternary_scales=args.ternary_scales)


def _compress_summary(s: dict) -> str:
    search = s.get("search") or {}
    how = (f"searched: largest ratio within {search['max_drop_points']:g} points" if search.get("mode") == "search"
           else f"target {s['target_ratio']:g}x")
    lines = [f"compression ({s['strategy']}{', DATA-FREE' if s['data_free'] else ''}): {s['ratio']:.2f}x "
             f"({how}; {s.get('ratio_weights_only') or 0:.1f}x counting weight bits only)"]
    for p in search.get("probes", []):
        lines.append(f"  probe {p['target']:g}x -> {p['ratio']:.2f}x: validation drop {p['validation_drop_points']:.2f} "
                     f"points ({'within' if p['within_budget'] else 'over'} budget)")
    if s["accuracy_before"] is not None:
        lines.append(f"  test accuracy {s['accuracy_before']:.2%} -> {s['accuracy_after']:.2%} "
                     f"({s['accuracy_drop_points']:.2f} points drop"
                     + (f", budget {search['max_drop_points']:g}" if search else "") + ")")
    dfc = s.get("data_free_check")
    if dfc:
        lines.append(f"  DATA-FREE{' (distilled)' if dfc.get('distilled') else ''}: top-1 agreement with the fp32 "
                     f"model {dfc['top1_agreement']:.1%} on {dfc['inputs']} {dfc['generated']}")
    lines.append(f"  output: {s['output']}")
    return "\n".join(lines)


def _summary(report: dict) -> str:
    m, c, mem = report["model"], report["check"], report["memory"]
    lines = [
        f"fcomp {report['fcomp_version']}: {m['file']} for {report['board']['name']} ({report['board']['part']})",
        f"  layers {len(report['layers'])}, params {m['params']:,}, MACs {m['macs']:,}",
        f"  weights {mem['weight_bits'] / 2**20:.2f} Mbit vs {mem['on_chip_bits'] / 2**20:.2f} Mbit on-chip"
        + ("" if mem["fits_on_chip"] else "  (does NOT fit on-chip uncompressed)"),
    ]
    if report.get("compression"):  # the compress summary on one line, without its output line
        parts = _compress_summary({**report["compression"], "output": ""}).splitlines()[:-1]
        lines.append("  " + "; ".join(p.strip() for p in parts))
    est = report.get("estimate")
    if est:
        have = report["board"]["resources"]
        res = ", ".join(f"{k.upper()} {est['total'][k]:,}/{have[k]:,} ({est['total'][k] / have[k]:.0%})"
                        for k in ("lut", "ff", "dsp", "bram36", "uram") if have.get(k))
        lines.append(f"  estimate: {res}; {est['frames_per_s']:,.1f} frames/s at {est['clock_mhz']:g} MHz, "
                     f"latency <= {est['latency_ms']:.3g} ms, bottleneck {est['bottleneck']}")
    lines.append(f"  {c['message']}")
    be = report.get("backend")
    if be and be.get("ternary_layers"):
        n = sum(bool(r["multiplier_free"]) for r in be["ternary_layers"])
        lines.append(f"  hls4ml: {n}/{len(be['ternary_layers'])} ternary layers use the multiplier-free "
                     "weight_ternary product")
    if report.get("rtl") and report["rtl"]["layers"]:
        r = report["rtl"]
        done = [l for l in r["layers"] if "error" not in l]
        lines.append(f"  RTL (Verilator): {len(done)} layer(s) " + ("bit-exact and cycle-exact" if r["passed"]
                     else "FAILED") + ": " + ", ".join(f"{l['layer']} {l['vectors']} vectors, {l['mismatches']} "
                                                      f"mismatches, {l['cycles_measured']}/{l['cycles_predicted']} "
                                                      "cycles" for l in done))
        for l in r["layers"]:
            if "error" in l:
                lines.append(f"  RTL: {l['layer']} NOT verified: {l['error']}")
    if c.get("quantized_model"):
        q = c["quantized_model"]
        lines.append(f"  {q.get('message') or q.get('skipped')}")
    if c.get("golden"):
        lines.append(f"  {c['golden']['message']}")
    if report.get("rtl") and report["rtl"].get("network"):
        lines.append(f"  {report['rtl']['network']['message']}")
    if "accuracy_csim" in c:
        lines.append(f"  accuracy on labelled check inputs: ONNX {c['accuracy_onnx']:.1%}, C-sim {c['accuracy_csim']:.1%}")
    if report.get("synth"):
        from .synth import summary as synth_summary

        lines.extend("  " + l for l in synth_summary(report["synth"]).splitlines())
    t = report["timings_s"]
    lines.append("  time: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    lines.append(f"  output: {report['output']}")
    if report.get("handoff"):
        h = report["handoff"]
        lines.append(f"  hardware handoff: {report['output']}/{h['dir']}/ ({h['files']} files; run {h['run']}, "
                     "see HANDOFF.md); report: report.html")
        if h.get("driver"):
            lines.append(f"  board driver: {report['output']}/{h['driver']} "
                         "(--transport sim runs it on the simulated RTL here)")
    return "\n".join(lines)


def _parse(argv) -> argparse.Namespace:
    """Parse twice: once to learn the command and config file, then with the config's values as defaults, so
    the command line overrides the file and the file overrides built-in defaults."""
    from .config import defaults_for, find_default_file, load_file

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return args
    path = args.config or find_default_file()
    if path is not None:
        subs = parser._fcomp_subparsers
        subs[args.command].set_defaults(**defaults_for(args.command, subs, load_file(path), str(path)))
        args = parser.parse_args(argv)
        args.config = path
    if getattr(args, "model", "absent") is None:
        raise FcompError(f"fcomp {args.command}: give the ONNX model (argument MODEL or 'model:' in fcomp.yaml)")
    return args


def _build_options(args):
    from .pipeline import BuildOptions

    return BuildOptions(model=args.model, board=args.board, output=args.output, force=args.force,
                        data=args.data, n_calibration=args.calibration_inputs, n_check=args.check_inputs,
                        min_agreement=args.min_agreement, tie_margin=args.tie_margin,
                        act_bits=args.act_bits, weight_bits=args.weight_bits,
                        compression=_compression_config(args),
                        rtl_layers="none" if args.no_rtl else args.rtl_layers,
                        rtl_frames=0 if args.no_rtl else args.rtl_frames,
                        max_memory_gb=args.max_memory_gb, max_csim_minutes=args.max_csim_minutes,
                        margin=args.margin, target_fps=args.target_fps,
                        max_simd=args.max_simd, synth=args.synth, synth_jobs=args.synth_jobs,
                        synth_timeout=args.synth_timeout, synth_cache=not args.no_synth_cache,
                        synth_memory_gb=args.synth_memory_gb)


def _print(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _run(args) -> int:
    if args.command == "boards":
        from .boards import list_boards

        boards = list_boards()
        lines = [f"{bd.name:12s} {bd.part:24s} LUT {bd.resources['lut']:>9,} FF {bd.resources['ff']:>9,} "
                 f"DSP {bd.resources['dsp']:>6,} BRAM36 {bd.resources['bram36']:>5,} URAM {bd.resources['uram']:>5,} "
                 f"{bd.clock_mhz:.0f} MHz" for bd in boards]
        _print(args, [bd.to_dict() for bd in boards], "\n".join(lines))
        return 0
    if args.command == "inspect":
        from .frontend.inspect import format_inspect, inspect_model

        info = inspect_model(args.model)
        _print(args, info, format_inspect(info))
        return 0 if info["supported"] else 2
    if args.command == "report":
        from .report.html import render_html

        html = render_html(_existing_output(args.output), args.point, args.html)
        _print(args, {"html": str(html)}, str(html))
        return 0
    if args.command == "synth":
        from .boards import get_board
        from .synth import check_capacity, summary, synth_output

        if args.synth_memory_gb is not None and args.synth_memory_gb <= 0:
            raise FcompError("--synth-memory-gb must be > 0")
        doc = synth_output(args.output, None if args.board is None else get_board(args.board), args.synth_jobs,
                           args.synth_timeout, not args.no_synth_cache, args.synth_memory_gb)
        _print(args, doc, summary(doc) + f"\n  written: {Path(args.output) / 'synth.json'}")
        check_capacity(doc, Path(args.output) / "synth.json")
        return 0
    if args.command == "verify":
        from .verify.rerun import verify_output

        if args.rtl_frames is not None and args.rtl_frames < 0:
            raise FcompError(f"--rtl-frames must be 0 or more, got {args.rtl_frames}")
        result = verify_output(_existing_output(args.output), rtl=not args.no_rtl, rtl_frames=args.rtl_frames)
        _print(args, result, result["message"])
        return 0 if result["passed"] else 1
    from .pipeline import compress_only

    if args.command == "compress":
        from .pipeline import BuildOptions

        summary = compress_only(BuildOptions(model=args.model, board=args.board, output=args.output,
                                             force=args.force, data=args.data,
                                             compression=_compression_config(args), margin=args.margin,
                                             target_fps=args.target_fps, max_simd=args.max_simd))
        _print(args, summary, _compress_summary(summary))
        return 0
    from .pipeline import build

    report = build(_build_options(args))
    _print(args, report, _summary(report))
    return 0


def _existing_output(path: Path) -> Path:
    if not (Path(path) / "report.json").is_file():
        raise FcompError(f"{path} is not an fcomp build output (no report.json in it)")
    return Path(path)


def main(argv=None) -> int:
    # OpenMP threads that spin while waiting made fine-tuning 10x slower next to a busy g++ on 2 cores (measured
    # by bench/compression.py); passive waiting costs nothing measurable on an idle machine. Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    setup_logging(False, False)
    try:
        args = _parse(argv)
        if args.command is None:
            _parser().print_help(sys.stderr)
            return 2
        setup_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
        with signals_as_interrupts():   # SIGTERM takes Ctrl-C's clean-up path; child processes are stopped
            return _run(args)
    except CheckFailedError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except FcompError as exc:
        log.error("error: %s", exc)
        return exc.exit_code
    except MemoryError as exc:
        log.error("error: out of memory%s; no output was written", f" ({exc})" if str(exc) else "")
        return 1
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        log.error("interrupted (%s); no output was written, a previous output folder is unchanged",
                  signal.Signals(signum).name)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
