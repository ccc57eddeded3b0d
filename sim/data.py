"""Benchmarks as integer encoder intensities: the host-side data pipeline.

Floats live only here, before the chip: a sample becomes one integer intensity per input
channel (0..enc_theta), which the chip's integrate-and-fire encoder turns into spikes.

- digits: scikit-learn's ``load_digits`` (8x8 pixels, 0..16), stratified 80/20 split
  with a fixed seed; pixel values are the intensities (64 channels).
- mnist1d: generated offline with ``mnist1d.data.make_dataset`` and its default
  arguments (4000 train / 1000 test, 40 values). Presentation: all 40 values at once, as
  on/off rate codes (channel 2i carries max(x_i, 0), channel 2i+1 max(-x_i, 0), scaled
  so that |x| >= 4 is the full intensity): 80 channels.
- a user's ``.npz`` with ``X``, ``y`` (and optionally ``X_test``, ``y_test``; else a
  stratified 80/20 split with seed 0). Non-negative data are scaled by the training
  maximum; data with negative values get on/off channels scaled by the training
  99.9th percentile of |X|.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

TASKS = ("digits", "mnist1d")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray   # int (n, channels) intensities 0..levels
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    levels: int
    classes: int

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]


class DataError(ValueError):
    pass


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """Indices (train, test) with each class split in the same proportion."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_test = int(round(len(idx) * test_fraction))
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return rng.permutation(np.array(train)), rng.permutation(np.array(test))


def quantize(x: np.ndarray, levels: int, scale: float, on_off: bool) -> np.ndarray:
    """Floats -> integer intensities 0..levels (on/off channel pairs when ``on_off``)."""
    q = lambda v: np.clip(np.rint(v / scale * levels), 0, levels).astype(np.int64)  # noqa
    if not on_off:
        return q(x)
    out = np.empty((x.shape[0], 2 * x.shape[1]), np.int64)
    out[:, 0::2] = q(np.maximum(x, 0))
    out[:, 1::2] = q(np.maximum(-x, 0))
    return out


def load_digits(levels: int = 16, seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    x = d.data.astype(np.float64)
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, 0.2, seed)
    xq = quantize(x, levels, 16.0, on_off=False)
    return Dataset("digits", xq[tr], y[tr], xq[te], y[te], levels, 10)


def load_mnist1d(levels: int = 16, scale: float = 4.0) -> Dataset:
    from mnist1d.data import get_dataset_args, make_dataset
    d = make_dataset(get_dataset_args())
    x_tr = quantize(np.asarray(d["x"]), levels, scale, on_off=True)
    x_te = quantize(np.asarray(d["x_test"]), levels, scale, on_off=True)
    return Dataset("mnist1d", x_tr, np.asarray(d["y"], np.int64), x_te,
                   np.asarray(d["y_test"], np.int64), levels, 10)


def load_npz(path, levels: int = 16, seed: int = 0) -> Dataset:
    path = pathlib.Path(path)
    if not path.exists():
        raise DataError(f"--data {str(path)!r}: no such file")
    try:
        f = np.load(path)
    except Exception as e:  # numpy raises several types for a bad file
        raise DataError(f"--data {str(path)!r}: not a readable .npz file ({e})") from None
    for key in ("X", "y"):
        if key not in f:
            raise DataError(f"--data {str(path)!r}: missing array {key!r} "
                            f"(found {', '.join(f.files) or 'none'})")
    x, y = np.asarray(f["X"], np.float64), np.asarray(f["y"])
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"--data {str(path)!r}: X must be (samples, features) and y "
                        f"(samples,), got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DataError(f"--data {str(path)!r}: y must hold class indices 0..K-1")
    y = y.astype(np.int64)
    if "X_test" in f and "y_test" in f:
        x_tr, y_tr = x, y
        x_te, y_te = np.asarray(f["X_test"], np.float64), np.asarray(f["y_test"], np.int64)
    else:
        tr, te = stratified_split(y, 0.2, seed)
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
    on_off = bool(x_tr.min() < 0)
    scale = float(np.percentile(np.abs(x_tr), 99.9)) if on_off else float(x_tr.max())
    scale = scale or 1.0
    classes = int(max(y_tr.max(), y_te.max()) + 1)
    return Dataset(path.stem, quantize(x_tr, levels, scale, on_off), y_tr,
                   quantize(x_te, levels, scale, on_off), y_te, levels, classes)


def load_task(task: str, data=None, levels: int = 16, seed: int = 0) -> Dataset:
    if data is not None:
        return load_npz(data, levels, seed)
    if task == "digits":
        return load_digits(levels, seed)
    if task == "mnist1d":
        return load_mnist1d(levels)
    raise DataError(f"--task {task!r} is unknown; choose one of {', '.join(TASKS)}")
