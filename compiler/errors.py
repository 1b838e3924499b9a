"""Errors that end a build with a clear one-line message and a documented exit code.

Exit codes (README "Exit codes"): 0 ok, 1 a verification check failed, 2 bad input or usage.
Anything else escaping the library is a bug in fcomp, not in the user's model.
"""


def one_line(text: str) -> str:
    """Messages quote untrusted names; control characters are shown escaped so a message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class FcompError(Exception):
    """Bad input or usage: the model, a flag or the board cannot be built. Exit code 2."""

    exit_code = 2

    def __init__(self, message):
        super().__init__(one_line(message))


class UnsupportedModelError(FcompError):
    """The ONNX file is valid but uses something fcomp cannot build (op, attribute, shape)."""

    def __init__(self, path, message, node=None, op=None):
        where = str(path)
        if node is not None:
            where += f": node '{node}'"
        if op is not None:
            where += f" (op {op})"
        super().__init__(f"{where}: {message}")
        self.node, self.op = node, op


class CheckFailedError(Exception):
    """A verification check (C simulation vs ONNX Runtime, RTL vs C-sim) did not meet its bound. Exit code 1."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(one_line(message))
