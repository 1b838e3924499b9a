"""The board planner: per weighted layer the folding (P PEs x S lanes) and the weight memory kind, so that the
whole model fits a board's LUT/FF/DSP/BRAM36/URAM budget times a margin at the highest frame rate.

Folding follows FINN's SetFolding idea: in a dataflow pipeline the slowest layer sets the frame rate, so the
planner looks for the smallest target T (cycles per frame) such that giving every layer its cheapest folding that
meets T (fewest lanes P*S, then fewest PEs) fits the board; T is found by bisection over the sorted cycle counts
the layers can take. Only foldings with P | rows, S | cols (no idle lanes) and an hls4ml-valid ReuseFactor are
considered (`plan.foldings`). For a given folding, each layer's weight ROMs and its activation buffers go, largest
first, to the LUTRAM / BRAM36 / URAM that costs the smallest share of the board among those that still fit (so
the cheapest memory per bit fills first), or, when none fits, to the one leaving the highest utilization lowest
(ties: BRAM, URAM, LUTRAM). Everything is deterministic: candidates are enumerated in a fixed order and ties
break by name. Feasibility is close to, not strictly, monotone in T, so the bisection is a heuristic search.

Before compression the planner works from an expected keep share (`keep_share_for_ratio`: the share of PE groups
the compression engine keeps to reach a target ratio, solved exactly as `compress.engine.Context.solve_keep`
does, on the default mapping; P changes it only through rounding). The share is held fixed across foldings, so a
narrower S costs more index bits for the same share (compression to a fixed ratio would instead keep a little
less). After compression `check_fit` re-checks the estimate made with the real kept groups.
"""

from __future__ import annotations

import dataclasses
import math

from .boards import RESOURCE_KEYS, Board, list_boards
from .errors import FcompError
from .estimate import (ACT_BITS, LUTRAM_MAX_BITS, Estimate, estimate, input_frame_cycles, is_ternary, keep_per_pe,
                       layer_estimate, memory_cost, weight_memory_cost, weight_rom)
from .ir import Graph
from .plan import (MEMORY_KINDS, LayerMapping, chunkable_simd, foldings, layer_matrix, plan_layers,
                   window_channels)

DEFAULT_MARGIN = 0.85
# The widest PE the planner builds by default (`max_simd`). S is also the pruning group's width
# (compress.groups): wider groups prune coarser (S = cols drops whole output rows) and cost accuracy, as the
# digits models showed at S = 32..72; a wider limit buys throughput on large boards (README, bench/plan.py).
MAX_SIMD = 16
_KIND_ORDER = {"bram": 0, "uram": 1, "lutram": 2}


class DoesNotFitError(FcompError):
    """The model cannot fit the board even at its cheapest folding; the message has the numbers per resource
    and names the smallest board that fits."""


def on_chip_bits(board: Board) -> int:
    return board.resources["bram36"] * 36 * 1024 + board.resources["uram"] * 288 * 1024


def budget(board: Board, margin: float) -> dict[str, float]:
    return {r: board.resources[r] * margin for r in RESOURCE_KEYS}


def over_budget(total: dict, board: Board, margin: float) -> dict[str, tuple[float, float]]:
    b = budget(board, margin)
    return {r: (total[r], b[r]) for r in RESOURCE_KEYS if total[r] > b[r]}


def _ratio_at(graph: Graph, plan: dict[str, LayerMapping], keep: float, ternary, weight_bits,
              whole: frozenset = frozenset()) -> float:
    """Total compression ratio (`compress.ratio` counts) with every ternary layer keeping `keep` of its PE groups,
    those in `whole` all of them, and the other layers dense at `weight_bits`."""
    from .compress.ratio import dense_cost, structured_cost, total_ratio

    out = []
    for node in graph.weighted():
        m = plan[node.name]
        if is_ternary(node.name, ternary):
            k = keep_per_pe(m, 1.0 if node.name in whole else keep)
            out.append(structured_cost(node.name, m.rows, m.cols, m.simd, m.pe * k))
        else:
            bits = weight_bits[node.name] if isinstance(weight_bits, dict) else weight_bits
            out.append(dense_cost(node.name, m.rows, m.cols, bits))
    return total_ratio(out)


def _solve_keep(ratio_at, target: float) -> float:
    """The largest keep share whose ratio reaches `target` (bisection); 1.0 when keeping everything does."""
    if ratio_at(1.0) >= target:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if ratio_at(mid) >= target:
            lo = mid
        else:
            hi = mid
    return max(lo, 1e-9)


def keep_share_for_ratio(graph: Graph, target: float, *, ternary=True, weight_bits=8,
                         plan: dict[str, LayerMapping] | None = None) -> float:
    """Share of PE groups kept for a total compression ratio `target` (fp32 bits / stored bits), as the
    compression engine solves it (`compress.engine.Context.solve_keep`), with `compress.ratio`'s counts; layers
    not ternary are counted unpruned at `weight_bits`. 1.0 when even keeping everything reaches the target."""
    plan = plan or plan_layers(graph)
    return _solve_keep(lambda k: _ratio_at(graph, plan, k, ternary, weight_bits), target)


def planned_keep_shares(graph: Graph, target: float, *, ternary=True, weight_bits=8, prune_first: str = "auto",
                        plan: dict[str, LayerMapping] | None = None) -> dict[str, float]:
    """{layer: expected keep share} for a target ratio, with the layers the compression engine leaves unpruned
    planned whole (`compress.engine.Context._prunable`): the first layer unless it holds FIRST_LAYER_SHARE of the
    weights (prune_first "auto"; "always" prunes it, "never" never), layers where one group per PE stores more bits
    than dense ternary, and layers that are not ternary. The rest share one keep solved for the target; when the
    target needs the first layer too ("auto"), it is planned pruned like the rest."""
    from .compress.ratio import FIRST_LAYER_SHARE, structured_cost

    plan = plan or plan_layers(graph)
    names = [n.name for n in graph.weighted()]
    whole = set()
    for name in names:
        m = plan[name]
        if not is_ternary(name, ternary) or structured_cost(name, m.rows, m.cols, m.simd, m.pe).stored_bits >= \
                structured_cost(name, m.rows, m.cols, m.simd, m.pe * keep_per_pe(m, 1.0)).stored_bits:
            whole.add(name)
    weights = {n: plan[n].rows * plan[n].cols for n in names}
    first = names[0] if names else None
    if first is not None and first not in whole and prune_first != "always" and \
            weights[first] < FIRST_LAYER_SHARE * sum(weights.values()):
        whole.add(first)

    def ratio_at(keep: float) -> float:
        return _ratio_at(graph, plan, keep, ternary, weight_bits, frozenset(whole))

    if prune_first == "auto" and first in whole and ratio_at(1e-9) < target:
        whole.discard(first)            # the engine prunes the first layer when the target needs it
    keep = _solve_keep(ratio_at, target)
    return {name: 1.0 if name in whole else keep for name in names}


class _Search:
    """Candidate foldings per layer and the fit test for one board."""

    def __init__(self, graph, board, keep_share, act_bits, ternary, weight_bits, margin, max_simd=MAX_SIMD):
        self.graph, self.board, self.keep, self.act_bits = graph, board, keep_share, act_bits
        self.ternary, self.weight_bits, self.margin = ternary, weight_bits, margin
        self.budget = budget(board, margin)
        self.kinds = [k for k in MEMORY_KINDS if k == "lutram" or board.resources[
            "bram36" if k == "bram" else "uram"] > 0]
        # per layer: (mapping, cycles per frame, normalized cost with its cheapest memory kind), cheapest first
        self.cands: dict[str, list[tuple[LayerMapping, int, float]]] = {}
        for node in graph.weighted():
            rows, cols, vectors = layer_matrix(node)
            lst = []
            chans = window_channels(node)
            for p, s in foldings(rows, cols):
                if s > max_simd or not chunkable_simd(chans, s, max_simd):
                    continue
                m = LayerMapping(node.name, rows, cols, p, s, vectors, channels=chans)
                costs = []
                for kind in self.kinds:
                    e = layer_estimate(graph, node, _with(m, kind), act_bits=act_bits, ternary=ternary,
                                       weight_bits=weight_bits, keep_share=keep_share)
                    costs.append(sum(_util(getattr(e, r), self.budget[r]) for r in RESOURCE_KEYS))
                lst.append((m, e.cycles_per_frame, min(costs)))
            self.cands[node.name] = sorted(lst, key=lambda c: (c[2], c[0].pe * c[0].simd, c[0].pe))

    def targets(self) -> list[int]:
        # no faster than the slowest layer's fastest folding, and no faster than a frame arrives
        lo = max(max(min(c for _, c, _ in lst) for lst in self.cands.values()),
                 input_frame_cycles(self.graph.inputs[0].shape, self.act_bits))
        return sorted({c for lst in self.cands.values() for _, c, _ in lst if c >= lo} | {lo})

    def folding(self, T: int) -> dict[str, LayerMapping]:
        """Each layer's cheapest folding (normalized resource cost) meeting T."""
        plan = {}
        for name, lst in self.cands.items():
            ok = [m for m, c, _ in lst if c <= T]
            plan[name] = ok[0] if ok else min(lst, key=lambda c: (c[1], c[2]))[0]
        return plan

    def estimate(self, plan) -> Estimate:
        return estimate(self.graph, plan, clock_mhz=self.board.clock_mhz, act_bits=self.act_bits,
                        ternary=self.ternary, weight_bits=self.weight_bits, keep_share=self.keep)

    def assign_memory(self, plan: dict[str, LayerMapping]) -> tuple[dict[str, LayerMapping], Estimate]:
        """Each layer's weight ROMs and its activation buffers (with those of the ops it feeds) to LUTRAM, BRAM36
        or URAM, largest first: the cheapest share of the board that still fits, else the lowest peak."""
        base = self.estimate({n: _with(m, "bram", "bram") for n, m in plan.items()})
        used = {r: float(v) for r, v in base.total().items()}
        # (layer, what) -> (shapes, sequential, bits, ternary weights)
        items: dict[tuple[str, str], tuple[list, bool, int, bool]] = {}
        for le in base.layers:
            if le.layer in plan:
                wb = self.weight_bits[le.layer] if isinstance(self.weight_bits, dict) else self.weight_bits
                roms = weight_rom(plan[le.layer], le.kind == "ternary", int(wb), le.kept_per_pe)
                items[(le.layer, "weights")] = (roms, True, le.weight_bits, le.kind == "ternary")
            big = [(d, w) for d, w in le.buffers if d * w > LUTRAM_MAX_BITS]
            if big and le.owner in plan:
                shapes, _, bits, _ = items.get((le.owner, "buffers"), ([], False, 0, False))
                items[(le.owner, "buffers")] = (shapes + big, False, bits + sum(d * w for d, w in big), False)
        for (_, what), (shapes, seq, _, tw) in items.items():
            for k, v in _item_cost(what, shapes, "bram", seq, tw).items():
                used[k] -= v
        kinds = {n: {"weights": "bram", "buffers": "bram"} for n in plan}
        for key in sorted(items, key=lambda k: (-items[k][2], k)):
            shapes, seq, _, tw = items[key]
            best = None
            for kind in self.kinds:
                if key[1] == "weights" and kind == "uram" and not tw:
                    continue        # a fixed-point layer's ROMs have initial contents: never UltraRAM
                cost = _item_cost(key[1], shapes, kind, seq, tw)
                after = {r: used[r] + cost.get(r, 0) for r in used}
                peak = max(_util(after[r], self.budget[r]) for r in used)
                delta = sum(_util(cost.get(r, 0), self.budget[r]) for r in used)
                rank = (0, delta, peak) if peak <= 1 else (1, peak, delta)
                cand = ((*rank, _KIND_ORDER[kind]), kind, after)
                if best is None or cand[0] < best[0]:
                    best = cand
            _, kinds[key[0]][key[1]], used = best
        out = {n: _with(m, kinds[n]["weights"], kinds[n]["buffers"]) for n, m in plan.items()}
        return out, self.estimate(out)

    def fits(self, est: Estimate) -> bool:
        return not over_budget(est.total(), self.board, self.margin)


def _with(m: LayerMapping, memory: str, buffers: str | None = None) -> LayerMapping:
    return dataclasses.replace(m, memory=memory, buffers=m.buffers if buffers is None else buffers)


def _item_cost(what: str, shapes, kind: str, sequential: bool, ternary: bool) -> dict[str, float]:
    """A layer's weights (as the generator builds them in `kind`, `weight_memory_cost`) or its buffers."""
    if what == "weights":
        return weight_memory_cost(shapes, kind, ternary)
    return _mem_cost(shapes, kind, sequential)


def _mem_cost(shapes, kind: str, sequential: bool) -> dict[str, float]:
    tot: dict[str, float] = {}
    for depth, width in shapes:
        for k, v in memory_cost(depth, width, kind, sequential).items():
            tot[k] = tot.get(k, 0) + v
    return tot


def _util(v: float, cap: float) -> float:
    if v <= 0:
        return 0.0
    return v / cap if cap > 0 else math.inf


def plan_for_board(graph: Graph, board: Board, *, keep_share: float, act_bits: int = ACT_BITS, ternary=True,
                   weight_bits=16, margin: float = DEFAULT_MARGIN,
                   target_fps: float | None = None, max_simd: int = MAX_SIMD,
                   model: str | None = None) -> dict[str, LayerMapping]:
    """Per-layer P, S and memory kind that fit `board` x `margin` at the highest frame rate, or, with
    `target_fps`, the cheapest plan that reaches that frame rate (as FINN's target_fps).

    keep_share: expected share of PE groups kept (1.0 uncompressed; `keep_share_for_ratio` for a target
    ratio). ternary: True, False or the set of ternary layer names; the others are fixed-point at
    `weight_bits` (int or {layer: bits}). Raises DoesNotFitError when even each layer's cheapest folding does
    not fit; its message names the model as `model` (e.g. the ONNX file name; default: the graph's name)."""
    return _plan(graph, board, keep_share, act_bits, ternary, weight_bits, margin, hint=True,
                 target_fps=target_fps, max_simd=max_simd, model=model)[0]


def plan_and_estimate(graph: Graph, board: Board, *, keep_share: float, act_bits: int = ACT_BITS, ternary=True,
                      weight_bits=16, margin: float = DEFAULT_MARGIN,
                      target_fps: float | None = None,
                      max_simd: int = MAX_SIMD, model: str | None = None) -> tuple[dict[str, LayerMapping], Estimate]:
    """`plan_for_board` and the estimate of the plan it returns (made with `keep_share`)."""
    return _plan(graph, board, keep_share, act_bits, ternary, weight_bits, margin, hint=True, target_fps=target_fps,
                 max_simd=max_simd, model=model)


def _plan(graph, board, keep_share, act_bits, ternary, weight_bits, margin, hint, target_fps=None,
          max_simd=MAX_SIMD, model=None):
    model = model or graph.name
    for share in (keep_share.values() if isinstance(keep_share, dict) else [keep_share]):
        if not 0 < share <= 1:
            raise FcompError(f"keep share must be in (0, 1], got {share}")
    if max_simd < 1:
        raise FcompError(f"--max-simd must be at least 1, got {max_simd}")
    if not (math.isfinite(margin) and 0 < margin <= 1):
        raise FcompError(f"--margin must be a share of the board in (0, 1], got {margin}")
    if target_fps is not None and not (math.isfinite(target_fps) and target_fps > 0):
        raise FcompError(f"--target-fps must be a positive frame rate, got {target_fps}")
    s = _Search(graph, board, keep_share, act_bits, ternary, weight_bits, margin, max_simd)
    if not s.cands:     # no weighted layer (pooling only): nothing to fold, the streaming layers still count
        est = s.estimate({})
        if not s.fits(est):
            raise DoesNotFitError(_not_fit_message(model, board, est, margin, "as it is"))
        if target_fps is not None and est.frames_per_s < target_fps:
            raise DoesNotFitError(f"{model} reaches at most {est.frames_per_s:,.1f} frames/s on {board.name}, "
                                  f"below the target {target_fps:,.1f}")
        return {}, est
    targets = s.targets()
    plan, est = s.assign_memory(s.folding(targets[-1]))
    if not s.fits(est):
        hint_text = _smallest_board_hint(graph, board, keep_share, act_bits, ternary, weight_bits, margin,
                                         max_simd) \
            if hint else ""
        raise DoesNotFitError(_not_fit_message(model, board, est, margin, "even at its cheapest folding")
                              + hint_text)
    lo, hi = 0, len(targets) - 1        # targets[hi] fits; find the smallest index that fits
    best = (plan, est)
    while lo < hi:
        mid = (lo + hi) // 2
        p, e = s.assign_memory(s.folding(targets[mid]))
        if s.fits(e):
            hi, best = mid, (p, e)
        else:
            lo = mid + 1
    return best if target_fps is None else _slow_down_to(s, best, targets, target_fps, model)


def _slow_down_to(s: _Search, best, targets: list[int], target_fps: float, model: str):
    """The cheapest plan (largest cycles per frame) that still reaches `target_fps`; `best` is the fastest."""
    if best[1].frames_per_s < target_fps:
        raise DoesNotFitError(f"{model} reaches at most {best[1].frames_per_s:,.1f} frames/s on {s.board.name} "
                              f"({int(s.margin * 100)}% of its resources), below the target {target_fps:,.1f}")
    limit = s.board.clock_mhz * 1e6 / target_fps
    for t in reversed([t for t in targets if t <= limit]):
        p, e = s.assign_memory(s.folding(t))
        if s.fits(e) and e.frames_per_s >= target_fps:
            return p, e
    return best


def _not_fit_message(model: str, board: Board, est: Estimate, margin: float, how: str) -> str:
    over = over_budget(est.total(), board, margin)
    parts = [f"{r.upper()} {_fmt(need)} needed vs {_fmt(avail)} available" for r, (need, avail) in over.items()]
    return (f"{model} does not fit {board.name} {how} ({int(margin * 100)}% of its resources): " + "; ".join(parts)
            + f" (weights {est.weight_bits / 2**20:.1f} Mbit, on-chip BRAM+URAM {on_chip_bits(board) / 2**20:.1f}"
            " Mbit)")


def _fmt(v: float) -> str:
    return f"{v:,.0f}"


def _smallest_board_hint(graph, board, keep_share, act_bits, ternary, weight_bits, margin,
                         max_simd=MAX_SIMD) -> str:
    for b in sorted(list_boards(), key=lambda b: (on_chip_bits(b), b.resources["lut"], b.name)):
        if b.name == board.name:
            continue
        try:
            _plan(graph, b, keep_share, act_bits, ternary, weight_bits, margin, hint=False, max_simd=max_simd)
        except DoesNotFitError:
            continue
        return f"; the smallest board in boards/ that fits is {b.name}"
    return "; no board in boards/ fits it"


def check_fit(est: Estimate, board: Board, margin: float = DEFAULT_MARGIN, model: str | None = None) -> None:
    """Raise DoesNotFitError when an estimate (e.g. re-made after compression with the real kept groups)
    exceeds the board x margin; the message names the smallest board the planner fits the model on."""
    if not over_budget(est.total(), board, margin):
        return
    inp = est.inputs
    hint = ""
    if inp.get("graph") is not None:
        keep = inp.get("keep_share")
        kept = inp.get("kept_groups")
        if kept:
            ternary_layers = [le for le in est.layers if le.kind == "ternary" and le.layer in kept]
            total = sum(math.ceil(_rows(inp["graph"], le.layer) / le.pe) * le.pe
                        * math.ceil(_cols(inp["graph"], le.layer) / le.simd) for le in ternary_layers)
            keep = sum(sum(kept[le.layer]) for le in ternary_layers) / total if total else 1.0
        hint = _smallest_board_hint(inp["graph"], board, keep or 1.0, inp["act_bits"], inp["ternary"],
                                    inp["weight_bits"], margin)
    model = model or (inp["graph"].name if inp.get("graph") else "the model")
    raise DoesNotFitError(_not_fit_message(model, board, est,
                                           margin, "with this plan") + hint)


def _rows(graph, name):
    return layer_matrix(graph.node(name))[0]


def _cols(graph, name):
    return layer_matrix(graph.node(name))[1]
