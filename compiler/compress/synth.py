"""Data-free compression: inputs generated from the fp32 model itself, for distillation and for the check.

Without data there is no input distribution to learn from, only the model. A quarter of the generated inputs
are N(0, 1) noise (the same kind the build's checks use without data); the other three quarters are synthesised
per class:
starting from noise, a few Adam steps on the input minimise the fp32 model's cross-entropy for a target class
(balanced over the classes) plus a small L2 prior, so they sit where the model is confident and its decision
regions are covered (cf. class-conditional model inversion, "DeepInversion" without BN statistics, which the
importer has already folded away). The compressed model is then trained to match the fp32 model's logits on them
(KL divergence, `TrainData.soft_train`), and its top-1 agreement with the fp32 model is measured on held-out
inputs generated the same way with another seed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SYNTH_STEPS = 60
SYNTH_LR = 0.1
L2_PRIOR = 1e-3
N_TRAIN, N_VAL, N_TEST = 2048, 256, 512
# multiply-accumulates that data-free distillation may spend (forward + backward ~ 3x the MACs of each pass);
# about two minutes of one CPU core (digits_cnn: 1.4e11 MACs in 48 s); 50x that on CUDA. Larger models are
# compressed data-free without distillation (weights ternarized and pruned as they are), as before.
DISTILL_MAC_BUDGET = 3e11


def generate(teacher: torch.nn.Module, shape, n: int, seed: int, device: str = "cpu",
             steps: int = SYNTH_STEPS) -> torch.Tensor:
    """n inputs of `shape`: a quarter noise, three quarters synthesised for balanced target classes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=g).to(device)
    teacher.eval()
    with torch.no_grad():
        classes = teacher(x[:1]).shape[1]
    half = (3 * n) // 4
    if half == 0 or steps == 0:
        return x
    target = (torch.arange(half) % classes).to(device)
    z = x[:half].clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=SYNTH_LR)
    for p in teacher.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(teacher(z), target) + L2_PRIOR * z.pow(2).mean()
            loss.backward()
            opt.step()
    finally:
        for p in teacher.parameters():
            p.requires_grad_(True)
    return torch.cat([z.detach(), x[half:]])


def distillation_cost(macs_per_input: int, steps: int, batch: int) -> float:
    """MACs data-free distillation spends: synthesis plus training, forward and backward."""
    n = N_TRAIN + N_VAL + N_TEST
    return 3.0 * macs_per_input * (n * SYNTH_STEPS * 3 / 4 + steps * batch) + macs_per_input * n


def generated_data(graph, seed: int, device: str = "cpu"):
    """TrainData for distillation: generated inputs, the fp32 model's logits as soft targets, its top-1 as
    labels of the held-out validation and test inputs (so 'accuracy' there is agreement with fp32)."""
    from .engine import TrainData
    from .torch_ir import IRModule

    teacher = IRModule(graph).to(device).eval()
    shape = tuple(graph.inputs[0].shape)
    parts = [generate(teacher, shape, n, seed * 1000 + i, device) for i, n in enumerate((N_TRAIN, N_VAL, N_TEST))]
    with torch.no_grad():
        logits = [torch.cat([teacher(p[i:i + 256]) for i in range(0, len(p), 256)]) for p in parts]
    x = [p.cpu().numpy().astype(np.float32) for p in parts]
    y = [lg.argmax(1).cpu().numpy().astype(np.int64) for lg in logits]
    return TrainData(x[0], y[0], x[2], y[2], x[1], y[1], soft_train=logits[0].cpu().numpy().astype(np.float32))


def agreement(graph_a, graph_b, x: np.ndarray) -> float:
    """Top-1 agreement of two IR graphs on inputs x."""
    from .torch_ir import IRModule

    a, b = IRModule(graph_a).eval(), IRModule(graph_b).eval()
    t = torch.from_numpy(x)
    with torch.no_grad():
        pa = torch.cat([a(t[i:i + 256]).argmax(1) for i in range(0, len(t), 256)])
        pb = torch.cat([b(t[i:i + 256]).argmax(1) for i in range(0, len(t), 256)])
    return float((pa == pb).double().mean())
