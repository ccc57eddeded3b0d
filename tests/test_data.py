"""A user's data (sim/data.py): each feature scaled on its own, the scaling stored
beside the weights by `train` and applied by `eval` (issue 14 item 6)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gen.cli import main
from sim.data import DataError, Scaling, load_npz

SPAN = np.logspace(-2, 2, 5)            # five features, four orders of magnitude apart


def wide_data(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (rng.random((n, 5)) + y[:, None]) * SPAN     # every feature carries the class
    np.savez(path, X=x, y=y)
    return x, y


def test_small_features_are_not_zeroed(tmp_path):
    wide_data(tmp_path / "wide.npz")
    ds = load_npz(tmp_path / "wide.npz", levels=16)
    # one scale for all (the largest feature's) would leave feature 0 at 0 everywhere
    assert all(ds.x_train[:, j].max() == 16 for j in range(5))
    assert all(len(np.unique(ds.x_train[:, j])) > 4 for j in range(5))
    ratios = np.array(ds.scaling.scale[1:]) / np.array(ds.scaling.scale[:-1])
    assert ratios == pytest.approx(10, rel=0.1)      # each feature's own maximum
    assert not ds.scaling.on_off


def test_negative_features_get_on_off_channels_scaled_each(tmp_path):
    x = np.array([[-0.01, 100.0], [0.01, -100.0], [0.005, 50.0], [-0.005, -50.0]] * 5)
    np.savez(tmp_path / "neg.npz", X=x, y=np.arange(20) % 2)
    ds = load_npz(tmp_path / "neg.npz", levels=8)
    assert ds.channels == 4 and ds.scaling.on_off
    on0 = np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]])
    assert on0.max() == 8            # the 0.01-sized feature reaches full intensity


def test_a_given_scaling_is_applied_not_refitted(tmp_path):
    wide_data(tmp_path / "wide.npz")
    fixed = Scaling([1.0] * 5, False)
    ds = load_npz(tmp_path / "wide.npz", levels=16, scaling=fixed)
    assert ds.scaling is fixed
    assert ds.x_train[:, 0].max() == 0 and ds.x_train[:, 4].max() == 16
    with pytest.raises(DataError, match="has 5 features, but the scaling .* has 3"):
        load_npz(tmp_path / "wide.npz", scaling=Scaling([1.0] * 3, False))


def test_train_saves_the_scaling_and_eval_applies_it(tmp_path, capsys):
    x, y = wide_data(tmp_path / "wide.npz")
    from gen.config import Config
    cfg = Config().replace(**{"sizes.n_in": 5, "sizes.cores": 3, "sizes.neurons": 4,
                              "sizes.classes": 2, "topology.ws_neighbours": 2,
                              "topology.axons_per_edge": 2, "topology.ff_fan_in": 5})
    (tmp_path / "c.toml").write_text(cfg.validate().to_toml())
    out = tmp_path / "w.npz"
    assert main(["train", "--data", str(tmp_path / "wide.npz"), "--config",
                 str(tmp_path / "c.toml"), "--epochs", "1", "--out", str(out),
                 "--quiet", "--json"]) == 0
    capsys.readouterr()
    with np.load(out) as f:
        saved = json.loads(str(f["meta"]))["scaling"]
    assert saved["scale"] == pytest.approx(list(x.max(axis=0)), rel=0.2)
    # a file whose training part is ten times larger: refitted to it, the test samples
    # would nearly vanish; with the saved scaling they look as they did in training
    np.savez(tmp_path / "big.npz", X=10 * x, y=y, X_test=x, y_test=y)
    from gen.api import dataset, saved_scaling
    from sim.train import load_weights
    net = load_weights(out)
    theta = net.config.dynamics.enc_theta
    refit = dataset(None, tmp_path / "big.npz", net.config)
    applied = dataset(None, tmp_path / "big.npz", net.config, saved_scaling(out))
    assert refit.x_test.max() <= theta // 5
    assert all(applied.x_test[:, j].max() >= theta - 1 for j in range(5))
    assert main(["eval", "--weights", str(out), "--data", str(tmp_path / "big.npz"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == len(y)


def test_sequences_are_frames_of_channels_scaled_per_feature(tmp_path):
    """X of (samples, frames, features): one scale a feature over every frame, the
    sample laid out frame by frame (docs/architecture.md section 3)."""
    rng = np.random.default_rng(1)
    x = rng.random((30, 4, 2)) * np.array([0.01, 100.0])
    x[:, 2, 0] = 0.02                   # frame 2 holds feature 0's largest value
    np.savez(tmp_path / "seq.npz", X=x, y=np.arange(30) % 2)
    ds = load_npz(tmp_path / "seq.npz", levels=16)
    assert ds.frames == 4 and ds.channels == 2 and ds.x_train.shape == (24, 8)
    assert ds.scaling.scale[0] == pytest.approx(0.02)    # over all frames, per feature
    frames = ds.x_train.reshape(-1, 4, 2)
    assert (frames[:, 2, 0] == 16).all() and frames[:, :, 1].max() == 16
    assert (frames[:, [0, 1, 3], 0] <= 8).all()
    np.savez(tmp_path / "bad.npz", X=x, y=np.arange(30) % 2, X_test=x[:5, :3],
             y_test=np.arange(5) % 2)
    with pytest.raises(DataError, match=r"X_test's samples are \(3, 2\), X's \(4, 2\)"):
        load_npz(tmp_path / "bad.npz")


def test_level_code_keeps_the_value():
    """mnist1d-temporal's code: at most two neighbouring channels on, summing to the
    full intensity, and their centre of mass is the value (to rounding)."""
    from sim.data import level_code
    v = np.linspace(-3, 3, 61)[None, :]
    code = level_code(v, 16, -3.0, 3.0, 16).reshape(61, 16)
    assert code.sum(axis=1).tolist() == pytest.approx([16] * 61, abs=1)
    assert ((code > 0).sum(axis=1) <= 2).all()
    centres = np.linspace(-3, 3, 16)
    decoded = (code * centres).sum(axis=1) / code.sum(axis=1)
    assert decoded == pytest.approx(v[0], abs=0.05)
    assert level_code(np.array([[9.0, -9.0]]), 16, -3.0, 3.0, 16)[0].tolist() == \
        [0] * 15 + [16] + [16] + [0] * 15       # clipped to the ends


def test_user_data_gets_an_input_scale_for_its_channel_count():
    """A few channels get larger initial input weights (sim.train.input_scale), so that
    the hidden layer fires from the start; the benchmarks keep their own settings."""
    from gen.config import Config
    from sim.train import task_config
    d = Config()
    assert task_config(None, d.sizes.n_in).init_scale == d.init_scale
    assert task_config(None, 4).init_scale == 4 * d.init_scale      # sqrt(64 / 4) = 4
    assert task_config(None, 600).init_scale == round(d.init_scale * (64 / 600) ** 0.5)
    assert task_config("digits", 64).init_scale == d.init_scale
    assert task_config("mnist1d", 80).init_scale == d.init_scale    # its overrides, not 21
