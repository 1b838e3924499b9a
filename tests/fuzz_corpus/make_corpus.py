"""Write the hand-made entries of the fuzz corpus (the fuzzer-found ones are kept as the bytes it found).

Each entry is a small ONNX file that made the frontend misbehave before a fix (crash, silent wrong result,
reading a file it should not) or that pins a behaviour the fuzzer cares about; MANIFEST.json says what
`import_onnx` must do with each one. Run from the repository root: `python tests/fuzz_corpus/make_corpus.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import onnx_builders as B  # noqa: E402


def const_external_data_cwd():
    """Conv weights from a Constant whose data is 'external' (location 'secret.bin'): onnx would read that file
    relative to the current directory (not even the model's); before the fix fcomp built a model from it."""
    m = B.reshape_model()
    w = next(t for t in m.graph.initializer if t.name == "W")
    arr = numpy_helper.to_array(w)
    m.graph.initializer.remove(w)
    t = numpy_helper.from_array(arr, "W")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "secret.bin"
    m.graph.node.insert(0, helper.make_node("Constant", [], ["W"], name="c", value=t))
    return m


def gemm_generated_name_collision():
    """A valid model whose weight is named 'h_W', the name GemmToMatMul gave the first Gemm's new weight:
    before the fix the normalized model had two initializers 'h_W' and the valid model was rejected."""
    m = B.gemm_model()
    for t in m.graph.initializer:
        if t.name == "W2":
            t.name = "h_W"
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            if x == "W2":
                n.input[i] = "h_W"
    return B.checked(m)


def nan_conv_weights():
    """A NaN in the Conv weights: before, accepted and passed on to compression and hls4ml."""
    m = B.conv_bn_relu_model()
    w = next(t for t in m.graph.initializer if t.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0, 0, 0] = np.nan
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    return m


def bn_negative_variance():
    """BatchNormalization with var + epsilon < 0: before, folded into NaN Conv weights and accepted."""
    m = B.conv_bn_relu_model()
    v = next(t for t in m.graph.initializer if t.name == "var")
    v.CopyFrom(numpy_helper.from_array(np.array([1.0, -2.0, 1.0, 1.0], np.float32), "var"))
    return m


def custom_node_without_outputs():
    """An unnamed node of an unregistered domain with no outputs (the checker has no schema to judge it):
    before, SanitizeNames raised IndexError looking for a name."""
    m = B.gemm_model()
    m.graph.node.append(helper.make_node("Foo", ["y"], [], domain="com.example"))
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def gemm_1d_weight_behind_custom_node():
    """A Gemm whose weight initializer is 1-D, in a model with a custom-domain node (shape inference cannot
    type it, so it does not reject the Gemm): before, GemmToMatMul raised IndexError."""
    m = B.gemm_model()
    w = next(t for t in m.graph.initializer if t.name == "W1")
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).reshape(-1), "W1"))
    custom = helper.make_node("Foo", ["x"], ["x_custom"], name="custom", domain="com.example")
    m.graph.node.insert(0, custom)
    m.graph.node[1].input[0] = "x_custom"
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def hostile_names_everywhere():
    """Every tensor, node and the graph named with injection/traversal text, a 10 KB name, unicode, and names
    that sanitize to the same identifier. Must be accepted with safe unique names."""
    m = B.conv_bn_relu_model()
    names = {"x": 'x"); system("rm -rf /"); //', "W": "../../etc/passwd", "B": "$(reboot)", "c": "a b",
             "gamma": "[exec rm]", "beta": "a_b", "mean": "a__b", "var": "\u00e9\u4e2d\u6587\U0001F600",
             "bn": "n" * 10240, "y": "a?b"}
    B.rename_tensors(m, names)
    for n, name in zip(m.graph.node, ("`reboot`", "a b", "a\nb")):
        n.name = name
    m.graph.name = "../../graph; rm -rf ~"
    return B.checked(m)


ENTRIES = (const_external_data_cwd, gemm_generated_name_collision, nan_conv_weights, bn_negative_variance,
           custom_node_without_outputs, gemm_1d_weight_behind_custom_node, hostile_names_everywhere)


def main():
    for make in ENTRIES:
        B.save(make(), HERE / f"{make.__name__}.onnx")
        print(HERE / f"{make.__name__}.onnx")


if __name__ == "__main__":
    main()
