"""Ternary weights: alpha * {-1, 0, +1} per output channel (or per layer), after TWN (Li & Liu, 2016).

The threshold is delta = 0.7 * mean|w| over the weights still allowed by the pruning mask; alpha is the mean
magnitude of the weights above it (TWN's closed-form optimum). Training sees the ternary weights in the forward
pass and passes gradients straight through to the latent float weights (straight-through estimator).

Learned scales (`ternary_weight_learned`, TTQ/LSQ style): the codes still come from the threshold, but alpha is a
trainable per-channel parameter, held as log(alpha) so that it stays positive and Adam's steps are relative;
the loss reaches alpha through the codes (d w_q / d alpha_r = code_r), the latent weights still get the
straight-through gradient.
"""

from __future__ import annotations

import torch

from ..plan import columns_to_weight
from .groups import as_matrix

THRESHOLD_FACTOR = 0.7


def ternary_threshold(weight: torch.Tensor, mask: torch.Tensor | None = None, per_channel: bool = True,
                      factor: float = THRESHOLD_FACTOR) -> torch.Tensor:
    """delta per row (shape (rows, 1)) or one for the layer (shape (1, 1))."""
    w = as_matrix(weight.detach()).abs()
    m = torch.ones_like(w) if mask is None else as_matrix(mask).to(w.dtype)
    dims = 1 if per_channel else None
    if dims is None:
        mean = (w * m).sum() / m.sum().clamp(min=1)
        return (factor * mean).reshape(1, 1)
    mean = (w * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return factor * mean


def ternarize(weight: torch.Tensor, mask: torch.Tensor | None = None, per_channel: bool = True,
              factor: float = THRESHOLD_FACTOR) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes in {-1,0,1} with the weight's shape, alpha of shape (rows,)). Pruned weights get code 0."""
    w = as_matrix(weight.detach())
    delta = ternary_threshold(weight, mask, per_channel, factor)
    keep = w.abs() > delta
    if mask is not None:
        keep &= as_matrix(mask).bool()
    codes = torch.sign(w) * keep
    count = keep.sum(1 if per_channel else None, keepdim=per_channel).to(w.dtype)
    total = (w.abs() * keep).sum(1 if per_channel else None, keepdim=per_channel)
    alpha = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
    alpha = alpha.reshape(-1).expand(w.shape[0]).clone() if not per_channel else alpha.reshape(-1)
    return columns_to_weight(codes, tuple(weight.shape)), alpha


def ternary_weight(weight: torch.Tensor, mask: torch.Tensor | None = None, per_channel: bool = True) -> torch.Tensor:
    """alpha * codes in the forward pass; d/dweight = mask (straight-through) in the backward pass."""
    codes, alpha = ternarize(weight, mask, per_channel)
    q = codes * alpha.reshape(-1, *([1] * (weight.dim() - 1)))
    ste = weight + (q - weight).detach()
    return ste if mask is None else ste * mask


def ternary_weight_learned(weight: torch.Tensor, log_alpha: torch.Tensor, mask: torch.Tensor | None = None,
                           per_channel: bool = True) -> torch.Tensor:
    """exp(log_alpha) * codes in the forward pass, codes from the TWN threshold; d/dweight = mask (straight
    through), d/dlog_alpha_r = alpha_r * sum_i dL/dw_q[r, i] * code[r, i]."""
    codes, _ = ternarize(weight, mask, per_channel)
    alpha = log_alpha.exp().reshape(-1, *([1] * (weight.dim() - 1)))
    q = codes * alpha + (weight - weight.detach())
    return q if mask is None else q * mask


def initial_log_alpha(weight: torch.Tensor, mask: torch.Tensor | None = None, per_channel: bool = True) -> torch.Tensor:
    """log of the TWN alpha per output channel (shape (rows,); (1,) with per_channel off), the starting point of
    a learned scale. A channel without a
    nonzero code (TWN alpha 0: an all-zero or fully pruned row) starts at the mean alpha of the layer's other
    channels, a scale its codes can use should they appear later (1e-8 when no channel has one)."""
    _, alpha = ternarize(weight, mask, per_channel)
    if not per_channel:     # one scale for the layer
        alpha = alpha[:1]
    live = alpha > 0
    fallback = alpha[live].mean() if bool(live.any()) else torch.tensor(1e-8, dtype=alpha.dtype)
    return torch.where(live, alpha, fallback).clamp(min=1e-8).log()


def int_weight(weight: torch.Tensor, bits: int = 8, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric per-channel integer quantization (first/last layers kept at 8 bits), straight-through."""
    w = as_matrix(weight.detach())
    levels = 2 ** (bits - 1) - 1
    scale = (w.abs().amax(1, keepdim=True) / levels).clamp(min=1e-12)
    q = columns_to_weight(torch.round(w / scale).clamp(-levels, levels) * scale, tuple(weight.shape))
    ste = weight + (q - weight).detach()
    return ste if mask is None else ste * mask
