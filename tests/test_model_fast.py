"""The golden model's fast paths (sim.model.FAST: exact float BLAS products, event-driven
row sums at batch 1, the row-gathering plasticity sweep) against its reference paths
(FAST = False: int64 ``@``, whole-bank copies), bit for bit: every recorded trace, every
prediction and class count, every weight and statistic after learning. The negative
tests break a fast path on purpose and check that the same comparison catches it."""
from __future__ import annotations

import numpy as np
import pytest

import sim.model as M
from gen.config import Config
from sim.model import Network, Weights, exact_float_dtype, spike_product

CONFIGS = {
    "default": {},
    "two_layers": {"sizes.layers": 2, "sizes.cores": 3, "sizes.neurons": 32,
                   "dynamics.refractory": 2, "dynamics.reset_subtract": False,
                   "topology.readout_bias": False, "topology.readout_density": 0.8,
                   "learning.learn_recurrent": False, "init_scale": 40, "init_rec_scale": 24},
    "narrow_weights": {"widths.weight": 4, "init_scale": 3, "init_rec_scale": 1,
                       "dynamics.theta": 12, "dynamics.theta_out": 12,
                       "learning.psi_window": 12},
    "no_bias": {"topology.readout_bias": False, "seed": 3},
    "trace_post": {"learning.post_from_trace": True, "learning.eta_readout_shift": 6,
                   "learning.eta_hidden_shift": 10},
}


def _net(cfg: Config, seed: int = 0) -> Network:
    """A network with random (in-range, masked) weights everywhere, the readout
    included, so that every layer fires from the first sample."""
    net = Network(cfg)
    rng = np.random.default_rng(seed)
    lim = 1 << (cfg.widths.weight - 1)
    w = net.weights
    w.w_ro[:] = rng.integers(-lim // 2, lim // 2, w.w_ro.shape) * net.ro_mask
    return net


def _samples(cfg: Config, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (n, cfg.sizes.n_in))
    u[:, ::3] = 0                       # some silent channels, as digits has
    return u, rng.integers(0, cfg.sizes.classes, n)


def _run(fast: bool, net0: Network, u, labels, learn: bool, batch: int):
    net = Network(net0.config, net0.topology, net0.weights.copy())
    M.FAST = fast
    try:
        out = []
        for i in range(0, len(u), batch):
            out.append(net.run(u[i:i + batch], None if labels is None else
                               labels[i:i + batch], learn=learn, record=True))
    finally:
        M.FAST = True
    return net, out


def _mismatches(net0, u, labels=None, learn=False, batch=None) -> list[str]:
    """Where the fast and the reference runs differ (empty: bit exact)."""
    batch = batch or len(u)
    (nf, of), (nr, orf) = (_run(f, net0, u, labels, learn, batch) for f in (True, False))
    bad = []
    for call, ((pf, cf, tf), (pr, cr, tr)) in enumerate(zip(of, orf)):
        if not np.array_equal(pf, pr):
            bad.append(f"call {call}: predictions")
        if not np.array_equal(cf, cr):
            bad.append(f"call {call}: counts")
        tf, tr = (tf, tr) if learn else ([tf], [tr])
        for b, (a, r) in enumerate(zip(tf, tr)):
            assert a.keys() == r.keys()
            bad += [f"call {call} sample {b}: trace {k}" for k in a
                    if a[k].dtype != r[k].dtype or not np.array_equal(a[k], r[k])]
    for k, v in nf.weights.as_dict().items():
        if v.dtype != np.int64 or not np.array_equal(v, nr.weights.as_dict()[k]):
            bad.append(f"final weights {k}")
    if nf.stats != nr.stats:
        bad.append("stats")
    if [b.lfsr.pos for b in nf.banks + [nf.readout_bank]] != \
            [b.lfsr.pos for b in nr.banks + [nr.readout_bank]]:
        bad.append("lfsr positions")
    return bad


@pytest.fixture(params=list(CONFIGS))
def cfg(request):
    return Config().replace(**CONFIGS[request.param]).validate()


def test_inference_batched_bit_exact(cfg):
    u, _ = _samples(cfg, 12)
    assert _mismatches(_net(cfg), u, batch=5) == []


def test_inference_batch1_bit_exact(cfg):
    u, _ = _samples(cfg, 4)
    assert _mismatches(_net(cfg), u, batch=1) == []


def test_learning_bit_exact(cfg):
    u, labels = _samples(cfg, 8)
    net = _net(cfg)
    assert _mismatches(net, u, labels, learn=True, batch=3) == []
    # the comparison saw learning: the weights moved
    nf, _ = _run(True, net, u, labels, True, 3)
    assert nf.stats.weight_writes > 0
    assert not np.array_equal(nf.weights.w_ro, net.weights.w_ro)
    if cfg.learning.learn_hidden:
        assert not np.array_equal(nf.weights.w_in, net.weights.w_in)


def test_inference_after_learning_and_host_writes_bit_exact():
    """Weights written between runs (learning, a host load, a direct assignment) are what
    the next batched run uses: no float copy outlives its batch."""
    cfg = Config().validate()
    u, labels = _samples(cfg, 10)
    for fast in (True, False):
        M.FAST = fast
        try:
            net = _net(cfg)
            runs = [net.run(u, record=True)]
            net.run(u[:3], labels[:3], learn=True)
            runs.append(net.run(u, record=True))
            net.weights.w_hh[:] = np.roll(net.weights.w_hh, 1, axis=0) * net.hh_mask
            runs.append(net.run(u, record=True))
            net.set_bank_weights(0, net.bank_weights(0) // 2)
            runs.append(net.run(u, record=True))
            net.weights = Weights(net.weights.w_in * 0, net.weights.w_hh,
                                  net.weights.w_ro)
            runs.append(net.run(u, record=True))
        finally:
            M.FAST = True
        if fast:
            fast_runs = runs
    for (pf, cf, tf), (pr, cr, tr) in zip(fast_runs, runs):
        assert np.array_equal(pf, pr) and np.array_equal(cf, cr)
        assert all(np.array_equal(tf[k], tr[k]) for k in tf)
    # and the writes changed what the network does
    assert not np.array_equal(fast_runs[0][2]["s_h"], fast_runs[2][2]["s_h"])


def test_fast_paths_are_taken(monkeypatch):
    """The default config's batched inference uses the one-product float32 path, batch 1
    the event-driven sums; the reference never does either."""
    cfg = Config().validate()
    made, rows_summed = [], []
    real_init = M.FloatWeights.__init__

    def spy_init(self, *a, **k):
        real_init(self, *a, **k)
        made.append(self.dtype)

    monkeypatch.setattr(M.FloatWeights, "__init__", spy_init)
    real_flatnonzero = np.flatnonzero
    monkeypatch.setattr(M.np, "flatnonzero",
                        lambda x: rows_summed.append(1) or real_flatnonzero(x))
    u, _ = _samples(cfg, 4)
    net = _net(cfg)
    net.run(u)
    assert made == [np.float32]
    net.run(u[:1])
    assert made == [np.float32] and len(rows_summed) >= 3 * cfg.sizes.steps
    M.FAST = False
    try:
        rows_summed.clear()
        net.run(u)
        net.run(u[:1])
    finally:
        M.FAST = True
    assert made == [np.float32] and rows_summed == []


# ---- the comparison catches a wrong fast path --------------------------------------
def test_wrong_event_driven_sum_is_caught(monkeypatch):
    cfg = Config().validate()
    u, labels = _samples(cfg, 3)
    real = M.spike_product

    def off_by_one(s, w):
        out = real(s, w)
        return out + 1 if M.FAST and len(s) == 1 else out

    monkeypatch.setattr(M, "spike_product", off_by_one)
    assert any("trace i_h" in m for m in _mismatches(_net(cfg), u, batch=1))
    assert _mismatches(_net(cfg), u, labels, learn=True, batch=3) != []


def test_dropped_row_in_float_weights_is_caught(monkeypatch):
    cfg = Config().validate()
    u, _ = _samples(cfg, 6)
    real_init = M.FloatWeights.__init__

    def drop_a_row(self, weights, offset):
        real_init(self, weights, offset)
        self.w[1] = 0                  # input channel 1's weights (it is never silent)

    monkeypatch.setattr(M.FloatWeights, "__init__", drop_a_row)
    bad = _mismatches(_net(cfg), u, batch=6)
    assert any("trace i_h" in m for m in bad), bad


def test_wrong_plasticity_write_back_is_caught(monkeypatch):
    cfg = Config().validate()
    u, labels = _samples(cfg, 4)
    real = M.Network._sweep_active_rows

    def forget_readout(self, g, *a):
        if g == len(self.banks):                   # skip the readout's write-back
            saved = self.weights.w_ro.copy()
            out = real(self, g, *a)
            self.weights.w_ro[:] = saved
            return out
        return real(self, g, *a)

    monkeypatch.setattr(M.Network, "_sweep_active_rows", forget_readout)
    assert "final weights w_ro" in _mismatches(_net(cfg), u, labels, learn=True, batch=2)


# ---- the exactness guard -----------------------------------------------------------
def test_guard_bounds():
    assert exact_float_dtype(320, 1, 128) is np.float32         # the default config
    assert exact_float_dtype(1 << 17, 1, 1 << 7) is np.float32  # exactly 2**24
    assert exact_float_dtype((1 << 17) + 1, 1, 1 << 7) is np.float64
    assert exact_float_dtype(1 << 20, 1, 1 << 33) is np.float64  # exactly 2**53
    assert exact_float_dtype((1 << 20) + 1, 1, 1 << 33) is None
    assert exact_float_dtype(10, 0, 0) is np.float32


def test_guard_sends_large_sums_to_int64(monkeypatch):
    """Weights whose sums exceed 2**53 take the int64 product, which float64 would get
    wrong (shown by defeating the guard)."""
    w = np.zeros((4, 2), np.int64)
    w[0, 0], w[1, 0], w[2, 1], w[3, 1] = 1 << 53, 1, 1 << 53, -(1 << 52) + 1
    s = np.ones((3, 4), np.int64)
    exact = [[(1 << 53) + 1, (1 << 53) - (1 << 52) + 1]] * 3
    assert spike_product(s, w).tolist() == exact
    assert spike_product(s[:1], w).tolist() == exact[:1]           # event-driven
    monkeypatch.setattr(M, "exact_float_dtype", lambda *a: np.float64)
    assert spike_product(s, w).tolist() != exact                    # float64 rounds
    # a network whose weights are that large keeps no float copy at all
    monkeypatch.undo()
    net = _net(Config().validate())
    net.weights.w_hh[net.hh_mask] = 1 << 50
    assert M.FloatWeights(net.weights, 0).dtype is None
    u, _ = _samples(net.config, 4)
    assert _mismatches(net, u, batch=4) == []


def test_tiny_guard_takes_int64_path_and_stays_exact(monkeypatch):
    """With the float mantissas shrunk to nothing, every product falls back to int64
    (no float matmul happens) and the results are unchanged."""
    monkeypatch.setattr(M, "_FLOAT_MANTISSA", ((np.float32, 0), (np.float64, 0)))
    cfg = Config().validate()
    net = _net(cfg)
    assert M.FloatWeights(net.weights, 0).dtype is None
    assert exact_float_dtype(2, 1, 1) is None
    u, _ = _samples(cfg, 5)
    assert _mismatches(net, u, batch=5) == []


def test_float64_when_float32_is_not_exact(monkeypatch):
    """A bound between 2**24 and 2**53 picks float64, still bit exact."""
    monkeypatch.setattr(M, "_FLOAT_MANTISSA", ((np.float32, 10), (np.float64, 53)))
    cfg = Config().validate()
    net = _net(cfg)
    assert M.FloatWeights(net.weights, 0).dtype is np.float64
    u, _ = _samples(cfg, 5)
    assert _mismatches(net, u, batch=5) == []
