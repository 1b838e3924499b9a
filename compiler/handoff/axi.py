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
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import FcompError

WRAPPER_TOP = "fcomp_top_axi"
WORD_BITS = 64

_PORT = re.compile(r"hls::stream<\s*(\w+)\s*>\s*&\s*(\w+)")
_ARRAY = re.compile(r"typedef\s+nnet::array<\s*(ap_u?(?:fixed|int)<[^>]*>)\s*,\s*([0-9*\s]+)>\s*(\w+)\s*;")


@dataclass(frozen=True)
class StreamFormat:
    """One side of the AXI-Stream interface."""

    type_name: str       # the hls4ml C++ typedef (input_t, result_t)
    element_type: str    # its element, e.g. ap_fixed<16,3,AP_RND,AP_SAT,0>
    width: int           # fixed-point bits of one element
    frac: int            # fractional bits: value = integer * 2^-frac
    signed: bool
    channels: int        # elements per hls4ml stream beat (C of a pixel)
    elements: int        # elements per frame (H*W*C)
    elem_bits: int       # lane width in the AXI word
    word_bits: int

    @property
    def per_word(self) -> int:
        return self.word_bits // self.elem_bits

    @property
    def words(self) -> int:
        return -(-self.elements // self.per_word)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(per_word=self.per_word, words=self.words, bytes_per_frame=self.words * self.word_bits // 8)
        return d


def _lane_bits(width: int) -> int:
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return bits
    raise FcompError(f"a {width}-bit stream element does not fit a 64-bit AXI lane; use --act-bits <= 64")


def _parse_element(text: str) -> tuple[int, int, bool]:
    m = re.fullmatch(r"ap_(u?)(fixed|int)<\s*(\d+)\s*(?:,\s*(-?\d+))?[^>]*>", text.strip())
    if not m:
        raise FcompError(f"unexpected hls4ml stream element type {text!r}")
    width = int(m.group(3))
    integer = int(m.group(4)) if m.group(2) == "fixed" else width
    return width, width - integer, m.group(1) != "u"


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
        width, frac, signed = _parse_element(elem)
        if elements % channels:
            raise FcompError(f"stream {tname}: {elements} elements are not a whole number of {channels}-element "
                             "beats")
        lane = _lane_bits(width)
        formats.append(StreamFormat(tname, elem, width, frac, signed, channels, elements, lane,
                                    max(word_bits, lane)))
    return formats[0], formats[1]


def eval_count(text: str) -> int:
    """hls4ml writes array sizes as products ('8*1')."""
    n = 1
    for part in text.split("*"):
        n *= int(part)
    return n


def wrapper_header(project: str, fin: StreamFormat, fout: StreamFormat) -> str:
    ext = "sign" if fout.signed else "zero"
    return f"""// Generated by fcomp (compiler/handoff/axi.py): AXI-Stream top around the hls4ml model {project}.
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

void {WRAPPER_TOP}(hls::stream<axi_in_word_t> &s_axis, hls::stream<axi_out_word_t> &m_axis);

#endif
"""


def wrapper_source(project: str, fin: StreamFormat, fout: StreamFormat) -> str:
    return f"""// Generated by fcomp (compiler/handoff/axi.py): see {WRAPPER_TOP}.h for the word layout.
#include "{WRAPPER_TOP}.h"

// The element types must be what the layout in the header was computed from.
typedef char fcomp_check_in_width[(fcomp_in_beat_t::value_type::width == FCOMP_IN_WIDTH) ? 1 : -1];
typedef char fcomp_check_out_width[(fcomp_out_beat_t::value_type::width == FCOMP_OUT_WIDTH) ? 1 : -1];

// AXI words -> hls4ml input beats (C elements of one pixel each).
static void fcomp_axi_unpack(hls::stream<axi_in_word_t> &s_axis, hls::stream<fcomp_in_beat_t> &beats) {{
    ap_uint<FCOMP_IN_WORD_BITS> word = 0;
    fcomp_in_beat_t beat;
    unsigned lane = 0, ch = 0;
unpack_elements:
    for (unsigned i = 0; i < FCOMP_IN_ELEMS; i++) {{
        #pragma HLS PIPELINE II=1
        if (lane == 0) word = s_axis.read().data;
        fcomp_in_beat_t::value_type v;
        v.range(FCOMP_IN_WIDTH - 1, 0) = word.range(FCOMP_IN_WIDTH - 1, 0);
        if (FCOMP_IN_PER_WORD > 1) word = word >> FCOMP_IN_LANE_BITS;
        beat[ch] = v;
        if (ch == fcomp_in_beat_t::size - 1) {{
            beats.write(beat);
            ch = 0;
        }} else {{
            ch++;
        }}
        lane = (lane == FCOMP_IN_PER_WORD - 1) ? 0 : lane + 1;
    }}
}}

// hls4ml output beats -> AXI words, tlast on the last word of the frame.
static void fcomp_axi_pack(hls::stream<fcomp_out_beat_t> &beats, hls::stream<axi_out_word_t> &m_axis) {{
    ap_uint<FCOMP_OUT_WORD_BITS> word = 0;
    fcomp_out_beat_t beat;
    unsigned lane = 0, ch = 0;
pack_elements:
    for (unsigned i = 0; i < FCOMP_OUT_ELEMS; i++) {{
        #pragma HLS PIPELINE II=1
        if (ch == 0) beat = beats.read();
        fcomp_out_raw_t raw;
        raw.range(FCOMP_OUT_WIDTH - 1, 0) = beat[ch].range(FCOMP_OUT_WIDTH - 1, 0);
        ap_int<FCOMP_OUT_LANE_BITS + 1> wide = raw;   // sign- or zero-extended by the raw type
        word.range(lane * FCOMP_OUT_LANE_BITS + FCOMP_OUT_LANE_BITS - 1, lane * FCOMP_OUT_LANE_BITS) =
            wide.range(FCOMP_OUT_LANE_BITS - 1, 0);
        bool last = (i == FCOMP_OUT_ELEMS - 1);
        if (lane == FCOMP_OUT_PER_WORD - 1 || last) {{
            axi_out_word_t out;
            out.data = word;
            out.keep = -1;
            out.strb = -1;
            out.last = last;
            m_axis.write(out);
            word = 0;
            lane = 0;
        }} else {{
            lane++;
        }}
        ch = (ch == fcomp_out_beat_t::size - 1) ? 0 : ch + 1;
    }}
}}

void {WRAPPER_TOP}(hls::stream<axi_in_word_t> &s_axis, hls::stream<axi_out_word_t> &m_axis) {{
    #pragma HLS INTERFACE axis port=s_axis
    #pragma HLS INTERFACE axis port=m_axis
    #pragma HLS INTERFACE s_axilite port=return bundle=control
    #pragma HLS DATAFLOW

    hls::stream<fcomp_in_beat_t> model_in("model_in");
    #pragma HLS STREAM variable=model_in depth=4
    hls::stream<fcomp_out_beat_t> model_out("model_out");
    #pragma HLS STREAM variable=model_out depth=4

    fcomp_axi_unpack(s_axis, model_in);
    {project}(model_in, model_out);
    fcomp_axi_pack(model_out, m_axis);
}}
"""


def wrapper_testbench(project: str) -> str:
    """A C-simulation testbench for the wrapper (Vitis `csim_design -argv`, or g++): reads one frame of real
    values (channels-last, whitespace-separated) from argv[1], quantizes them to the input type as hls4ml's
    C-sim bridge does, streams them through `fcomp_top_axi` and prints the output values, one per line."""
    return f"""// Generated by fcomp (compiler/handoff/axi.py): C-simulation testbench of {WRAPPER_TOP}.
// Usage: {WRAPPER_TOP}_test INPUT.txt   (one frame, channels-last, whitespace-separated reals)
#include <cstdio>
#include <cstdlib>
#include "{WRAPPER_TOP}.h"

int main(int argc, char **argv) {{
    const char *path = argc > 1 ? argv[1] : "tb_data/axi_input.txt";
    FILE *f = std::fopen(path, "r");
    if (!f) {{
        std::fprintf(stderr, "cannot open %s\\n", path);
        return 2;
    }}
    hls::stream<axi_in_word_t> s_axis("s_axis");
    hls::stream<axi_out_word_t> m_axis("m_axis");
    ap_uint<FCOMP_IN_WORD_BITS> word = 0;
    unsigned lane = 0;
    for (unsigned i = 0; i < FCOMP_IN_ELEMS; i++) {{
        double x;
        if (std::fscanf(f, "%lf", &x) != 1) {{
            std::fprintf(stderr, "%s: expected %u values, got %u\\n", path, FCOMP_IN_ELEMS, i);
            return 2;
        }}
        fcomp_in_beat_t::value_type v = x;   // rounding and saturation of the input type
        ap_uint<FCOMP_IN_LANE_BITS> bits = 0;
        bits.range(FCOMP_IN_WIDTH - 1, 0) = v.range(FCOMP_IN_WIDTH - 1, 0);
        word.range(lane * FCOMP_IN_LANE_BITS + FCOMP_IN_LANE_BITS - 1, lane * FCOMP_IN_LANE_BITS) = bits;
        bool last = (i == FCOMP_IN_ELEMS - 1);
        if (lane == FCOMP_IN_PER_WORD - 1 || last) {{
            axi_in_word_t w;
            w.data = word;
            w.keep = -1;
            w.strb = -1;
            w.last = last;
            s_axis.write(w);
            word = 0;
            lane = 0;
        }} else {{
            lane++;
        }}
    }}
    std::fclose(f);

    {WRAPPER_TOP}(s_axis, m_axis);

    int errors = 0;
    for (unsigned k = 0; k < FCOMP_OUT_WORDS; k++) {{
        if (m_axis.empty()) {{
            std::fprintf(stderr, "output: %u words, expected %u\\n", k, FCOMP_OUT_WORDS);
            return 1;
        }}
        axi_out_word_t w = m_axis.read();
        if ((w.last == 1) != (k == FCOMP_OUT_WORDS - 1)) {{
            std::fprintf(stderr, "tlast wrong on output word %u\\n", k);
            errors++;
        }}
        for (unsigned l = 0; l < FCOMP_OUT_PER_WORD && k * FCOMP_OUT_PER_WORD + l < FCOMP_OUT_ELEMS; l++) {{
            fcomp_out_beat_t::value_type y;
            y.range(FCOMP_OUT_WIDTH - 1, 0) =
                w.data.range(l * FCOMP_OUT_LANE_BITS + FCOMP_OUT_WIDTH - 1, l * FCOMP_OUT_LANE_BITS);
            std::printf("%.17g\\n", y.to_double());
        }}
    }}
    if (!m_axis.empty()) {{
        std::fprintf(stderr, "output: more than %u words\\n", FCOMP_OUT_WORDS);
        errors++;
    }}
    return errors ? 1 : 0;
}}
"""


def write_wrapper(firmware: Path, tb_dir: Path, project: str, in_elements: int, out_elements: int) -> dict:
    """Writes firmware/fcomp_top_axi.{h,cpp} and the testbench; returns the interface description."""
    fin, fout = stream_formats(firmware, project, in_elements, out_elements)
    (Path(firmware) / f"{WRAPPER_TOP}.h").write_text(wrapper_header(project, fin, fout), encoding="utf-8")
    (Path(firmware) / f"{WRAPPER_TOP}.cpp").write_text(wrapper_source(project, fin, fout), encoding="utf-8")
    (Path(tb_dir) / f"{WRAPPER_TOP}_test.cpp").write_text(wrapper_testbench(project), encoding="utf-8")
    return {"top": WRAPPER_TOP, "input": fin.to_dict(), "output": fout.to_dict(),
            "ports": {"s_axis": "AXI4-Stream slave (input frames)", "m_axis": "AXI4-Stream master (results)",
                      "s_axi_control": "AXI4-Lite ap_ctrl_hs registers (ap_start, ap_done, ap_idle, auto_restart)"}}
