"""Bounded fuzzing of the ONNX frontend: corpus replay plus a short hypothesis run over bench/fuzz.py's mutators.

Every input must end in an accepted model or one FcompError line; a crash (any other exception), a hang or
running out of memory fails the test. Cases run in bench/fuzz.py's worker process under RLIMIT_AS and a
timeout, exactly as the 10,000-case bench does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
ENTRIES = sorted(k for k in MANIFEST if not k.startswith("_"))

sys.path.insert(0, str(ROOT / "bench"))
import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def runner():
    with fuzz.Runner(timeout=20.0, mem_mb=1024) as r:
        yield r


@pytest.fixture(scope="module")
def inspect_runner():
    with fuzz.Runner(timeout=20.0, mem_mb=1024, target="inspect") as r:
        yield r


@pytest.fixture(scope="module")
def differential_runner():
    """import_onnx, and for each accepted model the IR (numpy interpreter) against ONNX Runtime on the file."""
    with fuzz.Runner(timeout=20.0, mem_mb=1024, target="differential") as r:
        yield r


@pytest.fixture(scope="module")
def seeds():
    return fuzz.seed_models()


def test_corpus_files_and_manifest_agree():
    files = sorted(p.name for p in CORPUS.glob("*.onnx"))
    assert files == ENTRIES
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 2 * 1024**2


@pytest.mark.parametrize("name", ENTRIES)
def test_corpus_replay(runner, name):
    want = MANIFEST[name]
    out = runner.run((CORPUS / name).read_bytes())
    assert out.kind == want["expect"], f"{name}: {out.kind}: {out.detail}"
    for text in want["contains"]:
        assert text in out.detail, f"{name}: {text!r} not in {out.detail!r}"
    if out.kind == "error":
        assert "\n" not in out.detail and len(out.detail) <= 2000


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case_seed=st.integers(0, 2**32 - 1), seed_name=st.sampled_from(fuzz.ZOO_SEEDS + fuzz.BUILDER_SEEDS))
def test_fuzzed_models_end_in_accept_or_fcomp_error(differential_runner, seeds, case_seed, seed_name):
    case = fuzz.make_case(seeds, case_seed, seed_name=seed_name)
    out = differential_runner.run(case.data)  # "mismatch": accepted, but the IR computes something else
    assert out.kind in ("accepted", "error"), f"{seed_name} {case.steps}: {out.kind}\n{out.detail}"


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case_seed=st.integers(0, 2**32 - 1), seed_name=st.sampled_from(fuzz.ZOO_SEEDS + fuzz.BUILDER_SEEDS))
def test_fuzzed_models_are_inspectable(inspect_runner, seeds, case_seed, seed_name):
    """`fcomp inspect` reads the same untrusted files: a table or one FcompError line, nothing else."""
    case = fuzz.make_case(seeds, case_seed, seed_name=seed_name)
    out = inspect_runner.run(case.data)
    assert out.kind in ("accepted", "error"), f"{seed_name} {case.steps}: {out.kind}\n{out.detail}"


def test_differential_oracle_sees_a_wrong_ir(tmp_path):
    """The IR-vs-ONNX-Runtime check the hypothesis run relies on does notice a wrong layer."""
    import onnx_builders as B
    from compiler.frontend import import_onnx

    path = B.save(B.gemm_model(), tmp_path / "gemm.onnx")
    result = import_onnx(path)
    assert fuzz._differential(path, result) is None
    dense = next(n for n in result.graph.nodes if n.op == "dense")
    dense.weights["W"] = dense.weights["W"] * 1.01
    assert "differs from ONNX Runtime" in fuzz._differential(path, result)


def test_runner_reports_hangs_and_memory(seeds):
    """The harness itself can fail: a too-short timeout is a hang, a tiny address-space budget is out of memory."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    with fuzz.Runner(timeout=1e-4) as r:
        assert r.run(seeds["digits_resnet"]).kind == "hang"
    model = onnx.ModelProto()
    model.ParseFromString(seeds["gemm_model"])  # plus a 64 MB initializer that decoding has to allocate
    model.graph.initializer.append(numpy_helper.from_array(np.ones(1 << 24, np.float32), "big"))
    with fuzz.Runner(timeout=20.0, mem_mb=16) as r:
        assert r.run(model.SerializeToString()).kind in ("memory", "crash")


def test_runner_reports_a_dead_worker_as_crash(tmp_path):
    """A worker that dies (here: killed between cases) is a crash, and the next case gets a fresh one."""
    with fuzz.Runner(timeout=20.0) as r:
        out = r.run(b"")  # empty file: a clean error
        assert out.kind == "error" and "empty file" in out.detail
        r._proc.kill()
        r._proc.join()
        assert r.run(b"").kind == "crash"
        assert r.run(b"").kind == "error"


def test_bench_cli_reports_the_figures():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--cases", "60", "--jobs", "1", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["cases"] == 60
    assert report["accepted"] + report["clean_errors"] == 60
    assert report["crashes"] == report["hangs"] == report["memory"] == 0
    assert report["peak_worker_rss_mb"] > 0


def test_protobuf_running_out_of_memory_is_not_a_verdict_on_the_model(tmp_path, monkeypatch):
    """Under a small address-space budget protobuf reports "Arena alloc failed" as a DecodeError; that is an
    out-of-memory (MemoryError), not "not a readable ONNX model" (the fuzz runner saw it as a clean error)."""
    import google.protobuf.message
    import onnx

    from compiler.errors import FcompError
    from compiler.frontend import import_onnx

    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x08")

    def fail(*a, **k):
        raise google.protobuf.message.DecodeError("Error parsing message with type 'onnx.ModelProto': Arena alloc failed")

    monkeypatch.setattr(onnx, "load_model", fail)
    with pytest.raises(MemoryError, match="out of memory"):
        import_onnx(path)
    monkeypatch.setattr(onnx, "load_model", lambda *a, **k: (_ for _ in ()).throw(
        google.protobuf.message.DecodeError("Error parsing message")))
    with pytest.raises(FcompError, match="not a readable ONNX model"):
        import_onnx(path)
