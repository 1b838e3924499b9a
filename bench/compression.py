"""Compression strategies compared on the digits ResNet: ratio, test accuracy, drop vs fp32, time; then the
accuracy-vs-ratio curve of PE-wise pruning with and without WPC.

Usage (from the repo root)::

    python bench/compression.py [--seeds 0,1,2] [--epochs 30] [--target 21] [--strategies a,b,...]
                                [--curve 16,21,...] [--curve-seeds 0,1,2] [--no-curve] [--out DIR]
                                [--model digits_resnet] [--penalty LAMBDA] [--scales twn|learned] [--threads 2]
    python -m bench.compression ...

Every run is `compiler.compress.engine.compress(graph, plan_layers(graph), CompressionConfig(strategy, target,
epochs, seed), TrainData)` on the model's fixed digits split (scikit-learn digits, split seed 0: 1347 train, 450
held-out test samples). Only `CompressionConfig.seed` changes between seeds (the model is pretrained; the seed drives
the training data order and seeded masks such as `random`); the data split stays fixed. Accuracy is the compressed
model's accuracy on the 450 test samples (`CompressionResult.accuracy_after`), ratio is the honest total ratio of
`compiler.compress.ratio` (fp32 weight bits / stored bits incl. indices, scales and biases).

The fp32 row is the imported model evaluated by the same PyTorch module the engine trains (`IRModule`), ratio 1.0.
Std is the sample standard deviation over seeds (ddof=1; 0 with one seed).

"largest ratio within 1.0 point of fp32" takes, among the curve's targets, the largest mean achieved ratio whose mean
accuracy is at most 1.0 point below fp32.

Results (every run's `CompressionResult.to_dict()`, timings, the command) go to `--out DIR/bench_compression.json`,
rewritten after every run so an interrupted benchmark keeps what it had. This is a benchmark, not a test: it exits 0
even when a run fails (the failure is printed and kept in the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# On a shared machine (other jobs on the same 2 cores) OpenMP's default spin-waiting makes 2 torch threads up to 10x
# slower than 1 (measured: a 5-epoch run took 67 s instead of 6 s next to one busy g++). Passive waiting avoids that;
# it must be set before torch loads OpenMP. Override by exporting OMP_WAIT_POLICY yourself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if str(REPO) not in sys.path:  # `python bench/compression.py` from anywhere
    sys.path.insert(0, str(REPO))

DEFAULT_STRATEGIES = ("ternary-only", "pe-wise", "pe-wise+wpc", "magnitude", "lottery", "synflow", "random", "inverse")
DEFAULT_CURVE = (16, 21, 24, 28, 32, 40, 48, 64)
CURVE_STRATEGIES = ("pe-wise+wpc", "pe-wise")
WITHIN_POINTS = 1.0


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",") if v.strip()]


def _names(s: str) -> list[str]:
    return [] if s.strip().lower() in ("", "none") else [v.strip() for v in s.split(",") if v.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="digits_resnet",
                   help="zoo name (models/<name>.onnx, exported if missing), a model the bench trains itself "
                        "(vgg_unseen, wine_mlp: bench/unseen.py) or a path to an .onnx file")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="CompressionConfig.seed values (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="fine-tuning epochs for every strategy (default: the engine's, sized from the data)")
    p.add_argument("--target", type=float, default=21.0, help="target ratio for every pruning strategy (default 21)")
    p.add_argument("--strategies", type=_names, default=list(DEFAULT_STRATEGIES),
                   help="comma-separated strategies for the main table ('none': fp32 row only); default: "
                        + ",".join(DEFAULT_STRATEGIES))
    p.add_argument("--curve", type=_floats, default=list(DEFAULT_CURVE),
                   help="targets of the accuracy-vs-ratio curve (default " + ",".join(map(str, DEFAULT_CURVE)) + ")")
    p.add_argument("--curve-seeds", type=_ints, default=None, help="seeds for the curve (default: --seeds)")
    p.add_argument("--curve-strategies", type=_names, default=list(CURVE_STRATEGIES),
                   help="strategies of the curve (default " + ",".join(CURVE_STRATEGIES) + ")")
    p.add_argument("--no-curve", action="store_true", help="skip the accuracy-vs-ratio curve")
    p.add_argument("--search", action="store_true",
                   help="also run pe-wise+wpc without a target under the default accuracy budget "
                        "(compress_auto, as `fcomp compress --data`): chosen ratio and test drop per seed")
    p.add_argument("--data-free", action="store_true",
                   help="also run pe-wise+wpc data-free at --target: agreement with fp32 on the generated "
                        "held-out inputs and on the real test split")
    p.add_argument("--penalty", type=float, default=None,
                   help="group-lasso / WPC lambda for every run (default: CompressionConfig's default)")
    p.add_argument("--scales", choices=("twn", "learned"), default="twn",
                   help="CompressionConfig.ternary_scales for every run: twn (default, TWN's closed-form alpha) or "
                        "learned (trained per-channel alpha); run the bench once per value to compare them")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (default 2; 1 is faster when other jobs share the cores)")
    p.add_argument("--out", type=Path, default=None, help="folder for bench_compression.json")
    args = p.parse_args(argv)
    if args.curve_seeds is None:
        args.curve_seeds = list(args.seeds)
    if not args.seeds:
        p.error("--seeds: give at least one seed")
    if (args.epochs is not None and args.epochs < 1) or args.target <= 1:
        p.error("--epochs must be >= 1 and --target > 1")
    from compiler.compress.engine import STRATEGIES

    bad = [s for s in args.strategies + args.curve_strategies if s not in STRATEGIES]
    if bad:
        p.error(f"unknown strategies {bad}; known: {', '.join(STRATEGIES)}")
    return args


def model_path(name: str) -> Path:
    """models/<name>.onnx (exported with `python -m models.export <name>` if missing), a bench-trained unseen
    model, or the given file."""
    from bench import unseen

    if name in unseen.UNSEEN:
        return unseen.model_path(name)
    path = Path(name)
    if path.suffix == ".onnx":
        return path
    path = REPO / "models" / f"{name}.onnx"
    if not path.exists():
        print(f"{path} missing: python -m models.export {name}", flush=True)
        subprocess.run([sys.executable, "-m", "models.export", name], cwd=REPO, check=True)
    return path


def fp32_accuracy(graph, data) -> float:
    import torch

    from compiler.compress.torch_ir import IRModule

    m = IRModule(graph).eval()
    x = torch.from_numpy(data.x_test)
    with torch.no_grad():
        pred = torch.cat([m(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    return float((pred.numpy() == data.y_test).mean())


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def std(v):
    if len(v) < 2:
        return 0.0
    m = mean(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


class Bench:
    def __init__(self, args, graph, plan, data, fp32: float, out: Path | None, command: str):
        self.args, self.graph, self.plan, self.data, self.fp32 = args, graph, plan, data, fp32
        self.out, self.command = out, command
        self.runs: dict[tuple, dict] = {}   # (strategy, target, seed) -> run record
        self.started = time.perf_counter()

    def run(self, strategy: str, target: float, seed: int, mode: str = "target") -> dict:
        """mode: "target" (compress at the target), "search" (compress_auto under the default budget, target
        ignored), "data-free" (no data; accuracy and fp32 agreement measured on the real test split)."""
        key = (strategy, float(target), int(seed)) if mode == "target" else (mode, strategy, float(target), int(seed))
        if key in self.runs:
            return self.runs[key]
        from compiler.compress import synth
        from compiler.compress.engine import CompressionConfig, compress, compress_auto

        kw = {} if self.args.penalty is None else {"penalty": self.args.penalty}
        kw["ternary_scales"] = self.args.scales
        cfg = CompressionConfig(strategy=strategy, target=None if mode == "search" else float(target),
                                epochs=self.args.epochs, seed=seed, **kw)
        t0 = time.perf_counter()
        rec = {"strategy": strategy, "mode": mode, "target": float(target), "seed": seed, "epochs": self.args.epochs,
               "penalty": cfg.penalty, "ternary_scales": cfg.ternary_scales}
        try:
            if mode == "search":
                res = compress_auto(self.graph, self.plan, cfg, self.data)
            else:
                res = compress(self.graph, self.plan, cfg, None if mode == "data-free" else self.data)
            acc = res.accuracy_after
            if mode == "data-free":
                from compiler.compress.torch_ir import IRModule
                import torch

                with torch.no_grad():
                    pred = IRModule(res.graph).eval()(torch.from_numpy(self.data.x_test)).argmax(1).numpy()
                acc = float((pred == self.data.y_test).mean())
                rec.update(agreement_generated=res.data_free_check["top1_agreement"],
                           agreement_test=synth.agreement(self.graph, res.graph, self.data.x_test))
            rec.update(ok=True, ratio=res.ratio, accuracy=acc, accuracy_before=self.fp32,
                       keep_fraction=res.keep_fraction, result=res.to_dict(),
                       chosen_target=res.target, passed=(res.search or {}).get("passed"),
                       penalty_share=res.penalty_gradient_share)
        except Exception as exc:  # keep going: one broken strategy should not lose the rest of the table
            rec.update(ok=False, ratio=float("nan"), accuracy=float("nan"),
                       error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        rec["seconds"] = time.perf_counter() - t0
        self.runs[key] = rec
        n = len(self.runs)
        if rec["ok"]:
            extra = ""
            if mode == "search":
                extra = f" searched -> {rec['chosen_target']:g}x, budget {'met' if rec['passed'] else 'NOT met'}"
            elif mode == "data-free":
                extra = (f" agreement with fp32: generated {100 * rec['agreement_generated']:.1f}%, "
                         f"test split {100 * rec['agreement_test']:.1f}%")
            print(f"[{n:3d}] {strategy:<12} {mode:<9} target {target:5.1f} seed {seed}: ratio {rec['ratio']:6.2f}x  "
                  f"acc {100 * rec['accuracy']:6.2f}%{extra}  {rec['seconds']:5.1f} s  "
                  f"[elapsed {time.perf_counter() - self.started:6.0f} s]", flush=True)
        else:
            print(f"[{n:3d}] {strategy:<12} target {target:5.1f} seed {seed}: FAILED {rec['error']}  "
                  f"{rec['seconds']:5.1f} s", flush=True)
        self.save()
        return rec

    def cell(self, strategy: str, target: float, seeds, mode: str = "target") -> dict:
        recs = [self.runs[(strategy, float(target), int(s)) if mode == "target" else
                          (mode, strategy, float(target), int(s))] for s in seeds]
        ok = [r for r in recs if r["ok"]]
        accs = [100 * r["accuracy"] for r in ok]
        ratios = [r["ratio"] for r in ok]
        return {"strategy": strategy, "target": target, "seeds": list(seeds), "n_ok": len(ok), "n": len(recs),
                "ratio_mean": mean(ratios), "ratio_min": min(ratios, default=float("nan")),
                "acc_mean": mean(accs), "acc_std": std(accs), "drop_mean": 100 * self.fp32 - mean(accs),
                "accs": [100 * r["accuracy"] if r["ok"] else None for r in recs],
                "ratio_std": std(ratios),
                "seconds_mean": mean([r["seconds"] for r in recs]), "seconds_total": sum(r["seconds"] for r in recs)}

    def save(self, extra: dict | None = None) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {"command": self.command, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                  for k, v in vars(self.args).items()},
               "model": str(self.args.model_path), "fp32_accuracy": self.fp32,
               "n_test": int(len(self.data.y_test)), "n_train": int(len(self.data.y_train)),
               "elapsed_s": time.perf_counter() - self.started, "host": platform.node(),
               "runs": list(self.runs.values())}
        if extra:
            doc.update(extra)
        tmp = self.out / "bench_compression.json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, default=_json_default)
            f.write("\n")
        os.replace(tmp, self.out / "bench_compression.json")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def fmt_pct(v) -> str:
    return "fail" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def main_table(b: Bench, strategies, target, seeds) -> tuple[list[str], list[dict]]:
    fp = 100 * b.fp32
    lines = [f"Main table: {b.args.model}, target {target:g}x for every pruning strategy, {b.args.epochs or 'auto'} epochs, "
             f"ternary scales {b.args.scales}, "
             f"seeds {','.join(map(str, seeds))}; test accuracy on {len(b.data.y_test)} held-out samples",
             "",
             "| strategy | ratio (mean) | test acc % (mean ± std) | drop vs fp32 (points) | per-seed acc % | time/run (s) |",
             "|---|---:|---:|---:|---|---:|",
             f"| fp32 | 1.00 | {fp:.2f} ± 0.00 | 0.00 | {' / '.join([f'{fp:.2f}'] * len(seeds))} | - |"]
    cells = []
    for s in strategies:
        c = b.cell(s, target, seeds)
        cells.append(c)
        flag = ""
        if s != "ternary-only" and c["n_ok"] and c["ratio_min"] < 0.995 * target:
            flag = " (below target)"
        fail = f" ({c['n'] - c['n_ok']} failed)" if c["n_ok"] < c["n"] else ""
        lines.append(f"| {s}{fail} | {c['ratio_mean']:.2f}{flag} | {fmt_pct(c['acc_mean'])} ± {c['acc_std']:.2f} | "
                     f"{c['drop_mean']:+.2f} | {' / '.join(fmt_pct(a) for a in c['accs'])} | "
                     f"{c['seconds_mean']:.1f} |")
    lines.append("")
    lines.append("ternary-only ignores the target (no pruning). drop = fp32 - mean accuracy (positive: worse).")
    return lines, cells


def curve_table(b: Bench, strategies, targets, seeds) -> tuple[list[str], dict]:
    fp = 100 * b.fp32
    head = "| target |" + "".join(f" {s} ratio | {s} acc % (mean ± std) | {s} drop |" for s in strategies)
    lines = [f"Accuracy vs ratio: {', '.join(strategies)}; {b.args.epochs or 'auto'} epochs, seeds {','.join(map(str, seeds))}; "
             f"fp32 {fp:.2f}%", "", head, "|---:|" + "---:|---:|---:|" * len(strategies)]
    cells = {s: [] for s in strategies}
    for t in targets:
        row = f"| {t:g} |"
        for s in strategies:
            c = b.cell(s, t, seeds)
            cells[s].append(c)
            row += f" {c['ratio_mean']:.2f} | {fmt_pct(c['acc_mean'])} ± {c['acc_std']:.2f} | {c['drop_mean']:+.2f} |"
        lines.append(row)
    lines.append("")
    best = {}
    for s in strategies:
        ok = [c for c in cells[s] if c["n_ok"] == c["n"] and c["drop_mean"] <= WITHIN_POINTS + 1e-9]
        if ok:
            c = max(ok, key=lambda c: c["ratio_mean"])
            best[s] = c
            lines.append(f"- largest ratio within {WITHIN_POINTS:.1f} point of fp32, {s}: **{c['ratio_mean']:.2f}x** "
                         f"(target {c['target']:g}, {c['acc_mean']:.2f}% mean, drop {c['drop_mean']:+.2f})")
        else:
            best[s] = None
            lines.append(f"- largest ratio within {WITHIN_POINTS:.1f} point of fp32, {s}: none of the targets")
    return lines, {"cells": cells, "best_within_1pt": best}


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = os.path.relpath(Path(sys.argv[0]).resolve(), Path.cwd()) if sys.argv and sys.argv[0] else "bench/compression.py"
    command = " ".join(["python", shlex.quote(prog)] + [shlex.quote(a) for a in argv])

    import torch

    torch.set_num_threads(args.threads)
    from bench import unseen
    from compiler.data import load_training_data
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers

    args.model_path = model_path(args.model)
    graph = import_onnx(args.model_path).graph
    plan = plan_layers(graph)
    data = (unseen.data(args.model) if args.model in unseen.UNSEEN
            else load_training_data("digits", graph.inputs[0].shape, 0))
    fp32 = fp32_accuracy(graph, data)
    out = args.out
    b = Bench(args, graph, plan, data, fp32, out, command)
    n_main = len(args.strategies) * len(args.seeds)
    curve_keys = set() if args.no_curve else {(s, float(t), sd) for s in args.curve_strategies
                                               for t in args.curve for sd in args.curve_seeds}
    curve_keys -= {(s, float(args.target), sd) for s in args.strategies for sd in args.seeds}
    print(f"model {args.model_path} ({len(plan)} weighted layers), train {len(data.y_train)} / test "
          f"{len(data.y_test)} samples, fp32 test accuracy {100 * fp32:.2f}%", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}), {os.cpu_count()} CPUs; "
          f"{n_main} main runs + {len(curve_keys)} curve runs", flush=True)

    for s in args.strategies:
        for sd in args.seeds:
            b.run(s, args.target, sd)
    if not args.no_curve:
        for t in args.curve:
            for s in args.curve_strategies:
                for sd in args.curve_seeds:
                    b.run(s, t, sd)
    if args.search:
        for sd in args.seeds:
            b.run("pe-wise+wpc", 0.0, sd, "search")
    if args.data_free:
        for sd in args.seeds:
            b.run("pe-wise+wpc", args.target, sd, "data-free")

    before = {r["accuracy_before"] for r in b.runs.values() if r["ok"]}
    if before and any(abs(a - fp32) > 1e-9 for a in before):
        print(f"WARNING: the engine's accuracy_before {sorted(before)} differs from the fp32 row {fp32}", flush=True)

    elapsed = time.perf_counter() - b.started
    lines = ["", "## Compression benchmark", ""]
    t_lines, main_cells = main_table(b, args.strategies, args.target, args.seeds)
    lines += t_lines
    curve = None
    if not args.no_curve:
        c_lines, curve = curve_table(b, args.curve_strategies, args.curve, args.curve_seeds)
        lines += [""] + c_lines
    extra_cells = {}
    if args.search:
        c = extra_cells["search"] = b.cell("pe-wise+wpc", 0.0, args.seeds, "search")
        recs = [b.runs[("search", "pe-wise+wpc", 0.0, sd)] for sd in args.seeds]
        lines += ["", f"Default accuracy budget (1.0 point, searched on validation), pe-wise+wpc, seeds "
                      f"{','.join(map(str, args.seeds))}: ratio {c['ratio_mean']:.2f} ± {c['ratio_std']:.2f}x, "
                      f"test acc {fmt_pct(c['acc_mean'])} ± {c['acc_std']:.2f}% (drop {c['drop_mean']:+.2f}); chosen "
                      "targets " + " / ".join(f"{r.get('chosen_target')}" for r in recs) + "; budget met (on "
                      f"validation, then on test): {sum(bool(r.get('passed')) for r in recs)}/{len(recs)}"]
    if args.data_free:
        c = extra_cells["data_free"] = b.cell("pe-wise+wpc", args.target, args.seeds, "data-free")
        recs = [b.runs[("data-free", "pe-wise+wpc", float(args.target), sd)] for sd in args.seeds if
                b.runs[("data-free", "pe-wise+wpc", float(args.target), sd)]["ok"]]
        gen = [100 * r["agreement_generated"] for r in recs]
        tst = [100 * r["agreement_test"] for r in recs]
        lines += ["", f"Data-free, pe-wise+wpc at {args.target:g}x, seeds {','.join(map(str, args.seeds))}: ratio "
                      f"{c['ratio_mean']:.2f}x; top-1 agreement with fp32 on held-out generated inputs "
                      f"{mean(gen):.1f} ± {std(gen):.1f}%, on the real test split {mean(tst):.1f} ± {std(tst):.1f}%; "
                      f"test accuracy {fmt_pct(c['acc_mean'])} ± {c['acc_std']:.2f}% (fp32 {fp32 * 100:.2f}%)"]
    pen = "CompressionConfig default" if args.penalty is None else f"{args.penalty:g}"
    lines += ["", f"penalty (lambda): {pen}; {len(b.runs)} runs in {elapsed:.0f} s "
                  f"({elapsed / 60:.1f} min) on {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads", "",
              "Command:", "", "```", command, "```"]
    print("\n".join(lines), flush=True)
    b.save({"main_table": main_cells, "curve": curve, "extra": extra_cells, "elapsed_s": elapsed})
    if out is not None:
        print(f"\nraw results: {(out / 'bench_compression.json').resolve()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
