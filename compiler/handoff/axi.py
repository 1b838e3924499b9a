"""The AXI-Stream top around the hls4ml io_stream model, as a Vivado IP would need it.

hls4ml's io_stream top (`fcomp_top`) takes `hls::stream<input_t>` of channels-last pixels (one `nnet::array` of C
fixed-point values per beat) and returns `hls::stream<result_t>`. A DMA engine moves plain byte words, so the
wrapper `fcomp_top_axi` (in the spirit of hls4ml's VivadoAccelerator `<project>_axi.cpp`) unpacks AXI-Stream words
into those pixels and packs the results back:

* every tensor element sits in its own lane of `elem_bits` (8/16/32/64, the smallest that holds its fixed-point
  width), lanes little-endian inside `word_bits`-wide words (64 by default, a width AXI DMA and the Zynq HP ports
  take), elements in channels-last order (H, W, C), the last word zero-padded;
* input lanes carry the raw fixed-point bits (value * 2^frac) in their low `width` bits; output lanes are
  sign-extended (zero-extended for unsigned types), so the host reads int8/int16/int32 arrays and scales them;
* `tlast` marks the last word of a frame on the output (the input's tlast is accepted and ignored: the element
  count delimits a frame); `s_axilite` on `return` gives the ap_ctrl_hs start/done registers (bundle `control`).

With `ap_axi_sdata.h` (Vitis HLS) the words are `ap_axiu<word_bits, 0, 0, 0>`; in a plain g++ build (hls4ml's
`ap_types` only) a struct with the same fields stands in, so the wrapper can be compiled and checked anywhere.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..errors import FcompError
from ..runtime import wordlayout
from ..runtime.wordlayout import WORD_BITS, StreamFormat, format_for  # noqa: F401 (re-exported)

WRAPPER_TOP = "fcomp_top_axi"

_PORT = re.compile(r"hls::stream<\s*(\w+)\s*>\s*&\s*(\w+)")
_ARRAY = re.compile(r"typedef\s+nnet::array<\s*(ap_u?(?:fixed|int)<[^>]*>)\s*,\s*([0-9*\s]+)>\s*(\w+)\s*;")


def lane_bits(width: int) -> int:
    """The AXI lane an element of `width` bits travels in: the smallest of 8/16/32/64 bits that holds it."""
    try:
        return wordlayout.lane_bits(width)
    except wordlayout.LayoutError as e:
        raise FcompError(str(e)) from None


def _parse_element(text: str) -> tuple[int, int, bool, bool, bool]:
    """ap_fixed<W,I,Q,O,N> / ap_int<W> -> (width, fraction bits, signed, rounds (AP_RND*), saturates (AP_SAT*))."""
    m = re.fullmatch(r"ap_(u?)(fixed|int)<\s*(\d+)\s*(?:,\s*(-?\d+))?([^>]*)>", text.strip())
    if not m:
        raise FcompError(f"unexpected hls4ml stream element type {text!r}")
    width = int(m.group(3))
    integer = int(m.group(4)) if m.group(2) == "fixed" else width
    modes = m.group(5) or ""
    return width, width - integer, m.group(1) != "u", "AP_RND" in modes, "AP_SAT" in modes


def top_ports(firmware: Path, project: str) -> list[tuple[str, str]]:
    """(type, name) of the hls4ml top's stream ports, from firmware/<project>.h."""
    header = Path(firmware) / f"{project}.h"
    if not header.is_file():
        raise FcompError(f"{header} is missing: not an hls4ml project")
    text = header.read_text(encoding="utf-8")
    start = text.find(f"void {project}(")
    ports = _PORT.findall(text[start:text.find(";", start)]) if start >= 0 else []
    if len(ports) != 2:
        raise FcompError(f"{header}: expected an io_stream top {project}(stream in, stream out); "
                         f"found {len(ports)} stream ports (fcomp supports one input and one output)")
    return ports


def stream_formats(firmware: Path, project: str, in_elements: int, out_elements: int,
                   word_bits: int = WORD_BITS) -> tuple[StreamFormat, StreamFormat]:
    """The input and output formats, read from the project's top header and defines.h."""
    (in_t, _), (out_t, _) = top_ports(firmware, project)
    defines = (Path(firmware) / "defines.h").read_text(encoding="utf-8")
    types = {name: (elem, eval_count(count)) for elem, count, name in _ARRAY.findall(defines)}
    formats = []
    for tname, elements in ((in_t, in_elements), (out_t, out_elements)):
        if tname not in types:
            raise FcompError(f"{firmware / 'defines.h'}: no nnet::array typedef for the stream type {tname}")
        elem, channels = types[tname]
        width, frac, signed, rnd, sat = _parse_element(elem)
        if elements % channels:
            raise FcompError(f"stream {tname}: {elements} elements are not a whole number of {channels}-element "
                             "beats")
        lane = lane_bits(width)
        formats.append(StreamFormat(tname, elem, width, frac, signed, channels, elements, lane,
                                    max(word_bits, lane), rounding=rnd, saturate=sat))
    return formats[0], formats[1]


def eval_count(text: str) -> int:
    """hls4ml writes array sizes as products ('8*1')."""
    n = 1
    for part in text.split("*"):
        n *= int(part)
    return n


def wrapper_header(project: str, fin: StreamFormat, fout: StreamFormat) -> str:
    ext = "sign" if fout.signed else "zero"
    return f"""// Generated by fcomp (compiler/handoff/axi.py): the word layout of the AXI-Stream top around the hls4ml
// model {project}; the top itself is fcomp's hls/{WRAPPER_TOP}.cpp.
// Input:  {fin.elements} elements ({fin.element_type}), channels-last, one {fin.elem_bits}-bit lane each,
//         {fin.per_word} per {fin.word_bits}-bit word, {fin.words} words per frame
//         (raw fixed-point bits: value * 2^{fin.frac}).
// Output: {fout.elements} elements ({fout.element_type}), {ext}-extended to {fout.elem_bits}-bit lanes,
//         {fout.per_word} per {fout.word_bits}-bit word, {fout.words} words per frame, tlast on the last word.
#ifndef FCOMP_TOP_AXI_H_
#define FCOMP_TOP_AXI_H_

#include "ap_int.h"
#include "hls_stream.h"
#include "{project}.h"

#if defined(__has_include)
#if __has_include(<ap_axi_sdata.h>)
#define FCOMP_HAVE_AP_AXI_SDATA 1
#endif
#endif

#ifdef FCOMP_HAVE_AP_AXI_SDATA
#include "ap_axi_sdata.h"
typedef ap_axiu<{fin.word_bits}, 0, 0, 0> axi_in_word_t;
typedef ap_axiu<{fout.word_bits}, 0, 0, 0> axi_out_word_t;
#else
// Plain g++ (hls4ml's ap_types only): the fields of ap_axiu<D, 0, 0, 0> that the wrapper uses.
template <int D> struct fcomp_axis_word {{
    ap_uint<D> data;
    ap_uint<D / 8> keep;
    ap_uint<D / 8> strb;
    ap_uint<1> last;
}};
typedef fcomp_axis_word<{fin.word_bits}> axi_in_word_t;
typedef fcomp_axis_word<{fout.word_bits}> axi_out_word_t;
#endif

static const unsigned FCOMP_IN_ELEMS = {fin.elements};
static const unsigned FCOMP_IN_WIDTH = {fin.width};
static const unsigned FCOMP_IN_LANE_BITS = {fin.elem_bits};
static const unsigned FCOMP_IN_WORD_BITS = {fin.word_bits};
static const unsigned FCOMP_IN_PER_WORD = {fin.per_word};
static const unsigned FCOMP_IN_WORDS = {fin.words};
static const unsigned FCOMP_OUT_ELEMS = {fout.elements};
static const unsigned FCOMP_OUT_WIDTH = {fout.width};
static const unsigned FCOMP_OUT_LANE_BITS = {fout.elem_bits};
static const unsigned FCOMP_OUT_WORD_BITS = {fout.word_bits};
static const unsigned FCOMP_OUT_PER_WORD = {fout.per_word};
static const unsigned FCOMP_OUT_WORDS = {fout.words};
typedef {fin.type_name} fcomp_in_beat_t;
typedef {fout.type_name} fcomp_out_beat_t;
typedef ap_{'' if fout.signed else 'u'}int<FCOMP_OUT_WIDTH> fcomp_out_raw_t;

#define FCOMP_MODEL {project}   // the hls4ml top function the wrapper calls (hls/{WRAPPER_TOP}.cpp)

void {WRAPPER_TOP}(hls::stream<axi_in_word_t> &s_axis, hls::stream<axi_out_word_t> &m_axis);

#endif
"""


def hls_dir() -> Path:
    """hls/ (fcomp's own HLS C++: the AXI wrapper and its testbench) of this source tree (a checkout or a git
    worktree, whose editable install may point at another checkout), else the package data `compiler._hls`."""
    from importlib import resources

    here = Path(__file__).resolve().parents[2] / "hls"
    if (here / f"{WRAPPER_TOP}.cpp").is_file():
        return here
    return Path(str(resources.files("compiler._hls")))


def write_wrapper(firmware: Path, tb_dir: Path, project: str, in_elements: int, out_elements: int) -> dict:
    """Writes firmware/fcomp_top_axi.{h,cpp} and the testbench; returns the interface description."""
    fin, fout = stream_formats(firmware, project, in_elements, out_elements)
    (Path(firmware) / f"{WRAPPER_TOP}.h").write_text(wrapper_header(project, fin, fout), encoding="utf-8")
    shutil.copyfile(hls_dir() / f"{WRAPPER_TOP}.cpp", Path(firmware) / f"{WRAPPER_TOP}.cpp")
    shutil.copyfile(hls_dir() / f"{WRAPPER_TOP}_test.cpp", Path(tb_dir) / f"{WRAPPER_TOP}_test.cpp")
    return {"top": WRAPPER_TOP, "input": fin.to_dict(), "output": fout.to_dict(),
            "ports": {"s_axis": "AXI4-Stream slave (input frames)", "m_axis": "AXI4-Stream master (results)",
                      "s_axi_control": "AXI4-Lite ap_ctrl_hs registers (ap_start, ap_done, ap_idle, auto_restart)"}}


def pack_frame(values, fmt: StreamFormat, extended: bool = False) -> list[int]:
    """One frame of integers (elements in channels-last order) -> its AXI words (`wordlayout.pack`; extended:
    lanes sign-/zero-extended, as the accelerators write output frames)."""
    try:
        return [int(w) for w in wordlayout.pack(values, fmt, extended)[0]]
    except wordlayout.LayoutError as e:
        raise FcompError(str(e)) from None


def unpack_frame(words: list[int], fmt: StreamFormat, extended: bool = True):
    """AXI words of one frame -> its integers (`wordlayout.unpack`); extended: output lanes must be sign- or
    zero-extended, as the accelerators write them."""
    import numpy as np

    if len(words) != fmt.words:
        raise FcompError(f"a frame has {fmt.words} words, got {len(words)}")
    try:
        return wordlayout.unpack(np.asarray(words, np.uint64)[None], fmt, extended)[0]
    except wordlayout.LayoutError as e:
        raise FcompError(str(e)) from None
