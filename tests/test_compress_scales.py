"""Learned per-channel ternary scales (issue 12 item 6): the quantizer's gradients, the option's effect on alpha
during training, and that the learned alpha is the one that leaves the engine (IR, model.compressed.onnx, RTL)."""

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from compiler.cli import _compression_config, _parse
from compiler.compress import engine
from compiler.compress.engine import CompressionConfig, compress, weights_digest
from compiler.compress.export_onnx import export_compressed_onnx
from compiler.compress.torch_ir import IRModule
from compiler.compress.ternary import initial_log_alpha, ternarize, ternary_weight_learned
from compiler.data import load_training_data
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.plan import plan_layers
from compiler.rtl.layer import layer_codes
from compiler.verify.reference import run_onnx


@pytest.fixture(scope="module")
def mlp(zoo_onnx):
    graph = import_onnx(zoo_onnx("digits_mlp")).graph
    return graph, plan_layers(graph), load_training_data("digits", graph.inputs[0].shape)


@pytest.fixture
def spy(monkeypatch):
    """Captures the engine's Context of a `compress` call (the trained module, its latent weights and scales) and
    the learned log(alpha) values at the moment each layer's scale was initialised."""
    seen = {"inits": {}}

    class Spy(engine.Context):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["ctx"] = self

        def init_learned_scales(self):
            before = set(self.scales_ready)
            super().init_learned_scales()
            for name in self.scales_ready - before:
                seen["inits"][name] = self.learned_log_alpha(name).detach().clone()

    monkeypatch.setattr(engine, "Context", Spy)
    return seen


def _twn_alpha(ctx, name):
    layer = ctx.layers[name]
    return ternarize(layer.module.weight.detach(), layer.mask, ctx.cfg.per_channel)[1]


# ---- the quantizer ------------------------------------------------------------------------------------------
def test_learned_quantizer_forward_and_gradients():
    torch.manual_seed(0)
    w = torch.randn(4, 6, requires_grad=True)
    mask = torch.ones(4, 6)
    mask[1, :3] = 0
    la = torch.tensor([0.1, 0.5, 0.2, 0.9]).log().requires_grad_(True)
    q = ternary_weight_learned(w, la, mask)
    codes, _ = ternarize(w, mask)
    torch.testing.assert_close(q, codes * la.exp()[:, None] * mask)       # codes from the threshold, alpha learned
    g = torch.randn(4, 6)
    q.backward(g)
    torch.testing.assert_close(w.grad, g * mask)                          # straight through to the latent weights
    torch.testing.assert_close(la.grad, la.exp().detach() * (g * codes).sum(1))   # through the codes to alpha


def test_initial_scale_is_twn_alpha_and_a_dead_row_gets_the_layer_mean():
    torch.manual_seed(1)
    w = torch.randn(3, 8)
    w[2] = 0.0                                   # a dead row: TWN alpha 0
    _, alpha = ternarize(w)
    init = initial_log_alpha(w).exp()
    torch.testing.assert_close(init[:2], alpha[:2])
    torch.testing.assert_close(init[2], alpha[:2].mean())
    one = initial_log_alpha(w[:2], per_channel=False)
    assert one.shape == (1,)
    torch.testing.assert_close(one.exp()[0], ternarize(w[:2], per_channel=False)[1][0])


def test_unknown_scale_mode_is_refused(mlp):
    graph, plan, data = mlp
    with pytest.raises(FcompError, match="ternary_scales"):
        compress(graph, plan, CompressionConfig(epochs=1, target=12, ternary_scales="lsq"), data)


def test_cli_option_reaches_the_config():
    assert _compression_config(_parse(["compress", "m.onnx"])).ternary_scales == "twn"
    args = _parse(["build", "m.onnx", "--ternary-scales", "learned"])
    assert _compression_config(args).ternary_scales == "learned"


def test_learned_scales_survive_the_saved_build_config(tmp_path):
    """fcomp.effective.yaml (what a build saves) keeps the option, so re-running from it trains the same way."""
    from compiler import cli
    from compiler.config import build_options_as_cli, dump_effective
    from compiler.pipeline import BuildOptions

    opts = BuildOptions(model=tmp_path / "m.onnx", compression=CompressionConfig(ternary_scales="learned"))
    saved = tmp_path / "fcomp.effective.yaml"
    saved.write_text(dump_effective(build_options_as_cli(opts)))
    again = cli._build_options(cli._parse(["--config", str(saved), "build"]))
    assert again.compression.ternary_scales == "learned"


# ---- the engine ---------------------------------------------------------------------------------------------
def test_learned_option_trains_alpha_and_twn_does_not(mlp, spy):
    graph, plan, data = mlp
    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", epochs=4, target=12, ternary_scales="learned"),
                 data)
    ctx = spy["ctx"]
    assert r.to_dict()["ternary_scales"] == "learned"
    ternary = [n for n, l in ctx.layers.items() if l.bits == 2]
    assert ternary and set(spy["inits"]) == set(ternary)
    for name in ternary:
        alpha = ctx.learned_log_alpha(name).detach().exp()
        assert torch.all(alpha > 0)
        start = spy["inits"][name].exp()
        assert float((alpha - start).abs().max() / start.max()) > 1e-3, name        # training moved alpha
        assert float((alpha - _twn_alpha(ctx, name)).abs().max()) > 1e-4, name      # and it is not TWN's any more
    assert {row["ternary_scale"] for row in r.layers if row["bits"] == 2} == {"learned"}

    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", epochs=2, target=12), data)
    ctx = spy["ctx"]
    assert r.to_dict()["ternary_scales"] == "twn" and not hasattr(ctx.model, "ternary_scales")
    for node in r.graph.weighted():
        assert ctx.learned_log_alpha(node.name) is None
        np.testing.assert_allclose(node.weights["scale"], _twn_alpha(ctx, node.name).numpy(), rtol=1e-6)


def test_learned_alpha_is_what_is_exported(mlp, spy, tmp_path):
    """Export, reload, dequantize: the file's weights are the trained module's forward weights, its scales the
    learned alpha (not TWN's of the same latent weights), and the RTL reads the same scale."""
    graph, plan, data = mlp
    r = compress(graph, plan, CompressionConfig(strategy="pe-wise+wpc", epochs=4, target=12, ternary_scales="learned"),
                 data)
    ctx = spy["ctx"]
    ctx.set_quantize(True)
    path = tmp_path / "model.compressed.onnx"
    export_compressed_onnx(r.graph, path)
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in r.graph.weighted():
        name = node.name
        codes, scale = inits[f"{name}_codes"].astype(np.float32), inits[f"{name}_scale"]
        learned = ctx.learned_log_alpha(name).detach().exp().numpy()
        np.testing.assert_allclose(scale.reshape(-1), learned, rtol=1e-6)
        assert np.abs(scale.reshape(-1) - _twn_alpha(ctx, name).numpy()).max() > 1e-4, name
        forward = ctx.model.effective_weight(name).detach().numpy()       # torch layout (out, ...)
        dequant = codes * scale
        np.testing.assert_allclose(dequant if node.op == "conv" else dequant.T, forward, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(layer_codes(node)[1], learned, rtol=1e-6)   # what the PE-array RTL builds from
    x = data.x_test[:32]
    with torch.no_grad():
        trained = ctx.model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_onnx(model, x)[r.graph.outputs[0]], trained, rtol=1e-4, atol=1e-4)


def test_learned_scales_resume_after_interruption(mlp, tmp_path):
    graph, plan, data = mlp
    base = dict(strategy="pe-wise+wpc", epochs=5, target=16, ternary_scales="learned")
    straight = compress(graph, plan, CompressionConfig(**base), data)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        compress(graph, plan, CompressionConfig(**base, checkpoint_dir=ckpt, stop_after_epoch=2), data)
    resumed = compress(graph, plan, CompressionConfig(**base, checkpoint_dir=ckpt, resume=True), data)
    assert weights_digest(IRModule(resumed.graph)) == weights_digest(IRModule(straight.graph))
    for a, b in zip(resumed.graph.weighted(), straight.graph.weighted()):
        np.testing.assert_array_equal(a.weights["scale"], b.weights["scale"])
    with pytest.raises(FcompError, match="ternary-scales learned"):
        compress(graph, plan, CompressionConfig(**dict(base, ternary_scales="twn"), checkpoint_dir=ckpt, resume=True),
                 data)
