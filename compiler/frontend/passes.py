"""Normalization passes on the ONNX graph, each small and testable alone (after qonnx's Transformation).

A pass has `apply(model) -> (model, changed)`; `run_passes` repeats each until it reports no change.
They turn what exporters write into the one form `to_ir` reads: batch fixed to 1, constants as
initializers, weight expressions (Cast/Mul/Transpose/... of initializers) folded, no Identity/Dropout,
BatchNorm folded into the Conv before it, Gemm as MatMul + Add, and every name sanitized. The result is
still a valid ONNX model that ONNX Runtime runs (`model.normalized.onnx` in the build output), so every
later stage can be checked against it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import FcompError, UnsupportedModelError, first_line
from ..names import NameTable
from .load import _BAD_INPUT, MAX_TENSOR_ELEMENTS, dtype_name


class Pass:
    def apply(self, model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__


def run_passes(model, passes, max_rounds: int = 1000):
    for p in passes:
        for _ in range(max_rounds):
            model, changed = p.apply(model)
            if not changed:
                break
    return model


def initializers(model) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def consumers(model, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if tensor in n.input]


def is_graph_output(model, tensor: str) -> bool:
    return any(o.name == tensor for o in model.graph.output)


def standard(n: onnx.NodeProto, *ops: str) -> bool:
    """n is one of `ops` of the standard ONNX domain (a custom domain may reuse the name: qonnx has its own Conv)."""
    return n.op_type in ops and n.domain in ("", "ai.onnx")


def _rename_input(model, old: str, new: str) -> None:
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            if name == old:
                n.input[i] = new


class FixBatchDimension(Pass):
    """Batch 1: a dynamic first dimension becomes 1; any other dynamic dimension is an error."""

    def __init__(self, path="model"):
        self.path = path

    def apply(self, model):
        inits = initializers(model)
        real_inputs = [i for i in model.graph.input if i.name not in inits]
        # Old exporters list initializers as graph inputs too; they are weights, not inputs.
        changed = len(real_inputs) != len(model.graph.input)
        if changed:
            keep = list(real_inputs)
            del model.graph.input[:]
            model.graph.input.extend(keep)
        for extra in real_inputs[1:]:
            for c in consumers(model, extra.name):
                if c.op_type in ("Conv", "Gemm", "MatMul") and list(c.input).index(extra.name) > 0:
                    raise UnsupportedModelError(self.path, f"weights '{extra.name}' are a graph input, not a "
                                                "constant initializer (missing weights)", node=c.name, op=c.op_type)
        if len(real_inputs) != 1:
            raise FcompError(f"{self.path}: the model has {len(real_inputs)} inputs; fcomp builds models with one input")
        for vi in list(model.graph.input) + list(model.graph.output):
            ttype = vi.type.tensor_type
            if vi.type.WhichOneof("value") != "tensor_type":
                raise FcompError(f"{self.path}: '{vi.name}' is not a tensor")
            if ttype.elem_type != onnx.TensorProto.FLOAT:
                raise FcompError(f"{self.path}: '{vi.name}' has element type "
                                 f"{dtype_name(ttype.elem_type)}; fcomp needs float32 models")
            if not ttype.HasField("shape"):
                raise FcompError(f"{self.path}: '{vi.name}' has no shape")
            for k, d in enumerate(ttype.shape.dim):
                fixed = d.HasField("dim_value") and d.dim_value > 0
                if k == 0 and not (fixed and d.dim_value == 1):
                    if fixed:
                        raise FcompError(f"{self.path}: '{vi.name}' has batch size {d.dim_value}; export with batch 1")
                    d.Clear()
                    d.dim_value = 1
                    changed = True
                elif k > 0 and not fixed:
                    raise FcompError(f"{self.path}: '{vi.name}' dimension {k} is dynamic "
                                     f"('{d.dim_param}'); fcomp needs fixed shapes except the batch")
        if changed:
            del model.graph.value_info[:]  # stale after a batch change; re-inferred below
            try:
                model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
            except _BAD_INPUT as exc:  # onnx's InferenceError/ValidationError: the model is inconsistent
                raise FcompError(f"{self.path}: ONNX shape inference failed after fixing the batch to 1: "
                                 f"{first_line(exc)}") from None
        return model, changed


class LowerIrVersion(Pass):
    """Set the IR version to the lowest one that carries the model's opset.

    onnx's make_model stamps the newest IR version (14 with onnx 1.23) while ONNX Runtime 1.31 reads up to 13;
    the ops fcomp builds exist since early opsets, so the older IR version loses nothing and ORT can run the model.
    """

    def apply(self, model):
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        needed = min((row[1] for row in helper.VERSION_TABLE if row[2] >= opset), default=model.ir_version)
        if model.ir_version > needed:
            model.ir_version = needed
            return model, True
        return model, False


class ConstantsToInitializers(Pass):
    """Constant nodes become initializers, so every weight is found in one place."""

    FORMS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}

    def apply(self, model):
        for n in model.graph.node:
            if not standard(n, "Constant") or len(n.attribute) != 1 or len(n.output) != 1:
                continue
            attr = n.attribute[0]
            if attr.name == "value":
                t = onnx.TensorProto()
                t.CopyFrom(attr.t)
                t.name = n.output[0]
            elif attr.name in self.FORMS:
                value = np.asarray(helper.get_attribute_value(attr), dtype=self.FORMS[attr.name])
                t = numpy_helper.from_array(value, n.output[0])
            else:
                continue  # sparse/string constants: left for to_ir to reject by node
            model.graph.initializer.append(t)
            model.graph.node.remove(n)
            return model, True
        return model, False


_NUMERIC_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL,
                  TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
                  TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}


class FoldConstantWeights(Pass):
    """Cast / Mul / Div / Transpose / Reshape / Squeeze / Unsqueeze / Gather / Concat of initializers only become
    one initializer.

    Also the shape arithmetic exporters write for `x.view(x.size(0), -1)` (Shape -> Gather/Squeeze -> Unsqueeze
    -> Concat -> Reshape), once `ShapeToConstant` has made the Shape a constant.

    Weights stored as an expression (a compressed model's `Mul(Cast(int8 codes), scale)`, a transposed or
    reshaped weight) then reach Conv/MatMul as plain float initializers, the one form `to_ir` reads. The
    folded initializer keeps the node's output name. A node is left alone (for later checks to report) when its
    result cannot be computed exactly the ONNX way (unusual element types, integer division by zero,
    out-of-range float->int casts, invalid shapes) or when it produces a graph output.
    """

    OPS = ("Cast", "Mul", "Div", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Gather", "Concat")

    def _folds(self, n) -> bool:
        return standard(n, *self.OPS)

    def apply(self, model):
        inits = initializers(model)
        outputs = {o.name for o in model.graph.output}
        folded = []
        for n in model.graph.node:  # topological order: a fold can make the next node foldable
            if not self._folds(n) or len(n.output) != 1:
                continue
            ins = [i for i in n.input if i]
            out = n.output[0]
            if not ins or not all(i in inits for i in ins) or out in outputs or out in inits:
                continue
            if any(inits[i].data_type not in _NUMERIC_TYPES for i in ins):
                continue
            value = self._compute(n, [numpy_helper.to_array(inits[i]) if i else None for i in n.input])
            if value is None:
                continue
            t = numpy_helper.from_array(np.array(value, order="C"), out)  # a 0-d result stays 0-d
            model.graph.initializer.append(t)
            inits[out] = t
            folded.append(n)
        for n in folded:
            model.graph.node.remove(n)
        if folded:
            _drop_unused_initializers(model)
        return model, bool(folded)

    @staticmethod
    def _compute(n, args):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        x = args[0]
        if x is None:
            return None
        try:
            with np.errstate(all="ignore"):
                if n.op_type == "Cast":
                    to = attrs.get("to")
                    if to not in _NUMERIC_TYPES:
                        return None
                    dtype = helper.tensor_dtype_to_np_dtype(to)
                    if np.issubdtype(dtype, np.integer) and np.issubdtype(x.dtype, np.floating):
                        info = np.iinfo(dtype)
                        if not np.all(np.isfinite(x)) or x.size and (x.min() < info.min or x.max() > info.max):
                            return None
                    return x.astype(dtype)
                if n.op_type in ("Mul", "Div"):
                    if len(args) != 2 or args[1] is None or args[0].dtype != args[1].dtype:
                        return None
                    a, b = args
                    if n.op_type == "Mul":
                        return (a * b).astype(a.dtype)
                    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
                        if a.dtype == np.bool_ or np.any(b == 0):
                            return None
                        q = np.floor_divide(a, b)  # ONNX integer Div truncates toward zero
                        q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
                        return q.astype(a.dtype)
                    return np.divide(a, b).astype(a.dtype)
                if n.op_type == "Gather":
                    if len(args) != 2 or args[1] is None or not np.issubdtype(args[1].dtype, np.integer) \
                            or x.ndim == 0:
                        return None
                    axis = int(attrs.get("axis", 0))
                    if not -x.ndim <= axis < x.ndim:
                        return None
                    idx = args[1].astype(np.int64)
                    size = x.shape[axis]
                    if idx.size and (idx.min() < -size or idx.max() >= size):
                        return None
                    return np.take(x, np.where(idx < 0, idx + size, idx), axis=axis)
                if n.op_type == "Concat":
                    if any(a is None for a in args) or len({a.dtype for a in args}) != 1 \
                            or len({a.ndim for a in args}) != 1 or x.ndim == 0 or "axis" not in attrs:
                        return None
                    axis = int(attrs["axis"])
                    if not -x.ndim <= axis < x.ndim:
                        return None
                    return np.concatenate(args, axis=axis)
                if n.op_type == "Transpose":
                    perm = attrs.get("perm")
                    return np.transpose(x, perm if perm else None)
                if n.op_type == "Reshape":
                    if len(args) < 2 or args[1] is None:
                        return None
                    shape = [int(d) for d in args[1].reshape(-1)]
                    if not attrs.get("allowzero", 0):
                        shape = [x.shape[i] if d == 0 and i < x.ndim else d for i, d in enumerate(shape)]
                    return np.reshape(x, shape)
                axes = attrs.get("axes")
                if axes is None and len(args) > 1 and args[1] is not None:
                    axes = [int(d) for d in args[1].reshape(-1)]
                if n.op_type == "Squeeze":
                    if axes is None:
                        return np.squeeze(x)
                    axes = tuple(sorted({a % x.ndim for a in axes})) if x.ndim else ()
                    if any(x.shape[a] != 1 for a in axes):
                        return None
                    return np.squeeze(x, axis=axes)
                if n.op_type == "Unsqueeze":
                    if axes is None:
                        return None
                    rank = x.ndim + len(axes)
                    norm = sorted({a % rank for a in axes})
                    if len(norm) != len(axes) or any(not -rank <= a < rank for a in axes):
                        return None
                    return np.expand_dims(x, tuple(norm))
        except (ValueError, TypeError, IndexError):
            return None
        return None


def _known_shapes(model) -> dict[str, list]:
    """Tensor -> its dims from the graph inputs, value_info, outputs and initializers (None for a dynamic dim)."""
    out = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        if vi.type.WhichOneof("value") == "tensor_type" and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                            for d in vi.type.tensor_type.shape.dim]
    for t in model.graph.initializer:
        out[t.name] = list(t.dims)
    return out


def _elem_types(model) -> dict[str, int]:
    out = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        if vi.type.WhichOneof("value") == "tensor_type" and vi.type.tensor_type.elem_type:
            out[vi.name] = vi.type.tensor_type.elem_type
    for t in model.graph.initializer:
        out[t.name] = t.data_type
    return out


class ShapeToConstant(Pass):
    """Shape(x) of a tensor whose shape is static (the batch already fixed to 1) becomes an int64 initializer.

    torch's exporters compute Reshape targets from the input's shape (`x.view(x.size(0), -1)`); with every shape
    fixed, that arithmetic is constant and `FoldConstantWeights` folds the rest of it."""

    def apply(self, model):
        shapes, outputs = _known_shapes(model), {o.name for o in model.graph.output}
        for n in model.graph.node:
            if not standard(n, "Shape") or len(n.input) != 1 or len(n.output) != 1 or n.output[0] in outputs:
                continue
            dims = shapes.get(n.input[0])
            if dims is None or any(d is None for d in dims):
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            rank = len(dims)
            start, end = int(attrs.get("start", 0)), int(attrs.get("end", rank))
            start, end = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))  # ONNX clamps both
            value = np.asarray(dims[start:end], np.int64)
            model.graph.initializer.append(numpy_helper.from_array(value, n.output[0]))
            model.graph.node.remove(n)
            return model, True
        return model, False


class CastLikeToCast(Pass):
    """CastLike(x, like) becomes Cast(x, to=like's element type) when that type is known (torch's dynamo exporter
    writes Clip bounds as CastLike(constant, activation)); `FoldConstantWeights` then folds a constant x."""

    def apply(self, model):
        types = _elem_types(model)
        for idx, n in enumerate(model.graph.node):
            if not standard(n, "CastLike") or len(n.input) != 2 or len(n.output) != 1:
                continue
            to = types.get(n.input[1])
            if to not in _NUMERIC_TYPES:
                continue
            cast = helper.make_node("Cast", [n.input[0]], [n.output[0]], name=n.name, to=int(to))
            _replace_node(model, idx, [cast])
            return model, True
        return model, False


class ReduceMeanToGlobalAveragePool(Pass):
    """ReduceMean over H and W of an NCHW tensor becomes GlobalAveragePool (what torch's dynamo exporter writes
    for `x.mean((2, 3))` and `AdaptiveAvgPool2d(1)`); without keepdims it is followed by a Flatten, so the result
    keeps the (1, C) shape. Axes come from the attribute (opset < 18) or a constant second input."""

    def apply(self, model):
        shapes, inits = _known_shapes(model), initializers(model)
        for idx, n in enumerate(model.graph.node):
            if not standard(n, "ReduceMean") or not n.input or len(n.output) != 1:
                continue
            dims = shapes.get(n.input[0])
            if dims is None or len(dims) != 4:
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            axes = attrs.get("axes")
            if len(n.input) > 1 and n.input[1]:
                if axes is not None or n.input[1] not in inits:
                    continue
                axes = numpy_helper.to_array(inits[n.input[1]]).reshape(-1).tolist()
            if axes is None or any(not -4 <= int(a) < 4 for a in axes) or sorted({int(a) % 4 for a in axes}) != [2, 3] \
                    or len(axes) != 2:
                continue   # reducing C or N, or everything: to_ir rejects it by node
            out = n.output[0]
            if int(attrs.get("keepdims", 1)):
                new = [helper.make_node("GlobalAveragePool", [n.input[0]], [out], name=n.name)]
            else:
                mid = fresh_name(model, f"{out}_gap")
                new = [helper.make_node("GlobalAveragePool", [n.input[0]], [mid], name=n.name),
                       helper.make_node("Flatten", [mid], [out], name=fresh_name(model, f"{n.name}_flatten"),
                                        axis=1)]
            _replace_node(model, idx, new)
            _drop_unused_initializers(model)
            return model, True
        return model, False


def normalization_passes(path="model") -> list[Pass]:
    """The passes `import_onnx` runs before SanitizeNames, in order (`fcomp inspect` runs the same list)."""
    return [LowerIrVersion(), FixBatchDimension(path), ConstantsToInitializers(), CastLikeToCast(),
            ShapeToConstant(), FoldConstantWeights(), FoldQuantizers(), FoldConstantWeights(), QuantizersToClip(),
            RemoveIdentities(), FoldBatchNorm(path), GemmToMatMul(), ReduceMeanToGlobalAveragePool()]


class RemoveIdentities(Pass):
    """Identity and inference-mode Dropout do nothing on hardware."""

    def apply(self, model):
        for n in model.graph.node:
            if standard(n, "Identity", "Dropout") and n.input and n.input[0] and n.output and n.output[0]:
                if len(n.output) > 1 and consumers(model, n.output[1]):
                    continue
                src, dst = n.input[0], n.output[0]
                if is_graph_output(model, dst):
                    # Keep the graph's output name: rename the producer's output instead.
                    producer = next((p for p in model.graph.node if src in p.output), None)
                    if producer is None or len(consumers(model, src)) > 1 or is_graph_output(model, src):
                        continue
                    producer.output[list(producer.output).index(src)] = dst
                    _rename_input(model, src, dst)
                else:
                    _rename_input(model, dst, src)
                model.graph.node.remove(n)
                return model, True
        return model, False


class FoldBatchNorm(Pass):
    """BatchNormalization right after a Conv (its only consumer) is folded into the Conv's weights and bias."""

    def __init__(self, path="model"):
        self.path = path

    def apply(self, model):
        inits = initializers(model)
        for bn in model.graph.node:
            if not standard(bn, "BatchNormalization") or len(bn.input) != 5 or len(bn.output) != 1:
                continue
            conv = next((p for p in model.graph.node if bn.input[0] in p.output), None)
            if conv is None or not standard(conv, "Conv") or len(conv.input) < 2 \
                    or len(consumers(model, bn.input[0])) != 1 \
                    or is_graph_output(model, bn.input[0]):
                continue
            names = list(bn.input[1:5])
            bias = conv.input[2] if len(conv.input) > 2 and conv.input[2] else None
            if not all(n in inits for n in names) or conv.input[1] not in inits or (bias and bias not in inits):
                continue  # not constant: left for to_ir to reject by node
            gamma, beta, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in names)
            eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
            w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
            b = (numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
                 if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0]))
            channels = w.shape[0] if w.ndim else -1
            for what, value in (("scale", gamma), ("B", beta), ("mean", mean), ("var", var), ("conv bias", b)):
                if value.shape != (channels,):
                    raise UnsupportedModelError(self.path, f"BatchNormalization {what} has shape {list(value.shape)}; "
                                                f"folding needs one value per Conv output channel ({channels})",
                                                node=bn.name, op=bn.op_type)
            if not np.all(var + eps > 0):
                raise UnsupportedModelError(self.path, "BatchNormalization variance + epsilon must be positive "
                                            "(cannot fold into the Conv)", node=bn.name, op=bn.op_type)
            with np.errstate(all="ignore"):
                scale = gamma / np.sqrt(var + eps)
                w = (w * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32)
                b = ((b - mean) * scale + beta).astype(np.float32)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise UnsupportedModelError(self.path, "folding BatchNormalization into the Conv overflows float32 "
                                            "(check its scale and variance)", node=bn.name, op=bn.op_type)
            w_name = fresh_name(model, conv.output[0] + "_W_bnfold")
            b_name = fresh_name(model, conv.output[0] + "_b_bnfold")
            model.graph.initializer.extend([numpy_helper.from_array(w, w_name), numpy_helper.from_array(b, b_name)])
            data_in = conv.input[0]
            del conv.input[:]
            conv.input.extend([data_in, w_name, b_name])
            conv.output[0] = bn.output[0]
            model.graph.node.remove(bn)
            _drop_unused_initializers(model)
            return model, True
        return model, False


class GemmToMatMul(Pass):
    """Gemm(A, B, C) with constant B becomes MatMul(A, B') + Add(C'): one form for dense layers."""

    def apply(self, model):
        inits = initializers(model)
        for idx, n in enumerate(model.graph.node):
            if not standard(n, "Gemm") or len(n.input) < 2 or len(n.output) != 1:
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            if attrs.get("transA", 0) or n.input[1] not in inits:
                continue  # left for to_ir to reject with a clear message
            b = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
            if b.ndim != 2:
                continue  # not a weight matrix: to_ir rejects this Gemm by name
            if attrs.get("transB", 0):
                b = b.T
            b = b * np.float32(attrs.get("alpha", 1.0))
            c = None
            if len(n.input) > 2 and n.input[2]:
                if n.input[2] not in inits:
                    continue
                c = numpy_helper.to_array(inits[n.input[2]]).astype(np.float32) * np.float32(attrs.get("beta", 1.0))
                try:  # ONNX lets C broadcast to (M, N); batch 1 makes that a per-output bias
                    c = np.ascontiguousarray(np.broadcast_to(c, (1, b.shape[1])).reshape(-1))
                except ValueError:
                    continue
            base = n.output[0]
            b_name = fresh_name(model, f"{base}_W")
            model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(b), b_name))
            mm_out = fresh_name(model, f"{base}_mm")
            # The MatMul keeps the Gemm's node name, so messages and reports name the user's node.
            new_nodes = [helper.make_node("MatMul", [n.input[0], b_name], [mm_out], name=n.name)]
            if c is not None:
                c_name = fresh_name(model, f"{base}_bias")
                model.graph.initializer.append(numpy_helper.from_array(c, c_name))
                new_nodes.append(helper.make_node("Add", [mm_out, c_name], [n.output[0]],
                                                  name=fresh_name(model, f"{n.name}_bias")))
            else:
                new_nodes[0].output[0] = n.output[0]
            _replace_node(model, idx, new_nodes)
            _drop_unused_initializers(model)
            return model, True
        return model, False


def fresh_name(model, base: str) -> str:
    """`base`, or `base_2`, `base_3`, ...: a name no tensor or node of the model uses yet.

    Passes add tensors (folded weights, MatMul outputs); a user's file may already use the obvious name."""
    used = {t.name for t in model.graph.initializer} | {v.name for v in model.graph.input} \
        | {v.name for v in model.graph.output} | {v.name for v in model.graph.value_info}
    for n in model.graph.node:
        used.update(n.input)
        used.update(n.output)
        used.add(n.name)
    name, k = base, 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    return name


def _replace_node(model, idx: int, new) -> None:
    """Node idx of the graph replaced by the nodes `new`, in their order, where it stood (topological order kept)."""
    del model.graph.node[idx]
    for k, m in enumerate(new):
        model.graph.node.insert(idx + k, m)


def _drop_unused_initializers(model):
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    if len(keep) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)


class CheckShapes(Pass):
    """Every tensor has a known, static, bounded shape after inference (guards against huge declared shapes)."""

    def __init__(self, path="model"):
        self.path = path

    def apply(self, model):
        for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
            dims = vi.type.tensor_type.shape.dim
            if any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
                producer = next((n for n in model.graph.node if vi.name in n.output), None)
                raise UnsupportedModelError(self.path, f"tensor '{vi.name}' has a dynamic or unknown shape",
                                            node=producer.name if producer else None,
                                            op=producer.op_type if producer else None)
            if int(np.prod([d.dim_value for d in dims], dtype=np.float64)) > MAX_TENSOR_ELEMENTS:
                raise FcompError(f"{self.path}: tensor '{vi.name}' declares more than {MAX_TENSOR_ELEMENTS} elements")
        return model, False


class SanitizeNames(Pass):
    """Every node, tensor and the graph get safe unique names; `table.original` maps them back for messages."""

    def __init__(self):
        self.table = NameTable()

    def apply(self, model):
        table = self.table
        tensor_map: dict[str, str] = {"": ""}
        for vi in model.graph.input:
            tensor_map[vi.name] = table.add(vi.name, "t")
        for t in model.graph.initializer:
            tensor_map[t.name] = table.add(t.name, "w")
        for n in model.graph.node:
            for o in n.output:
                if o not in tensor_map:
                    tensor_map[o] = table.add(o, "t")
        node_names = NameTable()
        for k, n in enumerate(model.graph.node):
            # Unnamed nodes are called after their first output; a custom-domain node may have none.
            raw = n.name or next((o for o in n.output if o), "") or f"{n.op_type or 'node'}_{k}"
            n.name = node_names.add(raw, "node")
            node_names.original[n.name] = raw
            for field in (n.input, n.output):
                for i, name in enumerate(field):
                    field[i] = tensor_map.get(name, name)
        for t in model.graph.initializer:
            t.name = tensor_map[t.name]
        for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
            vi.name = tensor_map.get(vi.name, vi.name)
        self.node_original = node_names.original
        model.graph.ClearField("doc_string")
        model.graph.name = table.add(model.graph.name or "model", "model")
        return model, False


# ---- quantized ONNX: QDQ (ONNX Runtime's static quantizer, Brevitas QCDQ) and QONNX Quant / BipolarQuant ---------
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
_Q_RANGES = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255), TensorProto.INT16: (-32768, 32767),
             TensorProto.UINT16: (0, 65535), TensorProto.INT32: (-2 ** 31, 2 ** 31 - 1)}


def is_qonnx(n: onnx.NodeProto, *ops: str) -> bool:
    return n.op_type in ops and n.domain in QONNX_DOMAINS


def _along(v: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """A per-axis quantization parameter (scalar or 1-D of x.shape[axis]) shaped to broadcast against x."""
    v = np.asarray(v)
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    if v.ndim != 1 or not -x.ndim <= axis < x.ndim or v.size != x.shape[axis]:
        raise ValueError("scale/zero point do not match the axis")
    shape = [1] * x.ndim
    shape[axis % x.ndim] = v.size
    return v.reshape(shape)


def quantize_linear(x, scale, zero_point, axis: int, qtype: int) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point) in the integer type `qtype`."""
    lo, hi = _Q_RANGES[qtype]
    s = _along(np.asarray(scale, np.float32), x, axis)
    zp = _along(np.asarray(zero_point, np.int64), x, axis)
    q = np.rint(np.asarray(x, np.float32) / s).astype(np.int64) + zp     # numpy's rint rounds half to even
    return np.clip(q, lo, hi).astype(helper.tensor_dtype_to_np_dtype(qtype))


def dequantize_linear(q, scale, zero_point, axis: int) -> np.ndarray:
    """ONNX DequantizeLinear: (q - zero_point) * scale, float32."""
    s = _along(np.asarray(scale, np.float32), q, axis)
    zp = _along(np.asarray(zero_point, np.int64), q, axis)
    return ((np.asarray(q, np.int64) - zp).astype(np.float32) * s).astype(np.float32)


def qonnx_int_range(bits: float, signed: bool, narrow: bool) -> tuple[float, float]:
    """QONNX Quant's integer range: signed [-2^(b-1) + narrow, 2^(b-1) - 1], unsigned [0, 2^b - 1 - narrow]."""
    if signed:
        return -(2.0 ** (bits - 1)) + (1 if narrow else 0), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0 ** bits - 1 - (1 if narrow else 0)


# qonnx's `resolve_rounding_mode` (qonnx 1.0, custom_op/general/intquant.py)
_QONNX_ROUND = {"ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor,
                "UP": lambda v: np.sign(v) * np.ceil(np.abs(v)), "DOWN": np.fix,
                "HALF_UP": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
                "HALF_DOWN": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5)}


def qonnx_quant(x, scale, zero_point, bits, signed: bool, narrow: bool, rounding: str) -> np.ndarray:
    """QONNX Quant as qonnx's `int_quant` computes it, in the tensors' own float32: y = x / scale + zero_point,
    clamped to the integer range, rounded by `rounding`, then (y - zero_point) * scale; a 1-bit signed Quant is
    bipolar (y >= 0 -> +1, else -1), as qonnx and Brevitas export it."""
    x, s, zp = (np.asarray(v, np.float32) for v in (x, scale, zero_point))
    y = x / s + zp
    if bits == 1 and signed:
        y = np.where(y >= 0, np.float32(1), np.float32(-1))
    else:
        lo, hi = qonnx_int_range(float(bits), signed, narrow)
        y = _QONNX_ROUND[rounding](np.clip(y, np.float32(lo), np.float32(hi)))
    return ((y - zp) * s).astype(np.float32)


def _attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


class FoldQuantizers(FoldConstantWeights):
    """Quantizers of constants become the constant they compute: DequantizeLinear of int8/uint8/int32 weights and
    biases (per tensor or per output channel, `axis`), QuantizeLinear and Clip of constants (Brevitas's QCDQ
    weights: Quantize -> Clip -> Dequantize), QONNX Quant and BipolarQuant of weights. What reaches the Conv or
    MatMul is then the float weight the quantized model computes with, exactly (q - zero_point) * scale. The
    folding itself is FoldConstantWeights'; only the ops and their arithmetic differ."""

    def _folds(self, n) -> bool:
        return standard(n, "QuantizeLinear", "DequantizeLinear", "Clip") or is_qonnx(n, "Quant", "BipolarQuant")

    @staticmethod
    def _compute(n, args):
        try:
            return FoldQuantizers._quantized(n, args)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            return None

    @staticmethod
    def _quantized(n, args):
        x = args[0]
        arg = lambda k: args[k] if len(args) > k else None  # noqa: E731
        if _attr(n, "block_size", 0):
            return None                                       # blocked quantization (opset 21): not folded
        if n.op_type == "DequantizeLinear":
            if x.dtype.kind not in "iu" or arg(1) is None:
                return None
            zp = arg(2) if arg(2) is not None else np.zeros((), np.int64)
            return dequantize_linear(x, arg(1), zp, int(_attr(n, "axis", 1)))
        if n.op_type == "QuantizeLinear":
            if x.dtype.kind != "f" or arg(1) is None:
                return None
            qtype = helper.np_dtype_to_tensor_dtype(arg(2).dtype) if arg(2) is not None else \
                int(_attr(n, "output_dtype", 0) or TensorProto.UINT8)
            if qtype not in _Q_RANGES:
                return None
            zp = arg(2) if arg(2) is not None else np.zeros((), np.int64)
            return quantize_linear(x, arg(1), zp, int(_attr(n, "axis", 1)), qtype)
        if n.op_type == "Clip":
            lo = arg(1) if arg(1) is not None else _attr(n, "min")
            hi = arg(2) if arg(2) is not None else _attr(n, "max")
            return np.clip(x, *(np.asarray(v, x.dtype) if v is not None else None for v in (lo, hi))
                           ).astype(x.dtype) if (lo is not None or hi is not None) else x
        if n.op_type == "Quant":
            if any(arg(k) is None for k in (1, 2, 3)):
                return None
            if str(_attr(n, "rounding_mode", "ROUND")).upper() not in _QONNX_ROUND:
                return None
            return qonnx_quant(x, arg(1), arg(2), float(np.asarray(arg(3)).reshape(-1)[0]),
                               bool(_attr(n, "signed", 1)), bool(_attr(n, "narrow", 0)),
                               str(_attr(n, "rounding_mode", "ROUND")).upper())
        if n.op_type == "BipolarQuant":
            if arg(1) is None:
                return None
            return (np.where(np.asarray(x) >= 0, 1.0, -1.0) * np.asarray(arg(1), np.float64)).astype(np.float32)
        return None


class QuantizersToClip(Pass):
    """An activation quantizer becomes a Clip to its range: QuantizeLinear -> DequantizeLinear (per tensor; with
    Brevitas's Clip of the integers between them, QCDQ), or a QONNX Quant. What it computes is the Clip and a
    rounding to the quantizer's grid; fcomp keeps the Clip (it is how ONNX Runtime's quantizer expresses the
    ReLU it removes: an int8 grid starting at 0) and runs the rounding at the fixed-point types the calibration
    sizes instead (16-bit by default, finer than the int8 grid). `check.quantized_model` in report.json measures
    the C-sim against ONNX Runtime running the quantized model itself."""

    def apply(self, model):
        inits = initializers(model)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        for n in list(model.graph.node):
            if standard(n, "QuantizeLinear") and n.input and n.input[0] not in inits:
                found = self._qdq(model, n, inits)
            elif is_qonnx(n, "Quant") and n.input and n.input[0] not in inits:
                found = self._quant(n, inits)
            else:
                continue
            if found is None:
                continue
            lo, hi, out, drop = found
            if opset >= 11:
                bl = fresh_name(model, f"{n.name or 'q'}_min")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray(lo, np.float32), bl))
                bh = fresh_name(model, f"{n.name or 'q'}_max")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray(hi, np.float32), bh))
                clip = helper.make_node("Clip", [n.input[0], bl, bh], [out], name=n.name)
            else:
                clip = helper.make_node("Clip", [n.input[0]], [out], name=n.name, min=float(lo), max=float(hi))
            index = list(model.graph.node).index(n)
            for d in drop:
                model.graph.node.remove(d)
            model.graph.node.insert(index, clip)
            _drop_unused_initializers(model)
            return model, True
        return model, False

    @staticmethod
    def _scalar(inits, name, default=None):
        if not name:
            return default
        if name not in inits:
            return None
        v = numpy_helper.to_array(inits[name])
        return v.reshape(()) if v.size == 1 else None

    def _qdq(self, model, q, inits):
        """(lo, hi, output, nodes to remove) of a Q -> [Clip ->] DQ chain with per-tensor constants, else None."""
        s, zp = self._scalar(inits, q.input[1]), self._scalar(inits, q.input[2] if len(q.input) > 2 else "",
                                                              np.zeros((), np.uint8))
        if s is None or zp is None or not np.isfinite(s) or s <= 0 or _attr(q, "block_size", 0):
            return None
        qtype = inits[q.input[2]].data_type if len(q.input) > 2 and q.input[2] else \
            int(_attr(q, "output_dtype", 0) or TensorProto.UINT8)
        if qtype not in _Q_RANGES:
            return None
        qmin, qmax = _Q_RANGES[qtype]
        users = consumers(model, q.output[0])
        chain = [q]
        if len(users) == 1 and standard(users[0], "Clip"):               # QCDQ: the integers clipped
            c = users[0]
            bounds = [self._scalar(inits, c.input[k]) if len(c.input) > k and c.input[k] else None for k in (1, 2)]
            if any(len(c.input) > k and c.input[k] and bounds[k - 1] is None for k in (1, 2)):
                return None
            qmin = max(qmin, int(bounds[0])) if bounds[0] is not None else qmin
            qmax = min(qmax, int(bounds[1])) if bounds[1] is not None else qmax
            chain.append(c)
            users = consumers(model, c.output[0])
        # one DequantizeLinear, or several with the same constants (ONNX Runtime's DedicatedQDQPair)
        if not users or not all(standard(u, "DequantizeLinear") for u in users) or \
                any(is_graph_output(model, c.output[0]) for c in chain) or \
                sum(is_graph_output(model, u.output[0]) for u in users) > 1:
            return None
        for dq in users:
            ds = self._scalar(inits, dq.input[1])
            dz = self._scalar(inits, dq.input[2] if len(dq.input) > 2 else "", np.zeros((), np.uint8))
            if ds is None or dz is None or float(ds) != float(s) or int(dz) != int(zp):
                return None
        keep = next((u for u in users if is_graph_output(model, u.output[0])), users[0])
        for u in users:               # the other dequantized copies read the one Clip's output
            if u is not keep:
                _rename_input(model, u.output[0], keep.output[0])
        return (qmin - int(zp)) * float(s), (qmax - int(zp)) * float(s), keep.output[0], chain + users

    def _quant(self, n, inits):
        vals = [self._scalar(inits, n.input[k]) if len(n.input) > k else None for k in (1, 2, 3)]
        if any(v is None for v in vals):
            return None
        s, zp, bits = (float(v) for v in vals)
        if not np.isfinite(s) or s <= 0 or (bits == 1 and _attr(n, "signed", 1)):   # 1-bit signed: bipolar
            return None
        lo, hi = qonnx_int_range(bits, bool(_attr(n, "signed", 1)), bool(_attr(n, "narrow", 0)))
        return (lo - zp) * s, (hi - zp) * s, n.output[0], [n]
