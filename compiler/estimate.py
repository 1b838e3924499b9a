"""Resource and latency estimates of a planned model: per layer and total LUT, FF, DSP, BRAM36, URAM, cycles per
frame, and the frame rate and latency at the board clock. The planner (`compiler.planner`) searches over these
numbers, so they are cheap to compute (no synthesis) and deterministic.

What is modelled
  * Ternary PE arrays (rtl_sim/tpe_array.sv): LUTs from a least-squares fit to Yosys `synth_xilinx -family xcup`
    counts (`PE_SYNTH` below, measured at 8/16/32 lanes and 8/16-bit activations); FFs from the array's own
    registers (adder-tree output + accumulator per PE, exact against the same runs). The scale stage is U
    pipelined shift-add units per layer (`LayerMapping.scale_units`, usually 1), each costed as one synthesized
    unit (`SCALE_UNIT`); the rest of a layer (sequencer, banks, input-bank read ports) is a per-PE constant taken
    from one synthesized layer top (`LAYER_OVERHEAD`, scaled linearly with the activation width: a rough figure).
  * Fixed-point layers (8/16-bit weights): MAC lanes with one DSP48E2 per product when the operands fit its
    27x18 multiplier (more otherwise), adder tree LUTs from Yosys on rtl_sim/mac_array.sv (`MAC_SYNTH`).
  * Weight memory: ternary layers store what `compress.ratio` counts (2-bit codes of kept groups, the block
    index, 16-bit scale and bias per channel); the ROM the array reads is K words (kept groups per PE) of
    P*(2S + index) bits, plus RPP words of P*32 bits of scale/bias. Fixed layers store rows*cols*bits read
    P*S*bits wide. A ROM becomes LUTRAM (a LUT6 is a 64x1 ROM), BRAM36 (best of its 1..72-bit aspect ratios) or
    URAM (4096x72), as the mapping's `memory` says; ROMs are read strictly in schedule order, so their words are
    packed densely across 72-bit lines (FINN packs weight memories the same way).
  * Activation buffers: a conv's line buffer (kh rows x padded input width x in channels x act_bits), the PE
    array's NIB = 3 input banks (one im2col vector each) held as one copy per PE so that every PE reads its own
    kept block through its own read port (a fixed-point layer holds its vector in registers instead), max-pool line buffers, a residual Add's skip buffer (3 rows of its input, rough),
    and one 32-deep SRL FIFO per stream (a LUT per bit). Buffers of up to `LUTRAM_MAX_BITS` go to LUTRAM, larger
    ones where the mapping's `buffers` says (a weighted layer's, and for element-wise ops and pools their
    producer's), modelled as random-access memories (primitive aspect ratios, no packing).
  * Cycles: a weighted layer takes ceil(vectors * cycles_per_vector), with cycles per vector the RTL cycle
    model's steady state for ternary layers, `LayerMapping.steady_cycles_per_vector(kept groups per PE)`: that is
    `pruned_cycles_per_vector` = max(K, ceil(rows/P)) (the RTL's input stream is sized to keep up,
    `rtl.data.auto_in_blocks`) except 1.5 for K = 1 with a single output beat; ceil(rows/P)*ceil(cols/S) for
    dense fixed-point layers (hls4ml's ReuseFactor per vector). Element-wise ops and pools run at their
    producer's output width and take one cycle per beat. Layers run as a dataflow pipeline: the slowest layer
    sets frames/s = clock / its cycles per frame; latency is the sum of every layer's cycles per frame, an
    upper bound (layers overlap in a real pipeline).

Not modelled: routing/placement effects and the clock actually met, control/AXI/DMA infrastructure and the PS
shell, hls4ml's own implementation overheads (its Resource-strategy loops), BRAM cascading limits, the input
image's DMA, and batch > 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np

from .runtime.wordlayout import WORD_BITS, lane_bits
from .errors import FcompError
from .ir import Graph, Node, conv_groups
from .plan import LayerMapping, kernel_major

ACT_BITS = 16
SCALE_BITS = 16     # compress.ratio: per-channel scale and bias of a ternary layer
BIAS_BITS = 16
RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")

# ---- calibration -------------------------------------------------------------------------------------------------
# Yosys 0.23, `synth_xilinx -family xcup`, hierarchical, counted after mapping: one PE (P=1) of S lanes of W-bit
# activations, ACC_W = W + 12. Measured with `python bench/plan.py --calibrate` (compiler.rtl.synth.pe_array).
#          (S,  W,  LUT, FF)
PE_SYNTH = ((8, 8, 133, 33), (16, 8, 236, 34), (32, 8, 443, 35),
            (8, 16, 237, 49), (16, 16, 436, 50), (32, 16, 835, 51))
PE_SYNTH_ACC_EXTRA = 12
# rtl_sim/mac_array.sv, one PE, 8-bit weights, ACC_W = W + 20, same command: every product maps to one DSP48E2.
#          (S,  W,  LUT)
MAC_SYNTH = ((8, 8, 164), (16, 8, 300), (8, 16, 236), (16, 16, 436))
# A whole generated layer top minus its array and its scale units, per PE: tests/test_rtl_sim.py's corner layer
# (4 PEs x 7 lanes, W = 8, U = 2 scale units at T = 3 / PW = 21) synthesizes to 1,144 LUT / 805 FF (one input-bank copy per PE), its array
# alone to 452 / 105 and one scale unit (tpe_post) to 180 / 99 (same Yosys flow, `compiler.rtl.synth.layer_top`,
# `synth.pe_array`, `synth.synth("tpe_post", ...)`). Scaled by W/8 for other widths.
LAYER_OVERHEAD = {"lut_per_pe": (1144 - 452 - 2 * 180) / 4, "ff_per_pe": (805 - 105 - 2 * 99) / 4, "at_bits": 8}
# One pipelined scale unit (rtl_sim/tpe_post.sv) per layer U times (`LayerMapping.scale_units`: as few as keep the
# layer's steady state, 1 whenever its P*RPP results fit in its cycles per vector), at T = 7 signed power-of-two
# terms and a 38-bit post stage (a 16-bit scale's digits; digits_mlp's layers have T = 7, 36-38 bits): Yosys 0.23
# `synth_xilinx -family xcup`, `python bench/scale_stage.py` ("tpe_post alone" line). The planner does not know
# T and PW before compression, so every unit is costed at this size.
SCALE_UNIT = {"lut": 1165, "ff": 390}
LUTRAM_MAX_BITS = 4096
FIFO_DEPTH = 32
NIB = 3


def _fit(rows, target) -> np.ndarray:
    """Least squares of target ~ a*S*W + b*S + c*W + d."""
    a = np.array([[s * w, s, w, 1.0] for s, w in rows])
    return np.linalg.lstsq(a, np.array(target, float), rcond=None)[0]


PE_LUT_COEF = _fit([(s, w) for s, w, _, _ in PE_SYNTH], [lut for *_, lut, _ in PE_SYNTH])
MAC_LUT_COEF = _fit([(s, w) for s, w, _ in MAC_SYNTH], [lut for *_, lut in MAC_SYNTH])


def _poly(coef, s: int, w: int) -> float:
    return float(coef[0] * s * w + coef[1] * s + coef[2] * w + coef[3])


def ternary_pe_lut(P: int, S: int, W: int, acc_w: int | None = None) -> float:
    """LUTs of a P x S ternary PE array (tpe_array) at W-bit activations: the Yosys fit, plus one LUT per
    accumulator bit beyond the calibration's ACC_W = W + 12."""
    extra = 0 if acc_w is None else acc_w - (W + PE_SYNTH_ACC_EXTRA)
    return P * (_poly(PE_LUT_COEF, S, W) + extra)


def ternary_pe_ff(P: int, S: int, W: int, acc_w: int | None = None) -> int:
    """FFs of tpe_array, from its registers: per PE the adder-tree output (W+1+clog2(ceil(S/2)) bits), the
    accumulator and `last`, plus the shared valid bit (equal to Yosys on every PE_SYNTH row)."""
    acc_w = W + PE_SYNTH_ACC_EXTRA if acc_w is None else acc_w
    tw = W + 1 + math.ceil(math.log2(max(1, S // 2 + S % 2))) if S > 1 else W + 1
    return P * (tw + acc_w + 1) + 1


def mac_pe_lut(P: int, S: int, W: int) -> float:
    return P * _poly(MAC_LUT_COEF, S, W)


def dsp_per_product(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one a x b product: one up to 27x18 (either way round), tiled beyond."""
    hi, lo = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(hi / 27) * math.ceil(lo / 18)


# ---- memories ----------------------------------------------------------------------------------------------------
BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))


def memory_cost(depth: int, width: int, kind: str, sequential: bool = False) -> dict[str, float]:
    """Primitives for a depth x width memory read one word per cycle.

    sequential: the words are read strictly in order (weight ROMs follow the fixed schedule), so they are packed
    densely across 72-bit memory lines behind a small width converter: as many primitives as the bits need or
    the read width needs, whichever is more. Random-access memories (buffers) use the primitives' aspect ratios:
    BRAM36 as 32Kx1 .. 512x72, URAM as 4Kx72 (narrower words pack several per line when sequential only)."""
    if depth <= 0 or width <= 0:
        return {"lut": 0, "bram36": 0, "uram": 0}
    bits = depth * width
    if kind == "lutram":
        cols = math.ceil(depth / 64)            # a LUT6 is a 64x1 ROM; deeper ones add a mux LUT per 3 more
        luts = width * (cols + math.ceil((cols - 1) / 3))
        if sequential:
            luts = min(luts, max(width, math.ceil(bits / 64)) * 4 // 3)
        return {"lut": luts, "bram36": 0, "uram": 0}
    if kind == "bram":
        n = min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM36_SHAPES)
        if sequential:
            n = min(n, max(math.ceil(width / 72), math.ceil(bits / (512 * 72))))
        return {"lut": 0, "bram36": n, "uram": 0}
    if kind == "uram":
        n = math.ceil(width / 72) * math.ceil(depth / 4096)
        if sequential:
            n = max(math.ceil(width / 72), math.ceil(bits / (4096 * 72)))
        return {"lut": 0, "bram36": 0, "uram": n}
    raise ValueError(kind)


def weight_memory_cost(roms: list[tuple[int, int]], kind: str, ternary: bool) -> dict[str, float]:
    """The weight memories of a layer (`weight_rom`: [(depth, width)], codes+index first) as the generator builds
    them in `kind`. ROMs are initialized by the bitstream, in LUT-RAM or block RAM, read in schedule order (packed
    densely, `memory_cost`). UltraRAM has no initial contents: there a ternary layer's codes and index are loaded at
    run time (rtl_sim/tpe_layer.sv WLOAD), one K-deep memory per 64-bit column (the input stream's word), and its
    scale/bias ROM stays in block RAM; a fixed-point layer's ROMs cannot live there, and cost as block RAM."""
    tot: dict[str, float] = {}
    for i, (depth, width) in enumerate(roms):
        if kind == "uram" and ternary and i == 0:
            c = {"lut": 0, "bram36": 0, "uram": math.ceil(width / WORD_BITS) * math.ceil(depth / 4096)}
        else:
            c = memory_cost(depth, width, "bram" if kind == "uram" else kind, sequential=True)
        for k, v in c.items():
            tot[k] = tot.get(k, 0) + v
    return tot


def buffer_cost(depth: int, width: int, kind: str = "bram") -> dict[str, float]:
    """A random-access activation buffer: LUTRAM up to LUTRAM_MAX_BITS, else `kind`."""
    return memory_cost(depth, width, "lutram" if depth * width <= LUTRAM_MAX_BITS else kind)


# ---- per-layer inputs --------------------------------------------------------------------------------------------
def share_of(keep_share, name: str) -> float | None:
    """A layer's expected keep share: `keep_share` is one share for every layer, or {layer: share} (the planner's
    `planned_keep_shares`; a layer not in it is planned unpruned)."""
    if isinstance(keep_share, dict):
        return float(keep_share.get(name, 1.0))
    return keep_share


def keep_per_pe(m: LayerMapping, keep_share: float) -> int:
    """Kept groups per PE for a share of groups, exactly as `compress.groups.keep_per_pe` (at least one)."""
    total = math.ceil(m.rows / m.pe) * math.ceil(m.cols / m.simd)
    return min(total, max(1, round(keep_share * total)))


def _bits_for(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def _avg_divider(n: int, aw: int) -> dict:
    """An average's accumulator width and its division by n as the generator writes it (`rtl.accel.tdiv_constants`:
    a multiply by the constant DM, one adder per set bit, which the cost model counts)."""
    from .rtl.accel import tdiv_constants

    dm, dsh = tdiv_constants(n, aw)
    return {"AW": aw, "DM": f"64'd{dm}", "DSH": dsh}


def ternary_stored_bits(m: LayerMapping, kept_groups: int) -> int:
    """`compress.ratio.structured_cost(...).stored_bits` for S | cols (what the planner produces)."""
    blocks = math.ceil(m.cols / m.simd)
    stored = round(kept_groups * m.cols / blocks)
    index = 0 if kept_groups == m.rows * blocks else kept_groups * _bits_for(blocks)
    return stored * 2 + index + m.rows * (SCALE_BITS + BIAS_BITS)


def is_ternary(name: str, ternary) -> bool:
    return ternary is True or (not isinstance(ternary, bool) and name in ternary)


def bits_of(name: str, weight_bits) -> int:
    return int(weight_bits[name] if isinstance(weight_bits, dict) else weight_bits)


def weight_memory_bits(graph: Graph, plan: dict[str, LayerMapping] | None = None, *, ternary=True,
                       weight_bits=16, keep_share: float = 1.0,
                       kept_groups: dict[str, list[int]] | None = None) -> int:
    """Bits of every weighted layer's stored weights: fixed layers W*bits + 16-bit biases (the backend's
    default widths); ternary layers as `compress.ratio` counts them for the kept groups (given per PE after
    compression, else `keep_share` of each PE's groups). `plan` defaults to `plan_layers(graph)`."""
    from .plan import plan_layers

    plan = plan or plan_layers(graph)
    total = 0
    for node in graph.weighted():
        m = plan[node.name]
        if is_ternary(node.name, ternary):
            k = sum(kept_groups[node.name]) if kept_groups and node.name in kept_groups \
                else m.pe * keep_per_pe(m, share_of(keep_share, node.name))
            total += ternary_stored_bits(m, k)
        else:
            total += m.rows * m.cols * bits_of(node.name, weight_bits) + m.rows * BIAS_BITS
    return total


def weight_rom(m: LayerMapping, ternary: bool, wbits: int, K: int) -> list[tuple[int, int]]:
    """(depth, width) of the ROMs a layer reads: ternary codes+index (K steps) and scale/bias (RPP beats);
    fixed weights (rows*cols/(P*S) words of P*S*bits) and biases."""
    rpp = math.ceil(m.rows / m.pe)
    if ternary:
        nb = math.ceil(m.cols / m.simd)
        index = 1 + _bits_for(rpp) + _bits_for(nb)      # the RTL's {last, slot, block}
        return [(K, m.pe * (2 * m.simd + index)), (rpp, m.pe * (SCALE_BITS + BIAS_BITS))]
    return [(m.rows * m.cols // (m.pe * m.simd), m.pe * m.simd * wbits), (rpp, m.pe * BIAS_BITS)]


# ---- the estimate ------------------------------------------------------------------------------------------------
@dataclass
class LayerEstimate:
    layer: str
    op: str
    kind: str                 # "ternary" | "fixed" | "stream" (non-weighted)
    lut: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram36: int = 0
    uram: int = 0
    weight_bits: int = 0      # stored weight bits (compress.ratio's count for ternary layers)
    buffer_bits: int = 0      # activation buffers (line buffers, input banks, skip buffers)
    pe: int = 0
    simd: int = 0
    memory: str = ""
    kept_per_pe: int = 0      # K, ternary layers
    cycles_per_vector: Fraction | int = 0
    vectors: int = 0
    cycles_per_frame: int = 0
    owner: str = ""           # the weighted layer whose mapping says where this one's buffers go
    buffers: list = field(default_factory=list)   # (depth, width) of its activation buffers

    def add(self, cost: dict) -> None:
        for k, v in cost.items():
            setattr(self, k, getattr(self, k) + v)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lut"], d["ff"] = int(round(self.lut)), int(round(self.ff))
        d["cycles_per_vector"] = float(self.cycles_per_vector)
        d.pop("buffers")
        return d


@dataclass
class Estimate:
    layers: list[LayerEstimate]
    clock_mhz: float
    act_bits: int
    inputs: dict = field(default_factory=dict, repr=False)   # what made it (graph, options): for check_fit's hint

    def total(self) -> dict[str, int]:
        t = {r: sum(getattr(l, r) for l in self.layers) for r in RESOURCES}
        t["lut"], t["ff"] = int(math.ceil(t["lut"])), int(math.ceil(t["ff"]))
        return t

    @property
    def bottleneck(self) -> LayerEstimate:
        return max(self.layers, key=lambda l: l.cycles_per_frame)

    @property
    def cycles_per_frame(self) -> int:
        """Initiation interval of the dataflow pipeline: the slowest layer's cycles per frame."""
        return self.bottleneck.cycles_per_frame

    @property
    def frames_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles_per_frame

    @property
    def latency_cycles(self) -> int:
        """Sum of every layer's cycles per frame: an upper bound (pipelined layers overlap)."""
        return sum(l.cycles_per_frame for l in self.layers)

    @property
    def latency_ms(self) -> float:
        return self.latency_cycles / (self.clock_mhz * 1e3)

    @property
    def weight_bits(self) -> int:
        return sum(l.weight_bits for l in self.layers)

    def to_dict(self) -> dict:
        return {"clock_mhz": self.clock_mhz, "act_bits": self.act_bits, "total": self.total(),
                "weight_bits": self.weight_bits, "buffer_bits": sum(l.buffer_bits for l in self.layers),
                "cycles_per_frame": self.cycles_per_frame, "bottleneck": self.bottleneck.layer,
                "frames_per_s": round(self.frames_per_s, 3), "latency_cycles": self.latency_cycles,
                "latency_ms": round(self.latency_ms, 4), "latency_is_upper_bound": True,
                "layers": [l.to_dict() for l in self.layers]}


def _acc_bits(W: int, n_terms: int) -> int:
    return W + max(1, math.ceil(math.log2(max(2, n_terms))))


def _weighted(node: Node, m: LayerMapping, act_bits: int, ternary: bool, wbits: int, kept: list[int] | None,
              keep_share: float | None) -> LayerEstimate:
    e = LayerEstimate(node.name, node.op, "ternary" if ternary else "fixed", pe=m.pe, simd=m.simd,
                      memory=m.memory, vectors=m.vectors)
    P, S, W = m.pe, m.simd, act_bits
    if ternary:
        if kept is not None:
            K = max(kept)
            stored_groups = sum(kept)
        else:
            K = keep_per_pe(m, 1.0 if keep_share is None else keep_share)
            stored_groups = P * K
        e.kept_per_pe = K
        e.cycles_per_vector = m.steady_cycles_per_vector(list(kept) if kept is not None else [K])
        e.weight_bits = ternary_stored_bits(m, stored_groups)
        acc = _acc_bits(W, min(m.cols, K * S))
        e.lut += ternary_pe_lut(P, S, W, acc)
        e.ff += ternary_pe_ff(P, S, W, acc)
        e.lut += P * LAYER_OVERHEAD["lut_per_pe"] * W / LAYER_OVERHEAD["at_bits"]
        e.ff += P * LAYER_OVERHEAD["ff_per_pe"] * W / LAYER_OVERHEAD["at_bits"]
        units = m.scale_units(list(kept) if kept is not None else [K])
        e.lut += units * SCALE_UNIT["lut"]
        e.ff += units * SCALE_UNIT["ff"]
        # the hls4ml design scales each output channel in a fixed-point BatchNormalization stage whose
        # ReuseFactor follows the layer's (backend.hls4ml_emit): rows / RF multipliers, one DSP48E2 each up to
        # 27x18 bits. (The PE-array RTL scales by shift-and-add instead; counting them keeps the estimate safe
        # for the design the handoff builds.)
        e.dsp += math.ceil(m.rows / max(1, min(m.reuse_factor, m.rows))) * dsp_per_product(W, 16)
    else:
        e.cycles_per_vector = m.cycles_per_vector()
        e.weight_bits = m.rows * m.cols * wbits + m.rows * BIAS_BITS
        e.dsp += P * S * dsp_per_product(W, wbits)
        acc = _acc_bits(W + wbits, m.cols)
        e.lut += mac_pe_lut(P, S, W) + P * max(0, acc - (W + 20))
        # rtl_sim/fc_mac_layer.sv's registers: the vector twice (input register and the working register that
        # rotates by S lanes a step, one LUT per bit for its load/rotate/hold), the step's lanes and weights,
        # products cast to the accumulator, biases and accumulators, the output vector twice (assembly, output)
        nf, sf = math.ceil(m.rows / P), math.ceil(m.cols / S)
        vec, work, step = m.cols, sf * S, S
        if conv_groups(node) > 1:   # per-PE lanes: the expanded window, P*S lanes a step (PEL = 1)
            vec = work = m.cycles_per_vector() * P * S
            step = P * S
        e.ff += vec * W + work * W + step * W + P * S * wbits + P * S * acc + 3 * P * acc + \
            (nf * P + m.rows) * W
        e.lut += work * W
    K = e.kept_per_pe if ternary else 0
    e.add(weight_memory_cost(weight_rom(m, ternary, wbits, K), m.memory, ternary))
    e.cycles_per_frame = math.ceil(m.vectors * e.cycles_per_vector)
    if ternary:
        # input banks (rtl_sim/tpe_layer.sv): NIB vectors of NBI beats of IB S-lane blocks, one copy per PE (each
        # PE reads its own kept block every step: one read port per copy), IB = ceil(blocks / K) as the generator
        # sizes the input stream (`rtl.data.auto_in_blocks`)
        nb = math.ceil(m.cols / S)
        ib = max(1, math.ceil(nb / max(1, K)))
        nbi = math.ceil(nb / ib)
        e.buffer_bits += P * NIB * nbi * ib * S * W
        for _ in range(P):
            e.buffers.append((NIB * nbi, ib * S * W))
    # streams in (S lanes) and out (P rows): SRL FIFOs, one LUT per bit at depth 32
    e.lut += (S + P) * W * math.ceil(FIFO_DEPTH / 32)
    return e


def _line_buffer(e: LayerEstimate, node: Node, src_shape, act_bits: int, lanes: int) -> None:
    """kh rows x padded input width x in channels x act_bits, channel-serial as the stream arrives (`lanes`
    channels per word): one memory of width_px * ceil(C/lanes) words of lanes*act_bits bits per kernel row."""
    kh, kw = node.attrs.get("kernel", [1, 1])
    pads = node.attrs.get("pads", [0, 0, 0, 0])
    if kh * kw <= 1:
        return
    c, _, w = src_shape
    width_px = w + pads[1] + pads[3]
    lanes = max(1, min(lanes, c))
    e.buffer_bits += kh * width_px * c * act_bits
    for _ in range(kh):
        e.buffers.append((width_px * math.ceil(c / lanes), lanes * act_bits))


def _producer(graph: Graph, name: str) -> str:
    """The nearest weighted layer (or the graph input) upstream of a tensor, through first inputs."""
    node = graph.node(name)
    while node.op not in ("conv", "dense", "input"):
        node = graph.node(node.inputs[0])
    return node.name


def estimate(graph: Graph, plan: dict[str, LayerMapping], *, clock_mhz: float, act_bits: int = ACT_BITS,
             ternary=True, weight_bits=16, kept_groups: dict[str, list[int]] | None = None,
             keep_share: float | None = None) -> Estimate:
    """Estimate of `graph` folded by `plan` at `clock_mhz`.

    ternary: True (every weighted layer), False, or the set of ternary layer names; the others are fixed-point
    with `weight_bits` (an int or {layer: bits}). After compression pass `kept_groups` ({layer: kept groups per
    PE}, compression.json's `kept_groups_per_pe`); before it, `keep_share` (expected share of kept groups,
    `keep_share_for_ratio`; default 1.0: dense ternary)."""
    layers = []
    for node in graph.nodes:
        if node.op == "input":
            layers.append(_input_stream(node, act_bits))
            continue
        if node.name in plan:
            e = layer_estimate(graph, node, plan[node.name], act_bits=act_bits, ternary=ternary,
                               weight_bits=weight_bits, kept_groups=kept_groups, keep_share=keep_share)
        else:
            e = _stream_node(graph, plan, node, act_bits)
        layers.append(e)
    inputs = {"graph": graph, "act_bits": act_bits, "ternary": ternary, "weight_bits": weight_bits,
              "kept_groups": kept_groups, "keep_share": keep_share}
    return Estimate(layers, float(clock_mhz), act_bits, inputs)


def layer_estimate(graph: Graph, node: Node, m: LayerMapping, *, act_bits: int = ACT_BITS, ternary=True,
                   weight_bits=16, kept_groups: dict[str, list[int]] | None = None,
                   keep_share: float | None = None) -> LayerEstimate:
    """One weighted layer on mapping `m` (arguments as `estimate`)."""
    t = is_ternary(node.name, ternary)
    kept = kept_groups.get(node.name) if (kept_groups and t) else None
    e = _weighted(node, m, act_bits, t, bits_of(node.name, weight_bits), kept, share_of(keep_share, node.name))
    e.owner = node.name
    if node.op == "conv":
        _line_buffer(e, node, graph.node(node.inputs[0]).shape, act_bits, m.simd)
    for depth, width in e.buffers:
        e.add(buffer_cost(depth, width, m.buffers))
    return e


def input_frame_cycles(shape, act_bits: int) -> int:
    """Cycles for one input frame to arrive: the AXI-Stream words (elements in lanes of the smallest of 8/16/32/64
    bits that holds act_bits, one word per cycle), and at least one cycle per pixel, hls4ml's io_stream beat.
    No layer needs to be faster than this; the planner does not buy parallelism beyond it."""
    lane = lane_bits(act_bits)
    elements = int(np.prod(shape))
    pixels = int(shape[1] * shape[2]) if len(shape) == 3 else 1
    return max(math.ceil(elements / (WORD_BITS // lane)), pixels)


def _input_stream(node: Node, act_bits: int) -> LayerEstimate:
    e = LayerEstimate(node.name, "input", "stream")
    e.cycles_per_frame = input_frame_cycles(node.shape, act_bits)
    return e


def _stream_node(graph: Graph, plan, node: Node, act_bits: int) -> LayerEstimate:
    """Element-wise ops and pools at their producer's beat width (one beat per cycle)."""
    e = LayerEstimate(node.name, node.op, "stream")
    src = graph.node(node.inputs[0])
    e.owner = _producer(graph, node.inputs[0])
    lanes = plan[e.owner].pe if e.owner in plan else 1     # channels per beat of the producer's stream
    elems_in = int(np.prod(src.shape))
    e.pe = lanes
    e.cycles_per_frame = math.ceil(elems_in / lanes)
    if node.op in ("relu", "clip", "add", "concat"):
        e.lut += lanes * act_bits
    elif node.op == "hardsigmoid":   # a constant multiply per lane
        e.lut += lanes * act_bits * 4
    elif node.op == "hardswish":     # a constant multiply and a multiply by the input per lane (a DSP48E2 each)
        e.lut += lanes * act_bits * 4
        e.dsp += lanes * 2
    elif node.op == "sigmoid":    # a 1024-word table per lane
        e.buffer_bits += lanes * 1024 * act_bits
        e.buffers += [(1024, act_bits)] * lanes
    elif node.op in ("maxpool", "avgpool"):
        kh, kw = node.attrs["kernel"]
        e.lut += lanes * act_bits * (kh * kw - 1)
        _line_buffer(e, node, src.shape, act_bits, lanes)
    elif node.op == "upsample":   # one beat per output pixel; one input row buffered for the row repeats
        c, h, w = src.shape
        e.cycles_per_frame = math.ceil(int(np.prod(node.shape)) / lanes)
        e.lut += lanes * act_bits
        if node.attrs["scale"][0] > 1:
            e.buffer_bits += w * c * act_bits
            e.buffers.append((w * math.ceil(c / lanes), lanes * act_bits))
    elif node.op == "globalavgpool":
        c, h, w = src.shape
        acc = act_bits + _bits_for(h * w)
        e.ff += c * acc
        e.lut += lanes * acc
    if node.op in ("add", "concat") and len(node.shape) == 3:   # the skip path waits for the main path:
        # about 3 rows of the tensor (rough)
        c, h, w = node.shape
        e.buffer_bits += 3 * w * c * act_bits
        e.buffers.append((3 * w * math.ceil(c / lanes), lanes * act_bits))
    e.ff += lanes * act_bits      # output register
    e.lut += lanes * act_bits * math.ceil(FIFO_DEPTH / 32)
    kind = plan[e.owner].buffers if e.owner in plan else "bram"
    for depth, width in e.buffers:
        e.add(buffer_cost(depth, width, kind))
    return e


# ---- the instances the generator makes (compiler.rtl.accel), from the plan ---------------------------------------
TYPICAL_T = 7             # signed power-of-two terms of a 16-bit scale (digits designs: 6-8)
POST_EXTRA = 15           # post-stage width beyond the accumulator (digits designs: PW - ACC_W = 14-16)

def lanes_beats_of(shape, lanes: int | None) -> tuple[int, int]:
    from .rtl.accel import lanes_beats

    return lanes_beats(shape, lanes)


def _stream(shape) -> tuple[int, int]:
    """(lanes, beats) of a tensor as fcomp_accel streams it (`rtl.accel.lanes_beats`)."""
    from .rtl.accel import lanes_beats

    return lanes_beats(shape)


def ternary_layer_params(m: LayerMapping, K: int, W: int) -> dict[str, int]:
    """tpe_layer's parameters for mapping `m` with K schedule steps per PE (`rtl.layer.build_layer`): the
    generator's input-stream width (`rtl.data.auto_in_blocks`) and scale units exactly; the accumulator from
    the kept lanes, T and the post-stage width at their typical values (they depend on the trained weights)."""
    from .rtl.data import auto_in_blocks
    from .rtl.layer import _idxw

    nb = math.ceil(m.cols / m.simd)
    ib = auto_in_blocks(m, K)
    nbi = math.ceil(nb / ib)
    sbw = 0 if ib == 1 else _idxw(ib)
    rpp = math.ceil(m.rows / m.pe)
    acc = _acc_bits(W, min(m.cols, K * m.simd))
    return {"P": m.pe, "S": m.simd, "W": W, "IB": ib, "NBI": nbi, "BW": _idxw(nbi) + sbw, "SBW": sbw, "K": K,
            "KW": _idxw(K), "RPP": rpp, "SW": _idxw(rpp), "ACC_W": acc, "T": TYPICAL_T, "PW": acc + POST_EXTRA,
            "OUT_W": W, "U": m.scale_units([K]), "NIB": NIB, "NOB": 4,
            **({"WLOAD": 1, "WLW": WORD_BITS, "URAM": 1} if m.memory == "uram" else {})}


def _window(graph: Graph, node: Node, W: int) -> tuple[str, dict]:
    from .rtl.accel import window_params

    return ("fc_window", {**window_params(graph.node(node.inputs[0]).shape, node, W), "KM": int(kernel_major(node))})


def stream_lanes(graph: Graph, plan: dict[str, LayerMapping], K: dict[str, int]) -> dict[str, int]:
    """Lanes per beat of every stream for a plan whose ternary layers are `K` (`rtl.accel.stream_lanes`)."""
    from .rtl.accel import stream_lanes as lanes_of

    return lanes_of(graph, {n: plan[n].pe for n in K if n in plan})


def node_instances(graph: Graph, node: Node, m: LayerMapping | None, W: int, *, ternary: bool = True,
                   wbits: int = 16, K: int | None = None, out_edges: list[int] | None = None,
                   is_output: bool = False, lanes: dict[str, int] | None = None) -> list[tuple[str, dict]]:
    """(module, parameters) of what `compiler.rtl.accel` generates for `node` at W-bit activations: an
    fc_collect for each input whose chunks it takes whole, its own modules, a fork when it feeds several
    consumers, one FIFO per consumer edge (`out_edges`: their depths, default one edge of the generator's
    EDGE_DEPTH) and, for the graph's output, its FIFO, a collect if chunked, and fc_axis_out. `lanes`: every
    stream's lanes (`stream_lanes`; default whole pixels)."""
    from .rtl.accel import EDGE_DEPTH, consumed_lanes

    out: list[tuple[str, dict]] = []
    op = node.op
    stream = lanes or {}
    whole = lambda name: _stream(graph.node(name).shape)[0]  # noqa: E731
    lane_of = lambda name: stream.get(name) or whole(name)   # noqa: E731
    for k, src in enumerate(node.inputs):
        want = consumed_lanes(graph, node, k, {n.name: lane_of(n.name) for n in (node, graph.node(src))})
        if lane_of(src) < want:
            out.append(("fc_collect", {"IW": lane_of(src) * W, "NBEATS": want // lane_of(src)}))
        elif lane_of(src) > want:
            out.append(("fc_serialize", {"N": lane_of(src), "L": want, "W": W, "NBEATS": lane_of(src) // want}))
    c_out, pixels = _stream(node.shape)
    lanes, beats = lanes_beats_of(node.shape, lane_of(node.name))
    if op == "input":
        out.append(("fc_axis_in", {"C": lanes, "W": W, "WB": WORD_BITS, "ELEMS": lanes * beats}))
    elif op in ("conv", "dense"):
        a = node.attrs
        windowed = op == "conv" and not (tuple(a["kernel"]) == (1, 1) and tuple(a["strides"]) == (1, 1)
                                         and not any(a["pads"]))
        p = ternary_layer_params(m, K, W) if ternary else None
        if windowed and p is not None and m.window_chunked(p["IB"]):
            from .rtl.accel import swg_params

            out.append(("fc_swg", swg_params(graph.node(node.inputs[0]).shape, node, W, p["IB"] * m.simd)))
        elif windowed:
            out.append(_window(graph, node, W))
        if ternary:
            if not (windowed and m.window_chunked(p["IB"])):
                out.append(("fc_serialize", {"N": m.cols, "L": p["IB"] * m.simd, "W": W, "NBEATS": p["NBI"]}))
            out.append(("tpe_layer", p))
            if lanes != m.pe:
                out.append(("fc_collect", {"IW": m.pe * W, "NBEATS": p["RPP"]}))
        else:
            n = {"N": m.cols}
            if conv_groups(node) > 1:   # per-PE lanes: the expanded window (`rtl.accel.grouped_expansion`)
                n = {"N": m.cycles_per_vector() * m.pe * m.simd, "NC": m.cols, "PEL": 1}
            out.append(("fc_mac_layer", {**n, "R": m.rows, "P": m.pe, "S": m.simd, "IW": W, "WW": wbits,
                                         "AW": _acc_bits(W + wbits, m.cols), "OW": W}))
    elif op == "relu":
        out.append(("fc_cast", {"N": lanes, "IW": W, "OW": W, "RELU": 1}))
    elif op == "sigmoid":
        out.append(("fc_sigmoid", {"N": lanes, "IW": W, "OW": W}))
    elif op == "hardsigmoid":   # the slope's set bits size its constant multipliers (as the generator passes it)
        from .rtl.network import hardsigmoid_constants

        k = hardsigmoid_constants(node)
        out.append(("fc_hardsigmoid", {"N": lanes, "XW": W, "SLW": k.slope_bits, "IW": W + k.slope_bits + 3,
                                        "OW": W, "SLOPE": f"64'd{k.slope}"}))
    elif op == "hardswish":
        from .backend.precision import Fixed
        from .rtl.network import hardswish_types

        t = hardswish_types(node, Fixed(W, W // 2))
        out.append(("fc_hardswish", {"N": lanes, "XW": W, "SLW": t.k.slope_bits, "HW": t.h_width, "IW": t.p_width,
                                     "OW": W, "SLOPE": f"64'd{t.k.slope}"}))
    elif op == "clip":
        out.append(("fc_clip", {"N": lanes, "IW": W, "OW": W}))
    elif op == "add":
        out.append(("fc_add", {"N": lanes, "AW": W, "BW": W, "IW": W + 1, "OW": W}))
    elif op == "concat":
        na, nb = (_stream(graph.node(i).shape)[0] for i in node.inputs[:2])
        out.append(("fc_concat", {"NA": na, "NB": nb, "W": W}))
    elif op in ("maxpool", "avgpool"):
        from .rtl.accel import pool_window_params

        out.append(("fc_swg", pool_window_params(graph.node(node.inputs[0]).shape, node, W)))
        kh, kw = node.attrs["kernel"]
        pool = {"C": lanes, "KK": kh * kw, "W": W, "AVG": int(op == "avgpool"), "OW": W}
        if op == "avgpool":
            pool.update(_avg_divider(kh * kw, W + _bits_for(kh * kw) + 1))
        out.append(("fc_pool", pool))
    elif op == "globalavgpool":
        c, npix = _stream(graph.node(node.inputs[0]).shape)
        out.append(("fc_gap", {"C": c, "L": lane_of(node.inputs[0]), "NPIX": npix, "W": W, "OW": W,
                               **_avg_divider(npix, W + _bits_for(npix) + 1)}))
    elif op == "upsample":
        sh, sw = node.attrs["scale"]
        out.append(("fc_upsample", {"N": lanes, "W": W, "WD": graph.node(node.inputs[0]).shape[2], "SH": sh,
                                    "SW": sw}))
    elif op == "flatten":
        src = graph.node(node.inputs[0])
        c, b = lanes_beats_of(src.shape, lane_of(src.name))
        if len(src.shape) == 3:
            out.append(("fc_collect", {"IW": c * W, "NBEATS": b}))
    edges = list(out_edges if out_edges is not None else [EDGE_DEPTH])
    if is_output:
        edges.append(EDGE_DEPTH)
    if len(edges) > 1:
        out.append(("fc_fork", {"DW": lanes * W, "N": len(edges)}))
    out += [("fc_fifo", {"DW": lanes * W, "DEPTH": d}) for d in edges]
    if is_output:
        if lanes != c_out:
            out.append(("fc_collect", {"IW": lanes * W, "NBEATS": c_out // lanes}))
        out.append(("fc_axis_out", {"C": c_out, "W": W, "WB": WORD_BITS, "ELEMS": c_out * pixels}))
    return out


def skip_depths(graph: Graph, plan: dict[str, LayerMapping], K: dict[str, int],
                T: dict[str, int] | None = None) -> dict[tuple[str, str], int]:
    """FIFO depth of every edge into an Add/Concat from its shorter branch, as the generator sizes it
    (`rtl.accel.skip_fifo_depths`, one rule for both). `K`: the ternary layers (kept groups per PE); `T`: their
    scale terms when known (after compression), else TYPICAL_T; the output banks at the generator's 4."""
    from .rtl.accel import skip_fifo_depths

    pe = {n: (NIB, 4, (T or {}).get(n, TYPICAL_T), math.ceil(plan[n].rows / plan[n].pe)) for n in K if n in plan}
    mac = {n for n in plan if n not in K and graph.node(n).op in ("conv", "dense")}
    return skip_fifo_depths(graph, pe, mac, stream_lanes(graph, plan, K))


def _edges(graph: Graph, plan, kept_k: dict[str, int],
           T: dict[str, int] | None = None) -> tuple[dict[str, list[int]], str]:
    """Per node, the FIFO depth of each of its consumer edges (skip FIFOs as the generator sizes them)."""
    from .rtl.accel import EDGE_DEPTH

    skips = skip_depths(graph, plan, kept_k, T)
    edges: dict[str, list[int]] = {n.name: [] for n in graph.nodes}
    for n in graph.nodes:
        for src in n.inputs:
            edges[src].append(skips.get((src, n.name), EDGE_DEPTH))
    return edges, graph.outputs[0]


def _k_of(graph: Graph, plan, ternary, kept_groups, keep_share) -> dict[str, int]:
    out = {}
    for node in graph.weighted():
        if node.name in plan and is_ternary(node.name, ternary):
            m = plan[node.name]
            kept = (kept_groups or {}).get(node.name)
            share = share_of(keep_share, node.name)
            out[node.name] = max(kept) if kept else keep_per_pe(m, 1.0 if share is None else share)
    return out


def design_model(graph: Graph, plan: dict[str, LayerMapping], *, act_bits: int = ACT_BITS, ternary=True,
                 weight_bits=16, kept_groups: dict[str, list[int]] | None = None,
                 keep_share: float | None = None) -> dict:
    """LUT/FF/BRAM36 of the fcomp_accel the generator would make for this plan, by the per-module cost model
    fitted on Yosys synthesis (`compiler.synth.costmodel`): the instances of every node (`node_instances`), with
    skip FIFOs sized as the generator sizes them. Arguments as `estimate`. Returns {total, per_node, per_module}.

    This is the model `fcomp synth` checks (synth.json `model`) and every build records for its generated design
    (verify.json `network.resources_model`); the planner's `estimate` above is not this model yet (issue 11):
    `bench/plan.py` prints both."""
    from .synth.costmodel import RESOURCES as R, predict

    k_of = _k_of(graph, plan, ternary, kept_groups, keep_share)
    edges, out_name = _edges(graph, plan, k_of)
    lanes = stream_lanes(graph, plan, k_of)
    total = dict.fromkeys(R, 0.0)
    per_node: dict[str, dict] = {}
    per_module: dict[str, dict] = {}
    for node in graph.nodes:
        m = plan.get(node.name)
        t = m is not None and is_ternary(node.name, ternary)
        insts = node_instances(graph, node, m, act_bits, ternary=t, wbits=bits_of(node.name, weight_bits),
                               K=k_of.get(node.name), out_edges=edges[node.name], is_output=node.name == out_name,
                               lanes=lanes)
        row = per_node.setdefault(node.name, dict.fromkeys(R, 0.0))
        for module, params in insts:
            r = predict(module, params)
            if r is None:
                raise FcompError(f"no cost model for module {module} (compiler/synth/cost_model.json)")
            pm = per_module.setdefault(module, {"instances": 0, **dict.fromkeys(R, 0.0)})
            pm["instances"] += 1
            for k in R:
                row[k] += r[k]
                pm[k] += r[k]
                total[k] += r[k]
    rnd = lambda d: {k: (round(v, 1) if isinstance(v, float) else v) for k, v in d.items()}  # noqa: E731
    return {"total": rnd(total), "per_node": {k: rnd(v) for k, v in per_node.items()},
            "per_module": {k: rnd(v) for k, v in sorted(per_module.items(), key=lambda kv: -kv[1]["LUT_TOTAL"])}}
