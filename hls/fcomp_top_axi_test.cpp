// C-simulation testbench of fcomp_top_axi (copied into handoff/hls/ by compiler/handoff/axi.py).
// Usage: fcomp_top_axi_test INPUT.txt [WORDS.txt]   (one frame, channels-last, whitespace-separated reals;
//        WORDS.txt, when given, receives the packed input words in hex, one per line: fcomp's tests compare them
//        with the driver's packing, driver/wordlayout.py)
#include <cstdio>
#include <cstdlib>
#include "fcomp_top_axi.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tb_data/axi_input.txt";
    FILE *f = std::fopen(path, "r");
    if (!f) {
        std::fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    FILE *wf = argc > 2 ? std::fopen(argv[2], "w") : nullptr;
    if (argc > 2 && !wf) {
        std::fprintf(stderr, "cannot write %s\n", argv[2]);
        return 2;
    }
    hls::stream<axi_in_word_t> s_axis("s_axis");
    hls::stream<axi_out_word_t> m_axis("m_axis");
    ap_uint<FCOMP_IN_WORD_BITS> word = 0;
    unsigned lane = 0;
    for (unsigned i = 0; i < FCOMP_IN_ELEMS; i++) {
        double x;
        if (std::fscanf(f, "%lf", &x) != 1) {
            std::fprintf(stderr, "%s: expected %u values, got %u\n", path, FCOMP_IN_ELEMS, i);
            return 2;
        }
        fcomp_in_beat_t::value_type v = x;   // rounding and saturation of the input type
        ap_uint<FCOMP_IN_LANE_BITS> bits = 0;
        bits.range(FCOMP_IN_WIDTH - 1, 0) = v.range(FCOMP_IN_WIDTH - 1, 0);
        word.range(lane * FCOMP_IN_LANE_BITS + FCOMP_IN_LANE_BITS - 1, lane * FCOMP_IN_LANE_BITS) = bits;
        bool last = (i == FCOMP_IN_ELEMS - 1);
        if (lane == FCOMP_IN_PER_WORD - 1 || last) {
            axi_in_word_t w;
            w.data = word;
            w.keep = -1;
            w.strb = -1;
            w.last = last;
            s_axis.write(w);
            if (wf) std::fprintf(wf, "%s\n", word.to_string(16, false).c_str());
            word = 0;
            lane = 0;
        } else {
            lane++;
        }
    }
    std::fclose(f);
    if (wf) std::fclose(wf);

    fcomp_top_axi(s_axis, m_axis);

    int errors = 0;
    for (unsigned k = 0; k < FCOMP_OUT_WORDS; k++) {
        if (m_axis.empty()) {
            std::fprintf(stderr, "output: %u words, expected %u\n", k, FCOMP_OUT_WORDS);
            return 1;
        }
        axi_out_word_t w = m_axis.read();
        if ((w.last == 1) != (k == FCOMP_OUT_WORDS - 1)) {
            std::fprintf(stderr, "tlast wrong on output word %u\n", k);
            errors++;
        }
        for (unsigned l = 0; l < FCOMP_OUT_PER_WORD && k * FCOMP_OUT_PER_WORD + l < FCOMP_OUT_ELEMS; l++) {
            fcomp_out_beat_t::value_type y;
            y.range(FCOMP_OUT_WIDTH - 1, 0) =
                w.data.range(l * FCOMP_OUT_LANE_BITS + FCOMP_OUT_WIDTH - 1, l * FCOMP_OUT_LANE_BITS);
            std::printf("%.17g\n", y.to_double());
        }
    }
    if (!m_axis.empty()) {
        std::fprintf(stderr, "output: more than %u words\n", FCOMP_OUT_WORDS);
        errors++;
    }
    return errors ? 1 : 0;
}
