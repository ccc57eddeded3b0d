"""A stricter compare (issue 13 item 4): after every step, every hidden neuron's current
and membrane (the physical cores' ``o_state``), every readout neuron's (the readout's
``o_state``), every pre-synaptic trace as the learning unit writes it back and the
teacher's class traces, read through the probe port (rtl/top.py ``ProbeSignature``,
sim/tb_chip.py ``StepProbe(states=True)``), set beside the golden model's record
(sim/compare.py ``state_divergence``), on the tiny chip learning, with a core each and
with the three sharing one; each kind of value changed by one in the chip's record must
be caught and named (sample, step, population, core, neuron, field, both values)."""
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
    sz = cfg.sizes
    for s in steps:                                     # every value, every step
        assert len(s["state"]) == sz.hidden and len(s["readout_state"]) == sz.readout
        assert len(s["traces"]) == sz.n_in + sz.hidden + 1
        assert len(s["activity"]) == sz.classes
    r = side_by_side(Network(cfg, topo), u, y, True, chip, share=share)
    assert r["bit_exact"], r["first_divergence"]
    # not all at rest: each kind of value moves
    assert any(v != 0 for s in steps for _, _, v in s["state"])
    assert any(v != 0 for s in steps for _, _, v in s["readout_state"])
    assert any(x != 0 for s in steps for a, x in s["traces"] if sz.n_in <= a < sz.n_in + sz.hidden)
    assert any(a != 0 for s in steps for a in s["activity"])


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


@pytest.mark.parametrize("kind, index, expected", [
    ("readout_state", 3, ("readout", 1, 1, "membrane")),       # readout neuron 3: class 1
    ("traces", None, ("hidden trace", 1, 2, "trace")),         # hidden neuron 6: core 1
    ("traces", 0, ("input trace", None, 0, "trace")),
    ("activity", 1, ("teacher", 1, 0, "class trace")),
])
def test_a_readout_membrane_a_trace_or_a_teacher_trace_off_by_one_is_caught(run, kind,
                                                                             index, expected):
    cfg, topo, u, y, share, chip = run
    bad = copy.deepcopy(chip)
    step = bad["samples"][1]["steps_raster"][5]
    if kind == "activity":
        step["activity"][index] += 1
    else:
        # the readout's entries are [neuron, current, membrane]; the traces' [address, x]
        index = cfg.sizes.n_in + 6 if index is None else index
        entry = next(e for e in step[kind] if e[0] == index)
        entry[-1] += 1
    r = side_by_side(Network(cfg, topo), u, y, True, bad, share=share)
    assert not r["bit_exact"]
    where = r["first_divergence"]
    assert where["sample"] == 1
    d = where["where"]
    assert (d["step"], d["population"], d["core"], d["neuron"], d["field"]) == (5, *expected)
    assert d["chip"] == d["model"] + 1


def test_compare_command_with_states(tmp_path):
    """``python -m gen compare --states``: the same compare from the command line."""
    import json
    import subprocess
    import sys
    from conftest import REPO
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", X=rng.random((20, 6)), y=rng.integers(0, 2, 20))
    r = subprocess.run([sys.executable, "-m", "gen", "compare", "--config", "tiny", "--data",
                        str(tmp_path / "d.npz"), "--samples", "2", "--learn", "--states",
                        "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bit_exact"] and report["states_compared"]
