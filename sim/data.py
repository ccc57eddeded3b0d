"""Benchmarks as integer encoder intensities: the host-side data pipeline.

Floats live only here, before the chip: a sample becomes one integer intensity per input
channel (0..enc_theta), which the chip's integrate-and-fire encoder turns into spikes.

- digits: scikit-learn's ``load_digits`` (8x8 pixels, 0..16), stratified 80/20 split
  with a fixed seed; pixel values are the intensities (64 channels).
- mnist1d: generated offline with ``mnist1d.data.make_dataset`` and its default
  arguments (4000 train / 1000 test, 40 values). Presentation: all 40 values at once, as
  on/off rate codes (channel 2i carries max(x_i, 0), channel 2i+1 max(-x_i, 0), scaled
  so that |x| >= 4 is the full intensity): 80 channels.
- mnist1d-temporal: the same samples shown as a sequence, one value a frame (40
  frames, ``sizes.frame_steps`` steps each, then a silent tail): each value as a level
  code over 16 channels whose centres span -3..3 (two neighbouring channels share the
  full intensity in proportion to how near the value is to each, so the value survives
  the rate code at two steps a frame). The network sees one value at a time and must
  carry the sequence in its membranes and recurrent rows.
- a user's ``.npz`` with ``X`` (samples x features, or samples x frames x features: a
  sequence, shown frame by frame, ``sizes.frames``), ``y`` (and optionally ``X_test``, ``y_test``; else a
  stratified 80/20 split with seed 0). Each feature is scaled on its own (a
  :class:`Scaling`, from the training split): non-negative data by the feature's
  training maximum; data with negative values get on/off channels scaled by the
  feature's training 99.9th percentile of |x|. One scale for all features would turn
  the small ones into zeros when features differ by orders of magnitude. ``train``
  stores the scaling beside the weights, and ``eval``, ``compare`` and the board apply
  that one, not one recomputed from other data.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

TASKS = ("digits", "mnist1d", "mnist1d-temporal")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray   # int (n, channels) intensities 0..levels
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    levels: int
    classes: int
    scaling: "Scaling | None" = None      # a user's data: how it was scaled
    frames: int = 1                       # a temporal presentation: frames a sample

    @property
    def channels(self) -> int:
        """Input channels (``sizes.n_in``): intensities a frame."""
        return self.x_train.shape[1] // self.frames


class DataError(ValueError):
    pass


def check_fits(config, ds: Dataset) -> None:
    """Refuse data whose channels, frames or classes ``config`` cannot hold
    (gen.config.ConfigError, naming the field and both values)."""
    from gen.config import ConfigError
    s = config.sizes
    if ds.channels != s.n_in:
        raise ConfigError(f"sizes.n_in = {s.n_in} but the data {ds.name!r} has "
                          f"{ds.channels} input channels")
    if ds.frames != s.frames:
        raise ConfigError(f"sizes.frames = {s.frames} but the data {ds.name!r} has "
                          f"{ds.frames} frames a sample")
    if ds.classes > s.classes:
        raise ConfigError(f"sizes.classes = {s.classes} but the data {ds.name!r} has "
                          f"{ds.classes} classes")


@dataclass
class Scaling:
    """How a user's features become intensities: ``x / scale * levels`` per feature,
    clipped to 0..levels, with on/off channel pairs (``max(x, 0)``, ``max(-x, 0)``)
    when ``on_off``."""
    scale: list                 # one positive float per feature
    on_off: bool

    @classmethod
    def fit(cls, x: np.ndarray) -> "Scaling":
        """From training data (samples, features), or (samples, frames, features): a
        feature keeps one scale over the frames of a sequence."""
        x = x.reshape(-1, x.shape[-1])
        on_off = bool(x.min() < 0)
        scale = np.percentile(np.abs(x), 99.9, axis=0) if on_off else x.max(axis=0)
        scale = np.where(scale > 0, scale, 1.0)     # a constant-zero feature stays zero
        return cls([float(v) for v in scale], on_off)

    def apply(self, x: np.ndarray, levels: int, what: str = "X") -> np.ndarray:
        """Intensities (samples, channels); a sequence (samples, frames, features)
        becomes (samples, frames * channels), frame by frame."""
        if x.shape[-1] != len(self.scale):
            raise DataError(f"{what} has {x.shape[-1]} features, but the scaling (saved "
                            f"with the weights, from their training data) has "
                            f"{len(self.scale)}")
        q = quantize(x.reshape(-1, x.shape[-1]), levels, np.asarray(self.scale), self.on_off)
        return q.reshape(len(x), -1)

    def as_dict(self) -> dict:
        return {"scale": self.scale, "on_off": self.on_off}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaling":
        return cls([float(v) for v in d["scale"]], bool(d["on_off"]))


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


def quantize(x: np.ndarray, levels: int, scale, on_off: bool) -> np.ndarray:
    """Floats -> integer intensities 0..levels (on/off channel pairs when ``on_off``);
    ``scale``: one float, or one per feature."""
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


TEMPORAL_LEVELS = 16        # mnist1d-temporal: level channels a value
TEMPORAL_RANGE = (-3.0, 3.0)  # ... whose centres span this range (99% of MNIST-1D's values)


def level_code(x: np.ndarray, channels: int, lo: float, hi: float, levels: int) -> np.ndarray:
    """Floats (n, T) -> intensities (n, T * channels), frame by frame: channel ``c`` of a
    value ``v`` (clipped to lo..hi) gets ``levels * max(0, 1 - |v - c_c| / spacing)`` for
    evenly spaced centres ``c_c``: at most two neighbouring channels are on."""
    centres = np.linspace(lo, hi, channels)
    v = np.clip(x, lo, hi)[..., None]
    tri = np.maximum(0.0, 1.0 - np.abs(v - centres) / (centres[1] - centres[0]))
    return np.rint(tri * levels).astype(np.int64).reshape(len(x), -1)


def load_mnist1d_temporal(levels: int = 16) -> Dataset:
    from mnist1d.data import get_dataset_args, make_dataset
    d = make_dataset(get_dataset_args())
    code = lambda x: level_code(np.asarray(x), TEMPORAL_LEVELS, *TEMPORAL_RANGE, levels)  # noqa: E731
    return Dataset("mnist1d-temporal", code(d["x"]), np.asarray(d["y"], np.int64),
                   code(d["x_test"]), np.asarray(d["y_test"], np.int64), levels, 10,
                   frames=np.asarray(d["x"]).shape[1])


def load_npz(path, levels: int = 16, seed: int = 0, scaling: Scaling | None = None) -> Dataset:
    """A user's .npz, scaled per feature by ``scaling`` (default: fitted to its
    training split)."""
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
    if x.ndim not in (2, 3) or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"--data {str(path)!r}: X must be (samples, features), or "
                        f"(samples, frames, features) for sequences, and y (samples,), "
                        f"got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DataError(f"--data {str(path)!r}: y must hold class indices 0..K-1")
    y = y.astype(np.int64)
    if "X_test" in f and "y_test" in f:
        x_tr, y_tr = x, y
        x_te, y_te = np.asarray(f["X_test"], np.float64), np.asarray(f["y_test"], np.int64)
        if x_te.shape[1:] != x.shape[1:]:
            raise DataError(f"--data {str(path)!r}: X_test's samples are {x_te.shape[1:]}, "
                            f"X's {x.shape[1:]}")
    else:
        tr, te = stratified_split(y, 0.2, seed)
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
    scaling = scaling or Scaling.fit(x_tr)
    classes = int(max(y_tr.max(), y_te.max()) + 1)
    return Dataset(path.stem, scaling.apply(x_tr, levels, f"--data {path}: X"), y_tr,
                   scaling.apply(x_te, levels, f"--data {path}: X_test"), y_te, levels,
                   classes, scaling, frames=x.shape[1] if x.ndim == 3 else 1)


def load_task(task: str, data=None, levels: int = 16, seed: int = 0,
              scaling: Scaling | None = None) -> Dataset:
    """A benchmark, or with ``data`` a user's .npz (scaled by ``scaling`` when given,
    e.g. the one saved beside trained weights)."""
    if data is not None:
        return load_npz(data, levels, seed, scaling)
    if task == "digits":
        return load_digits(levels, seed)
    if task == "mnist1d":
        return load_mnist1d(levels)
    if task == "mnist1d-temporal":
        return load_mnist1d_temporal(levels)
    raise DataError(f"--task {task!r} is unknown; choose one of {', '.join(TASKS)}")
