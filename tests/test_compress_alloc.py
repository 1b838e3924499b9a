"""Per-layer allocation, validation split, schedule and penalty of the compression engine (issue 12)."""

import numpy as np
import pytest
import torch

from compiler.compress import allocate as A
from compiler.compress.engine import (Context, CompressionConfig, PEWise, PEWiseWPC, TrainData, compress,
                                      get_strategy, split_validation)
from compiler.data import load_training_data
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.plan import LayerMapping, plan_layers


# ---- the solver ---------------------------------------------------------------------------------------------
def _cand(name, total, bits_per_unit, sens):
    return A.Candidate(name, total, {k: 100 + k * bits_per_unit for k in range(1, total + 1)}, sens)


def test_allocate_prunes_the_insensitive_layer_first_and_reaches_the_target():
    robust = _cand("robust", 10, 100, [(0.1, 0.01), (0.5, 0.001)])
    fragile = _cand("fragile", 10, 100, [(0.1, 5.0), (0.5, 2.0)])
    fp32 = 32 * 1000 * 2
    fixed = 0
    dense = 2 * (100 + 10 * 100)
    target = fp32 / (dense - 800)          # saving 8 units of 100 bits
    counts, ok = A.allocate([robust, fragile], fixed, fp32, target)
    assert ok and counts == {"robust": 2, "fragile": 10}
    assert fp32 / (counts["robust"] * 100 + 100 + 1100) >= target


def test_allocate_does_not_overshoot_on_a_linear_segment():
    a = _cand("a", 20, 10, [(0.5, 0.5)])     # constant sensitivity per bit between 1.0 and 0.5
    fp32 = 10_000
    target = fp32 / (100 + 20 * 10 - 30)     # needs 3 units removed, no more
    counts, ok = A.allocate([a], 0, fp32, target)
    assert ok and counts["a"] == 17


def test_allocate_reports_an_unreachable_target_and_the_ceiling():
    a = _cand("a", 4, 10, [])
    counts, ok = A.allocate([a], 50, 1000, 1000 / 100)
    assert not ok and counts["a"] == 1
    assert A.ceiling([a], 50, 1000) == pytest.approx(1000 / (50 + 110))


def test_sensitivity_interpolates_and_candidate_counts_cover_the_range():
    c = A.Candidate("c", 10, {10: 1}, [(0.5, 1.0), (0.1, 3.0)])
    assert c.sensitivity(10) == 0.0 and c.sensitivity(5) == pytest.approx(1.0)
    assert c.sensitivity(3) == pytest.approx(2.0) and c.sensitivity(1) == pytest.approx(3.0)
    cc = A.candidate_counts(1000, 64)
    assert cc[0] == 1 and cc[-1] == 1000 and len(cc) <= 64
    assert A.candidate_counts(7) == list(range(1, 8))


# ---- the validation split -----------------------------------------------------------------------------------
def test_validation_split_is_stratified_disjoint_and_leaves_the_test_split_alone():
    y = np.repeat(np.arange(5), [40, 20, 10, 2, 1])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    d = split_validation(TrainData(x, y, x[:3], y[:3]), 0.2)
    assert set(d.x_train[:, 0]).isdisjoint(d.x_val[:, 0])
    assert len(d.x_train) + len(d.x_val) == len(y)
    counts = {c: int((d.y_val == c).sum()) for c in range(5)}
    assert counts == {0: 8, 1: 4, 2: 2, 3: 1, 4: 0}       # every class with >= 2 samples is represented
    assert np.array_equal(d.x_test, x[:3])
    with pytest.raises(FcompError, match="too small"):
        split_validation(TrainData(x[:1], y[:1], x[:1], y[:1]))


# ---- which layers are pruned --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cnn(zoo_onnx):
    graph = import_onnx(zoo_onnx("digits_cnn")).graph
    return graph, load_training_data("digits", graph.inputs[0].shape)


def _ctx(graph, plan, data=None, **kw):
    cfg = CompressionConfig(**kw)
    return Context(graph, plan, cfg, data, get_strategy(cfg.strategy))


def test_first_layer_and_s1_layers_are_not_pruned(cnn):
    graph, _ = cnn
    plan = dict(plan_layers(graph))
    last = list(plan)[-1]
    m = plan[last]
    plan[last] = LayerMapping(m.layer, m.rows, m.cols, m.pe, 1, m.vectors)     # S = 1: index > saving
    name0 = list(plan)[0]
    m0 = plan[name0]
    plan[name0] = LayerMapping(m0.layer, m0.rows, m0.cols, m0.pe, 3, m0.vectors)  # 3 groups per row: prunable
    ctx = _ctx(graph, plan)
    first = ctx.layers[name0]
    assert not first.prunable and "first layer" in first.reason and ctx.first_candidate == name0
    # S = 1: an index per kept weight; pruning to 60% would store more than the dense layer, so the
    # allocation may only take it below the break-even share (or leave it dense)
    s1 = ctx.layers[last]
    dense = ctx._count_cost(s1, ctx._total(s1)).stored_bits
    assert ctx._count_cost(s1, round(0.6 * ctx._total(s1))).stored_bits > dense
    ctx.allocate_layers(21)
    assert s1.final == 1.0 or ctx._count_cost(s1, round(s1.final * ctx._total(s1))).stored_bits < dense
    assert all(ctx.layers[n].prunable for n in list(plan)[1:])
    # one group per PE (S = cols, P = rows): nothing to remove
    one = _ctx(graph, plan_layers(graph), prune_first="always").layers[name0]
    assert not one.prunable and "cannot save bits" in one.reason
    assert _ctx(graph, plan, prune_first="always").layers[name0].prunable
    never = _ctx(graph, plan, prune_first="never")
    assert not never.layers[name0].prunable and never.first_candidate is None
    # auto: the first layer is pruned only when the target is out of reach without it
    auto = _ctx(graph, plan)
    auto.allocate_layers(2.0)
    assert not auto.layers[name0].prunable
    with pytest.raises(FcompError, match="ceiling"):
        never.allocate_layers(never.ceiling * 1.001 if never.ceiling else 1e9)
    auto.allocate_layers(never.ceiling * 1.001)
    assert auto.layers[name0].prunable and "target is above" in auto.layers[name0].reason


def test_target_above_the_ceiling_is_refused_before_training(cnn):
    graph, data = cnn
    plan = plan_layers(graph)
    with pytest.raises(FcompError, match=r"above this model's ceiling of [0-9.]+x"):
        compress(graph, plan, CompressionConfig(target=5000, epochs=1), data)


def test_sensitivity_allocation_spends_the_budget_unevenly_and_reports_why(cnn):
    graph, data = cnn
    plan = plan_layers(graph)
    ctx = _ctx(graph, plan, split_validation(data), target=21)
    ctx.allocate_layers(21)
    finals = {n: l.final for n, l in ctx.layers.items() if l.prunable}
    assert len(set(round(v, 3) for v in finals.values())) > 1       # not one share for all
    assert all(ctx.layers[n].reason for n in ctx.layers)
    assert ctx.sensitivity and all(len(v) >= 1 for v in ctx.sensitivity.values())
    from compiler.compress.ratio import total_ratio
    assert total_ratio(ctx.costs(ctx.keep)) >= 21


# ---- schedule, best checkpoint, penalty ---------------------------------------------------------------------
def test_pe_wise_plan_restarts_the_learning_rate_for_fine_tuning():
    specs = PEWise().plan(20, 0.3)
    prune = [i for i, s in enumerate(specs) if s.prune_keep is not None]
    tune = [i for i, s in enumerate(specs) if s.phase == 1]
    assert tune and min(tune) == max(prune) + 1 and len(tune) >= len(specs) // 2
    assert all(s.penalty == "none" and s.prune_keep is None for s in specs if s.phase == 1)
    assert specs[max(prune)].prune_keep == pytest.approx(0.3)


def test_run_is_sized_in_steps_and_returns_the_best_validation_epoch(zoo_onnx, monkeypatch):
    from compiler.compress import engine as E

    graph = import_onnx(zoo_onnx("digits_mlp")).graph                # the small model: 1000 steps in seconds
    data = load_training_data("digits", graph.inputs[0].shape)
    macs = sum(n.macs() for n in graph.nodes)
    ctx = _ctx(graph, plan_layers(graph), split_validation(data))
    assert ctx.steps() == E.MAX_STEPS                                 # a cheap model gets the long schedule
    monkeypatch.setattr(E, "STEP_MAC_BUDGET", 3 * macs * 64 * 500)    # ... an expensive one the minimum
    assert ctx.steps() == E.MIN_STEPS
    small = TrainData(data.x_train[:300], data.y_train[:300], data.x_test[:100], data.y_test[:100])
    r = compress(graph, plan_layers(graph), CompressionConfig(target=16), small)
    sch = r.schedule
    assert sch["steps"] >= 1000 and sch["epochs"] * sch["steps_per_epoch"] == sch["steps"]
    assert [p["phase"] for p in sch["phases"]] == [0, 1]
    final = [h for h in r.history if h["epoch"] >= sch["masks_final_from_epoch"]]
    best = max(final, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert r.validation["best_epoch"] == best["epoch"]
    assert r.validation["compressed"] == pytest.approx(best["val_accuracy"])
    assert r.accuracy["test_inputs"] == 100 and r.accuracy["validation_inputs"] == len(small.y_train) - sch["train_inputs"]
    assert r.accuracy["drop_points"] == pytest.approx(100 * (r.accuracy["fp32"] - r.accuracy["compressed"]), abs=1e-3)
    assert r.ratio_weights_only > r.ratio


def test_penalty_gradient_is_a_set_share_of_the_task_gradient(cnn):
    graph, data = cnn
    plan = plan_layers(graph)
    ctx = _ctx(graph, plan, split_validation(data), target=21, penalty=0.5)
    ctx.allocate_layers(21)
    x = torch.from_numpy(ctx.data.x_train[:64])
    y = torch.from_numpy(ctx.data.y_train[:64]).long()
    ctx.set_quantize(True)
    loss = torch.nn.functional.cross_entropy(ctx.model(x), y)
    loss.backward()
    pruned = [l for l in ctx.layers.values() if l.prunable and l.final < 1]
    before = {l.name: l.module.weight.grad.clone() for l in pruned}
    untouched = [l for l in ctx.layers.values() if l not in pruned]
    before_other = {l.name: l.module.weight.grad.clone() for l in untouched}
    ctx._add_penalty("wpc")
    for l in pruned:
        added = l.module.weight.grad - before[l.name]
        assert float(added.norm()) == pytest.approx(0.5 * float(before[l.name].norm()), rel=1e-4)
        # WPC: no push on weights above the ternary threshold
        from compiler.compress.ternary import ternary_threshold
        from compiler.compress.groups import as_matrix
        big = as_matrix(l.module.weight.detach()).abs() > ternary_threshold(l.module.weight, l.mask)
        assert float(as_matrix(added)[big].abs().max()) == 0.0
    for l in untouched:
        assert torch.equal(l.module.weight.grad, before_other[l.name])
    assert ctx.penalty_shares[-1] == pytest.approx(0.5 / 1.5, rel=1e-4)


# ---- the accuracy-budget search -----------------------------------------------------------------------------
def _probe_result(E, graph, cfg, val_drop, noisy_drop=None, test_drop=0.0):
    """A CompressionResult as `compress` returns it, with the given validation / noisy / test drops (points)."""
    noisy = val_drop if noisy_drop is None else noisy_drop
    return E.CompressionResult(graph, cfg.strategy, False, cfg.target, cfg.target, 0.5, [],
                               validation={"fp32": 1.0, "compressed": 1 - val_drop / 100, "drop_points": val_drop,
                                           "noisy_drop_points": noisy},
                               accuracy={"validation_inputs": 100_000, "fp32": 0.99,
                                         "compressed": 0.99 - test_drop / 100, "drop_points": test_drop})


def test_budget_search_walks_the_ladder_and_keeps_the_largest_passing_ratio(monkeypatch, cnn):
    from compiler.compress import engine as E

    graph, data = cnn
    seen = []

    def fake(graph, plan, cfg, data=None):
        seen.append(cfg.target)
        return _probe_result(E, graph, cfg, 0.5 if cfg.target <= 28 else 3.0)

    floor, top = E.ratio_range(graph, plan_layers(graph), CompressionConfig())
    assert 4 < floor < 16 < 32 < top
    monkeypatch.setattr(E, "compress", fake)
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    # the unpruned ratio first (the noisy check's reference), then 21x upwards
    assert seen == [round(floor, 2), 21, 24, 28, 32] and r.target == 28 and r.search["passed"]
    assert [p["within_budget"] for p in r.search["probes"]] == [True, True, True, True, False]
    seen.clear()
    monkeypatch.setattr(E, "compress", lambda g, p, cfg, d=None: (seen.append(cfg.target), fake(g, p, cfg, d))[1]
                        if cfg.target <= 16 else _probe_result(E, g, cfg, 10.0))
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    assert r.target == 16 and r.search["passed"] and r.search["chosen_target"] == 16
    assert [p["target"] for p in r.search["probes"]] == [round(floor, 2), 21, 16]
    monkeypatch.setattr(E, "compress", lambda g, p, cfg, d=None: _probe_result(E, g, cfg, 50.0))
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    assert not r.search["passed"] and "not met" in r.search["message"] and "nothing pruned" in r.search["message"]
    assert [p["target"] for p in r.search["probes"]] == [round(floor, 2), 21, 16]     # the floor is not re-run
    assert r.target == pytest.approx(floor, abs=0.01)         # down to the unpruned ratio, no lower


def test_budget_search_also_needs_the_noisy_validation_within_budget(monkeypatch, cnn):
    """vgg_unseen at 24x: 0.5 points lost on the (memorised) validation split, 5.6 on test; the noisy copy of the
    validation split is the second check. Here 24x passes on validation but loses 1.5 points with noise: 21x is
    chosen. Where noise alone costs the unpruned model more than the budget (2.0 points here, as digits_mlp's 2-4),
    pruning may add half the budget to that."""
    from compiler.compress import engine as E

    graph, data = cnn
    monkeypatch.setattr(E, "compress", lambda g, p, cfg, d=None: _probe_result(
        E, g, cfg, 0.5 if cfg.target <= 28 else 3.0,
        noisy_drop=0.3 if cfg.target < 16 else 0.9 if cfg.target <= 21 else 1.5))
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    assert r.target == 21 and r.search["passed"]
    assert [p["within_budget"] for p in r.search["probes"]] == [True, True, False]
    assert r.search["probes"][2]["noisy_drop_points"] == 1.5 and r.search["probes"][2]["noisy_excess_points"] == 1.2
    monkeypatch.setattr(E, "compress", lambda g, p, cfg, d=None: _probe_result(
        E, g, cfg, 0.5 if cfg.target <= 28 else 3.0,
        noisy_drop=2.0 if cfg.target < 16 else 2.4 if cfg.target <= 21 else 2.6))
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    assert r.target == 21 and [p["within_budget"] for p in r.search["probes"]] == [True, True, False]


def test_budget_search_fails_when_the_chosen_ratio_loses_more_on_test(monkeypatch, cnn):
    """The budget is a promise on the test split: a ratio chosen on validation that loses more on test is a
    failed search (exit 1 in the build, output kept), naming the next lower probe; test never chooses."""
    from compiler.compress import engine as E

    graph, data = cnn
    monkeypatch.setattr(E, "compress", lambda g, p, cfg, d=None: _probe_result(
        E, g, cfg, 0.2 if cfg.target <= 24 else 3.0, test_drop=2.4 if cfg.target == 24 else 0.3))
    r = E.compress_auto(graph, plan_layers(graph), CompressionConfig(max_drop=1.0), data)
    assert r.target == 24 and not r.search["passed"] and r.search["test_drop_points"] == 2.4
    assert "exceeded on the test split" in r.search["message"] and "--target-compression 21" in r.search["message"]


def test_validation_margin_is_one_standard_error():
    from compiler.compress.engine import validation_margin

    assert validation_margin(1.0, 1.0, 201) == 0.0 and validation_margin(0.9, 0.9, None) == 0.0
    assert validation_margin(1.0, 0.99, 201) == pytest.approx(100 * (0.99 * 0.01 / 201) ** 0.5)
    # 2 errors in 201 with D = 1: 0.995 points + margin > 1 -> rejected; 1 error passes
    assert 0.995 + validation_margin(1.0, 199 / 201, 201) > 1.0
    assert 0.498 + validation_margin(1.0, 200 / 201, 201) <= 1.0


def test_allocation_falls_back_to_uniform_when_the_scan_is_too_dear(monkeypatch, cnn):
    from compiler.compress import engine as E
    from compiler.compress.ratio import total_ratio

    graph, data = cnn
    monkeypatch.setattr(E, "SCAN_MAC_BUDGET", 1e6)
    ctx = _ctx(graph, plan_layers(graph), split_validation(data), target=21)
    ctx.allocate_layers(21)
    pruned = [l for l in ctx.layers.values() if l.prunable]
    assert not ctx.sensitivity and all("would cost" in l.reason for l in pruned)
    assert len({round(l.final, 2) for l in pruned}) <= 2          # one share (up to per-PE rounding)
    assert total_ratio(ctx.costs(ctx.keep)) >= 21


def test_no_target_on_a_small_model_compresses_to_its_ceiling_instead_of_refusing(cnn):
    from compiler.compress import engine as E

    graph, _ = cnn
    plan = {n: LayerMapping(m.layer, m.rows, m.cols, m.rows, m.cols, m.vectors)     # one group per row and PE:
            for n, m in plan_layers(graph).items()}                                  # nothing can be pruned
    floor, top = E.ratio_range(graph, plan, CompressionConfig())
    assert floor == pytest.approx(top) and top < 21
    r = compress(graph, plan, CompressionConfig(epochs=0), None)              # no target, data-free
    assert r.target == pytest.approx(top * 0.999) and r.ratio == pytest.approx(top)
    with pytest.raises(FcompError, match="ceiling"):                         # an explicit target is refused
        compress(graph, plan, CompressionConfig(target=21, epochs=0), None)
