"""Golden model: fixed-point edge cases, agreement with the scalar reference, determinism,
and a short learning run."""
import numpy as np
import pytest

from gen.config import Config
from sim.model import Network

from scalar_reference import ScalarNetwork


def tiny(**changes) -> Config:
    base = {"sizes.n_in": 2, "sizes.cores": 1, "sizes.neurons": 2, "sizes.classes": 2,
            "sizes.per_class": 1, "sizes.steps": 6, "topology.ws_neighbours": 0,
            "topology.axons_per_edge": 0, "init_scale": 8, "init_rec_scale": 8,
            "dynamics.theta_out": 100, "learning.psi_window": 50}
    return Config().replace(**{**base, **changes}).validate()


def with_weights(cfg, w_in, w_hh=None, w_ro=None):
    net = Network(cfg)
    net.weights.w_in[:] = w_in
    net.weights.w_hh[:] = 0 if w_hh is None else w_hh
    net.weights.w_ro[:] = 0
    if w_ro is not None:   # hidden rows only; the bias row stays 0
        net.weights.w_ro[:len(w_ro)] = w_ro
    return net


def run(net, u):
    _, _, tr = net.run(np.array([u]), record=True)
    return {k: v[0] if v.ndim > 1 else v for k, v in tr.items()}


def test_positive_saturation_then_spike():
    # two inputs of +127 every step give 254 > 127 = v_max of an 8-bit membrane
    cfg = tiny(**{"widths.membrane": 8, "dynamics.theta": 127, "learning.psi_window": 0})
    net = with_weights(cfg, [[127, 0], [127, 0]])
    tr = run(net, [16, 16])
    assert tr["i_h"][0, 0] == 254
    # saturated at 127, spikes (v == theta), subtracts to 0: without saturation it would be 127
    assert tr["s_h"][0, 0] == 1 and tr["v_h"][0, 0] == 0


def test_negative_saturation_and_leak_of_negative_values():
    cfg = tiny(**{"widths.membrane": 8, "dynamics.theta": 100})
    net = with_weights(cfg, [[-128, 0], [-128, 0]])
    tr = run(net, [16, 0])
    # step 0: I = -128 -> v = -128; step 1: -128 - (-16) - 128 -> saturates at -128
    assert tr["v_h"][0, 0] == -128 and tr["v_h"][1, 0] == -128
    cfg = tiny(**{"dynamics.leak_shift": 3})
    net = with_weights(cfg, [[-1, -9], [0, 0]])
    tr = run(net, [16, 0])
    # input every step: v = v - (v >> 3) - 1; floor shift of -1 is -1, so -1 stays -1
    assert tr["v_h"][:3, 0].tolist() == [-1, -1, -1]
    # -9 -> -9 - (-2) - 9 = -16 -> -16 - (-2) - 9 = -23
    assert tr["v_h"][:3, 1].tolist() == [-9, -16, -23]


def test_spike_exactly_at_threshold_and_not_below():
    cfg = tiny(**{"dynamics.theta": 50, "dynamics.leak_shift": 15})
    net = with_weights(cfg, [[50, 49], [0, 0]])
    tr = run(net, [16, 0])
    assert tr["s_h"][0].tolist() == [1, 0]
    assert tr["v_h"][0].tolist() == [0, 49]


def test_reset_to_zero_and_refractory():
    cfg = tiny(**{"dynamics.theta": 50, "dynamics.leak_shift": 15,
                  "dynamics.reset_subtract": False, "dynamics.refractory": 2})
    net = with_weights(cfg, [[70, 0], [0, 0]])
    tr = run(net, [16, 0])
    # spikes at 0 (reset to 0), ignores steps 1 and 2, spikes again at 3
    assert tr["s_h"][:, 0].tolist() == [1, 0, 0, 1, 0, 0]
    assert tr["v_h"][:4, 0].tolist() == [0, 0, 0, 0]


def test_encoder_rate_is_intensity_over_threshold():
    cfg = tiny(**{"sizes.steps": 32})
    net = with_weights(cfg, [[0, 0], [0, 0]])
    tr = run(net, [4, 16])
    assert tr["s_in"][:, 0].sum() == 32 * 4 // 16
    assert tr["s_in"][:, 1].sum() == 32


def test_readout_hears_hidden_one_step_later():
    cfg = tiny(**{"dynamics.theta": 10, "dynamics.theta_out": 5,
                  "topology.readout_density": 1.0})
    net = with_weights(cfg, [[20, 0], [0, 0]], w_ro=[[6, 0], [0, 0]])
    tr = run(net, [16, 0])
    assert tr["s_h"][0, 0] == 1 and tr["s_r"][0, 0] == 0
    assert tr["s_r"][1, 0] == 1


def random_config(rng) -> Config:
    cores = int(rng.integers(1, 4))
    layers = int(rng.integers(1, 3))
    neurons = int(rng.integers(2, 6))
    k = int(rng.integers(0, cores // 2 + 1)) * 2 if cores > 2 else 0
    steps = int(rng.integers(4, 12))
    frames = {}     # every third config a temporal presentation, some with a silent tail
    if rng.integers(0, 3) == 0:
        n = int(rng.integers(1, 4))
        frames = {"sizes.frames": n, "sizes.frame_steps": int(rng.integers(0, steps // n + 1))}
    return Config().replace(**{
        "sizes.n_in": int(rng.integers(1, 7)), "sizes.layers": layers,
        "sizes.cores": cores, "sizes.neurons": neurons,
        "sizes.classes": int(rng.integers(2, 4)), "sizes.per_class": int(rng.integers(1, 3)),
        "sizes.steps": steps,
        "topology.ws_neighbours": min(k, cores - 1) // 2 * 2,
        "topology.axons_per_edge": int(rng.integers(0, neurons + 1)),
        "topology.ff_fan_in": int(rng.integers(1, cores * neurons + 1)),
        "topology.readout_density": float(rng.uniform(0.3, 1.0)),
        "topology.readout_bias": bool(rng.integers(0, 2)),
        "widths.weight": int(rng.integers(4, 9)),
        "widths.membrane": int(rng.integers(10, 17)),
        "dynamics.theta": int(rng.integers(20, 200)),
        "dynamics.theta_out": int(rng.integers(10, 200)),
        "dynamics.leak_shift": int(rng.integers(1, 5)),
        "dynamics.reset_subtract": bool(rng.integers(0, 2)),
        "dynamics.refractory": int(rng.integers(0, 3)),
        "dynamics.mod_drive": int(rng.integers(3, 9)),
        "learning.trace_inc": int(rng.integers(1, 128)),
        "learning.psi_window": int(rng.integers(0, 200)),
        "learning.eta_hidden": int(rng.integers(1, 5)),
        "learning.eta_hidden_shift": int(rng.integers(0, 10)),
        "learning.eta_readout_shift": int(rng.integers(0, 9)),
        "learning.target": int(rng.integers(3, 9)),
        "learning.learn_recurrent": bool(rng.integers(0, 2)),
        "learning.teach_start": int(rng.integers(0, 3)),
        "learning.post_from_trace": bool(rng.integers(0, 2)),
        "init_scale": 8, "init_rec_scale": 4,
        "seed": int(rng.integers(0, 2**32)),
        "learning.push_down_all": bool(rng.integers(0, 2)),
    }).replace(**frames).validate()


@pytest.mark.parametrize("case", range(12))
def test_model_equals_scalar_reference_with_learning(case):
    rng = np.random.default_rng(1000 + case)
    cfg = random_config(rng)
    cfg = cfg.replace(**{"dynamics.enc_theta": 16})
    net = Network(cfg)
    w = net.weights
    # exaggerate initial weights so that neurons fire and weights reach saturation
    lim = 1 << (cfg.widths.weight - 1)
    w.w_in[:] = np.clip(w.w_in * 4, -lim, lim - 1)
    w.w_hh[:] = np.clip(w.w_hh * 4, -lim, lim - 1)
    ref = ScalarNetwork(cfg, net.topology, w.w_in, w.w_hh, w.w_ro)
    for sample in range(3):
        u = rng.integers(0, 17, size=cfg.sizes.sample_width)
        label = int(rng.integers(0, cfg.sizes.classes))
        pred, counts, tr = net.run(u[None], [label], learn=True, record=True)
        rpred, rcounts, log = ref.run_sample(u, label, learn=True)
        for t, step in enumerate(log):
            for key in ("s_h", "s_r", "v_h", "v_r", "m"):
                got = tr[0][key][0, t].tolist()
                assert got == step[key], (f"sample {sample} step {t} {key}: model {got} "
                                          f"reference {step[key]}")
        assert counts[0].tolist() == rcounts and pred[0] == rpred
        assert net.weights.w_in.tolist() == ref.w_in
        assert net.weights.w_hh.tolist() == ref.w_hh
        assert net.weights.w_ro.tolist() == ref.w_ro


def test_learning_switched_off_changes_nothing():
    cfg = random_config(np.random.default_rng(7))
    net = Network(cfg)
    before = net.weights.copy()
    u = np.random.default_rng(1).integers(0, 17, size=(5, cfg.sizes.n_in))
    net.run(u)
    assert np.array_equal(before.w_in, net.weights.w_in)
    assert np.array_equal(before.w_hh, net.weights.w_hh)
    assert np.array_equal(before.w_ro, net.weights.w_ro)


def test_batched_inference_equals_one_by_one():
    cfg = random_config(np.random.default_rng(3))
    net = Network(cfg)
    net.weights.w_ro[:] = np.random.default_rng(0).integers(-20, 20, net.weights.w_ro.shape) \
        * net.ro_mask
    u = np.random.default_rng(2).integers(0, 17, size=(9, cfg.sizes.n_in))
    p_all, c_all, _ = net.run(u)
    for b in range(9):
        p, c, _ = net.run(u[b])
        assert p[0] == p_all[b] and np.array_equal(c[0], c_all[b])


def test_same_seed_same_weights_after_training():
    from sim.data import load_digits
    ds = load_digits()
    cfg = Config().replace(**{"sizes.steps": 8})

    def train_once():
        net = Network(cfg)
        net.run(ds.x_train[:40], ds.y_train[:40], learn=True)
        return net.weights

    a, b = train_once(), train_once()
    assert np.array_equal(a.w_in, b.w_in) and np.array_equal(a.w_hh, b.w_hh)
    assert np.array_equal(a.w_ro, b.w_ro)
    assert np.abs(a.w_ro).sum() > 0   # it did learn something


def test_input_checks_name_the_limit():
    cfg = tiny()
    net = Network(cfg)
    with pytest.raises(ValueError, match="sizes.n_in = 2"):
        net.run(np.zeros((1, 3), np.int64))
    with pytest.raises(ValueError, match="enc_theta"):
        net.run(np.array([[17, 0]]))
    with pytest.raises(ValueError, match="integers"):
        net.run(np.array([[0.5, 0]]))
    with pytest.raises(ValueError, match="labels"):
        net.run(np.array([[1, 0]]), learn=True)


def test_short_learning_run_beats_chance_widely():
    from sim.data import load_digits
    from sim.train import task_config, train
    ds = load_digits()
    cfg = task_config("digits", ds.channels)
    sub = type(ds)(ds.name, ds.x_train[:400], ds.y_train[:400], ds.x_test, ds.y_test,
                   ds.levels, ds.classes)
    res = train(cfg, sub, epochs=1, progress=False)
    assert res.test_accuracy > 0.6     # chance is 0.1
    assert 0 < res.summary()["gated_fraction"] < 1


def test_trace_file_round_trip(tmp_path):
    from sim.model import save_trace
    cfg = random_config(np.random.default_rng(5))
    net = Network(cfg)
    u = np.random.default_rng(0).integers(0, 17, size=(3, cfg.sizes.n_in))
    saved = save_trace(tmp_path / "t.npz", net, u, labels=[0, 1, 0], learn=True)
    with np.load(tmp_path / "t.npz") as f:
        assert f["0/s_h"].shape == (cfg.sizes.steps, cfg.sizes.hidden)
        assert f["2/v_r"].shape == (cfg.sizes.steps, cfg.sizes.readout)
        assert np.array_equal(f["final/w_ro"], net.weights.w_ro)
        assert np.array_equal(f["1/m"], saved["1/m"])
    # the recorded spikes are those a fresh copy of the network produces
    again = Network(cfg)
    _, _, tr = again.run(u[:1], [0], learn=True, record=True)
    assert np.array_equal(tr[0]["s_h"][0], saved["0/s_h"])


def test_a_weights_file_saved_before_a_field_existed_loads_with_the_rule_it_was_made_with(
        tmp_path):
    """``learning.push_down_all`` came in with default True; a file saved before it was
    trained by the teacher that pushed down only the strongest class, and continuing to
    train it must keep that rule (sim.train.FIELDS_BEFORE_THEY_EXISTED). A file saved
    since keeps what it says."""
    from sim.train import load_weights, save_weights
    net = Network(Config())
    save_weights(tmp_path / "new.npz", net)
    assert load_weights(tmp_path / "new.npz").config.learning.push_down_all is True
    text = net.config.to_toml()
    old = "\n".join(line for line in text.splitlines()
                    if not line.startswith("push_down_all"))
    assert old != text
    w = net.weights
    np.savez_compressed(tmp_path / "old.npz", w_in=w.w_in, w_hh=w.w_hh, w_ro=w.w_ro,
                        config=np.array(old), meta=np.array("{}"))
    loaded = load_weights(tmp_path / "old.npz")
    assert loaded.config.learning.push_down_all is False
    assert loaded.config.replace(**{"learning.push_down_all": True}).to_toml() == text
