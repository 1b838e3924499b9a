"""Shared pytest setup: markers, import paths and the zoo ONNX files (exported on demand)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
for p in (str(ROOT), str(TESTS)):  # `compiler`, `models` and the helper modules in tests/
    if p not in sys.path:
        sys.path.insert(0, p)

MODELS_DIR = ROOT / "models"


def pytest_configure(config):
    config.addinivalue_line("markers", "sim: runs real simulators (hls4ml C-sim, Verilator, Icarus)")
    config.addinivalue_line("markers", "slow: long end-to-end runs")


@pytest.fixture(autouse=True)
def _restore_fcomp_logging():
    """`cli.main` points fcomp's log at the stderr of the test that called it (captured, closed afterwards); a
    later test logging through that handler prints a '--- Logging error ---' traceback into its own stderr. Every
    test gets the logger back as it found it."""
    from compiler.progress import log

    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:], log.level, log.propagate = saved


_export_lock = threading.Lock()


def ensure_zoo_onnx(name: str) -> Path:
    """models/<name>.onnx, exported with `models.export.export_one` if it is missing (atomic write; in a
    `python -m models.export` subprocess, whose CPU kernels are pinned, unless this process runs them)."""
    path = MODELS_DIR / f"{name}.onnx"
    with _export_lock:
        if not path.exists():
            from models.export import export_one
            from models.zoo import MODELS

            export_one(MODELS[name], MODELS_DIR)
    assert path.is_file() and path.stat().st_size > 0, path
    return path


@pytest.fixture(scope="session")
def zoo_onnx():
    """Callable name -> Path of the zoo model's ONNX file, exporting it first if it is missing.

    Lazy per model, so a test that needs one small model does not pay for exporting all four."""
    return ensure_zoo_onnx


@pytest.fixture(scope="session")
def zoo_paths(zoo_onnx):
    """Every zoo model's ONNX file, {name: Path}; exports the missing ones once per session."""
    from models.zoo import MODELS

    return {name: zoo_onnx(name) for name in MODELS}
