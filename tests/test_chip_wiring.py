"""Whole-chip configs that expose wiring (issue 13 item 3): a chip that read the wrong
parameter where two are equal, ignored a learning rate that is 1, or left a population's
switch unwired passes every test whose config hides it. Here each config gives every
rate, shift, threshold and width a value distinct from its neighbours', keeps the psi
gate active (``psi_window`` below ``theta``), has neurons that are not a multiple of the
lanes and 11 steps a sample, and starts from weights the golden model learnt, so that
the readout fires in inference. Each chip runs the same samples twice through its UART
(sim/tb_chip.py): learning off, then on, both bit exact against the golden model
(sim/compare.py ``side_by_side``: every step's spikes, counts, predictions, counters,
LFSR states and, after the run, every weight).

The saturation config drives the membranes (hidden and readout, both rails, before the
reset), the traces (0 and the top) and the weights (both rails) to their limits, and the
test asserts it got there. Currents and teacher traces cannot reach theirs in a valid
config: ``Config.validate`` sizes ``widths.current`` for the worst-case fan-in and
``widths.teacher`` for a population firing every step (docs/architecture.md)."""
from __future__ import annotations

import numpy as np
import pytest

from gen.config import load_config
from gen.topology import make_topology
from sim.compare import chip_build, run_chip, side_by_side
from sim.model import Network

pytestmark = pytest.mark.rtl

# every value distinct from the one it could be swapped with (the pairs the other chip
# configs keep equal: leak_shift / leak_shift_out, mod_theta / mod_drive, trace_shift /
# teacher_shift, eta_hidden / eta_readout and their shifts, theta / theta_out / psi_window)
WIRING = {
    "sizes.n_in": 7, "sizes.cores": 3, "sizes.neurons": 5, "sizes.classes": 3,
    "sizes.per_class": 2, "sizes.steps": 11,
    "widths.weight": 7, "widths.membrane": 13, "widths.current": 14, "widths.trace": 6,
    "widths.teacher": 9,
    "dynamics.enc_theta": 6, "dynamics.theta": 37, "dynamics.theta_out": 29,
    "dynamics.leak_shift": 2, "dynamics.leak_shift_out": 4, "dynamics.refractory": 1,
    "dynamics.mod_theta": 3, "dynamics.mod_drive": 5, "dynamics.mod_leak_shift": 2,
    "learning.trace_shift": 1, "learning.trace_inc": 23, "learning.teacher_shift": 3,
    "learning.psi_window": 21, "learning.eta_hidden": 2, "learning.eta_readout": 3,
    "learning.eta_hidden_shift": 5, "learning.eta_readout_shift": 4,
    "learning.teach_start": 2, "learning.target": 4, "learning.margin": 2,
    "topology.readout_density": 0.7, "init_scale": 20, "init_rec_scale": 6,
}
SATURATION = {
    "sizes.steps": 12,
    "widths.weight": 4, "widths.membrane": 7, "widths.current": 8, "widths.trace": 4,
    "widths.teacher": 4,
    "dynamics.theta": 40, "dynamics.theta_out": 50, "dynamics.leak_shift": 4,
    "dynamics.leak_shift_out": 4, "dynamics.mod_theta": 1, "dynamics.mod_drive": 2,
    "learning.trace_shift": 3, "learning.trace_inc": 15, "learning.teacher_shift": 2,
    "learning.psi_window": 40, "learning.eta_hidden": 3, "learning.eta_readout": 3,
    "learning.eta_hidden_shift": 1, "learning.eta_readout_shift": 1,
    "learning.teach_start": 1, "learning.target": 14, "learning.margin": 10,
    "init_scale": 7, "init_rec_scale": 7,
}
# a seed each (the topology, the initial weights, the LFSRs): one chip build a case
CASES = {
    "wiring": WIRING,
    "frozen_hidden": {**WIRING, "learning.learn_hidden": False, "seed": 7},
    "frozen_readout": {**WIRING, "learning.learn_readout": False, "seed": 11},
    "saturation": {**SATURATION, "seed": 8},
}
SAMPLES = 4          # a sample each way through the chip (learning off, then on)
PRE_TRAIN = 24       # samples the golden model learns first: the readout then fires


def _data(cfg, seed: int = 3):
    """Random intensities whose first channels say the class, so learning has work."""
    rng = np.random.default_rng(seed)
    s, theta = cfg.sizes, cfg.dynamics.enc_theta
    n = PRE_TRAIN + SAMPLES
    u = rng.integers(0, theta + 1, (n, s.n_in))
    y = np.arange(n) % s.classes
    for k in range(min(s.classes, s.n_in)):
        u[:, k] = theta * (y == k)
    return u, y


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """One config's chip, run learning off then on from pre-trained weights, and the
    golden model's view of both runs."""
    cfg = load_config("tiny").replace(**CASES[request.param]).validate()
    topo = make_topology(cfg)
    u, y = _data(cfg)
    # pre-trained with every population learning (a frozen readout's weights are learnt
    # too: from its zero initial weights it would never fire)
    full = cfg.replace(**{"learning.learn_hidden": True, "learning.learn_readout": True})
    teacher = Network(full.validate(), topo)
    teacher.run(u[:PRE_TRAIN], y[:PRE_TRAIN], learn=True)
    start = teacher.weights.copy()                     # the chip starts at reset LFSRs
    u, y = u[PRE_TRAIN:], y[PRE_TRAIN:]
    chip = run_chip(chip_build(topo), Network(cfg, topo, start.copy()), u, y,
                    [{"learn": False}, {"learn": True}],
                    tmp_path_factory.mktemp(request.param))
    net = Network(cfg, topo, start.copy())
    infer = side_by_side(net, u, y, False, chip["runs"][0])
    learn = side_by_side(net, u, y, True, chip["runs"][1])
    return request.param, cfg, topo, start, u, y, net, infer, learn


def test_inference_bit_exact_with_the_readout_firing(case):
    name, cfg, topo, start, u, y, net, infer, learn = case
    assert infer["bit_exact"], infer["first_divergence"]
    assert sum(sum(row["model_counts"]) for row in infer["rows"]) > 0   # the premise


def test_learning_bit_exact(case):
    name, cfg, topo, start, u, y, net, infer, learn = case
    assert learn["bit_exact"], learn["first_divergence"]
    writes = sum(row["model_stats"]["weight_writes"] for row in learn["rows"])
    assert writes > 0
    hidden_changed = not (np.array_equal(net.weights.w_in, start.w_in) and
                          np.array_equal(net.weights.w_hh, start.w_hh))
    readout_changed = not np.array_equal(net.weights.w_ro, start.w_ro)
    assert hidden_changed == cfg.learning.learn_hidden, name
    assert readout_changed == cfg.learning.learn_readout, name


@pytest.mark.parametrize("case", [c for c in CASES if c != "saturation"], indirect=True)
def test_the_psi_gate_is_active(case):
    """``psi_window`` below ``theta``: some hidden neurons are gated off at some steps
    (with ``psi_window >= theta`` psi is 1 everywhere and its wiring goes unseen)."""
    name, cfg, topo, start, u, y, *_ = case
    _, _, tr = Network(cfg, topo, start.copy()).run(u, record=True)
    assert 0 < tr["psi"].mean() < 1


@pytest.mark.parametrize("case", ["saturation"], indirect=True)
def test_saturation_reaches_the_rails(case):
    name, cfg, topo, start, u, y, *_ = case
    w, d = cfg.widths, cfg.dynamics
    net = Network(cfg, topo, start.copy())
    _, _, traces = net.run(u, y, learn=True, record=True)
    cat = lambda f: np.concatenate([f(t).ravel() for t in traces])   # noqa: E731
    m_lo, m_hi = -(1 << (w.membrane - 1)), (1 << (w.membrane - 1)) - 1
    for v, s, theta in (("v_h", "s_h", d.theta), ("v_r", "s_r", d.theta_out)):
        pre = cat(lambda t: t[v] + t[s] * theta)          # before the reset subtracts
        assert (pre.min(), pre.max()) == (m_lo, m_hi), v
    for x in ("x_h", "x_in"):
        assert (cat(lambda t: t[x]).min(), cat(lambda t: t[x]).max()) == (0, (1 << w.trace) - 1)
    lo, hi = -(1 << (w.weight - 1)), (1 << (w.weight - 1)) - 1
    for name_, mask in (("w_in", net.in_mask), ("w_hh", net.hh_mask), ("w_ro", net.ro_mask)):
        vals = getattr(net.weights, name_)[mask]
        assert vals.min() == lo and vals.max() == hi, name_


def test_the_inference_chip_is_bit_exact(tmp_path):
    """The chip ``build --learning off`` makes (no learning unit): the wiring config from
    pre-trained weights, learning off, bit exact with the readout firing; its PING says
    it cannot learn."""
    cfg = load_config("tiny").replace(**WIRING).validate()
    topo = make_topology(cfg)
    u, y = _data(cfg)
    teacher = Network(cfg, topo)
    teacher.run(u[:PRE_TRAIN], y[:PRE_TRAIN], learn=True)
    u, y = u[PRE_TRAIN:], y[PRE_TRAIN:]
    chip = run_chip(chip_build(topo, learning=False), Network(cfg, topo, teacher.weights),
                    u, y, [{"learn": False}], tmp_path)
    assert chip["info"]["learning"] is False
    r = side_by_side(Network(cfg, topo, teacher.weights.copy()), u, y, False, chip["runs"][0])
    assert r["bit_exact"], r["first_divergence"]
    assert sum(sum(row["model_counts"]) for row in r["rows"]) > 0
