"""The whole-network checks of `fcomp build` and `fcomp verify`:

* golden: the integer model of the network (`compiler.rtl.network`) against hls4ml's C-sim bit for bit on the
  check inputs, and on every labelled test input (accuracy, top-1 agreement with ONNX Runtime);
* rtl: `fcomp_accel` generated into rtl/fcomp_accel/ and simulated end to end with Verilator, every output word
  against the golden model, cycles per frame against the cycle model. Its stimulus and expected outputs stay in
  rtl/fcomp_accel/ so `fcomp verify` re-simulates them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import FcompError
from ..progress import log
from ..rtl.accel import ACCEL_DIR, ACCEL_JSON, STIMULUS, Accel, generate, write_accel
from ..rtl.accel_sim import AccelSim, channels_last, simulate_network
from ..rtl.network import Network, from_real, run_network, to_real

MAX_SIM_CYCLES = 2_000_000          # default frames are simulated only below this many predicted cycles
DEFAULT_FRAMES = 4


def golden_check(net: Network, csim_out: np.ndarray, x_check: np.ndarray, test: tuple | None,
                 reference_onnx, output_to_onnx_order) -> dict:
    """golden vs C-sim on the check inputs (bit-exact), and on the labelled test split when there is one."""
    from .reference import run_onnx

    out_t = net.output.out
    gold = run_network(net, x_check).reshape(len(x_check), -1)
    sim = from_real(output_to_onnx_order(csim_out), out_t).reshape(len(x_check), -1)
    diff = int(np.sum(gold != sim))
    doc = {"check_inputs": int(len(x_check)), "bit_exact_vs_csim": diff == 0, "mismatches_vs_csim": diff,
           "output_type": out_t.hls()}
    if test is not None:
        x, y = test
        g = np.concatenate([run_network(net, x[i:i + 256]).reshape(len(x[i:i + 256]), -1)
                            for i in range(0, len(x), 256)])
        ref = run_onnx(reference_onnx, x)[net.graph.outputs[0]].reshape(len(x), -1)
        doc.update({"inputs": int(len(x)), "split": "test", "accuracy": float(np.mean(g.argmax(1) == y)),
                    "accuracy_onnx": float(np.mean(ref.argmax(1) == y)),
                    "top1_agreement_onnx": float(np.mean(g.argmax(1) == ref.argmax(1))),
                    "max_abs_error_onnx": float(np.max(np.abs(to_real(g, out_t) - ref)))})
    else:
        doc["inputs"] = int(len(x_check))
    doc["passed"] = doc["bit_exact_vs_csim"]
    doc["message"] = (f"golden model vs C-sim: {'bit-exact' if diff == 0 else f'{diff} values differ'} on "
                      f"{len(x_check)} inputs" + (f"; test split ({doc['inputs']} inputs): accuracy "
                                                 f"{doc['accuracy']:.2%}, top-1 agreement with ONNX Runtime "
                                                 f"{doc['top1_agreement_onnx']:.2%}" if test is not None else ""))
    return doc


def network_frames(acc: Accel, requested: int | None) -> tuple[int, str | None]:
    """Frames to simulate: `requested`, or by default DEFAULT_FRAMES when their predicted cycles are under
    MAX_SIM_CYCLES (else 0, with the reason)."""
    ii = acc.cycle_model()["cycles_per_frame"]
    if requested is not None:
        return requested, None
    n = DEFAULT_FRAMES
    if n * ii > MAX_SIM_CYCLES:
        return 0, (f"whole-network RTL simulation skipped: {n} frames are {n * ii:,} cycles by the cycle model "
                   f"(default limit {MAX_SIM_CYCLES:,}); run it with --rtl-frames N (fcomp build or fcomp verify)")
    return n, None


def resources_model(accel_dir: Path) -> dict:
    """LUT/FF/BRAM36 of the generated fcomp_accel by the per-module cost model fitted on Yosys synthesis
    (`compiler.synth.costmodel`; `fcomp synth` measures them): total, per node and the module kinds it has no fit
    for (then the total is a lower bound)."""
    from ..synth.costmodel import predict_instances
    from ..synth.instances import read_accel

    m = predict_instances(read_accel(accel_dir)[0])
    return {"what": "cost model of the generated design, fitted on Yosys 0.23 synth_xilinx of generated modules "
                    "(an estimate: `fcomp synth OUT` measures it)", "total": m["total"],
            "not_modelled": m["not_modelled"], "total_is_lower_bound": m["total_is_lower_bound"],
            "calibration_designs": m["calibration"].get("designs", []), "nodes": m["nodes"]}


def rtl_network(net: Network, rtl_dir: Path, x: np.ndarray, frames: int | None) -> dict:
    """Generate rtl/fcomp_accel/, and simulate `frames` frames of x (cycled when fewer) end to end."""
    acc = generate(net)
    accel_dir = Path(rtl_dir) / ACCEL_DIR
    write_accel(acc, accel_dir)
    n, why = network_frames(acc, frames)
    model = acc.cycle_model()
    doc = {"top": "fcomp_accel", "dir": f"rtl/{ACCEL_DIR}", "cycles_per_frame_predicted": model["cycles_per_frame"],
           "bottleneck": model["bottleneck"], "fifo_depths": acc.fifo_depths, "frames": n,
           "resources_model": resources_model(accel_dir)}
    if n == 0:
        doc.update(passed=None, skipped=why)
        log.warning(why)
        return doc
    xs = np.concatenate([x] * (-(-n // len(x))))[:n]
    gold = run_network(net, xs, keep=True)
    # frame 0 of every node, in stream order: `fcomp verify` names the first node a re-simulation differs in
    first = {f"node_{acc.ids[n]}": channels_last(gold[n][:1])[0] for n in net.order}
    np.savez(accel_dir / STIMULUS, x=channels_last(gold[net.input.name]),
             y=channels_last(gold[net.graph.outputs[0]]), **first)
    doc.update(simulate_accel(acc, accel_dir, xs))
    return doc


def simulate_accel(acc: Accel, accel_dir: Path, xs: np.ndarray, work: Path | None = None) -> dict:
    """Two runs of the frames xs: sink always ready (cycles per frame and latency measured there) and with
    random back-pressure (ready half the time); both must be bit-exact."""
    tmp = Path(tempfile.mkdtemp(prefix="fcomp-accel-")) if work is None else Path(work)
    try:
        sim = AccelSim(accel_dir, tmp)
        full = simulate_network(acc, xs, accel_dir, tmp, ready_prob=1.0, sim=sim)
        if len(xs) * acc.cycle_model()["cycles_per_frame"] <= MAX_SIM_CYCLES:
            bp = simulate_network(acc, xs, accel_dir, tmp, ready_prob=0.5, seed=7, sim=sim)
        else:   # a long run (more than the default limit) is not repeated
            bp = {"ready_prob": 0.5, "mismatches": 0, "status": "skipped (a second long run)", "passed": True,
                  "first_mismatch_layer": None}
        passed = bool(full["passed"] and bp["passed"])
        doc = {k: full[k] for k in ("frames", "mismatches", "cycles_per_frame_measured", "latency_cycles_measured",
                                    "cycles_error", "simulator", "build_s", "wall_s", "status", "err_short",
                                    "err_long", "first_mismatch_layer") if k in full}
        doc["backpressure"] = {k: bp[k] for k in ("ready_prob", "mismatches", "status", "cycles_per_frame_measured",
                                                  "first_mismatch_layer") if k in bp}
        doc["mismatches"] = full["mismatches"] + bp["mismatches"]
        doc["first_mismatch_layer"] = full["first_mismatch_layer"] or bp["first_mismatch_layer"]
        doc["passed"] = passed
        if not passed and work is None:
            doc["waveform"] = _waveform(acc, accel_dir, xs[:1], tmp)
            keep = Path(accel_dir) / "failed_run"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(tmp, keep, ignore=shutil.ignore_patterns("obj*"))
            doc["work_dir"] = "rtl/fcomp_accel/failed_run"
            if doc["waveform"]:
                doc["waveform"] = f"rtl/fcomp_accel/failed_run/{doc['waveform']}"
        return doc
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _waveform(acc: Accel, accel_dir: Path, x1: np.ndarray, tmp: Path) -> str | None:
    """One frame again with a VCD (a Verilator build with --trace); its path relative to tmp, or None when that
    build fails (the traces of the failed run stay either way)."""
    try:
        sim = AccelSim(accel_dir, tmp / "vcd", waves=True)
        r = sim.run(acc, channels_last(run_network(acc.net, x1, keep=True)[acc.net.input.name]), vcd=True)
    except FcompError as exc:
        log.warning("no waveform of the failed whole-network run: %s", exc)
        return None
    vcd = Path(r.trace).parent / "waves.vcd" if r.trace else next((tmp / "vcd").glob("run_*/waves.vcd"), None)
    return str(Path(vcd).relative_to(tmp)) if vcd and Path(vcd).is_file() else None


def message(doc: dict) -> str:
    if doc.get("skipped"):
        return doc["skipped"]
    if doc.get("passed"):
        ii = doc.get("cycles_per_frame_measured")
        cyc = (f"{ii:.0f} cycles/frame measured vs {doc['cycles_per_frame_predicted']} predicted" if ii is not None
               else f"{doc['cycles_per_frame_predicted']} cycles/frame predicted (one frame: no steady state)")
        bp = (doc.get("backpressure") or {}).get("status") == "done"
        rm = (doc.get("resources_model") or {}).get("total")
        res = (f"; its cost model (fitted on synthesis, an estimate): LUT {rm['LUT_TOTAL']:,.0f}, FF {rm['FF']:,.0f}, "
               f"BRAM36 {rm['BRAM36']:,.1f}" if rm else "")
        return (f"whole-network RTL (fcomp_accel, Verilator): {doc['frames']} frame(s) bit-exact"
                f"{' (also under back-pressure)' if bp else ''}, {cyc}, latency {doc['latency_cycles_measured']} "
                f"cycles{res}")
    where = f"; first differing node {doc['first_mismatch_layer']}" if doc.get("first_mismatch_layer") else ""
    return (f"whole-network RTL failed: {doc.get('mismatches')} output values differ, status {doc.get('status')}"
            f"{', err_short' if doc.get('err_short') else ''}{', err_long' if doc.get('err_long') else ''}{where}")


def rerun_network(out_dir: Path, frames: int | None = None) -> dict | None:
    """`fcomp verify`: re-simulate rtl/fcomp_accel/ of a build on its stored frames (the first `frames`, or
    those cycled to `frames`) in a temporary folder; None when the build has no stored stimulus."""
    from ..handoff.axi import StreamFormat

    accel_dir = Path(out_dir) / "rtl" / ACCEL_DIR
    stim, info = accel_dir / STIMULUS, accel_dir / ACCEL_JSON
    if not stim.is_file() or not info.is_file():
        return None
    with np.load(stim) as f:
        x, y = f["x"], f["y"]
        frame0 = {k[5:]: f[k] for k in f.files if k.startswith("node_")}
    if frames is not None:
        reps = -(-frames // len(x))
        x, y = np.concatenate([x] * reps)[:frames], np.concatenate([y] * reps)[:frames]
    meta = json.loads(info.read_text())
    fin, fout = StreamFormat.from_dict(meta["input"]), StreamFormat.from_dict(meta["output"])
    tmp = Path(tempfile.mkdtemp(prefix="fcomp-verify-accel-"))
    stub = _AccelStub(fin, fout, meta["cycle_model"]["cycles_per_frame"])
    layer = None
    try:
        sim = AccelSim(accel_dir, tmp)
        r = sim.run(stub, x)
        bad = r.outputs != y[:len(r.outputs)]
        mism = int(np.sum(bad)) + (len(y) - len(r.outputs)) * y.shape[1]
        passed = bool(mism == 0 and r.status == "done" and not r.err_short and not r.err_long)
        if not passed and frame0:
            tr = sim.run(stub, x[:1], trace=True)
            layer = _first_traced_difference(tr.trace, meta["nodes"], frame0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    first = None if not bad.any() else int(np.argwhere(bad)[0][0])
    where = f"; first differing node {layer}" if layer else ""
    msg = (f"whole-network RTL: {len(x)} frames bit-exact on re-simulation" if passed else
           f"whole-network RTL FAILED on re-simulation: {mism} output values differ (first in frame {first}), "
           f"status {r.status}{where}")
    return {"frames": int(len(x)), "mismatches": mism, "first_mismatch_frame": first, "first_mismatch_layer": layer,
            "status": r.status, "err_short": r.err_short, "err_long": r.err_long, "passed": passed, "message": msg}


def _first_traced_difference(trace: Path, nodes: dict, frame0: dict) -> str | None:
    """The first node (graph order, accel.json) whose traced beats of frame 0 differ from the stored ones."""
    from ..rtl.accel_sim import _beats_equal, read_trace

    got = read_trace(trace, {d["id"]: (name, d["lanes"], d["width"]) for name, d in nodes.items()})
    for name, d in nodes.items():
        if not _beats_equal(got.get(name), frame0[d["id"]].reshape(-1, d["lanes"])):
            return name
    return None


class _AccelStub:
    """What AccelSim.run needs of an Accel, rebuilt from accel.json (fcomp verify has no IR in memory)."""

    def __init__(self, fin, fout, ii):
        self.fin, self.fout, self._ii = fin, fout, ii

    def cycle_model(self) -> dict:
        return {"cycles_per_frame": self._ii}
