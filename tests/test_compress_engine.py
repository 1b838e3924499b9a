"""The compression engine end to end on the small digits models (fast: a few epochs each)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from compiler.compress.engine import STRATEGIES, CompressionConfig, compress, weights_digest
from compiler.compress.export_onnx import export_compressed_onnx
from compiler.compress.torch_ir import IRModule
from compiler.data import load_training_data
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.plan import plan_layers
from compiler.verify.reference import run_onnx


@pytest.fixture(scope="module")
def mlp(zoo_onnx):
    graph = import_onnx(zoo_onnx("digits_mlp")).graph
    return graph, plan_layers(graph), load_training_data("digits", graph.inputs[0].shape)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_runs_and_reaches_its_ratio(mlp, strategy):
    graph, plan, data = mlp
    r = compress(graph, plan, CompressionConfig(strategy=strategy, epochs=4, target=12), data)
    assert r.strategy == strategy and not r.data_free and len(r.history) >= 4
    if strategy != "ternary-only":
        assert r.ratio >= 12 * 0.99
    for node in r.graph.weighted():
        codes, scale = node.weights["codes"], node.weights["scale"]
        assert set(np.unique(codes)) <= {-1, 0, 1}
        w = codes * (scale[:, None, None, None] if node.op == "conv" else scale[None, :])
        np.testing.assert_allclose(node.weights["W"], w, atol=1e-6)


def test_pe_wise_masks_are_balanced(mlp):
    graph, plan, data = mlp
    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", epochs=3, target=20), data)
    for row in r.layers:
        per_pe = row.get("kept_groups_per_pe")
        assert per_pe and len(set(per_pe)) == 1, row["name"]
        assert row["cycles_per_frame"] <= row["cycles_per_frame_dense"]


def test_exported_onnx_equals_pytorch_compressed_model(mlp):
    graph, plan, data = mlp
    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", epochs=2, target=16), data)
    model = export_compressed_onnx(r.graph)
    x = data.x_test[:16]
    ort = run_onnx(model, x)[r.graph.outputs[0]]
    torch_out = IRModule(r.graph).eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ort, torch_out, atol=1e-5)
    inits = {t.name: t for t in model.graph.initializer}
    assert any(n.endswith("_codes") and t.data_type == 3 for n, t in inits.items())   # INT8 codes visible


def test_data_free_and_data_requirements(mlp):
    graph, plan, _ = mlp
    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", target=16, epochs=0), None)
    assert r.data_free and r.history == [] and r.ratio >= 16 * 0.99
    assert r.data_free_check["distilled"] is False and r.accuracy is None
    with pytest.raises(FcompError, match="needs training data"):
        compress(graph, plan, CompressionConfig(strategy="lottery"), None)
    with pytest.raises(FcompError, match="unknown compression strategy"):
        compress(graph, plan, CompressionConfig(strategy="nope"), None)


def test_resume_after_interruption_gives_the_same_result(mlp, tmp_path):
    graph, plan, data = mlp
    base = dict(strategy="pe-wise+wpc", epochs=6, target=16)
    straight = compress(graph, plan, CompressionConfig(**base), data)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        compress(graph, plan, CompressionConfig(**base, checkpoint_dir=ckpt, stop_after_epoch=3), data)
    assert (ckpt / "compress-rank0.pt").is_file()
    resumed = compress(graph, plan, CompressionConfig(**base, checkpoint_dir=ckpt, resume=True), data)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert weights_digest(IRModule(resumed.graph)) == weights_digest(IRModule(straight.graph))


def test_torchrun_two_gloo_processes_end_with_identical_weights(tmp_path, zoo_onnx):
    worker = os.path.join(os.path.dirname(__file__), "helpers", "ddp_worker.py")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        worker, str(zoo_onnx("digits_mlp")), str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    assert [x["world"] for x in ranks] == [2, 2] and ranks[0]["pid"] != ranks[1]["pid"]
    assert ranks[0]["digest"] == ranks[1]["digest"]
    assert ranks[0]["accuracy"] == ranks[1]["accuracy"]


def test_data_free_distillation_stays_closer_to_fp32_than_ternarizing_as_is(mlp):
    from compiler.compress import synth

    graph, plan, _ = mlp
    cfg = dict(strategy="pe-wise+wpc", target=16, epochs=8)
    distilled = compress(graph, plan, CompressionConfig(**cfg), None)
    check = distilled.data_free_check
    assert distilled.data_free and check["distilled"] and check["inputs"] == synth.N_TEST and distilled.history
    held_out = synth.generated_data(graph, 0).x_test     # the same held-out inputs the check used
    assert synth.agreement(graph, distilled.graph, held_out) == pytest.approx(check["top1_agreement"])
    plain = compress(graph, plan, CompressionConfig(**cfg, distill=False), None)
    assert not plain.data_free_check["distilled"] and not plain.history
    assert check["top1_agreement"] > synth.agreement(graph, plain.graph, held_out) + 0.05


def test_synthesised_inputs_are_classified_as_their_target_class(mlp):
    from compiler.compress import synth

    graph = mlp[0]
    teacher = IRModule(graph).eval()
    x = synth.generate(teacher, graph.inputs[0].shape, 40, seed=3)
    n = 30                                                     # three quarters synthesised, classes in turn
    pred = teacher(x).argmax(1).detach()
    assert float((pred[:n] == torch.arange(n) % 10).float().mean()) >= 0.9
    assert all(p.requires_grad for p in teacher.parameters())  # the teacher is left trainable as it was
