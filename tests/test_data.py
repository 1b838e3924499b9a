"""Input data for calibration, checks and fine-tuning: digits, .npz files, image folders, bad specs."""

import numpy as np
import pytest
from PIL import Image

from compiler.data import load_samples, load_training_data
from compiler.errors import FcompError


def test_digits_shapes_for_image_and_flat_models():
    t = load_training_data("digits", (1, 16, 16))
    assert t.x_train.shape[1:] == (1, 16, 16) and t.x_train.dtype == np.float32
    assert len(t.x_train) + len(t.x_test) == 1797 and set(np.unique(t.y_test)) == set(range(10))
    assert load_training_data("digits", (64,)).x_test.shape[1:] == (64,)
    with pytest.raises(FcompError, match="digits"):
        load_training_data("digits", (3, 32, 32))


def test_npz_split_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((50, 4)).astype(np.float32), y=rng.integers(0, 3, 50))
    t = load_training_data(str(tmp_path / "d.npz"), (4,))
    assert len(t.x_train) == 40 and len(t.x_test) == 10
    s = load_samples(str(tmp_path / "d.npz"), (4,), n_calibration=30, n_check=10)
    assert len(s.calibration) == 30 and len(s.check) == 10 and s.labels is not None
    np.savez(tmp_path / "nolabels.npz", x=rng.random((50, 4)).astype(np.float32))
    with pytest.raises(FcompError, match="labels"):
        load_training_data(str(tmp_path / "nolabels.npz"), (4,))
    with pytest.raises(FcompError, match="shape"):
        load_samples(str(tmp_path / "d.npz"), (5,), 10, 10)


def test_image_folder_like_torchvision(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    for i in range(30):
        folder = tmp_path / f"class_{d.target[i]}"
        folder.mkdir(exist_ok=True)
        Image.fromarray((d.images[i] * 16).astype(np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "class_0" / "notes.txt").write_text("ignored")
    t = load_training_data(str(tmp_path), (1, 16, 16))
    assert t.x_train.shape[1:] == (1, 16, 16) and 0 <= t.x_train.min() and t.x_train.max() <= 1
    assert len(t.x_train) + len(t.x_test) == 30
    s = load_samples(str(tmp_path), (1, 16, 16), 20, 5)
    assert s.labels is not None and len(s.check) == 5


def test_bad_data_specs(tmp_path):
    with pytest.raises(FcompError):
        load_training_data(str(tmp_path / "missing.npz"), (4,))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FcompError, match="class sub-folders"):
        load_training_data(str(tmp_path / "empty"), (1, 8, 8))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(FcompError, match="cannot read"):
        load_samples(str(tmp_path / "bad.npz"), (4,), 4, 4)


def test_labels_beyond_the_models_outputs_are_refused(tmp_path):
    """A 5-output classifier with --data digits (labels 0..9) was an IndexError traceback inside the training
    loop's cross-entropy; now one clear error naming both counts. Negative labels likewise."""
    with pytest.raises(FcompError, match="labels go up to 9 .* model has 5 outputs"):
        load_training_data("digits", (64,), classes=5)
    assert len(load_training_data("digits", (64,), classes=10).y_train)
    x = np.zeros((20, 3), np.float32)
    np.savez(tmp_path / "neg.npz", x=x, y=np.r_[np.arange(19), -1])
    with pytest.raises(FcompError, match="class indices >= 0"):
        load_training_data(str(tmp_path / "neg.npz"), (3,), classes=30)
