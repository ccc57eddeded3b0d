"""Reset in the middle of a sample and in the middle of its learning (issue 13 item 5):
the chip under Verilator (sim/tb_chip.py ``reset_run``) learns a sample, its reset pin is
pulsed mid-way (once 12 cycles into step 2's learning phases, aimed by the probe's
``learning``: the cut sample had written some of its weights and not all, asserted below;
once 500 cycles after the RUN frame), then the host PINGs it, reads back every weight and LFSR state as
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

# (name, which sample is cut, how): ``learning``: the learning unit's n-th start of work
# in that sample (the probe's ``learning``, rtl/top.py: 1 is the trace clear, then one a
# step), ``after`` cycles into it; without, ``after`` cycles from the RUN frame's end
RESETS = [
    ("mid_learning", 2, {"learning": 4, "after": 12, "limit": 100_000}),   # step 2's
    ("mid_sample", 5, {"after": 500}),
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
    """The tiny chip (tests/test_chip.py's build) from its initial weights (a readout that
    is not yet right is taught at every step: sweeps to aim at): a learning run of the
    samples, then each reset run of :data:`RESETS`."""
    cfg = load_config("tiny")
    topo = make_topology(cfg)
    rng = np.random.default_rng(9)
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (8, cfg.sizes.n_in))
    y = np.arange(8) % cfg.sizes.classes
    u[:, 0] = cfg.dynamics.enc_theta * (y == 0)
    runs = [{"learn": True}] + [{"reset": {"sample": i, "how": how}} for _, i, how in RESETS]
    chip = run_chip(chip_build(topo), Network(cfg, topo), u[:8], y[:8], runs,
                    tmp_path_factory.mktemp("reset"))
    return cfg, topo, u[:8], y[:8], dict(zip([n for n, _, _ in RESETS], chip["runs"][1:]))


@pytest.mark.parametrize("name", [n for n, _, _ in RESETS])
def test_the_sample_after_a_reset_is_bit_exact(resets, name):
    cfg, topo, u, y, runs = resets
    run = runs[name]
    i = dict((n, k) for n, k, _ in RESETS)[name]
    state = run["reset"]
    assert state.get("missed", 0) == 0
    assert 0 < state["steps_done"] < cfg.sizes.steps          # it did cut the sample
    if name == "mid_learning":
        assert state["learning"] == 1                          # ... inside phases 4-6
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
    assert other["weights"] != runs["mid_learning"]["reset"]["weights"]
    i = RESETS[0][1]
    r = side_by_side(_model_from(cfg, topo, other), u[i + 1:i + 2], y[i + 1:i + 2], True,
                     runs["mid_learning"])
    assert not r["bit_exact"]


def test_the_reset_cut_the_learning_part_way(resets):
    """The weights the mid-learning reset left are neither those before the cut sample
    nor those after it whole (the golden model computes both): the sample's learning was
    cut after it had written some weights and before it wrote all."""
    cfg, topo, u, y, runs = resets
    before = Network(cfg, topo)
    before.run(u, y, learn=True)                 # the first run: every sample, learning
    whole = Network(cfg, topo, before.weights.copy())
    for bank, twin in zip(list(before.banks) + [before.readout_bank],
                          list(whole.banks) + [whole.readout_bank]):
        twin.lfsr = Lfsr(bank.lfsr.state)
    i = RESETS[0][1]
    whole.run(u[i:i + 1], y[i:i + 1], learn=True)
    cut = _model_from(cfg, topo, runs["mid_learning"]["reset"]).weights
    for name in ("w_in", "w_hh", "w_ro"):
        assert getattr(before.weights, name).shape == getattr(cut, name).shape
    same = lambda a, b: all(np.array_equal(getattr(a, k), getattr(b, k))   # noqa: E731
                            for k in ("w_in", "w_hh", "w_ro"))
    assert not same(cut, before.weights) and not same(cut, whole.weights)
