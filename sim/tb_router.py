"""cocotb testbench of the spike router (rtl/router.py) under Verilator, against the
golden reference computed by tests/test_rtl_router.py (gen.routing.expected_deliveries of
the golden model's spikes). Run through sim.harness.run.

Per case: load both tables through the write ports (so one build serves every topology
that fits it), zero the counters, then per step offer the step's events on the input
stream of their source core, strobe ``step_end`` once all are accepted and wait for
``step_done``. With ``early`` the next step's events are offered right after
``step_end``: the router must hold them until ``step_done``. Every delivery is tagged with
the step during which it left the router (the number of ``step_done`` strobes seen
before), so a delivery in the wrong step, a lost or a duplicated one is a mismatch.

Timing discipline and drivers as in sim/tb_core.py (inputs change after the falling edge,
outputs sampled in ReadOnly).
"""
from __future__ import annotations

from collections import Counter

import cocotb
from cocotb.clock import Clock

from sim.harness import run_cases, uint
from sim.tb_core import CycleTB, PortWriter, StreamSink, StreamSource


class RouterTB(CycleTB):
    def __init__(self, dut, src_cores, dests, seed=0):
        super().__init__(dut, seed)
        self.sources = [StreamSource(dut, f"i__{c}", self.rng) for c in range(src_cores)]
        self.sinks = [StreamSink(dut, f"o__{d}", self.rng) for d in range(dests)]
        self.writer = PortWriter(dut, {"load_index__en": 0, "load_entry__en": 0,
                                       "step_end": 0, "clear": 0, "rst": 0})
        self.drivers = (*self.sources, *self.sinks, self.writer)
        self.done_cycles = []            # cycles in which step_done was high
        self.records = []                # (steps done before, port, payload)

    async def start(self):
        Clock(self.dut.clk, 10, unit="ns").start()
        for s in self.sources:
            s.valid.value = 0
        for s in self.sinks:
            s.ready.value = 0
        for name in ("load_index__en", "load_entry__en", "step_end", "clear"):
            getattr(self.dut, name).value = 0
        self.dut.rst.value = 1
        cocotb.start_soon(self._loop())
        await self.until(lambda: self.cycle >= 3)
        self.writer.put({"rst": 1})          # synchronous reset, one cycle
        await self.writer.empty.wait()
        await self.settle()

    def sample(self):
        for s in self.sources:
            s.sample()
        steps_done = len(self.done_cycles)
        for port, sink in enumerate(self.sinks):
            n = len(sink.items)
            sink.sample()
            if len(sink.items) > n:
                self.records.append((steps_done, port, sink.items[-1]))
        if uint(self.dut.step_done):
            self.done_cycles.append(self.cycle)

    def counters(self):
        d = self.dut
        return {k: uint(getattr(d, k)) for k in ("events", "deliveries", "stalls", "peak_level")}

    async def load(self, case):
        ob, eb = case["offset_bits"], case["row_bits"]
        for a, (off, cnt) in enumerate(case["index"]):
            self.writer.put({"load_index__en": 1, "load_index__addr": a,
                             "load_index__data": off | cnt << ob})
        for a, (dest, row) in enumerate(case["entries"]):
            self.writer.put({"load_entry__en": 1, "load_entry__addr": a,
                             "load_entry__data": row | dest << eb})
        self.writer.put({"clear": 1})
        await self.writer.empty.wait()
        await self.settle()

    def send(self, events, neuron_bits):
        for core, neuron in events:
            self.sources[core].send([neuron | core << neuron_bits])

    async def run_case(self, case):
        for s in self.sources:
            s.gap = case["gap"]
        for s in self.sinks:
            s.pause = case["pause"]
        await self.until(lambda: uint(self.dut.idle))
        await self.load(case)
        nb, rb = case["neuron_bits"], case["row_bits"]
        base_done, base_rec = len(self.done_cycles), len(self.records)
        steps = case["steps"]
        start = self.cycle
        self.send(steps[0], nb)
        for t in range(len(steps)):
            await self.until(lambda: not any(s.queue for s in self.sources))
            self.writer.put({"step_end": 1})
            await self.writer.empty.wait()
            if case["early"] and t + 1 < len(steps):
                self.send(steps[t + 1], nb)
            await self.until(lambda: len(self.done_cycles) > base_done + t)
            if not case["early"] and t + 1 < len(steps):
                self.send(steps[t + 1], nb)
        got = [Counter() for _ in steps]
        error = None
        for step, port, payload in self.records[base_rec:]:
            core, row = payload >> rb, payload & ((1 << rb) - 1)
            if core != port:
                error = f"port o[{port}] delivered destination {core}"
                break
            got[step - base_done][(core, row)] += 1
        dones = self.done_cycles[base_done:]
        cycles = [b - a for a, b in zip([start] + dones[:-1], dones)]
        counters = self.counters()
        if error is None:
            for t, exp in enumerate(case["expected"]):
                want = Counter(tuple(x) for x in exp)
                if got[t] != want:
                    missing = sorted((want - got[t]).elements())[:5]
                    extra = sorted((got[t] - want).elements())[:5]
                    error = (f"step {t}: {sum(got[t].values())} deliveries, model "
                             f"{len(exp)}; missing {missing}, unexpected {extra}")
                    break
        n_events = sum(map(len, steps))
        n_deliv = sum(map(len, case["expected"]))
        if error is None and (counters["events"], counters["deliveries"]) != (n_events, n_deliv):
            error = (f"counters events={counters['events']} deliveries="
                     f"{counters['deliveries']}, expected {n_events} and {n_deliv}")
        if error is None and not 0 <= counters["peak_level"] <= case["fifo_depth"]:
            error = f"peak_level {counters['peak_level']} > fifo depth {case['fifo_depth']}"
        if error is not None:
            error = f"{case['name']}: {error}"
        return {"name": case["name"], "ok": error is None, "error": error,
                "cycles": cycles, "deliveries": [len(e) for e in case["expected"]],
                "counters": counters}


@cocotb.test()
async def router_matches_golden_model(dut):
    """Every case of $SWIRL_CASES, one after another on the same router (its ports are
    the first case's)."""
    await run_cases(dut, lambda cases: RouterTB(dut, cases[0]["src_cores"],
                                                cases[0]["dests"], seed=len(cases)))
