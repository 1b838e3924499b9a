"""Weight statistics of a compression, small enough to live in report.json.

The HTML report is rendered from JSON only (never from ONNX files), so whatever it plots about the weights has to
be summarized here first: per weighted layer, a fixed-bin histogram of the weights before and after compression
(the same bin edges for both, symmetric around 0 over the original weights' range, so the two can be drawn on one
axis), the ternary -1/0/+1 shares and the sparsity. 41 bins keep a zero-centred middle bin and cost ~100 integers
per layer, so even ResNet-18 adds only a few kB to the report.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph

BINS = 41


def _histogram(w: np.ndarray, edges: np.ndarray) -> list[int]:
    # values outside the shared range (a fine-tuned weight can grow past the original max) go to the end bins
    clipped = np.clip(w.ravel().astype(np.float64), edges[0], edges[-1])
    return [int(c) for c in np.histogram(clipped, bins=edges)[0]]


def _shares(codes: np.ndarray) -> dict[str, float]:
    n = max(1, codes.size)
    return {"-1": float(np.sum(codes == -1) / n), "0": float(np.sum(codes == 0) / n),
            "+1": float(np.sum(codes == 1) / n)}


def weight_stats(graph_before: Graph, graph_after: Graph, bins: int = BINS) -> dict:
    """Per weighted layer of `graph_after`: histograms of W before/after on shared bins, ternary shares, sparsity.

    `graph_before` is the normalized IR that went into compression, `graph_after` the compressed IR (its ternary
    layers carry `codes` and `scale` next to `W = codes * scale`). Layers are matched by name; a layer missing from
    `graph_before` gets no 'before' histogram. Returns a JSON-able dict:
    `{"bins": 41, "layers": [{"name", "op", "shape", "params", "range": [lo, hi], "before": [...], "after": [...],
    "sparsity", "ternary_shares" (or None for non-ternary layers), "distinct_values", "scale"}]}`.
    """
    if bins < 3 or bins % 2 == 0:
        raise ValueError("bins must be an odd number >= 3 (a bin centred on zero)")
    before_nodes = {n.name: n for n in graph_before.weighted()}
    layers = []
    for node in graph_after.weighted():
        w_after = np.asarray(node.weights["W"], dtype=np.float64)
        prev = before_nodes.get(node.name)
        w_before = None if prev is None else np.asarray(prev.weights["W"], dtype=np.float64)
        ref = w_before if w_before is not None and w_before.size else w_after
        lim = float(np.max(np.abs(ref))) if ref.size else 0.0
        lim = lim if lim > 0 else 1.0
        edges = np.linspace(-lim, lim, bins + 1)
        codes = node.weights.get("codes")
        row = {
            "name": node.name, "op": node.op, "shape": [int(s) for s in w_after.shape], "params": int(w_after.size),
            "range": [-lim, lim],
            "before": None if w_before is None else _histogram(w_before, edges),
            "after": _histogram(w_after, edges),
            "sparsity": float(np.mean(w_after == 0)) if w_after.size else 0.0,
            "ternary_shares": None if codes is None else _shares(np.asarray(codes)),
            "distinct_values": int(min(np.unique(w_after).size, 1 << 16)),
        }
        scale = node.weights.get("scale")
        if scale is not None and np.size(scale):
            s = np.asarray(scale, dtype=np.float64)
            row["scale"] = {"min": float(s.min()), "max": float(s.max()), "mean": float(s.mean())}
        if w_before is not None and w_before.size:
            row["before_abs_mean"] = float(np.mean(np.abs(w_before)))
        layers.append(row)
    return {"bins": int(bins), "layers": layers}
