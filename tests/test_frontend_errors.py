"""Bad inputs to `import_onnx`: every one ends in a one-line FcompError that names the file and, where a node
is to blame, the node's ORIGINAL name and its op type."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnx_builders as B
from compiler.errors import FcompError, UnsupportedModelError
from compiler.frontend import import_onnx


def import_error(path) -> FcompError:
    with pytest.raises(FcompError) as err:
        import_onnx(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"
    assert "Traceback" not in msg
    return err.value


def assert_names_node(err: FcompError, node: str, op: str):
    msg = str(err)
    assert f"node '{node}'" in msg, msg
    assert f"(op {op})" in msg, msg
    assert isinstance(err, UnsupportedModelError)
    assert err.node == node and err.op == op


# ---- files that are not ONNX models ----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    err = import_error(tmp_path / "nope.onnx")
    assert "no such file" in str(err)


def test_directory(tmp_path):
    import_error(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    assert "empty" in str(import_error(p))


def test_truncated_zoo_model(tmp_path, zoo_onnx):
    blob = zoo_onnx("digits_cnn").read_bytes()
    p = tmp_path / "digits_cnn_truncated.onnx"
    p.write_bytes(blob[: len(blob) // 2])
    assert "not a readable ONNX model" in str(import_error(p))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [16, 4096])
def test_random_bytes(tmp_path, seed, size):
    p = tmp_path / f"random_{seed}_{size}.onnx"
    p.write_bytes(np.random.default_rng(seed).bytes(size))
    import_error(p)


def test_valid_protobuf_without_graph(tmp_path):
    p = tmp_path / "no_graph.onnx"
    p.write_bytes(b"\x08\x07")  # ModelProto{ir_version: 7}
    assert "no nodes" in str(import_error(p))


def test_checker_failure_is_one_line(tmp_path):
    model = B.gemm_model()
    model.graph.node[1].input[0] = "not_produced_anywhere"
    err = import_error(B.save(model, tmp_path / "broken.onnx"))
    assert "invalid ONNX model" in str(err)


# ---- valid ONNX that fcomp cannot build ------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["Softplus", "Tanh", "Softmax"])
def test_unsupported_op(tmp_path, op):
    err = import_error(B.save(B.unsupported_op_model(op, node_name=f"my {op}!"), tmp_path / "unsup.onnx"))
    assert_names_node(err, f"my {op}!", op)
    assert "unsupported op" in str(err)


def test_unsupported_op_lstm(tmp_path):
    err = import_error(B.save(B.lstm_model(), tmp_path / "lstm.onnx"))
    assert_names_node(err, "lstm", "LSTM")


def test_unsupported_op_keeps_original_metachar_name(tmp_path):
    name = "/blk.0/$(touch pwned); rm -rf ../`x` <a>&b|c #include"
    err = import_error(B.save(B.unsupported_op_model("Softplus", node_name=name), tmp_path / "evil.onnx"))
    assert_names_node(err, name, "Softplus")


def test_unsupported_op_newline_in_name_still_one_line(tmp_path):
    err = import_error(B.save(B.unsupported_op_model("Softplus", node_name=B.EVIL), tmp_path / "evil.onnx"))
    assert "rm -rf" in str(err) and "(op Softplus)" in str(err)


def test_dynamic_dim_param_with_newline_still_one_line(tmp_path):
    model = B.dynamic_nonbatch_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H\nERROR: fake second line"
    import_error(B.save(model, tmp_path / "dyn.onnx"))


def test_dynamic_non_batch_dimension(tmp_path):
    err = import_error(B.save(B.dynamic_nonbatch_model(), tmp_path / "dyn.onnx"))
    msg = str(err)
    assert "'x'" in msg and "dimension 2" in msg and "'H'" in msg


def test_fixed_batch_other_than_1(tmp_path):
    model = B.conv_bn_relu_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 4
    assert "batch size 4" in str(import_error(B.save(model, tmp_path / "b4.onnx")))


def test_non_float_model(tmp_path):
    model = B.make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                         [B.vi("x", [1, 4], TensorProto.DOUBLE)], [B.vi("y", [1, 4], TensorProto.DOUBLE)])
    assert "float32" in str(import_error(B.save(model, tmp_path / "f64.onnx")))


def test_huge_declared_shape(tmp_path):
    model = B.make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [B.vi("x", [1, 65536, 65536])],
                         [B.vi("y", [1, 65536, 65536])])
    assert "elements" in str(import_error(B.save(model, tmp_path / "huge.onnx")))


def test_grouped_conv_is_no_longer_an_error(tmp_path):
    """group=2 was refused here until grouped convs were built (tests/test_grouped_conv.py has the forms that
    still are: a group that does not split the channels)."""
    from compiler.frontend import import_onnx

    m = B.grouped_conv_model()
    g = import_onnx(B.save(m, tmp_path / "gconv.onnx")).graph
    assert next(n for n in g.nodes if n.op == "conv").attrs["group"] == 2
    x = B.random_input(m)
    assert np.allclose(B.run_ir(g, x), B.run_ort(m, x), atol=1e-5)


def test_maxpool_ceil_mode(tmp_path):
    err = import_error(B.save(B.maxpool_ceil_model(), tmp_path / "ceil.onnx"))
    assert_names_node(err, "pool", "MaxPool")
    assert "ceil_mode" in str(err)


def test_dilated_conv(tmp_path):
    model = B.grouped_conv_model()
    conv = model.graph.node[0]
    del conv.attribute[:]
    conv.attribute.extend([helper.make_attribute("kernel_shape", [3, 3]), helper.make_attribute("dilations", [2, 2])])
    model.graph.initializer[0].CopyFrom(B.init("W", np.zeros((4, 4, 3, 3), np.float32)))
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 2
    model.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 2
    err = import_error(B.save(B.checked(model), tmp_path / "dil.onnx"))
    assert_names_node(err, "gconv", "Conv")
    assert "dilations" in str(err)


def test_batchnorm_not_after_conv(tmp_path):
    r = B.rng(0)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc"),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"], name="bn1d")]
    inits = [B.init("W", r.standard_normal((4, 3)).astype(np.float32)), B.init("B", np.zeros(3, np.float32)),
             B.init("g", np.ones(3, np.float32)), B.init("b", np.zeros(3, np.float32)),
             B.init("m", np.zeros(3, np.float32)), B.init("v", np.ones(3, np.float32))]
    model = B.checked(B.make_model(nodes, [B.vi("x", [1, 4])], [B.vi("y", [1, 3])], inits))
    err = import_error(B.save(model, tmp_path / "bn1d.onnx"))
    assert_names_node(err, "bn1d", "BatchNormalization")


def test_add_of_a_tensor_to_itself(tmp_path):
    """Add(x, x): hls4ml's stream clone and the RTL's fork are per consumer, so one node reading a stream twice
    would deadlock; refused by name (found by the Concat(x, x) review)."""
    r = B.rng(0)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "h"], ["y"], name="twice")]
    inits = [B.init("W", r.standard_normal((4, 3)).astype(np.float32)), B.init("B", np.zeros(3, np.float32))]
    model = B.checked(B.make_model(nodes, [B.vi("x", [1, 4])], [B.vi("y", [1, 3])], inits))
    err = import_error(B.save(model, tmp_path / "twice.onnx"))
    assert_names_node(err, "twice", "Add")
    assert "itself" in str(err)


def test_missing_weights_is_rejected(tmp_path):
    import_error(B.save(B.conv_weight_as_input_model(), tmp_path / "missing_w.onnx"))


def test_missing_weights_names_the_conv(tmp_path):
    err = import_error(B.save(B.conv_weight_as_input_model(), tmp_path / "missing_w.onnx"))
    assert_names_node(err, "conv_missing_w", "Conv")


def test_two_outputs(tmp_path):
    err = import_error(B.save(B.two_outputs_model(), tmp_path / "two.onnx"))
    assert "2 outputs" in str(err)


def test_clip_with_general_constant_bounds_is_built(tmp_path):
    model = B.pools_model()
    for t in model.graph.initializer:
        if t.name == "zero":
            t.CopyFrom(B.init("zero", np.array(-1.0, np.float32)))
    g = import_onnx(B.save(model, tmp_path / "clip.onnx")).graph
    clip = next(n for n in g.nodes if n.op == "clip")
    assert clip.attrs["min"] == -1.0 and clip.attrs["max"] is not None


def test_clip_with_a_bound_computed_at_run_time(tmp_path):
    """Clip(x, min=Relu(x)[0]): not a constant, one line naming the node and op."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="act"),
             helper.make_node("Clip", ["x", "r"], ["y"], name="clamp")]
    model = B.make_model(nodes, [B.vi("x", [1, 1])], [B.vi("y", [1, 1])])
    err = import_error(B.save(model, tmp_path / "clip_dyn.onnx"))
    assert_names_node(err, "clamp", "Clip")
    assert "computed at run time" in str(err) and "constant bounds" in str(err)


def test_gemm_with_scalar_bias_is_built_or_blamed_on_the_gemm(tmp_path):
    model = B.gemm_model()
    for t in model.graph.initializer:
        if t.name == "C1":
            t.CopyFrom(B.init("C1", np.array([0.5], np.float32)))
    path = B.save(B.checked(model), tmp_path / "gemm_scalar_bias.onnx")
    try:
        result = import_onnx(path)
    except FcompError as err:
        assert_names_node(err, "fc1", "Gemm")
    else:
        x = B.random_input(model)
        np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)


@pytest.mark.parametrize("kind", ["value_ints", "value_float"])
def test_constant_with_value_ints_or_float(tmp_path, kind):
    if kind == "value_ints":
        model = B.reshape_model()
        keep = [t for t in model.graph.initializer if t.name != "shape"]
        model.graph.node.insert(0, helper.make_node("Constant", [], ["shape"], name="cshape", value_ints=[1, -1]))
    else:
        model = B.pools_model()
        keep = [t for t in model.graph.initializer if t.name != "six"]
        model.graph.node.insert(0, helper.make_node("Constant", [], ["six"], name="csix", value_float=6.0))
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    path = B.save(B.checked(model), tmp_path / f"{kind}.onnx")
    try:
        result = import_onnx(path)
    except FcompError as err:
        pytest.fail(f"valid Constant({kind}) rejected: {err}")
    x = B.random_input(model)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)


# ---- accepted: dynamic batch -----------------------------------------------------------------------------------
def test_dynamic_batch_is_accepted_and_fixed_to_1(tmp_path):
    model = B.dynamic_batch_model()
    result = import_onnx(B.save(model, tmp_path / "dynbatch.onnx"))
    dims = [d.dim_value for d in result.onnx_model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 4, 4]
    assert [n.op for n in result.graph.nodes] == ["input", "conv", "relu", "flatten", "dense"]
    assert result.graph.nodes[0].shape == (1, 4, 4) and result.graph.nodes[-1].shape == (5,)
    for seed in range(2):
        x = B.random_input(model, seed)
        want = B.run_ort(model, x)
        np.testing.assert_allclose(B.run_ort(result.onnx_model, x), want, atol=1e-5)
        np.testing.assert_allclose(B.run_ir(result.graph, x), want, atol=1e-5)


def test_dynamic_batch_with_reshape_is_accepted(tmp_path):
    model = B.reshape_model()
    for v in (model.graph.input[0], model.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    result = import_onnx(B.save(B.checked(model), tmp_path / "dynreshape.onnx"))
    assert [n.op for n in result.graph.nodes] == ["input", "conv", "relu", "flatten", "dense"]
    x = B.random_input(model)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)


# ---- accepted: hand-built models, IR checked against ONNX Runtime ---------------------------------------------
@pytest.mark.parametrize("builder", ["conv_bn_relu_model", "gemm_model", "identity_dropout_constant_model",
                                     "reshape_model", "evil_names_model", "initializers_as_inputs_model",
                                     "pools_model"])
def test_hand_built_models_import_and_match_ort(tmp_path, builder):
    model = getattr(B, builder)()
    result = import_onnx(B.save(model, tmp_path / f"{builder}.onnx"))
    onnx.checker.check_model(result.onnx_model, full_check=True)
    for n in result.graph.nodes:
        assert B.SAFE_NAME.match(n.name), n.name
    originals = {n.name for n in model.graph.node} | {n.output[0] for n in model.graph.node} \
        | {i.name for i in model.graph.input}
    for n in result.graph.nodes[1:]:
        assert n.source, n.name
    assert result.graph.nodes[0].source in originals
    for seed in range(2):
        x = B.random_input(model, seed)
        want = B.run_ort(model, x)
        np.testing.assert_allclose(B.run_ort(result.onnx_model, x), want, atol=1e-5)
        np.testing.assert_allclose(B.run_ir(result.graph, x), want, atol=1e-5)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("size", [7, 8])
def test_conv_auto_pad_matches_ort(tmp_path, auto_pad, size):
    model = B.pools_model(conv_auto_pad=auto_pad, size=size)
    result = import_onnx(B.save(model, tmp_path / "pad.onnx"))
    conv = result.graph.nodes[1]
    assert conv.op == "conv" and len(conv.attrs["pads"]) == 4
    if auto_pad == "SAME_UPPER" and size == 8:
        assert conv.attrs["pads"] == [0, 0, 1, 1]
    if auto_pad == "SAME_LOWER" and size == 8:
        assert conv.attrs["pads"] == [1, 1, 0, 0]
    x = B.random_input(model, 3)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)


def test_evil_names_never_reach_the_ir(tmp_path):
    result = import_onnx(B.save(B.evil_names_model(), tmp_path / "evil.onnx"))
    for n in result.graph.nodes:
        assert B.SAFE_NAME.match(n.name) and all(B.SAFE_NAME.match(i) for i in n.inputs)
    assert B.SAFE_NAME.match(result.graph.name)
    assert result.graph.nodes[0].name != "input" and result.graph.nodes[0].source == "input"
    conv = result.graph.nodes[1]
    assert conv.op == "conv" and conv.source == B.EVIL
    assert result.original_names[conv.name] == f"{B.EVIL} bn"  # the tensor: BN folded into the conv


def test_original_names_keeps_tensor_and_node_names_apart(tmp_path):
    model = B.gemm_model()
    model.graph.input[0].name = "x "       # tensor: sanitizes to "x"
    model.graph.node[0].input[0] = "x "
    model.graph.node[1].name = "x"         # node: also "x"
    result = import_onnx(B.save(B.checked(model), tmp_path / "collide.onnx"))
    assert result.graph.nodes[0].source == "x "


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("kernel,stride,size", [(1, 2, 8), (1, 2, 7), (2, 4, 8), (3, 5, 7), (3, 2, 6), (1, 3, 8),
                                                (3, 1000, 7)])
def test_same_padding_with_stride_above_kernel_matches_ort_or_is_rejected(tmp_path, auto_pad, kernel, stride, size):
    """ONNX's SAME padding is not clamped: a stride above the kernel can crop the input (negative head padding).
    fcomp clamped it to 0 and built a model that disagreed with ONNX Runtime (found by bench/fuzz.py)."""
    r = B.rng(0)
    out = -(-size // stride)
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="conv", kernel_shape=[kernel, kernel],
                              strides=[stride, stride], auto_pad=auto_pad)]
    model = B.checked(B.make_model(nodes, [B.vi("x", [1, 1, size, size])], [B.vi("y", [1, 2, out, out])],
                                   [B.init("W", r.standard_normal((2, 1, kernel, kernel)).astype(np.float32))]))
    path = B.save(model, tmp_path / "same.onnx")
    try:
        result = import_onnx(path)
    except FcompError as err:
        assert_names_node(err, "conv", "Conv")
        assert "negative padding" in str(err)
        return
    x = B.random_input(model)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)
