"""Errors that end a build with a clear one-line message and a documented exit code.

Exit codes (README "Exit codes"): 0 ok, 1 a verification check failed, 2 bad input or usage.
Anything else escaping the library is a bug in fcomp, not in the user's model.
"""


MAX_MESSAGE = 2000  # a 10 KB node name must not turn one error line into a page


def one_line(text: str) -> str:
    """Messages quote untrusted names; control characters are shown escaped so a message stays one line."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if len(line) <= MAX_MESSAGE:
        return line
    cut = f" ... [{len(line) - MAX_MESSAGE + 40} characters cut] ... "  # keep both ends: the end says what is wrong
    half = (MAX_MESSAGE - len(cut)) // 2
    return line[:half] + cut + line[-half:]


def short_name(name, limit: int = 200) -> str:
    """A user's name as quoted in a message: long names keep their start and end."""
    name = str(name)
    return name if len(name) <= limit else f"{name[:limit // 2]}...[{len(name)} chars]...{name[-limit // 2:]}"


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of a third-party exception's text (onnx's errors span many lines)."""
    text = str(exc).strip().splitlines()
    line = next((t.strip() for t in text if t.strip()), type(exc).__name__)
    return line[:limit]


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
            where += f": node '{short_name(node)}'"
        if op is not None:
            where += f" (op {op})"
        super().__init__(f"{where}: {message}")
        self.node, self.op, self.reason = node, op, one_line(message)


class CheckFailedError(Exception):
    """A verification check (C simulation vs ONNX Runtime, RTL vs C-sim) did not meet its bound. Exit code 1."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(one_line(message))
