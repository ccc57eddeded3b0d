"""cocotb testbench of the neuron core (rtl/core.py) against the golden model's per-step
arrays, under Verilator. Run through sim.harness.run (tests/test_rtl_core.py).

Timing discipline: all inputs change just after the falling clock edge and all outputs are
sampled in the ReadOnly phase of that same time step, so a handshake seen there happens at
the next rising edge, whatever combinational paths the design has. One clocked loop calls
every driver's ``drive()`` and then every monitor's ``sample()`` once per cycle (two
triggers a cycle, however many drivers); test code never writes signals itself, it queues
work for the drivers and waits for conditions the loop checks.

Cases come from ``$SWIRL_CASES`` (JSON, written by tests/test_rtl_core.py), results go to
``$SWIRL_RESULTS``: per case ``ok``, ``error`` (the first (step, neuron, field) mismatch
with both values), and per step the cycle count and the number of spike events.
"""
from __future__ import annotations

import collections
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, ReadOnly

from sim.harness import first_mismatch, pack_rows, run_cases, uint

__all__ = ["WithWeightMemory", "CoreTB"]


def WithWeightMemory(inner, *, backend: str = "memory"):
    """``inner`` (a Crossbar or NeuronCore built with ``external_weights``) plus its own
    :class:`rtl.memory.WeightMemory` on the port ``weights``: the same ports as the
    component built without ``external_weights``, so the same testbenches drive it."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    from rtl.memory import WeightMemory

    members = {k: v for k, v in inner.signature.members.items() if k != "weights"}
    xbar = getattr(inner, "crossbar", inner)

    class _Wrapped(wiring.Component):
        def __init__(self):
            self.inner = inner
            self.memory = WeightMemory(width=xbar.word_width, depth=xbar.depth,
                                       backend=backend)
            super().__init__(members)

        def elaborate(self, platform):
            m = Module()
            m.submodules.inner = self.inner
            m.submodules.memory = mem = self.memory
            w = self.inner.weights
            m.d.comb += [mem.addr.eq(w.addr), mem.re.eq(w.re), mem.we.eq(w.we),
                         mem.wdata.eq(w.wdata), w.rdata.eq(mem.rdata)]
            for name, member in members.items():
                outer, own = getattr(self, name), getattr(self.inner, name)
                if member.is_port:
                    pair = (own, outer) if member.flow == wiring.In else (outer, own)
                    m.d.comb += pair[0].eq(pair[1])
                else:
                    wiring.connect(m, wiring.flipped(outer), own)
            return m

    return _Wrapped()

FIELDS = ("i_h", "v_h", "s_h", "psi")     # compared in this order within a step


def _port(dut, name):
    return getattr(dut, name)


class StreamSource:
    """Drives ``<prefix>__valid/payload`` from a queue; ``gap`` is the chance of idling a
    cycle before offering the next item (once offered, an item stays until taken)."""

    def __init__(self, dut, prefix, rng):
        self.valid = _port(dut, f"{prefix}__valid")
        self.ready = _port(dut, f"{prefix}__ready")
        self.payload = _port(dut, f"{prefix}__payload")
        self.queue = collections.deque()
        self.gap, self.rng = 0.0, rng
        self.offered = False
        self.drained = Event()

    def send(self, items):
        self.queue.extend(items)
        if self.queue:
            self.drained.clear()

    def drive(self):
        if not self.offered and self.queue and self.rng.random() >= self.gap:
            self.payload.value = self.queue[0]
            self.offered = True
        self.valid.value = int(self.offered)

    def sample(self):
        if self.offered and uint(self.ready):
            self.queue.popleft()
            self.offered = False
            if not self.queue:
                self.drained.set()


class StreamSink:
    """Drives ``<prefix>__ready`` (low with chance ``pause``) and records payloads."""

    def __init__(self, dut, prefix, rng):
        self.valid = _port(dut, f"{prefix}__valid")
        self.ready = _port(dut, f"{prefix}__ready")
        self.payload = _port(dut, f"{prefix}__payload")
        self.pause, self.rng = 0.0, rng
        self.taking = False
        self.items = []

    def drive(self):
        self.taking = self.rng.random() >= self.pause
        self.ready.value = int(self.taking)

    def sample(self):
        if self.taking and uint(self.valid):
            self.items.append(uint(self.payload))


class StateMonitor:
    """Records ``o_state`` (one neuron's phase-3 result per valid cycle)."""

    def __init__(self, dut):
        self.dut = dut
        self.records = []

    def sample(self):
        d = self.dut
        if uint(d.o_state__valid):
            self.records.append((uint(d.o_state__neuron),
                                 d.o_state__current.value.to_signed(),
                                 d.o_state__membrane.value.to_signed(),
                                 uint(d.o_state__spike),
                                 uint(d.o_state__psi)))


class PortWriter:
    """Queued writes: each entry is a dict of port values held for one cycle, after which
    the ports named in ``idle`` return to their idle values."""

    def __init__(self, dut, idle):
        self.dut, self.idle = dut, idle
        self.queue = collections.deque()
        self.empty = Event()
        self.empty.set()
        self._dirty = dict(idle)

    def put(self, values):
        self.queue.append(values)
        self.empty.clear()

    def drive(self):
        values = dict(self._dirty)
        self._dirty = {}
        if self.queue:
            entry = self.queue.popleft()
            values.update(entry)
            self._dirty = {k: v for k, v in self.idle.items() if k in entry}
        for name, value in values.items():
            _port(self.dut, name).value = value
        if not self.queue and not self._dirty:
            self.empty.set()


class CycleTB:
    """The cycle loop the block testbenches share: at each falling edge the ``drivers``
    drive, after ``ReadOnly`` :meth:`sample` reads, then waiters whose condition holds
    wake (:meth:`until`, :meth:`settle`)."""

    def __init__(self, dut, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self.drivers = ()
        self.cycle = 0
        self._waits = []

    def sample(self) -> None:
        """Read the outputs of this cycle (subclasses)."""

    async def _loop(self):
        while True:
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            for d in self.drivers:
                d.drive()
            await ReadOnly()
            self.sample()
            for entry in list(self._waits):
                if entry[0]():
                    self._waits.remove(entry)
                    entry[1].set()

    async def until(self, condition):
        """Wait for a condition checked after each cycle's sampling."""
        event = Event()
        self._waits.append((condition, event))
        await event.wait()

    async def settle(self, cycles=2):
        start = self.cycle
        await self.until(lambda: self.cycle >= start + cycles)


class CoreTB(CycleTB):
    """Clock, reset, drivers and monitors of the neuron core; ``run_case`` does one config."""

    def __init__(self, dut, seed=0):
        super().__init__(dut, seed)
        self.events = StreamSource(dut, "i_event", self.rng)
        self.spikes = StreamSink(dut, "o_spike", self.rng)
        self.state = StateMonitor(dut)
        self.writer = PortWriter(dut, {"load__en": 0, "update": 0, "clear": 0, "rst": 0})
        self.drivers = (self.events, self.spikes, self.writer)
        self.monitors = (self.events, self.spikes, self.state)
        self.busy = True
        self.dones = []                  # cycle numbers at which done was high

    async def start(self):
        Clock(self.dut.clk, 10, unit="ns").start()
        for name in ("i_event__valid", "load__en", "update", "clear", "hold", "o_spike__ready"):
            _port(self.dut, name).value = 0
        self.dut.rst.value = 1
        cocotb.start_soon(self._loop())
        await self.until(lambda: self.cycle >= 3)
        await self.reset()

    def sample(self):
        for mon in self.monitors:
            mon.sample()
        self.busy = bool(uint(self.dut.busy))
        if uint(self.dut.done):
            self.dones.append(self.cycle)

    async def reset(self):
        """Synchronous reset; the core then clears its state (membranes, currents...)."""
        self.writer.put({"rst": 1})
        await self.writer.empty.wait()
        await self.settle()
        await self.until(lambda: not self.busy)

    async def clear(self):
        self.writer.put({"clear": 1})
        await self.writer.empty.wait()
        await self.settle()
        await self.until(lambda: not self.busy)

    async def load(self, words):
        for addr, word in enumerate(words):
            self.writer.put({"load__en": 1, "load__addr": addr, "load__data": word})
        await self.writer.empty.wait()

    def set_params(self, params):
        self.writer.put({f"params__{k}": int(v) for k, v in params.items()})

    async def step(self, rows):
        """Deliver one step's external events, strobe update, wait for done; returns the
        step's o_state records and spikes."""
        n_done, n_rec, n_spk = len(self.dones), len(self.state.records), len(self.spikes.items)
        self.events.send(rows)
        if rows:
            await self.events.drained.wait()
        self.writer.put({"update": 1})
        await self.until(lambda: len(self.dones) > n_done)
        return self.state.records[n_rec:], self.spikes.items[n_spk:]

    async def run_case(self, case):
        n = case["neurons"]
        self.events.gap = case["gap"]
        self.spikes.pause = case["pause"]
        await self.clear()
        self.set_params(case["params"])
        await self.load(pack_rows(case["weights"], case["lanes"], case["weight_width"]))
        got = {f: [] for f in FIELDS}
        cycles, events = [], []
        prev_spikes = 0
        error = None
        for t, rows in enumerate(case["rows"]):
            start = self.cycle
            records, spikes = await self.step(rows)
            cycles.append(self.dones[-1] - start)
            events.append(len(rows) + prev_spikes)
            neurons = [r[0] for r in records]
            if neurons != list(range(n)):
                error = f"step {t}: o_state reported neurons {neurons}, not 0..{n - 1}"
                break
            for k, field in enumerate(FIELDS, start=1):
                got[field].append([r[k] for r in records])
            fired = [r[0] for r in records if r[3]]
            if spikes != fired:
                error = f"step {t}: o_spike carried {spikes}, o_state spiked {fired}"
                break
            prev_spikes = len(spikes)
        if error is None:
            expected = {f: case["expected"][f][:len(got[f])] for f in FIELDS}
            error = first_mismatch(expected, got, FIELDS)
        if error is not None:
            error = f"{case['name']}: {error}"
        return {"name": case["name"], "ok": error is None, "error": error,
                "cycles": cycles, "events": events}


@cocotb.test()
async def core_matches_golden_model(dut):
    """Every case of $SWIRL_CASES, one after another on the same core."""
    await run_cases(dut, lambda cases: CoreTB(dut, seed=len(cases)))
