"""fcomp: an FPGA-targeted compression compiler (ONNX CNN -> compressed, verified hls4ml/RTL design).

Stages live in sub-packages: `frontend` (ONNX -> IR), `planner`/`estimate` (board plan), `compress`, `backend`
(hls4ml), `rtl` (PE-array generator), `verify` (C-sim vs ONNX Runtime, RTL), `handoff`, `report`. `pipeline.build`
runs them in order; the CLI (`compiler.cli`) only parses arguments; `compiler.api` has every CLI verb as a function.
"""

__version__ = "0.1.0"


def build(model, board="zcu104", **options) -> dict:
    """`compiler.build("model.onnx", board="zcu104", output="out")` -> the report; see `compiler.api.build`."""
    from .api import build as _build

    return _build(model, board, **options)
