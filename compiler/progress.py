"""The library's only voice: stage timing and progress on stderr, through `logging`.

Stages are timed here so every build records how long each step took in its report.
"""

import contextlib
import logging
import sys
import time

log = logging.getLogger("fcomp")


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Called by the CLI only; a notebook user keeps their own logging set-up."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[fcomp] %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


class StageTimer:
    """Times named stages; `timings` goes straight into report.json."""

    def __init__(self):
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str, what: str):
        log.info("%s ...", what)
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + took, 3)
        log.info("%s done in %.1f s", what, took)


def progress_bar(iterable, desc: str, total=None):
    """A tqdm bar on stderr when logging is at INFO and stderr is a terminal; a plain iterator otherwise."""
    show = log.isEnabledFor(logging.INFO) and sys.stderr.isatty()
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=f"[fcomp] {desc}", total=total, file=sys.stderr, leave=False)
