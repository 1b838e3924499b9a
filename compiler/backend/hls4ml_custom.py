"""fcomp's own hls4ml layers (hls4ml 1.3.0 has no generic Clip and no HardSwish), registered through hls4ml's
extension API (register_layer / register_template / register_source): one layer class whose attributes are the
config's constants, one config template, one function call, one header from hls/ (package data compiler._hls).
`hls4ml_clip` and `hls4ml_hardswish` each describe theirs; the arithmetic each one computes is written once in
`compiler.rtl.network` and followed by the header and the RTL."""

from __future__ import annotations

from pathlib import Path

_registered: set[tuple[str, str]] = set()


def header_path(header: str) -> Path:
    """hls/<header> of this source tree (a checkout or worktree), else the installed package data."""
    from importlib import resources

    here = Path(__file__).resolve().parents[2] / "hls" / header
    return here if here.is_file() else Path(str(resources.files("compiler._hls"))) / header


def register(class_name: str, header: str, attributes: list[str], config_template: str, function_template: str,
             bool_attributes: tuple[str, ...] = (), backend_name: str = "Vitis") -> None:
    """Register one custom layer with hls4ml and the backend (idempotent). Its output has its input's shape;
    `bool_attributes` print as C++ true/false."""
    if (class_name, backend_name) in _registered:
        return
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer, layer_map, register_layer

    if class_name not in layer_map:
        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape)

        cls = type(class_name, (Layer,), {
            "_expected_attributes": [Attribute(a, value_type=bool) if a in bool_attributes else Attribute(a)
                                     for a in attributes],
            "initialize": initialize})
        register_layer(class_name, cls)
    layer_cls = layer_map[class_name]

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = config_template

        def format(self, node):
            params = self._default_config_params(node)
            for a in bool_attributes:
                params[a] = "true" if node.get_attr(a) else "false"
            return self.template.format(**params)

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=[f"nnet_utils/{header}"])
            self.template = function_template

        def format(self, node):
            return self.template.format(**self._default_function_params(node))

    backend = hls4ml.backends.get_backend(backend_name)
    backend.register_template(ConfigTemplate)
    backend.register_template(FunctionTemplate)
    backend.register_source(header_path(header))
    _registered.add((class_name, backend_name))
