"""Level 3 of docs/architecture.md section 4: the spike router under Verilator (cocotb).

For random topologies (gen.config.Config with varied cores, layers, ws_neighbours,
axons_per_edge, readout_density, seed) and random and worst-case traffic, the multiset of
deliveries of every step must equal the golden reference: every ``(dest, row)`` of
``topology.routing[j]`` for every hidden neuron ``j`` the golden model spiked
(gen.routing.expected_deliveries). Never derived from the RTL.

Each hardware set is built once per session; its routing tables are loaded at run time
through the write ports, so every case (topology, traffic, stalls) of a set runs in one
simulation of one build.
"""
import numpy as np
import pytest

from gen.config import Config, ConfigError
from gen.routing import RouterParams, expected_deliveries, routing_tables
from gen.topology import make_topology
from gen.util import index_width
from sim.harness import NO_SPLIT, build, run
from sim.model import Network

pytestmark = pytest.mark.rtl

HARDWARE = {
    # depth-1 FIFOs: every second entry to a busy destination stalls
    "d1": RouterParams(src_cores=6, neurons=8, dests=7, rows=64, table_depth=256,
                       fifo_depth=1),
    # depth-2 FIFOs, non-power-of-two neurons field use, bigger tables
    "d2": RouterParams(src_cores=8, neurons=12, dests=9, rows=128, table_depth=512,
                       fifo_depth=2),
    # the shipped default topology's own router (384 entries), depth-4 FIFOs
    "default": RouterParams.from_topology(make_topology(Config().validate()), fifo_depth=4),
}


def random_config(hw: RouterParams, rng) -> Config:
    """A random valid config whose topology fits ``hw`` (rejection sampling)."""
    while True:
        layers = int(rng.integers(1, 3))
        cores = int(rng.integers(1, hw.src_cores // layers + 1))
        neurons = int(rng.integers(1, hw.neurons + 1))
        ws = int(rng.choice([k for k in range(0, cores, 2)] or [0]))
        cfg = Config().replace(**{
            "sizes.n_in": int(rng.integers(2, 9)), "sizes.layers": layers,
            "sizes.cores": cores, "sizes.neurons": neurons,
            "sizes.classes": int(rng.integers(2, 4)), "sizes.per_class": int(rng.integers(1, 3)),
            "sizes.steps": int(rng.integers(3, 8)), "learning.teach_start": 0,
            "topology.ws_neighbours": ws,
            "topology.ws_rewire": float(rng.random()),
            "topology.axons_per_edge": int(rng.integers(0, neurons + 1)),
            "topology.ff_fan_in": int(rng.integers(1, cores * neurons + 1)),
            "topology.readout_density": float(rng.uniform(0.05, 1.0)),
            "dynamics.theta": int(rng.integers(4, 64)),
            "seed": int(rng.integers(0, 2**32)),
        })
        try:
            cfg.validate()
            topo = make_topology(cfg)
            routing_tables(topo, hw)
        except ConfigError:
            continue
        return cfg


def golden_spikes(cfg: Config, rng) -> np.ndarray:
    """The golden model's hidden raster ``s_h`` (steps, hidden) for a random sample."""
    net = Network(cfg)
    u = rng.integers(cfg.dynamics.enc_theta // 2, cfg.dynamics.enc_theta + 1, cfg.sizes.n_in)
    _, _, tr = net.run(u, record=True)
    return np.asarray(tr["s_h"][0], dtype=bool)


def make_case(hw: RouterParams, name: str, cfg: Config, s_h, *, gap=0.0, pause=0.0,
              early=True, rng=None) -> dict:
    topo = make_topology(cfg)
    index, entries = routing_tables(topo, hw)
    N = cfg.sizes.neurons
    steps = [[(int(j) // N, int(j) % N) for j in np.flatnonzero(row)] for row in s_h]
    s, t = cfg.sizes, cfg.topology
    return {
        "name": (f"{name}(layers={s.layers}, cores={s.cores}, neurons={N}, "
                 f"ws={t.ws_neighbours}, axons={t.axons_per_edge}, "
                 f"density={t.readout_density:.2f}, seed={cfg.seed}, gap={gap}, "
                 f"pause={pause}, early={early})"),
        "src_cores": hw.src_cores, "dests": hw.dests, "fifo_depth": hw.fifo_depth,
        "neuron_bits": hw.neuron_bits, "row_bits": index_width(hw.rows),
        "offset_bits": index_width(hw.table_depth),
        "index": index, "entries": entries, "steps": steps,
        "expected": expected_deliveries(topo, s_h),
        # expander cycles of each step: one per entry, one per event without entries
        "work": [sum(max(1, len(topo.routing[int(j)])) for j in np.flatnonzero(row))
                 for row in s_h],
        "gap": gap, "pause": pause, "early": early,
    }


def all_firing(cfg: Config, steps: int = 3) -> np.ndarray:
    """Worst case: every hidden neuron fires every step."""
    return np.ones((steps, cfg.sizes.hidden), dtype=bool)


def cases_for(name: str, hw: RouterParams) -> list:
    rng = np.random.default_rng([len(name), hw.table_depth, hw.fifo_depth])
    cases = []
    if name == "default":
        cfg = Config().replace(**{"sizes.steps": 6}).validate()
        cases.append(make_case(hw, "default_model", cfg, golden_spikes(cfg, rng)))
        cases.append(make_case(hw, "default_uniform", cfg, all_firing(cfg, 2)))
        cases.append(make_case(hw, "default_uniform_stalls", cfg, all_firing(cfg, 2),
                               pause=0.5, gap=0.2))
        hot = cfg.replace(**{"sizes.cores": 1, "topology.ws_neighbours": 0,
                             "topology.readout_density": 1.0}).validate()
        cases.append(make_case(hw, "default_hot_spot", hot, all_firing(hot, 2)))
        cases.append(make_case(hw, "default_hot_spot_stalls", hot, all_firing(hot, 2),
                               pause=0.5))
        return cases
    # random topologies, golden-model traffic, with and without stalls
    for k in range(8):
        cfg = random_config(hw, rng)
        stall = k % 2 == 1
        cases.append(make_case(hw, "random", cfg, golden_spikes(cfg, rng),
                               gap=0.3 if stall else 0.0, pause=0.5 if stall else 0.0,
                               early=k % 4 != 2))
    # worst case: every neuron of every core, on the largest topologies that fit
    layers = 2 if hw.src_cores >= 4 else 1
    cores = hw.src_cores // layers
    big = Config().replace(**{
        "sizes.n_in": 4, "sizes.layers": layers, "sizes.cores": cores,
        "sizes.neurons": hw.neurons, "sizes.classes": 2, "sizes.per_class": 2,
        "topology.ws_neighbours": 2, "topology.axons_per_edge": hw.neurons // 2,
        "topology.ff_fan_in": hw.neurons, "topology.readout_density": 1.0,
        "sizes.steps": 3, "learning.teach_start": 0}).validate()
    cases.append(make_case(hw, "uniform", big, all_firing(big)))
    cases.append(make_case(hw, "uniform_stalls", big, all_firing(big), pause=0.7))
    # a single hot destination: one core, every neuron to the readout
    hot = Config().replace(**{
        "sizes.n_in": 4, "sizes.layers": 1, "sizes.cores": 1, "sizes.neurons": hw.neurons,
        "sizes.classes": 2, "sizes.per_class": 2, "topology.ws_neighbours": 0,
        "topology.axons_per_edge": 0, "topology.readout_density": 1.0,
        "sizes.steps": 3, "learning.teach_start": 0}).validate()
    cases.append(make_case(hw, "hot_spot", hot, all_firing(hot)))
    cases.append(make_case(hw, "hot_spot_stalls", hot, all_firing(hot), pause=0.5,
                           early=False))
    return cases


@pytest.fixture(scope="session")
def router_build():
    builds = {}

    def get(name):
        if name not in builds:
            from rtl.router import Router
            builds[name] = build(Router(HARDWARE[name]), f"router_{name}",
                                 extra_args=NO_SPLIT)
        return builds[name]
    return get


# cycles of a step beyond its expander work (docs/router.md): last grant -> index read ->
# entry read -> entry register -> FIFO -> output, the counters' registered increments,
# and the barrier
STEP_OVERHEAD = 6


def throughput(result) -> float:
    """Deliveries per cycle over the case's steps (step_done to step_done)."""
    return sum(result["deliveries"]) / max(1, sum(result["cycles"]))


@pytest.mark.parametrize("name", sorted(HARDWARE))
def test_router_matches_golden_model(name, router_build, tmp_path):
    hw = HARDWARE[name]
    cases = cases_for(name, hw)
    assert sum(sum(map(len, c["expected"])) for c in cases) > 0
    results = run(router_build(name), "sim.tb_router", cases, tmp_path)
    assert [r["ok"] for r in results] == [True] * len(cases)
    lines = []
    for case, r in zip(cases, results):
        c = r["counters"]
        over = [cy - w for cy, w in zip(r["cycles"], case["work"])]
        lines.append(f"{case['name']}: {sum(r['deliveries'])} deliveries in "
                     f"{sum(r['cycles'])} cycles = {throughput(r):.3f}/cycle, "
                     f"stalls {c['stalls']}, peak {c['peak_level']}, "
                     f"cycles - work per step {over}")
        if case["pause"] == 0 and case["gap"] == 0:
            # one expander: one entry a cycle, whatever the FIFO depth; the rest is the
            # fixed latency of a step (docs/router.md)
            assert all(o <= STEP_OVERHEAD for o in over), lines[-1]
    (tmp_path / "throughput.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
