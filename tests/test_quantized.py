"""Quantized ONNX: QDQ models from ONNX Runtime's static quantizer (per tensor and per channel), Brevitas-style
QCDQ (a Clip of the integers between Quantize and Dequantize), and QONNX Quant / BipolarQuant. Weights fold to the
values the quantized model computes with, exactly; activation quantizers become Clips to their range; the forms
fcomp does not read are named by node and op; an uncompressed build of a QDQ digits model checks its C-sim against
ONNX Runtime running the quantized file itself, and its fcomp_accel is bit-exact."""

from __future__ import annotations


import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnx_builders as B
from compiler.errors import UnsupportedModelError
from compiler.frontend import import_onnx

QONNX = "qonnx.custom_op.general"


def _ort_qdq(tmp_path, per_channel: bool):
    """A small float conv net quantized by ONNX Runtime's quantize_static (QDQ, int8; `models.quantize`)."""
    from models.quantize import quantize_qdq

    r = B.rng(0)
    inits = [B.init("w1", (r.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32)),
             B.init("b1", (r.standard_normal(4) * 0.1).astype(np.float32)),
             B.init("w2", (r.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32)),
             B.init("b2", (r.standard_normal(4) * 0.1).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["r1", "c2"], ["y"], name="add")]
    src = B.save(B.make_model(nodes, [B.vi("x", [1, 1, 6, 6])], [B.vi("y", [1, 4, 6, 6])], inits),
                 tmp_path / "float.onnx")
    feed = [np.random.default_rng(i).random((1, 1, 6, 6), dtype=np.float32) for i in range(16)]
    return quantize_qdq(src, tmp_path / "q.onnx", feed, per_channel)


@pytest.mark.parametrize("per_channel", [False, True])
def test_ort_qdq_models_import_weights_exactly_and_activations_as_clips(tmp_path, per_channel):
    path = _ort_qdq(tmp_path, per_channel)
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    fe = import_onnx(path)
    g = fe.graph
    assert g.metadata["quantized"]["format"] == "QDQ"
    convs = [n for n in g.nodes if n.op == "conv"]
    assert len(convs) == 2
    for conv, w in zip(convs, ("w1", "w2")):   # (q - zp) * scale, per output channel when per_channel
        q, s = inits[f"{w}_quantized"].astype(np.int64), inits[f"{w}_scale"]
        want = (q * (s.reshape(-1, 1, 1, 1) if s.ndim else s)).astype(np.float32)
        assert np.array_equal(conv.weights["W"], want)
    clips = [n for n in g.nodes if n.op == "clip"]
    assert len(clips) >= 3 and all(n.attrs["min"] is not None and n.attrs["max"] is not None for n in clips)
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in fe.onnx_model.graph.node)
    x = B.random_input(m)
    want, got = B.run_ort(m, x), B.run_ir(g, x)
    out_scale = float(next(v for k, v in inits.items() if k.startswith("y_") and k.endswith("scale")))
    assert np.max(np.abs(want - got)) <= 2 * out_scale          # the int8 grid's rounding, nothing more


def _qcdq_model():
    """Brevitas-style QCDQ: weights Quantize(float) -> Clip(int) -> Dequantize; the activation after the ReLU
    Quantize -> Clip(0, 100) -> Dequantize (uint8 at scale 0.05, zero point 0: a clip to [0, 5])."""
    r = B.rng(1)
    w = (r.standard_normal((3, 2, 3, 3)) * 0.4).astype(np.float32)
    inits = [B.init("w", w), B.init("ws", np.float32(0.02)), helper.make_tensor("wz", TensorProto.INT8, [], [0]),
             helper.make_tensor("wlo", TensorProto.INT8, [], [-100]), helper.make_tensor("whi", TensorProto.INT8, [],
                                                                                       [100]),
             B.init("s", np.float32(0.05)), helper.make_tensor("z", TensorProto.UINT8, [], [0]),
             helper.make_tensor("lo", TensorProto.UINT8, [], [0]),
             helper.make_tensor("hi", TensorProto.UINT8, [], [100])]
    nodes = [helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="wq"),
             helper.make_node("Clip", ["wq", "wlo", "whi"], ["wc"], name="wclip"),
             helper.make_node("DequantizeLinear", ["wc", "ws", "wz"], ["wd"], name="wdq"),
             helper.make_node("Conv", ["x", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("QuantizeLinear", ["r", "s", "z"], ["rq"], name="act_q"),
             helper.make_node("Clip", ["rq", "lo", "hi"], ["rc"], name="act_clip"),
             helper.make_node("DequantizeLinear", ["rc", "s", "z"], ["y"], name="act_dq")]
    m = B.make_model(nodes, [B.vi("x", [1, 2, 5, 5])], [B.vi("y", [1, 3, 5, 5])], inits)
    return m, w


def test_qcdq_weights_fold_and_the_clipped_activation_quantizer_becomes_its_range(tmp_path):
    m, w = _qcdq_model()
    g = import_onnx(B.save(m, tmp_path / "qcdq.onnx")).graph
    conv = next(n for n in g.nodes if n.op == "conv")
    want = (np.clip(np.rint(w / np.float32(0.02)), -100, 100) * np.float32(0.02)).astype(np.float32)
    assert np.array_equal(conv.weights["W"], want)
    clip = next(n for n in g.nodes if n.op == "clip")
    assert clip.attrs["min"] == 0.0 and clip.attrs["max"] == pytest.approx(5.0)
    x = B.random_input(m) * 4
    assert np.max(np.abs(B.run_ort(m, x) - B.run_ir(g, x))) <= 0.05 / 2 + 1e-6   # half a grid step


def _qonnx_model(w):
    """QONNX: a 4-bit per-channel signed narrow Quant of the conv weights, an 8-bit unsigned Quant of the
    activation (scale 1/32), a BipolarQuant of the dense weights."""
    wd = (B.rng(3).standard_normal((3 * 3 * 3, 4)) * 0.5).astype(np.float32)
    inits = [B.init("w", w), B.init("ws", np.asarray([0.1, 0.05, 0.2], np.float32).reshape(3, 1, 1, 1)),
             B.init("zero", np.float32(0)), B.init("b4", np.float32(4)), B.init("s", np.float32(1 / 32)),
             B.init("b8", np.float32(8)), B.init("wd", wd), B.init("sd", np.float32(0.25)),
             B.init("shape", np.asarray([1, -1], np.int64))]
    nodes = [helper.make_node("Quant", ["w", "ws", "zero", "b4"], ["wq"], name="wquant", domain=QONNX, signed=1,
                              narrow=1, rounding_mode="ROUND"),
             helper.make_node("Conv", ["x", "wq"], ["c"], name="conv"),
             helper.make_node("Quant", ["c", "s", "zero", "b8"], ["a"], name="aquant", domain=QONNX, signed=0,
                              narrow=0, rounding_mode="ROUND"),
             helper.make_node("Reshape", ["a", "shape"], ["f"], name="flat"),
             helper.make_node("BipolarQuant", ["wd", "sd"], ["wdq"], name="wbin", domain=QONNX),
             helper.make_node("MatMul", ["f", "wdq"], ["y"], name="fc")]
    m = helper.make_model(helper.make_graph(nodes, "qonnx", [B.vi("x", [1, 1, 5, 5])], [B.vi("y", [1, 4])], inits),
                          opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])
    return m, wd


def test_qonnx_quant_and_bipolar_weights_fold_and_the_activation_quant_becomes_its_range(tmp_path):
    w = (B.rng(2).standard_normal((3, 1, 3, 3)) * 0.5).astype(np.float32)
    m, wd = _qonnx_model(w)
    g = import_onnx(B.save(m, tmp_path / "qonnx.onnx")).graph
    assert g.metadata["quantized"]["format"] == "QONNX"
    conv = next(n for n in g.nodes if n.op == "conv")
    s = np.asarray([0.1, 0.05, 0.2]).reshape(3, 1, 1, 1)
    assert np.allclose(conv.weights["W"], np.clip(np.round(w / s), -7, 7) * s, atol=1e-7)   # narrow 4-bit
    dense = next(n for n in g.nodes if n.op == "dense")
    assert np.array_equal(dense.weights["W"], np.where(wd >= 0, 0.25, -0.25).astype(np.float32))
    clip = next(n for n in g.nodes if n.op == "clip")
    assert clip.attrs["min"] == 0.0 and clip.attrs["max"] == pytest.approx(255 / 32)


@pytest.mark.parametrize("case,node,op,why", [
    ("q_alone", "q", "QuantizeLinear", "QDQ form"),
    ("per_axis_activation", "q", "QuantizeLinear", "per axis"),
    ("qlinearconv", "q", "QuantizeLinear", "QuantFormat.QDQ"),     # its integers feed QLinearConv
    ("bipolar_activation", "bq", "BipolarQuant", "binary activations"),
])
def test_quantized_forms_fcomp_does_not_read_are_named(tmp_path, case, node, op, why):
    r = B.rng(0)
    inits = [B.init("w", (r.standard_normal((2, 2, 1, 1))).astype(np.float32)), B.init("s", np.float32(0.1)),
             helper.make_tensor("z", TensorProto.INT8, [], [0])]
    opsets = [helper.make_opsetid("", 13)]
    if case == "q_alone":          # integers handed to a Cast: the quantized tensor itself is used
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q8"], name="q"),
                 helper.make_node("Cast", ["q8"], ["qf"], name="cast", to=TensorProto.FLOAT),
                 helper.make_node("Conv", ["qf", "w"], ["y"], name="conv")]
    elif case == "per_axis_activation":
        inits[1] = B.init("s", np.asarray([0.1, 0.2], np.float32))
        inits[2] = helper.make_tensor("z", TensorProto.INT8, [2], [0, 0])
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q8"], name="q", axis=1),
                 helper.make_node("DequantizeLinear", ["q8", "s", "z"], ["d"], name="dq", axis=1),
                 helper.make_node("Conv", ["d", "w"], ["y"], name="conv")]
    elif case == "qlinearconv":
        inits += [helper.make_tensor("w8", TensorProto.INT8, [2, 2, 1, 1], [1, -1, 2, 0])]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q8"], name="q"),
                 helper.make_node("QLinearConv", ["q8", "s", "z", "w8", "s", "z", "s", "z"], ["c8"], name="qconv"),
                 helper.make_node("DequantizeLinear", ["c8", "s", "z"], ["y"], name="dq")]
    else:
        inits.append(B.init("one", np.float32(1)))
        nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["b"], name="bq", domain=QONNX),
                 helper.make_node("Conv", ["b", "w"], ["y"], name="conv")]
        opsets.append(helper.make_opsetid(QONNX, 1))
    m = helper.make_model(helper.make_graph(nodes, "bad", [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 2, 3, 3])],
                                            inits), opset_imports=opsets)
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / f"{case}.onnx"))
    assert err.value.node == node and err.value.op == op and why in str(err.value), str(err.value)


def test_inspect_names_the_quantizer_rewrites(tmp_path):
    from compiler.frontend.inspect import inspect_model

    d = inspect_model(_ort_qdq(tmp_path, True))
    assert d["supported"]
    passes = {c["pass"] for c in d["normalization"]}
    assert {"FoldQuantizers", "QuantizersToClip"} <= passes
    rows = [r for r in d["nodes"] if r["op"] == "QuantizeLinear"]
    assert rows and all("Clip to the quantizer's range" in (r["normalized"] or "") for r in rows)


@pytest.mark.sim
def test_uncompressed_build_of_a_qdq_digits_model_checks_the_quantized_file(tmp_path, zoo_onnx):
    """digits_cnn quantized by ONNX Runtime as `make build` does (`models.quantize`: per channel, calibrated on 32
    training digits), built without compression: the C-sim agrees with ONNX Runtime running the QDQ file, and
    fcomp_accel is bit-exact."""
    import json

    from compiler import api
    from models.quantize import digits_calibration, quantize_qdq

    path = quantize_qdq(zoo_onnx("digits_cnn"), tmp_path / "digits_cnn_qdq.onnx", digits_calibration((1, 16, 16)))
    out = tmp_path / "out"
    report = api.build(str(path), board="zcu104", data="digits", output=str(out), compression=None, n_check=8)
    q = report["check"]["quantized_model"]
    assert q["format"] == "QDQ" and q["gates_the_build"] and q["passed"] and q["top1_agreement"] >= 0.9, q
    assert report["check"]["passed"]
    assert "Against the quantized model itself" in (out / "report.html").read_text()
    net = json.loads((out / "verify.json").read_text())["network"]
    assert net["passed"] and net["mismatches"] == 0, net


@pytest.mark.parametrize("between", [None, "relu", "clip"])
def test_a_dense_after_flatten_gets_channels_last_rows_through_an_elementwise_op(between):
    """A QDQ model puts a Clip (its activation quantizer) between Flatten and the Dense: the Dense's rows must
    still be permuted from CHW to hls4ml's HWC order (they were not: the C-sim of a QDQ digits_cnn disagreed with
    the golden model on 80 of 80 outputs)."""
    from compiler.backend.hls4ml_emit import lower_to_hls4ml
    from compiler.ir import Graph, Node

    w = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(12, 4)
    nodes = [Node("x", "input", [], (2, 2, 3)), Node("f", "flatten", ["x"], (12,))]
    src = "f"
    if between:
        nodes.append(Node("e", between, ["f"], (12,), attrs={"min": 0.0, "max": 6.0} if between == "clip" else {}))
        src = "e"
    nodes.append(Node("d", "dense", [src], (4,), weights={"W": w, "b": np.zeros(4, np.float32)}))
    layers, _ = lower_to_hls4ml(Graph("g", nodes, ["d"]), "m")
    got = next(l for l in layers if l["class_name"] == "Dense")["weight_data"]
    assert np.array_equal(got, w.reshape(2, 2, 3, 4).transpose(1, 2, 0, 3).reshape(12, 4))


@pytest.mark.sim
@pytest.mark.parametrize("op", ["Relu", "Clip"])
def test_an_elementwise_op_after_flatten_is_bit_exact_in_the_csim(tmp_path, op):
    """conv -> Flatten -> Relu/Clip -> MatMul (a QDQ model's activation quantizer sits right after its Flatten):
    hls4ml 1.3 skipped the 1-D Reshape in io_stream, so the element-wise layer read a 4-value pixel beat as all 64
    values; the C-sim's output differed from the golden model on every input before the flatten was emitted as
    a (1, N) Reshape that hls4ml repacks."""
    from compiler.backend.hls4ml_emit import hls_config, lower_to_hls4ml
    from compiler.backend.hls4ml_project import HlsProject
    from compiler.backend.precision import assign_precisions
    from compiler.plan import plan_layers
    from compiler.rtl.network import build_network, run_network
    from compiler.verify.reference import tensor_ranges

    r = B.rng(0)
    inits = [B.init("w", (r.standard_normal((4, 2, 3, 3)) * 0.5).astype(np.float32)),
             B.init("wd", (r.standard_normal((64, 5)) * 0.3).astype(np.float32)),
             B.init("lo", np.float32(0)), B.init("hi", np.float32(1.5))]
    act = helper.make_node(op, ["f"] + (["lo", "hi"] if op == "Clip" else []), ["a"], name="act")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"), act,
             helper.make_node("MatMul", ["a", "wd"], ["y"], name="fc")]
    path = B.save(B.make_model(nodes, [B.vi("x", [1, 2, 4, 4])], [B.vi("y", [1, 5])], inits), tmp_path / "m.onnx")
    fe = import_onnx(path)
    g = fe.graph
    x = np.random.default_rng(0).standard_normal((4, 2, 4, 4)).astype(np.float32)
    prec = assign_precisions(g, tensor_ranges(fe.onnx_model, x, [n.name for n in g.nodes]), 16, 16)
    plan = plan_layers(g)
    layers, names = lower_to_hls4ml(g, path, prec)
    p = HlsProject(layers, hls_config(g, layers, names, prec, plan, trace=True), tmp_path / "hls",
                   "xczu7ev-ffvc1156-2-e", 200, names[g.inputs[0].name], names[g.outputs[0]])
    p.write()
    p.compile()
    net = build_network(g, prec, plan, None)
    trace = p.trace(x.transpose(0, 2, 3, 1).reshape(len(x), -1))
    got = np.round(np.asarray(trace[names[g.outputs[0]]], np.float64).reshape(len(x), -1)
                   * 2.0 ** net.output.out.fraction).astype(np.int64)
    assert np.array_equal(got, run_network(net, x).reshape(len(x), -1))


def _qonnx_ternary_model():
    """A QONNX net whose weights are already ternary: two convs under 2-bit signed narrow Quant (zero offset, one
    scale per output channel), an 8-bit unsigned activation Quant between them, a global pool, and a classifier
    under BipolarQuant (codes +-1)."""
    r = B.rng(5)
    inits = [B.init("w1", (r.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32)),
             B.init("s1", np.asarray([0.25, 0.5, 0.125, 0.375], np.float32).reshape(4, 1, 1, 1)),
             B.init("w2", (r.standard_normal((4, 4, 3, 3)) * 0.5).astype(np.float32)),
             B.init("s2", np.asarray([0.25, 0.25, 0.5, 0.125], np.float32).reshape(4, 1, 1, 1)),
             B.init("wd", r.standard_normal((4, 3)).astype(np.float32)), B.init("sd", np.float32(0.5)),
             B.init("zero", np.float32(0)), B.init("two", np.float32(2)), B.init("eight", np.float32(8)),
             B.init("sa", np.float32(1 / 16)), B.init("shape", np.asarray([1, -1], np.int64))]
    q2 = dict(domain=QONNX, signed=1, narrow=1, rounding_mode="ROUND")
    nodes = [helper.make_node("Quant", ["w1", "s1", "zero", "two"], ["w1q"], name="q1", **q2),
             helper.make_node("Conv", ["x", "w1q"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Quant", ["c1", "sa", "zero", "eight"], ["a1"], name="act", domain=QONNX, signed=0,
                              narrow=0, rounding_mode="ROUND"),
             helper.make_node("Quant", ["w2", "s2", "zero", "two"], ["w2q"], name="q2", **q2),
             helper.make_node("Conv", ["a1", "w2q"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             helper.make_node("Reshape", ["g", "shape"], ["f"], name="flat"),
             helper.make_node("BipolarQuant", ["wd", "sd"], ["wdq"], name="qd", domain=QONNX),
             helper.make_node("MatMul", ["f", "wdq"], ["y"], name="fc")]
    return helper.make_model(helper.make_graph(nodes, "qt", [B.vi("x", [1, 1, 8, 8])], [B.vi("y", [1, 3])], inits),
                             opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)])


def test_already_ternary_weights_get_codes_and_scales(tmp_path):
    from compiler.backend.precision import is_ternary

    g = import_onnx(B.save(_qonnx_ternary_model(), tmp_path / "qt.onnx")).graph
    assert len(g.metadata["quantized"]["ternary_layers"]) == 3
    for n in g.weighted():
        assert is_ternary(n) and set(np.unique(n.weights["codes"])) <= {-1, 0, 1}
        c = n.weights["codes"]
        mat = c.reshape(c.shape[0], -1) if n.op == "conv" else c.T
        assert np.array_equal(mat * n.weights["scale"][:, None],
                              n.weights["W"].reshape(c.shape[0], -1) if n.op == "conv" else n.weights["W"].T)
    assert g.node(g.weighted()[0].name).weights["scale"].tolist() == [0.25, 0.5, 0.125, 0.375]


@pytest.mark.sim
def test_uncompressed_build_of_a_ternary_qonnx_model_runs_on_pe_arrays(tmp_path):
    """Built with compression off, the quantized model's own ternary codes go to the adder-only PE layers
    (tpe_layer), not ternarized again; C-sim and fcomp_accel agree bit for bit; the check against the quantized
    file says ONNX Runtime cannot run QONNX."""
    import json

    from compiler import api

    path = B.save(_qonnx_ternary_model(), tmp_path / "qt.onnx")
    out = tmp_path / "out"
    report = api.build(str(path), board="zcu104", output=str(out), compression=None, n_check=8)
    assert report["check"]["passed"] and "cannot run" in report["check"]["quantized_model"]["skipped"]
    assert report["check"]["golden"]["bit_exact_vs_csim"]
    net = json.loads((out / "verify.json").read_text())["network"]
    assert net["passed"] and net["mismatches"] == 0, net
    acc = json.loads((out / "rtl" / "fcomp_accel" / "accel.json").read_text())
    kinds = [m["module"] for m in acc["cycle_model"]["modules"]]
    assert kinds.count("tpe_layer") == 3 and "fc_mac_layer" not in kinds, kinds


def test_qonnx_quant_follows_qonnx_int_quant():
    """Against qonnx's own int_quant (installed with hls4ml): float32 arithmetic (a float64 division rounds some
    .5 ties the other way), every rounding mode it knows, narrow ranges, and 1-bit signed as bipolar."""
    from qonnx.custom_op.general.intquant import int_quant

    from compiler.frontend.passes import _QONNX_ROUND, qonnx_quant

    r = np.random.default_rng(0)
    x = (r.standard_normal(200_000) * 0.3).astype(np.float32)
    x[:4] = [0.0, 0.3, -0.3, 0.7]
    s = np.float32(0.010352779)
    for mode in _QONNX_ROUND:
        for bits, signed, narrow in ((8, True, False), (4, True, True), (2, True, True), (3, False, True),
                                     (1, True, False)):
            want = int_quant(x, s, np.float32(0), np.float32(bits), signed, narrow, mode)
            got = qonnx_quant(x, s, np.float32(0), bits, signed, narrow, mode)
            assert np.array_equal(got, want.astype(np.float32)), (mode, bits, signed, narrow)


def test_a_one_bit_signed_activation_quant_is_refused_not_zeroed(tmp_path):
    m, _ = _qonnx_model((B.rng(2).standard_normal((3, 1, 3, 3)) * 0.5).astype(np.float32))
    act = next(n for n in m.graph.node if n.name == "aquant")
    next(i for i in m.graph.initializer if i.name == "b8").CopyFrom(B.init("b8", np.float32(1)))
    for a in act.attribute:
        if a.name == "signed":
            a.i = 1
    with pytest.raises(UnsupportedModelError) as err:
        import_onnx(B.save(m, tmp_path / "bin.onnx"))
    assert err.value.node == "aquant" and "binary activation" in str(err.value)


def test_a_quantized_tensor_that_is_a_graph_output_keeps_its_quantizer(tmp_path):
    """Q -> Clip -> DQ where the Q's integers are also a graph output: QuantizersToClip leaves it alone (lowering it
    would leave that output without a producer) and the model is refused with one clear line (an int8 output)."""
    from compiler.errors import FcompError

    inits = [B.init("s", np.float32(0.1)), helper.make_tensor("z", TensorProto.INT8, [], [0]),
             helper.make_tensor("lo", TensorProto.INT8, [], [-100]), helper.make_tensor("hi", TensorProto.INT8, [],
                                                                                      [100])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("Clip", ["q", "lo", "hi"], ["c"], name="clip"),
             helper.make_node("DequantizeLinear", ["c", "s", "z"], ["y"], name="dq")]
    g = helper.make_graph(nodes, "g", [B.vi("x", [1, 2, 3, 3])],
                          [B.vi("y", [1, 2, 3, 3]), helper.make_tensor_value_info("q", TensorProto.INT8, [1, 2, 3, 3])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(FcompError) as err:
        import_onnx(B.save(m, tmp_path / "qout.onnx"))
    assert "'q' has element type INT8" in str(err.value)
    from compiler.frontend.passes import QuantizersToClip

    assert QuantizersToClip().apply(m)[1] is False


def test_one_quantize_read_by_two_dequantizes_becomes_one_clip(tmp_path):
    """ONNX Runtime's DedicatedQDQPair form: each consumer has its own DequantizeLinear of the same integers."""
    r = B.rng(0)
    inits = [B.init("s", np.float32(0.05)), helper.make_tensor("z", TensorProto.INT8, [], [0]),
             B.init("w", r.standard_normal((2, 2, 1, 1)).astype(np.float32))]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d1"], name="dq1"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d2"], name="dq2"),
             helper.make_node("Conv", ["d1", "w"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "d2"], ["y"], name="add")]
    m = B.make_model(nodes, [B.vi("x", [1, 2, 3, 3])], [B.vi("y", [1, 2, 3, 3])], inits)
    g = import_onnx(B.save(m, tmp_path / "pair.onnx")).graph
    assert [n.op for n in g.nodes] == ["input", "clip", "conv", "add"]
    x = B.random_input(m) * 3
    assert np.max(np.abs(B.run_ort(m, x) - B.run_ir(g, x))) <= 0.05 * 0.5 * 3 + 1e-6


def test_compressing_an_already_ternary_model_drops_its_stale_codes(tmp_path):
    """The imported codes describe the imported weights only: layers fine-tuned at 8 bits
    (--first-last-bits 8) must not keep them (build_compressed_onnx refused W != codes * scale)."""
    from compiler.backend.precision import is_ternary
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.compress.export_onnx import build_compressed_onnx
    from compiler.plan import plan_layers

    g = import_onnx(B.save(_qonnx_ternary_model(), tmp_path / "qt.onnx")).graph
    res = compress(g, plan_layers(g), CompressionConfig(strategy="pe-wise", first_last_bits=8, target=2.0))
    first, *_, last = res.graph.weighted()
    assert not is_ternary(first) and not is_ternary(last)
    build_compressed_onnx(res.graph)


def test_one_input_layers_are_not_taken_for_ternary(tmp_path):
    from compiler.frontend import mark_ternary
    from compiler.ir import Graph, Node

    g = Graph("g", [Node("x", "input", [], (1, 4, 4)),
                    Node("c", "conv", ["x"], (3, 4, 4), attrs={"kernel": [1, 1], "strides": [1, 1], "pads": [0] * 4},
                         weights={"W": np.asarray([0.3, -1.2, 0.7], np.float32).reshape(3, 1, 1, 1),
                                  "b": np.zeros(3, np.float32)})], ["c"])
    assert mark_ternary(g) == [] and "codes" not in g.node("c").weights
