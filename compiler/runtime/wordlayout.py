"""The word layout of fcomp's AXI-Stream accelerators, written once (numpy only).

Both designs a bundle can build (the whole-network RTL `fcomp_accel` and the hls4ml IP `fcomp_top_axi`) move
frames as AXI-Stream words with this layout, and everything that packs or unpacks a frame uses this module: the
compiler (the RTL testbench's stimulus, `compiler.handoff.axi.pack_frame`), the Verilator end-to-end simulation,
and the board driver, which ships this very file in the bundle's `driver/` folder:

* every tensor element sits in its own lane of `elem_bits` (8/16/32/64, the smallest that holds its fixed-point
  width), lanes little-endian inside `word_bits`-wide words (64), elements in channels-last order (H, W, C), the
  last word zero-padded;
* input lanes carry the raw fixed-point bits (value * 2^frac) in their low `width` bits; output lanes are
  sign-extended (zero-extended for unsigned types);
* tlast marks the last word of every frame, in and out. A frame whose length is wrong is an error here, never
  shifted into the next one.

Real values <-> integers follow ap_fixed's conversion of a double: value * 2^frac, rounded half up (AP_RND) or
floored (AP_TRN), then saturated (AP_SAT) or wrapped (AP_WRAP) to `width` bits.

This file must stay importable without the compiler (the board has numpy, maybe PYNQ, nothing else).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields

import numpy as np


WORD_BITS = 64   # the AXI-Stream data width of both interfaces (wider when one element needs more)


class LayoutError(ValueError):
    """A frame, a word buffer or a value that does not fit the accelerator's interface."""


def lane_bits(width: int) -> int:
    """The AXI lane an element of `width` bits travels in: the smallest of 8/16/32/64 bits that holds it."""
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return bits
    raise LayoutError(f"a {width}-bit stream element does not fit a 64-bit AXI lane; use --act-bits <= 64")


@dataclass(frozen=True)
class StreamFormat:
    """One side of the AXI-Stream interface."""

    type_name: str       # the hls4ml C++ typedef (input_t, result_t) or the RTL's stream name
    element_type: str    # its element, e.g. fixed<16,3,RND,SAT>
    width: int           # fixed-point bits of one element
    frac: int            # fractional bits: value = integer * 2^-frac
    signed: bool
    channels: int        # elements per pixel beat (C of a pixel)
    elements: int        # elements per frame (H*W*C)
    elem_bits: int       # lane width in the AXI word
    word_bits: int
    rounding: bool = True    # real -> integer: AP_RND (half up) or AP_TRN (floor)
    saturate: bool = True    # AP_SAT or AP_WRAP

    @property
    def per_word(self) -> int:
        return self.word_bits // self.elem_bits

    @property
    def words(self) -> int:
        return -(-self.elements // self.per_word)

    @property
    def bytes_per_frame(self) -> int:
        return self.words * self.word_bits // 8

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(per_word=self.per_word, words=self.words, bytes_per_frame=self.bytes_per_frame)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StreamFormat":
        """The inverse of to_dict (derived keys ignored, checked when present)."""
        known = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in d]
        if missing:
            raise LayoutError(f"stream format lacks {', '.join(missing)}")
        fmt = cls(**{k: v for k, v in d.items() if k in known})
        for k in ("per_word", "words", "bytes_per_frame"):
            if k in d and d[k] != getattr(fmt, k):
                raise LayoutError(f"stream format: {k} = {d[k]} does not follow from its fields "
                                  f"({getattr(fmt, k)})")
        if fmt.elem_bits < fmt.width or fmt.word_bits > 64 or fmt.word_bits % fmt.elem_bits:
            raise LayoutError(f"stream format: {fmt.width}-bit elements in {fmt.elem_bits}-bit lanes of "
                              f"{fmt.word_bits}-bit words are not a layout fcomp writes")
        return fmt

    # -- integer range of the element type
    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


def format_for(type_name: str, fixed, channels: int, elements: int, word_bits: int = WORD_BITS) -> StreamFormat:
    """The stream format of a tensor of `fixed` type (compiler.backend.precision.Fixed: its width, fraction,
    signed, rounding, saturate and hls()): the layout the HLS wrapper, the RTL accelerator (`compiler.rtl.accel`),
    its testbench and the driver share."""
    lane = lane_bits(fixed.width)
    return StreamFormat(type_name, fixed.hls(), fixed.width, fixed.fraction, fixed.signed, channels, elements,
                        lane, max(word_bits, lane), rounding=fixed.rounding, saturate=fixed.saturate)


def _frames(values, fmt: StreamFormat) -> np.ndarray:
    v = np.asarray(values)
    if v.ndim == 1:
        v = v[None]
    v = v.reshape(v.shape[0], -1)
    if v.shape[1] != fmt.elements:
        raise LayoutError(f"a frame has {fmt.elements} elements, got {v.shape[1]}")
    return v


def wrap_int(v, width: int, signed: bool) -> np.ndarray:
    """Two's-complement wrap of integers to `width` bits (AP_WRAP)."""
    v = np.asarray(v, np.int64)
    if width >= 64:
        return v
    m = v & ((1 << width) - 1)
    return np.where(m >> (width - 1), m - (1 << width), m) if signed else m


def quantize_real(x, width: int, frac: int, signed: bool, rounding: bool = True,
                  saturate: bool = True) -> np.ndarray:
    """Real values -> integers of ap_fixed<width, width - frac> (ap_fixed's conversion of a double: x * 2^frac
    rounded half up (AP_RND) or floored (AP_TRN), then saturated (AP_SAT) or wrapped). Non-finite values are an
    error. The golden model (`compiler.rtl.network.quantize_input`) and the driver both convert through here."""
    x = np.asarray(x, np.float64)
    if not np.all(np.isfinite(x)):
        raise LayoutError("the input holds NaN or infinite values")
    scaled = x * 2.0 ** frac
    q = np.floor(scaled + 0.5) if rounding else np.floor(scaled)
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if saturate:
        return np.clip(q, lo, hi).astype(np.int64)
    if np.any(np.abs(q) > 2.0 ** 62):
        raise LayoutError("an input value is too large to wrap into the element type")
    return wrap_int(q.astype(np.int64), width, signed)


def quantize(x, fmt: StreamFormat) -> np.ndarray:
    """Real values -> integers of the stream's element type (`quantize_real` with its modes)."""
    return quantize_real(x, fmt.width, fmt.frac, fmt.signed, fmt.rounding, fmt.saturate)


def dequantize(v, fmt: StreamFormat) -> np.ndarray:
    """Integers of the element type -> their real values (exact in float64 for widths up to 53 bits)."""
    return np.asarray(v, np.int64).astype(np.float64) * 2.0 ** -fmt.frac


def pack(values, fmt: StreamFormat, extended: bool = False) -> np.ndarray:
    """Frames of integers ((n, elements), or one frame) in channels-last order -> their AXI words (n, words) as
    uint64: element k in lane k mod per_word of word k // per_word, its raw low `width` bits and the lane's upper
    bits 0 (input frames), or with extended its value sign-/zero-extended to the lane (output frames, as the
    accelerators write them)."""
    v = _frames(values, fmt).astype(np.int64)
    if np.any(v < fmt.min_int) or np.any(v > fmt.max_int):
        bad = int(np.flatnonzero((v < fmt.min_int) | (v > fmt.max_int))[0])
        raise LayoutError(f"element {bad % fmt.elements} of frame {bad // fmt.elements}: "
                          f"{int(v.reshape(-1)[bad])} is outside the {fmt.width}-bit "
                          f"{'signed' if fmt.signed else 'unsigned'} range")
    n = v.shape[0]
    bits = fmt.elem_bits if extended else fmt.width
    lane_mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    lanes = v.astype(np.uint64) & lane_mask
    pad = fmt.words * fmt.per_word - fmt.elements
    lanes = np.pad(lanes, ((0, 0), (0, pad))).reshape(n, fmt.words, fmt.per_word)
    shifts = (np.arange(fmt.per_word, dtype=np.uint64) * np.uint64(fmt.elem_bits))
    return np.bitwise_or.reduce(lanes << shifts, axis=2)


def unpack(words, fmt: StreamFormat, extended: bool = True) -> np.ndarray:
    """AXI words ((n, words) or a flat buffer of whole frames) -> integers (n, elements). extended (output
    frames): every lane must hold its element sign-extended (zero-extended for unsigned types) to the lane width,
    as the accelerators write them; otherwise (input frames) only the low `width` bits of a lane count."""
    w = np.asarray(words, dtype=np.uint64)
    if w.ndim == 1:
        w = split_frames(w, fmt)
    if w.shape[1] != fmt.words:
        raise LayoutError(f"a frame has {fmt.words} words, got {w.shape[1]}")
    n = w.shape[0]
    shifts = (np.arange(fmt.per_word, dtype=np.uint64) * np.uint64(fmt.elem_bits))
    lane_mask = np.uint64((1 << fmt.elem_bits) - 1) if fmt.elem_bits < 64 else np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    lanes = ((w[:, :, None] >> shifts) & lane_mask).reshape(n, -1)[:, :fmt.elements]
    if fmt.width >= 64:
        if not fmt.signed:
            raise LayoutError("64-bit unsigned elements do not fit int64")
        vals = lanes.view(np.int64)
    else:
        e = (lanes & np.uint64((1 << fmt.width) - 1)).astype(np.int64)
        vals = np.where(e >> (fmt.width - 1), e - (1 << fmt.width), e) if fmt.signed else e
    if extended:
        back = vals.astype(np.uint64) & lane_mask
        bad = np.flatnonzero(back != lanes)
        if bad.size:
            k = int(bad[0])
            raise LayoutError(f"frame {k // fmt.elements}, element {k % fmt.elements}: lane "
                              f"{int(lanes.reshape(-1)[k]):#x} is not its {fmt.width}-bit value "
                              f"{'sign' if fmt.signed else 'zero'}-extended to {fmt.elem_bits} bits")
    return vals


def split_frames(words, fmt: StreamFormat) -> np.ndarray:
    """A flat buffer of words -> (n, words) frames; a length that is not whole frames is an error."""
    w = np.asarray(words, dtype=np.uint64).reshape(-1)
    if w.size % fmt.words:
        raise LayoutError(f"{w.size} words are not a whole number of {fmt.words}-word frames "
                          f"({w.size // fmt.words} frames and {w.size % fmt.words} words left over)")
    return w.reshape(-1, fmt.words)


def framing_error(lasts, words_per_frame: int) -> str | None:
    """Where the output stream's tlast flags break frames of words_per_frame words (tlast on each frame's last
    word, nowhere else), as a message, or None. The driver and the build's simulation both check this."""
    flags = np.asarray(lasts, dtype=np.int64).reshape(-1) != 0
    expect = (np.arange(flags.size) % words_per_frame) == words_per_frame - 1
    bad = np.flatnonzero(flags != expect)
    if not bad.size:
        return None
    return f"output word {int(bad[0])}: tlast breaks the {words_per_frame}-word framing"


def to_stream_order(x, shape) -> np.ndarray:
    """A batch in the model's layout (n, C, H, W) or (n, k) -> (n, elements) channels-last (the stream order).
    `shape` is the model's tensor shape with its batch dimension ([1, C, H, W] or [1, k])."""
    per = [int(s) for s in shape[1:]]
    x = np.asarray(x)
    if x.ndim == len(per):           # one frame without a batch dimension
        x = x[None]
    if list(x.shape[1:]) != per:
        raise LayoutError(f"expected a batch of shape (n, {', '.join(map(str, per))}), got {tuple(x.shape)}")
    if len(per) == 3:
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def from_stream_order(v, shape) -> np.ndarray:
    """(n, elements) channels-last -> (n, *shape[1:]) in the model's layout."""
    per = [int(s) for s in shape[1:]]
    v = np.asarray(v)
    if len(per) == 3:
        c, h, w = per
        return v.reshape(-1, h, w, c).transpose(0, 3, 1, 2)
    return v.reshape(-1, *per)
