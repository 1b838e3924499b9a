"""Small, fully offline datasets for training and validating compiled models.

Only scikit-learn's bundled 8x8 digits are used, so nothing is ever
downloaded and every split is reproducible from a seed.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["load_digits_split"]


def load_digits_split(
    seed: int = 0,
    test_fraction: float = 0.25,
    image_size: int = 16,
    flat: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)`` for sklearn's digits.

    The split is stratified so every class appears in the same proportion in
    both halves, and it depends only on ``seed`` so that training, export and
    later fixed-point validation all see the same held-out samples.

    Pixels are scaled from the raw 0..16 range to [0, 1] (float32) so that
    inputs sit comfortably inside a fixed-point range.  With ``flat=True``
    the raw 8x8 images are returned as ``(N, 64)`` vectors for MLPs;
    otherwise they are ``(N, 1, image_size, image_size)`` images, upsampled by
    nearest-neighbour repetition (exact, no interpolation) so that CNNs have
    enough spatial extent for a couple of stride-2 stages.  Labels are int64.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not flat and (image_size < 8 or image_size % 8 != 0):
        raise ValueError(f"image_size must be a positive multiple of 8, got {image_size}")

    data = load_digits()
    x = (data.images.astype(np.float32) / np.float32(16.0)).astype(np.float32)
    y = data.target.astype(np.int64)

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y, shuffle=True
    )

    def _shape(images: np.ndarray) -> np.ndarray:
        if flat:
            return np.ascontiguousarray(images.reshape(len(images), 64))
        factor = image_size // 8
        up = np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)
        return np.ascontiguousarray(up[:, None, :, :])

    return _shape(x_train), y_train, _shape(x_test), y_test
