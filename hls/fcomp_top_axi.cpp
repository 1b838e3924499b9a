// fcomp's AXI-Stream top around an hls4ml io_stream model (copied into handoff/hls/firmware/ by
// compiler/handoff/axi.py). The generated fcomp_top_axi.h holds the word layout and FCOMP_MODEL, the hls4ml top.
#include "fcomp_top_axi.h"

// The element types must be what the layout in the header was computed from.
typedef char fcomp_check_in_width[(fcomp_in_beat_t::value_type::width == FCOMP_IN_WIDTH) ? 1 : -1];
typedef char fcomp_check_out_width[(fcomp_out_beat_t::value_type::width == FCOMP_OUT_WIDTH) ? 1 : -1];

// AXI words -> hls4ml input beats (C elements of one pixel each).
static void fcomp_axi_unpack(hls::stream<axi_in_word_t> &s_axis, hls::stream<fcomp_in_beat_t> &beats) {
    ap_uint<FCOMP_IN_WORD_BITS> word = 0;
    fcomp_in_beat_t beat;
    unsigned lane = 0, ch = 0;
unpack_elements:
    for (unsigned i = 0; i < FCOMP_IN_ELEMS; i++) {
        #pragma HLS PIPELINE II=1
        if (lane == 0) word = s_axis.read().data;
        fcomp_in_beat_t::value_type v;
        v.range(FCOMP_IN_WIDTH - 1, 0) = word.range(FCOMP_IN_WIDTH - 1, 0);
        if (FCOMP_IN_PER_WORD > 1) word = word >> FCOMP_IN_LANE_BITS;
        beat[ch] = v;
        if (ch == fcomp_in_beat_t::size - 1) {
            beats.write(beat);
            ch = 0;
        } else {
            ch++;
        }
        lane = (lane == FCOMP_IN_PER_WORD - 1) ? 0 : lane + 1;
    }
}

// hls4ml output beats -> AXI words, tlast on the last word of the frame.
static void fcomp_axi_pack(hls::stream<fcomp_out_beat_t> &beats, hls::stream<axi_out_word_t> &m_axis) {
    ap_uint<FCOMP_OUT_WORD_BITS> word = 0;
    fcomp_out_beat_t beat;
    unsigned lane = 0, ch = 0;
pack_elements:
    for (unsigned i = 0; i < FCOMP_OUT_ELEMS; i++) {
        #pragma HLS PIPELINE II=1
        if (ch == 0) beat = beats.read();
        fcomp_out_raw_t raw;
        raw.range(FCOMP_OUT_WIDTH - 1, 0) = beat[ch].range(FCOMP_OUT_WIDTH - 1, 0);
        ap_int<FCOMP_OUT_LANE_BITS + 1> wide = raw;   // sign- or zero-extended by the raw type
        word.range(lane * FCOMP_OUT_LANE_BITS + FCOMP_OUT_LANE_BITS - 1, lane * FCOMP_OUT_LANE_BITS) =
            wide.range(FCOMP_OUT_LANE_BITS - 1, 0);
        bool last = (i == FCOMP_OUT_ELEMS - 1);
        if (lane == FCOMP_OUT_PER_WORD - 1 || last) {
            axi_out_word_t out;
            out.data = word;
            out.keep = -1;
            out.strb = -1;
            out.last = last;
            m_axis.write(out);
            word = 0;
            lane = 0;
        } else {
            lane++;
        }
        ch = (ch == fcomp_out_beat_t::size - 1) ? 0 : ch + 1;
    }
}

void fcomp_top_axi(hls::stream<axi_in_word_t> &s_axis, hls::stream<axi_out_word_t> &m_axis) {
    #pragma HLS INTERFACE axis port=s_axis
    #pragma HLS INTERFACE axis port=m_axis
    #pragma HLS INTERFACE s_axilite port=return bundle=control
    #pragma HLS DATAFLOW

    hls::stream<fcomp_in_beat_t> model_in("model_in");
    #pragma HLS STREAM variable=model_in depth=4
    hls::stream<fcomp_out_beat_t> model_out("model_out");
    #pragma HLS STREAM variable=model_out depth=4

    fcomp_axi_unpack(s_axis, model_in);
    FCOMP_MODEL(model_in, model_out);
    fcomp_axi_pack(model_out, m_axis);
}
