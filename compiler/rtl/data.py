"""Real layers for the RTL: a compressed IR layer with the fixed-point types the backend would give it, and the
integer input vectors (im2col rows of real activations) that the PE array consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Node
from ..plan import LayerMapping, kernel_major
from .layer import RtlFormat, RtlLayer, build_layer


def im2col(act: np.ndarray, kernel, strides, pads, kernel_major_order: bool = False) -> np.ndarray:
    """(C, H, W) -> (H_out * W_out, C * kh * kw): one row per output pixel, ONNX weight order (c, kh, kw), or
    (kh, kw, c) when `kernel_major_order` (`plan.kernel_major`: a conv's matrix columns)."""
    c, h, w = act.shape
    (kh, kw), (sh, sw) = kernel, strides
    top, left, bottom, right = pads
    x = np.pad(act, ((0, 0), (top, bottom), (left, right)))
    ho = (h + top + bottom - kh) // sh + 1
    wo = (w + left + right - kw) // sw + 1
    out = np.empty((ho * wo, c * kh * kw), dtype=act.dtype)
    for i in range(ho):
        for j in range(wo):
            win = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[i * wo + j] = (win.transpose(1, 2, 0) if kernel_major_order else win).reshape(-1)
    return out


def layer_vectors(node: Node, act: np.ndarray) -> np.ndarray:
    """A layer's input activation of one sample -> its (vectors, cols) matrix-vector inputs."""
    if node.op == "conv":
        return im2col(act, node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"], kernel_major(node))
    return act.reshape(1, -1)


def quantize(x: np.ndarray, bits: int, frac: int) -> np.ndarray:
    """Real values -> signed `bits`-bit integers with `frac` fractional bits (round half up, saturate: the
    AP_RND/AP_SAT conversion of the hls4ml input types)."""
    q = np.floor(np.asarray(x, np.float64) * 2.0 ** frac + 0.5)
    return np.clip(q, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(np.int64)


def auto_in_blocks(mapping: LayerMapping, K: int) -> int:
    """S-lane blocks per input beat (`LayerMapping.in_blocks`): the narrowest input stream that keeps up with
    the pruned schedule, one pixel chunk wide where the window is streamed in chunks."""
    return mapping.in_blocks(K)


@dataclass
class RealLayer:
    graph: Graph
    node: Node
    mapping: LayerMapping
    fmt: RtlFormat
    precisions: dict
    kept_groups_per_pe: list[int]
    rtl: RtlLayer
    vectors: np.ndarray              # (n, cols) integer inputs (real activations, quantized)
    float_inputs: np.ndarray         # the same, real
    samples: np.ndarray              # the network inputs they came from


def real_layer(model_path, layer: str, data: str = "digits", strategy: str = "pe-wise", target: float = 24.0,
               act_bits: int = 8, weight_bits: int = 8, n_calibration: int = 16, n_samples: int = 1,
               max_vectors: int | None = None, in_blocks: int | None = None) -> RealLayer:
    """Import, plan and compress (data-free) a model, size its fixed-point types on calibration data like the
    backend does, and return one layer's RTL description with real integer input vectors."""
    from ..backend.precision import assign_precisions
    from ..compress.engine import CompressionConfig, compress
    from ..compress.export_onnx import export_compressed_onnx
    from ..data import load_samples
    from ..frontend import import_onnx
    from ..plan import plan_layers
    from ..verify.reference import run_onnx, tensor_ranges

    graph = import_onnx(model_path).graph
    plan = plan_layers(graph)
    # one keep share for every prunable layer, no distillation: every layer shape gets pruned, in seconds
    result = compress(graph, plan, CompressionConfig(strategy=strategy, target=target, distill=False,
                                                     allocation="uniform"))
    g = result.graph
    reference = export_compressed_onnx(g)
    samples = load_samples(data, g.inputs[0].shape, n_calibration, max(1, n_samples))
    ranges = tensor_ranges(reference, samples.calibration, [n.name for n in g.nodes])
    precisions = assign_precisions(g, ranges, act_bits, weight_bits)
    node = g.node(layer)
    p = precisions[node.name]
    fmt = RtlFormat.from_backend(precisions[node.inputs[0]]["result"], p)
    row = next(r for r in result.layers if r["name"] == layer)
    kept = row.get("kept_groups_per_pe") or [math.ceil(plan[layer].rows / plan[layer].pe)
                                             * math.ceil(plan[layer].cols / plan[layer].simd)] * plan[layer].pe
    ib = in_blocks or auto_in_blocks(plan[layer], max(kept))
    rtl = build_layer(node, plan[layer], fmt, kept_per_pe=max(kept), in_blocks=ib)
    x = samples.check[:n_samples]
    acts = run_onnx(reference, x, [node.inputs[0]])[node.inputs[0]]
    real = np.concatenate([layer_vectors(node, a) for a in acts])
    if max_vectors is not None and len(real) > max_vectors:   # a spread of output pixels, not just the first row
        real = real[np.linspace(0, len(real) - 1, max_vectors).round().astype(int)]
    vec = quantize(real, fmt.in_bits, fmt.in_frac)
    return RealLayer(g, node, plan[layer], fmt, precisions, kept, rtl, vec, real, x)
