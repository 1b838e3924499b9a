"""The PE-array RTL in the bundle: shared sources, and per verified layer its generated top and ROM files.

The generator writes each layer's top with absolute `$readmemh` paths (right for the simulator run inside the
build, wrong anywhere else). In the bundle the ROM files are renamed `<top>_codes.mem` etc. (unique across layers)
and the top refers to them by file name alone: Vivado resolves such a name among the project's added files, and a
simulator resolves it in its working directory (the layer's folder, see HANDOFF.md).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..errors import FcompError
from ..names import sanitize
from ..rtl.layer import rom_dir

ROM_FILES = {"CODES_FILE": "codes.mem", "INDEX_FILE": "index.mem", "POST_FILE": "post.mem"}
_PARAM = re.compile(r'\.(CODES_FILE|INDEX_FILE|POST_FILE)\("[^"]*"\)')


def copy_rtl(layers: dict[str, Path], dest: Path, shared_sources: list[Path], include_dir: Path,
             testbench: Path | None) -> list[dict]:
    """Copy shared sources to dest/src, each layer to dest/<layer>/, the cocotb testbench to dest/tb/.

    Returns one row per layer: name, top module, its files relative to dest."""
    dest = Path(dest)
    (dest / "src").mkdir(parents=True, exist_ok=True)
    for src in [*shared_sources, *sorted(Path(include_dir).glob("*.svh"))]:
        shutil.copyfile(src, dest / "src" / Path(src).name)
    if testbench is not None and Path(testbench).is_file():
        (dest / "tb").mkdir(exist_ok=True)
        shutil.copyfile(testbench, dest / "tb" / Path(testbench).name)
    rows = []
    for raw in sorted(layers):
        rom = rom_dir(layers[raw])
        info_path = rom / "layer.json"
        if not info_path.is_file():
            raise FcompError(f"RTL layer {raw}: {info_path} is missing")
        info = json.loads(info_path.read_text(encoding="utf-8"))
        name = sanitize(raw, "layer")
        top = sanitize(info.get("top") or f"fcomp_{name}", "fcomp")
        src_top = rom / f"{info.get('top', top)}.sv"
        if not src_top.is_file():
            raise FcompError(f"RTL layer {raw}: generated top {src_top} is missing")
        out = dest / name
        out.mkdir(parents=True, exist_ok=True)
        mems = {}
        for param, fname in ROM_FILES.items():
            if not (rom / fname).is_file():
                raise FcompError(f"RTL layer {raw}: ROM file {rom / fname} is missing")
            mems[param] = f"{top}_{fname}"
            shutil.copyfile(rom / fname, out / mems[param])
        text = src_top.read_text(encoding="utf-8")
        text, n = _PARAM.subn(lambda m: f'.{m.group(1)}("{mems[m.group(1)]}")', text)
        if n != len(ROM_FILES):
            raise FcompError(f"RTL layer {raw}: {src_top} does not set the {len(ROM_FILES)} ROM file parameters")
        text = re.sub(rf"\bmodule\s+{re.escape(info.get('top', top))}\b", f"module {top}", text, count=1)
        (out / f"{top}.sv").write_text(text, encoding="utf-8")
        (out / "layer.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        rows.append({"layer": name, "top": top, "dir": name, "sv": f"{name}/{top}.sv",
                     "mem": [f"{name}/{mems[p]}" for p in ROM_FILES],
                     "rows": info.get("rows"), "cols": info.get("cols"),
                     "P": info.get("params", {}).get("P"), "S": info.get("params", {}).get("S"),
                     "K": info.get("params", {}).get("K")})
    return rows
