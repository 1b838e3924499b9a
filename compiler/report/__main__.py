"""`python -m compiler.report OUT_DIR [--point STRATEGY:RATIO:ACCURACY ...]`: re-render a build's report.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FcompError


def _point(text: str) -> tuple[str, float, float]:
    name, sep, rest = text.rpartition(":")
    strategy, sep2, ratio = name.rpartition(":")
    try:
        if not (sep and sep2 and strategy):
            raise ValueError
        return strategy, float(ratio), float(rest)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STRATEGY:RATIO:ACCURACY (e.g. magnitude:21:0.95), got {text!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compiler.report",
                                description="Re-render report.html of an fcomp build folder from its JSON files. "
                                            "Example: python -m compiler.report build/digits_cnn-zcu104")
    p.add_argument("out_dir", type=Path, help="build output folder (holds report.json)")
    p.add_argument("--point", type=_point, action="append", default=[], metavar="STRATEGY:RATIO:ACCURACY",
                   help="another strategy's result for the accuracy-vs-compression plot; repeatable. "
                        "Example: --point magnitude:21.3:0.962")
    p.add_argument("-o", "--output", type=Path, help="write here instead of OUT_DIR/report.html")
    args = p.parse_args(argv)
    from .html import render_html

    try:
        path = render_html(args.out_dir, args.point, args.output)
    except FcompError as e:
        print(f"fcomp: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
