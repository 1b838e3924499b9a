"""Generator of `fcomp_accel`: the whole network as one streaming dataflow design (rtl_sim/fc_*.sv + tpe_layer).

Every IR tensor travels as a stream of pixels: one beat per pixel (channels-last, row-major), C lanes of its
fixed-point width (a vector (n,) is one beat of n lanes). Per node (`compiler.rtl.network` has the arithmetic):

    input          fc_axis_in (AXI words in the handoff's layout -> pixels; tlast checked, err_short/err_long)
    conv (ternary) fc_swg (line buffer, padding, stride; the window streamed in pixel chunks of the array's input
                   beats, kernel-major) -> tpe_layer, or where no chunk fits (`LayerMapping.window_chunked`: the
                   channels are not a multiple of IB*S) fc_window (the whole window in one beat) -> fc_serialize
                   -> tpe_layer (the adder-only PE array
                   of the planner's P x S, pruned groups cost no cycle) -> a stream of P lanes, RPP beats per
                   pixel (a 1x1, stride-1, unpadded conv needs no window)
    dense          fc_serialize -> tpe_layer
    conv/dense with fixed-point weights (first/last layers at --first-last-bits 8, uncompressed layers):
                   [fc_window ->] fc_mac_layer (the planner's P x S multiply-accumulate lanes, ceil(rows/P) *
                   ceil(cols/S) cycles per vector, weights and accumulator-typed biases in ROMs)
    relu           fc_cast with RELU
    hardsigmoid    fc_hardsigmoid (a constant multiply, the shift, a clamp to [0, 1], one cast)
    hardswish      fc_hardswish (fc_hardsigmoid's h, then x * h exact, one cast)
    sigmoid        fc_sigmoid (hls4ml's 1024-entry table in a ROM per lane, the index from x * 64)
    clip           fc_clip (widen to F fraction bits, clamp to the rounded bounds, one cast)
    add            fc_add (exact sum, one cast)
    concat         fc_cast of each input whose type differs from the output's, then fc_concat (joins the lanes)
    maxpool/avgpool  fc_swg (whole pixels, a beat per tap) -> fc_pool;  globalavgpool  fc_gap
    upsample       fc_upsample (one input row buffered, each pixel and row repeated; one output beat per cycle)
    flatten        fc_collect of the H*W pixels, lanes reordered from HWC to the IR's CHW (wiring only)
    output         fc_axis_out (pixels -> AXI words, tlast on the last word of a frame)

A tensor read by k > 1 nodes goes through fc_fork; every edge has an fc_fifo, 2 deep (full rate, cuts the
ready/valid paths), except the short branch into an add (the skip path), whose depth is the number of beats the
other branch can hold before its first result (`skip_depth`), so the fork never stalls into a deadlock.

The cycle model (`cycle_model`) gives every module's cycles per frame; the slowest is the initiation interval of
the whole design, which the end-to-end simulation measures (`compiler.rtl.accel_sim`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..ir import conv_groups
from ..plan import kernel_major
from ..runtime.simulator import WEIGHTS_FILE   # the run-time weight load transfer: one input-stream word a line
from ..runtime.wordlayout import StreamFormat, format_for
from .layer import RTL_DIR, RtlLayer, _hex, rom_words
from .network import Network, NetNode

TOP = "fcomp_accel"
ACCEL_DIR = TOP                     # rtl/fcomp_accel/ of a build (no layer can take the name)
ACCEL_JSON = "accel.json"           # the generated design's description, beside its sources and ROMs
STIMULUS = "network_stimulus.npz"   # inputs (integers, channels-last) and expected outputs beside the ROMs
ACCEL_SOURCES = ("fc_fifo.sv", "fc_fork.sv", "fc_cast.sv", "fc_cast_comb.sv", "fc_clip.sv", "fc_add.sv",
                 "fc_concat.sv", "fc_window.sv", "fc_swg.sv", "fc_serialize.sv", "fc_collect.sv", "fc_pool.sv", "fc_gap.sv", "fc_upsample.sv", "fc_sigmoid.sv", "fc_hardsigmoid.sv", "fc_hardswish.sv",
                 "fc_axis_in.sv", "fc_axis_out.sv", "fc_mac_layer.sv", "tpe_addtree.sv", "tpe_array.sv",
                 "tpe_post.sv", "tpe_layer.sv")
ACCEL_INCLUDES = ("tpe_util.svh", "fc_cast.svh", "fc_tdiv.svh")
EDGE_DEPTH = 2


def accel_sources() -> list[Path]:
    return [RTL_DIR / f for f in ACCEL_SOURCES]


def _pow2_at_least(n: int) -> int:
    return 1 << max(1, math.ceil(math.log2(max(2, n))))


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)[:60]


def tdiv_constants(n: int, aw: int) -> tuple[int, int]:
    """(DM, DSH) with trunc(|s| / n) == (|s| * DM) >> DSH for all |s| < 2**aw (fc_tdiv.svh)."""
    dsh = aw + math.ceil(math.log2(max(2, n)))
    dm = -(-(1 << dsh) // n)
    if dm >= 1 << 64:
        raise FcompError(f"a division by {n} over {aw}-bit sums needs a {dm.bit_length()}-bit constant (max 64)")
    return dm, dsh


def _slit(v: int) -> str:
    """A signed 64-bit Verilog literal (parameters of type logic signed [63:0])."""
    return f"-64'sd{-v}" if v < 0 else f"64'sd{v}"


def cast_params(in_frac: int, out) -> dict:
    """fc_cast.svh parameters for a cast from `in_frac` fraction bits to the Fixed type `out`."""
    d = in_frac - out.fraction
    return {"OW": out.width, "RSH": max(0, d), "LSH": max(0, -d), "RND": int(out.rounding),
            "SAT": int(out.saturate)}


@dataclass
class Stream:
    """A tensor as a stream: `beats` pixels per frame of `lanes` lanes, `width` bits each."""
    lanes: int
    width: int
    beats: int

    @property
    def bits(self) -> int:
        return self.lanes * self.width


def lanes_beats(shape, lanes: int | None = None) -> tuple[int, int]:
    """(lanes, beats) of a tensor as fcomp_accel streams it: a pixel of C lanes per beat, a vector in one beat;
    with `lanes` (dividing C, `stream_lanes`) a pixel or vector in C / lanes beats of consecutive channels."""
    if len(shape) == 3:
        c, pixels = int(shape[0]), int(shape[1]) * int(shape[2])
    else:
        c, pixels = int(np.prod(shape)), 1
    if lanes and lanes != c:
        if c % lanes:
            raise FcompError(f"a stream of {lanes} lanes cannot carry {c} channels")
        return lanes, pixels * (c // lanes)
    return c, pixels


# ops that take a pixel in chunks of consecutive channels as readily as whole (per-lane arithmetic; a global
# average pool keeps its sums as an array of chunk words)
CHUNK_OPS = ("relu", "clip", "sigmoid", "hardsigmoid", "hardswish", "add", "globalavgpool")


def stream_lanes(graph, pe_lanes: dict[str, int]) -> dict[str, int]:
    """Lanes per beat of every tensor's stream, sized to the rate it carries: a ternary PE layer's output leaves
    as it is made, P results a beat (`pe_lanes`: its P; RPP beats per pixel), and the element-wise ops after it
    (`CHUNK_OPS`) keep that width; an add takes the narrower of its inputs' widths where it divides the wider (the
    wider input is cut to it, `fc_serialize`: one pixel register instead of C lanes of adders); every other
    tensor is one pixel (or vector) per beat. A consumer that needs whole pixels (`consumed_lanes`) gets them
    from an fc_collect in front of it. The one rule: the generator and the estimate call it."""
    lanes: dict[str, int] = {}
    for node in graph.nodes:
        c = lanes_beats(node.shape)[0]
        p = pe_lanes.get(node.name)
        if p and c % p == 0:
            lanes[node.name] = p
        elif node.op in CHUNK_OPS:
            ins = sorted({lanes[i] for i in node.inputs})
            lanes[node.name] = ins[0] if all(x % ins[0] == 0 for x in ins) else c
        else:
            lanes[node.name] = c
    return lanes


def consumed_lanes(graph, node, k: int, lanes: dict[str, int]) -> int:
    """Lanes per beat `node` takes on input k: its own stream's for a chunk op, the producer's for a flatten of
    pixels (it collects every beat), a whole pixel or vector otherwise."""
    src = graph.node(node.inputs[k])
    if node.op in CHUNK_OPS:
        return lanes[node.name]
    if node.op == "flatten" and len(src.shape) == 3:
        return lanes[src.name]
    return lanes_beats(src.shape)[0]


def pool_window_params(src_shape, node, width: int) -> dict:
    """fc_swg's parameters for a max/average pool: whole pixels a beat (CW = C), one beat per kernel tap."""
    return swg_params(src_shape, node, width, src_shape[0])


SWG_PACK_DEPTH = 512     # fc_swg packs chunks into a line-buffer memory up to one RAMB36's depth at 72 bits
SWG_LUTRAM_DEPTH = 64    # ... when its rows already go to block RAM (deeper than Yosys's LUT-RAM, `costmodel`)


def swg_params(src_shape, node, width: int, cw: int) -> dict:
    """fc_swg's parameters: the window's (`window_params`), CW lanes a beat, and F chunks per line-buffer memory,
    the largest power of two dividing C/CW that keeps a memory within SWG_PACK_DEPTH words. A memory of NR rows
    of a 14- or 28-pixel row is 64-128 words, a quarter of a block RAM; F of them share one instead (F = 1 where
    the rows fit LUT-RAM). The input then takes a pixel per F cycles (the cycle model counts it)."""
    p = {**window_params(src_shape, node, width), "CW": cw}
    depth = p["NR"] << max(1, (p["WD"] - 1).bit_length())      # NR << idxw(WD) words, as the RTL
    nc, f = p["C"] // cw, 1
    if depth > SWG_LUTRAM_DEPTH:
        while nc % (2 * f) == 0 and 2 * f * depth <= SWG_PACK_DEPTH:
            f *= 2
    return {**p, "F": f}


def swg_cycles(p: dict) -> int:
    """fc_swg's cycles per frame: its output beats (HO*WO positions of KH*KW*C/CW), or its input at F cycles a
    pixel, whichever is more."""
    return max(p["H"] * p["WD"] * p.get("F", 1), p["HO"] * p["WO"] * p["KH"] * p["KW"] * (p["C"] // p["CW"]))


def window_params(src_shape, node, width: int) -> dict:
    """The line-buffer and geometry parameters fc_window and fc_swg share, for a conv/pool `node` reading a
    (C, H, W) input of `width`-bit lanes: the generator and the estimate both use them."""
    c, h, w = src_shape
    kh, kw = node.attrs["kernel"]
    sh, sw = node.attrs["strides"]
    top, left, _, _ = node.attrs["pads"]
    _, ho, wo = node.shape
    return {"C": c, "W": width, "H": h, "WD": w, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PT": top, "PL": left,
            "HO": ho, "WO": wo, "NR": _pow2_at_least(kh + sh)}


def stream_of(nn: NetNode) -> Stream:
    """The node's output stream as generated (`NetNode.lanes` a beat)."""
    lanes, beats = lanes_beats(nn.shape, nn.lanes)
    return Stream(lanes, nn.out.width, beats)


def whole_of(nn: NetNode) -> Stream:
    """The node's output as whole pixels (or one vector) a beat: what a whole-pixel consumer reads."""
    lanes, beats = lanes_beats(nn.shape)
    return Stream(lanes, nn.out.width, beats)


@dataclass
class Module:
    """One generated instance: what it is (for the cycle model and reports) and its text."""
    node: str
    kind: str
    cycles_per_frame: int
    text: str
    capacity: int = 0          # beats of its output stream it can hold ahead (skip FIFO sizing)


@dataclass
class Accel:
    net: Network
    modules: list[Module] = field(default_factory=list)
    roms: dict[str, tuple[list[int], int]] = field(default_factory=dict)   # file -> (words, width)
    fifo_depths: dict[str, int] = field(default_factory=dict)               # edge -> depth
    ids: dict[str, str] = field(default_factory=dict)                       # IR node -> n<k>
    fin: StreamFormat | None = None
    fout: StreamFormat | None = None
    text: str = ""
    weights: list[tuple[str, list[int], bool]] = field(default_factory=list)  # run-time loaded: (node, words, uram)

    def weight_words(self) -> list[int]:
        """The words of the weight load transfer (WEIGHTS_FILE), in order: every run-time loaded layer's."""
        return [w for _, words, _ in self.weights for w in words]

    def cycle_model(self) -> dict:
        """Cycles per frame of every module; the largest is the design's initiation interval."""
        per = [{"node": m.node, "module": m.kind, "cycles_per_frame": m.cycles_per_frame} for m in self.modules]
        worst = max(per, key=lambda r: r["cycles_per_frame"])
        return {"cycles_per_frame": worst["cycles_per_frame"], "bottleneck": worst, "modules": per}

    def to_json(self) -> dict:
        return {"top": TOP, "input": self.fin.to_dict(), "output": self.fout.to_dict(),
                "nodes": {name: {"id": i, "op": self.net.nodes[name].op,
                                 "lanes": stream_of(self.net.nodes[name]).lanes,
                                 "width": self.net.nodes[name].out.width,
                                 "frac": self.net.nodes[name].out.fraction,
                                 "beats": stream_of(self.net.nodes[name]).beats}
                          for name, i in self.ids.items()},
                "fifo_depths": self.fifo_depths, "cycle_model": self.cycle_model(),
                "weights": self.weights_json(),
                "sources": [*ACCEL_INCLUDES, *ACCEL_SOURCES]}

    def weights_json(self) -> dict | None:
        """The run-time weight load (None when every weight is in a ROM): the file, its words (input stream words,
        `word_bits` each) and the span of each layer."""
        if not self.weights:
            return None
        out, first = [], 0
        for node, words, uram in self.weights:
            out.append({"node": node, "first": first, "words": len(words), "memory": "uram" if uram else "ram"})
            first += len(words)
        return {"file": WEIGHTS_FILE, "words": first, "word_bits": self.fin.word_bits, "layers": out}


def _axis_params(nn: NetNode, fmt: StreamFormat) -> dict:
    """fc_axis_in / fc_axis_out parameters: pixels of the node's tensor <-> AXI words of `fmt`."""
    return {"C": whole_of(nn).lanes, "W": nn.out.width, "EB": fmt.elem_bits, "WB": fmt.word_bits,
            "PW": fmt.per_word, "ELEMS": fmt.elements, "WORDS": fmt.words}


def _params(p: dict) -> str:
    return ", ".join(f".{k}({v})" for k, v in p.items())


def _inst(mod: str, name: str, params: dict, ports: dict) -> str:
    pp = f" #({_params(params)})" if params else ""
    conns = ",\n        ".join(f".{k}({v})" for k, v in ports.items())
    return f"    {mod}{pp} {name} (\n        {conns});\n"


def _bundle(name: str, bits: int) -> str:
    return (f"    wire [{bits - 1}:0] {name}_data;\n    wire {name}_valid;\n    wire {name}_ready;\n")


def _io(prefix: str, b: str) -> dict:
    return {f"{prefix}_data": f"{b}_data", f"{prefix}_valid": f"{b}_valid", f"{prefix}_ready": f"{b}_ready"}


def skip_fifo_depths(graph, pe_layers: dict[str, tuple[int, int, int, int]], mac_layers: set[str],
                     lanes: dict[str, int] | None = None) -> dict[tuple[str, str], int]:
    """FIFO depth of the edge into every Add/Concat from its shorter branch: as deep as the other branch can hold
    before producing (in the join's beats) plus 8, so the fork feeding both never stalls into a deadlock. The one
    sizing rule: the generator calls it with its layers, the estimate (`compiler.estimate`) with the plan's.

    pe_layers: ternary PE layers -> (NIB input banks, NOB output banks, T scale terms, RPP rows per PE);
    mac_layers: fixed-point conv/dense layers (fc_mac_layer). A branch holds: each window generator its line
    buffer, each PE layer its banks and scale pipeline, an fc_mac_layer its 4 stages, a flatten or global pool a
    whole input, every module and FIFO a few beats: counted in whole pixels (a chunk FIFO of a few beats holds
    less), then given in the beats of the FIFO's own stream, the short branch's (`lanes`: each stream's lanes,
    `stream_lanes`), so a chunked skip path holds the same bits."""
    order = [n.name for n in graph.nodes]
    lanes = lanes or {}

    def beats(name):
        return lanes_beats(graph.node(name).shape)[1]

    def ancestors(name):
        seen, stack = [], [name]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.append(n)
                stack.extend(graph.node(n).inputs)
        return seen

    def hold(fork, name, out_beats):
        total, n = 0.0, name
        while n != fork:
            node = graph.node(n)
            src = graph.node(node.inputs[0])
            scale = max(1.0, beats(src.name) / max(1, out_beats))     # input beats per output beat
            mine = max(1.0, beats(n) / max(1, out_beats))
            if node.op in ("conv", "maxpool", "avgpool"):
                kh, _ = node.attrs["kernel"]
                total += (_pow2_at_least(kh + node.attrs["strides"][0]) * src.shape[2] + 2) / scale
            if n in pe_layers:
                nib, nob, t, rpp = pe_layers[n]
                total += (nib + nob + 2 + math.ceil((t + 2) / rpp)) * mine
            elif n in mac_layers:
                total += 4 * mine
            if node.op in ("flatten", "globalavgpool"):
                total += beats(src.name) / scale
            total += (EDGE_DEPTH + 3) * mine
            n = node.inputs[0] if len(node.inputs) == 1 else max(
                node.inputs, key=lambda s: hold(fork, s, out_beats) if s != fork else 0)
        return int(math.ceil(total))

    out = {}
    for node in graph.nodes:
        if node.op not in ("add", "concat") or len(node.inputs) != 2:
            continue
        a, b = node.inputs
        anc_b = set(ancestors(b))
        fork = max((n for n in ancestors(a) if n in anc_b), key=order.index)
        h = {s: hold(fork, s, beats(node.name)) for s in (a, b)}
        short = min((a, b), key=lambda s: h[s])
        chunked = lanes_beats(graph.node(short).shape, lanes.get(short))[1]
        out[(short, node.name)] = math.ceil((h[b if short == a else a] + 8) * chunked / beats(node.name))
    return out


class _Gen:
    def __init__(self, net: Network, skip_depths: dict[str, int] | None = None,
                 runtime_weights: bool | None = None):
        self.net = net
        # ternary layers whose codes and index are loaded at run time, and whether into UltraRAM
        self.wload = {n: runtime_weights is None for n, nn in net.nodes.items()
                      if nn.layer is not None and (runtime_weights or (runtime_weights is None
                                                                        and runtime_loaded(nn)))}
        self.lanes = stream_lanes(net.graph, {n: nn.layer.P for n, nn in net.nodes.items() if nn.layer is not None})
        for name, nn in net.nodes.items():
            nn.lanes = self.lanes[name]
        self.acc = Accel(net)
        self.decl: list[str] = []
        self.body: list[str] = []
        self.k = 0
        self.skip_override = skip_depths or {}
        for i, name in enumerate(net.order):
            self.acc.ids[name] = f"n{i}"

    def wire(self, name: str, bits: int) -> str:
        self.decl.append(_bundle(name, bits))
        return name

    def mod(self, node: str, kind: str, cycles: int, text: str, capacity: int = 0):
        self.acc.modules.append(Module(node, kind, cycles, text, capacity))
        self.body.append(text)

    # ---- edges: node outputs -> consumer inputs ----------------------------------------------------------------
    def generate(self) -> Accel:
        net, ids = self.net, self.acc.ids
        consumers = {name: [] for name in net.order}
        for name in net.order:
            for src in net.nodes[name].node.inputs:
                consumers[src].append(name)
        out_name = net.graph.outputs[0]
        consumers[out_name].append("__out__")
        depths = self._skip_depths(consumers)
        self.edge: dict[tuple[str, str], str] = {}
        for name in net.order:
            nn = net.nodes[name]
            st = stream_of(nn)
            self.wire(f"{ids[name]}_o", st.bits)
            self.node(nn, [self.edge[(s, name)] for s in nn.node.inputs])
            self.body.append(self._trace(name, f"{ids[name]}_o"))
            cons = consumers[name]
            srcb = f"{ids[name]}_o"
            if len(cons) > 1:
                fk = f"{ids[name]}_fk"
                self.decl.append(f"    wire [{st.bits - 1}:0] {fk}_data;\n    wire [{len(cons) - 1}:0] {fk}_valid;\n"
                                 f"    wire [{len(cons) - 1}:0] {fk}_ready;\n")
                self.body.append(_inst("fc_fork", f"u_{ids[name]}_fork", {"DW": st.bits, "N": len(cons)},
                                       {"clk": "clk", "rst": "rst", **_io("s", srcb), **_io("m", fk)}))
            for j, c in enumerate(cons):
                e = f"{ids[name]}_e{j}"
                self.wire(e, st.bits)
                d = depths.get((name, c), EDGE_DEPTH)
                self.acc.fifo_depths[f"{name}->{c if c != '__out__' else 'output'}"] = d
                if len(cons) > 1:
                    sp = {"s_data": f"{fk}_data", "s_valid": f"{fk}_valid[{j}]", "s_ready": f"{fk}_ready[{j}]"}
                else:
                    sp = _io("s", srcb)
                self.body.append(_inst("fc_fifo", f"u_{e}_fifo", {"DW": st.bits, "DEPTH": d},
                                       {"clk": "clk", "rst": "rst", **sp, **_io("m", e)}))
                self.edge[(name, c)] = e
        onn = net.nodes[out_name]
        self.output(onn, self.collect(onn.name, "o", onn, self.edge[(out_name, "__out__")],
                                      lanes_beats(onn.shape)[0]))
        return self.finish()

    def collect(self, consumer: str, tag: str, src: NetNode, e: str, lanes: int) -> str:
        """The edge bundle `e` of `src`'s stream as `lanes` lanes a beat for `consumer` (its input `tag`): as it
        is, through an fc_collect that joins its chunks into wider ones (whole pixels), or through an
        fc_serialize that cuts its beats into narrower chunks (an instance of the consumer)."""
        st = stream_of(src)
        if st.lanes == lanes:
            return e
        i = self.acc.ids[consumer]
        b = self.wire(f"{i}_wc{tag}", lanes * st.width)
        if lanes > st.lanes:
            n = lanes // st.lanes
            self.mod(consumer, "fc_collect", st.beats, _inst("fc_collect", f"u_{i}_wc{tag}", {
                "IW": st.bits, "NBEATS": n}, {"clk": "clk", "rst": "rst", **_io("s", e), **_io("m", b)}))
        else:
            n = st.lanes // lanes
            self.decl.append(f"    wire {b}_last;\n")
            self.mod(consumer, "fc_serialize", st.beats * n, _inst("fc_serialize", f"u_{i}_wc{tag}", {
                "N": st.lanes, "L": lanes, "W": st.width, "NBEATS": n}, {
                "clk": "clk", "rst": "rst", **_io("s", e), **_io("m", b), "m_last": f"{b}_last"}))
        return b

    def _skip_depths(self, consumers) -> dict[tuple[str, str], int]:
        pe = {n: (nn.layer.NIB, nn.layer.NOB, nn.layer.params["T"], nn.layer.RPP)
              for n, nn in self.net.nodes.items() if nn.layer is not None}
        mac = {n for n, nn in self.net.nodes.items() if nn.op in ("conv", "dense") and nn.layer is None}
        out = skip_fifo_depths(self.net.graph, pe, mac, self.lanes)
        for (short, join), d in list(out.items()):
            if join in self.skip_override:
                out[(short, join)] = int(self.skip_override[join])
        return out

    # ---- nodes ---------------------------------------------------------------------------------------------------
    def node(self, nn: NetNode, ins: list[str]):
        ins = [self.collect(nn.name, str(k), self.src(nn, k), e,
                            consumed_lanes(self.net.graph, nn.node, k, self.lanes)) for k, e in enumerate(ins)]
        getattr(self, f"op_{nn.op}")(nn, ins)

    def o(self, nn: NetNode) -> str:
        return f"{self.acc.ids[nn.name]}_o"

    def src(self, nn: NetNode, k: int = 0) -> NetNode:
        return self.net.nodes[nn.node.inputs[k]]

    def op_input(self, nn: NetNode, ins):
        st = stream_of(nn)
        fmt = format_for("input", nn.out, st.lanes, st.lanes * st.beats)
        self.acc.fin = fmt
        p = _axis_params(nn, fmt)
        gate = "ax_" if self.wload else ""     # the frame side of the weight load's demux (`finish`)
        self.mod(nn.name, "fc_axis_in", max(fmt.words, st.beats), _inst("fc_axis_in", "u_in", p, {
            "clk": "clk", "rst": "rst", "s_axis_tdata": "s_axis_tdata", "s_axis_tvalid": f"{gate}s_axis_tvalid",
            "s_axis_tready": f"{gate}s_axis_tready", "s_axis_tlast": "s_axis_tlast", **_io("m", self.o(nn)),
            "err_short": f"{gate}err_short", "err_long": f"{gate}err_long"}))

    def output(self, nn: NetNode, e: str):
        st = whole_of(nn)
        fmt = format_for("result", nn.out, st.lanes, st.lanes * st.beats)
        self.acc.fout = fmt
        p = _axis_params(nn, fmt)
        # one chunk of PW elements per cycle, ceil(C/PW) chunks per pixel (rtl_sim/fc_axis_out.sv)
        self.mod(nn.name, "fc_axis_out", max(fmt.words, st.beats * -(-st.lanes // fmt.per_word)),
                 _inst("fc_axis_out", "u_out", p, {
            "clk": "clk", "rst": "rst", **_io("s", e), "m_axis_tdata": "m_axis_tdata",
            "m_axis_tvalid": "m_axis_tvalid", "m_axis_tready": "m_axis_tready", "m_axis_tlast": "m_axis_tlast"}))

    def window(self, nn: NetNode, e: str) -> str:
        """fc_window for a conv/pool node; returns the bundle carrying its window beats."""
        src = self.src(nn)
        p = {**window_params(src.shape, nn.node, src.out.width), "KM": int(kernel_major(nn.node))}
        i = self.acc.ids[nn.name]
        b = self.wire(f"{i}_win", p["C"] * p["KH"] * p["KW"] * src.out.width)
        self.mod(nn.name, "fc_window", max(p["H"] * p["WD"], p["HO"] * p["WO"]),
                 _inst("fc_window", f"u_{i}_win", p, {"clk": "clk", "rst": "rst", **_io("s", e), **_io("m", b)}))
        return b

    def chunked_window(self, nn: NetNode, e: str) -> str:
        """fc_swg for a ternary conv whose input beats are pixel chunks (`LayerMapping.window_chunked`): the
        window streamed as the PE array's NBI beats of IB*S lanes, kernel-major; returns their bundle (with a
        `_last` wire)."""
        src, lp = self.src(nn), nn.layer.params
        p = swg_params(src.shape, nn.node, src.out.width, lp["IB"] * lp["S"])
        i = self.acc.ids[nn.name]
        b = self.wire(f"{i}_swg", p["CW"] * src.out.width)
        self.decl.append(f"    wire {b}_last;\n")
        self.mod(nn.name, "fc_swg", swg_cycles(p),
                 _inst("fc_swg", f"u_{i}_swg", p, {"clk": "clk", "rst": "rst", **_io("s", e), **_io("m", b),
                                                   "m_last": f"{b}_last"}))
        return b

    def pe_layer(self, nn: NetNode, vec: str, chunked: bool = False):
        """[fc_serialize ->] tpe_layer -> fc_collect into the node's output, from the vector bundle `vec` (cut into
        the array's input beats here), or with `chunked` from a bundle already carrying those beats and a
        `_last` wire (`chunked_window`)."""
        layer: RtlLayer = nn.layer
        if layer is None:
            raise FcompError(f"layer {nn.name}: fixed-point (not ternary) weights have no RTL in fcomp_accel")
        i = self.acc.ids[nn.name]
        lp = layer.params
        vectors = whole_of(nn).beats
        in_w = layer.W
        lanes = lp["IB"] * lp["S"]
        if chunked:
            ser, ser_last = vec, f"{vec}_last"
        else:
            ser, ser_last = self.wire(f"{i}_ser", lanes * in_w), f"{i}_ser_last"
            self.decl.append(f"    wire {ser_last};\n")
            self.mod(nn.name, "fc_serialize", vectors * lp["NBI"], _inst("fc_serialize", f"u_{i}_ser", {
                "N": layer.cols, "L": lanes, "W": in_w, "NBEATS": lp["NBI"]}, {
                "clk": "clk", "rst": "rst", **_io("s", vec), **_io("m", ser), "m_last": ser_last}))
        pe = self.wire(f"{i}_pe", layer.P * lp["OUT_W"])
        self.decl.append(f"    wire {i}_pe_last;\n")
        files, wports = {}, {}
        roms = rom_words(layer)
        if nn.name in self.wload:
            wlw = self.acc.fin.word_bits
            k = len(self.acc.weights)
            self.acc.weights.append((nn.name, weight_load_words(layer, roms, wlw), self.wload[nn.name]))
            files = {"WLOAD": 1, "WLW": wlw, "URAM": int(self.wload[nn.name])}
            wports = {"w_en": f"wl_en[{k}]", "w_data": "wl_data"}
            roms = {"post.mem": roms["post.mem"]}
        for fname, (words, width) in roms.items():
            rom = f"{i}_{fname}"
            self.acc.roms[rom] = (words, width)
            files[{"codes.mem": "CODES_FILE", "index.mem": "INDEX_FILE", "post.mem": "POST_FILE"}[fname]] = f'"{rom}"'
        steady = layer_steady_cycles(layer)
        self.mod(nn.name, "tpe_layer", int(math.ceil(vectors * steady)), _inst("tpe_layer", f"u_{i}_pe",
                 {**lp, **files}, {
                     "clk": "clk", "rst": "rst", "s_axis_tdata": f"{ser}_data", "s_axis_tvalid": f"{ser}_valid",
                     "s_axis_tready": f"{ser}_ready", "s_axis_tlast": ser_last,
                     "m_axis_tdata": f"{pe}_data", "m_axis_tvalid": f"{pe}_valid", "m_axis_tready": f"{pe}_ready",
                     "m_axis_tlast": f"{i}_pe_last", **wports}))
        o = self.o(nn)
        if nn.lanes == layer.P:   # the output leaves as it is made: P results a beat, RPP beats per pixel
            self.body.append(f"    assign {o}_data = {pe}_data;\n"
                             f"    assign {o}_valid = {pe}_valid;\n    assign {pe}_ready = {o}_ready;\n")
            return
        full = layer.RPP * layer.P * lp["OUT_W"]    # P does not divide the rows: whole pixels, padding dropped
        col = self.wire(f"{i}_col", full)
        self.mod(nn.name, "fc_collect", vectors * layer.RPP, _inst("fc_collect", f"u_{i}_col", {
            "IW": layer.P * lp["OUT_W"], "NBEATS": layer.RPP}, {"clk": "clk", "rst": "rst", **_io("s", pe),
                                                                **_io("m", col)}))
        self.body.append(f"    assign {o}_data = {col}_data[{layer.rows * lp['OUT_W'] - 1}:0];\n"
                         f"    assign {o}_valid = {col}_valid;\n    assign {col}_ready = {o}_ready;\n")

    def mac_layer(self, nn: NetNode, vec: str):
        """fc_mac_layer (fixed-point weights) from the vector bundle `vec` into the node's output."""
        i = self.acc.ids[nn.name]
        src, m = self.src(nn), nn.mapping
        rows, cols = nn.weight_int.shape
        words, bias = mac_roms(nn)
        self.acc.roms[f"{i}_weights.mem"] = words
        self.acc.roms[f"{i}_bias.mem"] = bias
        fp = src.out.fraction + nn.weight_t.fraction
        pc = cast_params(fp, nn.accum)
        grouped = {}
        if conv_groups(nn.node) > 1:   # per-PE lanes: the window wired into step order (no logic, `grouped_expansion`)
            lanes = grouped_expansion(rows, cols, conv_groups(nn.node), m.pe, m.simd)
            iw = src.out.width
            gx = self.wire(f"{i}_gx", len(lanes) * iw)
            parts = [f"{vec}_data[{a * iw + iw - 1}:{a * iw}]" if a is not None else f"{iw}'d0"
                     for a in reversed(lanes)]
            self.body.append(f"    assign {gx}_data = {{{', '.join(parts)}}};\n"
                             f"    assign {gx}_valid = {vec}_valid;\n    assign {vec}_ready = {gx}_ready;\n")
            vec, grouped = gx, {"NC": cols, "PEL": 1}
        p = {"N": len(lanes) if grouped else cols, **grouped, "R": rows, "P": m.pe, "S": m.simd,
             "IW": src.out.width, "WW": nn.weight_t.width,
             "AW": nn.accum.width, "OW": nn.out.width, "PRSH": pc["RSH"], "PLSH": pc["LSH"], "PRND": pc["RND"],
             "PSAT": pc["SAT"], **{k: v for k, v in cast_params(nn.accum.fraction, nn.out).items() if k != "OW"},
             "WEIGHTS_FILE": f'"{i}_weights.mem"', "BIAS_FILE": f'"{i}_bias.mem"'}
        self.mod(nn.name, "fc_mac_layer", stream_of(nn).beats * m.cycles_per_vector(),
                 _inst("fc_mac_layer", f"u_{i}_mac", p, {"clk": "clk", "rst": "rst", **_io("s", vec),
                                                          **_io("m", self.o(nn))}))

    def weighted(self, nn: NetNode, vec: str):
        if nn.layer is not None:
            self.pe_layer(nn, vec)
        else:
            self.mac_layer(nn, vec)

    def op_conv(self, nn: NetNode, ins):
        a = nn.node.attrs
        if tuple(a["kernel"]) == (1, 1) and tuple(a["strides"]) == (1, 1) and not any(a["pads"]):
            self.weighted(nn, ins[0])
        elif nn.layer is not None and nn.mapping.window_chunked(nn.layer.params["IB"]):
            self.pe_layer(nn, self.chunked_window(nn, ins[0]), chunked=True)
        else:
            self.weighted(nn, self.window(nn, ins[0]))

    def op_dense(self, nn: NetNode, ins):
        self.weighted(nn, ins[0])

    def op_relu(self, nn: NetNode, ins):
        src, st = self.src(nn), stream_of(nn)
        p = {"N": st.lanes, "IW": src.out.width, **cast_params(src.out.fraction, nn.out), "RELU": 1}
        self.mod(nn.name, "fc_cast", st.beats, _inst("fc_cast", f"u_{self.acc.ids[nn.name]}_relu", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_hardsigmoid(self, nn: NetNode, ins):
        from .network import HSIG_FRAC, hardsigmoid_constants

        src, st = self.src(nn), stream_of(nn)
        k = hardsigmoid_constants(nn.node)
        fx = src.out.fraction
        f = fx + HSIG_FRAC
        shiftv, one = k.shift << fx, 1 << f
        iw = max(src.out.width + k.slope_bits + 1, k.shift_bits + fx, f + 2) + 2
        if iw > 64:
            raise FcompError(f"node {nn.name}: a {iw}-bit HardSigmoid datapath has no RTL (at most 64 bits)")

        p = {"N": st.lanes, "XW": src.out.width, "SLW": k.slope_bits, "IW": iw, **cast_params(f, nn.out),
             "SLOPE": f"64'd{k.slope}", "SHIFTV": _slit(shiftv), "ONE": _slit(one)}
        self.mod(nn.name, "fc_hardsigmoid", st.beats, _inst("fc_hardsigmoid", f"u_{self.acc.ids[nn.name]}_hsig", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_hardswish(self, nn: NetNode, ins):
        from .network import hardswish_types

        src, st = self.src(nn), stream_of(nn)
        t = hardswish_types(nn.node, src.out)
        p = {"N": st.lanes, "XW": src.out.width, "SLW": t.k.slope_bits, "HW": t.h_width, "IW": t.p_width,
             **cast_params(t.p_frac, nn.out), "SLOPE": f"64'd{t.k.slope}", "SHIFTV": _slit(t.shift_raw),
             "ONE": _slit(1 << t.h_frac)}
        self.mod(nn.name, "fc_hardswish", st.beats, _inst("fc_hardswish", f"u_{self.acc.ids[nn.name]}_hswish", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_sigmoid(self, nn: NetNode, ins):
        from .network import sigmoid_table

        src, st, i = self.src(nn), stream_of(nn), self.acc.ids[nn.name]
        mask = (1 << nn.out.width) - 1
        self.acc.roms[f"{i}_sigmoid.mem"] = ([int(v) & mask for v in sigmoid_table(nn.out)], nn.out.width)
        p = {"N": st.lanes, "IW": src.out.width, "FX": src.out.fraction, "OW": nn.out.width,
             "TABLE_FILE": f'"{i}_sigmoid.mem"'}
        self.mod(nn.name, "fc_sigmoid", st.beats, _inst("fc_sigmoid", f"u_{i}_sig", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_clip(self, nn: NetNode, ins):
        from .network import clip_bounds

        src, st = self.src(nn), stream_of(nn)
        b = clip_bounds(nn.node, src.out, nn.out)
        if b.width > 64:
            raise FcompError(f"node {nn.name}: a {b.width}-bit Clip comparison has no RTL (at most 64 bits)")

        p = {"N": st.lanes, "XW": src.out.width, "PSH": b.frac - src.out.fraction, "IW": b.width,
             **cast_params(b.frac, nn.out), "HAS_LO": int(b.lo is not None), "HAS_HI": int(b.hi is not None),
             "CLO": _slit(b.lo or 0), "CHI": _slit(b.hi or 0)}
        self.mod(nn.name, "fc_clip", st.beats, _inst("fc_clip", f"u_{self.acc.ids[nn.name]}_clip", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_add(self, nn: NetNode, ins):
        a, b = self.src(nn, 0), self.src(nn, 1)
        f = max(a.out.fraction, b.out.fraction)
        la, lb = f - a.out.fraction, f - b.out.fraction
        iw = max(a.out.width + la, b.out.width + lb) + 1
        st = stream_of(nn)
        p = {"N": st.lanes, "AW": a.out.width, "BW": b.out.width, "LSA": la, "LSB": lb, "IW": iw,
             **cast_params(f, nn.out)}
        self.mod(nn.name, "fc_add", st.beats, _inst("fc_add", f"u_{self.acc.ids[nn.name]}_add", p, {
            "clk": "clk", "rst": "rst", "a_data": f"{ins[0]}_data", "a_valid": f"{ins[0]}_valid",
            "a_ready": f"{ins[0]}_ready", "b_data": f"{ins[1]}_data", "b_valid": f"{ins[1]}_valid",
            "b_ready": f"{ins[1]}_ready", **_io("m", self.o(nn))}))

    def op_concat(self, nn: NetNode, ins):
        st, i = stream_of(nn), self.acc.ids[nn.name]
        cast_ins = []
        for k, e in enumerate(ins):
            src = self.src(nn, k)
            if src.out == nn.out:
                cast_ins.append(e)
                continue
            sst = whole_of(src)
            b = self.wire(f"{i}_in{k}", sst.lanes * nn.out.width)
            p = {"N": sst.lanes, "IW": src.out.width, **cast_params(src.out.fraction, nn.out), "RELU": 0}
            self.mod(nn.name, "fc_cast", sst.beats, _inst("fc_cast", f"u_{i}_cast{k}", p, {
                "clk": "clk", "rst": "rst", **_io("s", e), **_io("m", b)}))
            cast_ins.append(b)
        a, b = (whole_of(self.src(nn, k)).lanes for k in (0, 1))
        self.mod(nn.name, "fc_concat", st.beats, _inst("fc_concat", f"u_{i}_cat", {"NA": a, "NB": b,
                 "W": nn.out.width}, {"clk": "clk", "rst": "rst", "a_data": f"{cast_ins[0]}_data",
                 "a_valid": f"{cast_ins[0]}_valid", "a_ready": f"{cast_ins[0]}_ready",
                 "b_data": f"{cast_ins[1]}_data", "b_valid": f"{cast_ins[1]}_valid",
                 "b_ready": f"{cast_ins[1]}_ready", **_io("m", self.o(nn))}))

    def _avg_params(self, nn: NetNode, n: int) -> dict:
        src, acc = self.src(nn), nn.accum
        lsa = acc.fraction - src.out.fraction
        if lsa < 0:
            raise FcompError(f"node {nn.name}: the pooling accumulator has fewer fraction bits than its input")
        dm, dsh = tdiv_constants(n, acc.width)
        return {"AW": acc.width, "LSA": lsa, "DM": f"64'd{dm}", "DSH": dsh, **cast_params(acc.fraction, nn.out)}

    def _pool(self, nn: NetNode, ins, avg: bool):
        src, st = self.src(nn), stream_of(nn)
        i = self.acc.ids[nn.name]
        wp = pool_window_params(src.shape, nn.node, src.out.width)
        win = self.wire(f"{i}_swg", wp["CW"] * src.out.width)
        self.decl.append(f"    wire {win}_last;\n")
        kk = int(np.prod(nn.node.attrs["kernel"]))
        self.mod(nn.name, "fc_swg", swg_cycles(wp),
                 _inst("fc_swg", f"u_{i}_swg", wp, {"clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", win),
                                                    "m_last": f"{win}_last"}))
        p = {"C": st.lanes, "KK": kk, "W": src.out.width, "AVG": int(avg)}
        if avg:
            p.update(self._avg_params(nn, kk))
        else:
            if nn.out != src.out:
                raise FcompError(f"node {nn.name}: MaxPool must keep its input's type")
            p.update({"OW": nn.out.width})
        self.mod(nn.name, "fc_pool", st.beats * kk, _inst("fc_pool", f"u_{i}_pool", p, {
            "clk": "clk", "rst": "rst", **_io("s", win), "s_last": f"{win}_last", **_io("m", self.o(nn))}))

    def op_maxpool(self, nn, ins):
        self._pool(nn, ins, avg=False)

    def op_avgpool(self, nn, ins):
        if any(nn.node.attrs["pads"]) and not nn.node.attrs.get("count_include_pad", 0):
            raise FcompError(f"node {nn.name}: padded AveragePool without count_include_pad has no RTL")
        self._pool(nn, ins, avg=True)

    def op_globalavgpool(self, nn, ins):
        src = self.src(nn)
        sst, cst = whole_of(src), stream_of(src)
        p = {"C": sst.lanes, "L": cst.lanes, "NPIX": sst.beats, "W": src.out.width,
             **self._avg_params(nn, sst.beats)}
        self.mod(nn.name, "fc_gap", cst.beats, _inst("fc_gap", f"u_{self.acc.ids[nn.name]}_gap", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_upsample(self, nn, ins):
        src, st = self.src(nn), stream_of(nn)
        if nn.out != src.out:
            raise FcompError(f"node {nn.name}: an upsample must keep its input's type")
        sh, sw = nn.node.attrs["scale"]
        p = {"N": st.lanes, "W": nn.out.width, "WD": src.shape[2], "SH": sh, "SW": sw}
        self.mod(nn.name, "fc_upsample", st.beats, _inst("fc_upsample", f"u_{self.acc.ids[nn.name]}_up", p, {
            "clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", self.o(nn))}))

    def op_flatten(self, nn, ins):
        src = self.src(nn)
        sst = stream_of(src)
        o, w = self.o(nn), src.out.width
        if len(src.shape) != 3:
            self.body.append(f"    assign {o}_data = {ins[0]}_data;\n    assign {o}_valid = {ins[0]}_valid;\n"
                             f"    assign {ins[0]}_ready = {o}_ready;\n")
            return
        i = self.acc.ids[nn.name]
        col = self.wire(f"{i}_col", sst.bits * sst.beats)
        self.mod(nn.name, "fc_collect", sst.beats, _inst("fc_collect", f"u_{i}_col", {
            "IW": sst.bits, "NBEATS": sst.beats}, {"clk": "clk", "rst": "rst", **_io("s", ins[0]), **_io("m", col)}))
        c, hw = src.shape[0], src.shape[1] * src.shape[2]
        # collected lane p*C + c (HWC; the beats may be chunks of a pixel) -> output lane c*HW + p (the IR's CHW)
        parts = []
        for lane in reversed(range(c * hw)):
            ch, p = divmod(lane, hw)
            src_lane = p * c + ch
            parts.append(f"{col}_data[{src_lane * w + w - 1}:{src_lane * w}]")
        self.body.append(f"    assign {o}_data = {{{', '.join(parts)}}};\n    assign {o}_valid = {col}_valid;\n"
                         f"    assign {col}_ready = {o}_ready;\n")

    def _trace(self, name: str, b: str) -> str:
        return (f"`ifdef FCOMP_TRACE\n    always @(posedge clk) if (!rst && trace_fd != 0 && {b}_valid && {b}_ready)\n"
                f"        $fwrite(trace_fd, \"%0d {self.acc.ids[name]} %h\\n\", cycle, {b}_data);\n`endif\n")

    def finish(self) -> Accel:
        fin, fout = self.acc.fin, self.acc.fout
        nodes = "\n".join(f"//   {i}: {_ident(n)} ({self.net.nodes[n].op}, {list(self.net.nodes[n].shape)}, "
                          f"{self.net.nodes[n].out.hls()})" for n, i in self.acc.ids.items())
        head = f"""// Generated by fcomp (compiler/rtl/accel.py): the whole network as one streaming dataflow design.
// Do not edit: regenerate. Modules in rtl_sim/ (fc_*.sv, tpe_*.sv); ROMs (*.mem) beside this file.
// Input:  {fin.elements} elements per frame, {fin.elem_bits}-bit lanes, {fin.per_word} per {fin.word_bits}-bit word,
//         {fin.words} words per frame, tlast on the last (checked: err_short / err_long, sticky).
// Output: {fout.elements} elements per frame, {fout.elem_bits}-bit lanes (sign-extended), {fout.words} words, tlast.
// Nodes:
{nodes}
module {TOP} (clk, rst, s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast,
        m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast, err_short, err_long);
    input  wire        clk;
    input  wire        rst;
    input  wire [{fin.word_bits - 1}:0] s_axis_tdata;
    input  wire        s_axis_tvalid;
    output wire        s_axis_tready;
    input  wire        s_axis_tlast;
    output wire [{fout.word_bits - 1}:0] m_axis_tdata;
    output wire        m_axis_tvalid;
    input  wire        m_axis_tready;
    output wire        m_axis_tlast;
    output wire        err_short;
    output wire        err_long;
`ifdef FCOMP_TRACE
    integer trace_fd = 0;
    integer cycle = 0;
    reg [1023:0] trace_file;
    initial if ($value$plusargs("trace=%s", trace_file)) trace_fd = $fopen(trace_file, "w");
    always @(posedge clk) cycle <= cycle + 1;
`endif
"""
        self.acc.text = head + self._weight_load() + "".join(self.decl) + "".join(self.body) + "endmodule\n"
        return self.acc

    def _weight_load(self) -> str:
        """The run-time weight load: after reset the first NW words of s_axis (one transfer, tlast on its last
        word) are weights, written in order into the layers' memories (`weight_load_words`); frames are taken
        only once all are in. A transfer that ends early sets err_short, one that does not end on its last word
        err_long (sticky: reset and load again)."""
        if not self.wload:
            return ""
        doc = self.acc.weights_json()
        nw, wb, nl = doc["words"], doc["word_bits"], len(doc["layers"])
        cw = max(1, (nw + 1).bit_length())
        sel = "".join(f"            wl_en[{k}] <= wl_take && wl_n >= {cw}'d{ly['first']} && "
                      f"wl_n < {cw}'d{ly['first'] + ly['words']};   // {_ident(ly['node'])}\n"
                      for k, ly in enumerate(doc["layers"]))
        return f"""    // ---- weights loaded at run time: the first {nw} words after reset ({WEIGHTS_FILE}) -------------------
    wire ax_s_axis_tvalid, ax_s_axis_tready, ax_err_short, ax_err_long;
    reg  [{cw - 1}:0] wl_n;
    reg  [{nl - 1}:0] wl_en;
    reg  [{wb - 1}:0] wl_data;
    reg  wl_err_short, wl_err_long;
    wire wl_done = wl_n == {cw}'d{nw};
    wire wl_take = !rst && !wl_done && s_axis_tvalid;
    assign ax_s_axis_tvalid = s_axis_tvalid && wl_done;
    assign s_axis_tready = wl_done ? ax_s_axis_tready : !rst;
    assign err_short = ax_err_short | wl_err_short;
    assign err_long = ax_err_long | wl_err_long;
    always @(posedge clk) begin
        wl_data <= s_axis_tdata;
        if (rst) begin
            wl_n <= '0; wl_en <= '0; wl_err_short <= 1'b0; wl_err_long <= 1'b0;
        end else begin
{sel}            if (wl_take) begin
                wl_n <= wl_n + 1'b1;
                if (s_axis_tlast && wl_n != {cw}'d{nw - 1}) wl_err_short <= 1'b1;
                if (!s_axis_tlast && wl_n == {cw}'d{nw - 1}) wl_err_long <= 1'b1;
            end
        end
    end
"""


def grouped_expansion(rows: int, cols: int, groups: int, P: int, S: int) -> list[int | None]:
    """fc_mac_layer's per-PE input lanes (PEL = 1) for a grouped conv: lane (step k = nf*SF + sf, PE p, lane l) at
    k*P*S + p*S + l holds window lane `network.grouped_lanes`[nf*P + p, sf*S + l], or None (a zero) where the row
    or the column is padding. With S = cols and P | rows (a depthwise 3x3 at S = 9) it is the identity."""
    from .network import grouped_lanes

    idx = grouped_lanes(rows, cols, groups)
    nf, sf = math.ceil(rows / P), math.ceil(cols / S)
    out: list[int | None] = []
    for f in range(nf):
        for t in range(sf):
            for pe in range(P):
                for lane in range(S):
                    r, c = f * P + pe, t * S + lane
                    out.append(int(idx[r, c]) if r < rows and c < cols else None)
    return out


def mac_roms(nn: NetNode) -> tuple[tuple[list[int], int], tuple[list[int], int]]:
    """fc_mac_layer's ROMs, (words, width) each: the weights, word nf*SF + sf holding PE p lane l's weight of row
    nf*P + p, column sf*S + l at bits [(p*S + l)*WW +: WW] (rows and columns beyond the matrix are 0); the biases,
    word nf holding the P biases of row fold nf cast to the accumulator type (`network.cast`, as the golden model)."""
    from .network import cast

    m, wt, acc = nn.mapping, nn.weight_t, nn.accum
    rows, cols = nn.weight_int.shape
    P, S = m.pe, m.simd
    nf, sf = math.ceil(rows / P), math.ceil(cols / S)
    w = np.zeros((nf * P, sf * S), np.int64)
    w[:rows, :cols] = nn.weight_int
    # (nf, P, sf, S) -> (nf, sf, P, S): one word per step, lane p*S + l
    steps = w.reshape(nf, P, sf, S).transpose(0, 2, 1, 3).reshape(nf * sf, P * S)
    mask = (1 << wt.width) - 1
    words = [sum((int(v) & mask) << (k * wt.width) for k, v in enumerate(row)) for row in steps]
    b = np.zeros(nf * P, np.int64)
    b[:rows] = cast(nn.bias_int, nn.bias_t.fraction, acc)
    amask = (1 << acc.width) - 1
    bias = [sum((int(v) & amask) << (k * acc.width) for k, v in enumerate(b[f * P:(f + 1) * P])) for f in range(nf)]
    return (words, P * S * wt.width), (bias, P * acc.width)


def layer_steady_cycles(layer: RtlLayer) -> float:
    """Cycles per vector of a tpe_layer in steady state (`compiler.rtl.cycles`)."""
    from .cycles import groups, steady_cycles_per_vector

    return float(steady_cycles_per_vector(layer.K, layer.NBI, layer.RPP, layer.NIB, layer.NOB, groups(layer.params)))


def runtime_loaded(nn: NetNode) -> bool:
    """Whether a ternary layer's codes and index are loaded at run time: where the plan puts its weights in
    UltraRAM, which has no initial contents (a ROM cannot live there)."""
    return nn.layer is not None and nn.mapping is not None and nn.mapping.memory == "uram"


def weight_load_words(layer: RtlLayer, roms: dict | None = None, wlw: int = 64) -> list[int]:
    """tpe_layer's run-time load (WLOAD = 1): per schedule entry t the word {index word, codes word} (codes in
    the low P*2S bits), cut into ceil(MW / wlw) words of wlw bits, lowest first."""
    roms = roms or rom_words(layer)
    (codes, cw), (index, iw) = roms["codes.mem"], roms["index.mem"]
    ncol = -(-(cw + iw) // wlw)
    mask = (1 << wlw) - 1
    out = []
    for c, x in zip(codes, index):
        word = c | x << cw
        out += [(word >> (k * wlw)) & mask for k in range(ncol)]
    return out


def generate(net: Network, skip_depths: dict[str, int] | None = None, runtime_weights: bool | None = None) -> Accel:
    """runtime_weights: None loads at run time the layers the plan puts in UltraRAM (`runtime_loaded`), True
    every ternary layer (into block RAM), False none."""
    why = net.uncovered()
    if why:
        raise FcompError("the network has no whole-network RTL: " + "; ".join(why))
    return _Gen(net, skip_depths, runtime_weights).generate()


def write_accel(acc: Accel, out_dir: Path) -> Path:
    """fcomp_accel.sv, its ROM files and accel.json into out_dir; returns the top's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fname, (words, width) in acc.roms.items():
        (out_dir / fname).write_text(_hex(words, width), encoding="utf-8")
    if acc.weights:
        digits = -(-acc.fin.word_bits // 4)
        (out_dir / WEIGHTS_FILE).write_text("".join(f"{w:0{digits}x}\n" for w in acc.weight_words()),
                                            encoding="utf-8")
    else:       # an all-ROM design: a weight transfer left from an earlier design must not be streamed
        (out_dir / WEIGHTS_FILE).unlink(missing_ok=True)
    top = out_dir / f"{TOP}.sv"
    top.write_text(acc.text, encoding="utf-8")
    (out_dir / ACCEL_JSON).write_text(json.dumps(acc.to_json(), indent=1) + "\n", encoding="utf-8")
    return top
