"""Per-layer keep shares: which layers to prune, and how far, for a target compression ratio.

Pruning every layer to the same share wastes accuracy where it saves almost nothing (a 1-channel first conv holds
0.5% of the bits and all of the input) and can even cost bits (a layer whose groups are one weight wide, S = 1,
pays an index per kept weight that is larger than the 2-bit code it removes). The allocation here:

1. decides which layers may be pruned at all (`prunable_reason`): not the first layer unless asked, not a layer
   kept at 8 bits, not a layer where keeping one group per PE does not store fewer bits than keeping everything;
2. measures each prunable layer's sensitivity cheaply (`Context.scan_sensitivity`: that layer alone pruned by
   the strategy's own score to a few shares, everything else untouched, KL divergence of the outputs from the
   unpruned model on held-out inputs);
3. solves for the target (`allocate`): starting from every layer dense, repeatedly takes the step, among all
   layers and all their smaller keep counts, that adds the least interpolated sensitivity per stored bit saved,
   until the total ratio reaches the target. This is the greedy solution of the multiple-choice knapsack
   "minimise total sensitivity subject to stored bits <= fp32 bits / target" over each layer's lower convex
   hull (cf. the allocation of AMC / HAQ, here without search or reinforcement learning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# keep shares the sensitivity scan measures (besides the layer's minimum, one group per PE)
SCAN_SHARES = (0.75, 0.5, 0.3, 0.15, 0.05)
MAX_LEVELS = 64     # candidate keep counts per layer the solver considers


@dataclass
class Candidate:
    """One prunable layer for the solver: storage (bits) at each candidate keep count, and its sensitivity."""
    name: str
    total: int                          # keep count of the dense layer (groups per PE, or weights)
    bits: dict[int, int]                # keep count -> stored bits (must include `total`)
    sens: list[tuple[float, float]] = field(default_factory=list)  # (keep share, measured sensitivity) points

    def sensitivity(self, count: int) -> float:
        """Sensitivity at a keep count, interpolated linearly in the keep share between the measured points
        (0 at the dense layer; below the smallest measured share, the smallest point's value). Made monotone
        first (a point counts at least as much as any larger share's): a one-shot prune of an untrained layer
        can measure lower at an extreme share than at a milder one, which would lure the solver to extremes."""
        share = count / self.total
        pts, worst = [], 0.0
        for s, v in sorted({(1.0, 0.0), *self.sens}, reverse=True):
            worst = max(worst, v)
            pts.append((s, worst))
        pts.reverse()
        if share <= pts[0][0]:
            return pts[0][1]
        for (s0, v0), (s1, v1) in zip(pts, pts[1:]):
            if s0 <= share <= s1:
                return v0 + (v1 - v0) * (share - s0) / (s1 - s0) if s1 > s0 else v1
        return 0.0


def candidate_counts(total: int, max_levels: int = MAX_LEVELS) -> list[int]:
    """Keep counts 1..total the solver may pick: all of them for small layers, an even spread otherwise."""
    if total <= max_levels:
        return list(range(1, total + 1))
    step = (total - 1) / (max_levels - 1)
    return sorted({1, total, *(1 + round(i * step) for i in range(max_levels))})


def allocate(cands: list[Candidate], fixed_bits: int, fp32_bits: int, target: float) -> tuple[dict[str, int], bool]:
    """Keep count per candidate layer reaching fp32_bits / stored_bits >= target at the least total sensitivity.

    `fixed_bits`: stored bits of the layers that are not pruned. Returns (counts, reached); when the target is
    out of reach every candidate ends at its cheapest count and `reached` is False."""
    budget = fp32_bits / target
    cur = {c.name: c.total for c in cands}
    stored = fixed_bits + sum(c.bits[c.total] for c in cands)
    sens = {c.name: {k: c.sensitivity(k) for k in c.bits} for c in cands}
    while stored > budget:
        best = None
        for c in cands:
            k0 = cur[c.name]
            b0, s0 = c.bits[k0], sens[c.name][k0]
            for k, b in c.bits.items():
                if k >= k0 or b >= b0:
                    continue
                cost = max(0.0, sens[c.name][k] - s0) / (b0 - b)
                # cheapest sensitivity per bit; on a tie the smaller step, so the target is not overshot
                key = (cost, b0 - b, c.name)
                if best is None or key < best[0]:
                    best = (key, c, k)
        if best is None:
            return cur, False
        _, c, k = best
        if stored - (c.bits[cur[c.name]] - c.bits[k]) <= budget:   # the last step: no further than needed
            k = max(j for j, b in c.bits.items() if k <= j < cur[c.name] and stored - (c.bits[cur[c.name]] - b)
                    <= budget)
        stored -= c.bits[cur[c.name]] - c.bits[k]
        cur[c.name] = k
    return cur, True


def ceiling(cands: list[Candidate], fixed_bits: int, fp32_bits: int) -> float:
    """The largest total ratio reachable: every candidate at its cheapest keep count."""
    stored = fixed_bits + sum(min(c.bits.values()) for c in cands)
    return fp32_bits / stored if stored else float("inf")
