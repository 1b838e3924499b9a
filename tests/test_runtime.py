"""The runtime's word layout (compiler/runtime/wordlayout.py), the one definition the compiler, the testbenches
and the board driver share: packing against a per-element reference, ap_fixed's conversion, framing errors, and
the driver's input checks that need no simulator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.backend.precision import Fixed
from compiler.rtl.network import quantize_input
from compiler.runtime import wordlayout as wl
from compiler.runtime.wordlayout import LayoutError, StreamFormat

ROOT = Path(__file__).resolve().parent.parent


def _fmt(width, frac, signed=True, elements=13, rounding=True, saturate=True) -> StreamFormat:
    lane = wl.lane_bits(width)
    return StreamFormat("t", "x", width, frac, signed, 1, elements, lane, 64, rounding, saturate)


def _pack_ref(v, fmt, extended=False) -> list[int]:
    """Element by element, with Python integers: lane k % per_word of word k // per_word."""
    words = [0] * fmt.words
    bits = fmt.elem_bits if extended else fmt.width
    for k, e in enumerate(v):
        words[k // fmt.per_word] |= (int(e) & ((1 << bits) - 1)) << ((k % fmt.per_word) * fmt.elem_bits)
    return words


@pytest.mark.parametrize("width,signed", [(3, True), (8, True), (8, False), (12, True), (16, True), (17, False),
                                          (24, True), (32, True), (33, True), (64, True)])
def test_pack_and_unpack_agree_with_a_per_element_reference(width, signed):
    fmt = _fmt(width, width // 2, signed)
    rng = np.random.default_rng(width)
    lo, hi = fmt.min_int, fmt.max_int
    v = np.array([int(rng.integers(lo, hi, endpoint=True, dtype=np.int64)) for _ in range(3 * fmt.elements)],
                 dtype=np.int64).reshape(3, -1)
    v[0, 0], v[0, 1] = lo, hi                      # the range's ends
    words = wl.pack(v, fmt)
    assert words.dtype == np.uint64 and words.shape == (3, fmt.words)
    for f in range(3):
        assert [int(w) for w in words[f]] == _pack_ref(v[f], fmt)
        ext = wl.pack(v[f], fmt, extended=True)[0]
        assert [int(w) for w in ext] == _pack_ref(v[f], fmt, extended=True)
    np.testing.assert_array_equal(wl.unpack(words, fmt, extended=False), v)
    np.testing.assert_array_equal(wl.unpack(wl.pack(v, fmt, extended=True), fmt), v)
    if fmt.elem_bits > width and signed:           # an output lane that is not sign-extended is caught
        with pytest.raises(LayoutError, match="sign-extended"):
            wl.unpack(wl.pack(np.full(fmt.elements, -1), fmt), fmt)


def test_pack_rejects_values_outside_the_type_and_frames_of_the_wrong_size():
    fmt = _fmt(8, 4, elements=5)
    with pytest.raises(LayoutError, match="outside the 8-bit signed range"):
        wl.pack([0, 0, 128, 0, 0], fmt)
    with pytest.raises(LayoutError, match="a frame has 5 elements, got 4"):
        wl.pack([0, 0, 0, 0], fmt)
    fmt = _fmt(16, 8, elements=9)                  # 3 words per frame
    assert wl.split_frames(np.zeros(6, np.uint64), fmt).shape == (2, 3)
    with pytest.raises(LayoutError, match="7 words are not a whole number of 3-word frames"):
        wl.split_frames(np.zeros(7, np.uint64), fmt)
    with pytest.raises(LayoutError, match="a frame has 3 words, got 2"):
        wl.unpack(np.zeros((1, 2), np.uint64), fmt)


@pytest.mark.parametrize("rounding,saturate", [(True, True), (False, True), (True, False), (False, False)])
def test_quantize_follows_ap_fixed_and_is_the_golden_models_conversion(rounding, saturate):
    t = Fixed(8, 3, True, saturate=saturate, rounding=rounding)      # fixed<8,3>: 5 fraction bits, [-4, 4)
    fmt = _fmt(8, 5, rounding=rounding, saturate=saturate)
    x = np.array([0.0, 1 / 64, 3 / 64, -1 / 64, -3 / 64, 0.49, 3.99, 4.0, 5.5, -4.0, -4.1, -100.0, 100.0])
    q = wl.quantize(x, fmt)
    np.testing.assert_array_equal(q, quantize_input(x, t))
    s = x * 32
    ref = np.floor(s + 0.5) if rounding else np.floor(s)          # AP_RND: half up (1/64 -> 1, -1/64 -> 0)
    ref = np.clip(ref, -128, 127) if saturate else ((ref.astype(np.int64) + 128) % 256) - 128
    np.testing.assert_array_equal(q, ref.astype(np.int64))
    assert q[1] == (1 if rounding else 0) and q[3] == (0 if rounding else -1)
    with pytest.raises(LayoutError, match="NaN"):
        wl.quantize([0.0, np.nan], fmt)


def test_stream_order_is_channels_last_and_inverts():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    s = wl.to_stream_order(x, [1, 3, 4, 5])
    assert s.shape == (2, 60) and s[0, 1] == x[0, 1, 0, 0] and s[0, 3] == x[0, 0, 0, 1]
    np.testing.assert_array_equal(wl.from_stream_order(s, [1, 3, 4, 5]), x)
    assert wl.to_stream_order(x[0], [1, 3, 4, 5]).shape == (1, 60)     # one frame without its batch dimension
    with pytest.raises(LayoutError, match=r"expected a batch of shape \(n, 3, 5, 4\)"):
        wl.to_stream_order(x, [1, 3, 5, 4])


def test_stream_format_round_trips_through_json_and_checks_derived_keys():
    fmt = _fmt(12, 7, elements=21)
    d = json.loads(json.dumps(fmt.to_dict()))
    assert StreamFormat.from_dict(d) == fmt and d["words"] == 6 and d["per_word"] == 4
    d["words"] = 5
    with pytest.raises(LayoutError, match="words = 5 does not follow"):
        StreamFormat.from_dict(d)
    del d["words"], d["frac"]
    with pytest.raises(LayoutError, match="lacks frac"):
        StreamFormat.from_dict(d)


def _bundle_like(tmp: Path, fmt_in: StreamFormat, fmt_out: StreamFormat, shape) -> Path:
    """A driver/ folder with the runtime's files and a driver.json (no RTL: for the input checks only)."""
    import shutil

    d = tmp / "driver"
    d.mkdir()
    for f in ("driver.py", "wordlayout.py", "simulator.py"):
        shutil.copyfile(ROOT / "compiler" / "runtime" / f, d / f)
    (d / "driver.json").write_text(json.dumps({
        "design": "fcomp_accel", "input": fmt_in.to_dict(), "output": fmt_out.to_dict(), "input_shape": shape,
        "output_shape": [1, fmt_out.elements], "clock_mhz": 200, "rtl_dir": "../rtl",
        "input_reference": "input_reference.npy", "output_reference": "output_reference.npy"}))
    return d


def _driver(d: Path, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(d / "driver.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd or d.parent)


def test_driver_rejects_bad_input_files_with_one_line_and_exit_2(tmp_path):
    fin, fout = _fmt(16, 13, elements=64), _fmt(16, 12, elements=10)
    d = _bundle_like(tmp_path, fin, fout, [1, 64])
    good = tmp_path / "x.npy"
    np.save(good, np.zeros((3, 64), np.float32))
    trunc = tmp_path / "trunc.npy"
    trunc.write_bytes(good.read_bytes()[:-40])
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 63), np.float32))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((1, 64), np.nan, np.float32))
    text = tmp_path / "text.npy"
    text.write_text("hello")
    cases = {trunc: "not a readable .npy", wrong: r"expected a batch of shape \(n, 64\), got \(3, 63\)",
             nan: "NaN", text: "not a readable .npy", tmp_path / "missing.npy": "no such file"}
    for path, msg in cases.items():
        r = _driver(d, "--transport", "sim", "--input", str(path))
        assert r.returncode == 2, (path, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert re.search(msg, lines[0]), (path, lines[0])
    # no RTL in this folder: the sim transport says so (exit 2), after the input passed its checks
    r = _driver(d, "--transport", "sim", "--input", str(good))
    assert r.returncode == 2 and "RTL is missing" in r.stderr
    # no reference in this folder and no --input: told what to pass
    r = _driver(d, "--transport", "sim")
    assert r.returncode == 2 and "no such file" in r.stderr          # driver.json names a reference not there
    cfg = json.loads((d / "driver.json").read_text())
    cfg["input_reference"] = None
    (d / "driver.json").write_text(json.dumps(cfg))
    r = _driver(d, "--transport", "sim")
    assert r.returncode == 2 and "pass --input" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # a broken driver.json
    (d / "driver.json").write_text("{")
    r = _driver(d, "--transport", "sim", "--input", str(good))
    assert r.returncode == 2 and "not a valid fcomp driver.json" in r.stderr


def test_framing_error_names_the_first_word_whose_tlast_is_wrong():
    from compiler.runtime.wordlayout import framing_error

    assert framing_error([0, 0, 1, 0, 0, 1], 3) is None
    assert framing_error([], 3) is None
    assert framing_error([0, 1, 1, 0, 0, 1], 3) == "output word 1: tlast breaks the 3-word framing"
    assert framing_error([0, 0, 1, 0, 0, 0], 3) == "output word 5: tlast breaks the 3-word framing"
    assert framing_error([1, 1], 1) is None and framing_error([1, 0], 1).startswith("output word 1")


def test_driver_reads_the_run_time_weight_transfer_of_the_bundle(tmp_path):
    """A bundle whose design loads weights at run time ships rtl/fcomp_accel/weights.hex (one input word per line):
    the driver's Config.weights() reads it as the words every transport sends first; none without the file."""
    from compiler.runtime.driver import Config

    d = _bundle_like(tmp_path, _fmt(16, 13, elements=64), _fmt(16, 12, elements=10), [1, 64])
    cfg = Config.load(d)
    assert cfg.weights() is None
    acc = tmp_path / "rtl" / "fcomp_accel"
    acc.mkdir(parents=True)
    (acc / "weights.hex").write_text("00000000000000ff\nffffffffffffffff\n0000000000000001\n")
    w = cfg.weights()
    assert w.dtype == np.uint64 and w.tolist() == [255, 2**64 - 1, 1]
