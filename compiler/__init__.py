"""fcomp: an FPGA-targeted compression compiler (ONNX CNN -> compressed, verified hls4ml/RTL design).

Stages live in sub-packages: `frontend` (ONNX -> IR), `plan` (PE mapping), `backend` (hls4ml), `verify`
(C-sim vs ONNX Runtime). `build` runs them in order; the CLI (`compiler.cli`) only parses arguments.
"""

__version__ = "0.1.0"


def build(model, board="zcu104", **options):
    """Python API: `compiler.build("model.onnx", board="zcu104", output="out")` -> report dict."""
    from pathlib import Path

    from .pipeline import BuildOptions, build as _build

    return _build(BuildOptions(model=Path(model), board=board, **options))
