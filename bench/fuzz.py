"""Fuzz the ONNX frontend: every input must end in an accepted model or one FcompError line.

`import_onnx` reads untrusted files. This bench mutates the zoo's small digits models and the hand-built test
models (tests/onnx_builders.py) in the ways real files go wrong or are made to go wrong -- truncated and garbled
bytes, wrong element types, huge/negative/zero/mismatched shapes, cycles, duplicate and dangling names, missing
initializers, unknown ops, bad attributes, empty graphs, extra inputs/outputs, odd opsets and IR versions,
NaN/Inf weights, external-data references that point outside the model's folder, hostile names -- and runs each
case in a worker process under RLIMIT_AS and a per-case timeout. Outcomes:

    accepted  import_onnx returned a FrontendResult
    error     FcompError (the clean path, exit code 2)
    crash     any other exception, or the worker died (signal)
    memory    MemoryError / the worker hit the address-space limit
    hang      the case ran past the timeout

    python bench/fuzz.py --cases 10000 [--seed 0] [--jobs 2] [--timeout 10] [--mem-mb 1024] [--save DIR] [--json]

Exit status 1 when any case crashed, hung or ran out of memory. The same `Runner` and `make_case` serve the
bounded hypothesis run in tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OUTCOMES = ("accepted", "error", "crash", "memory", "hang", "mismatch")
ZOO_SEEDS = ("digits_mlp", "digits_cnn", "digits_resnet")  # resnet18 (45 MB) is too big to mutate 10,000 times
BUILDER_SEEDS = ("conv_bn_relu_model", "gemm_model", "identity_dropout_constant_model", "reshape_model",
                 "evil_names_model", "pools_model", "dynamic_batch_model", "initializers_as_inputs_model",
                 "unsupported_op_model", "grouped_conv_model", "two_outputs_model", "conv_weight_as_input_model")
HOSTILE_NAMES = ('x"); system("rm -rf /"); //', "../../etc/passwd", "$(reboot)", "a b", "[exec rm]", "",
                 "input", "void", "\u00e9\u4e2d\u6587\U0001F600", "n" * 10240, "x\ny", "\x00nul", "-", "9lives",
                 "a__b", "a_b", "a b", "a\tb", "/abs/path", "C:\\win\\path", "%s%n", "{{template}}")
DTYPES = (TensorProto.INT32, TensorProto.INT64, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8,
          TensorProto.UINT8, TensorProto.BOOL, TensorProto.STRING, TensorProto.BFLOAT16, TensorProto.COMPLEX64,
          TensorProto.UNDEFINED, 999)
OUTSIDE = ("../../../../etc/passwd", "/etc/passwd", "../secret.bin", "..\\..\\boot.ini", "/dev/zero",
           "/proc/self/mem", "sub/../../x")


# ---- seeds ---------------------------------------------------------------------------------------------------
def seed_models() -> dict[str, bytes]:
    """Serialized seed models: the small zoo models (exported if missing) and the test builders."""
    import onnx_builders as B

    seeds = {}
    for name in ZOO_SEEDS:
        path = ROOT / "models" / f"{name}.onnx"
        if not path.exists():
            from conftest import ensure_zoo_onnx

            ensure_zoo_onnx(name)
        seeds[name] = path.read_bytes()
    for name in BUILDER_SEEDS:
        seeds[name] = getattr(B, name)().SerializeToString()
    return seeds


# ---- mutators: (rng, model) -> None, editing the ModelProto in place -------------------------------------------
def _nodes(m):
    return list(m.graph.node)


def _pick(r, seq):
    seq = list(seq)
    return seq[r.randrange(len(seq))] if seq else None


def _all_tensors(m):
    names = {i.name for i in m.graph.input} | {t.name for t in m.graph.initializer}
    for n in m.graph.node:
        names.update(n.input)
        names.update(n.output)
    names.discard("")
    return sorted(names)


def m_init_dtype(r, m):
    t = _pick(r, m.graph.initializer)
    if t is None:
        return
    dt = _pick(r, DTYPES)
    if r.random() < 0.5 and dt in (TensorProto.INT32, TensorProto.INT64, TensorProto.FLOAT16, TensorProto.DOUBLE,
                                    TensorProto.INT8, TensorProto.UINT8, TensorProto.BOOL):
        a = numpy_helper.to_array(t)
        np_dt = helper.tensor_dtype_to_np_dtype(dt)
        with np.errstate(all="ignore"):
            t.CopyFrom(numpy_helper.from_array(a.astype(np_dt), t.name))
    else:
        t.data_type = dt  # raw bytes stay: size no longer matches


def m_io_dtype(r, m):
    v = _pick(r, list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info))
    if v is not None:
        v.type.tensor_type.elem_type = _pick(r, DTYPES)


def m_huge_dims(r, m):
    v = _pick(r, list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info))
    if v is None:
        return
    dims = v.type.tensor_type.shape.dim
    big = _pick(r, (10**9, 2**31, 2**62, 2**63 - 1, 65536))
    for d in list(dims)[1:]:
        d.dim_value = big
    if r.random() < 0.3:
        d = dims.add()
        d.dim_value = big


def m_bad_dims(r, m):
    v = _pick(r, list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info))
    if v is None or not v.type.tensor_type.shape.dim:
        return
    d = _pick(r, v.type.tensor_type.shape.dim)
    choice = r.randrange(4)
    if choice == 0:
        d.dim_value = _pick(r, (0, -1, -7, -(2**63)))
    elif choice == 1:
        d.dim_param = _pick(r, ("N", "", "H\nx", "?"))
    elif choice == 2:
        d.Clear()
    else:
        v.type.tensor_type.ClearField("shape")


def m_init_dims(r, m):
    t = _pick(r, m.graph.initializer)
    if t is None:
        return
    choice = r.randrange(5)
    if choice == 0:
        t.dims[:] = [10**9, 10**9]
    elif choice == 1 and t.dims:
        t.dims[r.randrange(len(t.dims))] = _pick(r, (0, -1, 3, 2**40))
    elif choice == 2:
        t.dims.append(r.randrange(1, 5))
    elif choice == 3 and t.dims:
        del t.dims[-1]
    else:
        if t.raw_data:
            t.raw_data = t.raw_data[: r.randrange(len(t.raw_data) + 1)]
        else:
            del t.float_data[len(t.float_data) // 2:]


def m_nan_weights(r, m):
    t = _pick(r, [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT])
    if t is None:
        return
    a = numpy_helper.to_array(t).copy()
    if a.size:
        flat = a.reshape(-1)
        idx = r.randrange(flat.size)
        flat[idx] = _pick(r, (np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45))
        if r.random() < 0.3:
            flat[:] = _pick(r, (np.nan, np.inf, 0.0))
    t.CopyFrom(numpy_helper.from_array(a, t.name))


def m_cycle(r, m):
    nodes = _nodes(m)
    if len(nodes) < 2:
        return
    i = r.randrange(len(nodes) - 1)
    j = r.randrange(i + 1, len(nodes))
    if nodes[i].input and nodes[j].output:
        nodes[i].input[r.randrange(len(nodes[i].input))] = nodes[j].output[0]
    if r.random() < 0.3 and nodes[i].output:  # self-loop
        nodes[i].input[0] = nodes[i].output[0]


def m_shuffle(r, m):
    nodes = [_copy_proto(n) for n in m.graph.node]
    r.shuffle(nodes)
    del m.graph.node[:]
    m.graph.node.extend(nodes)


def m_duplicate_names(r, m):
    nodes = _nodes(m)
    if len(nodes) < 2:
        return
    a, b = r.sample(range(len(nodes)), 2)
    choice = r.randrange(4)
    if choice == 0:
        nodes[b].name = nodes[a].name
    elif choice == 1 and nodes[a].output and nodes[b].output:
        nodes[b].output[0] = nodes[a].output[0]  # two producers of one tensor
    elif choice == 2 and m.graph.initializer:
        m.graph.initializer.append(_copy_proto(_pick(r, m.graph.initializer)))
    elif m.graph.input and m.graph.initializer:
        m.graph.initializer[0].name = m.graph.input[0].name


def m_dangling(r, m):
    n = _pick(r, m.graph.node)
    if n is not None and n.input:
        n.input[r.randrange(len(n.input))] = _pick(r, ("nowhere", "", "x" * 300))
    elif n is not None:
        n.input.append("nowhere")


def m_drop_initializer(r, m):
    if m.graph.initializer:
        del m.graph.initializer[r.randrange(len(m.graph.initializer))]


def m_drop_node(r, m):
    if m.graph.node:
        del m.graph.node[r.randrange(len(m.graph.node))]


def m_unknown_op(r, m):
    n = _pick(r, m.graph.node)
    if n is None:
        return
    choice = r.randrange(4)
    if choice == 0:
        n.op_type = _pick(r, ("Sigmoid", "NoSuchOp", "", "LSTM", "Loop", "If", "Softmax", "Resize", "Conv ",
                              "Transpose", "Concat", "QuantizeLinear", "conv"))
    elif choice == 1:
        n.domain = _pick(r, ("com.microsoft", "qonnx.custom_op.general", "ai.onnx.ml", "x"))
    elif choice == 2:
        n.op_type = _pick(r, ("Conv", "MatMul", "Add", "Relu", "Clip", "MaxPool", "AveragePool",
                              "GlobalAveragePool", "Flatten", "Reshape", "BatchNormalization", "Gemm", "Identity",
                              "Dropout", "Constant", "Mul", "Cast", "Div", "Squeeze", "Unsqueeze"))
    else:
        sub = helper.make_graph([helper.make_node("Relu", ["a"], ["b"])], "sub", [], [])
        n.attribute.append(helper.make_attribute("then_branch", sub))


_BAD_ATTRS = {
    "strides": ([0, 0], [-1, 1], [1], [10**9, 1], [1, 1, 1]),
    "pads": ([-1, -1, -1, -1], [0, 0], [10**6, 0, 0, 0], [5, 5, 5, 5], [-3, 0, 0, 0]),
    "kernel_shape": ([100, 100], [0, 0], [-1, 3], [3], [3, 3, 3], [1, 10**9]),
    "dilations": ([0, 0], [-1, 1], [2, 2], [10**6, 1]),
    "group": (0, -1, 2, 10**9),
    "axis": (-5, 0, 2, 10**9),
    "transA": (1, 7), "transB": (0, 2), "alpha": (float("nan"), 0.0, 1e38), "beta": (float("inf"),),
    "epsilon": (-1.0, float("nan")), "ceil_mode": (1, 5), "count_include_pad": (0, 3), "storage_order": (1,),
    "auto_pad": (b"SAME_UPPER", b"VALID", b"BOGUS", b""), "perm": ([1, 0], [0, 0], [5]), "to": (0, 8, 999),
    "min": (float("nan"),), "max": (-1.0,), "allowzero": (1,),
}


def m_bad_attr(r, m):
    n = _pick(r, m.graph.node)
    if n is None:
        return
    name = _pick(r, _BAD_ATTRS)
    value = _pick(r, _BAD_ATTRS[name])
    keep = [a for a in n.attribute if a.name != name]
    del n.attribute[:]
    n.attribute.extend(keep)
    choice = r.randrange(6)
    if choice == 0:
        value = "wrong type"  # a string where an int/ints is expected
    elif choice == 1 and n.attribute:
        del n.attribute[r.randrange(len(n.attribute))]
        return
    n.attribute.append(helper.make_attribute(name, value))


def m_reshape_shape(r, m):
    t = _pick(r, [t for t in m.graph.initializer if t.data_type == TensorProto.INT64])
    target = _pick(r, ([0, -1], [-1, -1], [1, 0], [2, -1], [1, 2**40], [], [1, -1, 1], [0, 0, 0, 0, 0]))
    if t is None:
        reshape = _pick(r, [n for n in m.graph.node if n.op_type == "Reshape"])
        if reshape is None or len(reshape.input) < 2:
            return
        m.graph.initializer.append(numpy_helper.from_array(np.array(target, np.int64), reshape.input[1]))
    else:
        t.CopyFrom(numpy_helper.from_array(np.array(target, np.int64), t.name))


def m_empty_graph(r, m):
    choice = r.randrange(4)
    if choice == 0:
        del m.graph.node[:]
    elif choice == 1:
        del m.graph.input[:]
    elif choice == 2:
        del m.graph.output[:]
    else:
        m.ClearField("graph")


def m_extra_io(r, m):
    if r.random() < 0.5 and m.graph.input:
        extra = _copy_proto(m.graph.input[0])
        extra.name = _pick(r, ("x2", m.graph.input[0].name))
        m.graph.input.append(extra)
    else:
        tensors = _all_tensors(m)
        if tensors:
            m.graph.output.append(helper.make_tensor_value_info(_pick(r, tensors), TensorProto.FLOAT, None))


def m_opset(r, m):
    choice = r.randrange(5)
    if choice == 0:
        for o in m.opset_import:
            o.version = _pick(r, (1, 6, 9, 11, 13, 99, 0, -1))
    elif choice == 1:
        del m.opset_import[:]
    elif choice == 2:
        m.opset_import.append(helper.make_opsetid("", 11))
    elif choice == 3:
        m.ir_version = _pick(r, (0, 1, 3, 100, -1))
    else:
        m.opset_import.append(helper.make_opsetid(_pick(r, ("com.x", "ai.onnx", "ai.onnx.ml")), 1))


def m_external_data(r, m):
    location = _pick(r, OUTSIDE)
    entries = {"location": location}
    if r.random() < 0.5:
        entries.update(offset=str(_pick(r, (0, -1, 2**62))), length=str(_pick(r, (4, 2**62, -5))))
    target = None
    consts = [n for n in m.graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].HasField("t")]
    if consts and r.random() < 0.5:
        target = consts[0].attribute[0].t
    elif m.graph.initializer and r.random() < 0.7:
        target = _pick(r, m.graph.initializer)
    if target is None:  # a Constant node with external data feeding a new output
        t = numpy_helper.from_array(np.zeros((2, 2), np.float32), "ext")
        m.graph.node.insert(0, helper.make_node("Constant", [], ["ext_c"], value=t))
        target = m.graph.node[0].attribute[0].t
    target.ClearField("raw_data")
    target.ClearField("float_data")
    target.data_location = TensorProto.EXTERNAL
    del target.external_data[:]
    for k, v in entries.items():
        e = target.external_data.add()
        e.key, e.value = k, v


def m_names(r, m):
    choice = r.randrange(4)
    name = _pick(r, HOSTILE_NAMES)
    if choice == 0:
        n = _pick(r, m.graph.node)
        if n is not None:
            n.name = name
    elif choice == 1:
        old = _pick(r, _all_tensors(m))
        if old is not None:
            _rename_everywhere(m, old, name)
    elif choice == 2:
        m.graph.name = name
    else:  # every node and tensor gets a hostile name: many collide after sanitizing
        for k, old in enumerate(_all_tensors(m)):
            _rename_everywhere(m, old, f"{_pick(r, HOSTILE_NAMES)[:50]}{'!' * (k % 3)}#{k}")
        for n in m.graph.node:
            n.name = _pick(r, HOSTILE_NAMES)


def m_generated_names(r, m):
    """A tensor renamed to what a normalization pass would call its new tensors (X_W, X_mm, X_bias, ...)."""
    tensors = _all_tensors(m)
    outs = [o for n in m.graph.node for o in n.output if o]
    if not tensors or not outs:
        return
    victim = _pick(r, tensors)
    new = _pick(r, outs) + _pick(r, ("_W", "_mm", "_bias", "_W_bnfold", "_b_bnfold", "_1", ""))
    if new not in tensors:
        _rename_everywhere(m, victim, new)
    if r.random() < 0.5 and m.graph.node:
        _pick(r, m.graph.node).name = _pick(r, [n.name for n in m.graph.node]) + "_bias"


def m_custom_node(r, m):
    """A node of an unregistered domain (no schema, so onnx.checker cannot judge its arity), maybe unnamed."""
    tensors = _all_tensors(m) or ["x"]
    domain = _pick(r, ("com.x", "qonnx.custom_op.general", "ai.onnx.ml"))
    if r.random() < 0.7:
        m.opset_import.append(helper.make_opsetid(domain, 1))
    outs = [f"custom_{k}" for k in range(r.choice((0, 0, 1, 3)))]
    inputs = r.sample(tensors, min(len(tensors), r.randrange(4)))
    node = helper.make_node(_pick(r, ("Foo", "Conv", "Quant", "")), inputs,
                            outs, domain=domain)
    if r.random() < 0.5:
        node.name = _pick(r, HOSTILE_NAMES)
    m.graph.node.insert(r.randrange(len(m.graph.node) + 1), node)
    if outs and r.random() < 0.5:
        m.graph.output.append(helper.make_tensor_value_info(outs[0], TensorProto.FLOAT, [1, 4]))


def m_sparse_or_string(r, m):
    if r.random() < 0.5:
        sp = helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32), "v"),
                                       numpy_helper.from_array(np.array([0], np.int64), "i"), [4])
        if r.random() < 0.5:
            m.graph.sparse_initializer.append(sp)
            sp.values.name = _pick(r, [t.name for t in m.graph.initializer] or ["sp"])
        else:
            m.graph.node.insert(0, helper.make_node("Constant", [], ["sp_c"], sparse_value=sp))
    else:
        m.graph.node.insert(0, helper.make_node("Constant", [], [_pick(r, _all_tensors(m) or ["s"])],
                                                value_strings=[b"a", b"b"]))


def m_value_info(r, m):
    tensors = _all_tensors(m)
    if not tensors:
        return
    shape = _pick(r, ([1], [1, 3, 10**6, 10**6], [2, 2], None, [0], ["N", 4]))
    dtype = _pick(r, (TensorProto.FLOAT,) + DTYPES)
    m.graph.value_info.append(helper.make_tensor_value_info(_pick(r, tensors), dtype, shape))


def m_metadata(r, m):
    m.metadata_props.append(onnx.StringStringEntryProto(key=_pick(r, HOSTILE_NAMES), value=_pick(r, HOSTILE_NAMES)))
    m.producer_name = _pick(r, HOSTILE_NAMES)
    m.graph.doc_string = "x" * r.randrange(1000)


def m_insert_op(r, m):
    """A supported (or nearly supported) op spliced after some tensor: exercises the passes and to_ir checks."""
    tensors = [t for t in _all_tensors(m) if t not in {i.name for i in m.graph.initializer}]
    src = _pick(r, tensors)
    if src is None:
        return
    op = _pick(r, ("Relu", "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Clip",
                   "Add", "BatchNormalization", "Reshape", "Conv", "MatMul", "Gemm"))
    new = f"{src}_{op}_{r.randrange(1000)}"
    ins, extra, attrs = [src], [], {}
    c = r.randrange(1, 5)
    if op in ("MaxPool", "AveragePool"):
        attrs = {"kernel_shape": [r.randrange(1, 4)] * 2, "strides": [r.randrange(1, 3)] * 2,
                 "pads": [r.randrange(0, 2)] * 4}
    elif op == "Clip":
        extra = [np.array(r.choice((0.0, -1.0)), np.float32), np.array(r.choice((6.0, 0.0)), np.float32)]
    elif op == "Add":
        ins = [src, src] if r.random() < 0.5 else [src]
        if len(ins) == 1:
            extra = [np.ones(c, np.float32)]
    elif op == "BatchNormalization":
        extra = [np.ones(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32),
                 np.full(c, r.choice((1.0, 0.0, -1.0)), np.float32)]
    elif op == "Reshape":
        extra = [np.array(_pick(r, ([1, -1], [-1], [1, 2, -1], [0, -1])), np.int64)]
    elif op == "Conv":
        extra = [np.ones((c, c, 1, 1), np.float32)]
    elif op in ("MatMul", "Gemm"):
        extra = [np.ones((c, c), np.float32)]
    for k, value in enumerate(extra):
        name = f"{new}_c{k}"
        m.graph.initializer.append(numpy_helper.from_array(value, name))
        ins.append(name)
    node = helper.make_node(op, ins, [new], name=new, **attrs)
    users = [n for n in m.graph.node if src in n.input]
    for n in users:
        for i, name in enumerate(n.input):
            if name == src:
                n.input[i] = new
    for o in m.graph.output:
        if o.name == src:
            o.name = new
    pos = next((k for k, n in enumerate(m.graph.node) if src in n.output), -1) + 1
    m.graph.node.insert(pos, node)
    _relax(m)


def m_weight_expr(r, m):
    """A weight initializer rewritten as an expression of initializers (as compressed/exported models do)."""
    t = _pick(r, [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT and len(t.dims) >= 1])
    if t is None:
        return
    w = numpy_helper.to_array(t)
    name = t.name
    m.graph.initializer.remove(t)
    kind = r.randrange(4)
    if kind == 0:  # Mul(Cast(int8 codes), scale)
        scale = float(np.abs(w).max() or 1.0) / 127
        codes = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        m.graph.initializer.extend([numpy_helper.from_array(codes, name + "_q"),
                                    numpy_helper.from_array(np.array(scale, np.float32), name + "_s")])
        nodes = [helper.make_node("Cast", [name + "_q"], [name + "_f"], to=_pick(r, (1, 1, 11, 6))),
                 helper.make_node(_pick(r, ("Mul", "Div")), [name + "_f", name + "_s"], [name])]
    elif kind == 1:  # Transpose of the transposed weight
        perm = list(range(w.ndim))[::-1]
        m.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(np.transpose(w, perm)), name + "_t"))
        nodes = [helper.make_node("Transpose", [name + "_t"], [name], perm=perm if r.random() < 0.8 else perm[:1])]
    elif kind == 2:  # Reshape from flat
        m.graph.initializer.extend([numpy_helper.from_array(w.reshape(-1), name + "_flat"),
                                    numpy_helper.from_array(np.array(_pick(r, (w.shape, w.shape, (-1,), (0,) * w.ndim)),
                                                                     np.int64), name + "_shape")])
        nodes = [helper.make_node("Reshape", [name + "_flat", name + "_shape"], [name])]
    else:  # Unsqueeze/Squeeze round trip
        m.graph.initializer.extend([numpy_helper.from_array(w, name + "_u"),
                                    numpy_helper.from_array(np.array([_pick(r, (0, -1, 5))], np.int64), name + "_ax")])
        nodes = [helper.make_node("Unsqueeze", [name + "_u", name + "_ax"], [name + "_x"]),
                 helper.make_node("Squeeze", [name + "_x", name + "_ax"], [name])]
    for k, n in enumerate(nodes):
        m.graph.node.insert(k, n)


def _relax(m):
    """Let shape inference recompute the declared output shapes after a structural change."""
    del m.graph.value_info[:]
    before = [_copy_proto(o.type) for o in m.graph.output]
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(m).graph.output
    except Exception:
        inferred = []
    for k, o in enumerate(m.graph.output):
        if k < len(inferred) and inferred[k].type.tensor_type.HasField("shape"):
            o.type.CopyFrom(inferred[k].type)
        else:
            o.type.CopyFrom(before[k])


def m_relax(r, m):
    _relax(m)


MUTATORS = (m_init_dtype, m_io_dtype, m_huge_dims, m_bad_dims, m_init_dims, m_nan_weights, m_cycle, m_shuffle,
            m_duplicate_names, m_dangling, m_drop_initializer, m_drop_node, m_unknown_op, m_bad_attr,
            m_reshape_shape, m_empty_graph, m_extra_io, m_opset, m_external_data, m_names, m_sparse_or_string,
            m_value_info, m_metadata, m_insert_op, m_insert_op, m_weight_expr, m_weight_expr, m_relax,
            m_generated_names, m_generated_names, m_custom_node, m_custom_node)


# ---- byte-level mutations of the serialized model ----------------------------------------------------------
def b_truncate(r, data):
    return data[: r.randrange(len(data) + 1)]


def b_flip(r, data):
    buf = bytearray(data)
    for _ in range(r.randrange(1, 17)):
        if buf:
            buf[r.randrange(len(buf))] ^= 1 << r.randrange(8)
    return bytes(buf)


def b_garble(r, data):
    buf = bytearray(data)
    if not buf:
        return bytes(r.randrange(256) for _ in range(r.randrange(64)))
    i = r.randrange(len(buf))
    n = r.randrange(1, 64)
    buf[i:i + n] = bytes(r.randrange(256) for _ in range(n))
    if r.random() < 0.3:  # splice a copy of another region (protobuf length fields then lie)
        j = r.randrange(len(buf))
        buf[j:j] = buf[i:i + r.randrange(1, 256)]
    return bytes(buf)


def b_junk(r, data):
    return _pick(r, (b"", b"\x00", b"\n\x05hello", b"\xff" * 64, b"ONNX", b"\x08\x07" + b"\x3a\xff\xff\xff\xff\x0f",
                     b"\x0a" + b"\xff" * 9 + b"\x01", b"PK\x03\x04", data[:16] + b"\x80" * 16))


BYTE_MUTATORS = (b_truncate, b_flip, b_garble, b_junk)


# ---- cases ---------------------------------------------------------------------------------------------------
def _copy_proto(p):
    q = type(p)()
    q.CopyFrom(p)
    return q


def _rename_everywhere(m, old, new):
    for n in m.graph.node:
        for field_ in (n.input, n.output):
            for i, name in enumerate(field_):
                if name == old:
                    field_[i] = new
    for coll in (m.graph.input, m.graph.output, m.graph.value_info, m.graph.initializer):
        for v in coll:
            if v.name == old:
                v.name = new


@dataclass
class Case:
    seed_name: str
    steps: list[str]
    data: bytes


def make_case(seeds: dict[str, bytes], rng_seed: int, seed_name: str | None = None,
              n_mutations: int | None = None) -> Case:
    """One deterministic case: a seed model, 1-3 structured mutations, sometimes a byte-level one on top."""
    r = random.Random(rng_seed)
    seed_name = seed_name or _pick(r, sorted(seeds))
    model = onnx.ModelProto()
    model.ParseFromString(seeds[seed_name])
    steps = []
    for _ in range(n_mutations if n_mutations is not None else r.choice((1, 1, 2, 3))):
        mut = _pick(r, MUTATORS)
        try:
            with np.errstate(all="ignore"):
                mut(r, model)
        except Exception:  # a mutator that cannot apply to this model (fuzzer-side): skip it
            continue
        steps.append(mut.__name__)
    if steps and r.random() < 0.4:
        _relax(model)
        steps.append("relax")
    try:
        data = model.SerializeToString()
    except Exception:
        data = seeds[seed_name]
        steps.append("serialize-failed")
    if r.random() < 0.12:
        bm = _pick(r, BYTE_MUTATORS)
        data = bm(r, data)
        steps.append(bm.__name__)
    return Case(seed_name, steps, data)


# ---- the runner: import_onnx in a worker process under limits ---------------------------------------------------
def _vm_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _differential(path, result) -> str | None:
    """For an accepted model: does the IR compute what ONNX Runtime computes on the file as given?

    Returns a description of the mismatch, or None (also when ONNX Runtime cannot run the file: no oracle)."""
    import onnxruntime as ort
    from onnx_builders import run_ir

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        shape = tuple(result.graph.inputs[0].shape)
        x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    except Exception:  # noqa: BLE001 - ORT rejects many fuzzed files fcomp repairs (e.g. IR version): no oracle
        return None
    got = run_ir(result.graph, x)
    if got.size != want.size:
        return f"IR output has {got.size} values, ONNX Runtime {want.size}"
    want = want.reshape(got.shape).astype(np.float64)
    if not np.all(np.isfinite(want)):
        return None
    tol = 1e-4 + 1e-3 * float(np.abs(want).max())
    err = float(np.abs(got - want).max())
    return None if err <= tol else f"IR differs from ONNX Runtime: max |error| {err:.3g} > {tol:.3g}"


def _worker(conn, mem_bytes: int, workdir: str, target: str = "import"):
    from compiler.errors import FcompError

    if target == "inspect":
        from compiler.frontend.inspect import format_inspect, inspect_model

        def import_onnx(path):  # the same contract as import_onnx: a result or FcompError
            return format_inspect(inspect_model(path))
    else:
        from compiler.frontend import import_onnx

    if mem_bytes:
        limit = _vm_bytes() + mem_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    path = Path(workdir) / "case.onnx"  # written by the parent: the case's bytes never count against the limit
    while True:
        try:
            conn.recv_bytes()
        except EOFError:
            return
        try:
            imported = import_onnx(path)
            result = ("accepted", "")
            if target == "differential":
                mismatch = _differential(path, imported)
                if mismatch:
                    result = ("mismatch", mismatch)
        except FcompError as exc:
            result = ("error", str(exc))
        except MemoryError:
            result = ("memory", "MemoryError")
        except BaseException as exc:  # noqa: BLE001 - the point is to report it
            result = ("crash", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        conn.send((result[0], result[1], rss))


@dataclass
class Outcome:
    kind: str
    detail: str
    seconds: float


@dataclass
class Runner:
    """Runs cases in one forked worker; restarts it after a hang or a death. Use as a context manager."""

    timeout: float = 10.0
    mem_mb: int = 1024
    target: str = "import"  # "inspect": `inspect_model` + `format_inspect`; "differential": import + IR vs ORT
    peak_rss: int = 0
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="fcomp-fuzz-"))
    _proc: object = None
    _conn: object = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(child, self.mem_mb * 1024**2, self.workdir, self.target),
                                 daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _stop(self):
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join()
            self._conn.close()
        self._proc = self._conn = None

    def close(self):
        self._stop()
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self, data: bytes) -> Outcome:
        if self._proc is None:
            self._start()
        Path(self.workdir, "case.onnx").write_bytes(data)
        t0 = time.perf_counter()
        try:
            self._conn.send_bytes(b"go")
        except (BrokenPipeError, ConnectionError):
            code = self._proc.exitcode
            self._stop()
            return Outcome("crash", f"worker died before the case (exit code {code})", time.perf_counter() - t0)
        if not self._conn.poll(self.timeout):
            self._stop()
            return Outcome("hang", f"no answer within {self.timeout} s", time.perf_counter() - t0)
        try:
            kind, detail, rss = self._conn.recv()
        except (EOFError, ConnectionError):
            self._proc.join(1)
            code = self._proc.exitcode
            self._stop()
            return Outcome("crash", f"worker died (exit code {code})", time.perf_counter() - t0)
        self.peak_rss = max(self.peak_rss, rss)
        if kind == "memory":
            self._stop()  # its heap may be fragmented near the limit: start clean
        return Outcome(kind, detail, time.perf_counter() - t0)


# ---- the bench ---------------------------------------------------------------------------------------------------
def _run_range(args, seeds, start, stop, queue):
    counts = {k: 0 for k in OUTCOMES}
    bad, slowest = [], (0.0, None)
    with Runner(timeout=args.timeout, mem_mb=args.mem_mb, target=args.target) as runner:
        for i in range(start, stop):
            case = make_case(seeds, args.seed * 1_000_003 + i)
            out = runner.run(case.data)
            counts[out.kind] += 1
            if out.seconds > slowest[0]:
                slowest = (out.seconds, i)
            if out.kind in ("crash", "memory", "hang", "mismatch"):
                bad.append({"case": i, "seed": case.seed_name, "steps": case.steps, "outcome": out.kind,
                            "detail": out.detail})
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    (Path(args.save) / f"{out.kind}-{i}.onnx").write_bytes(case.data)
        queue.put((counts, bad, runner.peak_rss, slowest))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (each with its own limits)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--mem-mb", type=int, default=1024, help="address space a case may add (RLIMIT_AS)")
    ap.add_argument("--save", help="folder for the inputs that crashed, hung or ran out of memory")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--target", choices=("import", "inspect", "differential"), default="import",
                    help="the function under test: import_onnx (default), inspect_model + format_inspect, or "
                         "import_onnx with each accepted IR run against ONNX Runtime (mismatches are failures)")
    ap.add_argument("--against", help="folder holding another `compiler` package to fuzz instead (an older "
                                      "checkout, to show a fix's corpus entry failed before)")
    args = ap.parse_args(argv)
    if args.against:
        sys.path.insert(0, str(Path(args.against).resolve()))

    seeds = seed_models()
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    bounds = [args.cases * k // args.jobs for k in range(args.jobs + 1)]
    procs = [ctx.Process(target=_run_range, args=(args, seeds, bounds[k], bounds[k + 1], queue))
             for k in range(args.jobs)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    counts = {k: sum(r[0][k] for r in results) for k in OUTCOMES}
    bad = sorted((b for r in results for b in r[1]), key=lambda b: b["case"])
    slowest = max((r[3] for r in results), key=lambda s: s[0])
    report = {"target": args.target, "cases": args.cases, "seed": args.seed, "jobs": args.jobs,
              "timeout_s": args.timeout,
              "mem_limit_mb": args.mem_mb, "wall_s": round(wall, 1),
              "cases_per_s": round(args.cases / wall, 1), "accepted": counts["accepted"],
              "clean_errors": counts["error"], "crashes": counts["crash"], "memory": counts["memory"],
              "hangs": counts["hang"], "mismatches": counts["mismatch"],
              "peak_worker_rss_mb": round(max(r[2] for r in results) / 1024**2, 1),
              "slowest_case_s": round(slowest[0], 2), "slowest_case": slowest[1], "seeds": sorted(seeds),
              "failures": bad[:50]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"cases tried     {args.cases} (seed {args.seed}, {args.jobs} workers, {wall:.1f} s, "
              f"{report['cases_per_s']} cases/s)")
        print(f"accepted        {counts['accepted']}")
        print(f"clean errors    {counts['error']} (FcompError)")
        print(f"crashes         {counts['crash']}")
        print(f"out of memory   {counts['memory']} (limit +{args.mem_mb} MB address space per worker)")
        print(f"hangs           {counts['hang']} (timeout {args.timeout} s; slowest case {slowest[0]:.2f} s)")
        if args.target == "differential":
            print(f"IR != ORT       {counts['mismatch']} (accepted models whose IR differs from ONNX Runtime)")
        print(f"peak memory     {report['peak_worker_rss_mb']} MB max RSS of a worker")
        for b in bad[:20]:
            last = b["detail"].strip().splitlines()[-1] if b["detail"].strip() else ""
            print(f"  {b['outcome']} case {b['case']} ({b['seed']}: {', '.join(b['steps'])}): {last}")
    return 1 if counts["crash"] or counts["memory"] or counts["hang"] or counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())
