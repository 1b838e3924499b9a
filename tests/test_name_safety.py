"""Names from an ONNX file are untrusted text: they must become safe, unique, deterministic identifiers.

Checked at three levels: `compiler.names` alone (sanitize, NameTable), the frontend (every name in the
normalized model and the IR), and end to end (a model with hostile names built through hls4ml C-sim: it compiles,
passes, no identifier or file derived from the names leaves [A-Za-z0-9_], and nothing is written outside the
output folder).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import onnx_builders as B
from compiler.frontend import import_onnx
from compiler.names import MAX_LEN, NameTable, sanitize

SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
HOSTILE = ['x"); system("rm -rf /"); //', "../../etc/passwd", "$(reboot)", "a b", "[exec rm]", "`reboot`",
           "\u00e9t\u00e9 \u4e2d\u6587 \U0001F600", "n" * 10240, "a\nb", "\x00", "", "a_b", "a__b", "a?b", "A b",
           "input", "void", "9lives", "%s%n", "{{x}}", "C:\\x\\y", "/abs/path", "-", "_",
           # identifiers hls4ml generates itself (weights, streams, configs, types, the top function)
           "w3", "b5", "layer2_out", "layer4_t", "config3", "relu_config4", "input_t", "result_t", "fcomp_top",
           "loaded_weights", "conv_pad", "clone_relu", "fc_linear", "x_cpy1", "bn_pad", "c_act"]
HLS_GENERATED = re.compile(r"^(layer\d+(_out|_cpy\d*)?|[wbrsz]\d+|\w*config\d+|\w+_t|fcomp_top\w*|myproject\w*|"
                           r"loaded_weights|clone_\w+|\w+_(pad|act|linear|scale|cpy\d*))$", re.IGNORECASE)


# ---- compiler.names --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", HOSTILE)
def test_sanitize_is_safe_short_idempotent_and_avoids_generated_identifiers(raw):
    s = sanitize(raw)
    assert SAFE.match(s) and len(s) <= MAX_LEN
    assert sanitize(s) == s
    assert not HLS_GENERATED.match(s), s


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=300))
def test_sanitize_any_text(raw):
    s = sanitize(raw)
    assert SAFE.match(s) and len(s) <= MAX_LEN and sanitize(s) == s == sanitize(raw)


def test_name_table_makes_colliding_names_unique_ignoring_case():
    t = NameTable()
    raws = ["a b", "a_b", "a__b", "a?b", "A b", "A_B", "a b!", "_a_b_", "n" * 10240, "n" * 10239 + "m", "a_b_1",
            "a_b_1"]
    names = [t.add(r) for r in raws]
    assert len({n.lower() for n in names}) == len(names)
    assert all(SAFE.match(n) and len(n) <= MAX_LEN for n in names)
    assert [t.original[n] for n in names] == raws


def test_names_are_deterministic_across_processes(tmp_path):
    """Same file, same names, whatever the interpreter's hash seed (no set/dict-order or id() in naming)."""
    path = B.save(_hostile_model(), tmp_path / "hostile.onnx")
    script = ("import sys; sys.path[:0] = sys.argv[2:4]; from compiler.frontend import import_onnx; "
              "r = import_onnx(sys.argv[1]); print([(n.name, n.inputs) for n in r.graph.nodes], "
              "[x.name for x in r.onnx_model.graph.node], r.graph.name)")
    root = Path(__file__).resolve().parent.parent
    outs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", script, str(path), str(root), str(root / "tests")],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1


# ---- frontend ----------------------------------------------------------------------------------------------------
def _hostile_model():
    """digits-sized evil_names_model with more hostile names: hls4ml's own identifiers, a 10 KB name, unicode,
    shell/TCL/C++ injection, and a tensor named like the padding layer the backend adds for a padded Conv."""
    m = B.evil_names_model()
    renames = {}
    conv_out = m.graph.node[0].output[0]
    pool = iter(['x"); system("rm -rf /"); //', "[exec rm]", "n" * 10240, "\u00e9t\u00e9 \U0001F600",
                 "w3", "layer2_out"])
    for n in m.graph.node[1:]:
        for o in n.output:
            if o not in {v.name for v in m.graph.output}:
                renames[o] = next(pool, f"{conv_out} x")
    renames[m.graph.input[0].name] = "b5"
    B.rename_tensors(m, renames)
    m.graph.node[2].name = "config3"
    m.graph.node[3].name = "fcomp_top"
    return B.checked(m)


def _backend_collision_model():
    """A padded Conv (its BatchNorm output, the Conv's IR name, is `bn`) followed by a Relu whose output is
    `bn_pad`: the name fcomp's backend gives the Conv's zero-padding layer. Before names.GENERATED_SUFFIX the
    hls4ml project had two layers `bn_pad` and the C-sim did not compile."""
    m = B.conv_bn_relu_model()
    m.graph.node[-1].output[0] = "bn_pad"
    m.graph.output[0].name = "bn_pad"
    return B.checked(m)


def _all_names(model):
    g = model.graph
    return ([n.name for n in g.node], [o for n in g.node for o in list(n.input) + list(n.output) if o],
            [v.name for v in list(g.input) + list(g.output) + list(g.value_info)], [t.name for t in g.initializer],
            [g.name])


def test_frontend_names_are_safe_unique_and_map_back(tmp_path):
    model = _hostile_model()
    result = import_onnx(B.save(model, tmp_path / "hostile.onnx"))
    nodes, tensors, values, inits, graph = _all_names(result.onnx_model)
    for name in nodes + tensors + values + inits + graph:
        assert SAFE.match(name) and len(name) <= MAX_LEN and not HLS_GENERATED.match(name), name
    assert len(set(nodes)) == len(nodes)
    assert len({t.lower() for t in set(tensors) | set(inits)}) == len(set(tensors) | set(inits))
    for n in result.graph.nodes:
        assert SAFE.match(n.name) and all(SAFE.match(i) for i in n.inputs)
    raw_tensors = {o for n in model.graph.node for o in n.output} | {model.graph.input[0].name}
    assert {result.original_names[n.name] for n in result.graph.nodes} <= raw_tensors
    assert "n" * 10240 in set(result.original_names.values())
    x = B.random_input(model)
    np.testing.assert_allclose(B.run_ir(result.graph, x), B.run_ort(model, x), atol=1e-5)


def test_error_messages_quote_hostile_names_on_one_line(tmp_path):
    model = B.unsupported_op_model("Softplus", node_name="n" * 10240 + '\n"); system("x")')
    with pytest.raises(Exception) as info:
        import_onnx(B.save(model, tmp_path / "m.onnx"))
    msg = str(info.value)
    assert type(info.value).__name__ == "UnsupportedModelError"
    assert "\n" not in msg and len(msg) <= 2000 and "(op Softplus)" in msg


# ---- end to end: hls4ml C-sim ------------------------------------------------------------------------------------
@pytest.mark.sim
@pytest.mark.parametrize("make", [_hostile_model, _backend_collision_model], ids=["hostile", "backend_collision"])
def test_hostile_names_build_through_csim_without_leaking(tmp_path, monkeypatch, make):
    from compiler.pipeline import BuildOptions, build

    model = make()
    home = tmp_path / "home"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # relative paths derived from names would land here
    path = B.save(model, home / "m; rm -rf ~ $(touch pwned) [exec rm].onnx")
    out = home / "out"
    before = {p for p in tmp_path.rglob("*")}
    report = build(BuildOptions(model=path, output=out, compression=None, rtl_layers="none", n_check=2,
                                n_calibration=4))
    assert report["check"]["passed"]

    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if not p.resolve().is_relative_to(out.resolve())]
    assert outside == [], outside
    assert not list(tmp_path.rglob("pwned")) and not Path("/tmp/pwned").exists()
    for p in out.rglob("*"):  # every file the build wrote has a plain name
        assert re.fullmatch(r"[A-Za-z0-9_.+-]+", p.name), p

    firmware = out / "hls" / "firmware"
    own = [firmware / "fcomp_top.cpp", firmware / "fcomp_top.h", firmware / "parameters.h", firmware / "defines.h"]
    own += sorted((firmware / "weights").glob("*.h"))
    code = "\n".join(p.read_text() for p in own)
    layer_names = [row["name"] for row in report["layers"]]
    assert all(SAFE.match(name) for name in layer_names), layer_names
    assert sum(name in code for name in layer_names[1:]) >= 2  # the names do reach the C++, sanitized
    for literal in re.findall(r'"([^"\n]*)"', code):  # stream names, weight file names
        assert re.fullmatch(r"[A-Za-z0-9_./]*", literal), literal
    for comment in re.findall(r"\);[ \t]*//[ \t]*(.*)", code):  # hls4ml puts the layer name after each call
        assert SAFE.match(comment.strip()), comment
    project = "\n".join(p.read_text(errors="replace") for p in (out / "hls").glob("*")
                         if p.is_file() and p.suffix in (".cpp", ".tcl", ".sh", ".yml"))
    raw = {n.name for n in model.graph.node} | {o for n in model.graph.node for o in n.output} | \
        {model.graph.input[0].name, model.graph.name, path.stem}
    for name in raw:
        if len(name) >= 3 and not re.fullmatch(r"[A-Za-z0-9_]*", name):
            assert name not in code and name not in project, name
