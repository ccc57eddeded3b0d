"""Level 3 of docs/architecture.md section 4: the neuron core under Verilator (cocotb),
bit-exact against the golden model, every step: currents, membranes, spikes, psi.

Each hardware set (the elaboration-time parameters: sizes, widths, lanes, memory backend)
is built once per session; many configs (seeds, dynamics, weights, stimuli, stalls) then
run one after another in a single simulation of that build.
"""
from dataclasses import dataclass

import numpy as np
import pytest

from gen.topology import KIND_INPUT
from gen.util import ceil_div
from sim.harness import CoreHardware, build, run
from sim.model import Network

pytestmark = pytest.mark.rtl


@dataclass(frozen=True)
class Hardware(CoreHardware):
    """A core build with the options of rtl/core.py: ``external_weights`` (the core's
    weight port wired to a WeightMemory beside it, sim.tb_core.WithWeightMemory) and
    ``refractory_memory`` (False: every case runs with ``refractory = 0``)."""
    external_weights: bool = False
    refractory_memory: bool = True

    def component(self):
        from rtl.core import NeuronCore
        from sim.tb_core import WithWeightMemory
        core = NeuronCore(neurons=self.neurons, n_ff=self.n_in, weight_width=self.weight,
                          membrane_width=self.membrane, current_width=self.current,
                          lanes=self.lanes, backend=self.backend,
                          external_weights=self.external_weights,
                          refractory_memory=self.refractory_memory)
        return WithWeightMemory(core, backend=self.backend) if self.external_weights else core


HARDWARE = {
    # narrowest widths the config allows (2-bit weights, 4-bit membrane and current);
    # more lanes than neurons: one word per row, back-to-back read-modify-write
    "narrowest": CoreHardware(n_in=1, neurons=2, weight=2, membrane=4, current=4, lanes=3),
    # N not a power of two, a padded last word
    "odd": CoreHardware(n_in=9, neurons=13, weight=6, membrane=12, current=12, lanes=4),
    # one weight per word: sixteen words a row
    "lanes1": CoreHardware(n_in=6, neurons=16, weight=5, membrane=10, current=11, lanes=1),
    # widest widths the config allows (16-bit weights, 32-bit membrane and current)
    "widest": CoreHardware(n_in=5, neurons=7, weight=16, membrane=32, current=32, lanes=2),
    # the shipped default core (docs/architecture.md section 8) on the UP5K SPRAM model
    "default_spram": CoreHardware(n_in=64, neurons=64, weight=8, membrane=16, current=18,
                                  lanes=8, backend="spram"),
    # the core as rtl/top.py builds it for the default config: two lanes (one SPRAM a
    # core), the weights behind the external port, no refractory counters (refractory 0)
    "chip_default": Hardware(n_in=64, neurons=64, weight=8, membrane=16, current=18,
                             lanes=2, backend="spram", external_weights=True,
                             refractory_memory=False),
    # external port on the generic memory, with refractory counters (refractory > 0 runs)
    "odd_external": Hardware(n_in=9, neurons=13, weight=6, membrane=12, current=12, lanes=4,
                             external_weights=True),
    # one weight word a row that the row fills or pads (N <= lanes) at lanes 2, 4 and 8:
    # the word index has no bits of the neuron index (issue 16)
    "one_neuron": CoreHardware(n_in=4, neurons=1, weight=4, membrane=8, current=10, lanes=2),
    "one_word2": CoreHardware(n_in=3, neurons=2, weight=6, membrane=12, current=12, lanes=2),
    "one_word4": CoreHardware(n_in=7, neurons=4, weight=4, membrane=10, current=10, lanes=4),
    # the UP5K's lanes for 2-bit weights (16 // 2)
    "one_word8": CoreHardware(n_in=8, neurons=8, weight=2, membrane=8, current=8, lanes=8),
    "padded_word8": CoreHardware(n_in=5, neurons=5, weight=3, membrane=9, current=9, lanes=8),
}
KINDS = ("silent", "all_fire", "saturated", "negative", "random", "random")


def crossbar_rows(net):
    """The weight rows of hidden core 0 in crossbar row order (gen.topology.CoreRows)."""
    rows = net.topology.cores[0]
    cols = np.arange(net.config.sizes.neurons)
    w = [net.weights.w_in[src, cols] if kind == KIND_INPUT else net.weights.w_hh[src, cols]
         for kind, src in zip(rows.kind, rows.source)]
    return rows, np.array(w, dtype=np.int64)


def make_case(hw: CoreHardware, kind: str, seed: int) -> dict:
    """One config of ``kind`` for hardware ``hw``, run through the golden model."""
    rng = np.random.default_rng([seed, hw.neurons, hw.weight])
    v_max = (1 << (hw.membrane - 1)) - 1
    lim = 1 << (hw.weight - 1)
    theta = int(rng.integers(1, min(v_max, 4 * lim) + 1))
    dyn = {
        "theta": theta,
        "leak_shift": int(rng.integers(1, hw.membrane)),
        "psi_window": int(rng.integers(0, min(v_max, 2 * theta) + 1)),
        "refractory": int(rng.choice([0, 0, 1, 3, 255])),
        "reset_subtract": bool(rng.integers(0, 2)),
    }
    steps = int(rng.integers(8, 25))
    if kind == "all_fire":
        dyn.update(theta=1, refractory=0)
    if not getattr(hw, "refractory_memory", True):      # built without the counters
        dyn.update(refractory=0)
    cfg = hw.config(seed=seed, steps=steps, **dyn)
    s, d = cfg.sizes, cfg.dynamics
    u = rng.integers(0, d.enc_theta + 1, s.n_in)
    shape_in, shape_hh = (s.n_in, s.neurons), (s.neurons, s.neurons)
    if kind == "silent":
        u[:] = 0
        w_in, w_hh = rng.integers(-lim, lim, shape_in), rng.integers(-lim, lim, shape_hh)
    elif kind == "all_fire":
        u[:] = d.enc_theta
        w_in, w_hh = np.full(shape_in, lim - 1), np.full(shape_hh, lim - 1)
    elif kind == "saturated":
        w_in, w_hh = (rng.choice([-lim, lim - 1], size=sh) for sh in (shape_in, shape_hh))
    elif kind == "negative":
        u[:] = np.maximum(u, d.enc_theta // 2)
        w_in = rng.integers(-lim, max(1, lim // 4), shape_in)
        w_hh = rng.integers(-lim, 1, shape_hh)
    else:
        w_in = w_hh = None
    net = Network(cfg)
    if w_in is not None:      # one core, no long-range rows: every (pre, post) pair exists
        net.weights.w_in[:] = w_in
        net.weights.w_hh[:] = w_hh
    _, _, tr = net.run(u, record=True)
    tr = {k: v[0] for k, v in tr.items() if k in ("s_in", "i_h", "v_h", "s_h", "psi")}
    if kind == "silent":
        assert not tr["s_h"].any()
    if kind == "all_fire":
        assert tr["s_h"].all() and tr["s_in"].all()
    if kind == "negative":
        assert tr["i_h"].min() < 0 and tr["v_h"].min() < 0
    rows, w = crossbar_rows(net)
    step_rows = []
    for t in range(steps):
        fired = [r for r in range(rows.n_ff)
                 if rows.kind[r] == KIND_INPUT and tr["s_in"][t, rows.source[r]]]
        step_rows.append([int(r) for r in rng.permutation(fired)])
    stall = kind not in ("all_fire", "silent") and seed % 2 == 1
    return {
        "name": f"{kind}(seed={seed}, T={steps}, {dyn})",
        "neurons": s.neurons, "lanes": hw.lanes, "weight_width": hw.weight,
        "weights": w.tolist(),
        "params": {"theta": d.theta, "leak_shift": d.leak_shift,
                   "psi_window": cfg.learning.psi_window, "refractory": d.refractory,
                   "reset_subtract": int(d.reset_subtract)},
        "rows": step_rows,
        "expected": {"i_h": tr["i_h"].tolist(), "v_h": tr["v_h"].tolist(),
                     "s_h": tr["s_h"].tolist(), "psi": tr["psi"].tolist()},
        "gap": 0.3 if stall else 0.0, "pause": 0.3 if stall else 0.0,
    }


@pytest.fixture(scope="session")
def core_build():
    """Build each hardware set at most once per session (and reuse sim_build/ across
    sessions while the Verilog is unchanged)."""
    builds = {}

    def get(name):
        if name not in builds:
            builds[name] = HARDWARE[name].build()
        return builds[name]
    return get


def step_cycles(hw: CoreHardware, events: int) -> int:
    """Cycles per step of docs/rtl-core.md, as the testbench measures them (from the
    cycle it sees ``done`` to the next ``done``, with events offered back to back):
    ``W*E`` crossbar words, one more to drain the accumulate stage, ``N`` neurons, five
    of sequencing and pipeline (one of them the testbench's reaction to ``done``)."""
    wpr = ceil_div(hw.neurons, hw.lanes)
    return wpr * events + (events > 0) + hw.neurons + 5


@pytest.mark.parametrize("name", sorted(HARDWARE))
def test_core_matches_golden_model(name, core_build, tmp_path):
    """Bit-exact every step; without stalls, the documented cycles per step."""
    hw = HARDWARE[name]
    cases = [make_case(hw, kind, seed) for seed, kind in enumerate(KINDS, start=1)]
    if getattr(hw, "refractory_memory", True):  # the counters are exercised, not just built
        assert any(c["params"]["refractory"] > 0 for c in cases)
    results = run(core_build(name), "sim.tb_core", cases, tmp_path)
    assert [r["ok"] for r in results] == [True] * len(cases)
    for case, r in zip(cases, results):
        if case["gap"] == case["pause"] == 0:
            assert r["cycles"] == [step_cycles(hw, e) for e in r["events"]], case["name"]


def test_spram_matches_memory(tmp_path):
    """Both weight-memory backends, side by side, under Verilator with yosys' SPRAM model:
    two columns (20 bits) by two banks (16384 + 64 words), all four UP5K blocks."""
    from sim.tb_memory import MemoryPair
    width, depth = 20, 16384 + 64
    b = build(MemoryPair(width, depth), "mempair", spram=True)
    (r,) = run(b, "sim.tb_memory", [{"width": width, "depth": depth, "cycles": 6000,
                                     "seed": 5}], tmp_path)
    assert r["reads_checked"] > 1000
