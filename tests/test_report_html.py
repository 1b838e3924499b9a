"""report.html: rendered from a real build's JSON, self-contained, escaped, deterministic, and it renders in Chromium.

One tiny fine-tuned build (digits_cnn, 1 epoch) is made per module; its report.json must hold every section the
page plots (the build writes 'weights' and 'estimate' itself: a build that dropped them fails here instead of
being filled in), so every plot of the page is exercised on what `fcomp build` wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from compiler.compress.engine import CompressionConfig, compress
from compiler.errors import FcompError
from compiler.frontend import import_onnx
from compiler.plan import plan_layers
from compiler.report import render_html, weight_stats

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent


# ---- weight_stats on a real (data-free) compression: fast, no simulator -------------------------------------------
@pytest.fixture(scope="module")
def mlp_graphs(zoo_onnx):
    fe = import_onnx(zoo_onnx("digits_mlp"))
    result = compress(fe.graph, plan_layers(fe.graph), CompressionConfig(epochs=0), None)
    return fe.graph, result


def test_weight_stats_histograms_and_shares(mlp_graphs):
    before, result = mlp_graphs
    stats = weight_stats(before, result.graph)
    assert stats["bins"] == 41
    assert [l["name"] for l in stats["layers"]] == [n.name for n in result.graph.weighted()]
    rows = {r["name"]: r for r in result.layers}
    for layer in stats["layers"]:
        node = result.graph.node(layer["name"])
        w0 = before.node(layer["name"]).weights["W"]
        assert len(layer["before"]) == len(layer["after"]) == 41
        assert sum(layer["before"]) == sum(layer["after"]) == node.weights["W"].size == layer["params"]
        assert layer["range"] == [-float(np.abs(w0).max()), float(np.abs(w0).max())]
        shares = layer["ternary_shares"]
        assert abs(sum(shares.values()) - 1) < 1e-9
        assert shares == pytest.approx(rows[layer["name"]]["ternary_shares"])
        assert layer["sparsity"] == pytest.approx(shares["0"])
        # ternary: at most 1 + 2 x (output channels) distinct values; the original weights are all distinct
        assert layer["distinct_values"] <= 1 + 2 * node.weights["scale"].size
        assert np.count_nonzero(layer["after"]) < np.count_nonzero(layer["before"])
        assert layer["after"][20] == np.count_nonzero(node.weights["W"] == 0)   # the zero bin holds the zeros
    assert len(json.dumps(stats)) < 20_000


def test_weight_stats_bins_must_be_odd(mlp_graphs):
    before, result = mlp_graphs
    with pytest.raises(ValueError):
        weight_stats(before, result.graph, bins=40)
    assert weight_stats(before, result.graph, bins=11)["layers"][0]["after"].__len__() == 11


# ---- the page, from a real build ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def build_dir(tmp_path_factory, zoo_onnx):
    from compiler.pipeline import BuildOptions, build

    model = zoo_onnx("digits_cnn")
    cfg = CompressionConfig(epochs=1, target=21, max_drop=100.0)
    out = tmp_path_factory.mktemp("report") / "out"
    build(BuildOptions(model=model, output=out, data="digits", compression=cfg, rtl_layers="none",
                       n_check=4, n_calibration=8))
    written = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("compression", "weights", "estimate", "check", "layers", "timings_s"):
        assert written.get(key), f"the build wrote no '{key}' section"
    assert written["weights"]["layers"] and written["estimate"]["layers"]
    return out


@pytest.fixture(scope="module")
def page(build_dir):
    path = render_html(build_dir, extra_points=[("magnitude", 20.5, 0.61), ("ternary-only", 15.9, 0.93)])
    assert path == build_dir / "report.html"
    return path.read_text(encoding="utf-8")


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.ids, self.imgs = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "poster", "data"):
                self.refs.append((tag, k, v or ""))
            if k == "id":
                self.ids.add(v)
        if tag == "img":
            self.imgs.append(dict(attrs))



@pytest.mark.sim
def test_sections_and_layer_table(page, build_dir):
    report = json.loads((build_dir / "report.json").read_text())
    p = _Refs()
    p.feed(page)
    assert {"summary", "layers", "plots", "estimate", "training", "verification", "timings", "tools"} <= p.ids
    for title in ("Model summary", "Per-layer table", "Compression and mapping", "Resource and throughput estimate",
                  "Fine-tuning", "Verification", "Stage timings", "Tool versions"):
        assert f">{title}<" in page
    for row in report["layers"]:
        if row["op"] in ("conv", "dense"):
            assert f'<span class="lname">{row["name"]}</span>' in page
            m = row["mapping"]
            assert f"{m['pe']}×{m['simd']}" in page
    for col in ("sparsity", "−1/0/+1 %", "P×S", "cycles / frame", "LUT", "BRAM36", "URAM", "DSP"):
        assert f">{col}</th>" in page
    alts = [i["alt"] for i in p.imgs]
    assert alts == ["ternary code shares per layer", "PE load balance",
                    "weight histograms before and after compression", "resources vs board budget",
                    "fine-tuning curves", "accuracy vs compression"]
    for img in p.imgs:
        assert img["src"].startswith("data:image/svg+xml;base64,") and len(img["src"]) > 2000
    assert "magnitude" in page and "ternary-only" in page            # the extra strategy points
    assert report["check"]["message"] in page
    assert report["tools"]["hls4ml"] in page


@pytest.mark.sim
def test_self_contained(page):
    p = _Refs()
    p.feed(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(p.tags)
    for tag, attr, value in p.refs:
        assert "http" not in value.lower() and "//" not in value.split(",")[0], (tag, attr, value[:80])
        assert value.startswith("#") if attr == "href" else value.startswith("data:"), (tag, attr, value[:80])
    assert "@import" not in page and "url(" not in page


@pytest.mark.sim
def test_deterministic(build_dir, page, tmp_path):
    again = render_html(build_dir, extra_points=[("magnitude", 20.5, 0.61), ("ternary-only", 15.9, 0.93)],
                        output=tmp_path / "again.html")
    assert again.read_text(encoding="utf-8") == page


@pytest.mark.sim
def test_hostile_names_are_escaped(build_dir, tmp_path):
    out = tmp_path / "hostile"
    shutil.copytree(build_dir, out, ignore=shutil.ignore_patterns("hls", "*.onnx"))
    evil = '<script>alert("x")</script><img src=http://evil.example/a.png onerror=alert(1)>&amp;'
    report = json.loads((out / "report.json").read_text())
    report["model"]["file"] = evil + ".onnx"
    report["model"]["graph"] = evil
    report["layers"][1]["onnx_name"] = evil
    report["options"]["data"] = evil
    comp = json.loads((out / "compression.json").read_text())
    comp["strategy"] = evil
    (out / "report.json").write_text(json.dumps(report))
    (out / "compression.json").write_text(json.dumps(comp))
    text = render_html(out).read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=http" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&amp;amp;" in text
    p = _Refs()
    p.feed(text)
    assert all("http" not in v for _, _, v in p.refs)


@pytest.mark.sim
def test_optional_inputs_absent(build_dir, tmp_path):
    """An uncompressed-looking folder (no compression.json, no weights/estimate) still renders, without those plots."""
    out = tmp_path / "plain"
    out.mkdir()
    report = json.loads((build_dir / "report.json").read_text())
    for k in ("weights", "estimate"):
        report.pop(k, None)
    report["compression"] = None
    (out / "report.json").write_text(json.dumps(report))
    text = render_html(out).read_text(encoding="utf-8")
    assert "Per-layer table" in text and "Stage timings" in text
    assert 'id="estimate"' not in text and 'id="training"' not in text and "<img" not in text
    assert "none (uncompressed build)" in text


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(FcompError, match="not found"):
        render_html(tmp_path)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(FcompError, match="cannot read JSON"):
        render_html(tmp_path)
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(FcompError, match="not an fcomp build report"):
        render_html(tmp_path)
    r = subprocess.run([sys.executable, "-m", "compiler.report", str(tmp_path / "missing")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "error" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.sim
def test_cli_rerenders(build_dir, tmp_path):
    target = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "compiler.report", str(build_dir), "--point", "lottery:21:0.9",
                        "-o", str(target)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "lottery" in target.read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "compiler.report", str(build_dir), "--point", "21:0.9"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "STRATEGY:RATIO:ACCURACY" in bad.stderr


@pytest.mark.sim
def test_screenshot_in_headless_chromium(page, build_dir, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium')")
    from PIL import Image, ImageStat

    shot = tmp_path / "report.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'ud'}",
           f"--screenshot={shot}", "--window-size=1280,2000", (build_dir / "report.html").resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2000)
    gray = img.convert("L")
    assert ImageStat.Stat(gray).stddev[0] > 20            # not a blank page
    # the top band holds the dark title on the light background; the middle band the tables and plots
    top = gray.crop((0, 0, 1280, 200))
    lo, hi = top.getextrema()
    assert lo < 60 and hi > 230
    colours = img.resize((320, 500)).getcolors(1 << 16)
    assert colours is not None and len(colours) > 50      # plots' colours, text antialiasing: a rendered page
