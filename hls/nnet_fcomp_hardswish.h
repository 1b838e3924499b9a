// fcomp's HardSwish layer for hls4ml (hls4ml 1.3.0 has none): y = x * clip(S x + B, 0, 1), the arithmetic of
// compiler/rtl/network.py `hardswish_int`: S and B are alpha (1/6) and beta (1/2) rounded to 16 fraction bits
// (`hardsigmoid_constants`, as fcomp's HardSigmoid); h = S x + B exact in h_t (the input's fraction bits + 16),
// clamped to [0, 1]; the product x * h exact in p_t; one cast into the result type (its RND/SAT modes).
#ifndef NNET_FCOMP_HARDSWISH_H_
#define NNET_FCOMP_HARDSWISH_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_types.h"

namespace nnet {

struct fcomp_hardswish_config {
    static const unsigned n_in = 1;
    static const long long slope_raw = 0;   // S at 16 fraction bits
    static const long long shift_raw = 0;   // B at h_t's fraction bits
    typedef ap_ufixed<17, 1> slope_t;
    typedef ap_fixed<40, 20> h_t;
    typedef ap_fixed<64, 32> p_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void fcomp_hardswish(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typename CONFIG_T::slope_t s;
    s.range() = CONFIG_T::slope_raw;
    typename CONFIG_T::h_t b, one = 1, zero = 0;
    b.range() = CONFIG_T::shift_raw;
FcompHardSwishLoop:
    for (int i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_data = data.read();
        res_T out_data;
        PRAGMA_DATA_PACK(out_data)
    FcompHardSwishPackLoop:
        for (int j = 0; j < res_T::size; j++) {
            #pragma HLS UNROLL
            typename CONFIG_T::h_t h = s * in_data[j] + b;
            if (h < zero)
                h = zero;
            if (h > one)
                h = one;
            typename CONFIG_T::p_t p = in_data[j] * h;
            out_data[j] = p;
        }
        res.write(out_data);
    }
}

} // namespace nnet

#endif
