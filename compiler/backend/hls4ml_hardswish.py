"""fcomp's HardSwish layer for hls4ml (hls4ml 1.3.0 has no HardSwish), `hls/nnet_fcomp_hardswish.h`: the types
that hold S x + B and x * h exactly come from `compiler.rtl.network.hardswish_types`, so the C++, the golden
model and the RTL (rtl_sim/fc_hardswish.sv) compute one definition."""

from __future__ import annotations

CLASS_NAME = "FcompHardSwish"
HEADER = "nnet_fcomp_hardswish.h"

_config_template = """struct config{index} : nnet::fcomp_hardswish_config {{
    static const unsigned n_in = {n_in};
    static const long long slope_raw = {slope_raw}LL;
    static const long long shift_raw = {shift_raw}LL;
    typedef ap_ufixed<{slope_width}, {slope_integer}> slope_t;
    typedef ap_fixed<{h_width}, {h_integer}> h_t;
    typedef ap_fixed<{p_width}, {p_integer}> p_t;
}};\n"""
_function_template = "nnet::fcomp_hardswish<{input_t}, {output_t}, {config}>({input}, {output});"
ATTRIBUTES = ["n_in", "slope_raw", "shift_raw", "slope_width", "slope_integer", "h_width", "h_integer", "p_width",
              "p_integer"]


def register(backend_name: str = "Vitis") -> None:
    from .hls4ml_custom import register as register_custom

    register_custom(CLASS_NAME, HEADER, ATTRIBUTES, _config_template, _function_template, backend_name=backend_name)


def layer(name: str, src: str, n_in: int, types) -> dict:
    """The hls4ml layer dictionary of one HardSwish (`types`: `compiler.rtl.network.HardSwishTypes`)."""
    return {"class_name": CLASS_NAME, "name": name, "inputs": [src], "n_in": int(n_in),
            "slope_raw": types.k.slope, "shift_raw": types.shift_raw, "slope_width": types.k.slope_bits,
            "slope_integer": types.k.slope_bits - types.k_frac, "h_width": types.h_width,
            "h_integer": types.h_width - types.h_frac, "p_width": types.p_width,
            "p_integer": types.p_width - types.p_frac}
