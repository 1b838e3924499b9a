"""Models the compression defaults were never tuned on, trained by the benchmark itself (issue 12).

* `vgg_unseen`: a VGG-style digits CNN, 6-12-16-16 channels, no hidden dense layer (~5K parameters), on 16x16
  digits (the zoo's split);
* `wine_mlp`: a 13-32-16-3 MLP on scikit-learn's wine data (178 samples, standardised with the training
  statistics; a stratified 30% test split, seed 0).

Trained with Adam on their training split only (seed 0, one thread), exported with the zoo's exporter settings
(legacy TorchScript exporter, BN folded) to bench/.models/<name>.onnx, reused when present.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".models"
UNSEEN = ("vgg_unseen", "wine_mlp")


def _vgg():
    from torch import nn

    def cbr(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(*cbr(1, 6), *cbr(6, 12), nn.MaxPool2d(2), *cbr(12, 16), nn.MaxPool2d(2), *cbr(16, 16),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 2 * 2, 10))


def _wine():
    from torch import nn

    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))


def data(name: str):
    """TrainData (train/test) of an unseen model."""
    from compiler.compress.engine import TrainData
    from compiler.datasets import load_digits_split

    if name == "vgg_unseen":
        xtr, ytr, xte, yte = load_digits_split(seed=0, image_size=16)
        return TrainData(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))
    if name == "wine_mlp":
        from sklearn.datasets import load_wine
        from sklearn.model_selection import train_test_split

        w = load_wine()
        xtr, xte, ytr, yte = train_test_split(w.data.astype(np.float32), w.target.astype(np.int64), test_size=0.3,
                                              random_state=0, stratify=w.target)
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        return TrainData(((xtr - mu) / sd).astype(np.float32), ytr, ((xte - mu) / sd).astype(np.float32), yte)
    raise ValueError(f"unknown unseen model {name!r}; known: {', '.join(UNSEEN)}")


def model_path(name: str) -> Path:
    """bench/.models/<name>.onnx, trained and exported first if missing."""
    import torch

    path = CACHE / f"{name}.onnx"
    if path.exists():
        return path
    d = data(name)
    torch.manual_seed(0)
    net = _vgg() if name == "vgg_unseen" else _wine()
    epochs, lr = (20, 3e-3) if name == "vgg_unseen" else (200, 3e-3)
    x, y = torch.from_numpy(d.x_train), torch.from_numpy(d.y_train)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    shape = (1, *d.x_train.shape[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(shape),), str(tmp), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"], do_constant_folding=True)
    tmp.replace(path)
    return path
