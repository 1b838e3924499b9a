"""Input samples for calibration and checks: the user's data, the digits set, or seeded random tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FcompError


@dataclass
class Samples:
    calibration: np.ndarray     # (N, *input_shape), used to size fixed-point types
    check: np.ndarray           # (M, *input_shape), used to compare C-sim against ONNX Runtime
    labels: np.ndarray | None   # labels of `check`, when known
    source: str                 # what the samples are, for the report


def _digits(shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from .datasets import load_digits_split

    if tuple(shape) == (64,):
        return load_digits_split(seed=0, flat=True)
    if len(shape) == 3 and shape[0] == 1 and shape[1] == shape[2] and shape[1] % 8 == 0:
        return load_digits_split(seed=0, image_size=shape[1])
    raise FcompError(f"--data digits needs a model input of (64,) or (1, 8k, 8k), the model takes {list(shape)}")


def load_samples(data: str | None, input_shape, n_calibration: int, n_check: int, seed: int = 0) -> Samples:
    """`data`: None (random N(0,1)), 'digits', or a .npz file holding `x` (and optionally `y`)."""
    shape = tuple(input_shape)
    if data is None:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_calibration + n_check, *shape), dtype=np.float32)
        return Samples(x[:n_calibration], x[n_calibration:], None, f"random N(0,1), seed {seed}")
    if data == "digits":
        xtr, _, xte, yte = _digits(shape)
        return Samples(xtr[:n_calibration], xte[:n_check], yte[:n_check], "scikit-learn digits (held-out split)")
    path = Path(data)
    if path.is_dir():
        x, y = _image_folder(path, shape)
    elif path.suffix == ".npz" and path.is_file():
        x, y = _npz_xy(path, data, labels_required=False)
    else:
        raise FcompError(f"--data {data}: expected 'digits', an .npz file with an array 'x', or an image folder")
    if x.shape[1:] != shape:
        raise FcompError(f"--data {data}: samples have shape {list(x.shape[1:])}, the model takes {list(shape)}")
    n_cal = min(n_calibration, max(1, len(x) - n_check))
    return Samples(x[:n_cal], x[n_cal:n_cal + n_check], None if y is None else y[n_cal:n_cal + n_check],
                   f"{path.name} ({len(x)} samples)")


def load_training_data(data: str, input_shape, seed: int = 0, classes: int | None = None):
    """Labelled train/test arrays for fine-tuning: 'digits' (its fixed split) or an .npz with `x` and `y`
    (the last 20% of the samples, after a seeded shuffle, are held out for testing). `classes`: the model's
    output size; labels outside 0..classes-1 are refused (a classifier with fewer outputs than the data has
    classes cannot be trained or scored on it)."""
    from .compress.engine import TrainData

    shape = tuple(input_shape)
    if data == "digits":
        xtr, ytr, xte, yte = _digits(shape)
        _check_labels(data, np.concatenate([ytr, yte]), classes)
        return TrainData(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))
    path = Path(data)
    if path.is_dir():
        x, y = _image_folder(path, shape)
    elif path.suffix != ".npz" or not path.is_file():
        raise FcompError(f"--data {data}: expected 'digits', an .npz file with arrays x and y, or a folder of "
                         "class sub-folders of images")
    else:
        x, y = _npz_xy(path, data, labels_required=True)
    if x.shape[1:] != shape or len(x) != len(y) or len(x) < 10:
        raise FcompError(f"--data {data}: need x of shape (N>=10, {', '.join(map(str, shape))}) and y of length N")
    _check_labels(data, y, classes)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(round(0.8 * len(x)))
    tr, te = order[:cut], order[cut:]
    return TrainData(x[tr], y[tr], x[te], y[te])


def _check_labels(data: str, y: np.ndarray, classes: int | None) -> None:
    y = np.asarray(y)
    if y.size and y.min() < 0:
        raise FcompError(f"--data {data}: labels must be class indices >= 0, found {int(y.min())}")
    if classes is not None and y.size and y.max() >= classes:
        raise FcompError(f"--data {data}: labels go up to {int(y.max())} ({len(np.unique(y))} classes) but the "
                         f"model has {classes} outputs; give data whose labels are 0..{classes - 1}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")


def _image_folder(path: Path, shape) -> tuple[np.ndarray, np.ndarray]:
    """ImageFolder layout (as torchvision's): one sub-folder per class, sorted names are labels 0..K-1.
    Images are resized to the model's H x W, converted to 1 or 3 channels, scaled to [0, 1]."""
    from PIL import Image

    if len(shape) != 3 or shape[0] not in (1, 3):
        raise FcompError(f"--data {path}: image folders need a model input of (1|3, H, W), not {list(shape)}")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    if not classes:
        raise FcompError(f"--data {path}: no class sub-folders found")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for f in sorted((path / cls).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if shape[0] == 1 else "RGB").resize((shape[2], shape[1]))
                    a = np.asarray(im, dtype=np.float32) / 255.0
            except Exception as exc:
                raise FcompError(f"--data {path}: cannot read image {f.name} ({type(exc).__name__})") from None
            xs.append(a[None] if shape[0] == 1 else a.transpose(2, 0, 1))
            ys.append(label)
    if not xs:
        raise FcompError(f"--data {path}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64)


def _npz_xy(path: Path, data: str, labels_required: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays `x` (float32) and `y` (int64; None when absent and not required) of an .npz file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x = np.asarray(f["x"], dtype=np.float32)
            y = np.asarray(f["y"]).astype(np.int64) if labels_required or "y" in f else None
    except KeyError:
        need = "fine-tuning needs labels: arrays 'x' and 'y'" if labels_required else "needs an array 'x'"
        raise FcompError(f"--data {data}: {need}") from None
    except Exception as exc:
        raise FcompError(f"--data {data}: cannot read ({type(exc).__name__}: {exc})") from None
    return x, y
