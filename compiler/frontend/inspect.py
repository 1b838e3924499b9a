"""`fcomp inspect`: what is in an ONNX file and what fcomp would make of it, before any work.

Per node: the user's name, op, output shape, parameters, MACs, and whether fcomp can build it -- and if not,
every reason, not only the first (the same checks `import_onnx` runs: the file's tensors, onnx.checker, shape
inference, the normalization passes and to_ir's per-node rules). Also what the normalization passes would
change (BatchNorm folded into the Conv, Gemm -> MatMul + Add, Identity removed, ...). An unsupported model is
still inspected; only a file that is not a readable ONNX model at all raises FcompError.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import onnx
from onnx import helper

from ..errors import FcompError, UnsupportedModelError, first_line, one_line, short_name
from .load import (_BAD_INPUT, unreadable, MAX_FILE_BYTES, _graph_tensors, check_tensors, check_text, dtype_name,
                   inline_external_data)
from .passes import CheckShapes, FixBatchDimension, SanitizeNames, normalization_passes
from .to_ir import SUPPORTED_OPS, collect_problems

# What fcomp builds for a node that stays (ops whose lowering is not obvious from their name).
_LOWERED = {"Clip": "clip to constant bounds: fcomp's hls4ml layer nnet::fcomp_clip, RTL fc_clip",
            "Concat": "channel concat: hls4ml Concatenate (a chain for > 2 inputs), RTL fc_concat",
            "Resize": "nearest upsample by integer factors: hls4ml Resize (resize_nearest), RTL fc_upsample",
            "Upsample": "nearest upsample by integer factors: hls4ml Resize (resize_nearest), RTL fc_upsample",
            "HardSigmoid": "hls4ml's hard_sigmoid (slope and shift at 16 fraction bits, exact arithmetic, one cast), "
                           "RTL fc_hardsigmoid",
            "HardSwish": "x * hard_sigmoid(x) (1/6, 1/2 at 16 fraction bits), exact, one cast: fcomp's hls4ml layer "
                         "nnet::fcomp_hardswish (hls4ml has none), RTL fc_hardswish",
            "Sigmoid": "hls4ml's table sigmoid (1024 entries over [-8, 8), in the result type), RTL fc_sigmoid",
            "Reshape": "a flatten to (1, N)", "Flatten": "a flatten to (1, N)",
            "GlobalAveragePool": "hls4ml GlobalAveragePooling2D, RTL fc_gap"}

def _grouped_text(group: int, depthwise: bool, multiplier: int) -> str:
    kind = "depthwise conv" if depthwise else "grouped conv"
    hls = ("hls4ml DepthwiseConv2D" if depthwise and multiplier == 1 else
           "hls4ml Conv2D with the block-diagonal kernel (its zeros cost hls4ml cycles)")
    return (f"{kind} (group={group}): weights kept at 8 bits, not pruned or ternarized; {hls}; RTL fc_mac_layer "
            "with per-PE lanes (each output reads only its group's window lanes)")


# What each normalization pass does to a node it removes, in the words of the table.
_REMOVED = {"ConstantsToInitializers": "becomes an initializer", "FoldConstantWeights": "folded into a constant (weight or shape)",
            "RemoveIdentities": "removed (no-op on hardware)", "FoldBatchNorm": "folded into the Conv before it",
            "GemmToMatMul": "becomes MatMul + Add (bias)", "ShapeToConstant": "becomes a constant (static shape)",
            "CastLikeToCast": "becomes a Cast (then folded when constant)",
            "ReduceMeanToGlobalAveragePool": "becomes GlobalAveragePool (mean over H, W)",
            "FoldQuantizers": "folded into a constant (the weight the quantized model computes with)",
            "QuantizersToClip": "becomes a Clip to the quantizer's range (its grid rounding runs at fcomp's "
                                "fixed-point types; report.json check.quantized_model measures the difference)"}


def inspect_model(path) -> dict:
    """Inspect an ONNX file; returns a JSON-serializable dict (see `format_inspect` for the human view)."""
    path = Path(path)
    model = _read(path)
    problems: list[str] = []  # model-level; node-level ones go to their node's row

    check_text(model, path)  # names that are not text cannot even be shown
    tensor_problems: list[str] = []
    locations = sorted({e.value for t, _ in _graph_tensors(model.graph) for e in t.external_data
                        if e.key == "location"})
    inlined = inline_external_data(model, path, tensor_problems)
    check_tensors(model, path, tensor_problems)
    problems += [_strip(t, path) for t in tensor_problems]
    external = any(t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data)
                   for t, _ in _graph_tensors(model.graph))
    try:
        if not external:  # onnx.checker would look for the external files (relative to the current directory)
            onnx.checker.check_model(model)
    except _BAD_INPUT as exc:
        problems.append(f"invalid ONNX model: {first_line(exc)}")

    fixed = _copy(model)
    try:
        fixed, _ = FixBatchDimension(path).apply(fixed)
    except FcompError as exc:
        _note(exc, problems, {}, path)
        fixed = _copy(model)
    try:
        shaped = onnx.shape_inference.infer_shapes(fixed)
    except _BAD_INPUT as exc:
        problems.append(f"ONNX shape inference failed: {first_line(exc)}")
        shaped = fixed
    shapes = {v.name: _shape(v) for v in list(shaped.graph.value_info) + list(shaped.graph.input)
              + list(shaped.graph.output)}
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    for n in model.graph.node:  # Constant nodes hold weights too
        if n.op_type == "Constant" and n.attribute and n.attribute[0].HasField("t"):
            dims[n.output[0]] = list(n.attribute[0].t.dims)

    rows, by_name = [], {}
    for k, n in enumerate(model.graph.node):
        row = _row(k, n, shapes, dims)
        rows.append(row)
        for key in (n.name, next((o for o in n.output if o), None)):
            if key:
                by_name.setdefault(key, row)
        if n.domain not in ("", "ai.onnx"):
            row["problems"].append(f"op of domain '{n.domain}' is not a standard ONNX op")
        elif n.op_type not in SUPPORTED_OPS:
            row["problems"].append("unsupported op")

    # The passes (as in import_onnx) only run on files whose tensors decode and that onnx.checker accepts.
    normalization = _normalize(model, path, problems, by_name) if not problems else []
    for r in rows:   # a node the passes fold away (a Shape of a static tensor, a Cast of a weight) is never built
        if r["normalized"] and r["problems"] == ["unsupported op"]:
            r["problems"] = []
    if inlined:
        normalization.insert(0, {"pass": "ExternalData", "changes": [
            f"{inlined} tensor(s) read from external data file(s) {', '.join(repr(l) for l in locations)} "
            "in the model's folder (and stored inline in model.normalized.onnx)"]})
    try:  # the verdict is import_onnx's own, so inspect and build can never disagree
        from . import import_onnx

        import_onnx(path)
        importable, import_error = True, None
    except FcompError as exc:
        importable, import_error = False, str(exc)
    unsupported = [r for r in rows if r["problems"]]
    if not importable and not problems and not unsupported:
        problems.append(_strip(import_error, path))
    for r in rows:
        r["supported"] = not r["problems"]
        r["lowered"] = _LOWERED.get(r["op"]) if r["supported"] and not r["normalized"] and not r["domain"] \
            else None
        if r.get("group") and r["supported"] and not r["domain"]:
            r["lowered"] = _grouped_text(r["group"], r["depthwise"], r["multiplier"])
    return {
        "file": str(path), "size_bytes": path.stat().st_size, "ir_version": int(model.ir_version),
        "opset": next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "opsets": {o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
        "producer": " ".join(x for x in (model.producer_name, model.producer_version) if x),
        "graph": model.graph.name,
        "inputs": [_io(v) for v in model.graph.input if v.name not in dims],
        "outputs": [_io(v) for v in model.graph.output],
        "nodes": rows,
        "totals": {"nodes": len(rows), "params": sum(r["params"] for r in rows),
                   "macs": sum(r["macs"] for r in rows), "supported_nodes": len(rows) - len(unsupported),
                   "unsupported_nodes": len(unsupported),
                   "ops": {op: sum(r["op"] == op for r in rows) for op in sorted({r["op"] for r in rows})}},
        "normalization": normalization,
        "problems": problems,
        "supported": importable,
        "import_error": import_error,
    }


# ---- reading and per-node facts ------------------------------------------------------------------------------
def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise FcompError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    if size == 0 or size > MAX_FILE_BYTES:
        raise FcompError(f"{path}: {size} bytes is not an ONNX model fcomp can read")
    try:
        return onnx.load_model(os.fspath(path), load_external_data=False)
    except _BAD_INPUT as exc:
        raise unreadable(path, exc) from None


def _copy(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    return m


def _shape(vi) -> list | None:
    if vi.type.WhichOneof("value") != "tensor_type" or not vi.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in vi.type.tensor_type.shape.dim]


def _io(vi) -> dict:
    t = vi.type.tensor_type
    return {"name": vi.name, "shape": _shape(vi), "dtype": dtype_name(t.elem_type).lower()}


def _count(shape) -> int:
    return math.prod(d for d in shape if isinstance(d, int) and d > 0) if shape else 0


def _row(k, n, shapes, dims) -> dict:
    out = next((o for o in n.output if o), "")
    out_shape = shapes.get(out)
    ins = [i for i in n.input if i]
    if ins and all(i in dims for i in ins) and n.op_type != "Constant":
        # A weight expression (Identity/Cast/Transpose/Mul of constants): its result is a constant too, whose
        # parameters count once, at the layer that uses it.
        dims[out] = list(out_shape) if out_shape and all(isinstance(d, int) for d in out_shape) else dims[ins[0]]
        params = 0
    else:
        params = sum(_count(dims[i]) for i in n.input if i in dims)
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    macs = 0
    w = dims.get(n.input[1]) if len(n.input) > 1 else None
    if out_shape and w and all(isinstance(d, int) for d in out_shape[1:]):
        per_sample = _count(out_shape[1:])
        if n.op_type == "Conv" and len(w) >= 3:
            macs = per_sample * _count(w[1:])          # each output: in/group x kernel products
        elif n.op_type == "Gemm" and len(w) == 2:
            macs = per_sample * w[1 if attrs.get("transB", 0) else 0]
        elif n.op_type == "MatMul" and len(w) == 2:
            macs = per_sample * w[0]
    row = {"index": k, "name": n.name, "op": n.op_type, "domain": n.domain, "inputs": list(n.input),
           "outputs": list(n.output), "output_shape": out_shape, "params": int(params), "macs": int(macs),
           "supported": True, "problems": [], "normalized": None}
    if n.op_type == "Conv" and int(attrs.get("group", 1)) != 1:
        row["group"] = int(attrs["group"])
        row["depthwise"] = bool(w and len(w) >= 2 and w[1] == 1)
        row["multiplier"] = int(w[0]) // row["group"] if w and isinstance(w[0], int) else 1
    return row


# ---- normalization: what each pass changes, and every problem after it -------------------------------------------
def _normalize(model, path, problems, by_name) -> list[dict]:
    """Run import_onnx's passes on a copy, one at a time, recording which nodes each one removes or adds."""
    m = _copy(model)
    try:   # as import_onnx's loader does: passes that need shapes (ReduceMean -> GlobalAveragePool) see them
        m = onnx.shape_inference.infer_shapes(m)
    except _BAD_INPUT:
        pass
    changes = []
    passes = normalization_passes(path)
    try:
        for p in passes:
            before = {_key(n) for n in m.graph.node}
            ir_before = m.ir_version
            for _ in range(1000):
                m, changed = p.apply(m)
                if not changed:
                    break
            after = {_key(n) for n in m.graph.node}
            removed = sorted(before - after)
            what = []
            for name, op in removed:
                desc = _REMOVED.get(p.name, "removed")
                if name in by_name:
                    by_name[name]["normalized"] = desc
                what.append(f"{op} '{name}' {desc}")
            if p.name == "LowerIrVersion" and m.ir_version != ir_before:
                what.append(f"IR version {ir_before} -> {m.ir_version} (what ONNX Runtime reads)")
            if p.name == "FixBatchDimension":
                what += [f"input '{v.name}' batch dimension -> 1" for v in model.graph.input
                         if _shape(v) and _shape(v)[0] != 1 and v.name in {i.name for i in m.graph.input}]
            if p.name == "GemmToMatMul":
                what = [f"Gemm '{name}' becomes MatMul + Add (bias)" for name, op in removed]
            if what:
                changes.append({"pass": p.name, "changes": what})
        sanitizer = SanitizeNames()
        m, _ = sanitizer.apply(m)
        renamed = sum(1 for new, raw in sanitizer.table.original.items() if new != raw)
        if renamed:
            changes.append({"pass": "SanitizeNames",
                            "changes": [f"{renamed} tensor names made safe C++/TCL/file identifiers"]})
        del m.graph.value_info[:]
        from .load import check_and_infer

        m = check_and_infer(m, path)
        CheckShapes(path).apply(m)
    except FcompError as exc:
        _note(exc, problems, by_name, path)
        return changes
    names = dict(sanitizer.table.original)
    for exc in collect_problems(m, path, names, dict(sanitizer.node_original)):
        _note(exc, problems, by_name, path)
    return changes


def _key(n) -> tuple[str, str]:
    """A node across passes: its name (unnamed: its first output) and op; passes may rename its output."""
    return n.name or next((o for o in n.output if o), "?"), n.op_type


def _note(exc: FcompError, problems: list[str], by_name: dict, path) -> None:
    """File a problem under its node's row when the error names one, else under the model."""
    if isinstance(exc, UnsupportedModelError) and exc.node is not None and exc.node in by_name:
        row, reason = by_name[exc.node], exc.reason
        generic = reason.startswith(("unsupported op", "op of domain"))  # already noted from the op alone
        if not (generic and row["problems"]) and reason not in row["problems"]:
            row["problems"].append(reason)
        return
    text = _strip(str(exc), path)
    if text not in problems:
        problems.append(text)


def _strip(message: str, path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


# ---- the human view ---------------------------------------------------------------------------------------------
def format_inspect(d: dict) -> str:
    """The inspection as a table for a terminal (names shortened and made printable)."""
    def shape(s):
        return "?" if s is None else "x".join(str(x) if x is not None else "?" for x in s)

    def name(s, width=34):
        s = one_line(s) if s else "-"
        return s if len(s) <= width else s[:width - 3] + "..."

    lines = [f"{one_line(d['file'])}: ONNX IR {d['ir_version']}, opset {d['opset']}"
             + (f", from {one_line(d['producer'])}" if d["producer"] else ""),
             "inputs:  " + ", ".join(f"{name(v['name'])} {shape(v['shape'])} {v['dtype']}" for v in d["inputs"]),
             "outputs: " + ", ".join(f"{name(v['name'])} {shape(v['shape'])} {v['dtype']}" for v in d["outputs"]),
             ""]
    header = f"{'#':>3}  {'node':<34}  {'op':<20}  {'output':<14}  {'params':>10}  {'MACs':>12}  ok   note"
    lines += [header, "-" * len(header)]
    for r in d["nodes"]:
        note = "; ".join(r["problems"]) if r["problems"] else (r["normalized"] or r.get("lowered") or "")
        op = r["op"] if not r["domain"] else f"{r['domain']}.{r['op']}"
        lines.append(f"{r['index']:>3}  {name(r['name'] or '(' + ','.join(r['outputs'])[:20] + ')'):<34}  "
                     f"{name(op, 20):<20}  {shape(r['output_shape']):<14}  {r['params']:>10,}  {r['macs']:>12,}  "
                     f"{'yes' if r['supported'] else 'NO ':<3}  {one_line(short_name(note, 300))}")
    t = d["totals"]
    lines += ["-" * len(header),
              f"{t['nodes']} nodes ({t['unsupported_nodes']} unsupported), {t['params']:,} parameters, "
              f"{t['macs']:,} MACs per inference"]
    if d["normalization"]:
        lines += ["", "normalization (what fcomp does before building):"]
        for step in d["normalization"]:
            for c in step["changes"]:
                lines.append(f"  {step['pass']}: {one_line(short_name(c, 200))}")
    if d["problems"]:
        lines += ["", "model problems:"] + [f"  - {one_line(p)}" for p in d["problems"]]
    verdict = "supported: fcomp can build this model" if d["supported"] else \
        f"NOT supported: {t['unsupported_nodes']} node(s) and {len(d['problems'])} model-level problem(s) above"
    lines += ["", verdict]
    return "\n".join(lines)


__all__ = ["inspect_model", "format_inspect"]
