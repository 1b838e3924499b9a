"""The Python API (`compiler.api`): the CLI's verbs as functions, raising FcompError where the CLI exits 2."""

import pytest

import compiler
from compiler import api
from compiler.errors import FcompError


def test_boards_and_inspect(zoo_onnx, tmp_path):
    names = {b["name"] for b in api.boards()}
    assert {"zcu104", "zcu102", "pynq-z2", "alveo-u250"} <= names
    info = api.inspect(zoo_onnx("digits_cnn"))
    assert info["supported"] is True
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(FcompError):
        api.inspect(bad)


def test_verbs_on_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(FcompError, match="not an fcomp build output"):
        api.verify(tmp_path)
    with pytest.raises(FcompError):
        api.report(tmp_path)


def test_build_refuses_a_board_it_cannot_fit_before_writing(zoo_onnx, tmp_path):
    with pytest.raises(FcompError, match="does not fit pynq-z2"):
        compiler.build(zoo_onnx("resnet18"), board="pynq-z2", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()
