"""Fast checks of the router pieces: the generator's routing tables and refusals
(gen/routing.py), and the router itself in the Amaranth simulator (fairness, barrier,
backpressure with a depth-1 FIFO). The Verilator tests against the golden model are in
tests/test_rtl_router.py."""
import collections
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from gen.config import Config, ConfigError
from gen.routing import (RouterParams, check_routing_fits, expected_deliveries,
                         routing_tables, source_address)
from gen.topology import make_topology


def small_config(**kw):
    base = {"sizes.n_in": 4, "sizes.neurons": 4, "sizes.cores": 3, "sizes.layers": 2,
            "sizes.classes": 2, "sizes.per_class": 1, "topology.ws_neighbours": 2,
            "topology.axons_per_edge": 2, "topology.ff_fan_in": 3,
            "topology.readout_density": 0.5}
    base.update(kw)
    return Config().replace(**base).validate()


# ---- generator ------------------------------------------------------------------------

def test_tables_reproduce_routing():
    topo = make_topology(small_config())
    params = RouterParams.from_topology(topo)
    index, entries = routing_tables(topo, params)
    assert len(index) == params.index_depth
    assert len(entries) == params.table_depth
    for j, targets in topo.routing.items():
        off, cnt = index[source_address(topo, j, params)]
        assert entries[off:off + cnt] == [tuple(t) for t in targets]


def test_default_config_fits_architecture_budget():
    """docs/architecture.md section 8: 384 entries for the shipped default."""
    topo = make_topology(Config().validate())
    params = RouterParams.from_topology(topo)
    assert params.table_depth == 384 and params.dests == 5 and params.src_cores == 4


def test_refuses_table_too_deep():
    topo = make_topology(small_config())
    n = sum(len(v) for v in topo.routing.values())
    RouterParams.from_topology(topo, table_depth=n)
    with pytest.raises(ConfigError, match=f"{n} entries.*table_depth = {n - 1}"):
        RouterParams.from_topology(topo, table_depth=n - 1)


def test_refuses_missing_destination():
    topo = make_topology(small_config())
    j = next(j for j, v in topo.routing.items() if v)
    topo.routing[j] = topo.routing[j] + [(7, 0)]
    with pytest.raises(ConfigError, match="destination 7, which does not exist.*0..6"):
        RouterParams.from_topology(topo)


def test_refuses_missing_row():
    topo = make_topology(small_config())
    rows = topo.cores[0].n_rows
    topo.routing[5] = [(0, rows)]
    with pytest.raises(ConfigError, match=f"row {rows} of destination 0.*0..{rows - 1}"):
        RouterParams.from_topology(topo)


@pytest.mark.parametrize("field, value, message", [
    ("src_cores", 5, "6 source cores .* src_cores = 5"),
    ("neurons", 3, "sizes.neurons = 4 exceeds the router's neurons = 3"),
    ("dests", 6, "7 destinations .* dests = 6"),
    ("rows", 4, "beyond the router's rows = 4"),
])
def test_refuses_small_hardware(field, value, message):
    topo = make_topology(small_config())
    params = RouterParams.from_topology(topo)
    small = RouterParams(**{**params.__dict__, field: value})
    with pytest.raises(ConfigError, match=message):
        check_routing_fits(topo, small)


def test_refuses_bad_params():
    with pytest.raises(ConfigError, match="fifo_depth = 0"):
        RouterParams(src_cores=1, neurons=1, dests=1, rows=1, table_depth=1, fifo_depth=0)


def test_expected_deliveries():
    topo = make_topology(small_config())
    s_h = np.zeros((2, 24), dtype=bool)
    s_h[1, [0, 13]] = True
    exp = expected_deliveries(topo, s_h)
    assert exp[0] == []
    assert exp[1] == sorted(topo.routing[0] + topo.routing[13])


# ---- router in the Amaranth simulator ---------------------------------------------------

def simulate(params, index, entries, steps, *, pause=0.0, seed=0, max_cycles=20000):
    """Load the tables, send each step's events (lists of (core, neuron)) on the input of
    their core, strobe step_end, wait for step_done; returns per-step deliveries, the
    grant order (core per accepted event) and the counters."""
    from rtl.router import Router
    dut = Router(params)
    rng = random.Random(seed)
    result = {"deliveries": [], "grants": []}

    async def tb(ctx):
        for a, (off, cnt) in enumerate(index):
            ctx.set(dut.load_index.en, 1)
            ctx.set(dut.load_index.addr, a)
            ctx.set(dut.load_index.data, {"offset": off, "count": cnt})
            await ctx.tick()
        ctx.set(dut.load_index.en, 0)
        for a, (d, r) in enumerate(entries):
            ctx.set(dut.load_entry.en, 1)
            ctx.set(dut.load_entry.addr, a)
            ctx.set(dut.load_entry.data, {"dest": d, "row": r})
            await ctx.tick()
        ctx.set(dut.load_entry.en, 0)
        cycles = 0
        for events in steps:
            queues = collections.defaultdict(collections.deque)
            for c, nrn in events:
                queues[c].append(nrn)
            got = []
            closed = False
            while True:
                for c in range(params.src_cores):
                    ctx.set(dut.i[c].valid, bool(queues[c]))
                    if queues[c]:
                        ctx.set(dut.i[c].payload, {"core": c, "neuron": queues[c][0]})
                for d in range(params.dests):
                    ctx.set(dut.o[d].ready, rng.random() >= pause)
                all_sent = not any(queues.values())
                ctx.set(dut.step_end, all_sent and not closed)
                done = ctx.get(dut.step_done)
                for c in range(params.src_cores):
                    if ctx.get(dut.i[c].valid) and ctx.get(dut.i[c].ready):
                        queues[c].popleft()
                        result["grants"].append(c)
                for d in range(params.dests):
                    if ctx.get(dut.o[d].valid) and ctx.get(dut.o[d].ready):
                        p = ctx.get(dut.o[d].payload)
                        got.append((p.core, p.row))
                closed = closed or all_sent
                await ctx.tick()
                cycles += 1
                assert cycles < max_cycles
                if done:
                    break
            ctx.set(dut.step_end, 0)
            result["deliveries"].append(sorted(got))
        result.update(events=ctx.get(dut.events), deliveries_count=ctx.get(dut.deliveries),
                      stalls=ctx.get(dut.stalls), peak=ctx.get(dut.peak_level))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return result


@pytest.mark.parametrize("fifo_depth, pause", [(1, 0.0), (1, 0.7), (2, 0.3)])
def test_router_matches_reference(fifo_depth, pause):
    topo = make_topology(small_config(seed=3))
    params = RouterParams.from_topology(topo, fifo_depth=fifo_depth)
    index, entries = routing_tables(topo, params)
    rng = np.random.default_rng(fifo_depth)
    N = topo.config.sizes.neurons
    s_h = rng.random((4, topo.config.sizes.hidden)) < 0.5
    s_h[2] = True                    # every neuron fires
    s_h[3] = False                   # a silent step
    steps = [[(j // N, j % N) for j in np.flatnonzero(row)] for row in s_h]
    r = simulate(params, index, entries, steps, pause=pause)
    exp = expected_deliveries(topo, s_h)
    assert r["deliveries"] == exp
    assert r["events"] == int(s_h.sum())
    assert r["deliveries_count"] == sum(map(len, exp))
    assert 1 <= r["peak"] <= fifo_depth
    if fifo_depth == 1 and pause >= 0.5:
        assert r["stalls"] > 0


def test_round_robin_is_fair():
    """Three sources all with events pending: grants rotate 0, 1, 2, 0, ..."""
    params = RouterParams(src_cores=3, neurons=4, dests=1, rows=4, table_depth=1,
                          fifo_depth=1)
    index = [(0, 0)] * params.index_depth           # no destinations: one cycle an event
    steps = [[(c, n) for c in range(3) for n in range(4)]]
    r = simulate(params, index, [(0, 0)], steps)
    assert r["grants"] == [0, 1, 2] * 4


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_dest_fifo(depth):
    """Order kept under random backpressure; with the output always ready, one word a
    cycle at any depth; level never above depth."""
    from rtl.router import DestFifo
    dut = DestFifo(8, depth)
    rng = random.Random(depth)
    words = [rng.randrange(256) for _ in range(200)]
    got, levels = [], []
    taken = {"n": 0, "cycles": 0}

    async def tb(ctx):
        k = 0
        for cycle in range(2000):
            ctx.set(dut.i.valid, k < len(words))
            ctx.set(dut.i.payload, words[k] if k < len(words) else 0)
            fast = cycle < 60                 # first 60 cycles: no backpressure
            ctx.set(dut.o.ready, fast or rng.random() < 0.5)
            if ctx.get(dut.i.valid) and ctx.get(dut.i.ready):
                k += 1
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
            levels.append(ctx.get(dut.level))
            await ctx.tick()
            if cycle == 59:
                taken["n"] = len(got)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == words
    assert max(levels) <= depth
    assert taken["n"] >= 58                   # one word a cycle after the first


@pytest.mark.parametrize("kind", ["SkidBuffer", "RegisterSlice"])
def test_skid_buffer(kind):
    """Order kept under random input gaps and output backpressure; one word a cycle while
    the output is always ready; ``i.ready`` is a register: changing ``o.ready`` within a
    cycle never changes it (the point of the slice). A RegisterSlice's output is a
    register too (changing the input within a cycle never changes it), one cycle late."""
    import rtl.router
    dut = getattr(rtl.router, kind)(8)
    registered = kind == "RegisterSlice"
    rng = random.Random(7)
    words = [rng.randrange(256) for _ in range(300)]
    got = []
    stats = {"fast": 0}

    async def tb(ctx):
        k = 0
        for cycle in range(3000):
            fast = cycle < 60                 # first 60 cycles: no gaps, no backpressure
            offer = k < len(words) and (fast or rng.random() < 0.7)
            if registered:                     # the output does not follow the input
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, 0x55)
                out = (ctx.get(dut.o.valid), ctx.get(dut.o.payload))
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.i.payload, 0xAA)
                assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload)) == out
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, words[k] if k < len(words) else 0)
            ctx.set(dut.o.ready, 0)
            ready_low = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            assert ctx.get(dut.i.ready) == ready_low
            ctx.set(dut.o.ready, fast or rng.random() < 0.5)
            if offer and ctx.get(dut.i.ready):
                k += 1
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()
            if cycle == 59:
                stats["fast"] = len(got)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == words
    assert stats["fast"] == (59 if registered else 60)    # the slice: one cycle late
