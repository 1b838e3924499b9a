"""Lower the IR to hls4ml's layer list (channels-last) and its HLS configuration.

We hand hls4ml the layer dictionaries its own converters produce (`ModelGraph.from_layer_list`) instead of going
through its ONNX path: no qonnx cleanup, no channels-last graph rewrite, so a ResNet-18 lowers in well under
a second. Layout changes happen here and only here:
  * conv weights (out, in, kh, kw) -> (kh, kw, in, out); dense weights stay (in, out);
  * a Dense after a Flatten of a C x H x W tensor gets its rows permuted from CHW to HWC order;
  * padding becomes an explicit ZeroPadding2D layer (hls4ml's io_stream MaxPool asserts on padding, and zero
    padding equals -inf padding for MaxPool only when its input is non-negative, which is checked).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import Graph, Node
from ..plan import LayerMapping
from .precision import Fixed

NON_NEGATIVE_OPS = ("relu", "clip")


def _is_non_negative(graph: Graph, name: str) -> bool:
    node = graph.node(name)
    if node.op in NON_NEGATIVE_OPS:
        return True
    if node.op in ("maxpool", "flatten"):
        return _is_non_negative(graph, node.inputs[0])
    return False


class _Lowering:
    def __init__(self, graph: Graph, path):
        self.graph, self.path = graph, path
        self.layers: list[dict] = []
        self.hls_name: dict[str, str] = {}   # IR node -> hls4ml layer holding its output

    def src(self, node: Node, k: int = 0) -> str:
        return self.hls_name[node.inputs[k]]

    def add(self, node: Node, layer: dict, name: str | None = None) -> str:
        layer["name"] = name or node.name
        self.layers.append(layer)
        if name is None:
            self.hls_name[node.name] = layer["name"]
        return layer["name"]

    def pad(self, node: Node, pads) -> tuple[str, int, int]:
        c, h, w = self.graph.node(node.inputs[0]).shape
        top, left, bottom, right = pads
        if not any(pads):
            return self.src(node), h, w
        name = self.add(node, {"class_name": "ZeroPadding2D", "data_format": "channels_last",
                               "inputs": [self.src(node)], "in_height": h, "in_width": w, "n_chan": c,
                               "out_height": h + top + bottom, "out_width": w + left + right,
                               "pad_top": top, "pad_bottom": bottom, "pad_left": left, "pad_right": right},
                        name=f"{node.name}_pad")
        return name, h + top + bottom, w + left + right

    def window(self, node: Node, h: int, w: int) -> dict:
        sh, sw = node.attrs["strides"]
        return {"in_height": h, "in_width": w, "out_height": node.shape[1], "out_width": node.shape[2],
                "stride_height": sh, "stride_width": sw, "pad_top": 0, "pad_bottom": 0, "pad_left": 0,
                "pad_right": 0, "data_format": "channels_last"}

    def lower(self, node: Node):
        getattr(self, f"op_{node.op}")(node)

    def op_input(self, node):
        shape = list(node.shape[1:]) + [node.shape[0]] if len(node.shape) == 3 else list(node.shape)
        self.add(node, {"class_name": "InputLayer", "input_shape": shape})

    def op_conv(self, node):
        src, h, w = self.pad(node, node.attrs["pads"])
        wt = node.weights["W"]
        layer = {"class_name": "Conv2D", "inputs": [src], "n_chan": wt.shape[1], "n_filt": wt.shape[0],
                 "filt_height": wt.shape[2], "filt_width": wt.shape[3],
                 "weight_data": np.ascontiguousarray(wt.transpose(2, 3, 1, 0)), "bias_data": node.weights["b"]}
        layer.update(self.window(node, h, w))
        self.add(node, layer)

    def op_dense(self, node):
        wt = node.weights["W"]
        prev = self.graph.node(node.inputs[0])
        if prev.op == "flatten":
            chw = self.graph.node(prev.inputs[0]).shape
            if len(chw) == 3 and chw[1] * chw[2] > 1:
                c, h, w = chw
                wt = wt.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
        self.add(node, {"class_name": "Dense", "inputs": [self.src(node)], "n_in": wt.shape[0],
                        "n_out": wt.shape[1], "weight_data": np.ascontiguousarray(wt),
                        "bias_data": node.weights["b"]})

    def op_relu(self, node):
        self.add(node, {"class_name": "Activation", "activation": "relu", "inputs": [self.src(node)],
                        "n_in": int(np.prod(node.shape))})

    def op_clip(self, node):
        raise UnsupportedModelError(self.path, "Clip (ReLU6) is not lowered to hls4ml yet", node=node.source,
                                    op="Clip")

    def op_add(self, node):
        self.add(node, {"class_name": "Merge", "op": "add", "inputs": [self.src(node, 0), self.src(node, 1)]})

    def _pool(self, node, kind):
        pads = node.attrs["pads"]
        if kind == "Max" and any(pads) and not _is_non_negative(self.graph, node.inputs[0]):
            raise UnsupportedModelError(self.path, "padded MaxPool needs a non-negative input (after ReLU) "
                                        "to be lowered with zero padding", node=node.source, op="MaxPool")
        src, h, w = self.pad(node, pads)
        (kh, kw) = node.attrs["kernel"]
        layer = {"class_name": f"{kind}Pooling2D", "inputs": [src], "n_filt": node.shape[0],
                 "pool_height": kh, "pool_width": kw}
        layer.update(self.window(node, h, w))
        self.add(node, layer)

    def op_maxpool(self, node):
        self._pool(node, "Max")

    def op_avgpool(self, node):
        self._pool(node, "Average")

    def op_globalavgpool(self, node):
        c, h, w = self.graph.node(node.inputs[0]).shape
        self.add(node, {"class_name": "GlobalAveragePooling2D", "inputs": [self.src(node)], "in_height": h,
                        "in_width": w, "n_filt": c, "data_format": "channels_last"})

    def op_flatten(self, node):
        self.add(node, {"class_name": "Reshape", "inputs": [self.src(node)], "target_shape": list(node.shape)})


def lower_to_hls4ml(graph: Graph, path="model") -> tuple[list[dict], dict[str, str]]:
    """IR -> (hls4ml layer list, IR node name -> hls4ml layer name holding its output)."""
    low = _Lowering(graph, path)
    for node in graph.nodes:
        low.lower(node)
    return low.layers, low.hls_name


def hls_config(graph: Graph, layers: list[dict], hls_name: dict[str, str], precisions: dict[str, dict[str, Fixed]],
               plan: dict[str, LayerMapping], trace: bool = False) -> dict:
    """hls4ml's 'HLSConfig': per-layer precision, ReuseFactor and strategy from the plan."""
    layer_cfg: dict[str, dict] = {}
    for node in graph.nodes:
        name = hls_name[node.name]
        cfg = {"Precision": {k: v.hls() for k, v in precisions[node.name].items()}, "Trace": trace}
        if node.name in plan:
            cfg["ReuseFactor"] = plan[node.name].reuse_factor
            cfg["Strategy"] = "Resource"
        layer_cfg[name] = cfg
    for layer in layers:  # padding layers carry their input's type
        if layer["name"] not in layer_cfg:
            src_ir = next(k for k, v in hls_name.items() if v == layer["inputs"][0])
            layer_cfg[layer["name"]] = {"Precision": {"result": precisions[src_ir]["result"].hls()}, "Trace": trace}
    return {"Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1, "Strategy": "Resource",
                      "BramFactor": 1_000_000_000, "TraceOutput": trace},
            "LayerName": layer_cfg}
