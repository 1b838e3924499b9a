"""Real ROM defects for the RTL failure-path tests."""

from pathlib import Path


def flip_a_weight_sign(rom: Path) -> tuple[int, int]:
    """Turn the first +1 weight code (01) of a codes.mem into -1 (11); returns (word, bit)."""
    words = Path(rom).read_text().split()
    for k, text in enumerate(words):
        w = int(text, 16)
        for i in range(0, 4 * len(text), 2):
            if (w >> i) & 3 == 1:
                words[k] = f"{w ^ (2 << i):0{len(text)}x}"
                Path(rom).write_text("\n".join(words) + "\n")
                return k, i + 1
    raise AssertionError(f"{rom} holds no +1 code")


def flip_a_live_weight_sign(rom: Path, layer, live_inputs) -> tuple[int, int]:
    """Turn a +1 code of an RtlLayer's codes.mem whose input is nonzero on some frame (`live_inputs`: (cols,) bool)
    into -1, so the outputs must change (the first +1 code may multiply a channel a ReLU keeps at 0 for every
    frame: the flip is then invisible). Returns (word, bit)."""
    import numpy as np

    words = Path(rom).read_text().split()
    for k in range(layer.K):
        for pe in range(layer.P):
            for lane in range(layer.S):
                col = int(layer.sched_block[pe, k]) * layer.S + lane
                if layer.sched_codes[pe, k, lane] == 1 and col < layer.cols and bool(np.asarray(live_inputs)[col]):
                    bit = 2 * (pe * layer.S + lane)
                    w = int(words[k], 16)
                    assert (w >> bit) & 3 == 1, "codes.mem does not hold the schedule's code"
                    words[k] = f"{w ^ (2 << bit):0{len(words[k])}x}"
                    Path(rom).write_text("\n".join(words) + "\n")
                    return k, bit + 1
    raise AssertionError(f"{rom} holds no +1 code on a live input")
