"""`fcomp synth`: Yosys synthesis of a build's generated accelerator (`rtl/fcomp_accel/`), module by module.

Every module instance of fcomp_accel is synthesized as its own top (`compiler.synth.yosys`); instances with the
same module, parameters and ROM contents are one job; jobs run in parallel and are cached by content hash. The
totals are the sum over instances. The top's own body (wires, `assign` slices, the flatten's lane reorder; no
register and no operator) is not synthesized: it maps to no cell. `synth.json` puts the estimate the planner
used (report.json) beside the synthesized figures, per node and in total, with the board's capacity.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import __version__
from ..boards import Board
from ..errors import FcompError
from ..progress import log
from .costmodel import predict_instances
from .instances import ACCEL_DIR, Instance, read_accel
from .yosys import (DEPTH_COUNTS, RESOURCES, SCRIPT, job_key, require_yosys, synth_instance, yosys_family,
                    yosys_version)

SYNTH_JSON = "synth.json"
DEFAULT_TIMEOUT_S = 1800.0
GLUE = ("not counted: fcomp_accel.sv's own body is wires and assign statements (slices, the flatten's lane "
        "reorder), no logic; every cell is inside a module instance, and the totals are the sum over instances")
# estimate (report.json) key -> synthesized figure it is compared with; the estimate's LUTs include LUT-RAM
COMPARE = {"lut": "LUT_TOTAL", "ff": "FF", "bram36": "BRAM36", "dsp": "DSP", "uram": "URAM"}


class SynthTooBig(FcompError):
    """The synthesized design needs more of some resource than the board has (exit 2)."""


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def accel_folder(out: Path) -> Path:
    out = Path(out)
    folder = out / "rtl" / ACCEL_DIR
    if not out.is_dir():
        raise FcompError(f"{out} is not a folder")
    if not (folder / "fcomp_accel.sv").is_file():
        raise FcompError(f"{out} has no generated accelerator (no rtl/{ACCEL_DIR}/fcomp_accel.sv): give an "
                         "fcomp build output built with the whole-network RTL (a ternary network, not --no-rtl)")
    return folder


def _zero() -> dict:
    return {r: 0 for r in RESOURCES}


def _add(a: dict, b: dict, n: int = 1) -> None:
    for r in RESOURCES:
        a[r] += n * b.get(r, 0)


def _ratio(s: float, e: float) -> float | None:
    return round(s / e, 3) if e else None


def _side_by_side(synth: dict, est: dict | None) -> dict:
    out = {}
    for ek, sk in COMPARE.items():
        e = None if est is None else est.get(ek)
        out[ek] = {"estimate": e, "synth": synth[sk], "ratio": None if e is None else _ratio(synth[sk], e)}
    return out


def default_memory_limit(jobs: int) -> int | None:
    """Per-job address-space cap: 80% of the machine's memory shared by the parallel jobs (None: unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return int(0.8 * total / max(1, jobs))


def synthesize(out: Path, board: Board, jobs: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
               use_cache: bool = True, estimate: dict | None = None, memory_limit_bytes: int | None = None) -> dict:
    """Synthesize OUT/rtl/fcomp_accel for `board`; returns the synth.json document (not written). Each Yosys
    job's memory is capped (default `default_memory_limit`): Yosys 0.23's memory mapping of a many-ported
    buffer can grow past the machine's memory, and then fails alone."""
    folder = accel_folder(out)
    exe = require_yosys()
    version = yosys_version(exe)
    family = yosys_family(board.family)
    instances, meta = read_accel(folder)
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1 or timeout_s <= 0:
        raise FcompError("--jobs must be >= 1 and --timeout > 0")
    mem = default_memory_limit(jobs) if memory_limit_bytes is None else int(memory_limit_bytes)
    groups: dict[str, list[Instance]] = {}
    for inst in instances:
        groups.setdefault(job_key(inst, family, version), []).append(inst)
    log.info("Yosys synth_xilinx -family %s: %d instances, %d distinct modules, %d job(s) in parallel", family,
             len(instances), len(groups), jobs)
    t0 = time.monotonic()
    results: dict[str, dict] = {}

    def run(key):
        inst = groups[key][0]
        r = synth_instance(inst, family, timeout_s, use_cache, mem)
        state = "cached" if r.get("cached") else r["status"]
        log.info("  %-14s %-22s %s %.1fs", inst.module, inst.name, state, r["seconds"])
        return key, r

    # the biggest jobs (tpe_layer first, by ROM size) start first, so the slowest does not start last
    order = sorted(groups, key=lambda k: (groups[k][0].module != "tpe_layer",
                                          -sum(f.stat().st_size for f in groups[k][0].roms.values())))
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for key, r in pool.map(run, order):
            results[key] = r
    except BaseException:   # Ctrl-C / SIGTERM: the running Yosys are stopped by the handler; start no more
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    wall = round(time.monotonic() - t0, 1)

    modules = []
    for key in order:
        r, insts = results[key], groups[key]
        modules.append({"key": key, "module": insts[0].module, "params": insts[0].params,
                        "instances": [i.name for i in insts], "nodes": sorted({i.node for i in insts}),
                        "count": len(insts), "status": r["status"], "cached": bool(r.get("cached")),
                        "seconds": r["seconds"], "resources": r.get("resources"), "depth": r.get("depth"),
                        **{k: r[k] for k in ("error", "log") if k in r}})
    by_key = {m["key"]: m for m in modules}
    est_rows = {l["layer"]: l for l in (estimate or {}).get("layers", [])}
    nodes: dict[str, dict] = {}
    for inst in instances:
        key = next(k for k, g in groups.items() if inst in g)
        m = by_key[key]
        n = nodes.setdefault(inst.node, {"node": inst.node, "id": inst.node_id, "op": inst.op, "instances": [],
                                         "synth": _zero(), "depth": None, "complete": True})
        n["instances"].append({"name": inst.name, "module": inst.module, "key": key, "status": m["status"],
                               "LUT_TOTAL": (m["resources"] or {}).get("LUT_TOTAL"), "depth": m["depth"]})
        if m["status"] != "ok":
            n["complete"] = False
            continue
        _add(n["synth"], m["resources"])
        if m["depth"] is not None:
            n["depth"] = max(n["depth"] or 0, m["depth"])
    model = predict_instances(instances)
    for name, n in nodes.items():
        n["model"] = model["nodes"].get(name)
        row = est_rows.get(name)
        n["estimate"] = None if row is None else {k: row.get(k, 0) for k in COMPARE}
        n["compare"] = _side_by_side(n["synth"], n["estimate"])
        if not n["complete"]:   # a module of it was not synthesized: no ratio for a partial sum
            for c in n["compare"].values():
                c["ratio"] = None

    total = _zero()
    for m in modules:
        if m["status"] == "ok":
            _add(total, m["resources"], m["count"])
    failed = [{"module": m["module"], "instances": m["instances"], "status": m["status"], "error": m.get("error"),
               "seconds": m["seconds"]} for m in modules if m["status"] != "ok"]
    est_total = (estimate or {}).get("total")
    cap = dict(board.resources)
    util = {ek: round(total[sk] / cap[ek], 4) if cap.get(ek) else None for ek, sk in COMPARE.items()}
    over = [{"resource": ek, "synth": total[sk], "available": cap.get(ek, 0)} for ek, sk in COMPARE.items()
            if total[sk] > cap.get(ek, 0)]
    ok = [m for m in modules if m["status"] == "ok"]
    slow = max(modules, key=lambda m: m["seconds"]) if modules else None
    deep = max(ok, key=lambda m: m["depth"] or 0) if ok else None
    return {
        "schema": 1, "fcomp_version": __version__,
        "tool": {"yosys": version, "family": family, "command": f"synth_xilinx -family {family} -top <module> "
                 "-noiopad -noclkbuf (hierarchy kept), then flatten + stat + ltp", "script": SCRIPT},
        "board": board.to_dict(), "capacity": cap, "accel_dir": f"rtl/{ACCEL_DIR}",
        "jobs": jobs, "timeout_s": timeout_s, "memory_limit_gib": None if mem is None else round(mem / 2**30, 2),
        "wall_s": wall,
        "synth_s": round(sum(m["seconds"] for m in modules if not m["cached"]), 1),
        "cached_modules": sum(m["cached"] for m in modules),
        "instances": len(instances), "distinct_modules": len(modules),
        "depth_counts": DEPTH_COUNTS, "glue": GLUE,
        "resources_note": ("LUT: LUT1-6 as logic; LUT_MEM: LUTs used as LUT-RAM and SRL (by cell type); LUT_TOTAL = "
                           "LUT + LUT_MEM (Vivado's 'CLB LUTs', what the board's LUT count and the estimate's lut "
                           "mean); BRAM36: RAMB36 + 0.5 RAMB18; LUTRAM and SRL: cell counts"),
        "complete": not failed, "failed": failed, "total_is_lower_bound": bool(failed),
        "total": total, "estimate_total": est_total, "compare": _side_by_side(total, est_total),
        "model": {"what": "compiler.synth.costmodel: per-module LUT/FF/BRAM36 fitted on Yosys synthesis of generated "
                          "modules (compiler/synth/cost_model.json), applied to this design's instances",
                  "total": model["total"], "not_modelled": model["not_modelled"],
                  "total_is_lower_bound": model["total_is_lower_bound"],
                  "calibration_designs": model["calibration"].get("designs", []),
                  "compare": {r: {"model": model["total"][r], "synth": total[r],
                                  "ratio": _ratio(total[r], model["total"][r])} for r in ("LUT_TOTAL", "FF", "BRAM36")}},
        "utilization": util, "fits": not over and not failed, "over_capacity": over,
        "slowest_module": None if slow is None else {"module": slow["module"], "instance": slow["instances"][0],
                                                     "seconds": slow["seconds"], "cached": slow["cached"],
                                                     "status": slow["status"]},
        "deepest_module": None if deep is None else {"module": deep["module"], "instance": deep["instances"][0],
                                                     "depth": deep["depth"]},
        "nodes": list(nodes.values()), "modules": modules,
    }


def write_synth(out: Path, doc: dict) -> Path:
    path = Path(out) / SYNTH_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def summary(doc: dict) -> str:
    """A few lines for the CLI."""
    t, c = doc["total"], doc["compare"]
    lines = [f"{doc['tool']['yosys'].split(' (')[0]} synth_xilinx -family {doc['tool']['family']} of "
             f"{doc['accel_dir']}: {doc['instances']} instances, {doc['distinct_modules']} distinct modules "
             f"({doc['cached_modules']} from the cache), {doc['wall_s']:.1f} s wall, {doc['synth_s']:.1f} s of "
             f"synthesis"]
    parts = []
    for ek, label in (("lut", "LUT"), ("ff", "FF"), ("bram36", "BRAM36"), ("dsp", "DSP"), ("uram", "URAM")):
        e = c[ek]
        est = "" if e["estimate"] is None else f" (estimate {e['estimate']:,}, x{e['ratio']:.2f})" \
            if e["ratio"] is not None else f" (estimate {e['estimate']:,})"
        cap = doc["capacity"].get(ek)
        parts.append(f"{label} {e['synth']:,}{'/' + format(cap, ',') if cap else ''}{est}")
    lines.append("  synthesized: " + "; ".join(parts))
    m = doc.get("model")
    if m:
        cm = m["compare"]
        lines.append("  cost model of this design (fitted on synthesis, compiler/synth/cost_model.json): " + "; ".join(
            f"{label} {cm[k]['model']:,.0f}" + (f" (synthesized x{cm[k]['ratio']:.2f})" if cm[k]["ratio"] else "")
            for k, label in (("LUT_TOTAL", "LUT"), ("FF", "FF"), ("BRAM36", "BRAM36")))
            + (f"; not modelled: {', '.join(m['not_modelled'])}" if m["not_modelled"] else ""))
    if doc.get("total_is_lower_bound"):
        lines.append(f"  (a lower bound: {len(doc['failed'])} module(s) not synthesized, below)")
    lines.append(f"  CARRY {t['CARRY']:,}, LUT-RAM {t['LUTRAM']:,} cells, SRL {t['SRL']:,}, "
                 f"LUT as logic {t['LUT']:,} + as memory {t['LUT_MEM']:,}")
    if doc["deepest_module"]:
        d = doc["deepest_module"]
        lines.append(f"  deepest module: {d['module']} {d['instance']}, {d['depth']} cells on its longest "
                     "combinational path (ltp)")
    if doc["slowest_module"]:
        s = doc["slowest_module"]
        lines.append(f"  slowest synthesis: {s['module']} {s['instance']} {s['seconds']:.1f} s"
                     + (" (cached)" if s["cached"] else ""))
    for f in doc["failed"]:
        lines.append(f"  NOT synthesized ({f['status']}): {f['module']} {', '.join(f['instances'])}: {f['error']}")
    return "\n".join(lines)


def check_capacity(doc: dict, path: Path | None = None) -> None:
    """Exit 2 (SynthTooBig) when the synthesized design needs more than the board has; also when a module did
    not finish (its size is unknown)."""
    b = doc["board"]["name"]
    if doc["over_capacity"]:
        parts = "; ".join(f"{o['resource'].upper()} {o['synth']:,} synthesized vs {o['available']:,} available"
                          for o in doc["over_capacity"])
        raise SynthTooBig(f"the synthesized design does not fit {b}: {parts}"
                          + (f" (see {path})" if path else ""))
    if doc["failed"]:
        f = doc["failed"][0]
        raise FcompError(f"synthesis of {f['module']} ({', '.join(f['instances'][:3])}) {f['status']}: "
                         f"{f['error']}; totals are incomplete" + (f" (see {path})" if path else "")
                         + ("; raise --synth-timeout" if f["status"] == "timeout" else ""))


def check_options(board: Board, jobs: int | None, timeout_s: float) -> None:
    """What `build --synth` checks before it starts: Yosys present, a family it knows, sane numbers."""
    require_yosys()
    yosys_family(board.family)
    if (jobs is not None and jobs < 1) or timeout_s <= 0:
        raise FcompError("--synth-jobs must be >= 1 and --synth-timeout > 0")


def synth_output(out: Path, board: Board | None = None, jobs: int | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, use_cache: bool = True,
                 memory_gb: float | None = None) -> dict:
    """`fcomp synth OUT`: synthesize, write OUT/synth.json and re-render report.html when the build has one.
    Returns the document; `check_capacity(doc)` then says (exit 2) whether it fits the board."""
    out = Path(out)
    accel_folder(out)
    report = {}
    rp = out / "report.json"
    if rp.is_file():
        try:
            report = json.loads(rp.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise FcompError(f"{rp} is not valid JSON: {exc}") from None
    if board is None:
        from ..boards import get_board

        if not report.get("board"):
            raise FcompError(f"{out} has no report.json naming its board; pass --board")
        board = get_board(report["board"]["name"])
    doc = synthesize(out, board, jobs, timeout_s, use_cache, report.get("estimate"),
                     None if memory_gb is None else int(memory_gb * 2**30))
    path = write_synth(out, doc)
    if isinstance(report.get("layers"), list):   # a whole build's report: re-render report.html with it
        from ..report import render_html

        render_html(out)
    return doc
