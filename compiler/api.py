"""The Python API: the CLI's verbs as functions for notebooks and scripts.

    from compiler import api
    report = api.build("models/digits_cnn.onnx", board="zcu104", data="digits", output="out")
    api.verify("out")["passed"]; api.inspect("model.onnx")["supported"]; api.boards(); api.report("out")

They raise `compiler.errors.FcompError` (CheckFailedError for a failed check) where the CLI would exit 2 (or 1).
(A module of its own because `compiler.compress`, `compiler.verify` and `compiler.report` are sub-packages.)
"""

from __future__ import annotations


def build(model, board="zcu104", **options) -> dict:
    """`api.build("model.onnx", board="zcu104", output="out")` -> the report (report.json's content).

    Keyword arguments are the fields of `compiler.pipeline.BuildOptions` (`data`, `n_check`, `margin`, ...;
    `compression=None` skips compression, or a `compiler.compress.engine.CompressionConfig`)."""
    from pathlib import Path

    from .pipeline import BuildOptions, build as _build

    return _build(BuildOptions(model=Path(model), board=board, **options))


def compress(model, board="zcu104", **options) -> dict:
    """`api.compress("model.onnx", data="digits", output="out")`: compression only (model.compressed.onnx,
    compression.json); returns compression.json's summary. Options as for `build`."""
    from pathlib import Path

    from .pipeline import BuildOptions, compress_only

    return compress_only(BuildOptions(model=Path(model), board=board, **options))


def verify(output, rtl: bool = True, rtl_frames: int | None = None) -> dict:
    """Re-run a finished build's C-sim check (and the RTL re-simulations: layers and the whole network) without
    modifying it; `["passed"]`."""
    from pathlib import Path

    from .verify.rerun import verify_output

    return verify_output(Path(output), rtl=rtl, rtl_frames=rtl_frames)


def inspect(model) -> dict:
    """What an ONNX file holds and what fcomp cannot build, before any work; `["supported"]`."""
    from .frontend.inspect import inspect_model

    return inspect_model(model)


def boards() -> list[dict]:
    """The known boards (name, part, resources, clock)."""
    from .boards import list_boards

    return [b.to_dict() for b in list_boards()]


def report(output, points=(), html=None):
    """Re-render `output/report.html` (or `html`); points: (strategy, ratio, accuracy) of other runs to plot."""
    from pathlib import Path

    from .report.html import render_html

    return render_html(Path(output), points, None if html is None else Path(html))
