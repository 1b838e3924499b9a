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
            "default", "auto", "register", "namespace", "std", "hls", "ap_fixed", "ap_int", "ap_uint",
            "fcomp_accel"}   # fcomp_accel: the RTL top and its folder rtl/fcomp_accel/ beside the layer folders
# Identifiers hls4ml generates itself in the project's C++: weight/bias/scale arrays (w3, b3, s3, z3, r3), layer
# streams and their types (layer3_out, layer3_t, layer10_cpy1), config structs (config3, relu_config4), typedefs
# (input_t, result_t, x_weight_t), the top function and its locals. A layer named like one of them either
# shadows it or is redefined (seen: a graph input named `b5` or a node `config3` fails the C-sim compile).
GENERATED = re.compile(r"(layer\d+(_out|_cpy\d*)?|[wbrsz]\d+|\w*config\d+|\w+_t|fcomp_top\w*|myproject\w*|"
                       r"loaded_weights|in\d*|out\d*|res\d*|data\d*)", re.IGNORECASE)
# Layers that fcomp's backend and hls4ml's optimizers add next to a layer X are named X_pad, X_act, X_linear,
# clone_X, ...; a user's layer may not take such a name (seen: a tensor `bn_pad` beside a padded Conv `bn`
# made two layers called `bn_pad`). Such names get a `_x` suffix / an `n_` prefix.
GENERATED_SUFFIX = re.compile(r"_(pad|act|rescale|linear|scale|pointwise|depthwise|end|alpha|cpy\d*)$",
                              re.IGNORECASE)
GENERATED_PREFIX = re.compile(r"(clone|bn|repack)_", re.IGNORECASE)


def sanitize(name: str, prefix: str = "n") -> str:
    """Map arbitrary text to a safe identifier; deterministic, never empty."""
    text = str(name) if name is not None else ""
    safe = _UNSAFE.sub("_", text).strip("_")
    safe = re.sub(r"_+", "_", safe)
    if not safe or not safe[0].isalpha():
        safe = f"{prefix}_{safe}" if safe else prefix
    if safe.lower() in RESERVED or GENERATED.fullmatch(safe) or GENERATED_PREFIX.match(safe):
        safe = f"{prefix}_{safe}"
    if GENERATED.fullmatch(safe) or GENERATED_SUFFIX.search(safe):  # e.g. `n_a_t`, `a_pad`: end it differently
        safe += "_x"
    if len(safe) > MAX_LEN:
        # Long names are cut; a short hash of the raw name keeps cut names apart.
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe[:MAX_LEN - 9].rstrip('_')}_{digest}"  # no '__': sanitizing again changes nothing
    return safe


class NameTable:
    """Hands out unique sanitized names, remembering which raw name each came from.

    Unique ignoring case as well: names become file names, and Windows/macOS file systems (where Vivado
    projects often live) do not tell `Conv` from `conv`."""

    def __init__(self):
        self.used: set[str] = set()
        self._folded: set[str] = set()
        self.original: dict[str, str] = {}

    def add(self, raw: str, prefix: str = "n") -> str:
        base = sanitize(raw, prefix)
        name, i = base, 1
        while name.lower() in self._folded:
            suffix = f"_{i}"
            name = base[:MAX_LEN - len(suffix)] + suffix
            i += 1
        self.used.add(name)
        self._folded.add(name.lower())
        self.original[name] = raw
        return name
