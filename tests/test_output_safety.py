"""Output safety: a build writes into a temporary sibling folder and renames it at the end, so Ctrl-C or a crash
midway leaves the previous output as it was and no half-written folder; a non-empty folder needs --force."""

import pytest

from compiler import cli, pipeline


@pytest.fixture
def previous(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("previous build\n")
    return out


def _interrupt_midway(exc):
    def run_steps(opts, board, fe, tmp, timer):
        (tmp / "report.json").write_text("half written\n")
        (tmp / "hls").mkdir()
        raise exc
    return run_steps


@pytest.mark.parametrize("exc, rc", [(KeyboardInterrupt(), 130), (RuntimeError("crash"), None)])
def test_interrupted_build_leaves_the_previous_output(previous, monkeypatch, zoo_onnx, exc, rc, capsys):
    monkeypatch.setattr(pipeline, "_run_steps", _interrupt_midway(exc))
    argv = ["build", str(zoo_onnx("digits_mlp")), "-o", str(previous), "--force"]
    if rc is None:
        with pytest.raises(RuntimeError):
            cli.main(argv)
    else:
        assert cli.main(argv) == rc
        assert "interrupted" in capsys.readouterr().err
    assert (previous / "report.json").read_text() == "previous build\n"
    assert sorted(p.name for p in previous.parent.iterdir()) == ["out"]     # no temporary sibling left behind


def test_non_empty_output_needs_force(previous, zoo_onnx, capsys):
    assert cli.main(["build", str(zoo_onnx("digits_mlp")), "-o", str(previous)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (previous / "report.json").read_text() == "previous build\n"
