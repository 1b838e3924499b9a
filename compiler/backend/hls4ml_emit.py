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
from ..ir import Graph, Node, conv_groups
from ..plan import LayerMapping, closest_valid_reuse_factor
from .precision import Fixed, fixed_values, is_ternary, quantize

NON_NEGATIVE_OPS = ("relu", "sigmoid", "hardsigmoid")
# one value in, one out: the layout passes through
ELEMENTWISE_OPS = ("relu", "clip", "sigmoid", "hardsigmoid", "hardswish")


def _is_non_negative(graph: Graph, name: str) -> bool:
    node = graph.node(name)
    if node.op in NON_NEGATIVE_OPS:
        return True
    if node.op == "clip":   # a lower bound >= 0 (ReLU6); rounding a non-negative bound keeps it non-negative
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
        return lo is not None and lo >= 0 and (hi is None or hi >= 0)
    if node.op in ("maxpool", "flatten", "concat", "upsample"):
        return all(_is_non_negative(graph, i) for i in node.inputs)
    return False


SCALE_SUFFIX = "_scale"


def hls_native_depthwise(node: Node) -> bool:
    """A depthwise conv hls4ml builds as its own DepthwiseConv2D (io_stream: depth multiplier 1 only)."""
    w = node.weights["W"]
    return conv_groups(node) > 1 and w.shape[1] == 1 and w.shape[0] == conv_groups(node)


def block_diagonal(w: np.ndarray, groups: int) -> np.ndarray:
    """(out, in/g, kh, kw) grouped kernel -> (out, in, kh, kw) with zeros outside each output's group."""
    out, cg = w.shape[:2]
    full = np.zeros((out, cg * groups, *w.shape[2:]), w.dtype)
    og = out // groups
    for k in range(groups):
        full[k * og:(k + 1) * og, k * cg:(k + 1) * cg] = w[k * og:(k + 1) * og]
    return full


def hls_mult_size(node: Node) -> tuple[int, int]:
    """(n_in, n_out) of hls4ml's multiplier view of a conv/dense layer (`FPGABackend.get_layer_mult_size`):
    its ReuseFactor is validated against these (a block-diagonal grouped conv is a dense Conv2D to hls4ml)."""
    w = node.weights["W"]
    if node.op == "dense":
        return int(w.shape[0]), int(w.shape[1])
    g = conv_groups(node)
    return int(w.shape[1] * g * w.shape[2] * w.shape[3]), int(w.shape[0])


class _Lowering:
    def __init__(self, graph: Graph, path, precisions=None):
        self.graph, self.path, self.precisions = graph, path, precisions
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

    def weights(self, node) -> tuple[np.ndarray, np.ndarray]:
        """(weights, bias) of the conv/dense itself: the codes and a zero bias for a ternary layer."""
        if is_ternary(node):
            codes = np.asarray(node.weights["codes"], np.float32)
            return codes, np.zeros_like(np.asarray(node.weights["b"], np.float32))
        if self.precisions is not None:   # their types' exact values (`fixed_values`): what the golden model uses
            p = self.precisions[node.name]
            return fixed_values(node.weights["W"], p["weight"]), fixed_values(node.weights["b"], p["bias"])
        return node.weights["W"], node.weights["b"]

    def scale_stage(self, node, layer: dict, n_in: int, channels: int) -> None:
        """Add the conv/dense `layer`; for a ternary node follow it with its per-channel scale stage."""
        if not is_ternary(node):
            self.add(node, layer)
            return
        self.add(node, layer, name=node.name)
        scale = np.asarray(node.weights["scale"], np.float64).reshape(-1)
        bias = np.asarray(node.weights["b"], np.float64).reshape(-1)
        if self.precisions is not None:   # rounded once here: hls4ml prints them exactly, the RTL uses the same
            p = self.precisions[node.name]
            scale = quantize(scale, p["scale"].fraction) * 2.0 ** -p["scale"].fraction
            bias = quantize(bias, p["bias"].fraction) * 2.0 ** -p["bias"].fraction
        taken = {n.name for n in self.graph.nodes} | {l["name"] for l in self.layers}
        name = node.name + SCALE_SUFFIX
        while name in taken:                 # an IR node may already carry that name
            name += "_"
        self.add(node, {"class_name": "BatchNormalization", "inputs": [node.name], "n_in": n_in, "n_out": n_in,
                        "n_filt": channels, "scale_data": scale, "bias_data": bias, "use_gamma": True,
                        "use_beta": True}, name=name)
        self.hls_name[node.name] = name

    def op_conv(self, node):
        src, h, w = self.pad(node, node.attrs["pads"])
        wt, b = self.weights(node)
        g = conv_groups(node)
        if hls_native_depthwise(node):   # hls4ml's DepthwiseConv2D, kernel (kh, kw, C, 1)
            layer = {"class_name": "DepthwiseConv2D", "inputs": [src], "n_chan": g, "n_filt": g,
                     "depth_multiplier": 1, "filt_height": wt.shape[2], "filt_width": wt.shape[3],
                     "depthwise_data": np.ascontiguousarray(wt.transpose(2, 3, 1, 0).reshape(*wt.shape[2:], g, 1)),
                     "bias_data": b}
        else:
            if g > 1:   # other grouped convs: one Conv2D with the block-diagonal kernel (the zeros cost hls4ml
                wt = block_diagonal(wt, g)   # cycles: it is the reference, fcomp_accel reads only the group)
            layer = {"class_name": "Conv2D", "inputs": [src], "n_chan": wt.shape[1], "n_filt": wt.shape[0],
                     "filt_height": wt.shape[2], "filt_width": wt.shape[3],
                     "weight_data": np.ascontiguousarray(wt.transpose(2, 3, 1, 0)), "bias_data": b}
        layer.update(self.window(node, h, w))
        self.scale_stage(node, layer, int(np.prod(node.shape)), int(node.shape[0]))

    def op_dense(self, node):
        wt, b = self.weights(node)
        prev = self.graph.node(node.inputs[0])
        while prev.op in ELEMENTWISE_OPS:   # a ReLU or Clip after the flatten (a QDQ model's activation quantizer)
            prev = self.graph.node(prev.inputs[0])
        if prev.op == "flatten":
            chw = self.graph.node(prev.inputs[0]).shape
            if len(chw) == 3 and chw[1] * chw[2] > 1:
                c, h, w = chw
                wt = wt.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
        layer = {"class_name": "Dense", "inputs": [self.src(node)], "n_in": wt.shape[0], "n_out": wt.shape[1],
                 "weight_data": np.ascontiguousarray(wt), "bias_data": b}
        self.scale_stage(node, layer, int(wt.shape[1]), int(wt.shape[1]))

    def op_relu(self, node):
        self.add(node, {"class_name": "Activation", "activation": "relu", "inputs": [self.src(node)],
                        "n_in": int(np.prod(node.shape))})

    def op_sigmoid(self, node):
        """hls4ml's sigmoid: a 1024-entry table over [-8, 8) (`compiler.rtl.network.sigmoid_table`), its type
        the result's (set in `hls_config` from the precisions)."""
        self.add(node, {"class_name": "Activation", "activation": "sigmoid", "inputs": [self.src(node)],
                        "n_in": int(np.prod(node.shape))})

    def op_hardsigmoid(self, node):
        """hls4ml's HardActivation hard_sigmoid: clip(slope * x + shift, 0, 1) computed exactly, one cast; slope and
        shift are alpha and beta rounded to 16 fraction bits (`compiler.rtl.network.hardsigmoid_constants`),
        printed exactly and typed so that hls4ml holds them exactly."""
        from hls4ml.model.types import FixedPrecisionType

        from ..rtl.network import HSIG_FRAC, hardsigmoid_constants

        k = hardsigmoid_constants(node)
        self.add(node, {"class_name": "HardActivation", "activation": "hard_sigmoid", "inputs": [self.src(node)],
                        "n_in": int(np.prod(node.shape)), "slope": k.slope / 2 ** HSIG_FRAC,
                        "shift": k.shift / 2 ** HSIG_FRAC,
                        "slope_prec": FixedPrecisionType(k.slope_bits, k.slope_bits - HSIG_FRAC, signed=False),
                        "shift_prec": FixedPrecisionType(k.shift_bits, k.shift_bits - HSIG_FRAC, signed=True)})

    def op_hardswish(self, node):
        """fcomp's own hls4ml layer (hls4ml has no HardSwish): `compiler.backend.hls4ml_hardswish`."""
        from ..rtl.network import hardswish_types
        from . import hls4ml_hardswish

        p_in = self.precisions[node.inputs[0]]["result"] if self.precisions else Fixed(16, 6)
        hls4ml_hardswish.register()
        self.add(node, hls4ml_hardswish.layer(node.name, self.src(node), int(np.prod(node.shape)),
                                              hardswish_types(node, p_in)))

    def op_clip(self, node):
        """fcomp's own hls4ml layer (hls4ml has no generic Clip): `compiler.backend.hls4ml_clip`."""
        from ..rtl.network import clip_bounds
        from . import hls4ml_clip

        default = Fixed(16, 6)       # the model's default type, when no precisions are given
        p_in = self.precisions[node.inputs[0]]["result"] if self.precisions else default
        p_out = self.precisions[node.name]["result"] if self.precisions else default
        bounds = clip_bounds(node, p_in, p_out)
        if bounds.width > 64:
            raise UnsupportedModelError(self.path, f"Clip bounds {node.attrs.get('min')}, {node.attrs.get('max')} "
                                        f"need a {bounds.width}-bit comparison (at most 64)", node=node.source,
                                        op="Clip")
        hls4ml_clip.register()
        self.add(node, hls4ml_clip.layer(node.name, self.src(node), int(np.prod(node.shape)), bounds))

    def op_add(self, node):
        self.add(node, {"class_name": "Merge", "op": "add", "inputs": [self.src(node, 0), self.src(node, 1)]})

    def op_concat(self, node):
        """hls4ml's Concatenate (io_stream: concatenate3d on the channels-last axis, concatenate1d for vectors):
        each input element is assigned (cast) to the result type."""
        rank = len(node.shape)
        self.add(node, {"class_name": "Concatenate", "op": f"concatenate{rank}d", "axis": -1,
                        "inputs": [self.src(node, 0), self.src(node, 1)]})

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

    def op_upsample(self, node):
        """hls4ml's Resize (io_stream: nnet::resize_nearest, each input row buffered and repeated)."""
        c, h, w = self.graph.node(node.inputs[0]).shape
        self.add(node, {"class_name": "Resize", "inputs": [self.src(node)], "in_height": h, "in_width": w,
                        "n_chan": c, "out_height": node.shape[1], "out_width": node.shape[2],
                        "algorithm": "nearest", "align_corners": False, "data_format": "channels_last"})

    def op_flatten(self, node):
        # hls4ml 1.3 skips a 1-D Reshape in io_stream (`inplace_stream_flatten`), leaving the stream packed per
        # pixel: a Dense reads that, but any other layer after it (a QDQ model's Clip, a ReLU, a Concat) would read
        # a pixel's C values as all N. Shaped (1, N) it is repacked (`reshape_stream`) into one beat of N values.
        shape = list(node.shape)
        if any(c.op != "dense" for c in self.graph.consumers(node.name)):   # anything but a Dense reads beats
            shape = [1, *shape]
        self.add(node, {"class_name": "Reshape", "inputs": [self.src(node)], "target_shape": shape})


def lower_to_hls4ml(graph: Graph, path="model", precisions: dict[str, dict[str, Fixed]] | None = None
                    ) -> tuple[list[dict], dict[str, str]]:
    """IR -> (hls4ml layer list, IR node name -> hls4ml layer name holding its output).

    `precisions` (from `assign_precisions`) rounds ternary layers' scales and biases to their types; without it
    hls4ml rounds them when it writes the weights."""
    low = _Lowering(graph, path, precisions)
    for node in graph.nodes:
        low.lower(node)
    return low.layers, low.hls_name


def hls_config(graph: Graph, layers: list[dict], hls_name: dict[str, str], precisions: dict[str, dict[str, Fixed]],
               plan: dict[str, LayerMapping], trace: bool = False) -> dict:
    """hls4ml's 'HLSConfig': per-layer precision, ReuseFactor and strategy from the plan."""
    layer_cfg: dict[str, dict] = {}
    for node in graph.nodes:
        name = hls_name[node.name]
        p = precisions[node.name]
        cfg = {"Precision": {k: v.hls() for k, v in p.items() if k != "table"}, "Trace": trace}
        if "table" in p:   # an activation's lookup table: hls4ml takes its type as the layer attribute table_t
            from ..rtl.network import SIGMOID_TABLE

            cfg.update({"table_t": p["table"].hls(), "table_size": SIGMOID_TABLE})
        if node.name in plan:
            cfg["ReuseFactor"] = plan[node.name].reuse_factor
            if conv_groups(node) > 1:   # hls4ml validates it on its own view (`hls_mult_size`): the closest valid
                cfg["ReuseFactor"] = closest_valid_reuse_factor(*hls_mult_size(node), cfg["ReuseFactor"])
            cfg["Strategy"] = "Resource"
        if name != node.name and is_ternary(node):   # codes layer, then the scale stage holding the output
            acc = p["accum"].hls()
            codes_cfg = {"Precision": {"weight": p["weight"].hls(), "bias": p["weight"].hls(), "accum": acc,
                                       "result": acc}, "Trace": trace}
            codes_cfg.update({k: cfg.pop(k) for k in ("ReuseFactor", "Strategy") if k in cfg})
            layer_cfg[node.name] = codes_cfg
            # the scale stage keeps pace with the conv/dense (one result beat every ReuseFactor cycles or so)
            # with channels / ReuseFactor shared multipliers instead of one per channel
            if "ReuseFactor" in codes_cfg:
                cfg["ReuseFactor"] = max(1, min(codes_cfg["ReuseFactor"], int(node.shape[0])))
            cfg["Precision"] = {k: p[k].hls() for k in ("scale", "bias", "result")}
        layer_cfg[name] = cfg
    for layer in layers:  # padding layers carry their input's type
        if layer["name"] not in layer_cfg:
            src_ir = next(k for k, v in hls_name.items() if v == layer["inputs"][0])
            layer_cfg[layer["name"]] = {"Precision": {"result": precisions[src_ir]["result"].hls()}, "Trace": trace}
    return {"Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1, "Strategy": "Resource",
                      "BramFactor": 1_000_000_000, "TraceOutput": trace},
            "LayerName": layer_cfg}
