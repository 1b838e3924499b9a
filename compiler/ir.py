"""fcomp's intermediate representation: a graph of layers with numpy weights.

One IR flows through every stage (compression, backend, verification). It keeps ONNX semantics
(NCHW, batch 1 implied and omitted from shapes) so it can be checked against ONNX Runtime at any time;
the backend alone turns it channels-last for hls4ml.

Each node has exactly one output, named after the node, so a node's name is also its tensor's name.
Names are sanitized (`compiler.names`) before they get here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

# Canonical ops and the attributes each one carries.
OPS = {
    "input": (),
    "conv": ("kernel", "strides", "pads", "group"),  # weights: W (out, in/group, kh, kw), b (out,); group 1 if absent
    "dense": (),                                    # weights: W (in, out), b (out,)
    "relu": (),
    "clip": ("min", "max"),
    "hardsigmoid": ("alpha", "beta"),               # max(0, min(1, alpha x + beta))
    "hardswish": ("alpha", "beta"),                 # x * max(0, min(1, alpha x + beta)); ONNX: alpha 1/6, beta 1/2
    "sigmoid": (),                                  # hls4ml's table: 1024 entries over [-8, 8)
    "add": (),
    "concat": ("axis",),                            # axis 0: channels (NCHW without batch) or features
    "maxpool": ("kernel", "strides", "pads"),
    "avgpool": ("kernel", "strides", "pads", "count_include_pad"),
    "globalavgpool": (),
    "upsample": ("scale",),                         # nearest neighbour by integer (sh, sw): out[y, x] = in[y // sh, x // sw]
    "flatten": (),
}
WEIGHTED_OPS = ("conv", "dense")


def conv_groups(node: "Node") -> int:
    """Groups of a conv node (ONNX Conv's `group`): output channel r reads input channels g*C/G .. (g+1)*C/G - 1
    of its group g = r // (out/G); 1 for an ordinary conv, C for a depthwise one."""
    return int(node.attrs.get("group", 1)) if node.op == "conv" else 1


def is_grouped(node: "Node") -> bool:
    return conv_groups(node) > 1


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    shape: tuple[int, ...]                     # output shape without batch, channels first
    attrs: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""                           # the original ONNX node name(s), for messages only

    @property
    def params(self) -> int:
        """Parameters of the layer (W and b; `codes`/`scale` of a compressed layer are another view of W)."""
        return int(sum(self.weights[k].size for k in ("W", "b") if k in self.weights))

    def macs(self) -> int:
        """Multiply-accumulates per inference (batch 1)."""
        if self.op == "conv":
            out_c, in_c, kh, kw = self.weights["W"].shape
            return int(np.prod(self.shape) * in_c * kh * kw)
        if self.op == "dense":
            return int(self.weights["W"].size)
        return 0


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    outputs: list[str]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self._check()

    def _check(self):
        seen: set[str] = set()
        for n in self.nodes:
            if n.op not in OPS:
                raise ValueError(f"IR node {n.name}: unknown op {n.op}")
            if n.name in seen:
                raise ValueError(f"IR node name {n.name} is not unique")
            for i in n.inputs:
                if i not in seen:
                    raise ValueError(f"IR node {n.name}: input {i} is not produced earlier (not topological)")
            seen.add(n.name)
        for o in self.outputs:
            if o not in seen:
                raise ValueError(f"IR output {o} is not produced by any node")

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "input"]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def weighted(self) -> list[Node]:
        return [n for n in self.nodes if n.op in WEIGHTED_OPS]

    def replace(self, nodes: list[Node] | None = None, outputs: list[str] | None = None) -> "Graph":
        """A new graph sharing unchanged nodes; passes return new graphs rather than mutate."""
        return dataclasses.replace(self, nodes=list(self.nodes if nodes is None else nodes),
                                   outputs=list(self.outputs if outputs is None else outputs))

    def summary(self) -> list[dict]:
        rows = []
        for n in self.nodes:
            rows.append({"name": n.name, "op": n.op, "onnx_name": n.source, "inputs": list(n.inputs),
                         "shape": list(n.shape), "params": n.params, "macs": n.macs(),
                         "attrs": {k: v for k, v in n.attrs.items()}})
        return rows
