"""Project configuration file (`fcomp.yaml`): every CLI option of a command, so a team can keep its settings in
the repository next to its model instead of in shell history.

    # fcomp.yaml
    board: zcu104            # top-level keys apply to every command that has the option
    data: digits
    build:                   # a command's section applies to that command only (and wins over top-level keys)
      check_inputs: 20
      rtl_layers: all
    compress:
      epochs: 30

Keys are option names without the dashes (`target-compression` or `target_compression`). The command line wins
over the file; the file wins over built-in defaults. Unknown keys, wrong types and values outside an option's
choices are errors (exit 2) naming the key and the file, so a typo never silently does nothing. The options a
build really ran with are saved in its output as `fcomp.effective.yaml`, loadable with `--config`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from .errors import FcompError

DEFAULT_FILE = "fcomp.yaml"
COMMANDS = ("build", "compress", "verify", "inspect", "boards", "report")
_NOT_CONFIGURABLE = {"help", "config", "version", "command"}


def load_file(path: Path) -> dict:
    """Read and shape-check a config file (a mapping; command sections are mappings)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FcompError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise FcompError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FcompError(f"config file {path} must be a mapping of option: value")
    for cmd in COMMANDS:
        if cmd in data and not isinstance(data[cmd], dict):
            raise FcompError(f"config file {path}: section '{cmd}' must be a mapping of option: value")
    return data


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest not in _NOT_CONFIGURABLE and a.dest != argparse.SUPPRESS}


def _convert(action: argparse.Action, key: str, value, origin: str):
    """Check and convert one YAML value the way argparse converts the same option on the command line."""
    what = f"config file {origin}: '{key}'"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise FcompError(f"{what} must be true or false, not {value!r}")
        return value
    if isinstance(value, (dict, list)):
        raise FcompError(f"{what} must be a single value, not a {type(value).__name__}")
    if value is None:
        return None
    conv = action.type or str
    if isinstance(value, bool) and conv is not str:
        raise FcompError(f"{what} must be a {conv.__name__}, not {value!r}")
    if conv is int and isinstance(value, float) and not value.is_integer():
        raise FcompError(f"{what} must be a whole number, not {value!r}")
    try:
        out = conv(value) if conv in (int, float) else conv(str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise FcompError(f"{what} = {value!r} is not a valid {getattr(conv, '__name__', 'value')}") from None
    if action.choices is not None and out not in action.choices:
        raise FcompError(f"{what} = {value!r} is not one of: {', '.join(map(str, action.choices))}")
    return out


def defaults_for(command: str, subparsers: dict[str, argparse.ArgumentParser], data: dict, origin: str) -> dict:
    """The config values that apply to `command`, converted, as argparse defaults (dest -> value).

    A top-level key another command knows (e.g. `epochs` while running `boards`) is skipped; a key no command
    knows, or an unknown key in this command's own section, is an error."""
    actions = _actions(subparsers[command])
    section = data.get(command, {})
    merged = {k: v for k, v in data.items() if k not in COMMANDS}
    merged.update(section)
    out, unknown = {}, []
    for key, value in merged.items():
        dest = str(key).replace("-", "_")
        if dest in actions:
            out[dest] = _convert(actions[dest], str(key), value, origin)
        elif key in section or not any(dest in _actions(p) for p in subparsers.values()):
            unknown.append(str(key))
    if unknown:
        valid = ", ".join(sorted(d.replace("_", "-") for d in actions))
        raise FcompError(f"config file {origin}: unknown option(s) {', '.join(sorted(unknown))} for "
                         f"'fcomp {command}'; valid: {valid}")
    return out


def find_default_file(cwd: Path | None = None) -> Path | None:
    path = Path(cwd or os.getcwd()) / DEFAULT_FILE
    return path if path.is_file() else None


def dump_effective(options: dict) -> str:
    """YAML text of the options a command ran with (sorted, paths as strings: reproducible)."""
    clean = {}
    for k, v in sorted(options.items()):
        if isinstance(v, Path):
            v = str(v)
        clean[k] = v
    return ("# fcomp: the options this output was built with (usable as --config)\n"
            + yaml.safe_dump(clean, sort_keys=True, default_flow_style=False))


def build_options_as_cli(opts) -> dict:
    """A BuildOptions (from the CLI, a config file or the Python API) as `fcomp build` option names: the
    effective configuration a build saves, loadable again with `fcomp --config`."""
    c = opts.compression
    data = opts.data
    if data is not None and data != "digits" and os.path.exists(data):
        data = os.path.abspath(data)     # the saved file must work from any folder
    out = {"model": os.path.abspath(opts.model), "board": opts.board, "data": data,
           "check_inputs": opts.n_check, "calibration_inputs": opts.n_calibration,
           "min_agreement": opts.min_agreement, "tie_margin": opts.tie_margin, "act_bits": opts.act_bits,
           "weight_bits": opts.weight_bits, "rtl_layers": opts.rtl_layers, "rtl_frames": opts.rtl_frames,
           "max_memory_gb": opts.max_memory_gb,
           "max_csim_minutes": opts.max_csim_minutes, "margin": opts.margin, "target_fps": opts.target_fps,
           "max_simd": opts.max_simd, "synth": opts.synth, "synth_jobs": opts.synth_jobs,
           "synth_timeout": opts.synth_timeout, "synth_memory_gb": opts.synth_memory_gb}
    if c is None:
        out["strategy"] = "none"
    else:
        out.update(strategy=c.strategy, target_compression=c.target, epochs=c.epochs, lr=c.lr, penalty=c.penalty,
                   seed=c.seed, first_last_bits=c.first_last_bits, device=c.device,
                   max_accuracy_drop=c.max_drop, prune_first_layer=c.prune_first,
                   ternary_scales=c.ternary_scales)
    return out
