"""Write and compile the hls4ml project (Vitis backend, io_stream) and run its C simulation.

hls4ml prints freely; everything it says goes to `hls4ml.log` in the project folder so fcomp's own output stays
readable and nothing is lost for debugging.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from ..errors import FcompError

PROJECT_NAME = "fcomp_top"


@contextlib.contextmanager
def _captured(log_path: Path):
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            yield
    finally:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(buf.getvalue())


# hls4ml 1.3.0's Vitis io_stream pooling2d_cl asserts pool size == stride, although the line-buffer code it runs
# (compute_pool_buffer_2d) steps its window with the same stride counters as the conv line buffer, which handles
# any stride. ResNet's 3x3/2 MaxPool needs it; the C-sim vs ONNX Runtime check verifies the result.
_POOL_STRIDE_ASSERT = ("    assert(CONFIG_T::pool_height == CONFIG_T::stride_height && "
                       "CONFIG_T::pool_width == CONFIG_T::stride_width);\n")
_POOL_HEADER = "firmware/nnet_utils/nnet_pooling_stream.h"


def patch_firmware(project_dir: Path) -> None:
    """Lift the pool==stride assertion of the 2-D streaming pooling (the first one, in pooling2d_cl)."""
    header = Path(project_dir) / _POOL_HEADER
    text = header.read_text(encoding="utf-8")
    start = text.find("void pooling2d_cl(")
    at = text.find(_POOL_STRIDE_ASSERT, start)
    if start < 0 or at < 0:
        raise FcompError(f"unexpected hls4ml pooling header {header}; fcomp supports hls4ml 1.3.0")
    text = text[:at] + "    // fcomp: strided pooling windows are handled by compute_pool_buffer_2d\n" + \
        text[at + len(_POOL_STRIDE_ASSERT):]
    header.write_text(text, encoding="utf-8")


class HlsProject:
    """An hls4ml ModelGraph plus the folder it lives in."""

    def __init__(self, layers, hls_cfg, out_dir: Path, part: str, clock_mhz: float, input_name: str,
                 output_name: str):
        from hls4ml.model import ModelGraph
        from hls4ml.utils.config import create_config

        self.out_dir = Path(out_dir)
        self.log = self.out_dir / "hls4ml.log"
        cfg = create_config(output_dir=os.fspath(self.out_dir), project_name=PROJECT_NAME, backend="Vitis",
                            part=part, io_type="io_stream", clock_period=round(1000.0 / clock_mhz, 3))
        cfg["HLSConfig"] = hls_cfg
        with _captured(self.log):
            try:
                self.model = ModelGraph.from_layer_list(cfg, layers, inputs=[input_name], outputs=[output_name])
            except Exception as exc:
                raise FcompError(f"hls4ml rejected the lowered model: {type(exc).__name__}: {exc}") from None

    def write(self):
        with _captured(self.log):
            self.model.write()
        patch_firmware(self.out_dir)

    def compile(self):
        """Builds the C-simulation library with g++ (hls4ml's build_lib.sh) from what `write` left on disk.

        ModelGraph.compile() would write the project again (undoing `patch_firmware` and costing the write time
        twice), so the backend's compile step is called directly.
        """
        self._memo = {}
        with _captured(self.log):
            try:
                self.model._compile()
            except Exception as exc:
                raise FcompError(f"hls4ml C-simulation build failed ({exc}); see {self.log}") from None

    def predict(self, x_channels_last: np.ndarray) -> np.ndarray:
        """C-sim outputs of a batch of frames, one row per frame.

        The C simulation is deterministic and slow (about 50 s per 224x224 ResNet-18 frame), so each frame's
        output is kept, keyed by the frame's float32 bytes: a frame the check already ran (the handoff's driver
        references are the check inputs) costs nothing the second time. `compile()` clears the memo."""
        x = np.ascontiguousarray(x_channels_last, dtype=np.float32)
        memo = self.__dict__.setdefault("_memo", {})
        keys = [(f.shape, f.tobytes()) for f in x]
        todo = sorted({i for i, k in enumerate(keys) if k not in memo})
        if todo:
            with _captured(self.log):
                y = np.asarray(self.model.predict(np.ascontiguousarray(x[todo]))).reshape(len(todo), -1)
            for i, row in zip(todo, y):
                memo.setdefault(keys[i], row.copy())
        return np.stack([memo[k] for k in keys]) if keys else np.zeros((0, 0))

    def trace(self, x_channels_last: np.ndarray) -> dict[str, np.ndarray]:
        with _captured(self.log):
            _, tr = self.model.trace(np.ascontiguousarray(x_channels_last, dtype=np.float32))
        return tr


def firmware_products(project_dir: Path) -> dict[str, list[str]]:
    """hls4ml layer name -> the `nnet::product::<kind>` its generated configuration uses, read back from the
    written firmware (parameters.h: each layer's config structs follow a `// <layer name>` line), so the report
    states what the C++ actually does rather than what fcomp asked for."""
    import re

    text = (Path(project_dir) / "firmware" / "parameters.h").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    blocks = re.split(r"^// ([A-Za-z_][A-Za-z0-9_]*)\n", text, flags=re.M)
    for name, body in zip(blocks[1::2], blocks[2::2]):
        kinds = re.findall(r"nnet::product::(\w+)<", body)
        if kinds:
            out[name] = sorted(set(kinds))
    return out
