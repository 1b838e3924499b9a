"""Copy the hls4ml project's synthesis sources into the bundle, without build products or machine-specific text.

What a build leaves in `hls/` mixes sources (firmware/, weights, hls4ml's TCL) with things that only make sense on
the machine that built it: the compiled C-simulation library (`firmware/<project>-<stamp>.so`), `build_lib.sh` and
the Python bridge (which hard-code that library's random stamp and the absolute build folder), `hls4ml.log`, and
`hls4ml_config.yml`, whose `OutputDir` is the (temporary) build folder and whose `Stamp` is a fresh uuid on every
write. Sources are copied; the config is rewritten with `OutputDir: .` and a stamp derived from the firmware's
content, so the same model gives the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import FcompError

# never part of the bundle: build products, logs, the C-sim library and its bridge, tool work folders
_SKIP_SUFFIXES = (".so", ".o", ".a", ".log", ".pyc", ".jou")
_SKIP_NAMES = {"build_lib.sh", "__pycache__", ".Xil"}
_SKIP_DIR_SUFFIXES = ("_prj",)          # a Vitis HLS run of hls4ml's own build_prj.tcl


def _skipped(rel: Path, project: str) -> bool:
    parts = rel.parts
    if any(p in _SKIP_NAMES or p.endswith(_SKIP_DIR_SUFFIXES) for p in parts):
        return True
    return rel.name.endswith(_SKIP_SUFFIXES) or rel.name == f"{project}_bridge.cpp"


def source_files(hls_dir: Path, project: str) -> list[Path]:
    """Relative paths of the project's source files, sorted."""
    hls_dir = Path(hls_dir)
    if not (hls_dir / "firmware" / f"{project}.cpp").is_file():
        raise FcompError(f"{hls_dir} is not an hls4ml project (firmware/{project}.cpp is missing); "
                         "run the build first")
    files = [p.relative_to(hls_dir) for p in hls_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted((p for p in files if not _skipped(p, project)), key=lambda p: p.as_posix())


def content_stamp(hls_dir: Path, files: list[Path]) -> str:
    """8 hex digits of the firmware's content: stands in for hls4ml's random `Stamp`."""
    h = hashlib.sha256()
    for rel in files:
        if rel.parts[0] == "firmware":
            h.update(rel.as_posix().encode() + b"\0" + (Path(hls_dir) / rel).read_bytes())
    return h.hexdigest()[:8]


def scrub_config(text: str, stamp: str) -> tuple[str, list[str]]:
    """hls4ml_config.yml with a relative OutputDir and a content stamp; also returns the replaced values (the
    build folder as hls4ml saw it), which must then appear nowhere else in the bundle."""
    replaced = []

    def sub(key: str, value: str, s: str) -> str:
        pattern = re.compile(rf"^{key}:[ \t]*(.*)$", re.M)
        for m in pattern.finditer(s):
            replaced.append(m.group(1).strip().strip("'\""))
        return pattern.sub(f"{key}: {value}", s)

    text = sub("OutputDir", ".", text)
    text = sub("Stamp", stamp, text)
    return text, [r for r in replaced[:1] if r not in ("", ".")]


def copy_hls(hls_dir: Path, dest: Path, project: str) -> list[str]:
    """Copy the sources into dest; returns the machine-specific strings that were scrubbed (to check for)."""
    hls_dir, dest = Path(hls_dir), Path(dest)
    files = source_files(hls_dir, project)
    stamp = content_stamp(hls_dir, files)
    scrubbed: list[str] = []
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (hls_dir / rel).read_bytes()
        if rel.as_posix() == "hls4ml_config.yml":
            text, scrubbed = scrub_config(data.decode("utf-8"), stamp)
            data = text.encode("utf-8")
        target.write_bytes(data)
    return scrubbed
