"""fcomp.yaml: every option of a command can live in the file, the command line wins, mistakes are exit 2."""

import json

import pytest

from compiler import cli
from compiler.config import build_options_as_cli, dump_effective


def _args(argv, tmp_path, text=None, monkeypatch=None):
    if text is not None:
        (tmp_path / "fcomp.yaml").write_text(text)
    if monkeypatch is not None:
        monkeypatch.chdir(tmp_path)
    return cli._parse(argv)


def test_file_sets_defaults_and_cli_overrides(tmp_path, monkeypatch):
    text = "board: kv260\nepochs: 7\nbuild:\n  check_inputs: 3\n  rtl_layers: all\n  target-compression: 18\n"
    a = _args(["build", "m.onnx"], tmp_path, text, monkeypatch)
    assert (a.board, a.epochs, a.check_inputs, a.rtl_layers, a.target_compression) == ("kv260", 7, 3, "all", 18.0)
    b = _args(["build", "m.onnx", "--board", "zcu104", "--epochs", "2"], tmp_path, None, monkeypatch)
    assert (b.board, b.epochs, b.check_inputs) == ("zcu104", 2, 3)


def test_explicit_config_and_model_from_file(tmp_path):
    cfg = tmp_path / "team.yaml"
    cfg.write_text("model: nets/a.onnx\ncompress:\n  strategy: magnitude\n")
    a = cli._parse(["--config", str(cfg), "compress"])
    assert str(a.model) == "nets/a.onnx" and a.strategy == "magnitude"


def test_top_level_key_for_another_command_is_ignored(tmp_path, monkeypatch):
    a = _args(["boards"], tmp_path, "epochs: 3\n", monkeypatch)
    assert a.command == "boards"


@pytest.mark.parametrize("text, needle", [
    ("board: [a, b]\n", "single value"),
    ("build:\n  epochs: many\n", "not a valid int"),
    ("build:\n  epochs: 2.5\n", "whole number"),
    ("build:\n  strategy: best\n", "not one of"),
    ("build:\n  force: 1\n", "true or false"),
    ("build:\n  boardd: zcu104\n", "unknown option(s) boardd"),
    ("bogus_everywhere: 1\n", "unknown option(s) bogus_everywhere"),
    ("build: 3\n", "section 'build'"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_config_is_exit_2_with_the_key(tmp_path, monkeypatch, capsys, text, needle):
    (tmp_path / "fcomp.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "m.onnx"]) == 2
    err = capsys.readouterr().err
    assert needle in err and "fcomp.yaml" in err and "Traceback" not in err


def test_missing_model_is_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build"]) == 2
    assert "give the ONNX model" in capsys.readouterr().err


def test_effective_config_round_trips(tmp_path):
    """What a build saves as fcomp.effective.yaml parses back to the same options."""
    from compiler.pipeline import BuildOptions
    from compiler.compress.engine import CompressionConfig

    opts = BuildOptions(model=tmp_path / "m.onnx", board="kv260", data="digits", n_check=5,
                        compression=CompressionConfig(strategy="pe-wise", target=16, epochs=4))
    saved = tmp_path / "fcomp.effective.yaml"
    saved.write_text(dump_effective(build_options_as_cli(opts)))
    a = cli._parse(["--config", str(saved), "build"])
    again = cli._build_options(a)
    assert again.board == "kv260" and again.n_check == 5 and again.data == "digits"
    assert again.compression.strategy == "pe-wise" and again.compression.target == 16
    assert again.compression.epochs == 4 and str(again.model) == str(tmp_path / "m.onnx")
    assert build_options_as_cli(again) == build_options_as_cli(opts)


def test_boards_json(capsys):
    assert cli.main(["boards", "--json"]) == 0
    boards = json.loads(capsys.readouterr().out)
    assert {b["name"] for b in boards} >= {"zcu104", "pynq-z2"}
    assert all(set(b["resources"]) == {"lut", "ff", "dsp", "bram36", "uram"} for b in boards)


def test_every_subcommand_help_has_an_example(capsys):
    for cmd in ("build", "compress", "verify", "inspect", "boards", "report"):
        with pytest.raises(SystemExit):
            cli.main([cmd, "--help"])
        out = capsys.readouterr().out
        assert "Example" in out or "example" in out, cmd
        assert "exit codes" in out


def test_effective_config_names_the_model_by_absolute_path(tmp_path, monkeypatch):
    """A build's fcomp.effective.yaml must load from any folder; it used to keep the model path as typed."""
    from compiler.pipeline import BuildOptions

    monkeypatch.chdir(tmp_path)
    saved = build_options_as_cli(BuildOptions(model="models/m.onnx"))
    assert saved["model"] == str(tmp_path / "models" / "m.onnx")
