"""ONNX Runtime as the reference: final outputs and every intermediate tensor of the normalized model."""

from __future__ import annotations

import numpy as np
import onnx


def run_onnx(model: onnx.ModelProto, x: np.ndarray, tensors: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run `model` on a batch x (N, ...) one sample at a time (models are batch 1); returns stacked outputs.

    `tensors` names intermediate tensors to expose as extra outputs (IR node names are ONNX tensor names).
    """
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    for t in tensors or []:
        if t not in existing and t != m.graph.input[0].name:
            m.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    in_name = m.graph.input[0].name
    names = [o.name for o in sess.get_outputs()]
    results: dict[str, list] = {n: [] for n in names}
    for i in range(x.shape[0]):
        for n, v in zip(names, sess.run(names, {in_name: x[i:i + 1].astype(np.float32)})):
            results[n].append(v[0])
    out = {n: np.stack(v) for n, v in results.items()}
    if tensors and in_name in tensors:
        out[in_name] = x.astype(np.float32)
    return out


def tensor_ranges(model: onnx.ModelProto, x: np.ndarray, tensors: list[str]) -> dict[str, float]:
    """Largest |value| seen per tensor on calibration inputs; the backend sizes fixed-point types from it."""
    outs = run_onnx(model, x, tensors)
    return {t: float(np.max(np.abs(outs[t]))) for t in tensors}
