"""The PE-array RTL's cycle model, exact to the cycle for a source that is always valid and a sink that is
always ready (the testbench checks every beat's cycle against `stream_timing`).

Per output vector the sequencer issues K steps (K = kept groups per PE: pruned groups cost nothing). Vector m
  - is loaded in NBI consecutive input beats starting at W_m, once its input bank (of NIB) is free again:
        W_m = max(W_{m-1} + NBI, S_{m-NIB} + K + 1)            (the bank is released with the last step's read)
  - starts (the cycle its issue is decided; steps issue at S_m+1 .. S_m+K) at
        S_m = max(W_m + NBI, S_{m-1} + K, O_{m-NOB} + RPP)     (loaded; previous vector issued; output bank free)
  - issues its RPP output beats to the scale stage from O_m, G = ceil(P/U) cycles per beat (U scale units, each
    taking one PE's result per cycle), once its last result is written (4 pipeline stages after the last step:
    ROM read, input-bank read, adder tree, accumulator) and the previous vector is issued:
        O_m = max(S_m + K + 4, O_{m-1} + RPP*G)
    (its output bank is free again at O_m + RPP*G), and output beat j is transferred at cycle
        O_m + (j+1)*G + T + 1
    (the last group of beat j issues at O_m + j*G + G-1; one register stage for the units' inputs, T term
    stages, the output register).
Cycles are counted from the first input beat's transfer (W_0 = 0).

In steady state vectors follow each other every max(K, NBI, RPP*G, (K+NBI+1)/NIB, (K+RPP*G+4)/NOB) cycles (the
max cycle mean of these recurrences). The generator takes the fewest scale units U (`scale_units`) for which
that is no more than with one unit per PE (G = 1): max(K, NBI, RPP, ...), which with NIB = 3 and NOB = 4 is
max(K, NBI, RPP) for all K >= 2, and K (the compiler's `cycles_per_vector` of a pruned layer:
`kept_groups_per_pe`) whenever the input stream (NBI = ceil(cols / (IB*S)) beats) and the output stream
(RPP = ceil(rows / P) beats) keep up. The scale pipeline adds latency only (T + 1 cycles and G - 1 per beat).
"""

from __future__ import annotations

from fractions import Fraction

PIPELINE = 4   # cycles from a step's issue to its accumulator write being visible


def stream_timing(K: int, NBI: int, RPP: int, n: int, NIB: int = 3, NOB: int = 4, G: int = 1,
                  T: int = 1) -> dict[str, list[int]]:
    """Transfer cycles of every input beat and output beat of n back-to-back vectors (G cycles per output beat,
    T scale terms: `layer_timing` takes them from a layer)."""
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
            s = max(s, O[m - NOB] + RPP * G)
        S.append(s)
        o = S[m] + K + PIPELINE
        if m >= 1:
            o = max(o, O[m - 1] + RPP * G)
        O.append(o)
    return {"in": [W[m] + i for m in range(n) for i in range(NBI)],
            "out": [O[m] + (j + 1) * G + T + 1 for m in range(n) for j in range(RPP)],
            "start": S}


def steady_cycles_per_vector(K: int, NBI: int, RPP: int, NIB: int = 3, NOB: int = 4, G: int = 1) -> Fraction:
    """Average cycles between consecutive output vectors in steady state."""
    return max(Fraction(K), Fraction(NBI), Fraction(RPP * G), Fraction(K + NBI + 1, NIB),
               Fraction(K + RPP * G + 4, NOB))


def scale_units(P: int, K: int, NBI: int, RPP: int, NIB: int = 3, NOB: int = 4) -> int:
    """The fewest scale units U (1..P) whose G = ceil(P/U) cycles per output beat keep the layer's steady state
    at that of one unit per PE."""
    best = steady_cycles_per_vector(K, NBI, RPP, NIB, NOB, 1)
    return next(u for u in range(1, P + 1)
                if steady_cycles_per_vector(K, NBI, RPP, NIB, NOB, -(-P // u)) <= best)


def layer_timing(layer, n: int) -> dict[str, list[int]]:
    """`stream_timing` of a generated layer (`compiler.rtl.layer.RtlLayer`) for n back-to-back vectors."""
    p = layer.params
    return stream_timing(p["K"], p["NBI"], p["RPP"], n, p["NIB"], p["NOB"], groups(p), p["T"])


def groups(params: dict) -> int:
    """G = ceil(P/U): cycles per output beat of a layer with these parameters."""
    return -(-params["P"] // params["U"])


def latency(K: int, NBI: int, RPP: int, G: int = 1, T: int = 1) -> int:
    """Cycles from a lone vector's first input beat to its last output beat."""
    return stream_timing(K, NBI, RPP, 1, G=G, T=T)["out"][-1]


def compiler_cycles_per_vector(mapping, kept_groups_per_pe: list[int]) -> int:
    """The compiler's analytic model, `LayerMapping.pruned_cycles_per_vector` (what compress.engine reports)."""
    return mapping.pruned_cycles_per_vector(kept_groups_per_pe)
