"""Unit tests of the compression math: PE-wise groups, ternary quantizer, WPC penalty, compression ratio."""

import math

import pytest
import torch

from compiler.compress import groups as G
from compiler.compress.ratio import LayerCost, structured_cost, total_ratio, unstructured_cost
from compiler.compress.ternary import int_weight, ternarize, ternary_threshold, ternary_weight
from compiler.compress.wpc import group_lasso
from compiler.plan import LayerMapping


def _mapping(rows=8, cols=20, pe=4, simd=8):
    return LayerMapping("l", rows, cols, pe, simd, vectors=1)


# ---- PE-wise groups -----------------------------------------------------------------------------------------
def test_grouped_round_trip_and_padding():
    mat = torch.arange(8 * 20, dtype=torch.float32).reshape(8, 20)
    g = G.grouped(mat, 8)
    assert g.shape == (8, 3, 8)
    assert torch.equal(g.reshape(8, -1)[:, :20], mat)          # round trip
    assert torch.all(g[:, 2, 4:] == 0)                          # the short last block is zero-padded


def test_balanced_mask_keeps_same_count_on_every_pe():
    torch.manual_seed(0)
    m = _mapping()
    w = torch.randn(8, 20)
    gmask, wmask = G.pe_wise_mask(w, m, keep_fraction=0.5)
    per_pe = G.kept_groups_per_pe(gmask, m.pe)
    assert per_pe == [3, 3, 3, 3]                               # 6 groups per PE (2 rows x 3 blocks), half kept
    # each PE keeps its own strongest groups: no dropped group outscores a kept one of the same PE
    norms = G.group_norms(w, m.simd)
    for p in range(m.pe):
        kept, dropped = norms[p::m.pe][gmask[p::m.pe]], norms[p::m.pe][~gmask[p::m.pe]]
        assert kept.min() >= dropped.max()
    # the weight mask is the group mask expanded over each S-wide slice
    assert torch.equal(wmask[:, :8], gmask[:, :1].expand(8, 8))
    assert torch.equal(wmask[:, 16:], gmask[:, 2:].expand(8, 4))


def test_balanced_mask_on_conv_weights_and_cycles_drop():
    m = LayerMapping("c", rows=16, cols=3 * 3 * 4, pe=4, simd=12, vectors=10)
    w = torch.randn(16, 4, 3, 3)
    gmask, wmask = G.pe_wise_mask(w, m, keep_fraction=1 / 3)
    assert wmask.shape == w.shape
    assert G.groups_per_pe(m) == 4 * 3 and G.kept_groups_per_pe(gmask, 4) == [4] * 4
    assert G.keep_per_pe(m, 0.0) == 1                           # never a silent PE


# ---- ternary ------------------------------------------------------------------------------------------------
def test_ternary_values_threshold_and_scale():
    w = torch.tensor([[0.9, -0.8, 0.1, -0.05], [2.0, 0.0, -0.2, 0.3]])
    codes, alpha = ternarize(w)
    d0 = 0.7 * w[0].abs().mean()
    assert torch.allclose(ternary_threshold(w)[0, 0], d0)
    assert codes.tolist() == [[1, -1, 0, 0], [1, 0, 0, 0]]
    assert torch.allclose(alpha, torch.tensor([0.85, 2.0]))     # mean |w| of the kept weights (TWN optimum)
    layer_codes, layer_alpha = ternarize(w, per_channel=False)
    assert torch.all(layer_alpha == layer_alpha[0])


def test_ternary_mask_forces_zero_codes():
    w = torch.tensor([[0.9, -0.8, 0.7, -0.6]])
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    codes, _ = ternarize(w, mask)
    assert codes.tolist() == [[1, 0, 1, 0]]


def test_ternary_ste_gradient_is_identity_times_mask():
    w = torch.randn(4, 6, requires_grad=True)
    mask = (torch.rand(4, 6) > 0.3).float()
    q = ternary_weight(w, mask)
    codes, alpha = ternarize(w, mask)
    assert torch.allclose(q, codes * alpha[:, None])             # forward: alpha * codes
    g = torch.randn(4, 6)
    (q * g).sum().backward()
    assert torch.allclose(w.grad, g * mask)                       # backward: straight through, masked


def test_int8_weight_levels():
    w = torch.linspace(-1, 1, 11).reshape(1, 11)
    q = int_weight(w, 8)
    assert torch.allclose(q, torch.round(w * 127) / 127, atol=1e-6)


# ---- WPC ----------------------------------------------------------------------------------------------------
def test_wpc_gradient_is_zero_above_the_ternary_threshold():
    torch.manual_seed(1)
    m = _mapping(rows=4, cols=16, pe=2, simd=8)
    w = (torch.randn(4, 16) * 0.5).requires_grad_()
    group_lasso(w, m, clip=True).backward()
    delta = ternary_threshold(w)
    above = w.detach().abs() > delta
    assert above.any() and (~above).any()
    assert torch.all(w.grad[above] == 0)                          # weights that ternarize to +-alpha: left alone
    assert torch.all(w.grad[~above & (w.detach() != 0)] != 0)    # weights on their way to zero: pushed


def test_plain_group_lasso_pushes_every_weight():
    m = _mapping(rows=4, cols=16, pe=2, simd=8)
    w = (torch.randn(4, 16) + 0.01).requires_grad_()
    group_lasso(w, m, clip=False).backward()
    assert torch.all(w.grad != 0)
    # the gradient is w_i / ||w_g|| * sqrt(S): every weight of a group shrinks toward zero
    g0 = w.detach()[0, :8]
    assert torch.allclose(w.grad[0, :8], g0 / g0.norm() * math.sqrt(8), atol=1e-5)


def test_group_lasso_finite_on_all_zero_group():
    m = _mapping(rows=2, cols=8, pe=1, simd=8)
    w = torch.zeros(2, 8, requires_grad=True)
    for clip in (False, True):
        w.grad = None
        group_lasso(w, m, clip=clip).backward()
        assert torch.isfinite(w.grad).all()


# ---- compression ratio --------------------------------------------------------------------------------------
def test_ratio_hand_computed_structured_layer():
    # 8 rows x 20 cols, S = 8 -> 3 blocks per row, 24 groups; keep 12 groups holding 80 weights.
    c = structured_cost("l", rows=8, cols=20, simd=8, kept_groups=12, stored_weights=80)
    # weights 80 * 2 bits = 160; index 12 * ceil(log2 3) = 24; scales 8 * 16 = 128; biases 8 * 16 = 128
    assert c.stored_bits == 160 + 24 + 128 + 128 == 440
    assert c.fp32_bits == 32 * 160 == 5120
    assert c.ratio == pytest.approx(5120 / 440)


def test_ratio_unstructured_uses_cheaper_index():
    sparse = unstructured_cost("u", rows=10, cols=100, kept=10)      # 10 * 7 bits < 1000-bit bitmap
    assert sparse.index_bits == 70
    dense = unstructured_cost("u", rows=10, cols=100, kept=900)      # bitmap is cheaper
    assert dense.index_bits == 1000


def test_total_ratio_sums_bits_not_ratios():
    a = LayerCost("a", 100, 100, 2, 0, 0, 0)        # 3200 / 200
    b = LayerCost("b", 10, 10, 32, 0, 0, 0)         # 320 / 320
    assert total_ratio([a, b]) == pytest.approx((3200 + 320) / (200 + 320))


def test_total_ratio_without_weighted_layers_is_one():
    assert total_ratio([]) == 1.0
