"""A stricter compare (issue 13 item 4): every hidden neuron's current and membrane after
every step, read from the physical cores' ``o_state`` through the probe port (rtl/top.py
``ProbeSignature.state_*``, sim/tb_chip.py ``StepProbe(states=True)``), set beside the
golden model's record (sim/compare.py ``state_divergence``), on the tiny chip learning,
with a core each and with the three sharing one; a membrane or a current changed by one
in the chip's record must be caught and named (sample, step, core, neuron, field, both
values)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from gen.config import load_config
from gen.topology import make_topology
from sim.compare import chip_build, run_chip, side_by_side
from sim.model import Network

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module", params=[1, 3], ids=["own_cores", "shared_core"])
def run(request, tmp_path_factory):
    share = request.param
    cfg = load_config("tiny")
    topo = make_topology(cfg)
    rng = np.random.default_rng(4)
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (3, cfg.sizes.n_in))
    y = np.arange(3) % cfg.sizes.classes
    chip = run_chip(chip_build(topo, share), Network(cfg, topo), u, y, [{"learn": True}],
                    tmp_path_factory.mktemp(f"states{share}"), share=share, states=True)
    return cfg, topo, u, y, share, chip["runs"][0]


def test_every_membrane_and_current_of_every_step_is_the_models(run):
    cfg, topo, u, y, share, chip = run
    steps = chip["samples"][0]["steps_raster"]
    assert len(steps) == cfg.sizes.steps
    assert all(len(s["state"]) == cfg.sizes.hidden for s in steps)   # every neuron, every step
    r = side_by_side(Network(cfg, topo), u, y, True, chip, share=share)
    assert r["bit_exact"], r["first_divergence"]
    assert any(v != 0 for s in steps for _, _, v in s["state"])        # not all at rest


@pytest.mark.parametrize("field", ["membrane", "current"])
def test_a_state_off_by_one_is_caught_and_named(run, field):
    cfg, topo, u, y, share, chip = run
    bad = copy.deepcopy(chip)
    step = bad["samples"][1]["steps_raster"][5]
    j = 7
    entry = next(e for e in step["state"] if e[0] == j)     # [index, current, membrane]
    entry[1 if field == "current" else 2] += 1
    r = side_by_side(Network(cfg, topo), u, y, True, bad, share=share)
    assert not r["bit_exact"]
    where = r["first_divergence"]
    assert where["sample"] == 1
    d = where["where"]
    N = cfg.sizes.neurons
    assert (d["step"], d["core"], d["neuron"], d["field"]) == (5, j // N, j % N, field)
    assert d["chip"] == d["model"] + 1
