"""fcomp's Clip layer for hls4ml, through hls4ml's extension API (`compiler.backend.hls4ml_custom`), because
hls4ml 1.3.0 has no generic Clip (its ReLU has no upper bound, and HardActivation's slope/shift cannot express
arbitrary bounds exactly).

The layer `FcompClip` carries the bounds as integers at F fraction bits and the comparison type
`ap_fixed<width, width - F>`, both from `compiler.rtl.network.clip_bounds`, so the C++ (hls/nnet_fcomp_clip.h),
the golden model and the RTL (rtl_sim/fc_clip.sv) compute one definition.
"""

from __future__ import annotations

CLASS_NAME = "FcompClip"
HEADER = "nnet_fcomp_clip.h"

_config_template = """struct config{index} : nnet::fcomp_clip_config {{
    static const unsigned n_in = {n_in};
    static const bool has_lo = {has_lo};
    static const bool has_hi = {has_hi};
    static const long long lo_raw = {lo_raw}LL;
    static const long long hi_raw = {hi_raw}LL;
    typedef ap_fixed<{bound_width}, {bound_integer}> bound_t;
}};\n"""
_function_template = "nnet::fcomp_clip<{input_t}, {output_t}, {config}>({input}, {output});"


def register(backend_name: str = "Vitis") -> None:
    """Register FcompClip with hls4ml and the backend (idempotent)."""
    from .hls4ml_custom import register as register_custom

    register_custom(CLASS_NAME, HEADER, ["n_in", "has_lo", "has_hi", "lo_raw", "hi_raw", "bound_width",
                                         "bound_integer"], _config_template, _function_template,
                    bool_attributes=("has_lo", "has_hi"), backend_name=backend_name)


def layer(name: str, src: str, n_in: int, bounds) -> dict:
    """The hls4ml layer dictionary of one Clip (`bounds`: `compiler.rtl.network.ClipBounds`)."""
    if bounds.width > 64:
        raise ValueError(f"Clip comparison of {bounds.width} bits exceeds 64")
    return {"class_name": CLASS_NAME, "name": name, "inputs": [src], "n_in": int(n_in),
            "has_lo": bounds.lo is not None, "has_hi": bounds.hi is not None,
            "lo_raw": int(bounds.lo or 0), "hi_raw": int(bounds.hi or 0),
            "bound_width": int(bounds.width), "bound_integer": int(bounds.width - bounds.frac)}
