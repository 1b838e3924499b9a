"""Generator for the adder-only PE-array RTL (rtl_sim/): one compressed layer -> parameters, ROM files, top module.

A weighted layer is the matrix (rows, cols) of its ternary codes (conv: (out, in*kh*kw) in ONNX order, the
im2col vector of one output pixel; dense: (out, in)). Output row r runs on PE r mod P in slot r // P
(`compiler.plan.LayerMapping`); its columns are cut into S-wide groups. The generator writes, per layer:

* the schedule: for each PE, the list of (row slot, kept group) pairs it visits per output vector, rows in order
  and the kept groups of a row in column order. Pruned groups are not in it: they cost no cycle. Every PE gets
  the same number K of entries (balanced PE-wise pruning gives that already; a PE with fewer is padded with
  all-zero entries), so the P PEs run in lockstep and a vector takes K steps;
* `codes.mem`: K words of P*S 2-bit codes (+1 = 01, -1 = 11, 0 = 00), PE 0 lane 0 in the lowest bits;
* `index.mem`: K words of P fields {last, slot, block}: the sparse index;
* `post.mem`: RPP*G words of U fields {bias, T signed power-of-two terms}: the per-channel scale and bias, word
  j*G + g for PEs g*U .. g*U+U-1 of slot j (U scale units, G = ceil(P/U) groups per output beat);
* `<top>.sv`: a top module instantiating rtl_sim/tpe_layer.sv with this layer's parameters and ROM files;
* `layer.json`: everything above in readable form.

The fixed-point arithmetic is defined in docs/rtl.md and implemented twice here, as the golden models
`golden()` (the plain formula) and `golden_hw()` (walking the schedule with the hardware's own ones' complement
lanes, bounded accumulator and shift-add post stage); both are bit-exact with the RTL.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..ir import Node
from ..plan import LayerMapping, weight_matrix

def _rtl_dir() -> Path:
    """rtl_sim/ of this source tree (a checkout or a git worktree, whose editable install may point at another
    checkout), else the package data `compiler._rtl_sim`, so an installed fcomp finds its RTL too."""
    from importlib import resources

    here = Path(__file__).resolve().parents[2] / "rtl_sim"
    if (here / "tpe_layer.sv").is_file():
        return here
    return Path(str(resources.files("compiler._rtl_sim")))


RTL_DIR = _rtl_dir()
RTL_SOURCES = ("tpe_addtree.sv", "tpe_array.sv", "tpe_post.sv", "tpe_layer.sv")
CODE_BITS = {0: 0b00, 1: 0b01, -1: 0b11}


def rtl_sources() -> list[Path]:
    return [RTL_DIR / f for f in RTL_SOURCES]


ROM_DIR = "rom"     # rtl/<layer>/rom/ of a build: the layer's ROMs, top module, layer.json and stimulus


def rom_dir(layer_dir) -> Path:
    """A layer's ROM folder, given that folder or the layer folder above it."""
    layer_dir = Path(layer_dir)
    return layer_dir if (layer_dir / "layer.json").is_file() else layer_dir / ROM_DIR


def find_layers(rtl_dir) -> dict[str, Path]:
    """{layer: its ROM folder} of the layers a build wrote under `rtl_dir` (those with a layer.json)."""
    rtl_dir = Path(rtl_dir)
    if not rtl_dir.is_dir():
        return {}
    roms = {layer.name: rom_dir(layer) for layer in sorted(rtl_dir.iterdir()) if layer.is_dir()}
    return {name: rom for name, rom in roms.items() if (rom / "layer.json").is_file()}


def _idxw(n: int) -> int:
    """Bits of an index into n entries (at least 1), as tpe_util.svh's idxw()."""
    return 1 if n <= 2 else math.ceil(math.log2(n))


def round_half_up(v: float) -> int:
    """ap_fixed's AP_RND on a float: nearest, ties towards +infinity."""
    return int(math.floor(v + 0.5))


def csd(n: int) -> list[tuple[int, int]]:
    """Canonical signed digits of n >= 0: [(sign, k)] with n = sum sign * 2**k, no two adjacent digits."""
    if n < 0:
        raise ValueError("csd() takes a non-negative integer")
    out, k = [], 0
    while n:
        if n & 1:
            d = 2 - (n & 3)          # +1 if n % 4 == 1, -1 if n % 4 == 3
            out.append((d, k))
            n -= d
        n >>= 1
        k += 1
    return out


@dataclass(frozen=True)
class RtlFormat:
    """Fixed-point types of one layer (the same meaning as ap_fixed<width, width - frac>).

    Activations are signed `in_bits`-bit integers x with value x * 2**-in_frac; the per-channel scale is rounded
    to `weight_frac` fractional bits (the backend's scale type) and the bias to `bias_frac`; the accumulator keeps `acc_frac` fractional
    bits (None: every bit, exact); the output is `out_bits` wide with `out_frac` fractional bits, rounded to
    nearest (ties up, AP_RND) or down (AP_TRN), saturated (AP_SAT) or wrapped (AP_WRAP)."""
    in_bits: int = 8
    in_frac: int = 0
    weight_frac: int = 6
    bias_frac: int = 6
    out_bits: int = 8
    out_frac: int = 0
    acc_frac: int | None = None
    round_nearest: bool = True
    saturate: bool = True

    @classmethod
    def from_backend(cls, inp, p: dict) -> "RtlFormat":
        """From the backend's types of a ternary layer (`compiler.backend.precision.ternary_precisions`): the input
        type `inp` and {'scale', 'bias', 'result'} of its scale stage. hls4ml's scale stage (BatchNormalization)
        forms acc * scale + bias exactly and rounds once into the result type, so the accumulator here keeps
        every bit (acc_frac None)."""
        if "scale" not in p:
            raise FcompError("the PE-array RTL needs a ternary layer's types (weight int<2> + scale stage)")
        return cls(in_bits=inp.width, in_frac=inp.fraction, weight_frac=p["scale"].fraction,
                   bias_frac=p["bias"].fraction, out_bits=p["result"].width, out_frac=p["result"].fraction,
                   acc_frac=None, round_nearest=p["result"].rounding, saturate=p["result"].saturate)

    @classmethod
    def from_fixed(cls, inp, weight, bias, result, accum=None) -> "RtlFormat":
        """From the backend's `compiler.backend.precision.Fixed` types of a layer (hls4ml's types)."""
        return cls(in_bits=inp.width, in_frac=inp.fraction, weight_frac=weight.fraction, bias_frac=bias.fraction,
                   out_bits=result.width, out_frac=result.fraction,
                   acc_frac=None if accum is None else accum.fraction,
                   round_nearest=result.rounding, saturate=result.saturate)


@dataclass
class RtlLayer:
    """Everything the RTL needs for one layer, plus what the golden models and the testbench need."""
    name: str
    fmt: RtlFormat
    rows: int
    cols: int
    P: int
    S: int
    IB: int                  # S-lane blocks per input beat
    NIB: int                 # input banks
    NOB: int                 # output banks
    codes: np.ndarray        # (rows, cols) int8 in {-1, 0, 1}
    gmask: np.ndarray        # (rows, NB) bool: the kept groups
    scale_int: np.ndarray    # (rows,) the channel scale in units of 2**-weight_frac
    bias_int: np.ndarray     # (rows,) the bias in units of 2**-bias_frac
    m: list[int]             # per row: the scale in the accumulator domain, m = sum(terms)
    terms: list[list[tuple[int, int]]]   # per row: [(sign, shift)]
    B: list[int]             # per row: bias in the accumulator domain (before rounding/correction)
    B_hw: list[int]          # per row: what post.mem holds: B + m * (#-1 codes) + rounding constant
    RSH: int
    sched_block: np.ndarray  # (P, K)
    sched_slot: np.ndarray   # (P, K)
    sched_last: np.ndarray   # (P, K) bool
    sched_codes: np.ndarray  # (P, K, S) int8
    empty_rows: np.ndarray   # (rows_padded,) bool: no schedule entry (output is the bias alone)
    params: dict = field(default_factory=dict)

    # ---- derived sizes -----------------------------------------------------------------------------------------
    @property
    def W(self) -> int:
        return self.fmt.in_bits

    @property
    def NB(self) -> int:
        return math.ceil(self.cols / self.S)

    @property
    def NBI(self) -> int:
        return math.ceil(self.NB / self.IB)

    @property
    def K(self) -> int:
        return int(self.sched_block.shape[1])

    @property
    def RPP(self) -> int:
        return math.ceil(self.rows / self.P)

    @property
    def kept_groups_per_pe(self) -> list[int]:
        return [int(self.gmask[p::self.P].sum()) for p in range(self.P)]

    # ---- stream packing ----------------------------------------------------------------------------------------
    def input_beats(self, x: np.ndarray) -> list[int]:
        """One input vector (cols,) of W-bit integers -> the tdata integers of its NBI beats."""
        lanes = self.IB * self.S
        v = np.zeros(self.NBI * lanes, dtype=np.int64)
        v[:self.cols] = x
        mask = (1 << self.W) - 1
        beats = []
        for i in range(self.NBI):
            word = 0
            for l, a in enumerate(v[i * lanes:(i + 1) * lanes]):
                word |= (int(a) & mask) << (l * self.W)
            beats.append(word)
        return beats

    def output_rows(self, beats: list[int]) -> np.ndarray:
        """The RPP output tdata integers of one vector -> (rows,) signed integers."""
        ow, out = self.fmt.out_bits, []
        for word in beats:
            for p in range(self.P):
                v = (word >> (p * ow)) & ((1 << ow) - 1)
                out.append(v - (1 << ow) if v >> (ow - 1) else v)
        return np.array(out[:self.rows], dtype=np.int64)

    def to_json(self) -> dict:
        return {"name": self.name, "rows": self.rows, "cols": self.cols, "format": self.fmt.__dict__,
                "params": self.params, "kept_groups_per_pe": self.kept_groups_per_pe,
                "scale_int": [int(v) for v in self.scale_int], "bias_int": [int(v) for v in self.bias_int],
                "m": self.m, "terms": self.terms, "B": self.B, "B_hw": self.B_hw,
                "empty_rows": [int(i) for i in np.flatnonzero(self.empty_rows)]}


# ---- building ---------------------------------------------------------------------------------------------------
def layer_codes(node: Node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes (rows, cols), scale (rows,), bias (rows,)) of a compressed conv/dense IR node."""
    if "codes" not in node.weights or "scale" not in node.weights:
        raise FcompError(f"layer {node.name} is not ternary (no codes/scale): the PE-array RTL needs ternary weights")
    codes = node.weights["codes"]
    mat = weight_matrix(node, codes)
    rows = mat.shape[0]
    bias = node.weights.get("b", np.zeros(rows, dtype=np.float32))
    return np.ascontiguousarray(mat).astype(np.int8), np.asarray(node.weights["scale"], np.float64), \
        np.asarray(bias, np.float64)


def build_layer(node: Node, mapping: LayerMapping, fmt: RtlFormat, group_mask: np.ndarray | None = None,
                kept_per_pe: int | None = None, in_blocks: int = 1, nib: int = 3, nob: int = 4) -> RtlLayer:
    """The RTL description of a compressed IR layer on its PE mapping (see `build_from_arrays`)."""
    codes, scale, bias = layer_codes(node)
    if codes.shape != (mapping.rows, mapping.cols):
        raise FcompError(f"layer {node.name}: codes {codes.shape} do not match the mapping "
                         f"{mapping.rows}x{mapping.cols}")
    return build_from_arrays(node.name, codes, scale, bias, mapping.pe, mapping.simd, fmt, group_mask,
                             kept_per_pe, in_blocks, nib, nob)


def nonzero_groups_per_pe(codes: np.ndarray, P: int, S: int) -> list[int]:
    """Per PE p, the S-wide column groups holding a nonzero code over its rows (r mod P == p): the steps the
    schedule of `build_from_arrays` visits for a layer compression did not prune (its default group mask skips
    all-zero groups, so a ternarized layer's zero groups cost no cycle either)."""
    codes = np.asarray(codes)
    rows, cols = codes.shape
    nb = math.ceil(cols / S)
    padded = np.zeros((rows, nb * S), dtype=np.int8)
    padded[:, :cols] = codes
    nonzero = (padded.reshape(rows, nb, S) != 0).any(-1).sum(1)
    return [int(nonzero[p::P].sum()) for p in range(P)]


def _quantize_scales(scale: np.ndarray, frac: int) -> np.ndarray:
    """The per-channel scales as integers in units of 2**-frac, rounded once to nearest (ties up) exactly as
    the backend rounds them for hls4ml's scale stage (`compiler.backend.precision.quantize`)."""
    from ..backend.precision import quantize

    if (np.asarray(scale) < 0).any():
        raise FcompError("ternary scales must be non-negative")
    return quantize(scale, frac)


def build_from_arrays(name: str, codes: np.ndarray, scale: np.ndarray, bias: np.ndarray, P: int, S: int,
                      fmt: RtlFormat, group_mask: np.ndarray | None = None, kept_per_pe: int | None = None,
                      in_blocks: int = 1, nib: int = 3, nob: int = 4) -> RtlLayer:
    """Schedule, ROM contents and fixed-point constants of one layer.

    codes (rows, cols) in {-1, 0, 1}; scale (rows,) >= 0 and bias (rows,) real numbers; the weight of row r is
    codes[r] * scale[r]. group_mask (rows, ceil(cols/S)) are the kept groups (default: the groups holding a
    nonzero code); kept_per_pe pads every PE's schedule to that many steps (the compiler's K, when some kept
    groups are all zero after ternarization)."""
    codes = np.asarray(codes)
    rows, cols = codes.shape
    if not set(np.unique(codes).tolist()) <= {-1, 0, 1}:
        raise FcompError(f"layer {name}: codes must be ternary")
    if not (2 <= nib <= 4 and 2 <= nob <= 4):
        raise FcompError("input and output bank counts must be 2..4")
    nb = math.ceil(cols / S)
    padded = np.zeros((rows, nb * S), dtype=np.int8)
    padded[:, :cols] = codes
    groups = padded.reshape(rows, nb, S)
    nonzero = (groups != 0).any(-1)
    gmask = nonzero.copy() if group_mask is None else np.asarray(group_mask, dtype=bool)
    if gmask.shape != (rows, nb):
        raise FcompError(f"layer {name}: group mask {gmask.shape} != {(rows, nb)}")
    if (nonzero & ~gmask).any():
        raise FcompError(f"layer {name}: nonzero codes in pruned groups")

    # ---- schedule: per PE its rows in slot order, each row's kept groups in column order ----------------------
    rpp = math.ceil(rows / P)
    per_pe: list[list[tuple[int, int, bool, np.ndarray]]] = []
    for p in range(P):
        entries = []
        for slot in range(rpp):
            r = slot * P + p
            if r >= rows:
                continue
            blocks = np.flatnonzero(gmask[r])
            for i, blk in enumerate(blocks):
                entries.append((int(blk), slot, i == len(blocks) - 1, groups[r, blk]))
        per_pe.append(entries)
    K = max([len(e) for e in per_pe] + [kept_per_pe or 0, 1])
    zero = np.zeros(S, dtype=np.int8)
    for p, entries in enumerate(per_pe):
        if not entries:                      # a PE with nothing kept: K zero steps on its first row
            entries.extend((0, 0, i == K - 1, zero) for i in range(K))
        while len(entries) < K:              # pad inside the PE's last row, before its final (last) entry
            blk, slot, _, _ = entries[-1]
            entries.insert(len(entries) - 1, (0, slot, False, zero))
    sched_block = np.array([[e[0] for e in es] for es in per_pe], dtype=np.int64)
    sched_slot = np.array([[e[1] for e in es] for es in per_pe], dtype=np.int64)
    sched_last = np.array([[e[2] for e in es] for es in per_pe], dtype=bool)
    sched_codes = np.array([[e[3] for e in es] for es in per_pe], dtype=np.int8)
    written = np.zeros(rpp * P, dtype=bool)
    for p in range(P):
        for k in range(K):
            if sched_last[p, k]:
                written[sched_slot[p, k] * P + p] = True
    empty = ~written

    # ---- fixed point ----------------------------------------------------------------------------------------------
    fx, fw, fb = fmt.in_frac, fmt.weight_frac, fmt.bias_frac
    prod_frac = fx + fw
    fa = max(prod_frac, fb) if fmt.acc_frac is None else fmt.acc_frac
    if fa < prod_frac:
        raise FcompError(f"layer {name}: accumulator keeps {fa} fractional bits, fewer than the products' "
                         f"{prod_frac}; the scale could not be factored out exactly")
    scale_int = _quantize_scales(np.asarray(scale, np.float64), fw)
    bias_int = np.array([round_half_up(float(b) * 2.0 ** fb) for b in bias], dtype=object)   # = quantize()
    rsh = fa - fmt.out_frac
    up = max(0, -rsh)                        # the output keeps more fraction than the accumulator: shift left
    rsh = max(0, rsh)
    m, terms, B, B_hw = [], [], [], []
    neg = (codes == -1).sum(1)
    round_c = (1 << (rsh - 1)) if (fmt.round_nearest and rsh > 0) else 0
    for r in range(rpp * P):
        if r >= rows:
            m.append(0), terms.append([]), B.append(0), B_hw.append(round_c)
            continue
        shift = fa - prod_frac + up
        mr = int(scale_int[r]) << shift
        # the bias enters the accumulator's type: exact when fa >= fb, else truncated (as ap_fixed does)
        b = int(bias_int[r])
        b_acc = b << (fa - fb) if fa >= fb else b >> (fb - fa)
        b_acc <<= up
        tr = [] if empty[r] else [(s, k + shift) for s, k in csd(int(scale_int[r]))]
        m.append(mr)
        terms.append(tr)
        B.append(b_acc)
        B_hw.append(b_acc + (0 if empty[r] else mr * int(neg[r])) + round_c)

    W = fmt.in_bits
    nnz = int((codes != 0).sum(1).max()) if rows else 0
    acc_w = max(2, W + math.ceil(math.log2(max(1, nnz))))
    T = max(1, max(len(t) for t in terms))
    ksw = max(1, max([k for t in terms for _, k in t] + [0]).bit_length())
    bb = max(2, max(abs(b) for b in B_hw).bit_length() + 1)
    bound = max(abs(bh) + sum(1 << k for _, k in t) * (1 << (acc_w - 1)) for bh, t in zip(B_hw, terms))
    pw = max(bound.bit_length() + 1, fmt.out_bits + rsh + 1, bb, acc_w)
    nbi = math.ceil(nb / in_blocks)
    sbw = 0 if in_blocks == 1 else _idxw(in_blocks)
    bw = _idxw(nbi) + sbw                   # a block's index in the ROM: {beat, sub-block}
    from .cycles import scale_units

    params = dict(P=P, S=S, W=W, IB=in_blocks, NBI=nbi, BW=bw, SBW=sbw, K=K, KW=_idxw(K), RPP=rpp, SW=_idxw(rpp),
                  ACC_W=acc_w, T=T, KSW=ksw, BB=bb, PW=pw, RSH=rsh, OUT_W=fmt.out_bits, SAT=int(fmt.saturate),
                  U=scale_units(P, K, nbi, rpp, nib, nob), NIB=nib, NOB=nob)
    if fmt.out_bits > 62 or pw > 62:
        raise FcompError(f"layer {name}: post-stage width {pw} exceeds the golden model's int64")
    return RtlLayer(name, fmt, rows, cols, P, S, in_blocks, nib, nob, codes.astype(np.int8), gmask, scale_int,
                    np.array([int(b) for b in bias_int], dtype=np.int64), m, terms, B, B_hw, rsh, sched_block,
                    sched_slot, sched_last, sched_codes, empty, params)


# ---- ROM files and the top module ---------------------------------------------------------------------------------
def _hex(words: list[int], width: int) -> str:
    digits = max(1, math.ceil(width / 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def block_field(block: int, ib: int, sbw: int) -> int:
    """The index ROM's block field: block b of the vector is sub-block b % IB of input beat b // IB, stored as
    {beat, sub} (sbw sub bits) so that tpe_layer reads the beat from its bank and selects the sub-block."""
    return (block // ib) << sbw | (block % ib)


def rom_words(layer: RtlLayer) -> dict[str, tuple[list[int], int]]:
    """{file: (words, width)} of codes.mem, index.mem and post.mem."""
    p = layer.params
    P, S, K, BW, SW = layer.P, layer.S, layer.K, p["BW"], p["SW"]
    codes, index = [], []
    for k in range(K):
        cw = iw = 0
        for pe in range(P):
            for l in range(S):
                cw |= CODE_BITS[int(layer.sched_codes[pe, k, l])] << (2 * (pe * S + l))
            field = block_field(int(layer.sched_block[pe, k]), layer.IB, p["SBW"]) | \
                int(layer.sched_slot[pe, k]) << BW | int(layer.sched_last[pe, k]) << (BW + SW)
            iw |= field << (pe * (BW + SW + 1))
        codes.append(cw)
        index.append(iw)
    T, KSW, BB = p["T"], p["KSW"], p["BB"]
    term_w = 2 + KSW
    pfw = T * term_w + BB
    U = p["U"]
    G = -(-P // U)
    post = []
    for j in range(layer.RPP):
        for g in range(G):                   # word j*G + g: PEs g*U .. g*U+U-1, the U scale units' fields
            word = 0
            for u in range(U):
                pe = g * U + u
                if pe >= P:
                    continue
                r = j * P + pe
                f = 0
                for i, (s, k) in enumerate(layer.terms[r]):
                    f |= ((0b01 if s > 0 else 0b11) | k << 2) << (i * term_w)
                f |= (layer.B_hw[r] & ((1 << BB) - 1)) << (T * term_w)
                word |= f << (u * pfw)
            post.append(word)
    return {"codes.mem": (codes, P * S * 2), "index.mem": (index, P * (BW + SW + 1)), "post.mem": (post, U * pfw)}


def top_name(layer_name: str) -> str:
    return "fcomp_" + re.sub(r"[^A-Za-z0-9_]", "_", layer_name)


def top_module(layer: RtlLayer, rom_dir: Path, name: str) -> str:
    return top_from_params(layer.params, rom_dir, name,
                           f"layer {layer.name}: {layer.rows} x {layer.cols} on {layer.P} PEs x {layer.S} lanes,\n"
                           f"// K = {layer.K} steps per output vector")


def top_from_params(p: dict, rom_dir: Path, name: str, what: str) -> str:
    """The generated top module: tpe_layer with these parameters, its ROMs read from rom_dir (absolute paths:
    $readmemh resolves relative ones against the simulator's working directory)."""
    in_w = p["IB"] * p["S"] * p["W"]
    out_w = p["P"] * p["OUT_W"]
    plist = ",\n".join(f"        .{k}({v})" for k, v in p.items())
    files = ",\n".join(f'        .{k}("{(Path(rom_dir) / f).resolve().as_posix()}")'
                       for k, f in (("CODES_FILE", "codes.mem"), ("INDEX_FILE", "index.mem"),
                                    ("POST_FILE", "post.mem")))
    return f"""// Generated by compiler/rtl for {what}. Do not edit: regenerate.
module {name} (clk, rst, s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast,
        m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast);
    input  wire              clk;
    input  wire              rst;
    input  wire [{in_w - 1}:0]  s_axis_tdata;
    input  wire              s_axis_tvalid;
    output wire              s_axis_tready;
    input  wire              s_axis_tlast;
    output wire [{out_w - 1}:0]  m_axis_tdata;
    output wire              m_axis_tvalid;
    input  wire              m_axis_tready;
    output wire              m_axis_tlast;
    tpe_layer #(
{plist},
{files}
    ) u_layer (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast));
endmodule
"""


def write_layer(layer: RtlLayer, out_dir: Path, name: str | None = None) -> Path:
    """Write ROM files, the top module and layer.json into out_dir; returns the top module's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fname, (words, width) in rom_words(layer).items():
        (out_dir / fname).write_text(_hex(words, width), encoding="utf-8")
    name = name or top_name(layer.name)
    top = out_dir / f"{name}.sv"
    top.write_text(top_module(layer, out_dir, name), encoding="utf-8")
    info = layer.to_json()
    info["top"] = name
    (out_dir / "layer.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return top
