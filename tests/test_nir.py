"""gen/nir_io.py: NIR export, import, the exact round trip, and the refusals."""
import numpy as np
import pytest

nir = pytest.importorskip("nir")   # a dependency: present wherever the project installs

from gen.cli import EXIT_ERROR, main
from gen.config import Config
from gen.nir_io import DT, NirError, from_nir, network_differences, read_nir, to_nir, \
    write_nir
from sim.model import Network, predict

SMALL = {"sizes.n_in": 12, "sizes.cores": 3, "sizes.neurons": 8, "sizes.classes": 3,
         "sizes.per_class": 2, "sizes.steps": 10, "topology.axons_per_edge": 3}


def _net(**changes):
    """A network with random weights on every synapse of its topology (readout too)."""
    cfg = Config().replace(**{**SMALL, **changes}).validate()
    net = Network(cfg)
    rng = np.random.default_rng(7)
    lim = 1 << (cfg.widths.weight - 1)
    for name, mask in (("w_in", net.in_mask), ("w_hh", net.hh_mask), ("w_ro", net.ro_mask)):
        getattr(net.weights, name)[:] = rng.integers(-lim, lim, mask.shape) * mask
    return net


def _samples(net, n=40, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, net.config.dynamics.enc_theta + 1, (n, net.config.sizes.n_in))


@pytest.mark.parametrize("changes", [
    {},                                                     # one layer, long-range rows
    {"sizes.layers": 2, "topology.ff_fan_in": 10},          # routed feed-forward rows
    {"topology.readout_bias": False, "dynamics.reset_subtract": False,
     "dynamics.leak_shift": 5, "dynamics.theta_out": 100},
], ids=["default-shape", "two-layers", "no-bias-reset-zero"])
def test_round_trip_is_exact(tmp_path, changes):
    net = _net(**changes)
    write_nir(net, tmp_path / "net.nir")
    cfg, weights, notes = read_nir(tmp_path / "net.nir")
    back = Network(cfg, weights=weights)
    assert network_differences(net, back) == []
    assert notes == []
    x = _samples(net)
    assert (predict(net, x) == predict(back, x)).all()


def test_export_structure_and_mapping():
    net = _net(**{"sizes.layers": 2, "topology.ff_fan_in": 10})
    g = to_nir(net)
    s, d = net.config.sizes, net.config.dynamics
    assert set(g.nodes) == {"input", "w_in", "hidden_0", "rec_0", "hidden_1", "rec_1",
                            "ff_1", "w_ro", "readout", "output"}
    assert ("hidden_0", "rec_0") in g.edges and ("rec_0", "hidden_0") in g.edges
    assert ("hidden_0", "ff_1") in g.edges and ("hidden_1", "w_ro") in g.edges
    lif = g.nodes["hidden_0"]
    assert isinstance(lif, nir.LIF) and isinstance(g.nodes["w_ro"], nir.Affine)
    np.testing.assert_allclose(lif.tau, DT * 2 ** d.leak_shift)
    np.testing.assert_allclose(lif.r * DT / lif.tau, 1.0)        # a weight adds itself
    np.testing.assert_array_equal(lif.v_threshold, d.theta - 0.5)
    np.testing.assert_array_equal(lif.v_leak, 0)
    # sparsity kept: zeros exactly where the topology has no synapse
    n = s.cores * s.neurons
    rec = g.nodes["rec_0"].weight.T
    assert (rec[~net.hh_mask[:n, :n]] == 0).all()
    assert (g.nodes["w_ro"].weight.T[~net.ro_mask[:n]] == 0).all()
    np.testing.assert_array_equal(g.nodes["w_ro"].bias, net.weights.w_ro[n])
    assert "learning rule" in g.metadata["not_in_nir"]


# ---- the round trip can fail ------------------------------------------------------------
def test_round_trip_detects_a_perturbed_weight():
    net = _net()
    g = to_nir(net)
    w = g.nodes["rec_0"].weight
    i, j = np.argwhere(net.hh_mask[:24, :24].T)[5]
    w[i, j] = w[i, j] + 1 if w[i, j] < 127 else w[i, j] - 1
    cfg, weights, _ = from_nir(g)
    diff = network_differences(net, Network(cfg, weights=weights))
    assert len(diff) == 1 and diff[0].startswith("w_hh: 1 weights differ")


@pytest.mark.parametrize("node, field, factor, words", [
    ("hidden_0", "tau", 2.0, ["'hidden_0'", "leak_shift 4", "says 3"]),
    ("readout", "v_threshold", 1.01, ["'readout'", "theta = 192"]),
    ("hidden_0", "r", 0.5, ["'hidden_0'", "r * dt / tau = 0.5"]),
])
def test_round_trip_detects_a_perturbed_parameter(node, field, factor, words):
    g = to_nir(_net())
    setattr(g.nodes[node], field, getattr(g.nodes[node], field) * factor)
    with pytest.raises(NirError) as e:
        from_nir(g)
    for w in words:
        assert w in str(e.value)


def test_import_refuses_a_weight_where_the_topology_has_no_synapse():
    net = _net()
    g = to_nir(net)
    i, j = np.argwhere(~net.hh_mask[:24, :24].T)[0]
    g.nodes["rec_0"].weight[i, j] = 3
    with pytest.raises(NirError, match=r"node 'rec_0': a weight of 3 .* no synapse"):
        from_nir(g)


def test_import_refuses_non_integer_and_out_of_range_weights():
    g = to_nir(_net())
    g.nodes["w_in"].weight[0, 0] = 0.5
    with pytest.raises(NirError, match=r"node 'w_in': weight 0.5 .* not an integer"):
        from_nir(g)
    g = to_nir(_net())
    g.nodes["w_ro"].weight[0, 0] = 300
    with pytest.raises(NirError, match=r"node 'w_ro': weights .* exceed the 8-bit"):
        from_nir(g)


# ---- foreign graphs -------------------------------------------------------------------
def _lif(n, tau_steps=8.0, thr=1.0, **kw):
    one = np.ones(n)
    return nir.LIF(tau=one * DT * tau_steps, r=one * tau_steps, v_leak=kw.get("v_leak", 0 * one),
                   v_threshold=one * thr, v_reset=kw.get("v_reset", 0 * one))


def _foreign(n_in=6, h=5, k=4, hidden=None, readout=None, extra=None, bias_in=False):
    rng = np.random.default_rng(3)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc1": (nir.Affine(weight=rng.normal(0, 0.3, (h, n_in)),
                                bias=np.full(h, 0.1)) if bias_in else
                     nir.Linear(weight=rng.normal(0, 0.3, (h, n_in)))),
             "lif1": hidden or _lif(h),
             "rec": nir.Linear(weight=rng.normal(0, 0.1, (h, h))),
             "fc2": nir.Affine(weight=rng.normal(0, 0.3, (k, h)), bias=rng.normal(0, .1, k)),
             "lif2": readout or _lif(k),
             "output": nir.Output(output_type={"output": np.array([k])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "rec"), ("rec", "lif1"),
             ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    for name, node, new_edges in extra or []:
        nodes[name] = node
        edges += new_edges
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={})


def test_foreign_float_graph_maps_to_one_core_per_layer():
    cfg, weights, notes = from_nir(_foreign(k=4), classes=2)
    s = cfg.sizes
    assert (s.n_in, s.layers, s.cores, s.neurons, s.classes, s.per_class) == (6, 1, 1, 5, 2, 2)
    assert cfg.dynamics.leak_shift == 3 and not cfg.dynamics.reset_subtract
    assert cfg.topology.readout_bias
    assert any("scaled by" in n for n in notes)
    assert np.abs(weights.w_hh).max() <= 127
    # the largest effective weight into each population uses the full 8-bit range
    assert max(np.abs(weights.w_in).max(), np.abs(weights.w_hh).max()) == 127
    Network(cfg, weights=weights).run(np.zeros((1, 6), np.int64))


@pytest.mark.parametrize("graph, words", [
    (lambda: _foreign(hidden=_lif(5, tau_steps=10.0)),
     ["node 'lif1'", "tau = 0.001 s is 10 dt", "1 - 2**-s", "0.875", "0.9375"]),
    (lambda: _foreign(hidden=_lif(5, v_leak=np.ones(5))), ["node 'lif1'", "v_leak = 1"]),
    (lambda: _foreign(readout=_lif(4, v_reset=-np.ones(4))), ["node 'lif2'", "v_reset = -1"]),
    (lambda: _foreign(hidden=nir.CubaLIF(tau_syn=np.ones(5) * 2e-4, tau_mem=np.ones(5) * 8e-4,
                                         r=np.ones(5) * 8, v_leak=np.zeros(5),
                                         v_threshold=np.ones(5))),
     ["node 'lif1'", "CubaLIF", "no synaptic filter"]),
    (lambda: _foreign(bias_in=True), ["node 'fc1'", "bias", "hidden neurons have no bias"]),
    (lambda: _foreign(extra=[("skip", nir.Linear(weight=np.ones((4, 6))),
                              [("input", "skip"), ("skip", "lif2")])]),
     ["node 'input'", "layer 0 only"]),
    (lambda: _foreign(extra=[("scale", nir.Scale(scale=np.ones(5)),
                              [("lif1", "scale"), ("scale", "fc2")])]),
     ["node 'scale'", "a Scale", "SWIRL maps only"]),
], ids=["leak-not-a-shift", "v_leak", "v_reset", "cubalif", "hidden-bias", "skip", "scale"])
def test_import_refuses_what_does_not_fit(graph, words):
    with pytest.raises(NirError) as e:
        from_nir(graph())
    for w in words:
        assert w in str(e.value), str(e.value)


def test_import_refuses_classes_that_do_not_divide_the_readout():
    with pytest.raises(NirError, match="4 readout neurons cannot be 3 classes"):
        from_nir(_foreign(k=4), classes=3)


# ---- command line ---------------------------------------------------------------------
def test_cli_export_import_round_trip(tmp_path, capsys):
    from sim.train import load_weights, save_weights
    net = _net()
    save_weights(tmp_path / "w.npz", net)
    assert main(["export", "--weights", str(tmp_path / "w.npz"),
                 "--nir", str(tmp_path / "net.nir")]) == 0
    assert main(["import", str(tmp_path / "net.nir"), "--out", str(tmp_path / "c.toml"),
                 "--weights", str(tmp_path / "w2.npz")]) == 0
    back = load_weights(tmp_path / "w2.npz")
    assert network_differences(net, back) == []
    assert (tmp_path / "c.toml").read_text() == net.config.to_toml()


def test_cli_import_refusal_is_one_error_line(tmp_path, capsys):
    nir.write(str(tmp_path / "bad.nir"), _foreign(hidden=_lif(5, tau_steps=10.0)))
    code = main(["import", str(tmp_path / "bad.nir"), "--out", str(tmp_path / "c.toml"),
                 "--weights", str(tmp_path / "w.npz")])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("error: node 'lif1': tau") and err.count("\n") == 1
    assert not (tmp_path / "c.toml").exists()
    (tmp_path / "junk.nir").write_text("not hdf5")
    assert main(["import", str(tmp_path / "junk.nir"), "--out", str(tmp_path / "c.toml"),
                 "--weights", str(tmp_path / "w.npz")]) == EXIT_ERROR
    assert "not a readable NIR graph" in capsys.readouterr().err


def test_foreign_graph_with_a_recurrent_sub_graph_is_inlined():
    """snnTorch writes an RLeaky as a sub-graph input -> lif <-> w_rec -> output."""
    flat = _foreign()
    n = flat.nodes
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([5])}),
                              "lif": n["lif1"], "w_rec": n["rec"],
                              "output": nir.Output(output_type={"output": np.array([5])})},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                              ("lif", "output")], metadata={})
    nested = nir.NIRGraph(nodes={"input": n["input"], "fc1": n["fc1"], "lif1": sub,
                                 "fc2": n["fc2"], "lif2": n["lif2"], "output": n["output"]},
                          edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
                                 ("fc2", "lif2"), ("lif2", "output")], metadata={})
    a = from_nir(flat)
    b = from_nir(nested)
    assert a[0].to_dict() == b[0].to_dict()
    for k in ("w_in", "w_hh", "w_ro"):
        assert (getattr(a[1], k) == getattr(b[1], k)).all()
