"""Board files: all load, carry the documented fields, unknown names list the known ones."""

import pytest

from compiler.boards import RESOURCE_KEYS, get_board, list_boards
from compiler.errors import FcompError

REQUIRED = {"zcu104", "zcu102", "ultra96v2", "kv260", "pynq-z2", "alveo-u250"}


def test_all_required_boards_present_with_resources():
    boards = {b.name: b for b in list_boards()}
    assert REQUIRED <= set(boards)
    for b in boards.values():
        assert set(b.resources) == set(RESOURCE_KEYS)
        assert all(v >= 0 for v in b.resources.values()) and b.resources["lut"] > 0
        assert b.clock_mhz > 0 and b.part


def test_zcu104_part_and_figures():
    b = get_board("zcu104")
    assert b.part == "xczu7ev-ffvc1156-2-e"
    assert b.resources == {"lut": 230400, "ff": 460800, "dsp": 1728, "bram36": 312, "uram": 96}


def test_unknown_board_lists_known_ones():
    with pytest.raises(FcompError) as e:
        get_board("zcu999")
    assert "zcu104" in str(e.value) and "pynq-z2" in str(e.value)
