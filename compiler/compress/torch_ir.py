"""The IR as a PyTorch module (for compression training) and the trained weights back into the IR.

`IRModule(graph)` holds one `nn.Conv2d` per conv node and one `nn.Linear` per dense node, keyed by IR node name,
and computes what the IR computes (ONNX semantics, NCHW) on a batch (N, *input_shape) of any N.
`IRModule.weight_transform[name]` lets compression change how a layer's weight is used (a ternarizer, a pruning
mask): forward then uses `transform(layer.weight)`. `ir_from_module` writes the effective weights back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ir import WEIGHTED_OPS, Graph, Node


def _symmetric(pads) -> bool:
    t, l, b, r = pads
    return t == b and l == r


def _torch_pad(pads) -> tuple[int, int, int, int]:
    """IR pads [top, left, bottom, right] as F.pad's (left, right, top, bottom) for the last two dims."""
    t, l, b, r = (int(p) for p in pads)
    return (l, r, t, b)


def _pool_padding_ok(pads, kernel) -> bool:
    """PyTorch's pooling `padding=` is symmetric and at most half the kernel."""
    return _symmetric(pads) and pads[0] <= kernel[0] // 2 and pads[1] <= kernel[1] // 2


class IRModule(nn.Module):
    """A PyTorch module computing an fcomp IR graph; conv/dense weights are trainable parameters."""

    def __init__(self, graph: Graph):
        super().__init__()
        inputs = graph.inputs
        if len(inputs) != 1:
            raise ValueError(f"IRModule needs a graph with one input, got {len(inputs)}")
        self.graph = graph
        self.layers = nn.ModuleDict()
        self.layer_keys: dict[str, str] = {}  # IR node name -> key in self.layers (the name itself unless it clashes)
        self.weight_transform: dict[str, Callable[[Tensor], Tensor]] = {}
        for n in graph.nodes:
            if n.op == "conv":
                layer = self._conv(n)
            elif n.op == "dense":
                layer = self._linear(n)
            else:
                continue
            key = n.name
            # ModuleDict refuses keys that are attributes of ModuleDict ("keys", "train", "to", ...).
            while key in self.layers or hasattr(self.layers, key):
                key = f"m_{key}"
            self.layers[key] = layer
            self.layer_keys[n.name] = key
        # For each value, the index of the last node that reads it (values are freed after that in forward).
        self._last_use: dict[str, int] = {}
        for i, n in enumerate(graph.nodes):
            for inp in n.inputs:
                self._last_use[inp] = i

    @staticmethod
    def _conv(n: Node) -> nn.Conv2d:
        w, b = n.weights["W"], n.weights["b"]
        out_c, in_c, kh, kw = w.shape
        pads = list(n.attrs.get("pads", [0, 0, 0, 0]))
        padding = (pads[0], pads[1]) if _symmetric(pads) else (0, 0)
        g = int(n.attrs.get("group", 1))
        conv = nn.Conv2d(in_c * g, out_c, (kh, kw), stride=tuple(n.attrs.get("strides", [1, 1])), padding=padding,
                         bias=True, groups=g)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.asarray(w, np.float32)))
            conv.bias.copy_(torch.from_numpy(np.asarray(b, np.float32).reshape(-1)))
        return conv

    @staticmethod
    def _linear(n: Node) -> nn.Linear:
        w, b = n.weights["W"], n.weights["b"]  # IR W is (in, out); Linear.weight is (out, in)
        lin = nn.Linear(w.shape[0], w.shape[1], bias=True)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(w, np.float32).T)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, np.float32).reshape(-1)))
        return lin

    def layer(self, name: str) -> nn.Module:
        """The nn.Conv2d / nn.Linear of IR node `name`."""
        return self.layers[self.layer_keys[name]]

    def effective_weight(self, name: str) -> Tensor:
        """The weight forward uses for node `name` (torch layout): the transform applied, if any."""
        w = self.layer(name).weight
        t = self.weight_transform.get(name)
        return w if t is None else t(w)

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)[self.graph.outputs[0]]

    def run(self, x: Tensor, keep: bool = False) -> dict[str, Tensor]:
        """Evaluate the graph on x (N, *input_shape). Returns the graph output(s), or every value if `keep`."""
        vals: dict[str, Tensor] = {}
        outputs = set(self.graph.outputs)
        for i, n in enumerate(self.graph.nodes):
            ins = [vals[k] for k in n.inputs]
            vals[n.name] = self._node(n, x, ins)
            if not keep:
                for k in n.inputs:
                    if self._last_use.get(k) == i and k not in outputs:
                        del vals[k]
        return vals if keep else {k: vals[k] for k in self.graph.outputs}

    def _node(self, n: Node, x: Tensor, ins: list[Tensor]) -> Tensor:
        op, a = n.op, n.attrs
        if op == "input":
            if tuple(x.shape[1:]) != tuple(n.shape):
                want = ", ".join(map(str, n.shape))
                raise ValueError(f"IRModule: input shape {tuple(x.shape)}, expected (N, {want})")
            return x
        if op == "conv":
            layer = self.layer(n.name)
            pads = list(a.get("pads", [0, 0, 0, 0]))
            h = ins[0]
            if _symmetric(pads):
                padding = (pads[0], pads[1])
            else:
                h, padding = F.pad(h, _torch_pad(pads)), (0, 0)
            return F.conv2d(h, self.effective_weight(n.name), layer.bias, stride=tuple(a.get("strides", [1, 1])),
                            padding=padding, groups=int(a.get("group", 1)))
        if op == "dense":
            return F.linear(ins[0], self.effective_weight(n.name), self.layer(n.name).bias)
        if op == "relu":
            return F.relu(ins[0])
        if op == "hardsigmoid":
            return torch.clamp(a["alpha"] * ins[0] + a["beta"], 0.0, 1.0)
        if op == "hardswish":
            return ins[0] * torch.clamp(a["alpha"] * ins[0] + a["beta"], 0.0, 1.0)
        if op == "sigmoid":
            return torch.sigmoid(ins[0])
        if op == "clip":
            if a.get("min") is None and a.get("max") is None:
                return ins[0]
            return torch.clamp(ins[0], min=a.get("min"), max=a.get("max"))
        if op == "add":
            return ins[0] + ins[1]
        if op == "concat":
            return torch.cat(ins, dim=1 + int(a.get("axis", 0)))
        if op == "maxpool":
            k, s, pads = list(a["kernel"]), list(a.get("strides", [1, 1])), list(a.get("pads", [0, 0, 0, 0]))
            if _pool_padding_ok(pads, k):
                return F.max_pool2d(ins[0], k, s, padding=(pads[0], pads[1]))
            return F.max_pool2d(F.pad(ins[0], _torch_pad(pads), value=float("-inf")), k, s)
        if op == "avgpool":
            k, s, pads = list(a["kernel"]), list(a.get("strides", [1, 1])), list(a.get("pads", [0, 0, 0, 0]))
            include = bool(a.get("count_include_pad", 0))
            if not any(pads):
                return F.avg_pool2d(ins[0], k, s)
            if _pool_padding_ok(pads, k):
                return F.avg_pool2d(ins[0], k, s, padding=(pads[0], pads[1]), count_include_pad=include)
            total = F.avg_pool2d(F.pad(ins[0], _torch_pad(pads)), k, s)
            if include:
                return total
            ones = torch.ones((1, 1, *ins[0].shape[2:]), dtype=ins[0].dtype, device=ins[0].device)
            return total / F.avg_pool2d(F.pad(ones, _torch_pad(pads)), k, s)  # mean over the real pixels only
        if op == "upsample":
            sh, sw = a["scale"]
            return ins[0].repeat_interleave(sh, dim=2).repeat_interleave(sw, dim=3)
        if op == "globalavgpool":
            return ins[0].mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1) like ONNX; the IR shape is (C, 1, 1)
        if op == "flatten":
            return ins[0].reshape(ins[0].shape[0], -1)
        raise ValueError(f"IRModule: IR node {n.name} has unknown op {op}")


def weighted_modules(module: IRModule) -> dict[str, nn.Module]:
    """IR node name -> its nn.Conv2d / nn.Linear, in graph order."""
    return {name: module.layers[key] for name, key in module.layer_keys.items()}


def ir_from_module(graph: Graph, module: IRModule, extra: dict[str, dict[str, np.ndarray]] | None = None) -> Graph:
    """A new Graph like `graph` with conv/dense weights (after any weight_transform) taken from `module`.

    Weights are float32 numpy in IR layout (conv W (out, in, kh, kw), dense W (in, out), b (out,)).
    `extra[node]` is merged into that node's weights (e.g. `codes`, `scale`); nothing else changes.
    """
    extra = dict(extra or {})
    names = {n.name for n in graph.nodes}
    unknown = sorted(set(extra) - names)
    if unknown:
        raise ValueError(f"ir_from_module: extra weights for unknown IR nodes {unknown}")
    nodes = []
    with torch.no_grad():
        for n in graph.nodes:
            weights = dict(n.weights)
            if n.op in WEIGHTED_OPS:
                if n.name not in module.layer_keys:
                    raise ValueError(f"ir_from_module: the module has no layer for IR node {n.name}")
                w = module.effective_weight(n.name).detach().to("cpu", torch.float32).numpy()
                b = module.layer(n.name).bias.detach().to("cpu", torch.float32).numpy()
                if n.op == "dense":
                    w = w.T
                w = np.ascontiguousarray(w, dtype=np.float32).copy()
                if w.shape != n.weights["W"].shape:
                    raise ValueError(f"ir_from_module: IR node {n.name} W has shape {n.weights['W'].shape}, "
                                     f"the module's weight gives {w.shape}")
                weights["W"], weights["b"] = w, np.array(b, dtype=np.float32).reshape(-1)
                # new weights: codes/scale the input IR carried (a quantized model's ternary layers,
                # `frontend.mark_ternary`) no longer describe them; `extra` gives the new ones
                weights.pop("codes", None)
                weights.pop("scale", None)
            for k, v in extra.get(n.name, {}).items():
                weights[k] = np.asarray(v)
            nodes.append(dataclasses.replace(n, inputs=list(n.inputs), attrs=dict(n.attrs), weights=weights))
    return graph.replace(nodes=nodes)


__all__ = ["IRModule", "weighted_modules", "ir_from_module"]
