"""A zoo model quantized as users bring one: ONNX Runtime's static quantizer in QDQ format (int8 weights per
output channel, int8 activations, min-max calibration on the first 32 training digits).

    python -m models.quantize digits_cnn          # models/digits_cnn.onnx -> models/digits_cnn_qdq.onnx

The calibration inputs and the method are fixed, so the file is the same on every run.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
CALIBRATION_INPUTS = 32


def quantize_qdq(src: Path, dst: Path, inputs: list[np.ndarray], per_channel: bool = True) -> Path:
    """`src` quantized by onnxruntime.quantization.quantize_static (QDQ, int8) on `inputs` (each with its batch
    dimension) into `dst`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = onnx.load(str(src)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: np.asarray(x, np.float32)} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return dst


def digits_calibration(shape) -> list[np.ndarray]:
    from compiler.datasets import load_digits_split

    x = load_digits_split()[0][:CALIBRATION_INPUTS].astype(np.float32)
    return [v.reshape(1, *shape) for v in x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a zoo digits model (models/<model>.onnx must exist)")
    args = ap.parse_args(argv)
    from models.zoo import MODELS

    spec = MODELS.get(args.model)
    if spec is None or spec.dataset != "digits":
        print(f"error: {args.model} is not a zoo digits model", file=sys.stderr)
        return 2
    src = MODELS_DIR / f"{args.model}.onnx"
    if not src.is_file():
        print(f"error: {src} is missing (python -m models.export {args.model})", file=sys.stderr)
        return 2
    dst = quantize_qdq(src, MODELS_DIR / f"{args.model}_qdq.onnx", digits_calibration(spec.input_shape[1:]))
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
