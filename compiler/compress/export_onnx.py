"""IR graph -> ONNX (`model.compressed.onnx`), with ternary weights visible as codes and scales.

A conv/dense node whose weights carry `codes` (int8 in {-1, 0, +1}, shape of W) and `scale` (float32 per output
channel, shape (out,)) gets its weight as `Mul(Cast(<node>_codes -> float), <node>_scale)` feeding the Conv/MatMul,
so the INT8 codes and the scales are separate initializers in the file. Other weights are plain float
initializers. The model is opset 17, IR version 8 (ONNX Runtime 1.31 reads it), float32, batch 1; the frontend's
FoldConstantWeights pass turns the Cast/Mul back into plain weights on import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..ir import Graph, Node

OPSET = 17
IR_VERSION = 8


class _Names:
    """Fresh tensor/node names that cannot clash with the IR's node names (which are the data tensors)."""

    def __init__(self, graph: Graph):
        self.used = {n.name for n in graph.nodes}

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name


def _check_ternary(n: Node) -> tuple[np.ndarray, np.ndarray]:
    w, codes, scale = n.weights["W"], np.asarray(n.weights["codes"]), np.asarray(n.weights["scale"])
    if codes.shape != w.shape:
        raise ValueError(f"IR node {n.name}: codes have shape {codes.shape}, W has {w.shape}")
    if not np.all(np.isin(codes, (-1, 0, 1))):
        raise ValueError(f"IR node {n.name}: codes must be in {{-1, 0, +1}}")
    out = w.shape[0] if n.op == "conv" else w.shape[1]
    scale = scale.astype(np.float32).reshape(-1)
    if scale.shape != (out,):
        raise ValueError(f"IR node {n.name}: scale has {scale.size} values, expected one per output channel ({out})")
    codes = codes.astype(np.int8)
    shape = (out, 1, 1, 1) if n.op == "conv" else (1, out)
    scale = scale.reshape(shape)
    effective = codes.astype(np.float32) * scale
    if not np.allclose(effective, w, rtol=1e-5, atol=1e-6):
        raise ValueError(f"IR node {n.name}: W differs from codes * scale (max |diff| "
                         f"{float(np.max(np.abs(effective - w))):.3g}); the IR must hold the effective weights")
    return codes, scale


def build_compressed_onnx(graph: Graph) -> onnx.ModelProto:
    """The IR graph as a checked, shape-inferred ONNX model (see the module doc)."""
    inputs = graph.inputs
    if len(inputs) != 1:
        raise ValueError(f"export: the graph has {len(inputs)} inputs; one is supported")
    if len(graph.outputs) != 1:
        raise ValueError(f"export: the graph has {len(graph.outputs)} outputs; one is supported")
    names = _Names(graph)
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []

    def const(base: str, value: np.ndarray) -> str:
        name = names.fresh(base)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(n: Node) -> str:
        if "codes" in n.weights and "scale" in n.weights:
            codes, scale = _check_ternary(n)
            codes_name = const(f"{n.name}_codes", codes)
            scale_name = const(f"{n.name}_scale", scale)
            cast_out, w_out = names.fresh(f"{n.name}_codes_f"), names.fresh(f"{n.name}_W")
            nodes.append(helper.make_node("Cast", [codes_name], [cast_out], name=names.fresh(f"{n.name}_cast"),
                                          to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Mul", [cast_out, scale_name], [w_out],
                                          name=names.fresh(f"{n.name}_dequant")))
            return w_out
        return const(f"{n.name}_W", np.asarray(n.weights["W"], np.float32))

    for n in graph.nodes:
        a = n.attrs
        if n.op == "input":
            continue
        if n.op == "conv":
            w = weight(n)
            b = const(f"{n.name}_b", np.asarray(n.weights["b"], np.float32).reshape(-1))
            nodes.append(helper.make_node("Conv", [n.inputs[0], w, b], [n.name], name=n.name,
                                          kernel_shape=list(n.weights["W"].shape[2:]),
                                          pads=list(a.get("pads", [0, 0, 0, 0])),
                                          strides=list(a.get("strides", [1, 1])),
                                          **({"group": int(a["group"])} if a.get("group", 1) != 1 else {})))
        elif n.op == "dense":
            w = weight(n)
            b = const(f"{n.name}_b", np.asarray(n.weights["b"], np.float32).reshape(-1))
            mm = names.fresh(f"{n.name}_mm")
            nodes.append(helper.make_node("MatMul", [n.inputs[0], w], [mm], name=n.name))
            nodes.append(helper.make_node("Add", [mm, b], [n.name], name=names.fresh(f"{n.name}_bias")))
        elif n.op == "relu":
            nodes.append(helper.make_node("Relu", list(n.inputs), [n.name], name=n.name))
        elif n.op == "hardsigmoid":
            nodes.append(helper.make_node("HardSigmoid", list(n.inputs), [n.name], name=n.name,
                                          alpha=float(a["alpha"]), beta=float(a["beta"])))
        elif n.op == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", list(n.inputs), [n.name], name=n.name))
        elif n.op == "hardswish":
            nodes.append(helper.make_node("HardSwish", list(n.inputs), [n.name], name=n.name))
        elif n.op == "clip":
            lo = "" if a.get("min") is None else const(f"{n.name}_min", np.array(a["min"], np.float32))
            hi = "" if a.get("max") is None else const(f"{n.name}_max", np.array(a["max"], np.float32))
            nodes.append(helper.make_node("Clip", [n.inputs[0], lo, hi], [n.name], name=n.name))
        elif n.op == "add":
            nodes.append(helper.make_node("Add", list(n.inputs), [n.name], name=n.name))
        elif n.op == "concat":
            nodes.append(helper.make_node("Concat", list(n.inputs), [n.name], name=n.name,
                                          axis=1 + int(a.get("axis", 0))))
        elif n.op == "maxpool":
            nodes.append(helper.make_node("MaxPool", list(n.inputs), [n.name], name=n.name,
                                          kernel_shape=list(a["kernel"]), strides=list(a["strides"]),
                                          pads=list(a["pads"])))
        elif n.op == "avgpool":
            nodes.append(helper.make_node("AveragePool", list(n.inputs), [n.name], name=n.name,
                                          kernel_shape=list(a["kernel"]), strides=list(a["strides"]),
                                          pads=list(a["pads"]), count_include_pad=int(a.get("count_include_pad", 0))))
        elif n.op == "upsample":
            scales = const(f"{n.name}_scales", np.array([1, 1, *a["scale"]], np.float32))
            nodes.append(helper.make_node("Resize", [n.inputs[0], "", scales], [n.name], name=n.name, mode="nearest",
                                          coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        elif n.op == "globalavgpool":
            nodes.append(helper.make_node("GlobalAveragePool", list(n.inputs), [n.name], name=n.name))
        elif n.op == "flatten":
            nodes.append(helper.make_node("Flatten", list(n.inputs), [n.name], name=n.name, axis=1))
        else:
            raise ValueError(f"export: IR node {n.name} has unknown op {n.op}")

    inp, out = inputs[0], graph.node(graph.outputs[0])
    g = helper.make_graph(nodes, graph.name or "model",
                          [helper.make_tensor_value_info(inp.name, TensorProto.FLOAT, [1, *inp.shape])],
                          [helper.make_tensor_value_info(out.name, TensorProto.FLOAT, [1, *out.shape])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fcomp")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"fcomp.compressed": "1"})
    onnx.checker.check_model(model)
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def export_compressed_onnx(graph: Graph, path=None) -> onnx.ModelProto:
    """Build the ONNX model of `graph`; when `path` is given, also write it there atomically."""
    model = build_compressed_onnx(graph)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(model.SerializeToString())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    return model


__all__ = ["export_compressed_onnx", "build_compressed_onnx"]
