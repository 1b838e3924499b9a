"""`report.html`: one self-contained page people read, rendered from a build's JSON files only.

Inputs are the files a build leaves in its output folder: `report.json` (required), `compression.json` (epoch
history, kept groups per PE) and `verify.json` (RTL runs) when present; optional sections (`weights` from
`compiler.report.stats.weight_stats`, the planner's `estimate`) are drawn when they are there and left out when they
are not. The page is one file that opens offline: inline CSS, figures as `data:` SVG images, no scripts, fonts or
external URLs. Every string taken from the JSON is HTML-escaped (model and layer names come from an untrusted ONNX
file), and the output is deterministic (no timestamps; reproducible SVG), so re-rendering the same JSON gives the
same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import FcompError
from . import plots

RESOURCES = ("lut", "ff", "bram36", "uram", "dsp")


class Markup(str):
    """Already-escaped HTML; any other value placed in the page goes through `esc`."""


def esc(v) -> Markup:
    return v if isinstance(v, Markup) else Markup(html.escape("" if v is None else str(v), quote=True))


# ---- loading -------------------------------------------------------------------------------------------------------
def _read_json(path: Path, required: bool):
    if not path.is_file():
        if required:
            raise FcompError(f"{path} not found: not an fcomp build output folder")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FcompError(f"{path}: cannot read JSON ({e})") from None


def load_build(out_dir: Path) -> dict:
    """The JSON documents of a build folder: {'report': ..., 'compression', 'verify', 'synth': ... or None}."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FcompError(f"{out_dir} is not a folder")
    report = _read_json(out_dir / "report.json", True)
    if not isinstance(report, dict) or "layers" not in report:
        raise FcompError(f"{out_dir / 'report.json'} is not an fcomp build report (no 'layers')")
    return {"report": report, "compression": _read_json(out_dir / "compression.json", False),
            "verify": _read_json(out_dir / "verify.json", False),
            "synth": _read_json(out_dir / "synth.json", False)}


def render_html(out_dir: Path, extra_points: Sequence[tuple[str, float, float]] = (),
                output: Path | None = None) -> Path:
    """Write `report.html` (or `output`) for the build in `out_dir`; returns its path.

    `extra_points`: further (strategy, compression ratio, test accuracy) results to place on the accuracy-vs-
    compression plot next to this build's run (e.g. from other `fcomp compress` runs)."""
    docs = load_build(Path(out_dir))
    points = []
    for p in extra_points:
        try:
            name, ratio, acc = p
            points.append((str(name), float(ratio), float(acc)))
        except (TypeError, ValueError):
            raise FcompError(f"extra point {p!r}: expected (strategy, ratio, accuracy)") from None
    page = build_page(docs, points)
    path = Path(output) if output else Path(out_dir) / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


# ---- formatting helpers --------------------------------------------------------------------------------------------
def _int(v) -> str:
    return "–" if v is None else f"{int(v):,}"


def _pct(v, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * float(v):.{digits}f}%"


def _num(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "–"
    if f == int(f) and abs(f) < 1e15:
        return f"{int(f):,}"
    if abs(f) >= 1000:
        return f"{f:,.0f}"
    return f"{f:.{digits}g}"


def _bits(v) -> str:
    if v is None:
        return "–"
    v = float(v)
    if v >= 2**20:
        return f"{v / 2**20:.2f} Mbit"
    if v >= 2**10:
        return f"{v / 2**10:.1f} kbit"
    return f"{v:.0f} bit"


def _shape(s) -> str:
    return "×".join(str(x) for x in s) if isinstance(s, (list, tuple)) else str(s)


def _img(svg: bytes | None, alt: str, cls: str = "plot") -> Markup:
    if svg is None:
        return Markup("")
    data = base64.b64encode(svg).decode("ascii")
    return Markup(f'<img class="{cls}" alt="{esc(alt)}" src="data:image/svg+xml;base64,{data}">')


def _pill(ok: bool | None, yes: str, no: str, unknown: str = "not run") -> Markup:
    if ok is None:
        return Markup(f'<span class="pill muted">{esc(unknown)}</span>')
    return Markup(f'<span class="pill {"ok" if ok else "bad"}">{esc(yes if ok else no)}</span>')


def _table(headers: Sequence, rows: Iterable[Sequence], numeric: set[int] = frozenset(), cls: str = "") -> Markup:
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for r in rows:
        body.append("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{esc(c)}</td>'
                                     for i, c in enumerate(r)) + "</tr>")
    return Markup(f'<div class="tablewrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
                  f'<tbody>{"".join(body)}</tbody></table></div>')


def _kv(pairs: Iterable[tuple[str, object]]) -> Markup:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return Markup(f'<table class="kv">{rows}</table>')


def _section(anchor: str, title: str, body: str, note: str = "") -> Markup:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return Markup(f'<section id="{anchor}"><h2>{esc(title)}</h2>{note_html}{body}</section>')


def _figure(svg: bytes | None, alt: str, caption: str) -> Markup:
    if svg is None:
        return Markup("")
    return Markup(f"<figure>{_img(svg, alt)}<figcaption>{esc(caption)}</figcaption></figure>")


# ---- the estimate (planner) is optional and its layout is read tolerantly -----------------------------------------
def _estimate_layers(est: dict) -> dict[str, dict]:
    rows = est.get("layers") or {}
    if isinstance(rows, dict):
        return {str(k): v for k, v in rows.items() if isinstance(v, dict)}
    out = {}
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, dict):
            name = r.get("name", r.get("layer"))
            if name is not None:
                out[str(name)] = r
    return out


def _resources_of(d: dict | None) -> dict[str, float]:
    if not isinstance(d, dict):
        return {}
    src = d.get("resources") if isinstance(d.get("resources"), dict) else d
    return {k: float(src[k]) for k in RESOURCES if isinstance(src.get(k), (int, float))}


def _estimate_totals(est: dict) -> dict[str, float]:
    for key in ("total", "totals"):
        if isinstance(est.get(key), dict):
            return _resources_of(est[key])
    return _resources_of(est)


def _estimate_budget(est: dict, board: dict) -> dict[str, float]:
    for key in ("budget", "available", "board"):
        r = _resources_of(est.get(key))
        if r:
            return r
    return _resources_of(board)


def _first(d: dict, *keys):
    for k in keys:
        if isinstance(d, dict) and d.get(k) is not None:
            return d[k]
    return None


# ---- sections ------------------------------------------------------------------------------------------------------
def _header(r: dict) -> Markup:
    model, board = r.get("model") or {}, r.get("board") or {}
    check, rtl, mem = r.get("check") or {}, r.get("rtl"), r.get("memory") or {}
    title = f"{model.get('file', 'model')} on {board.get('name', '?')}"
    pills = [_pill(check.get("passed") if check else None, "C-sim check passed", "C-sim check FAILED"),
             _pill(None if not rtl else rtl.get("passed"), "RTL bit- and cycle-exact", "RTL check FAILED",
                   "RTL not run"),
             _pill(mem.get("fits_on_chip") if mem else None, "weights fit on-chip", "weights do NOT fit on-chip",
                   "memory unknown")]
    est = r.get("estimate")
    if isinstance(est, dict) and isinstance(est.get("fits"), bool):
        pills.append(_pill(est["fits"], "fits the board (estimate)", "does NOT fit the board (estimate)"))
    return Markup(f'<header><div class="kicker">fcomp {esc(r.get("fcomp_version", ""))} build report</div>'
                  f"<h1>{esc(title)}</h1><div class=pills>{''.join(pills)}</div>"
                  f'<p class="sub">{esc(check.get("message", ""))}</p></header>')


def _nav(sections: list[tuple[str, str]]) -> Markup:
    links = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in sections)
    return Markup(f"<nav>{links}</nav>")


def _summary(r: dict, comp: dict | None) -> Markup:
    model, board, opts = r.get("model") or {}, r.get("board") or {}, r.get("options") or {}
    mem, c = r.get("memory") or {}, r.get("compression")
    res = board.get("resources") or {}
    cards = []
    cards.append(("Model", _kv([
        ("file", model.get("file")), ("graph", model.get("graph")),
        ("input", _shape(model.get("input_shape", []))), ("output", _shape(model.get("output_shape", []))),
        ("parameters", _int(model.get("params"))), ("MACs / inference", _int(model.get("macs"))),
        ("ONNX sha256", (model.get("onnx_sha256") or "")[:16] + "…")])))
    cards.append(("Board", _kv([
        ("board", board.get("name")), ("part", board.get("part")), ("clock", f"{_num(board.get('clock_mhz'))} MHz"),
        ("LUT / FF", f"{_int(res.get('lut'))} / {_int(res.get('ff'))}"),
        ("DSP", _int(res.get("dsp"))), ("BRAM36 / URAM", f"{_int(res.get('bram36'))} / {_int(res.get('uram'))}")])))
    if c:
        acc = ("–" if c.get("accuracy_before") is None else
               f"{_pct(c.get('accuracy_before'), 2)} → {_pct(c.get('accuracy_after'), 2)}")
        cfg = (comp or {}).get("config") or {}
        sched = c.get("schedule") or {}
        dfc = c.get("data_free_check") or {}
        if c.get("data_free"):
            mode = ("data-free, distilled on generated inputs" if dfc.get("distilled")
                    else "data-free (no fine-tuning)")
        else:
            mode = f"fine-tuned, {sched.get('epochs', cfg.get('epochs', '?'))} epochs"
        search = c.get("search") or {}
        rows = [("strategy", c.get("strategy")), ("mode", mode),
                ("ratio", f"{_num(c.get('ratio'), 4)}× (target {_num(c.get('target_ratio'))}×"
                          + (", searched" if search.get("mode") == "search" else "") + ")"),
                ("weight bits only", f"{_num(c.get('ratio_weights_only'), 4)}×"),
                ("kept groups", _pct(c.get("keep_fraction"))), ("test accuracy", acc)]
        if search:
            rows.append(("accuracy budget", f"{_num(search.get('max_drop_points'))} points: "
                                            + ("met" if search.get("passed") else "NOT met")))
        if dfc:
            rows.append(("agreement with fp32", f"{_pct(dfc.get('top1_agreement'), 1)} on {dfc.get('inputs')} "
                                                f"{dfc.get('generated')}"))
        cards.append(("Compression", _kv(rows)))
    else:
        cards.append(("Compression", _kv([("strategy", "none (uncompressed build)")])))
    share = (mem.get("weight_bits") or 0) / mem["on_chip_bits"] if mem.get("on_chip_bits") else None
    cards.append(("Weight memory", _kv([
        ("stored weights", _bits(mem.get("weight_bits"))), ("on-chip BRAM+URAM", _bits(mem.get("on_chip_bits"))),
        ("share of on-chip", _pct(share, 2)), ("fits on-chip", _num(mem.get("fits_on_chip"))),
        ("precision", f"activations {opts.get('act_bits', '?')} bit, weights {opts.get('weight_bits', '?')} bit"),
        ("data", opts.get("data"))])))
    body = "".join(f'<div class="card"><h3>{esc(t)}</h3>{b}</div>' for t, b in cards)
    return _section("summary", "Model summary", f'<div class="cards">{body}</div>')


def _layer_table(r: dict, comp_rows: dict, wstats: dict, est_rows: dict, rtl_rows: dict,
                 est_totals: dict | None = None) -> Markup:
    have_est = bool(est_rows)
    headers = ["layer", "output", "params", "MACs", "weights", "sparsity", "−1/0/+1 %", "P×S", "RF",
               "cycles / frame", "stored (ratio)"]
    if have_est:
        headers += ["LUT", "FF", "BRAM36", "URAM", "DSP"]
    headers += ["RTL"]
    numeric = {2, 3, 5, 8, 9, 10} | ({11, 12, 13, 14, 15} if have_est else set())
    rows = []
    for row in r.get("layers", []):
        if row.get("op") not in ("conv", "dense") and "mapping" not in row:
            continue
        name = row.get("name", "")
        c, w, e = comp_rows.get(name, {}), wstats.get(name, {}), est_rows.get(name, {})
        m = row.get("mapping") or {}
        shares = c.get("ternary_shares") or w.get("ternary_shares")
        sparsity = c.get("sparsity", w.get("sparsity"))
        cyc, dense = c.get("cycles_per_frame", m.get("cycles_per_frame")), c.get("cycles_per_frame_dense")
        cyc = _first(e, "cycles_per_frame", "cycles") or cyc
        cyc_txt = _int(cyc) + (f" ({_int(dense)})" if dense and cyc and dense != cyc else "")
        cost = c.get("cost") or {}
        wtype = ("ternary" if c.get("bits") == 2 else f"int{c.get('bits')}" if c.get("bits")
                 else (row.get("precision") or {}).get("weight", ""))
        sub = " · ".join(x for x in (str(row.get("op") or ""), str(row.get("onnx_name") or "")) if x)
        label = Markup(f'<span class="lname">{esc(name)}</span><span class="onnx">{esc(sub)}</span>')
        rtl = rtl_rows.get(name)
        rtl_cell = ("" if rtl is None else Markup('<span class="ok">✓</span>') if rtl.get("passed")
                    else Markup(f'<span class="bad" title="{esc(rtl.get("error", ""))}">✗</span>'))
        cells = [label, _shape(row.get("shape", [])), _int(row.get("params")), _int(row.get("macs")),
                 wtype, _pct(sparsity), "–" if not shares else
                 "/".join(f"{100 * shares[k]:.0f}" for k in ("-1", "0", "+1")),
                 f"{m.get('pe', '?')}×{m.get('simd', '?')}" if m else "–", _int(m.get("reuse_factor")), cyc_txt,
                 _bits(cost.get("stored_bits")) + (f" ({_num(cost.get('ratio'), 3)}×)" if cost.get("ratio") else "")]
        if have_est:
            cells += [_num(_first(e, k, k.upper())) for k in RESOURCES]
        cells.append(rtl_cell)
        rows.append(cells)
    if not rows:
        return Markup("<p>No weighted layers.</p>")
    if have_est and est_totals:
        total = [Markup("<b>whole design</b>"), "", "", "", "", "", "", "", "", "", ""]
        total += [Markup(f"<b>{esc(_num(est_totals.get(k)))}</b>") for k in RESOURCES] + [""]
        rows.append(total)
    note = ("Weighted layers. P×S: processing elements × SIMD lanes; RF: hls4ml ReuseFactor; cycles per frame of "
            "the PE array with the kept groups (dense folding in brackets); stored: codes, sparse index, scales "
            "and biases (ratio: fp32 bits / stored bits); RTL: simulated bit- and cycle-exact.")
    if not have_est:
        note += " LUT/FF/BRAM/URAM/DSP columns appear when the build has the planner's estimate."
    else:
        note += (" LUT…DSP: planner estimate per layer (its line buffers included); the whole design adds "
                 "streams and pools.")
    return Markup(f'<p class="note">{esc(note)}</p>' + _table(headers, rows, numeric, "layers"))


def _all_layers(r: dict) -> Markup:
    rows = []
    for row in r.get("layers", []):
        prec = row.get("precision") or {}
        rows.append([row.get("name"), row.get("op"), row.get("onnx_name"), _shape(row.get("shape", [])),
                     prec.get("result", ""), prec.get("accum", ""), _num(row.get("max_abs_calibration"), 4)])
    t = _table(["layer", "op", "ONNX node", "output", "result type", "accumulator", "max |x| (calibration)"],
               rows, {6})
    return Markup(f"<details><summary>All {len(rows)} layers with fixed-point types</summary>{t}</details>")


def _grid(*cells: str) -> Markup:
    cells = [c for c in cells if c]
    if len(cells) < 2:
        return Markup("".join(cells))
    return Markup('<div class="grid2">' + "".join(f"<div>{c}</div>" for c in cells) + "</div>")


def _plots(r: dict, comp: dict | None, wstats: list[dict]) -> Markup:
    parts = []
    comp_layers = (comp or {}).get("layers") or (r.get("compression") or {}).get("layers") or []
    share_rows = [(l["name"], l.get("ternary_shares")) for l in comp_layers if l.get("ternary_shares")]
    if not share_rows:
        share_rows = [(l["name"], l.get("ternary_shares")) for l in wstats if l.get("ternary_shares")]
    shares_fig = _figure(plots.ternary_shares(share_rows), "ternary code shares per layer",
                         "Ternary codes per layer: the grey share is zero weights (pruned groups plus weights under "
                         "the ternary threshold), i.e. the layer's sparsity.")
    if wstats:
        parts.append(_figure(plots.weight_histograms(wstats), "weight histograms before and after compression",
                             "Weight histograms of the largest layers before (grey) and after (blue) compression, "
                             "on the same bins: ternarization leaves spikes at 0 and ±scale per output channel."))
    mapping = {l.get("name"): l.get("mapping") or {} for l in r.get("layers", [])}
    bal = []
    for l in comp_layers:
        m = mapping.get(l.get("name")) or {}
        if l.get("kept_groups_per_pe") and m.get("rows"):
            dense = math.ceil(m["rows"] / m["pe"]) * math.ceil(m["cols"] / m["simd"])
            bal.append({"name": l["name"], "kept": l["kept_groups_per_pe"], "dense": dense})
    balance_fig = _figure(plots.pe_balance(bal), "PE load balance",
                          "PE load balance: kept S-wide weight groups of each PE, as a share of a dense PE's groups "
                          "(one dot per PE). Balanced PE-wise pruning keeps all PEs of a layer equal.")
    body = _grid(shares_fig, balance_fig) + "".join(parts)
    if not wstats:
        body += Markup('<p class="note">Weight histograms need the report\'s "weights" section (written by builds '
                       "that compress).</p>")
    return _section("plots", "Compression and mapping", body or "<p>No compressed layers to plot.</p>")


_EST_LABELS = {"clock_mhz": ("clock", "{} MHz"), "act_bits": ("activation width", "{} bit"),
               "frames_per_s": ("frames / s (slowest layer sets the rate)", "{}"),
               "cycles_per_frame": ("cycles / frame (initiation interval)", "{}"),
               "bottleneck": ("slowest layer", "{}"), "latency_cycles": ("latency (cycles)", "{}"),
               "latency_ms": ("latency", "{} ms"), "latency_is_upper_bound": ("latency is an upper bound", "{}"),
               "weight_bits": ("weight memory", None), "buffer_bits": ("activation buffers", None),
               "margin": ("planner margin", None)}


def _estimate_section(r: dict, est: dict | None) -> Markup:
    if not isinstance(est, dict):
        return Markup("")
    totals, budget = _estimate_totals(est), _estimate_budget(est, r.get("board") or {})
    rows = [[k.upper(), _num(totals.get(k)), _num(budget.get(k)),
             _pct(totals[k] / budget[k]) if budget.get(k) and k in totals else "–"] for k in RESOURCES
            if k in totals or k in budget]
    body = _table(["resource", "estimate", "board", "use"], rows, {1, 2, 3}) if rows else Markup("")
    scalars = []
    for k, v in est.items():
        if not isinstance(v, (int, float, str, bool)) or k in RESOURCES:
            continue
        label, fmt = _EST_LABELS.get(k, (k.replace("_", " "), "{}"))
        if k.endswith("_bits") and not isinstance(v, (bool, str)):
            text = _bits(v)
        elif k == "margin" and isinstance(v, (int, float)):
            text = _pct(v, 0)
        else:
            text = fmt.format(_num(v, 5))
        scalars.append((label, text))
    if scalars:
        body += Markup("<h3>Throughput and memory</h3>") + _kv(scalars)
    margin = est.get("margin") if isinstance(est.get("margin"), (int, float)) else None
    fig = _figure(plots.resources(totals, budget, margin), "resources vs board budget",
                  "Estimated resources of the whole design vs the board's.")
    return _section("estimate", "Resource and throughput estimate", _grid(body, fig),
                    "The board planner's model (PE lanes calibrated against Yosys; memories, buffers and FIFOs "
                    "counted), not synthesis results.")


_SYNTH_RES = (("lut", "LUT"), ("ff", "FF"), ("bram36", "BRAM36"), ("dsp", "DSP"), ("uram", "URAM"))


def _x(v) -> str:
    return f"x{v:.2f}" if isinstance(v, (int, float)) else "–"


def _synth_section(doc: dict | None) -> Markup:
    """'Estimate vs synthesis', from synth.json alone."""
    if not isinstance(doc, dict) or not isinstance(doc.get("compare"), dict):
        return Markup("")
    cap = doc.get("capacity") or {}
    rows = []
    for k, label in _SYNTH_RES:
        c = doc["compare"].get(k) or {}
        s, e = c.get("synth"), c.get("estimate")
        rows.append([label, _num(e), _num(s), _x(c.get("ratio")), _num(cap.get(k)),
                     _pct(s / cap[k]) if cap.get(k) and isinstance(s, (int, float)) else "–"])
    body = _table(["resource", "estimate", "synthesized", "synth / estimate", "board", "synth use"], rows,
                  {1, 2, 3, 4, 5})
    t = doc.get("total") or {}
    tool = doc.get("tool") or {}
    facts = [("tool", f"{tool.get('yosys', '?')}, {tool.get('command', '')}"),
             ("instances / distinct modules", f"{doc.get('instances')} / {doc.get('distinct_modules')} "
                                              f"({doc.get('cached_modules')} from the cache)"),
             ("time", f"{_num(doc.get('wall_s'))} s wall, {_num(doc.get('synth_s'))} s of synthesis, "
                      f"{doc.get('jobs')} job(s)"),
             ("LUTs", f"{_int(t.get('LUT'))} as logic + {_int(t.get('LUT_MEM'))} as memory; CARRY "
                      f"{_int(t.get('CARRY'))}, LUT-RAM cells {_int(t.get('LUTRAM'))}, SRL {_int(t.get('SRL'))}")]
    deep, slow = doc.get("deepest_module"), doc.get("slowest_module")
    if isinstance(deep, dict):
        facts.append(("deepest module", f"{deep.get('module')} {deep.get('instance')}: {deep.get('depth')} cells"))
    if isinstance(slow, dict):
        facts.append(("slowest synthesis", f"{slow.get('module')} {slow.get('instance')}: {_num(slow.get('seconds'))} s"))
    fits = doc.get("fits")
    facts.append(("fits the board", "yes" if fits else "NO: " + ", ".join(
        f"{o.get('resource', '').upper()} {_int(o.get('synth'))} > {_int(o.get('available'))}"
        for o in doc.get("over_capacity") or []) or "NO"))
    for f in doc.get("failed") or []:
        facts.append(("not synthesized", f"{f.get('module')} {', '.join(f.get('instances') or [])}: "
                                         f"{f.get('status')} ({f.get('error')})"))
    body += _kv(facts)
    nrows = []
    for n in doc.get("nodes") or []:
        if not isinstance(n, dict):
            continue
        c = n.get("compare") or {}
        lut, ff = c.get("lut") or {}, c.get("ff") or {}
        nrows.append([n.get("node", ""), n.get("op", ""), ", ".join(sorted({i.get("module", "") for i in
                                                                          n.get("instances") or []})),
                      _num(lut.get("estimate")), _num(lut.get("synth")), _x(lut.get("ratio")),
                      _num(ff.get("estimate")), _num(ff.get("synth")),
                      _num((c.get("bram36") or {}).get("synth")), _num((c.get("dsp") or {}).get("synth")),
                      _num(n.get("depth")) + ("" if n.get("complete", True) else " (incomplete)")])
    if nrows:
        body += Markup("<h3>Per node</h3>") + Markup('<div class="tablewrap">') + _table(
            ["node", "op", "modules", "LUT estimate", "LUT synth", "ratio", "FF estimate", "FF synth", "BRAM36",
             "DSP", "depth"], nrows, {3, 4, 5, 6, 7, 8, 9, 10}) + Markup("</div>")
    return _section("synthesis", "Estimate vs synthesis", body,
                    f"Yosys synthesis of the generated accelerator, module by module (synth.json). "
                    f"{doc.get('glue', '')}. Depth: {doc.get('depth_counts', '')}. "
                    "Yosys's mapping is not Vivado's: post-route figures will differ.")


def _training(r: dict, comp: dict | None, extra: list[tuple[str, float, float]]) -> Markup:
    c = r.get("compression") or {}
    history = (comp or {}).get("history") or []
    parts = []
    if history:
        parts.append(_figure(plots.training(history), "fine-tuning curves",
                             "Fine-tuning per epoch: loss, train/test accuracy and the compression ratio reached "
                             "by the masks so far."))
        rows = [[h.get("epoch"), _num(h.get("loss"), 4), _pct(h.get("train_accuracy"), 2),
                 _pct(h.get("val_accuracy"), 2), _pct(h.get("test_accuracy"), 2), f"{_num(h.get('ratio'), 4)}×",
                 _num(h.get("quantized")), h.get("penalty", "")] for h in history]
        parts.append(Markup("<details><summary>Epoch table</summary>") + _table(
            ["epoch", "loss", "train acc.", "val. acc.", "test acc.", "ratio", "ternary", "penalty"], rows,
            {0, 1, 2, 3, 4, 5})
            + Markup("</details>"))
    points = []
    if c.get("accuracy_after") is not None and c.get("ratio") is not None:
        points.append((f"{c.get('strategy', 'this run')} (this build)", float(c["ratio"]), float(c["accuracy_after"])))
    points += extra
    if points:
        fig = _figure(plots.tradeoff(points, c.get("accuracy_before")), "accuracy vs compression",
                      "Test accuracy vs compression ratio of the strategies run; the dashed line is the "
                      "uncompressed model.")
        rows = [[n, f"{_num(rt, 4)}×", _pct(a, 2)] for n, rt, a in points]
        if c.get("accuracy_before") is not None:
            rows.append(["uncompressed", "1×", _pct(c["accuracy_before"], 2)])
        parts.append(_grid(fig, Markup("<h3>Accuracy vs compression</h3>")
                           + _table(["strategy", "ratio", "test accuracy"], rows, {1, 2})))
    if not parts:
        return Markup("")
    return _section("training", "Fine-tuning", "".join(parts))


def _verification(r: dict, verify: dict | None) -> Markup:
    check = r.get("check") or {}
    parts = []
    if check:
        parts.append(Markup("<h3>C simulation (hls4ml) vs ONNX Runtime</h3>") + _kv([
            ("result", check.get("message")), ("inputs", _int(check.get("inputs"))),
            ("top-1 agreement", f"{_pct(check.get('top1_agreement'))} (bound {_pct(check.get('min_agreement'), 0)})"),
            ("strict top-1 agreement", _pct(check.get("top1_agreement_strict"))),
            ("near-ties", f"{_int(check.get('near_ties'))} ({_int(check.get('near_ties_disagreeing'))} disagreeing;"
                          f" margin {_pct(check.get('tie_margin'))} of the score range)"),
            ("max / mean |error|", f"{_num(check.get('max_abs_error'), 4)} / {_num(check.get('mean_abs_error'), 4)}"
                                   f" (outputs up to {_num(check.get('output_max_abs'), 4)})"),
            ("accuracy ONNX / C-sim", f"{_pct(check.get('accuracy_onnx'))} / {_pct(check.get('accuracy_csim'))}"
             if check.get("accuracy_onnx") is not None else "no labels")]))
    quant = check.get("quantized_model")
    if quant:
        parts.append(Markup("<h3>Against the quantized model itself</h3>") + _kv([
            ("result", quant.get("message") or quant.get("skipped")),
            ("format", quant.get("format")),
            ("bounds the build", "yes" if quant.get("gates_the_build") else
             "no (the model was compressed further: the difference is the compression's)")]))
    golden = check.get("golden")
    if golden:
        parts.append(Markup("<h3>Golden fixed-point model of the whole network</h3>") + _kv([
            ("result", golden.get("message")),
            ("vs C-sim", f"{'bit-exact' if golden.get('bit_exact_vs_csim') else 'DIFFERS'} on "
                         f"{_int(golden.get('check_inputs'))} inputs ({_int(golden.get('mismatches_vs_csim'))} "
                         "values differ)"),
            ("test split", f"{_int(golden.get('inputs'))} inputs: accuracy {_pct(golden.get('accuracy'))} (ONNX "
                           f"{_pct(golden.get('accuracy_onnx'))}), top-1 agreement with ONNX Runtime "
                           f"{_pct(golden.get('top1_agreement_onnx'))}" if golden.get("split") else "no labels")]))
    net = (verify or {}).get("network") or (r.get("rtl") or {}).get("network")
    if net:
        bp = net.get("backpressure") or {}
        parts.append(Markup("<h3>Whole-network RTL (fcomp_accel) end to end</h3>") + _kv(
            [("result", net.get("skipped") or ("pass" if net.get("passed") else "FAIL"))] + ([] if net.get("skipped")
             else [("frames", _int(net.get("frames"))), ("mismatches", _int(net.get("mismatches"))),
                   ("first differing node", net.get("first_mismatch_layer") or "none"),
                   ("cycles/frame measured / predicted", f"{_num(net.get('cycles_per_frame_measured'))} / "
                                                         f"{_int(net.get('cycles_per_frame_predicted'))}"),
                   ("latency (cycles)", _int(net.get("latency_cycles_measured"))),
                   ("back-pressure run", f"{bp.get('status', 'not run')}, {_int(bp.get('mismatches'))} mismatches"),
                   ("simulator", net.get("simulator"))])))
    rtl_layers = (verify or {}).get("layers") or (r.get("rtl") or {}).get("layers") or []
    if rtl_layers:
        rows = []
        for l in rtl_layers:
            shape = f"{l['rows']}×{l['cols']}" if "rows" in l else ""
            ps = f"{l['pe']}×{l['simd']}" if "pe" in l else ""
            steady = l.get("steady_cycles_per_vector_measured")
            status = "pass" if l.get("passed") else ("error: " + str(l["error"]) if l.get("error") else "FAIL")
            rows.append([l.get("layer"), l.get("op", ""), shape, ps, _int(l.get("vectors")), _int(l.get("mismatches")),
                         f"{_int(l.get('cycles_measured'))} / {_int(l.get('cycles_predicted'))}",
                         f"{_num(steady, 3)} / {_num(l.get('cycles_per_vector_compiler_model'))}", status])
        sim = (verify or {}).get("simulator_version") or (r.get("rtl") or {}).get("simulator_version") or ""
        parts.append(Markup(f"<h3>Adder-only PE-array RTL vs golden model</h3><p class=note>{esc(sim)}: outputs must "
                            "equal the golden fixed-point model bit for bit and every output beat land on the "
                            "predicted cycle.</p>") + _table(
            ["layer", "op", "rows×cols", "P×S", "vectors", "mismatches", "cycles measured / predicted",
             "steady cycles/vector measured / model", "status"], rows, {4, 5, 6, 7}))
    elif r.get("compression") and not net:
        parts.append(Markup("<p class=note>RTL verification was not run for this build.</p>"))
    return _section("verification", "Verification", "".join(parts) or "<p>No checks recorded.</p>")


def _timings(r: dict) -> Markup:
    t = {k: float(v) for k, v in (r.get("timings_s") or {}).items() if isinstance(v, (int, float))}
    if not t:
        return Markup("")
    top = max(t.values()) or 1.0
    rows = "".join(f'<tr><th>{esc(k)}</th><td class=num>{v:.2f} s</td><td class="barcell"><div class="bar" '
                   f'style="width:{100 * v / top:.1f}%"></div></td></tr>' for k, v in t.items())
    total = sum(t.values())
    return _section("timings", "Stage timings", Markup(
        f'<table class="timings">{rows}<tr class="total"><th>total</th><td class=num>{total:.2f} s</td>'
        "<td></td></tr></table>"))


def _tools(r: dict, comp: dict | None, verify: dict | None) -> Markup:
    tools = [("fcomp", r.get("fcomp_version"))] + list((r.get("tools") or {}).items())
    sim = (verify or {}).get("simulator_version") or (r.get("rtl") or {}).get("simulator_version")
    if sim:
        tools.append(("RTL simulator", sim))
    body = Markup("<h3>Tool versions</h3>") + _kv(tools)
    opts = r.get("options") or {}
    if opts:
        body += Markup("<h3>Build options</h3>") + _kv(opts.items())
    cfg = (comp or {}).get("config") or {}
    if cfg:
        body += Markup("<h3>Compression configuration</h3>") + _kv(cfg.items())
    return _section("tools", "Tools and options", body)


_SHOWN = {"fcomp_version", "model", "board", "options", "layers", "memory", "compression", "check", "rtl",
          "timings_s", "tools", "output", "weights", "estimate"}


def _other(r: dict) -> Markup:
    rest = {k: v for k, v in r.items() if k not in _SHOWN}
    if not rest:
        return Markup("")
    text = json.dumps(rest, indent=2, sort_keys=True, default=str)
    return Markup("<section id=other><h2>Other report fields</h2><details><summary>"
                  f"{esc(', '.join(rest))}</summary><pre>{esc(text)}</pre></details></section>")


def build_page(docs: dict, extra_points: Sequence[tuple[str, float, float]] = ()) -> str:
    """The whole page as a string, from the documents `load_build` returns."""
    r, comp, verify = docs["report"], docs.get("compression"), docs.get("verify")
    comp_rows = {l["name"]: l for l in ((comp or {}).get("layers") or (r.get("compression") or {}).get("layers")
                                        or []) if isinstance(l, dict) and "name" in l}
    weights = r.get("weights") if isinstance(r.get("weights"), dict) else {}
    wlayers = [l for l in weights.get("layers") or [] if isinstance(l, dict) and "name" in l]
    est = r.get("estimate") if isinstance(r.get("estimate"), dict) else None
    est_rows = _estimate_layers(est) if est else {}
    rtl_rows = {l.get("layer"): l for l in ((verify or {}).get("layers") or (r.get("rtl") or {}).get("layers") or [])}
    sections = [("summary", "Summary"), ("layers", "Layers"), ("plots", "Compression")]
    if est:
        sections.append(("estimate", "Estimate"))
    synth = docs.get("synth") if isinstance(docs.get("synth"), dict) else None
    if synth:
        sections.append(("synthesis", "Synthesis"))
    training = _training(r, comp, list(extra_points))
    if training:
        sections.append(("training", "Fine-tuning"))
    sections += [("verification", "Verification"), ("timings", "Timings"), ("tools", "Tools")]
    model = (r.get("model") or {}).get("file", "model")
    body = "".join([
        _header(r), _nav(sections), _summary(r, comp),
        _section("layers", "Per-layer table",
                 _layer_table(r, comp_rows, {l["name"]: l for l in wlayers}, est_rows, rtl_rows,
                              _estimate_totals(est) if est else None) + _all_layers(r)),
        _plots(r, comp, wlayers), _estimate_section(r, est), _synth_section(synth), training, _verification(r, verify),
        _timings(r), _tools(r, comp, verify), _other(r)])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(model)} — fcomp report</title><style>{CSS}</style></head>"
            f'<body><main>{body}<footer>Rendered by fcomp from report.json'
            f'{", compression.json" if comp else ""}{", verify.json" if verify else ""}{", synth.json" if synth else ""}. '
            f"Re-render: <code>python -m compiler.report OUT_DIR</code></footer></main></body></html>\n")


CSS = """
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#e3e7ee;--bg:#f6f7f9;--card:#fff;--accent:#0072B2;--ok:#0b7a50;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"DejaVu Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 20px 40px}
header h1{font-size:26px;margin:2px 0 10px;word-break:break-word}
.kicker{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.08em}
.sub{color:var(--muted);margin:8px 0 0}
.pills{display:flex;flex-wrap:wrap;gap:8px}
.pill{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid}
.pill.ok{color:var(--ok);background:#e8f6ef;border-color:#b7e2cd}
.pill.bad{color:var(--bad);background:#fdecea;border-color:#f5c2bc}
.pill.muted{color:var(--muted);background:#eef0f3;border-color:#dde1e7}
nav{position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line);margin:18px 0 8px;
padding:8px 0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}
.note{color:var(--muted);font-size:12.5px;margin:4px 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card h3{margin:0 0 6px;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
table{border-collapse:collapse;font-size:12.5px}
.tablewrap{overflow-x:auto}
.tablewrap table{width:100%}
th,td{padding:4px 7px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
thead th{background:#f0f2f5;font-weight:600;white-space:nowrap;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{color:var(--muted);font-weight:500;white-space:nowrap;padding-left:0;width:1%}
table.kv td{word-break:break-word}
table.layers{font-size:12px}
table.layers td{white-space:nowrap}
table.layers th,table.layers td{padding:4px 5px}
table.layers thead th{white-space:normal;vertical-align:bottom}
table.layers td:first-child{white-space:normal;min-width:150px}
.lname{display:block;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12px}
.onnx{display:block;color:var(--muted);font-size:11px}
.ok{color:var(--ok);font-weight:700}.bad{color:var(--bad);font-weight:700}
figure{margin:14px 0 20px}
figure img.plot{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:12.5px;margin-top:4px}
details{margin:10px 0}
summary{cursor:pointer;color:var(--accent)}
pre{background:#f4f5f7;padding:10px;border-radius:6px;overflow-x:auto;font-size:12px}
table.timings{min-width:520px}
table.timings th{font-weight:500;padding-left:0}
.barcell{width:60%}.bar{height:10px;background:var(--accent);border-radius:2px;min-width:1px;margin-top:5px}
tr.total th,tr.total td{font-weight:700;border-bottom:none}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:8px 28px;align-items:start}
footer{color:var(--muted);font-size:12px;margin-top:24px}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12px}
"""
