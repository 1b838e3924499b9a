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


def import_onnx(path) -> FrontendResult:
    model = load_onnx(path)
    model, sanitizer = _normalize(model, path)
    tensors, nodes = dict(sanitizer.table.original), dict(sanitizer.node_original)
    return FrontendResult(model, build_ir(model, path, tensors, nodes), {**nodes, **tensors}, nodes)


__all__ = ["FrontendResult", "import_onnx", "normalize", "load_onnx", "build_ir", "SUPPORTED_OPS"]
