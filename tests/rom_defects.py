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
