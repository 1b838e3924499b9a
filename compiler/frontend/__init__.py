"""Frontend: ONNX file -> checked, normalized ONNX model + IR graph."""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..ir import Graph
from .load import check_and_infer, load_onnx
from .passes import CheckShapes, SanitizeNames, normalization_passes, run_passes
from .to_ir import SUPPORTED_OPS, build_ir


@dataclass
class FrontendResult:
    onnx_model: onnx.ModelProto     # normalized, sanitized, shape-inferred; runs in ONNX Runtime
    graph: Graph
    original_names: dict[str, str]  # sanitized tensor (and, where no tensor has it, node) name -> user's name
    original_node_names: dict[str, str]


def normalize(model: onnx.ModelProto, path="model") -> tuple[onnx.ModelProto, dict[str, str]]:
    """Run the normalization passes; returns the model and the sanitized->original name map."""
    model, sanitizer = _normalize(model, path)
    return model, {**sanitizer.node_original, **sanitizer.table.original}


def _normalize(model: onnx.ModelProto, path) -> tuple[onnx.ModelProto, SanitizeNames]:
    sanitizer = SanitizeNames()
    model = run_passes(model, normalization_passes(path))
    model = run_passes(model, [sanitizer])
    del model.graph.value_info[:]
    model = check_and_infer(model, path)
    run_passes(model, [CheckShapes(path)])
    return model, sanitizer


def quantizers(model: onnx.ModelProto) -> dict | None:
    """What a quantized model carries (QDQ or QONNX quantizer nodes), for the IR's metadata: None when float."""
    from .passes import is_qonnx, standard

    qdq = sum(1 for n in model.graph.node if standard(n, "QuantizeLinear", "DequantizeLinear"))
    qonnx = sum(1 for n in model.graph.node if is_qonnx(n, "Quant", "BipolarQuant"))
    if not qdq and not qonnx:
        return None
    return {"format": "QONNX" if qonnx else "QDQ", "quantizer_nodes": qdq + qonnx}


def mark_ternary(graph: Graph) -> list[str]:
    """Layers of a quantized model whose weights are already ternary (a QONNX 2-bit signed narrow Quant with zero
    offset, a BipolarQuant, or int8 codes in {-1, 0, +1} with one scale per output channel) get their `codes`
    and per-channel `scale` in the IR, as compression would write them, exactly: W = codes * scale. The backend
    then builds them as adder-only PE layers without ternarizing again. Grouped convs stay fixed-point. Returns
    the layers marked."""
    import numpy as np

    from ..ir import is_grouped

    marked = []
    for node in graph.weighted():
        if is_grouped(node) or "codes" in node.weights:
            continue
        w = np.asarray(node.weights["W"], np.float32)
        mat = w.reshape(w.shape[0], -1) if node.op == "conv" else w.T
        if mat.shape[1] < 2:      # one input per output: any weights are "one magnitude per row"
            continue
        scale = np.abs(mat).max(axis=1)
        codes = np.sign(mat).astype(np.int8)
        scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
        if not np.array_equal(codes.astype(np.float32) * scale[:, None], mat):
            continue
        node.weights["codes"] = codes.reshape(w.shape) if node.op == "conv" else np.ascontiguousarray(codes.T)
        node.weights["scale"] = scale
        marked.append(node.name)
    return marked


def import_onnx(path) -> FrontendResult:
    model = load_onnx(path)
    quant = quantizers(model)
    model, sanitizer = _normalize(model, path)
    tensors, nodes = dict(sanitizer.table.original), dict(sanitizer.node_original)
    graph = build_ir(model, path, tensors, nodes)
    if quant:
        quant["ternary_layers"] = mark_ternary(graph)
        graph.metadata["quantized"] = quant
    return FrontendResult(model, graph, {**nodes, **tensors}, nodes)


__all__ = ["FrontendResult", "import_onnx", "normalize", "load_onnx", "build_ir", "SUPPORTED_OPS"]
