"""Board descriptions (part number, resources, clock) from the YAML files in `boards/`.

The YAML files ship inside the package (`compiler/_boards`, mapped from the repo's `boards/` folder by
pyproject.toml), so an installed `fcomp` finds them outside the repository too.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

from .errors import FcompError

RESOURCE_KEYS = ("lut", "ff", "dsp", "bram36", "uram")


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    family: str
    resources: dict
    clock_mhz: float

    def to_dict(self) -> dict:
        return {"name": self.name, "part": self.part, "family": self.family, "resources": dict(self.resources),
                "clock_mhz": self.clock_mhz}


def _board_files():
    root = resources.files("compiler._boards")
    return sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def _parse(text: str, origin: str) -> Board:
    data = yaml.safe_load(text)
    try:
        res = {k: int(data["resources"][k]) for k in RESOURCE_KEYS}
        return Board(str(data["name"]), str(data["part"]), str(data["family"]), res, float(data["clock_mhz"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise FcompError(f"board file {origin} is malformed: {exc}") from None


def list_boards() -> list[Board]:
    return [_parse(f.read_text(encoding="utf-8"), f.name) for f in _board_files()]


def get_board(name: str) -> Board:
    boards = {b.name: b for b in list_boards()}
    if name not in boards:
        raise FcompError(f"unknown board '{name}'; known boards: {', '.join(sorted(boards))}")
    return boards[name]
