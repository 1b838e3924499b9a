"""Read an ONNX file and check it: every way a file can be unusable ends in one FcompError line."""

from __future__ import annotations

import hashlib
import math
import os
import stat
from pathlib import Path

import google.protobuf.message
import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import FcompError, first_line, first_line as _first_line, short_name

MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit for a single message
MAX_TENSOR_ELEMENTS = 1 << 31  # as passes.CheckShapes: larger tensors are not an FPGA model
# What third-party code (protobuf, onnx's checker and shape inference, numpy decoding) raises on bad input.
# Deliberately not MemoryError or KeyboardInterrupt: running out of memory is not a verdict on the model.
_BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError,
              UnicodeError, AssertionError, NotImplementedError, OSError, onnx.checker.ValidationError,
              onnx.shape_inference.InferenceError, google.protobuf.message.DecodeError)


def unreadable(path, exc: BaseException) -> BaseException:
    """The error to raise for a file onnx could not decode: FcompError naming it, except protobuf's "Arena alloc
    failed", which is running out of memory while decoding (a MemoryError, not a verdict on the model)."""
    if "alloc failed" in str(exc).lower():
        return MemoryError(f"{path}: out of memory while decoding the model ({_first_line(exc)})")
    return FcompError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_first_line(exc)})")


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
        raise unreadable(path, exc) from None
    check_text(model, path)
    inline_external_data(model, path)
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
        raise FcompError(f"{path}: {where} stores its data outside the model file (location '{location}') "
                         "and it was not read (see the external data error above)")
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


# Bytes per element of the types an external tensor may have (raw little-endian data, as onnx writes it).
_ITEM_BYTES = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.DOUBLE: 8, onnx.TensorProto.FLOAT16: 2,
               onnx.TensorProto.BFLOAT16: 2, onnx.TensorProto.BOOL: 1, onnx.TensorProto.INT8: 1,
               onnx.TensorProto.UINT8: 1, onnx.TensorProto.INT16: 2, onnx.TensorProto.UINT16: 2,
               onnx.TensorProto.INT32: 4, onnx.TensorProto.UINT32: 4, onnx.TensorProto.INT64: 8,
               onnx.TensorProto.UINT64: 8}
_EXTERNAL_KEYS = ("location", "offset", "length", "checksum")


def inline_external_data(model: onnx.ModelProto, path, problems: list[str] | None = None) -> int:
    """Read every tensor stored in an external data file into the model (raw_data); returns the count.

    torch's dynamo exporter and `onnx.save(..., save_as_external_data=True)` keep weights in a file beside the
    model. Its `location` comes from the (untrusted) model, so it is resolved here, once, and only a regular
    file inside the model's own folder is read: an absolute path, `..` or a symlink leading out of the folder,
    a missing or non-regular file, an offset/length outside the file or a length that does not match the
    tensor's dims and type, or a wrong checksum, are one FcompError naming the tensor. onnx's own loader is
    never asked to follow a location. `problems`: collect the messages instead of raising (`fcomp inspect`).
    """
    folder = Path(os.path.abspath(Path(path).parent))
    try:
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise FcompError(f"{path}: the model's folder cannot be resolved ({first_line(exc)})") from None
    total, count = 0, 0
    for t, where in list(_graph_tensors(model.graph)):
        if t.data_location != onnx.TensorProto.EXTERNAL and not len(t.external_data):
            continue
        try:
            data = _read_external(t, where, path, root)
        except FcompError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            continue
        total += len(data)
        if total > MAX_FILE_BYTES:
            raise FcompError(f"{path}: the external data adds up to more than {MAX_FILE_BYTES} bytes "
                             "(ONNX's 2 GiB protobuf limit); fcomp keeps the model in one protobuf")
        t.ClearField("external_data")
        t.data_location = onnx.TensorProto.DEFAULT
        t.raw_data = data
        count += 1
    return count


def _read_external(t: onnx.TensorProto, where: str, path, root: Path) -> bytes:
    def bad(why):
        return FcompError(f"{path}: {where}: external data {why}")

    if t.data_location != onnx.TensorProto.EXTERNAL:
        raise bad("entries are set but data_location is not EXTERNAL")
    info: dict[str, str] = {}
    for e in t.external_data:
        if e.key not in _EXTERNAL_KEYS:
            raise bad(f"has an unknown key '{short_name(e.key, 60)}' (known: {', '.join(_EXTERNAL_KEYS)})")
        if e.key in info:
            raise bad(f"gives '{e.key}' twice")
        info[e.key] = e.value
    location = info.get("location", "")
    shown = short_name(location, 120)
    if not location or "\x00" in location:
        raise bad("has no usable 'location'")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        raise bad(f"location '{shown}' is an absolute path; fcomp reads external data from the model's own "
                  "folder only")
    if t.data_type not in _ITEM_BYTES:
        raise bad(f"of type {dtype_name(t.data_type)} is not supported (numeric tensors only)")
    dims = list(t.dims)
    if any(d < 0 for d in dims) or math.prod(dims) > MAX_TENSOR_ELEMENTS:
        raise bad(f"declares dims {dims}; at most {MAX_TENSOR_ELEMENTS} elements are supported")
    want = math.prod(dims) * _ITEM_BYTES[t.data_type]
    try:   # symlinks resolved first: where the location really leads decides, whether or not it exists
        target = (root / location).resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as exc:   # a symlink loop, a name too long
        raise bad(f"location '{shown}' cannot be resolved ({first_line(exc)})") from None
    if not target.is_relative_to(root):
        raise bad(f"location '{shown}' resolves outside the model's folder {root}; fcomp reads external data "
                  "from that folder only")
    if not target.exists():
        raise bad(f"file '{shown}' is missing (looked in {root})")
    offset, length = info.get("offset", "0"), info.get("length")
    for key, value in (("offset", offset), ("length", length)):
        if value is not None and not (value.isascii() and value.isdigit()):
            raise bad(f"{key} '{short_name(value, 40)}' is not a non-negative integer")
    offset = int(offset)
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise bad(f"file '{shown}' cannot be opened ({first_line(exc)})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise bad(f"location '{shown}' is not a regular file")
    with os.fdopen(fd, "rb") as f:
        length = st.st_size - offset if length is None else int(length)
        if offset > st.st_size or offset + length > st.st_size:
            raise bad(f"offset {offset} + length {length} runs past the end of '{shown}' ({st.st_size} bytes)")
        if length != want:
            raise bad(f"length {length} does not match the tensor: dims {dims} of {dtype_name(t.data_type)} "
                      f"are {want} bytes")
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise bad(f"file '{shown}' ended early (read {len(data)} of {length} bytes)")
    checksum = info.get("checksum")
    if checksum is not None and hashlib.sha1(data).hexdigest() != checksum.lower():
        raise bad(f"of '{shown}' does not match its SHA-1 checksum")
    return data


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
