"""Build the IR from a normalized ONNX graph; anything outside the supported set is rejected by node and op."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import UnsupportedModelError
from ..ir import Graph, Node

SUPPORTED_OPS = ("Conv", "MatMul", "Add", "Relu", "Clip", "HardSwish", "MaxPool", "AveragePool", "GlobalAveragePool",
                 "ReduceMean", "Concat", "Resize", "Upsample", "Sigmoid", "HardSigmoid", "Flatten", "Reshape", "BatchNormalization", "Gemm", "Identity", "Dropout",
                 "Constant")


_MIN_INPUTS = {"Conv": 2, "MatMul": 2, "Add": 2, "Gemm": 2, "BatchNormalization": 5, "Constant": 0}


class _Builder:
    def __init__(self, model: onnx.ModelProto, path, original_names: dict[str, str]):
        self.model, self.path, self.original = model, path, original_names
        self.inits = {t.name: t for t in model.graph.initializer}
        self.shapes = {}
        for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
            self.shapes[vi.name] = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        self.nodes: list[Node] = []
        self.produced: dict[str, Node] = {}   # onnx tensor -> IR node
        self.fused: set[str] = set()          # onnx node names consumed by a fusion

    def fail(self, onnx_node, message):
        raise UnsupportedModelError(self.path, message, node=self.original.get(onnx_node.name, onnx_node.name),
                                    op=onnx_node.op_type)

    def const(self, name):
        t = self.inits.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def shape(self, onnx_node, tensor):
        s = self.shapes.get(tensor)
        if s is None:
            self.fail(onnx_node, f"shape of '{tensor}' is unknown after shape inference")
        if not s or s[0] != 1:
            self.fail(onnx_node, f"tensor '{tensor}' has shape {list(s)}; expected batch 1 first")
        return s[1:]

    def data_input(self, onnx_node, k=0):
        name = onnx_node.input[k]
        if name in self.inits:
            self.fail(onnx_node, f"input {k} is a constant where fcomp expects activations")
        if name not in self.produced:
            self.fail(onnx_node, f"input '{name}' is not produced by a supported node")
        return self.produced[name].name

    def emit(self, onnx_node, op, inputs, attrs=None, weights=None, out=None):
        out = out or onnx_node.output[0]
        for key, value in (weights or {}).items():
            if not np.all(np.isfinite(value)):
                self.fail(onnx_node, f"weights {key} are not finite (NaN/Inf) after folding; check the model's "
                                     "weights and BatchNormalization statistics")
        node = Node(name=out, op=op, inputs=inputs, shape=self.shape(onnx_node, out), attrs=attrs or {},
                    weights=weights or {}, source=self.original.get(onnx_node.name, onnx_node.name))
        self.nodes.append(node)
        self.produced[out] = node
        return node

    def attrs(self, n):
        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    # ---- ops ---------------------------------------------------------------------------------------------
    def window_attrs(self, n, in_shape, kernel=None):
        a = self.attrs(n)
        k = list(kernel if kernel is not None else a.get("kernel_shape", []))
        if len(in_shape) != 3 or len(k) != 2:
            self.fail(n, f"only 2-D windows on NCHW tensors are supported (input shape {[1, *in_shape]})")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(n, "dilations other than 1 are not supported")
        if a.get("ceil_mode", 0):
            self.fail(n, "ceil_mode=1 is not supported")
        if a.get("storage_order", 0):
            self.fail(n, "storage_order=1 is not supported")
        strides = list(a.get("strides", [1, 1]))
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("NOTSET", ""):
            pads = list(a.get("pads", [0, 0, 0, 0]))
        elif auto_pad == "VALID":
            pads = [0, 0, 0, 0]
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pads = [0, 0, 0, 0]
            for d in range(2):
                size, st = in_shape[1 + d], strides[d]
                out = -(-size // st)
                # ONNX (and ONNX Runtime) do not clamp: with a stride larger than the kernel the "padding" can be
                # negative, i.e. the input is cropped. Head padding truncates toward zero as in ORT's C++.
                total = (out - 1) * st + k[d] - size
                head = int(total / 2) if auto_pad == "SAME_UPPER" else int((total + 1) / 2)
                tail = max(0, total - head)
                if head < 0 or (size + head + tail - k[d]) // st + 1 != out:
                    self.fail(n, f"auto_pad={auto_pad} with stride {st} and kernel {k[d]} on size {size} crops "
                                 "the input (negative padding), which fcomp does not build; use explicit pads")
                pads[d], pads[d + 2] = head, tail
        else:
            self.fail(n, f"unknown auto_pad '{auto_pad}'")
        return {"kernel": k, "strides": strides, "pads": pads}, a

    def op_Conv(self, n):
        x = self.data_input(n)
        w = self.const(n.input[1])
        if w is None:
            self.fail(n, "weights must be constant initializers (missing weights)")
        in_shape = self.shape(n, n.input[0])
        attrs, a = self.window_attrs(n, in_shape, kernel=w.shape[2:])
        group = int(a.get("group", 1))
        if group != 1:
            c_in = in_shape[0]
            if group < 1 or c_in % group or w.shape[0] % group or w.shape[1] * group != c_in:
                self.fail(n, f"group={group} does not split the convolution: {c_in} input channels, "
                             f"{w.shape[0]} output channels and weights of {w.shape[1]} input channels per group "
                             f"need group | in, group | out and in = group x {w.shape[1]}")
            attrs["group"] = group
        b = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else np.zeros(w.shape[0], np.float32)
        if b is None:
            self.fail(n, "bias must be a constant initializer")
        self.emit(n, "conv", [x], attrs, {"W": w.astype(np.float32), "b": b.astype(np.float32).reshape(-1)})

    def op_MatMul(self, n):
        x = self.data_input(n)
        w = self.const(n.input[1])
        if w is None or w.ndim != 2:
            self.fail(n, "the second MatMul input must be a constant 2-D weight matrix")
        in_shape = self.shape(n, n.input[0])
        if len(in_shape) != 1:
            self.fail(n, f"MatMul input must be 2-D (batch, features), got {[1, *in_shape]}")
        bias, out = np.zeros(w.shape[1], np.float32), n.output[0]
        users = [c for c in self.model.graph.node if out in c.input]
        if len(users) == 1 and users[0].op_type == "Add" and not any(o.name == out for o in self.model.graph.output):
            add = users[0]
            other = add.input[1] if add.input[0] == out else add.input[0]
            c = self.const(other)
            if c is not None and c.size == w.shape[1]:
                bias, out = c.astype(np.float32).reshape(-1), add.output[0]
                self.fused.add(add.name)
        self.emit(n, "dense", [x], {}, {"W": w.astype(np.float32), "b": bias}, out=out)

    def op_Add(self, n):
        if any(i in self.inits for i in n.input):
            self.fail(n, "adding a constant is only supported as the bias of a MatMul")
        if n.input[0] == n.input[1]:
            self.fail(n, "Add of a tensor to itself is not supported (one stream cannot feed both inputs; "
                         "scale the producing layer's weights by 2 instead)")
        a, b = self.data_input(n, 0), self.data_input(n, 1)
        if self.produced[n.input[0]].shape != self.produced[n.input[1]].shape:
            self.fail(n, "broadcasting Add is not supported; both inputs must have the same shape")
        self.emit(n, "add", [a, b])

    def op_Concat(self, n):
        """Concat on the channel axis of NCHW tensors (or the feature axis of (1, N) vectors); k > 2 inputs become
        a chain of two-input concats (hls4ml's Concatenate and the RTL join two streams)."""
        axis = self.attrs(n).get("axis")
        names = [i for i in n.input]
        if any(not i for i in names) or len(names) < 2:
            self.fail(n, "Concat needs at least two inputs")
        if any(i in self.inits for i in names):
            self.fail(n, "Concat of a constant is not supported (only of activations)")
        if len(set(names)) != len(names):
            self.fail(n, "Concat of the same tensor twice is not supported (one stream cannot feed both inputs)")
        for k in range(len(names)):
            self.data_input(n, k)                     # each one an activation some supported node produced
        srcs = [self.produced[i] for i in names]
        rank = len(srcs[0].shape) + 1
        if rank not in (2, 4) or any(len(s.shape) + 1 != rank for s in srcs):
            self.fail(n, f"Concat is built on NCHW tensors or (1, N) vectors, got ranks "
                         f"{[len(s.shape) + 1 for s in srcs]}")
        if axis is None or not -rank <= axis < rank or axis % rank != 1:
            self.fail(n, f"only Concat on the channel axis (axis 1) is supported, got axis={axis}")
        if any(s.shape[1:] != srcs[0].shape[1:] for s in srcs):
            self.fail(n, f"Concat inputs differ in H, W: {[list(s.shape) for s in srcs]}")
        out = n.output[0]
        left = srcs[0]
        for k, right in enumerate(srcs[1:], start=1):
            if k == len(srcs) - 1:
                self.emit(n, "concat", [left.name, right.name], {"axis": 0})
                break
            name = f"{out}_cat{k}"
            while name in self.produced or name in self.shapes:
                name += "_"
            shape = (left.shape[0] + right.shape[0], *left.shape[1:])
            left = Node(name=name, op="concat", inputs=[left.name, right.name], shape=shape, attrs={"axis": 0},
                        source=self.original.get(n.name, n.name))
            self.nodes.append(left)
            self.produced[name] = left

    def _nearest_factors(self, n, in_shape, factors, coord: str, nearest: str) -> list[int]:
        """(sh, sw) of a nearest-neighbour upsample by integer factors, checked: the source index ONNX's Resize
        picks for every output row/column (`coord` transformation, `nearest` rounding) must be floor(i / s),
        i.e. each input pixel repeated s times, which is what hls4ml's resize_nearest and the RTL build."""
        if len(in_shape) != 3 or len(factors) != 4:
            self.fail(n, f"only 2-D upsampling of NCHW tensors is supported (input shape {[1, *in_shape]})")
        if factors[0] != 1 or factors[1] != 1:
            self.fail(n, f"only H and W may be resized, got scales {list(factors)} (N, C must stay 1)")
        out = []
        for d, f in enumerate(factors[2:]):
            if not float(f).is_integer() or f < 1:
                self.fail(n, f"only integer upsampling factors >= 1 are supported, got {list(factors)[2:]}")
            s, size = int(f), in_shape[1 + d]
            i = np.arange(size * s, dtype=np.float64)
            if coord == "asymmetric":
                x = i / s
            elif coord in ("half_pixel", "pytorch_half_pixel"):
                x = (i + 0.5) / s - 0.5
            elif coord == "align_corners":
                x = i * (size - 1) / max(1, size * s - 1)
            else:
                self.fail(n, f"coordinate_transformation_mode '{coord}' is not supported (asymmetric, half_pixel, "
                             "pytorch_half_pixel, align_corners)")
            if nearest == "floor":
                src = np.floor(x)
            elif nearest == "ceil":
                src = np.ceil(x)
            elif nearest == "round_prefer_floor":
                src = np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x))
            elif nearest == "round_prefer_ceil":
                src = np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x))
            else:
                self.fail(n, f"nearest_mode '{nearest}' is not supported")
            src = np.clip(src, 0, size - 1)
            if not np.array_equal(src, i // s):
                self.fail(n, f"{coord} coordinates with nearest_mode {nearest} at factor {s} do not repeat each "
                             "pixel s times; export with nearest_mode floor and asymmetric coordinates "
                             "(torch's mode='nearest') or half_pixel (mode='nearest-exact')")
            out.append(s)
        return out

    def _emit_upsample(self, n, factors, coord="asymmetric", nearest="floor"):
        in_shape = self.shape(n, n.input[0])
        sh, sw = self._nearest_factors(n, in_shape, factors, coord, nearest)
        self.emit(n, "upsample", [self.data_input(n)], {"scale": [sh, sw]})

    @staticmethod
    def _text(v, default: str) -> str:
        v = default if v is None else v
        return v.decode() if isinstance(v, bytes) else str(v)

    def op_Resize(self, n):
        """Resize, nearest mode, by constant integer factors on H and W (scales, or sizes that are multiples of
        the input's): an upsample. Linear/cubic modes, ROI cropping and run-time sizes are refused."""
        a = self.attrs(n)
        mode = self._text(a.get("mode"), "nearest")
        if mode != "nearest":
            self.fail(n, f"only mode 'nearest' is supported, got '{mode}'")
        for k in ("antialias", "exclude_outside"):
            if a.get(k, 0):
                self.fail(n, f"{k}={a[k]} is not supported")
        if self._text(a.get("keep_aspect_ratio_policy"), "stretch") != "stretch":
            self.fail(n, f"keep_aspect_ratio_policy '{self._text(a.get('keep_aspect_ratio_policy'), '')}' is not "
                         "supported (only stretch)")
        if a.get("axes") is not None:
            self.fail(n, "Resize with the axes attribute is not supported; give scales for N, C, H, W")
        in_shape = self.shape(n, n.input[0])
        # opset 10: (X, scales); opset 11+: (X, roi, scales[, sizes])
        names = list(n.input) + [""] * 4
        scales_name, sizes_name = (names[1], "") if len(n.input) == 2 and self._opset() < 11 else (names[2], names[3])
        consts = {}
        for key, name in (("scales", scales_name), ("sizes", sizes_name)):
            if name:
                v = self.const(name)
                if v is None:
                    self.fail(n, f"Resize {key} is computed at run time ('{name}' is not a constant); fcomp builds "
                                 "Resize by constant factors only")
                if v.size:
                    consts[key] = v.reshape(-1)
        if "sizes" in consts:
            sizes = [int(v) for v in consts["sizes"]]
            full = [1, *in_shape]
            if len(sizes) != 4 or any(o % i for o, i in zip(sizes, full)):
                self.fail(n, f"Resize sizes {sizes} are not integer multiples of the input shape {full}")
            factors = [o // i for o, i in zip(sizes, full)]
        elif "scales" in consts:
            factors = [float(v) for v in consts["scales"]]
        else:
            self.fail(n, "Resize needs constant scales or sizes")
        self._emit_upsample(n, factors, self._text(a.get("coordinate_transformation_mode"), "half_pixel"),
                            self._text(a.get("nearest_mode"), "round_prefer_floor"))

    def op_Upsample(self, n):
        """Upsample (deprecated since opset 10), nearest mode: out[i] = in[floor(i / s)]."""
        a = self.attrs(n)
        mode = self._text(a.get("mode"), "nearest")
        if mode != "nearest":
            self.fail(n, f"only mode 'nearest' is supported, got '{mode}'")
        if len(n.input) > 1 and n.input[1]:
            v = self.const(n.input[1])
            if v is None:
                self.fail(n, f"Upsample scales are computed at run time ('{n.input[1]}' is not a constant)")
            factors = [float(x) for x in v.reshape(-1)]
        elif a.get("scales") is not None:
            factors = [float(x) for x in a["scales"]]
        else:
            self.fail(n, "Upsample needs scales")
        self._emit_upsample(n, factors)

    def _opset(self) -> int:
        return next((int(o.version) for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)

    def op_Relu(self, n):
        self.emit(n, "relu", [self.data_input(n)])

    def op_Sigmoid(self, n):
        self.emit(n, "sigmoid", [self.data_input(n)])

    def op_HardSwish(self, n):
        """ONNX HardSwish (opset 14, torch's Hardswish): x * max(0, min(1, x / 6 + 1/2))."""
        self.emit(n, "hardswish", [self.data_input(n)], {"alpha": 1.0 / 6.0, "beta": 0.5})

    def op_HardSigmoid(self, n):
        """max(0, min(1, alpha * x + beta)) (torch's Hardsigmoid: alpha 1/6, beta 1/2); alpha > 0 and both small
        enough for hls4ml's fixed-point slope and shift (`compiler.rtl.network.hardsigmoid_constants`)."""
        a = self.attrs(n)
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        if not (np.isfinite(alpha) and np.isfinite(beta)) or not 0 < alpha < 256 or abs(beta) >= 256:
            self.fail(n, f"HardSigmoid alpha={alpha:g}, beta={beta:g}: fcomp builds 0 < alpha < 256 and |beta| < 256")
        if round(alpha * 2 ** 16) == 0:
            self.fail(n, f"HardSigmoid alpha={alpha:g} is below 2^-16, the slope's resolution")
        self.emit(n, "hardsigmoid", [self.data_input(n)], {"alpha": alpha, "beta": beta})

    def op_Clip(self, n):
        """Clip with constant bounds (attributes before opset 11, constant inputs after; a missing bound is none):
        ReLU6 is Clip(0, 6)."""
        a = self.attrs(n)
        bounds = {"min": a.get("min"), "max": a.get("max")}
        for k, name in ((1, "min"), (2, "max")):
            if len(n.input) > k and n.input[k]:
                v = self.const(n.input[k])
                if v is None:
                    self.fail(n, f"Clip {name} is computed at run time ('{n.input[k]}' is not a constant); fcomp "
                                 "builds Clip with constant bounds only")
                if v.size != 1 or v.dtype.kind not in "fiu":
                    self.fail(n, f"Clip {name} must be a numeric scalar, got shape {list(v.shape)} of {v.dtype}")
                bounds[name] = float(v.reshape(-1)[0])
        for name, v in bounds.items():
            if v is not None and not np.isfinite(v):
                if (name == "min" and v < 0) or (name == "max" and v > 0):
                    bounds[name] = None          # -inf / +inf: no bound
                else:
                    self.fail(n, f"Clip {name} is {v}")
        self.emit(n, "clip", [self.data_input(n)], bounds)

    def op_MaxPool(self, n):
        in_shape = self.shape(n, n.input[0])
        if len(n.output) > 1 and n.output[1]:
            self.fail(n, "MaxPool indices output is not supported")
        attrs, _ = self.window_attrs(n, in_shape)
        self.emit(n, "maxpool", [self.data_input(n)], attrs)

    def op_AveragePool(self, n):
        in_shape = self.shape(n, n.input[0])
        attrs, a = self.window_attrs(n, in_shape)
        attrs["count_include_pad"] = int(a.get("count_include_pad", 0))
        if any(attrs["pads"]) and not attrs["count_include_pad"]:
            self.fail(n, "padded AveragePool needs count_include_pad=1 (hls4ml divides by the full window)")
        self.emit(n, "avgpool", [self.data_input(n)], attrs)

    def op_GlobalAveragePool(self, n):
        if len(self.shape(n, n.input[0])) != 3:
            self.fail(n, "GlobalAveragePool needs an NCHW input")
        self.emit(n, "globalavgpool", [self.data_input(n)])

    def op_Flatten(self, n):
        if self.attrs(n).get("axis", 1) != 1:
            self.fail(n, "only Flatten(axis=1) is supported")
        self.emit(n, "flatten", [self.data_input(n)])

    def op_Reshape(self, n):
        if len(n.input) < 2 or n.input[1] not in self.inits:
            self.fail(n, "the target shape is computed by nodes fcomp could not fold to a constant (only shape "
                         "arithmetic on static shapes folds: Shape, Gather, Squeeze, Unsqueeze, Concat, Cast)")
        out = self.shape(n, n.output[0])
        if len(out) != 1:
            self.fail(n, f"only Reshape to (1, N) (a flatten) is supported, got {[1, *out]}")
        self.emit(n, "flatten", [self.data_input(n)])

    def op_ReduceMean(self, n):
        self.fail(n, "ReduceMean is built only as a mean over H and W of an NCHW tensor (axes 2, 3 given as an "
                     "attribute or a constant input; it becomes GlobalAveragePool)")

    def op_BatchNormalization(self, n):
        self.fail(n, "BatchNormalization is only supported right after a Conv (where it is folded)")

    def op_Identity(self, n):
        self.fail(n, "this Identity could not be removed (it renames a graph output that is also used inside)")

    def op_Dropout(self, n):
        self.fail(n, "Dropout whose mask output is used is not supported")

    def op_Constant(self, n):
        self.fail(n, "only dense numeric Constant values are supported (not sparse or string)")

    def op_Gemm(self, n):
        self.fail(n, "this Gemm is not supported (transA=1, non-constant weights or bias, or a bias that is not "
                     "per output)")


# Quantized forms left after FoldQuantizers / QuantizersToClip (`frontend.passes`): what each one is and the form
# fcomp reads instead.
_QDQ = ("fcomp reads quantized models in QDQ form: QuantizeLinear -> DequantizeLinear pairs with per-tensor "
        "constant scale and zero point on activations (optionally a Clip of the integers between them), "
        "DequantizeLinear (or QuantizeLinear) of constant weights")
_QOP = ("ONNX Runtime's QOperator format (integer ops) is not supported; quantize with "
        "quant_format=QuantFormat.QDQ instead. ")
_QOP_OPS = ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd", "QLinearMul",
            "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu")
_QUANT_HINTS = {
    "QuantizeLinear": "a QuantizeLinear whose integers are not dequantized right away (or whose scale/zero point "
                      "is per axis or computed) is not supported; " + _QDQ,
    "DequantizeLinear": "a DequantizeLinear of a tensor computed at run time (not right after its QuantizeLinear, "
                        "or with per-axis or computed parameters) is not supported; " + _QDQ,
    **{op: _QOP + _QDQ for op in _QOP_OPS}, "DynamicQuantizeLinear":
        "dynamic quantization (scales computed at run time) is not supported; use static QDQ quantization",
    "Quant": "a QONNX Quant fcomp can read is one of constant weights (any rounding mode qonnx knows), or one on "
             "an activation with constant scalar scale, zero point and bit width (not per channel, not 1-bit signed: "
             "that is a binary activation)",
    "BipolarQuant": "binary activations (BipolarQuant of a tensor computed at run time) are not supported; "
                    "BipolarQuant of constant weights is",
    "Trunc": "QONNX Trunc (average-pool truncation) is not supported",
}


def build_ir(model: onnx.ModelProto, path, original_names: dict[str, str],
             node_names: dict[str, str] | None = None) -> Graph:
    """The normalized ONNX model as an IR Graph (names already sanitized by SanitizeNames).

    `original_names` maps sanitized tensor names back to the user's; `node_names` does so for node names
    (kept apart: a node and a tensor may sanitize to the same text)."""
    return _walk(model, path, original_names, node_names, problems=None)


def collect_problems(model: onnx.ModelProto, path, original_names: dict[str, str],
                     node_names: dict[str, str] | None = None) -> list[UnsupportedModelError]:
    """Every reason build_ir would reject the normalized model, not just the first (for `fcomp inspect`).

    A rejected node's outputs stand in as opaque activations of the inferred shape, so the nodes after it are
    still judged."""
    problems: list[UnsupportedModelError] = []
    _walk(model, path, original_names, node_names, problems=problems)
    return problems


def _walk(model, path, original_names, node_names, problems: list | None):
    b = _Builder(model, path, original_names if node_names is None else node_names)
    inp = model.graph.input[0]
    node = Node(name=inp.name, op="input", inputs=[], source=original_names.get(inp.name, inp.name),
                shape=tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)[1:])
    b.nodes.append(node)
    b.produced[inp.name] = node
    for n in model.graph.node:
        if n.name in b.fused:
            continue
        try:
            hint = _QUANT_HINTS.get(n.op_type)
            if n.op_type == "QuantizeLinear" and any(c.op_type in _QOP_OPS for c in model.graph.node
                                                     if n.output and n.output[0] in c.input):
                hint = _QOP + _QDQ     # the integers feed ONNX Runtime's integer ops
            if hint and (n.domain in ("", "ai.onnx") or n.op_type in ("Quant", "BipolarQuant", "Trunc")):
                b.fail(n, hint)
            if n.domain not in ("", "ai.onnx"):
                b.fail(n, f"op of domain '{n.domain}' is not a standard ONNX op; fcomp builds (standard domain): "
                          + ", ".join(SUPPORTED_OPS))
            handler = getattr(b, f"op_{n.op_type}", None)
            if handler is None:
                b.fail(n, "unsupported op; fcomp builds: " + ", ".join(SUPPORTED_OPS))
            need = _MIN_INPUTS.get(n.op_type, 1)
            if len([i for i in n.input if i]) < need or not n.output or not n.output[0]:
                b.fail(n, f"needs at least {need} input(s) and an output")
            handler(n)
        except UnsupportedModelError as exc:
            if problems is None:
                raise
            problems.append(exc)
            for o in n.output:  # an opaque stand-in, so later nodes are judged on their own
                if o and o not in b.produced:
                    shape = b.shapes.get(o) or (1,)
                    b.produced[o] = Node(name=o, op="input", inputs=[], shape=tuple(shape[1:]))
    checks = []
    if len(model.graph.output) != 1:
        checks.append(f"the model has {len(model.graph.output)} outputs; fcomp builds one")
    elif model.graph.output[0].name not in b.produced:
        checks.append(f"graph output '{model.graph.output[0].name}' is not produced by a supported node")
    for message in checks:
        if problems is None:
            raise UnsupportedModelError(path, message)
        problems.append(UnsupportedModelError(path, message))
    if problems is not None:
        return None
    out = model.graph.output[0].name
    return Graph(name=model.graph.name, nodes=b.nodes, outputs=[b.produced[out].name])
