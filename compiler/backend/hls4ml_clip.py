"""fcomp's Clip layer for hls4ml, through hls4ml's extension API (register_layer / register_template /
register_source), because hls4ml 1.3.0 has no generic Clip (its ReLU has no upper bound, and HardActivation's
slope/shift cannot express arbitrary bounds exactly).

The layer `FcompClip` carries the bounds as integers at F fraction bits and the comparison type
`ap_fixed<width, width - F>`, both from `compiler.rtl.network.clip_bounds`, so the C++ (hls/nnet_fcomp_clip.h),
the golden model and the RTL (rtl_sim/fc_clip.sv) compute one definition.
"""

from __future__ import annotations

from pathlib import Path

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

_registered: set[str] = set()


def _header_path() -> Path:
    """hls/nnet_fcomp_clip.h of this source tree (a checkout or worktree), else the installed package data."""
    from importlib import resources

    here = Path(__file__).resolve().parents[2] / "hls" / HEADER
    return here if here.is_file() else Path(str(resources.files("compiler._hls"))) / HEADER


def register(backend_name: str = "Vitis") -> None:
    """Register FcompClip with hls4ml and the backend (idempotent)."""
    if backend_name in _registered:
        return
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Layer, layer_map, register_layer
    from hls4ml.model.attributes import Attribute

    if CLASS_NAME not in layer_map:
        class FcompClip(Layer):
            _expected_attributes = [Attribute("n_in"), Attribute("has_lo", value_type=bool),
                                    Attribute("has_hi", value_type=bool), Attribute("lo_raw"),
                                    Attribute("hi_raw"), Attribute("bound_width"), Attribute("bound_integer")]

            def initialize(self):
                inp = self.get_input_variable()
                self.add_output_variable(inp.shape)

        register_layer(CLASS_NAME, FcompClip)
    layer_cls = layer_map[CLASS_NAME]

    class FcompClipConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = _config_template

        def format(self, node):
            params = self._default_config_params(node)
            params["has_lo"] = "true" if node.get_attr("has_lo") else "false"
            params["has_hi"] = "true" if node.get_attr("has_hi") else "false"
            return self.template.format(**params)

    class FcompClipFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=[f"nnet_utils/{HEADER}"])
            self.template = _function_template

        def format(self, node):
            return self.template.format(**self._default_function_params(node))

    backend = hls4ml.backends.get_backend(backend_name)
    backend.register_template(FcompClipConfigTemplate)
    backend.register_template(FcompClipFunctionTemplate)
    backend.register_source(_header_path())
    _registered.add(backend_name)


def layer(name: str, src: str, n_in: int, bounds) -> dict:
    """The hls4ml layer dictionary of one Clip (`bounds`: `compiler.rtl.network.ClipBounds`)."""
    if bounds.width > 64:
        raise ValueError(f"Clip comparison of {bounds.width} bits exceeds 64")
    return {"class_name": CLASS_NAME, "name": name, "inputs": [src], "n_in": int(n_in),
            "has_lo": bounds.lo is not None, "has_hi": bounds.hi is not None,
            "lo_raw": int(bounds.lo or 0), "hi_raw": int(bounds.hi or 0),
            "bound_width": int(bounds.width), "bound_integer": int(bounds.width - bounds.frac)}
