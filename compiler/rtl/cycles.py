"""The PE-array RTL's cycle model, exact to the cycle for a source that is always valid and a sink that is
always ready (the testbench checks every beat's cycle against `stream_timing`).

Per output vector the sequencer issues K steps (K = kept groups per PE: pruned groups cost nothing). Vector m
  - is loaded in NBI consecutive input beats starting at W_m, once its input bank (of NIB) is free again:
        W_m = max(W_{m-1} + NBI, S_{m-NIB} + K + 1)            (the bank is released with the last step's read)
  - starts (the cycle its issue is decided; steps issue at S_m+1 .. S_m+K) at
        S_m = max(W_m + NBI, S_{m-1} + K, O_{m-NOB} + RPP)     (loaded; previous vector issued; output bank free)
  - streams its RPP output beats from O_m, once its last result is written (4 pipeline stages after the last
    step: ROM read, input-bank read, adder tree, accumulator) and the previous vector is out:
        O_m = max(S_m + K + 4, O_{m-1} + RPP)
    and output beat j is transferred at cycle O_m + j + 1.
Cycles are counted from the first input beat's transfer (W_0 = 0).

In steady state vectors follow each other every max(K, NBI, RPP, (K+NBI+1)/NIB, (K+RPP+4)/NOB) cycles (the
max cycle mean of these recurrences); with NIB = 3 and NOB = 4 that is max(K, NBI, RPP) for all K >= 2, and K
(the compiler's `cycles_per_vector` of a pruned layer: `kept_groups_per_pe`) whenever the input stream
(NBI = ceil(cols / (IB*S)) beats) and the output stream (RPP = ceil(rows / P) beats) keep up.
"""

from __future__ import annotations

from fractions import Fraction

PIPELINE = 4   # cycles from a step's issue to its accumulator write being visible


def stream_timing(K: int, NBI: int, RPP: int, n: int, NIB: int = 3, NOB: int = 4) -> dict[str, list[int]]:
    """Transfer cycles of every input beat and output beat of n back-to-back vectors."""
    W, S, O = [], [], []
    for m in range(n):
        w = 0 if m == 0 else W[m - 1] + NBI
        if m >= NIB:
            w = max(w, S[m - NIB] + K + 1)
        W.append(w)
        s = W[m] + NBI
        if m >= 1:
            s = max(s, S[m - 1] + K)
        if m >= NOB:
            s = max(s, O[m - NOB] + RPP)
        S.append(s)
        o = S[m] + K + PIPELINE
        if m >= 1:
            o = max(o, O[m - 1] + RPP)
        O.append(o)
    return {"in": [W[m] + i for m in range(n) for i in range(NBI)],
            "out": [O[m] + j + 1 for m in range(n) for j in range(RPP)],
            "start": S}


def steady_cycles_per_vector(K: int, NBI: int, RPP: int, NIB: int = 3, NOB: int = 4) -> Fraction:
    """Average cycles between consecutive output vectors in steady state."""
    return max(Fraction(K), Fraction(NBI), Fraction(RPP), Fraction(K + NBI + 1, NIB), Fraction(K + RPP + 4, NOB))


def latency(K: int, NBI: int, RPP: int) -> int:
    """Cycles from a lone vector's first input beat to its last output beat."""
    return stream_timing(K, NBI, RPP, 1)["out"][-1]


def compiler_cycles_per_vector(mapping, kept_groups_per_pe: list[int]) -> int:
    """The compiler's analytic model, `LayerMapping.pruned_cycles_per_vector` (what compress.engine reports)."""
    return mapping.pruned_cycles_per_vector(kept_groups_per_pe)
