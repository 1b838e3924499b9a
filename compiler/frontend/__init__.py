"""Frontend: ONNX file -> checked, normalized ONNX model + IR graph."""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..ir import Graph
from .load import check_and_infer, load_onnx
from .passes import (CheckShapes, ConstantsToInitializers, FixBatchDimension, FoldBatchNorm, GemmToMatMul,
                     RemoveIdentities, SanitizeNames, run_passes)
from .to_ir import SUPPORTED_OPS, build_ir


@dataclass
class FrontendResult:
    onnx_model: onnx.ModelProto     # normalized, sanitized, shape-inferred; runs in ONNX Runtime
    graph: Graph
    original_names: dict[str, str]  # sanitized -> name in the user's file


def normalize(model: onnx.ModelProto, path="model") -> tuple[onnx.ModelProto, dict[str, str]]:
    """Run the normalization passes; returns the model and the sanitized->original name map."""
    sanitizer = SanitizeNames()
    model = run_passes(model, [FixBatchDimension(path), ConstantsToInitializers(), RemoveIdentities(),
                               FoldBatchNorm(), GemmToMatMul()])
    model = run_passes(model, [sanitizer])
    del model.graph.value_info[:]
    model = check_and_infer(model, path)
    run_passes(model, [CheckShapes(path)])
    original = dict(sanitizer.table.original)
    original.update(sanitizer.node_original)
    return model, original


def import_onnx(path) -> FrontendResult:
    model = load_onnx(path)
    model, original = normalize(model, path)
    return FrontendResult(model, build_ir(model, path, original), original)


__all__ = ["FrontendResult", "import_onnx", "normalize", "load_onnx", "build_ir", "SUPPORTED_OPS"]
