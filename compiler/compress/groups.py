"""PE-wise groups: the S-wide slice of one weight row that one PE consumes in one cycle.

A weighted layer is a matrix (rows = outputs, cols = inputs * kh * kw in the column order of
`compiler.plan.matrix_columns`: kernel-major (kh, kw, c) for a conv, so a group is S channels of one kernel tap). Row r runs on PE r mod P
(`compiler.plan.LayerMapping`); its columns are cut into blocks of S. Pruning removes whole groups and keeps the
same number of groups on every PE, so every PE finishes each output vector in the same number of cycles and
the layer's cycle count drops by the pruning ratio.
"""

from __future__ import annotations

import math

import torch

from ..plan import LayerMapping, columns_to_weight, matrix_columns


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, kh, kw) conv or (out, in) linear weight -> (rows, cols), conv columns kernel-major (grouped
    convs, whose columns the hardware takes in ONNX order, are never grouped for pruning)."""
    return matrix_columns(weight)


def n_blocks(cols: int, simd: int) -> int:
    return math.ceil(cols / simd)


def grouped(mat: torch.Tensor, simd: int) -> torch.Tensor:
    """(rows, cols) -> (rows, n_blocks, simd), zero-padding the last block."""
    rows, cols = mat.shape
    pad = n_blocks(cols, simd) * simd - cols
    if pad:
        mat = torch.nn.functional.pad(mat, (0, pad))
    return mat.reshape(rows, -1, simd)


def group_norms(mat: torch.Tensor, simd: int) -> torch.Tensor:
    """L2 norm of every group, (rows, n_blocks)."""
    return grouped(mat, simd).pow(2).sum(-1).sqrt()


def groups_per_pe(m: LayerMapping) -> int:
    return math.ceil(m.rows / m.pe) * n_blocks(m.cols, m.simd)


def keep_per_pe(m: LayerMapping, keep_fraction: float) -> int:
    """Groups every PE keeps for a target share of groups; at least one so no output row goes silent."""
    total = groups_per_pe(m)
    return min(total, max(1, round(keep_fraction * total)))


def balanced_group_mask(scores: torch.Tensor, pe: int, keep: int) -> torch.Tensor:
    """Keep the `keep` highest-scoring groups among the rows of each PE (rows p, p+P, p+2P, ...)."""
    rows, nb = scores.shape
    mask = torch.zeros_like(scores, dtype=torch.bool)
    for p in range(pe):
        s = scores[p::pe].reshape(-1)
        k = min(keep, s.numel())
        # stable tie-break: equal scores keep the earlier group, so masks are reproducible across runs and ranks
        order = torch.argsort(-s, stable=True)[:k]
        flat = torch.zeros(s.numel(), dtype=torch.bool)
        flat[order] = True
        mask[p::pe] = flat.reshape(-1, nb)
    return mask


def expand_group_mask(gmask: torch.Tensor, weight_shape, simd: int) -> torch.Tensor:
    """(rows, n_blocks) group mask -> boolean mask of the weight's own shape."""
    rows = weight_shape[0]
    cols = math.prod(weight_shape[1:])
    full = gmask[:, :, None].expand(rows, gmask.shape[1], simd).reshape(rows, -1)[:, :cols]
    return columns_to_weight(full, tuple(weight_shape))


def kept_groups_per_pe(gmask: torch.Tensor, pe: int) -> list[int]:
    return [int(gmask[p::pe].sum()) for p in range(pe)]


def pe_wise_mask(weight: torch.Tensor, m: LayerMapping, keep_fraction: float,
                 scores: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(group mask, weight mask) keeping the strongest groups of each PE; scores default to group L2 norms."""
    if scores is None:
        scores = group_norms(as_matrix(weight.detach()), m.simd)
    gmask = balanced_group_mask(scores, m.pe, keep_per_pe(m, keep_fraction))
    return gmask, expand_group_mask(gmask, tuple(weight.shape), m.simd)
