"""A small torch model taken through what the digits builds do, for op-level tests (test_concat, test_upsample):
dynamo export, import, plan, ternary compression, precisions from calibration inputs, the hls4ml project with
traces (compiled C-sim), the fixed-point network and the generated fcomp_accel."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class SmallNet:
    graph: object          # the compressed IR
    net: object            # compiler.rtl.network.Network
    project: object        # the compiled hls4ml project (traced)
    names: dict            # IR node -> hls4ml layer
    acc: object            # compiler.rtl.accel.Accel
    accel_dir: Path
    x: np.ndarray          # check inputs
    ref: object            # the compressed model as ONNX
    layers: list           # the hls4ml layer list


def build_small_net(module: torch.nn.Module, shape, root: Path, *, pe: int, simd: int, target: float,
                    n_check: int = 4, x: np.ndarray | None = None, cal: np.ndarray | None = None,
                    act_bits: int = 16) -> SmallNet:
    """x / cal: check and calibration inputs (default: uniform [0, 1)); act_bits: the activation width."""
    from compiler.backend.hls4ml_emit import hls_config, lower_to_hls4ml
    from compiler.backend.hls4ml_project import HlsProject
    from compiler.backend.precision import assign_precisions
    from compiler.compress.engine import CompressionConfig, compress
    from compiler.compress.export_onnx import export_compressed_onnx
    from compiler.frontend import import_onnx
    from compiler.plan import plan_layers
    from compiler.rtl.accel import generate, write_accel
    from compiler.rtl.network import build_network
    from compiler.verify.reference import tensor_ranges

    torch.manual_seed(0)
    path = root / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, *shape),), str(path))
    g = import_onnx(path).graph
    plan = plan_layers(g, pe=pe, simd=simd)
    res = compress(g, plan, CompressionConfig(strategy="pe-wise", target=target))
    g = res.graph
    ref = export_compressed_onnx(g)
    rng = np.random.default_rng(0)
    cal = rng.random((32, *shape), dtype=np.float32) if cal is None else cal
    x = rng.random((n_check, *shape), dtype=np.float32) if x is None else x
    prec = assign_precisions(g, tensor_ranges(ref, cal, [n.name for n in g.nodes]), act_bits, 16)
    layers, names = lower_to_hls4ml(g, path, prec)
    project = HlsProject(layers, hls_config(g, layers, names, prec, plan, trace=True), root / "hls",
                         "xczu7ev-ffvc1156-2-e", 200, names[g.inputs[0].name], names[g.outputs[0]])
    project.write()
    project.compile()
    net = build_network(g, prec, plan, res.layers)
    acc = generate(net)
    write_accel(acc, root / "accel")
    return SmallNet(g, net, project, names, acc, root / "accel", x, ref, layers)


def golden_equals_csim_node_by_node(s: SmallNet) -> list[str]:
    """Every traced node of the C-sim equals the golden model's integers (channels-last); the nodes compared."""
    from compiler.rtl.accel_sim import channels_last
    from compiler.rtl.network import run_network

    gold = run_network(s.net, s.x, keep=True)
    trace = s.project.trace(s.x.transpose(0, 2, 3, 1).reshape(len(s.x), -1))
    compared = []
    for name, nn in s.net.nodes.items():
        if s.names[name] not in trace or nn.op in ("input", "flatten"):
            continue
        got = np.round(np.asarray(trace[s.names[name]], np.float64).reshape(len(s.x), -1) * 2.0 ** nn.out.fraction)
        assert np.array_equal(got.astype(np.int64), channels_last(gold[name])), name
        compared.append(name)
    return compared


def golden_follows_onnx_runtime(s: SmallNet) -> None:
    """The golden model's output is within 2% of the compressed model's under ONNX Runtime."""
    import onnxruntime as ort

    from compiler.rtl.network import run_network, to_real

    sess = ort.InferenceSession(s.ref.SerializeToString(), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: s.x[i:i + 1]})[0] for i in range(len(s.x))])
    out = to_real(run_network(s.net, s.x), s.net.output.out)
    assert np.max(np.abs(out - want)) < 0.02 * np.max(np.abs(want)) + 1e-3


def accel_bit_exact(s: SmallNet, tmp_path: Path, check_rate: bool = True) -> None:
    """fcomp_accel in Verilator equals the golden model on every check input, with the output always ready and
    with 30% ready (back-pressure); with check_rate, always ready runs within 2% of the cycle model's frame."""
    from compiler.rtl.accel_sim import simulate_network

    for ready in (1.0, 0.3):
        doc = simulate_network(s.acc, s.x, s.accel_dir, tmp_path / f"r{ready}", ready_prob=ready)
        assert doc["passed"] and doc["mismatches"] == 0 and doc["frames_out"] == len(s.x), doc
        if ready == 1.0 and check_rate:
            predicted = s.acc.cycle_model()["cycles_per_frame"]
            assert abs(doc["cycles_per_frame_measured"] - predicted) <= 0.02 * predicted, (doc, predicted)
