"""Read an ONNX file and check it: every way a file can be unusable ends in one FcompError line."""

from __future__ import annotations

import os
from pathlib import Path

import math

import google.protobuf.message
import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import FcompError, first_line as _first_line

MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit for a single message
MAX_TENSOR_ELEMENTS = 1 << 31  # as passes.CheckShapes: larger tensors are not an FPGA model
# What third-party code (protobuf, onnx's checker and shape inference, numpy decoding) raises on bad input.
# Deliberately not MemoryError or KeyboardInterrupt: running out of memory is not a verdict on the model.
_BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError,
              UnicodeError, AssertionError, NotImplementedError, OSError, onnx.checker.ValidationError,
              onnx.shape_inference.InferenceError, google.protobuf.message.DecodeError)


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
    except _BAD_INPUT as exc:  # protobuf raises DecodeError, RuntimeWarning-ish or ValueError depending on bytes
        raise FcompError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_first_line(exc)})") from None
    check_text(model, path)
    check_tensors(model, path)
    return check_and_infer(model, path)


def check_text(message, path, where: str = "model") -> None:
    """Every string field (names, op types, domains, ...) is valid UTF-8.

    protobuf's upb parser hands back `bytes` for a string field whose bytes are not UTF-8; onnx then fails on
    it deep inside a pass. Checked once here, generically, so no later code sees such a name."""
    from google.protobuf.descriptor import FieldDescriptor

    for fd, value in message.ListFields():
        label = f"{where}.{fd.name}"
        repeated = fd.is_repeated
        if fd.type == FieldDescriptor.TYPE_STRING:
            for k, v in enumerate(value if repeated else [value]):
                if not isinstance(v, str):
                    raise FcompError(f"{path}: {label}{f'[{k}]' if repeated else ''} is not valid UTF-8 text "
                                     f"(starts {bytes(v)[:40]!r}); the file is corrupt")
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            for k, v in enumerate(value if repeated else [value]):
                check_text(v, path, f"{label}[{k}]" if repeated else label)


def _graph_tensors(graph: onnx.GraphProto, where: str = ""):
    """(tensor, where it is used) for every tensor stored in the graph, its nodes' attributes and subgraphs."""
    users = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, n)
    for t in graph.initializer:
        user = users.get(t.name)
        used = f" (used by node '{user.name}', op {user.op_type})" if user is not None else ""
        yield t, f"initializer '{t.name}'{used}{where}"
    for sp in graph.sparse_initializer:
        yield sp.values, f"sparse initializer '{sp.values.name}'{where}"
        yield sp.indices, f"sparse initializer '{sp.values.name}'{where}"
    for n in graph.node:
        at = f"{where} in node '{n.name}' (op {n.op_type})"
        for a in n.attribute:
            tensors = list(a.tensors) + ([a.t] if a.HasField("t") else [])
            tensors += [s.values for s in a.sparse_tensors] + [s.indices for s in a.sparse_tensors]
            if a.HasField("sparse_tensor"):
                tensors += [a.sparse_tensor.values, a.sparse_tensor.indices]
            for t in tensors:
                yield t, f"attribute '{a.name}'{at}"
            for g in list(a.graphs) + ([a.g] if a.HasField("g") else []):
                yield from _graph_tensors(g, f"{at}, subgraph '{g.name}'")


def check_tensors(model: onnx.ModelProto, path, problems: list[str] | None = None) -> None:
    """Every stored tensor is in the file, decodes to its declared dims, is bounded and (if float) finite.

    Runs before onnx.checker and before anything reads tensor data: onnx resolves external data relative to the
    current directory, so a `location` such as `../../etc/passwd` must never be followed; and numpy_helper
    raises bare ValueErrors on dims that do not match the stored bytes.
    """
    for t, where in _graph_tensors(model.graph):
        try:
            _check_one(t, where, path)
        except FcompError as exc:
            if problems is None:
                raise
            problems.append(str(exc))  # inspect: note every bad tensor instead of stopping at the first


def _check_one(t: onnx.TensorProto, where: str, path) -> None:
    if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
        location = next((e.value for e in t.external_data if e.key == "location"), "?")
        raise FcompError(f"{path}: {where} stores its data outside the model file (location '{location}'); "
                         "fcomp reads single-file models only (onnx.save without external data)")
    if not where.startswith("initializer") and not where.startswith("attribute 'value'"):
        return  # other tensors are never decoded by fcomp; onnx.checker and to_ir judge their nodes
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise FcompError(f"{path}: {where} has negative dimensions {dims}")
    count = math.prod(dims)
    if count > MAX_TENSOR_ELEMENTS:
        raise FcompError(f"{path}: {where} declares {count} elements (dims {dims}); "
                         f"at most {MAX_TENSOR_ELEMENTS} are supported")
    try:
        value = numpy_helper.to_array(t)
    except _BAD_INPUT as exc:  # decoding untrusted bytes: numpy/onnx raise ValueError, TypeError, KeyError...
        raise FcompError(f"{path}: {where} (type {dtype_name(t.data_type)}, dims {dims}) cannot be decoded: "
                         f"{_first_line(exc)}") from None
    if value.dtype.kind in "fc" and value.size and not np.all(np.isfinite(value)):
        raise FcompError(f"{path}: {where} contains NaN or infinite values")


def dtype_name(code: int) -> str:
    """ONNX element type name; a number the enum does not know (a corrupt file) is shown as the number."""
    return onnx.TensorProto.DataType.Name(code) if code in onnx.TensorProto.DataType.values() else str(code)


def check_and_infer(model: onnx.ModelProto, path) -> onnx.ModelProto:
    if not model.graph.node:
        raise FcompError(f"{path}: not an ONNX model with a graph (no nodes found)")
    try:
        onnx.checker.check_model(model)
    except _BAD_INPUT as exc:
        raise FcompError(f"{path}: invalid ONNX model: {_first_line(exc)}") from None
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except _BAD_INPUT as exc:
        raise FcompError(f"{path}: ONNX shape inference failed: {_first_line(exc)}") from None
