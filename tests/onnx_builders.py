"""Hand-built ONNX models for frontend tests (opset 17, float32, batch 1, fixed numpy seeds).

Every builder returns an `onnx.ModelProto` that passes `onnx.checker` (unless its doc says otherwise)
and runs in ONNX Runtime. `save(model, path)` writes one for `import_onnx`; `run_ort(model, x)` runs one.
Also here: `run_ir(graph, x)`, a tiny numpy interpreter of the fcomp IR (ONNX semantics, NCHW, batch 1),
so tests can check that the IR computes what the ONNX model computes.
"""

from __future__ import annotations

import re
from pathlib import Path

import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # ONNX Runtime reads it everywhere; opset 17 needs >= 8
SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# Node/tensor name full of C++, shell, path and markup metacharacters, with a real newline in it.
EVIL = "../../etc/passwd; rm -rf / $(touch pwned) `x` \"q\" <a>&b|c\n#include"


# ---- basics ------------------------------------------------------------------------------------------------
def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def vi(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, list(shape) if shape is not None else None)


def init(name: str, array) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def make_model(nodes, inputs, outputs, initializers=(), name="g", value_info=()) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers),
                              value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fcomp-tests")
    model.ir_version = IR_VERSION
    return model


def checked(model: onnx.ModelProto) -> onnx.ModelProto:
    onnx.checker.check_model(model, full_check=True)
    return model


def save(model: onnx.ModelProto, path) -> Path:
    path = Path(path)
    onnx.save(model, str(path))
    return path


def copy(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    return m


def rename_tensors(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Rename tensors in place wherever they appear: node inputs/outputs, graph inputs/outputs, initializers and
    value_info (names not in `names` stay)."""
    g = model.graph
    for n in g.node:
        for field in (n.input, n.output):
            for i, x in enumerate(field):
                field[i] = names.get(x, x)
    for coll in (g.input, g.output, g.initializer, g.value_info):
        for v in coll:
            v.name = names.get(v.name, v.name)


def input_shape(model: onnx.ModelProto) -> tuple[int, ...]:
    """The graph input's shape with any non-fixed dimension taken as 1."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)


def random_input(model: onnx.ModelProto, seed: int = 0) -> np.ndarray:
    return rng(seed).standard_normal(input_shape(model)).astype(np.float32)


def run_ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The first graph output for input x (fed to the first graph input), single-threaded CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    real_inputs = [i for i in sess.get_inputs()]
    return sess.run([sess.get_outputs()[0].name], {real_inputs[0].name: x.astype(np.float32)})[0]


def _w(r, *shape, scale=0.5):
    return (r.standard_normal(shape) * scale).astype(np.float32)


# ---- models ------------------------------------------------------------------------------------------------
def conv_bn_relu_model(seed: int = 0, conv_bias: bool = True) -> onnx.ModelProto:
    """x(1,3,8,8) -> Conv 3x3 pad 1 -> BatchNormalization (non-trivial stats) -> Relu -> y(1,4,8,8)."""
    r = rng(seed)
    inits = [init("W", _w(r, 4, 3, 3, 3)),
             init("gamma", (r.uniform(0.5, 1.5, 4)).astype(np.float32)),
             init("beta", _w(r, 4)),
             init("mean", _w(r, 4)),
             init("var", r.uniform(0.2, 2.0, 4).astype(np.float32))]
    conv_in = ["x", "W"]
    if conv_bias:
        inits.append(init("B", _w(r, 4)))
        conv_in.append("B")
    nodes = [helper.make_node("Conv", conv_in, ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], name="bn",
                              epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["y"], name="relu")]
    return checked(make_model(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 8, 8])], inits))


def gemm_model(transB: int = 1, alpha: float = 1.0, beta: float = 1.0, bias: bool = True, seed: int = 0,
               bias_2d: bool = False) -> onnx.ModelProto:
    """x(1,6) -> Gemm(alpha, beta, transB) -> Relu -> Gemm (plain) -> y(1,3)."""
    r = rng(seed)
    w1 = _w(r, 5, 6) if transB else _w(r, 6, 5)
    c1 = _w(r, 1, 5) if bias_2d else _w(r, 5)
    inits = [init("W1", w1), init("W2", _w(r, 5, 3)), init("C2", _w(r, 3))]
    g1_in = ["x", "W1"]
    if bias:
        inits.append(init("C1", c1))
        g1_in.append("C1")
    nodes = [helper.make_node("Gemm", g1_in, ["h"], name="fc1", transB=transB, alpha=alpha, beta=beta),
             helper.make_node("Relu", ["h"], ["hr"], name="relu"),
             helper.make_node("Gemm", ["hr", "W2", "C2"], ["y"], name="fc2")]
    return checked(make_model(nodes, [vi("x", [1, 6])], [vi("y", [1, 3])], inits))


def identity_dropout_constant_model(seed: int = 0) -> onnx.ModelProto:
    """Constant weights (Conv W, Reshape shape, Clip max), Identity on a weight and on activations,
    Dropout (with an unused mask output) and an Identity that produces the graph output."""
    r = rng(seed)
    w = _w(r, 4, 2, 3, 3)
    nodes = [
        helper.make_node("Constant", [], ["Wc"], name="const_w", value=numpy_helper.from_array(w, "w")),
        helper.make_node("Identity", ["Wc"], ["Wid"], name="id_w"),
        helper.make_node("Conv", ["x", "Wid"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Identity", ["c"], ["c_id"], name="id_act"),
        helper.make_node("Dropout", ["c_id"], ["d", "mask"], name="drop"),
        helper.make_node("Constant", [], ["zero"], name="const_zero",
                         value=numpy_helper.from_array(np.array(0.0, np.float32), "zero")),
        helper.make_node("Constant", [], ["six"], name="const_six",
                         value=numpy_helper.from_array(np.array(6.0, np.float32), "six")),
        helper.make_node("Clip", ["d", "zero", "six"], ["clipped"], name="relu6"),
        helper.make_node("Constant", [], ["shape"], name="const_shape",
                         value=numpy_helper.from_array(np.array([1, -1], np.int64), "shape")),
        helper.make_node("Reshape", ["clipped", "shape"], ["flat"], name="reshape"),
        helper.make_node("Identity", ["flat"], ["y"], name="id_out"),
    ]
    return checked(make_model(nodes, [vi("x", [1, 2, 5, 5])], [vi("y", [1, 36])]))


def unsupported_op_model(op: str = "Softplus", node_name: str = "act") -> onnx.ModelProto:
    """x(1,8) -> Gemm -> <op> -> y(1,4)."""
    r = rng(1)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc"),
             helper.make_node(op, ["h"], ["y"], name=node_name)]
    return checked(make_model(nodes, [vi("x", [1, 8])], [vi("y", [1, 4])],
                              [init("W", _w(r, 8, 4)), init("B", _w(r, 4))]))


def lstm_model() -> onnx.ModelProto:
    """x(seq 1, batch 1, 4) -> LSTM(hidden 3) -> y(1,1,1,3)."""
    r = rng(2)
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=3)]
    return checked(make_model(nodes, [vi("x", [1, 1, 4])], [vi("y", [1, 1, 1, 3])],
                              [init("W", _w(r, 1, 12, 4)), init("R", _w(r, 1, 12, 3))]))


def _conv_relu_flatten_gemm(in_dims, out_dims, seed=0) -> onnx.ModelProto:
    r = rng(seed)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "Wf", "Bf"], ["y"], name="fc", transB=1)]
    inits = [init("W", _w(r, 2, 1, 3, 3)), init("B", _w(r, 2)), init("Wf", _w(r, 5, 2 * 4 * 4, scale=0.2)),
             init("Bf", _w(r, 5))]
    return checked(make_model(nodes, [vi("x", in_dims)], [vi("y", out_dims)], inits))


def dynamic_batch_model(seed: int = 0) -> onnx.ModelProto:
    """x('N',1,4,4) -> Conv -> Relu -> Flatten -> Gemm -> y('N',5): dynamic batch, as exporters write it."""
    return _conv_relu_flatten_gemm(["N", 1, 4, 4], ["N", 5], seed)


def dynamic_nonbatch_model(seed: int = 0) -> onnx.ModelProto:
    """Like dynamic_batch_model but the input height is dynamic ('H'): not buildable."""
    r = rng(seed)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return checked(make_model(nodes, [vi("x", [1, 1, "H", 4])], [vi("y", [1, 2, "H", 4])],
                              [init("W", _w(r, 2, 1, 3, 3)), init("B", _w(r, 2))]))


def reshape_model(seed: int = 0) -> onnx.ModelProto:
    """x(1,2,3,3) -> Conv 1x1 -> Relu -> Reshape(1,-1) -> MatMul -> Add -> y(1,4)."""
    r = rng(seed)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="reshape"),
             helper.make_node("MatMul", ["f", "Wm"], ["m"], name="matmul"),
             helper.make_node("Add", ["m", "Bm"], ["y"], name="bias")]
    inits = [init("W", _w(r, 3, 2, 1, 1)), init("B", _w(r, 3)), init("shape", np.array([1, -1], np.int64)),
             init("Wm", _w(r, 27, 4, scale=0.3)), init("Bm", _w(r, 4))]
    return checked(make_model(nodes, [vi("x", [1, 2, 3, 3])], [vi("y", [1, 4])], inits))


def evil_names_model(seed: int = 0) -> onnx.ModelProto:
    """conv_bn_relu + residual Add + GlobalAveragePool + Flatten + Gemm, where every node, tensor, initializer
    and the graph are named with shell/C++/path metacharacters (and names that sanitize to the same text)."""
    r = rng(seed)
    t = {k: f"{EVIL} {k}" for k in ("x", "W", "B", "gamma", "beta", "mean", "var", "c", "bn", "r", "W2", "c2",
                                    "sum", "gap", "flat", "Wf", "Bf")}
    t["x"] = "input"            # a reserved word
    t["r"] = "r!"               # sanitizes to the same text as ...
    t["c2"] = "r?"              # ... this one
    t["y"] = "output"           # reserved, and the graph output
    t["Wf"] = "9" + "W" * 60    # starts with a digit, long
    t["Bf"] = "9" + "W" * 59 + "X"  # long, same cut prefix as Wf
    inits = [init(t["W"], _w(r, 4, 4, 3, 3, scale=0.3)), init(t["B"], _w(r, 4)),
             init(t["gamma"], r.uniform(0.5, 1.5, 4).astype(np.float32)), init(t["beta"], _w(r, 4)),
             init(t["mean"], _w(r, 4)), init(t["var"], r.uniform(0.2, 2, 4).astype(np.float32)),
             init(t["W2"], _w(r, 4, 4, 1, 1)), init(t["Wf"], _w(r, 3, 4)), init(t["Bf"], _w(r, 3))]
    nodes = [
        helper.make_node("Conv", [t["x"], t["W"], t["B"]], [t["c"]], name=EVIL, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", [t["c"], t["gamma"], t["beta"], t["mean"], t["var"]], [t["bn"]],
                         name=EVIL + " bn"),
        helper.make_node("Relu", [t["bn"]], [t["r"]], name="$(reboot)"),
        helper.make_node("Conv", [t["r"], t["W2"]], [t["c2"]], name="`reboot`", kernel_shape=[1, 1]),
        helper.make_node("Add", [t["r"], t["c2"]], [t["sum"]], name="int"),
        helper.make_node("GlobalAveragePool", [t["sum"]], [t["gap"]], name=""),
        helper.make_node("Flatten", [t["gap"]], [t["flat"]], name="a" * 100),
        helper.make_node("Gemm", [t["flat"], t["Wf"], t["Bf"]], [t["y"]], name="a" * 99 + "b", transB=1),
    ]
    return checked(make_model(nodes, [vi(t["x"], [1, 4, 6, 6])], [vi(t["y"], [1, 3])], inits,
                              name="../graph; rm -rf ~"))


def grouped_conv_model(seed: int = 0) -> onnx.ModelProto:
    """x(1,4,6,6) -> Conv(group=2) -> Relu -> y."""
    r = rng(seed)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="gconv", kernel_shape=[3, 3], group=2),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return checked(make_model(nodes, [vi("x", [1, 4, 6, 6])], [vi("y", [1, 4, 4, 4])],
                              [init("W", _w(r, 4, 2, 3, 3)), init("B", _w(r, 4))]))


def maxpool_ceil_model(seed: int = 0) -> onnx.ModelProto:
    """x(1,2,5,5) -> Relu -> MaxPool 2x2 stride 2 ceil_mode=1 -> y(1,2,3,3)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)]
    return checked(make_model(nodes, [vi("x", [1, 2, 5, 5])], [vi("y", [1, 2, 3, 3])]))


def conv_weight_as_input_model(seed: int = 0) -> onnx.ModelProto:
    """Conv whose weight W is a second graph input, not an initializer ("missing weights")."""
    r = rng(seed)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv_missing_w", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return checked(make_model(nodes, [vi("x", [1, 1, 5, 5]), vi("W", [2, 1, 3, 3])], [vi("y", [1, 2, 3, 3])],
                              [init("B", _w(r, 2))]))


def two_outputs_model(seed: int = 0) -> onnx.ModelProto:
    """x(1,4) -> Gemm -> h -> Relu -> y; both h and y are graph outputs."""
    r = rng(seed)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc"),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    return checked(make_model(nodes, [vi("x", [1, 4])], [vi("y", [1, 3]), vi("h", [1, 3])],
                              [init("W", _w(r, 4, 3)), init("B", _w(r, 3))]))


def initializers_as_inputs_model(seed: int = 0) -> onnx.ModelProto:
    """Old-exporter style: every initializer is also listed as a graph input (IR version 3 semantics)."""
    m = gemm_model(seed=seed)
    for t in m.graph.initializer:
        m.graph.input.append(vi(t.name, t.dims))
    return checked(m)


def pools_model(seed: int = 0, conv_auto_pad: str = "SAME_UPPER", size: int = 7) -> onnx.ModelProto:
    """Conv(auto_pad) stride 2 -> Relu -> AveragePool(pads, count_include_pad=1) -> MaxPool(pads) -> Clip(0,6)
    -> Flatten -> MatMul -> Add: exercises window attributes and the remaining ops. An even `size` makes SAME
    padding asymmetric (SAME_UPPER and SAME_LOWER differ)."""
    r = rng(seed)
    conv_out = -(-size // 2) if conv_auto_pad.startswith("SAME") else (size - 3) // 2 + 1
    pool_out = (conv_out + 1 - 2) // 2 + 1
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[3, 3], strides=[2, 2],
                              auto_pad=conv_auto_pad),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("AveragePool", ["r"], ["a"], name="avg", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              count_include_pad=1),
             helper.make_node("MaxPool", ["a"], ["p"], name="max", kernel_shape=[2, 2], strides=[2, 2],
                              pads=[0, 0, 1, 1]),
             helper.make_node("Clip", ["p", "zero", "six"], ["cl"], name="clip"),
             helper.make_node("Flatten", ["cl"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "Wm"], ["m"], name="matmul"),
             helper.make_node("Add", ["Bm", "m"], ["y"], name="bias")]
    inits = [init("W", _w(r, 3, 2, 3, 3)), init("B", _w(r, 3)), init("zero", np.array(0.0, np.float32)),
             init("six", np.array(6.0, np.float32)), init("Wm", _w(r, 3 * pool_out * pool_out, 4)),
             init("Bm", _w(r, 4))]
    return checked(make_model(nodes, [vi("x", [1, 2, size, size])], [vi("y", [1, 4])], inits))


# ---- a numpy interpreter of the IR (ONNX semantics) -------------------------------------------------------
def _pad(x, pads, value=0.0):
    t, l, b, r_ = pads
    return np.pad(x, ((0, 0), (t, b), (l, r_)), constant_values=value)


def _windows(x, kernel, strides):
    c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((c, oh, ow, kh, kw), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw]
    return out


def run_ir(graph, x: np.ndarray) -> np.ndarray:
    """Evaluate an fcomp IR graph on one sample x (with the batch dimension), float64; returns (1, ...)."""
    vals: dict[str, np.ndarray] = {}
    for n in graph.nodes:
        ins = [vals[i] for i in n.inputs]
        if n.op == "input":
            v = x.astype(np.float64)[0]
        elif n.op == "conv":
            w, b = n.weights["W"].astype(np.float64), n.weights["b"].astype(np.float64)
            win = _windows(_pad(ins[0], n.attrs["pads"]), n.attrs["kernel"], n.attrs["strides"])
            g = int(n.attrs.get("group", 1))
            cg, og = w.shape[1], w.shape[0] // g      # input channels per group, outputs per group
            v = np.concatenate([np.einsum("cijkl,ockl->oij", win[k * cg:(k + 1) * cg], w[k * og:(k + 1) * og])
                                for k in range(g)]) + b[:, None, None]
        elif n.op == "dense":
            v = ins[0] @ n.weights["W"].astype(np.float64) + n.weights["b"].astype(np.float64)
        elif n.op == "relu":
            v = np.maximum(ins[0], 0)
        elif n.op == "clip":
            lo, hi = n.attrs["min"], n.attrs["max"]
            v = np.minimum(np.maximum(ins[0], -np.inf if lo is None else lo), np.inf if hi is None else hi)
        elif n.op == "add":
            v = ins[0] + ins[1]
        elif n.op == "concat":
            v = np.concatenate(ins, axis=n.attrs["axis"])
        elif n.op == "maxpool":
            v = _windows(_pad(ins[0], n.attrs["pads"], -np.inf), n.attrs["kernel"], n.attrs["strides"]).max((3, 4))
        elif n.op == "avgpool":
            assert n.attrs["count_include_pad"] or not any(n.attrs["pads"])
            v = _windows(_pad(ins[0], n.attrs["pads"]), n.attrs["kernel"], n.attrs["strides"]).mean((3, 4))
        elif n.op == "globalavgpool":
            v = ins[0].mean((1, 2), keepdims=True)
        elif n.op == "hardsigmoid":
            v = np.clip(n.attrs["alpha"] * ins[0] + n.attrs["beta"], 0.0, 1.0)
        elif n.op == "hardswish":
            v = ins[0] * np.clip(n.attrs["alpha"] * ins[0] + n.attrs["beta"], 0.0, 1.0)
        elif n.op == "sigmoid":
            v = 1.0 / (1.0 + np.exp(-ins[0]))
        elif n.op == "upsample":
            v = ins[0].repeat(n.attrs["scale"][0], 1).repeat(n.attrs["scale"][1], 2)
        elif n.op == "flatten":
            v = ins[0].reshape(-1)
        else:
            raise AssertionError(f"run_ir: unknown op {n.op}")
        assert v.shape == tuple(n.shape), f"IR node {n.name} ({n.op}): computed {v.shape}, IR says {n.shape}"
        vals[n.name] = v
    return vals[graph.outputs[0]][None]


@functools.cache
def cached_import(path: str):
    """import_onnx once per file per test session (zoo models are re-used by many tests)."""
    from compiler.frontend import import_onnx

    return import_onnx(path)


def gaussian_inputs(shape, count, seed=7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)
