"""Read an ONNX file and check it: every way a file can be unusable ends in one FcompError line."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ..errors import FcompError

MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit for a single message


def load_onnx(path) -> onnx.ModelProto:
    """Load, run onnx.checker and strict shape inference. Raises FcompError with the file name."""
    path = Path(path)
    if not path.exists():
        raise FcompError(f"{path}: no such file")
    if not path.is_file():
        raise FcompError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise FcompError(f"{path}: empty file, not an ONNX model")
    if size > MAX_FILE_BYTES:
        raise FcompError(f"{path}: {size} bytes is larger than ONNX's 2 GiB protobuf limit")
    try:
        model = onnx.load_model(os.fspath(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-ish or ValueError depending on bytes
        raise FcompError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_first_line(exc)})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise FcompError(f"{path}: weights stored as external data are not supported; save the model as one file")
    return check_and_infer(model, path)


def check_and_infer(model: onnx.ModelProto, path) -> onnx.ModelProto:
    if not model.graph.node:
        raise FcompError(f"{path}: not an ONNX model with a graph (no nodes found)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise FcompError(f"{path}: invalid ONNX model: {_first_line(exc)}") from None
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        raise FcompError(f"{path}: ONNX shape inference failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = next((t.strip() for t in text if t.strip()), type(exc).__name__)
    return line[:300]
