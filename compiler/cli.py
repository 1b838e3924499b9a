"""Command line: parses arguments and calls the library. Exit codes: 0 ok, 1 check failed, 2 bad input/usage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import CheckFailedError, FcompError
from .progress import log, setup_logging

EPILOG = "exit codes: 0 ok, 1 a verification check failed, 2 bad input or usage"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcomp", description=__doc__.split(":")[0] + ": ONNX CNN -> verified FPGA design",
                                epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"fcomp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("build", help="ONNX model -> checked hls4ml project for a board",
                       description="Import an ONNX model, lower it to an hls4ml project for the board, compile the "
                                   "C simulation and check it against ONNX Runtime. "
                                   "Example: fcomp build models/resnet18.onnx --board zcu104",
                       epilog=EPILOG)
    b.add_argument("model", type=Path, help="the ONNX file (float32, batch 1 or dynamic batch)")
    b.add_argument("--board", default="zcu104", help="target board (see `fcomp boards`), default zcu104")
    b.add_argument("-o", "--output", type=Path, help="output folder, default build/<model>-<board>/")
    b.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    b.add_argument("--data", help="'digits' or an .npz file with array x (and y): calibration and check inputs; "
                                  "default: digits for zoo digits models, else seeded random N(0,1) inputs")
    b.add_argument("--check-inputs", type=int, default=20, metavar="N",
                   help="inputs to run through C-sim and ONNX Runtime (default 20)")
    b.add_argument("--calibration-inputs", type=int, default=64, metavar="N",
                   help="inputs used to measure value ranges for fixed-point types (default 64)")
    b.add_argument("--min-agreement", type=float, default=0.9, metavar="F",
                   help="fail (exit 1) when C-sim and ONNX Runtime agree on top-1 for less than this share "
                        "of check inputs (default 0.9)")
    b.add_argument("--tie-margin", type=float, default=0.01, metavar="F",
                   help="an input whose two best ONNX Runtime scores differ by less than F of its score range is a "
                        "near-tie and does not count against --min-agreement (default 0.01; 0 counts every input)")
    b.add_argument("--act-bits", type=int, default=16, help="activation width in bits (default 16)")
    b.add_argument("--weight-bits", type=int, default=16, help="weight width in bits (default 16)")
    b.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    b.add_argument("-v", "--verbose", action="store_true")
    b.add_argument("-q", "--quiet", action="store_true")

    sub.add_parser("boards", help="list the known boards and their resources")
    return p


def _summary(report: dict) -> str:
    m, c, mem = report["model"], report["check"], report["memory"]
    lines = [
        f"fcomp {report['fcomp_version']}: {m['file']} for {report['board']['name']} ({report['board']['part']})",
        f"  layers {len(report['layers'])}, params {m['params']:,}, MACs {m['macs']:,}",
        f"  weights {mem['weight_bits'] / 2**20:.2f} Mbit vs {mem['on_chip_bits'] / 2**20:.2f} Mbit on-chip"
        + ("" if mem["fits_on_chip"] else "  (does NOT fit on-chip uncompressed)"),
        f"  {c['message']}",
    ]
    if "accuracy_csim" in c:
        lines.append(f"  accuracy on labelled check inputs: ONNX {c['accuracy_onnx']:.1%}, C-sim {c['accuracy_csim']:.1%}")
    t = report["timings_s"]
    lines.append("  time: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    lines.append(f"  output: {report['output']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    setup_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
    try:
        if args.command == "boards":
            from .boards import list_boards

            for bd in list_boards():
                r = bd.resources
                print(f"{bd.name:12s} {bd.part:24s} LUT {r['lut']:>9,} FF {r['ff']:>9,} DSP {r['dsp']:>6,} "
                      f"BRAM36 {r['bram36']:>5,} URAM {r['uram']:>5,} {bd.clock_mhz:.0f} MHz")
            return 0
        from .pipeline import BuildOptions, build

        opts = BuildOptions(model=args.model, board=args.board, output=args.output, force=args.force,
                            data=args.data, n_calibration=args.calibration_inputs, n_check=args.check_inputs,
                            min_agreement=args.min_agreement, tie_margin=args.tie_margin,
                            act_bits=args.act_bits, weight_bits=args.weight_bits)
        report = build(opts)
        print(json.dumps(report, indent=2, default=str) if args.json else _summary(report))
        return 0
    except CheckFailedError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except FcompError as exc:
        log.error("error: %s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; no output was written")
        return 130


if __name__ == "__main__":
    sys.exit(main())
