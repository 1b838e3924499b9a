"""Each normalization pass alone on a hand-built model: the structural change, and that ONNX Runtime computes
the same thing before and after. Plus unit tests of compiler.names."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnx_builders as B
from compiler.errors import FcompError, UnsupportedModelError
from compiler.frontend import normalize
from compiler.frontend.passes import (CheckShapes, ConstantsToInitializers, FixBatchDimension, FoldBatchNorm,
                                      GemmToMatMul, RemoveIdentities, SanitizeNames, run_passes)
from compiler.names import MAX_LEN, RESERVED, NameTable, sanitize

TOL = 1e-5


def ops(model):
    return [n.op_type for n in model.graph.node]


def assert_same_outputs(before, after, seeds=(0, 1, 2)):
    """ONNX Runtime gives the same first output for before and after on random inputs (shape from before)."""
    for seed in seeds:
        x = B.random_input(before, seed)
        want, got = B.run_ort(before, x), B.run_ort(after, x)
        assert want.shape == got.shape
        diff = float(np.max(np.abs(want - got)))
        assert diff < TOL, f"seed {seed}: max abs diff {diff}"


def apply_once(pass_, model):
    """The pass applied once to a copy; returns (before, after, changed)."""
    before = B.copy(model)
    after, changed = pass_.apply(B.copy(model))
    return before, after, changed


def apply_all(pass_, model):
    before = B.copy(model)
    after = run_passes(B.copy(model), [pass_])
    onnx.checker.check_model(after)
    return before, after


def dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]


def all_names(model):
    """Every name in the graph: (kind, name) pairs."""
    g = model.graph
    out = [("graph", g.name)]
    out += [("node", n.name) for n in g.node]
    out += [("tensor", t) for n in g.node for t in list(n.input) + list(n.output) if t]
    out += [("tensor", t.name) for t in g.initializer]
    out += [("tensor", v.name) for v in list(g.input) + list(g.output) + list(g.value_info)]
    return out


# ---- FixBatchDimension -------------------------------------------------------------------------------------
def test_fix_batch_dimension_dynamic_batch_becomes_1():
    before, after, changed = apply_once(FixBatchDimension("m.onnx"), B.dynamic_batch_model())
    assert changed
    assert dims(before.graph.input[0])[0] == "N"
    assert dims(after.graph.input[0]) == [1, 1, 4, 4]
    assert dims(after.graph.output[0]) == [1, 5]
    inferred = {v.name: dims(v) for v in after.graph.value_info}
    assert inferred["c"] == [1, 2, 4, 4] and inferred["f"] == [1, 32]
    onnx.checker.check_model(after)
    assert_same_outputs(before, after)
    again, changed_again = FixBatchDimension("m.onnx").apply(B.copy(after))
    assert not changed_again
    assert again == after


def test_fix_batch_dimension_drops_initializers_listed_as_inputs():
    before, after = apply_all(FixBatchDimension(), B.initializers_as_inputs_model())
    assert len(before.graph.input) == 1 + len(before.graph.initializer)
    assert [i.name for i in after.graph.input] == ["x"]
    assert_same_outputs(before, after)


def test_fix_batch_dimension_static_batch_1_is_unchanged():
    before, after, changed = apply_once(FixBatchDimension(), B.conv_bn_relu_model())
    assert not changed and after == before


@pytest.mark.parametrize("case", ["dynamic_nonbatch", "batch2", "int_input", "two_inputs"])
def test_fix_batch_dimension_rejects(case):
    if case == "dynamic_nonbatch":
        model, words = B.dynamic_nonbatch_model(), ["'x'", "dimension 2", "'H'"]
    elif case == "batch2":
        model = B.conv_bn_relu_model()
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
        words = ["batch size 2"]
    elif case == "int_input":
        model = B.make_model([helper.make_node("Relu", ["x"], ["y"])], [B.vi("x", [1, 4], TensorProto.INT32)],
                             [B.vi("y", [1, 4], TensorProto.INT32)])
        words = ["INT32", "float32"]
    else:
        model, words = B.conv_weight_as_input_model(), ["missing weights", "Conv"]
    with pytest.raises(FcompError) as err:
        FixBatchDimension("dir/m.onnx").apply(model)
    msg = str(err.value)
    assert msg.startswith("dir/m.onnx: ") and "\n" not in msg
    for w in words:
        assert w in msg


# ---- ConstantsToInitializers --------------------------------------------------------------------------------
def test_constants_to_initializers():
    model = B.identity_dropout_constant_model()
    n_const = ops(model).count("Constant")
    assert n_const == 4
    before, after, changed = apply_once(ConstantsToInitializers(), model)
    assert changed and ops(after).count("Constant") == n_const - 1  # one per apply
    before, after = apply_all(ConstantsToInitializers(), model)
    assert "Constant" not in ops(after)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in after.graph.initializer}
    assert set(inits) == {"Wc", "zero", "six", "shape"}
    np.testing.assert_array_equal(inits["shape"], [1, -1])
    assert inits["six"] == np.float32(6.0) and inits["Wc"].shape == (4, 2, 3, 3)
    assert len(after.graph.node) == len(before.graph.node) - n_const
    assert_same_outputs(before, after)


# ---- RemoveIdentities ---------------------------------------------------------------------------------------
def test_remove_identities_and_dropout():
    before, after = apply_all(RemoveIdentities(), B.identity_dropout_constant_model())
    assert {"Identity", "Dropout"} & set(ops(before)) == {"Identity", "Dropout"}
    assert not {"Identity", "Dropout"} & set(ops(after))
    assert [o.name for o in after.graph.output] == ["y"]  # the graph's output name is kept
    reshape = next(n for n in after.graph.node if n.op_type == "Reshape")
    assert reshape.output[0] == "y"
    conv = next(n for n in after.graph.node if n.op_type == "Conv")
    assert conv.input[1] == "Wc"  # Identity on a weight bypassed
    assert_same_outputs(before, after)


def test_remove_identities_keeps_dropout_whose_mask_is_used():
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"], name="drop"),
             helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["d", "maskf"], ["y"], name="add")]
    model = B.checked(B.make_model(nodes, [B.vi("x", [1, 4])], [B.vi("y", [1, 4])]))
    before, after = apply_all(RemoveIdentities(), model)
    assert ops(after) == ops(before)


# ---- FoldBatchNorm -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conv_bias", [True, False])
def test_fold_batchnorm(conv_bias):
    before, after = apply_all(FoldBatchNorm(), B.conv_bn_relu_model(conv_bias=conv_bias))
    assert "BatchNormalization" in ops(before)
    assert ops(after) == ["Conv", "Relu"]
    conv = after.graph.node[0]
    assert len(conv.input) == 3 and conv.output[0] == "bn"
    inits = {t.name for t in after.graph.initializer}
    assert set(conv.input[1:]) == inits  # BN parameters and the old weights are gone
    assert_same_outputs(before, after)


def test_fold_batchnorm_leaves_bn_when_conv_output_has_other_users():
    model = B.conv_bn_relu_model()
    model.graph.node.append(helper.make_node("Relu", ["c"], ["c_relu"], name="other_user"))
    model.graph.output.append(B.vi("c_relu", [1, 4, 8, 8]))
    before, after = apply_all(FoldBatchNorm(), model)
    assert ops(after) == ops(before)
    assert_same_outputs(before, after)


# ---- GemmToMatMul -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transB,alpha,beta,bias,bias_2d", [
    (1, 1.0, 1.0, True, False),
    (0, 1.0, 1.0, True, False),
    (1, 0.5, 2.0, True, False),
    (0, -1.5, 0.25, True, True),
    (1, 2.0, 1.0, False, False),
])
def test_gemm_to_matmul(transB, alpha, beta, bias, bias_2d):
    model = B.gemm_model(transB=transB, alpha=alpha, beta=beta, bias=bias, bias_2d=bias_2d)
    before, after = apply_all(GemmToMatMul(), model)
    assert "Gemm" not in ops(after)
    expected = (["MatMul", "Add"] if bias else ["MatMul"]) + ["Relu", "MatMul", "Add"]
    assert ops(after) == expected
    assert [o.name for o in after.graph.output] == ["y"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in after.graph.initializer}
    assert set(inits) == {i for n in after.graph.node for i in n.input if i in inits}  # no leftovers
    mm = after.graph.node[0]
    assert inits[mm.input[1]].shape == (6, 5)
    if bias:
        assert inits[after.graph.node[1].input[1]].shape == (5,)
    assert_same_outputs(before, after)


def test_gemm_to_matmul_leaves_transA():
    model = B.gemm_model()
    x = model.graph.input[0]
    x.type.tensor_type.shape.dim[0].dim_value, x.type.tensor_type.shape.dim[1].dim_value = 6, 1
    model.graph.node[0].attribute.append(helper.make_attribute("transA", 1))
    before, after = apply_all(GemmToMatMul(), B.checked(model))
    assert ops(after)[0] == "Gemm" and ops(after)[-2:] == ["MatMul", "Add"]
    assert_same_outputs(before, after)


# ---- CheckShapes --------------------------------------------------------------------------------------------
def test_check_shapes_accepts_static_model():
    model = onnx.shape_inference.infer_shapes(B.conv_bn_relu_model(), strict_mode=True)
    before, after, changed = apply_once(CheckShapes("m.onnx"), model)
    assert not changed and after == before


def test_check_shapes_rejects_unknown_shape_naming_producer():
    model = B.conv_bn_relu_model()
    model.graph.value_info.append(B.vi("c", [1, 4, "H", 8]))
    with pytest.raises(UnsupportedModelError) as err:
        CheckShapes("m.onnx").apply(model)
    msg = str(err.value)
    assert msg.startswith("m.onnx: node 'conv' (op Conv): ") and "'c'" in msg and "\n" not in msg
    assert err.value.node == "conv" and err.value.op == "Conv"


def test_check_shapes_rejects_huge_declared_tensor():
    model = B.make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [B.vi("x", [1, 65536, 65536])],
                         [B.vi("y", [1, 65536, 65536])])
    with pytest.raises(FcompError, match=r"^m\.onnx: tensor '[xy]' declares more than \d+ elements$"):
        CheckShapes("m.onnx").apply(model)


# ---- SanitizeNames ------------------------------------------------------------------------------------------
def test_sanitize_names_pass():
    model = B.evil_names_model()
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # value_info gets renamed too
    assert len(model.graph.value_info) > 0
    sanitizer = SanitizeNames()
    before, after = apply_all(sanitizer, model)
    names = all_names(after)
    bad = [(k, n) for k, n in names if not B.SAFE_NAME.match(n)]
    assert not bad
    assert not [n for _, n in names if n.lower() in RESERVED]
    node_names = [n.name for n in after.graph.node]
    assert len(set(node_names)) == len(node_names)
    produced = [t for n in after.graph.node for t in n.output] + [t.name for t in after.graph.initializer] \
        + [i.name for i in after.graph.input]
    assert len(set(produced)) == len(produced)
    # Distinct raw names stay distinct ("r!" and "r?" both sanitize to "r").
    assert len(set(produced)) == len({t for n in before.graph.node for t in n.output}
                                     | {t.name for t in before.graph.initializer} | {before.graph.input[0].name})
    # The maps lead back to the raw names.
    raw_tensors = {t for n in before.graph.node for t in list(n.input) + list(n.output)}
    for t in produced:
        assert sanitizer.table.original[t] in raw_tensors
    raw_nodes = {n.name or n.output[0] for n in before.graph.node}
    assert {sanitizer.node_original[n] for n in node_names} == raw_nodes
    assert sanitizer.table.original[after.graph.input[0].name] == "input"
    assert sanitizer.table.original[after.graph.output[0].name] == "output"
    assert sanitizer.node_original[after.graph.node[0].name] == B.EVIL
    assert_same_outputs(before, after)


def test_full_normalize_on_evil_names():
    model = B.evil_names_model()
    before = B.copy(model)
    after, original = normalize(model, "evil.onnx")
    assert ops(after) == ["Conv", "Relu", "Conv", "Add", "GlobalAveragePool", "Flatten", "MatMul", "Add"]
    assert all(B.SAFE_NAME.match(n) for _, n in all_names(after))
    assert B.EVIL in original.values()
    assert_same_outputs(before, after)


def test_run_passes_stops_when_unchanged():
    calls = []

    class Twice:
        def apply(self, model):
            calls.append(1)
            return model, len(calls) < 3

    assert run_passes("m", [Twice()]) == "m"
    assert len(calls) == 3


# ---- compiler.names -----------------------------------------------------------------------------------------
NASTY = ["", None, "_", "___", "$$$", "123", "9lives", "input", "INPUT", "Output", "nnet", "std", "a b", "a-b",
         "a.b/c:d", B.EVIL, "conv\x00nul", "ünïcödé", "日本語", "\ud800 lone surrogate", "x" * 500,
         "/layer1/layer1.0/conv1/Conv_output_0", "_leading", "trailing_", "a__b", "\t\n"]


@pytest.mark.parametrize("raw", NASTY, ids=lambda r: repr(r)[:30])
def test_sanitize_is_safe_deterministic_and_short(raw):
    s = sanitize(raw)
    assert s and B.SAFE_NAME.match(s), s
    assert s.lower() not in RESERVED
    assert len(s) <= MAX_LEN
    assert sanitize(raw) == s


def test_sanitize_examples():
    assert sanitize("conv1") == "conv1"
    assert sanitize("/layer1/0/conv1/Conv") == "layer1_0_conv1_Conv"
    assert sanitize("a  - b") == "a_b"
    assert sanitize("") == "n" and sanitize("", "w") == "w" and sanitize(None, "t") == "t"
    assert sanitize("123", "t") == "t_123"
    assert sanitize("input", "t") == "t_input" and sanitize("Model") == "n_Model"
    assert sanitize("ok", "t") == "ok"  # the prefix is only used where needed


def test_sanitize_long_names_cut_with_hash():
    a, b = "layer" * 20 + "A", "layer" * 20 + "B"
    sa, sb = sanitize(a), sanitize(b)
    assert len(sa) == MAX_LEN and len(sb) == MAX_LEN
    assert sa != sb and sa[:MAX_LEN - 9] == sb[:MAX_LEN - 9]
    assert re.fullmatch(r"[A-Za-z0-9_]+_[0-9a-f]{8}", sa)
    assert sanitize("x" * MAX_LEN) == "x" * MAX_LEN  # at the limit: untouched


def test_name_table_unique_and_remembers_originals():
    t = NameTable()
    raws = ["a b", "a-b", "a_b", "a.b", "a_b_1", "input", "n_input", "", "", None, "x" * 100, "x" * 100 + "!"]
    names = [t.add(r) for r in raws]
    assert len(set(names)) == len(names)
    assert all(B.SAFE_NAME.match(n) for n in names)
    assert names[0] == "a_b" and names[1] != "a_b"
    for n, r in zip(names, raws):
        assert t.original[n] == r
    assert t.used == set(names)


def test_name_table_deterministic():
    raws = ["conv", "conv", "conv!", "relu", "input"] * 3
    a, b = NameTable(), NameTable()
    assert [a.add(r, "t") for r in raws] == [b.add(r, "t") for r in raws]


def test_lower_ir_version_lets_onnx_runtime_load_new_files():
    """onnx 1.23 stamps IR version 14 that ONNX Runtime 1.31 refuses; the pass lowers it to the opset's minimum."""
    from compiler.frontend.passes import LowerIrVersion

    model = B.gemm_model()
    model.ir_version = 14
    after, changed = LowerIrVersion().apply(B.copy(model))
    assert changed and after.ir_version == 8          # opset 17 came with IR version 8
    x = B.random_input(after)
    assert B.run_ort(after, x).shape[0] == 1
    again, changed = LowerIrVersion().apply(after)
    assert not changed


@pytest.mark.parametrize("raw", ["layer2/downsample/downsample.0/Conv_output_0_and_more_text", "x" * 39 + "/y" * 5])
def test_sanitize_is_idempotent_for_cut_names(raw):
    """A cut name re-imported (e.g. from model.compressed.onnx) keeps its name: no '__' before the hash."""
    once = sanitize(raw)
    assert sanitize(once) == once and "__" not in once
