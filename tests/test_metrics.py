"""sim/metrics.py: NeuroBench's definitions on the golden model, checked against plain
loops over the recorded spikes, and the learning cost."""
import json

import numpy as np
import pytest

from gen.cli import main
from gen.config import Config, default_config
from sim.metrics import activation_sparsity, connection_sparsity, footprint, \
    learning_cost, neurobench_metrics, synaptic_operations
from sim.model import Network

SMALL = {"sizes.n_in": 10, "sizes.cores": 3, "sizes.neurons": 6, "sizes.classes": 3,
         "sizes.per_class": 2, "sizes.steps": 9, "topology.axons_per_edge": 2}


def _net(**changes):
    cfg = Config().replace(**{**SMALL, **changes}).validate()
    net = Network(cfg)
    rng = np.random.default_rng(5)
    for name, mask in (("w_in", net.in_mask), ("w_hh", net.hh_mask), ("w_ro", net.ro_mask)):
        w = rng.integers(-60, 60, mask.shape) * mask
        w[rng.random(mask.shape) < 0.1] = 0          # some wired synapses learnt to 0
        getattr(net.weights, name)[:] = w
    return net


def _x(net, n=7):
    return np.random.default_rng(2).integers(0, net.config.dynamics.enc_theta + 1,
                                             (n, net.config.sizes.n_in))


@pytest.mark.parametrize("changes", [{}, {"sizes.layers": 2, "topology.ff_fan_in": 8}])
def test_synaptic_operations_count_every_spike_meeting_a_nonzero_weight(changes):
    net = _net(**changes)
    x = _x(net)
    _, _, tr = net.run(x, record=True)
    got = synaptic_operations(net, tr)
    s = net.config.sizes
    n = s.cores * s.neurons
    last = (s.layers - 1) * n
    W = net.weights
    ops = 0
    for b in range(len(x)):
        for t in range(s.steps):
            for i in np.flatnonzero(tr["s_in"][b, t]):      # input spikes, this step
                ops += int((W.w_in[i, :n] != 0).sum())
            if t:                                            # hidden spikes of t - 1
                for j in np.flatnonzero(tr["s_h"][b, t - 1]):
                    ops += int((W.w_hh[j] != 0).sum())
                    if j >= last:
                        ops += int((W.w_ro[j - last] != 0).sum())
    assert got["Effective_ACs"] == pytest.approx(ops / len(x))
    assert got["Effective_MACs"] == 0
    assert sum(got["Effective_ACs_per_layer"].values()) == pytest.approx(got["Effective_ACs"])
    dense = s.steps * (s.n_in * n + s.layers * n * n + (s.layers - 1) * n * n + n * s.readout)
    assert got["Dense"] == dense


def test_activation_sparsity_and_connection_sparsity():
    net = _net()
    _, _, tr = net.run(_x(net), record=True)
    a = activation_sparsity(tr)
    fired = tr["s_h"].sum() + tr["s_r"].sum()
    assert a["activation_sparsity"] == pytest.approx(1 - fired / (tr["s_h"].size +
                                                                  tr["s_r"].size))
    assert 0 < a["activation_sparsity"] < 1
    c = connection_sparsity(net)
    W = net.weights
    zeros = (W.w_in == 0).sum() + (W.w_hh == 0).sum() + (W.w_ro[:-1] == 0).sum()
    total = W.w_in.size + W.w_hh.size + W.w_ro[:-1].size
    assert c["connection_sparsity"] == round(zeros / total, 4)
    assert c["structural_sparsity"] < c["connection_sparsity"]   # learnt zeros add


def test_footprint_is_the_weight_memory_of_the_architecture_table():
    f = footprint(Network(default_config()))
    assert f["footprint_bytes"] == 51240           # docs/architecture.md section 8
    assert f["footprint_dense_float32_bytes"] == 4 * (64 * 256 + 256 * 256 + 256 * 40 + 40)


def test_learning_cost_leaves_the_network_alone():
    net = _net()
    before = net.weights.copy()
    x = _x(net, 12)
    y = np.arange(12) % 3
    cost = learning_cost(net, x, y)
    assert all((getattr(before, k) == getattr(net.weights, k)).all()
               for k in ("w_in", "w_hh", "w_ro"))
    twin = Network(net.config, weights=net.weights.copy())
    twin.run(x, y, learn=True)
    st = twin.stats.as_dict()
    for k in ("weight_writes_per_sample", "modulator_events_per_sample", "gated_fraction"):
        assert cost[k] == pytest.approx(st[k])
    assert cost["samples"] == 12


def test_eval_json_carries_the_neurobench_metrics(tmp_path, capsys):
    from sim.train import save_weights
    cfg = Config().replace(**{**SMALL, "sizes.n_in": 8}).validate()
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    xs = rng.random((60, 8))
    np.savez(tmp_path / "d.npz", X=xs, y=y)
    save_weights(tmp_path / "w.npz", Network(cfg), meta={"task": "digits",
                                                         "data": str(tmp_path / "d.npz")})
    assert main(["eval", "--weights", str(tmp_path / "w.npz"), "--json",
                 "--learning-samples", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    nb = out["neurobench"]
    assert "NeuroBench 2.3.0" in nb["source"]
    assert set(nb) >= {"synaptic_operations", "activation_sparsity", "connection_sparsity",
                       "footprint", "learning_cost"}
    assert nb["learning_cost"]["samples"] == 5 and nb["learning_cost"]["not_in_neurobench"]
    assert nb["samples"] == out["samples"]
    # the same numbers as the library call
    net = Network(cfg)
    direct = neurobench_metrics(net, np.zeros((3, 8), np.int64))
    assert direct["footprint"] == nb["footprint"]
