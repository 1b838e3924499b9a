// fcomp's Clip for hls4ml io_stream (hls4ml 1.3.0 has no generic Clip): y = (res_T) min(max(x, lo), hi).
// Written by fcomp (compiler/backend/hls4ml_clip.py registers it); the arithmetic is compiler/rtl/network.py's
// `clip`: x widened exactly to bound_t (F = max(input, output) fraction bits), compared with the bounds rounded
// to F bits (given as raw two's-complement integers), then one cast into res_T with its rounding/saturation.
#ifndef NNET_FCOMP_CLIP_H_
#define NNET_FCOMP_CLIP_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_types.h"

namespace nnet {

struct fcomp_clip_config {
    static const unsigned n_in = 1;
    static const bool has_lo = false;
    static const bool has_hi = false;
    static const long long lo_raw = 0;
    static const long long hi_raw = 0;
    typedef ap_fixed<18, 8> bound_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void fcomp_clip(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typename CONFIG_T::bound_t lo, hi;
    lo.range() = CONFIG_T::lo_raw;
    hi.range() = CONFIG_T::hi_raw;
FcompClipLoop:
    for (int i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_data = data.read();
        res_T out_data;
        PRAGMA_DATA_PACK(out_data)
    FcompClipPackLoop:
        for (int j = 0; j < res_T::size; j++) {
            #pragma HLS UNROLL
            typename CONFIG_T::bound_t v = in_data[j];
            if (CONFIG_T::has_lo && v < lo)
                v = lo;
            if (CONFIG_T::has_hi && v > hi)
                v = hi;
            out_data[j] = v;
        }
        res.write(out_data);
    }
}

} // namespace nnet

#endif
