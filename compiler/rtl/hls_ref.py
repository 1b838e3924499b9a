"""hls4ml's C simulation of one layer with the same fixed-point types, as a second, independent reference for
the PE-array RTL: the layer alone (input -> conv/dense on int<2> codes -> per-channel scale stage) through
fcomp's own backend (the lowering, precisions and hls4ml project code `fcomp build` uses), compiled with g++ and
run on the same quantized activations."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..ir import Graph, Node
from .data import RealLayer, layer_vectors, quantize


class LayerCsim:
    """One real layer as a one-layer hls4ml model, written and compiled once."""

    def __init__(self, real: RealLayer, out_dir: Path, board: str = "zcu104"):
        from ..backend.hls4ml_emit import hls_config, lower_to_hls4ml
        from ..backend.hls4ml_project import HlsProject
        from ..boards import get_board

        self.real = real
        node = real.node
        src = real.graph.node(node.inputs[0])
        self.in_shape = tuple(src.shape)
        inp = Node("x_in", "input", [], self.in_shape)
        layer = copy.copy(node)
        layer.inputs = ["x_in"]
        graph = Graph("rtl_ref", [inp, layer], [layer.name])
        precisions = {"x_in": {"result": real.precisions[node.inputs[0]]["result"]},
                      layer.name: real.precisions[node.name]}
        layers, names = lower_to_hls4ml(graph, "rtl_ref", precisions)
        cfg = hls_config(graph, layers, names, precisions, {layer.name: real.mapping})
        b = get_board(board)
        self.project = HlsProject(layers, cfg, Path(out_dir), b.part, b.clock_mhz, names["x_in"], names[layer.name])
        self.project.write()
        self.project.compile()

    def run(self, acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Real input activations (n, *in_shape) -> (integer input vectors (m, cols), C-sim outputs (m, rows) as
        integers), one row per output vector (output pixel of a conv, in im2col order)."""
        fmt, node = self.real.fmt, self.real.node
        xq = quantize(acts, fmt.in_bits, fmt.in_frac)
        x_real = xq * 2.0 ** -fmt.in_frac                    # exactly representable in the input type
        if len(self.in_shape) == 3:
            feed = x_real.transpose(0, 2, 3, 1)                 # channels-last
        else:
            feed = x_real
        y = self.project.predict(feed.reshape(len(acts), -1))
        rows = self.real.rtl.rows
        y = y.reshape(len(acts), -1, rows).reshape(-1, rows)    # (H, W, F) -> pixels x F
        y_int = np.round(y.astype(np.float64) * 2.0 ** fmt.out_frac).astype(np.int64)
        vectors = np.concatenate([layer_vectors(node, a) for a in xq])
        return vectors, y_int
