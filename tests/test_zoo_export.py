"""The zoo is reproducible: `python -m models.export` gives the same bytes whatever the machine's vector ISA and
thread count. Two exports of digits_mlp (the cheapest trained model) in separate processes standing in for two
machines: one as `make build` runs it, one from a process that loaded torch first with 2 threads and the kernels
a different CPU would pick (AVX2 for PyTorch, MKL and oneDNN). Without the export's kernel pinning the second
gives other bytes (measured: a different sha256 under ATEN_CPU_CAPABILITY=avx2 or MKL_ENABLE_INSTRUCTIONS=AVX2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

ROOT = Path(__file__).resolve().parent.parent
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*OTHER_CPU, "MKL_CBWR")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **extra}


def _run(cmd: list[str], env: dict) -> dict:
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


# digits_cnn (slow, not in `make test`): its convolutions, which oneDNN would run with ISA- and cache-dependent
# kernels
@pytest.mark.parametrize("name", ["digits_mlp", pytest.param("digits_cnn", marks=pytest.mark.slow)])
def test_export_is_the_same_on_any_cpu_and_thread_count(tmp_path, name):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = _run([sys.executable, "-m", "models.export", name, "--out", str(a), "--json"], _env())
    code = ("import json, sys, torch; torch.set_num_threads(2); from pathlib import Path; "
            "from models.export import export_one; from models.zoo import MODELS; "
            f"print(json.dumps(export_one(MODELS[{name!r}], Path({str(b)!r}))))")
    second = _run([sys.executable, "-c", code], _env(**OTHER_CPU))
    assert (a / f"{name}.onnx").read_bytes() == (b / f"{name}.onnx").read_bytes()
    assert first["sha256"] == second["sha256"] and first["test_accuracy"] == second["test_accuracy"]
    meta = {p.key: p.value for p in onnx.load(str(a / f"{name}.onnx")).metadata_props}
    assert meta["fcomp.test_accuracy"] == f"{first['test_accuracy']:.6f}"
    assert first["test_accuracy"] > 0.9         # trained, not the random init


def _readme_fp32_accuracy(name: str) -> float:
    """The fp32 test accuracy README's "Measured figures" build table states for a digits zoo model (the number
    before the '->' of its compression column)."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(l for l in text.splitlines() if re.match(rf"\| {name}\b[ ,(]", l))
    return float(re.search(r"(\d+\.\d+)% -> \d+\.\d+%", row).group(1)) / 100


@pytest.mark.parametrize("name", ["digits_resnet", "digits_cnn", "digits_mlp"])
def test_readme_states_the_exported_fp32_accuracy(zoo_onnx, name):
    """The exported model's test accuracy (450 held-out digits, recorded by the export in the ONNX metadata) is the
    README's, to its rounding (0.01 points; one sample is 0.22). A stale models/*.onnx from before the kernels
    were pinned fails here too: re-export it with `python -m models.export --force NAME`."""
    meta = {p.key: p.value for p in onnx.load(str(zoo_onnx(name))).metadata_props}
    assert abs(float(meta["fcomp.test_accuracy"]) - _readme_fp32_accuracy(name)) < 5e-5, meta
