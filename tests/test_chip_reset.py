"""Reset in the middle of a sample and in the middle of a plasticity sweep (issue 13
item 5): the chip under Verilator (sim/tb_chip.py ``reset_run``) learns a sample, its reset
pin is pulsed mid-way, then the host PINGs it, reads back every weight and LFSR state as
the reset left them, and teaches it the next sample. The golden model, started from what
was read back, must then match that sample bit for bit (every step's spikes, counts,
prediction, counters, LFSR states, every weight afterwards): a reset loses the sample it
cuts, never the chip's tables, its link or the next sample."""
from __future__ import annotations

import numpy as np
import pytest

from gen.config import load_config
from gen.run import unpack_bank
from gen.topology import make_topology
from sim.compare import LANES, chip_build, run_chip, side_by_side
from sim.fixed import Lfsr
from sim.model import Network

pytestmark = pytest.mark.rtl

# (name, which sample is cut, how): aimed by the probe's ``sweeping`` (rtl/top.py)
RESETS = [
    ("mid_sweep", 1, {"sweep": 3, "after": 4}),         # 4 cycles into the third sweep
    ("mid_sample", 3, {"after": 1_500}),               # 1,500 cycles after the RUN frame
]


def _model_from(cfg, topo, state: dict) -> Network:
    """A golden model holding the weights and LFSR states the chip read back."""
    net = Network(cfg, topo)
    for g, words in enumerate(state["weights"]):
        shape = net.bank_weights(g).shape
        net.set_bank_weights(g, unpack_bank(words, *shape, LANES, cfg.widths.weight))
    banks = list(net.banks) + [net.readout_bank]
    for bank, s in zip(banks, state["lfsr"]):
        bank.lfsr = Lfsr(s)
    return net


@pytest.fixture(scope="module")
def resets(tmp_path_factory):
    """The tiny chip (tests/test_chip.py's build), the readout trained first so it fires:
    a learning sample, then each reset run of :data:`RESETS`."""
    cfg = load_config("tiny")
    topo = make_topology(cfg)
    rng = np.random.default_rng(9)
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (24, cfg.sizes.n_in))
    y = np.arange(24) % cfg.sizes.classes
    u[:, 0] = cfg.dynamics.enc_theta * (y == 0)
    teacher = Network(cfg, topo)
    teacher.run(u[8:], y[8:], learn=True)
    runs = [{"learn": True}] + [{"reset": {"sample": i, "how": how}} for _, i, how in RESETS]
    chip = run_chip(chip_build(topo), Network(cfg, topo, teacher.weights.copy()), u[:8],
                    y[:8], runs, tmp_path_factory.mktemp("reset"))
    return cfg, topo, u[:8], y[:8], dict(zip([n for n, _, _ in RESETS], chip["runs"][1:]))


@pytest.mark.parametrize("name", [n for n, _, _ in RESETS])
def test_the_sample_after_a_reset_is_bit_exact(resets, name):
    cfg, topo, u, y, runs = resets
    run = runs[name]
    i = dict((n, k) for n, k, _ in RESETS)[name]
    state = run["reset"]
    assert 0 < state["steps_done"] < cfg.sizes.steps          # it did cut the sample
    if name == "mid_sweep":
        assert state["sweeping"] == 1                          # ... inside a sweep
    assert state["info"]["classes"] == cfg.sizes.classes       # the link answers
    net = _model_from(cfg, topo, state)
    r = side_by_side(net, u[i + 1:i + 2], y[i + 1:i + 2], True, run)
    assert r["bit_exact"], r["first_divergence"]
    assert r["rows"][0]["model_stats"]["weight_writes"] > 0     # it learnt


def test_a_model_started_from_another_state_differs(resets):
    """The negative: the golden model started from another state of the same chip (the
    one the later reset left) does not match the sample after the mid-sweep reset, so
    the comparison above rests on what was read back."""
    cfg, topo, u, y, runs = resets
    other = runs["mid_sample"]["reset"]
    assert other["weights"] != runs["mid_sweep"]["reset"]["weights"]
    i = RESETS[0][1]
    r = side_by_side(_model_from(cfg, topo, other), u[i + 1:i + 2], y[i + 1:i + 2], True,
                     runs["mid_sweep"])
    assert not r["bit_exact"]
