"""Group-lasso penalties over PE-wise groups, plain and with Weight Penalty Clipping (WPC).

Plain group lasso shrinks every weight of a group toward zero, including the large ones that ternarize to
+-alpha: it fights the quantizer and drags the ternary threshold (0.7 * mean|w|) down with it.

WPC (after Yang, He & Fan, AAAI 2020) clips each weight at its layer's current ternary threshold delta before
taking the group norm:  P = sum_g || clip(w_g, -delta, +delta) ||_2,  delta = 0.7 * mean|w| (recomputed from the
weights at every step, not differentiated: the clip threshold adapts itself as the weights move).
A weight above delta contributes the constant delta, so (a) its gradient is exactly zero, leaving weights
that ternarize to +-alpha alone, and (b) a group holding such weights has a larger norm, so its small weights are
pushed gently; groups made only of sub-threshold weights (the ones on their way to zero) take the full push.
"""

from __future__ import annotations

import math

import torch

from ..plan import LayerMapping
from .groups import as_matrix, grouped
from .ternary import ternary_threshold

EPS = 1e-8


def group_lasso(weight: torch.Tensor, m: LayerMapping, mask: torch.Tensor | None = None,
                clip: bool = False, per_channel: bool = True) -> torch.Tensor:
    """Sum of group L2 norms (times sqrt(S), the usual group-size weighting); `clip=True` is WPC."""
    w = as_matrix(weight if mask is None else weight * mask)
    if clip:
        delta = ternary_threshold(weight, mask, per_channel).detach()
        w = torch.maximum(torch.minimum(w, delta), -delta)
    norms = (grouped(w, m.simd).pow(2).sum(-1) + EPS).sqrt()  # eps: finite gradient at an all-zero group
    return norms.sum() * math.sqrt(m.simd)
