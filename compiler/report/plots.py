"""The report's figures: matplotlib `Figure` objects (no pyplot, so no GUI backend and no global figure state;
the SVG canvas renders them headless) saved as deterministic SVG bytes.

Each function takes plain values already read from the build's JSON and returns SVG bytes, or None when there is
nothing to draw. SVG output is made reproducible (fixed `svg.hashsalt` for element ids, no creation date), and
text stays text (`svg.fonttype: none`), so two renders of the same JSON are byte-identical and small.
"""

from __future__ import annotations

import io
import math

import matplotlib
import matplotlib.ticker
from matplotlib import rc_context
from matplotlib.figure import Figure

# Colours: Okabe-Ito (colour-blind safe) for the categories the report uses everywhere.
NEG, ZERO, POS = "#D55E00", "#D9D9D9", "#0072B2"
BEFORE, AFTER = "#9A9A9A", "#0072B2"
ACCENT, GOOD, BAD = "#E69F00", "#009E73", "#CC3311"

_RC = {
    "svg.hashsalt": "fcomp-report",
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "fcomp"})
    return buf.getvalue()


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[: n - 11] + "…" + name[-10:]


def _rows_height(n: int, per: float = 0.28, base: float = 1.1) -> float:
    return min(12.0, base + per * n)


def ternary_shares(rows: list[tuple[str, dict]]) -> bytes | None:
    """Stacked horizontal bars per layer: share of -1, 0 (pruned or zero) and +1 codes; 0's share is sparsity."""
    rows = [(n, s) for n, s in rows if s]
    if not rows:
        return None
    with rc_context(_RC):
        fig = _figure(5.6, _rows_height(len(rows)))
        ax = fig.add_subplot()
        y = list(range(len(rows)))[::-1]
        neg = [s["-1"] for _, s in rows]
        zero = [s["0"] for _, s in rows]
        pos = [s["+1"] for _, s in rows]
        ax.barh(y, neg, color=NEG, label="−1", height=0.7)
        ax.barh(y, zero, left=neg, color=ZERO, label="0 (sparsity)", height=0.7)
        ax.barh(y, pos, left=[a + b for a, b in zip(neg, zero)], color=POS, label="+1", height=0.7)
        for yi, a, z in zip(y, neg, zero):
            ax.text(a + z / 2, yi, f"{z:.0%}", ha="center", va="center", fontsize=7.5, color="#333333")
        ax.set_yticks(y, [_short(n) for n, _ in rows])
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("share of the layer's weights")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
        return _svg(fig)


def weight_histograms(layers: list[dict], max_layers: int = 8) -> bytes | None:
    """Small multiples (the `max_layers` largest layers): weight histogram before vs after compression, log counts."""
    layers = [l for l in layers if l.get("after")]
    if not layers:
        return None
    layers = sorted(layers, key=lambda l: -l.get("params", 0))[:max_layers]
    cols = min(4, len(layers))
    nrows = math.ceil(len(layers) / cols)
    with rc_context(_RC):
        fig = _figure(2.9 * cols, 2.15 * nrows + 0.3)
        axes = fig.subplots(nrows, cols, squeeze=False)
        for ax in axes.ravel()[len(layers):]:
            ax.set_visible(False)
        for ax, l in zip(axes.ravel(), layers):
            lo, hi = l["range"]
            n = len(l["after"])
            edges = [lo + (hi - lo) * i / n for i in range(n + 1)]
            if l.get("before"):
                ax.stairs(l["before"], edges, fill=True, color=BEFORE, alpha=0.55, label="before")
            ax.stairs(l["after"], edges, fill=False, color=AFTER, linewidth=1.4, label="after")
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.7)
            ax.set_title(f"{_short(l['name'], 30)}  ({l.get('params', 0):,} w)", loc="left", fontsize=8.5)
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(axis="x", visible=False)
        axes.ravel()[0].legend(loc="upper right", fontsize=7)
        fig.supxlabel("weight value (shared bins per layer)", fontsize=8.5)
        fig.supylabel("count (log)", fontsize=8.5)
        return _svg(fig)


def pe_balance(layers: list[dict]) -> bytes | None:
    """Per layer: kept groups of every PE as a share of the dense groups per PE (one dot per PE).

    Balanced PE-wise pruning puts all dots of a layer on one point; the slowest PE sets the layer's cycles."""
    layers = [l for l in layers if l.get("kept") and l.get("dense")]
    if not layers:
        return None
    with rc_context(_RC):
        fig = _figure(5.6, _rows_height(len(layers)))
        ax = fig.add_subplot()
        y = list(range(len(layers)))[::-1]
        for yi, l in zip(y, layers):
            kept, dense = l["kept"], l["dense"]
            xs = [k / dense for k in kept]
            ax.scatter(xs, [yi] * len(xs), s=22, color=AFTER, alpha=0.6, linewidths=0, zorder=3)
            ax.plot([min(xs), max(xs)], [yi, yi], color=AFTER, linewidth=1.2, zorder=2)
            lo, hi = min(kept), max(kept)
            txt = f"{hi}/{dense}" if lo == hi else f"{lo}–{hi}/{dense}"
            ax.text(1.01, yi, txt + f"  ({len(kept)} PEs)", va="center", fontsize=7.5, color="#333333",
                    transform=ax.get_yaxis_transform())
        ax.set_yticks(y, [_short(l["name"]) for l in layers])
        ax.set_xlim(0, 1.03)
        ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("kept groups / dense groups per PE (one dot per PE)")
        ax.grid(axis="y", visible=False)
        return _svg(fig)


def resources(used: dict[str, float], budget: dict[str, float], margin: float | None = None) -> bytes | None:
    """Horizontal bars: estimated use of each resource as a share of the board's, with the 100% (and margin) line."""
    keys = [k for k in ("lut", "ff", "bram36", "uram", "dsp") if k in used and budget.get(k)]
    if not keys:
        return None
    with rc_context(_RC):
        fig = _figure(5.6, 0.7 + 0.42 * len(keys))
        ax = fig.add_subplot()
        y = list(range(len(keys)))[::-1]
        shares = [float(used[k]) / float(budget[k]) for k in keys]
        colors = [BAD if s > 1 else (ACCENT if margin and s > margin else GOOD) for s in shares]
        ax.barh(y, [min(s, 1.5) for s in shares], color=colors, height=0.6)
        for yi, k, s in zip(y, keys, shares):
            ax.text(min(s, 1.5) + 0.01, yi, f"{s:.1%}  ({_num(used[k])} of {_num(budget[k])})", va="center",
                    fontsize=7.5)
        ax.axvline(1.0, color="#333333", linewidth=0.9)
        if margin:
            ax.axvline(margin, color=ACCENT, linewidth=0.9, linestyle="--", label=f"planner margin {margin:.0%}")
            ax.legend(loc="lower right")
        ax.set_yticks(y, [k.upper() for k in keys])
        ax.set_xlim(0, max(1.25, min(1.6, max(shares) + 0.35)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("estimated use / board budget")
        ax.grid(axis="y", visible=False)
        return _svg(fig)


def training(history: list[dict]) -> bytes | None:
    """Fine-tuning curves per epoch: loss; train/test accuracy with the compression ratio on a second axis."""
    history = [h for h in history if isinstance(h, dict) and h.get("epoch") is not None]
    if not history:
        return None
    ep = [h["epoch"] for h in history]
    with rc_context(_RC):
        fig = _figure(11.0, 2.9)
        ax1, ax2 = fig.subplots(1, 2)
        loss = [h.get("loss") for h in history]
        if any(v is not None for v in loss):
            ax1.plot(ep, [math.nan if v is None else v for v in loss], marker="o", ms=3, color=NEG)
        ax1.set_title("training loss", loc="left")
        ax1.set_xlabel("epoch")
        for key, label, color in (("train_accuracy", "train", BEFORE), ("test_accuracy", "test", AFTER)):
            vals = [h.get(key) for h in history]
            if any(v is not None for v in vals):
                ax2.plot(ep, [math.nan if v is None else v for v in vals], marker="o", ms=3, color=color,
                         label=f"{label} accuracy")
        ax2.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax2.set_title("accuracy and compression ratio", loc="left")
        ax2.set_xlabel("epoch")
        ratios = [h.get("ratio") for h in history]
        if any(r is not None for r in ratios):
            ax3 = ax2.twinx()
            ax3.plot(ep, [math.nan if r is None else r for r in ratios], color=ACCENT, linestyle="--",
                     marker="s", ms=2.5, label="ratio")
            ax3.set_ylabel("compression ratio (×)", color=ACCENT)
            ax3.tick_params(axis="y", colors=ACCENT)
            ax3.spines["right"].set_visible(True)
            ax3.grid(False)
            h1, l1 = ax2.get_legend_handles_labels()
            h3, l3 = ax3.get_legend_handles_labels()
            ax2.legend(h1 + h3, l1 + l3, loc="lower right")
        else:
            ax2.legend(loc="lower right")
        for ax in (ax1, ax2):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        return _svg(fig)


def tradeoff(points: list[tuple[str, float, float]], baseline: float | None = None) -> bytes | None:
    """Accuracy vs compression ratio: one point per (strategy, ratio, accuracy); the first is this build's run.
    `baseline` (the uncompressed model's accuracy) is drawn at 1x."""
    points = [p for p in points if p[1] is not None and p[2] is not None]
    if not points:
        return None
    with rc_context(_RC):
        fig = _figure(5.6, 3.0)
        ax = fig.add_subplot()
        if baseline is not None:
            ax.axhline(baseline, color=BEFORE, linestyle="--", linewidth=0.8)
            ax.scatter([1.0], [baseline], s=30, color=BEFORE, zorder=3, edgecolors="white", linewidths=0.6)
            ax.annotate(f"uncompressed {baseline:.1%}", (1.0, baseline), xytext=(5, -11), textcoords="offset points",
                        fontsize=7.5, color="#555555")
        for i, (name, ratio, acc) in enumerate(points):
            ax.scatter([ratio], [acc], s=46 if i == 0 else 30, color=AFTER if i == 0 else ACCENT, zorder=3,
                       edgecolors="white", linewidths=0.6)
            ax.annotate(f"{_short(name, 30)}  {ratio:.1f}×, {acc:.1%}", (ratio, acc), xytext=(-5, 5),
                        textcoords="offset points", fontsize=7.5, ha="right")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlim(0, max(p[1] for p in points) * 1.12)
        accs = [p[2] for p in points] + ([baseline] if baseline is not None else [])
        ax.set_ylim(max(0.0, min(accs) - 0.08), min(1.0, max(accs) + 0.04) + 0.01)
        ax.set_xlabel("compression ratio (fp32 bits / stored bits)")
        ax.set_ylabel("test accuracy")
        return _svg(fig)


def _num(v: float) -> str:
    v = float(v)
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:,.0f}" if v == int(v) else f"{v:.1f}"
