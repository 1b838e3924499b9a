"""The one sanitizer for every name that leaves an ONNX file.

Node and tensor names in an ONNX file are untrusted text. They become C++ identifiers (hls4ml layer and
variable names), TCL words and file names, so each one is reduced to `[A-Za-z][A-Za-z0-9_]*`, kept short,
and made unique. The original name is kept only for messages and reports (JSON-escaped there).
"""

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
MAX_LEN = 40
# Names that would collide with hls4ml's generated code or with C++ keywords used in it.
RESERVED = {"input", "output", "result", "layer", "model", "myproject", "nnet", "config", "void", "int",
            "float", "double", "static", "const", "return", "struct", "class", "template", "typename",
            "default", "auto", "register", "namespace", "std", "hls", "ap_fixed", "ap_int", "ap_uint"}


def sanitize(name: str, prefix: str = "n") -> str:
    """Map arbitrary text to a safe identifier; deterministic, never empty."""
    text = str(name) if name is not None else ""
    safe = _UNSAFE.sub("_", text).strip("_")
    safe = re.sub(r"_+", "_", safe)
    if not safe or not safe[0].isalpha():
        safe = f"{prefix}_{safe}" if safe else prefix
    if safe.lower() in RESERVED:
        safe = f"{prefix}_{safe}"
    if len(safe) > MAX_LEN:
        # Long names are cut; a short hash of the raw name keeps cut names apart.
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe[:MAX_LEN - 9].rstrip('_')}_{digest}"  # no '__': sanitizing again changes nothing
    return safe


class NameTable:
    """Hands out unique sanitized names, remembering which raw name each came from."""

    def __init__(self):
        self.used: set[str] = set()
        self.original: dict[str, str] = {}

    def add(self, raw: str, prefix: str = "n") -> str:
        base = sanitize(raw, prefix)
        name, i = base, 1
        while name in self.used:
            suffix = f"_{i}"
            name = base[:MAX_LEN - len(suffix)] + suffix
            i += 1
        self.used.add(name)
        self.original[name] = raw
        return name
