"""The C-sim vs ONNX Runtime comparison (pipeline._check) on hand-made scores: no simulator needed."""

import numpy as np
from onnx import TensorProto, helper

from compiler.data import Samples
from compiler.frontend import normalize, build_ir
from compiler.pipeline import _check


class _FakeProject:
    """Stands in for the compiled C-sim: returns fixed scores (the check logic is what is under test)."""

    def __init__(self, scores):
        self.scores, self.i = scores, 0

    def predict(self, x):
        y = self.scores[self.i:self.i + len(x)]
        self.i += len(x)
        return y


def _identity_model(n):
    """y = Relu(x) on (1, n): the reference output equals the (non-negative) input."""
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m, names = normalize(m)
    return m, build_ir(m, "m.onnx", names)


def test_near_tie_disagreement_is_reported_not_counted():
    model, graph = _identity_model(3)
    x = np.array([[1.0, 0.0, 0.5], [0.500, 0.501, 0.0]], np.float32)   # second input: near-tie (gap 0.2%)
    sim = np.array([[0.9, 0.0, 0.5], [0.502, 0.500, 0.0]], np.float32)  # flips the near-tie
    r = _check(_FakeProject(sim), model, graph, Samples(x, x, None, "t"), min_agreement=1.0, tie_margin=0.01)
    assert r["top1_agreement_strict"] == 0.5 and r["near_ties"] == 1 and r["near_ties_disagreeing"] == 1
    assert r["top1_agreement"] == 1.0 and r["passed"]
    assert abs(r["max_abs_error"] - 0.1) < 1e-6
    strict = _check(_FakeProject(sim), model, graph, Samples(x, x, None, "t"), min_agreement=1.0, tie_margin=0.0)
    assert strict["top1_agreement"] == 0.5 and not strict["passed"] and "check failed" in strict["message"]


def test_decisive_disagreement_fails():
    model, graph = _identity_model(3)
    x = np.array([[1.0, 0.0, 0.5]], np.float32)
    sim = np.array([[0.0, 1.0, 0.5]], np.float32)
    r = _check(_FakeProject(sim), model, graph, Samples(x, x, np.array([0]), "t"), 0.9, 0.01)
    assert not r["passed"] and r["near_ties"] == 0
    assert r["accuracy_onnx"] == 1.0 and r["accuracy_csim"] == 0.0
