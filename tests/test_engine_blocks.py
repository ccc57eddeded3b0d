"""The engine's blocks one at a time in the Amaranth simulator (fast, no Verilator):
rtl/memory.py WeightBank, rtl/event_slice.py, rtl/spike_scanner.py, rtl/host_decoder.py,
rtl/sequencer.py. Each expectation is written from the block's documented contract, not
read back from the RTL; the whole chip against the golden model is tests/test_chip.py."""
import dataclasses

import pytest
from amaranth.hdl import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from amaranth_sim import simulate
from gen.config import default_config
from rtl.address_map import SPACES, STATUS_REGS
from rtl.core import NeuronStateSignature
from rtl.event_slice import EventSlice
from rtl.host import AccessSignature
from rtl.host_decoder import HostDecoder
from rtl.memory import WeightBank
from rtl.router import RouterInLayout, RouterOutLayout, TableWriteSignature
from rtl.sequencer import Phase, Sequencer
from rtl.spike_scanner import SpikeScanner


# ---- WeightBank: the crossbar always wins, the other user gets the free cycles ---------------
def test_weight_bank_gives_b_the_cycles_a_leaves_free():
    dut = WeightBank(width=8, depth=16, backend="memory")

    async def bench(ctx):
        ctx.set(dut.b.addr, 3)
        ctx.set(dut.b.wdata, 0x5A)
        ctx.set(dut.b.we, 1)
        ctx.set(dut.a.re, 1)                      # a busy: b's write must wait
        assert ctx.get(dut.b_grant) == 0
        await ctx.tick()
        ctx.set(dut.a.re, 0)
        assert ctx.get(dut.b_grant) == 1
        await ctx.tick()                          # b's write happens now
        ctx.set(dut.b.we, 0)
        ctx.set(dut.a.addr, 3)
        ctx.set(dut.a.re, 1)
        await ctx.tick()
        ctx.set(dut.a.re, 0)
        assert ctx.get(dut.a.rdata) == 0x5A       # a reads what b wrote
        ctx.set(dut.b.addr, 4)
        ctx.set(dut.b.re, 1)
        ctx.set(dut.a.addr, 3)
        ctx.set(dut.a.we, 1)                      # a writes 3 while b asks to read 4
        ctx.set(dut.a.wdata, 0x11)
        assert ctx.get(dut.b_grant) == 0
        await ctx.tick()
        ctx.set(dut.a.we, 0)
        ctx.set(dut.b.addr, 3)
        await ctx.tick()
        assert ctx.get(dut.b.rdata) == 0x11       # the word a wrote, read by b

    simulate(dut, bench)


# ---- EventSlice: encoder rows to layer 0, routed rows moved by row_base ------------------------
def _slice(share=2, layer0=(True, True)):
    return EventSlice(rows=40, row_base=[0, 20][:share], layer0=list(layer0),
                      enc_row_width=4, route_layout=RouterOutLayout(dests=5, rows=20))


def test_event_slice_offers_the_encoder_row_to_each_pending_core_in_turn():
    dut = _slice()

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.phase, Phase.ENCODE)
        ctx.set(dut.enc_offer, 1)
        ctx.set(dut.enc_row, 7)
        ctx.set(dut.enc_pend, 0b11)
        assert ctx.get(dut.enc_took) == 0b01       # the first pending core first
        await ctx.tick()
        assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload.row)) == (1, 7)
        ctx.set(dut.enc_pend, 0b10)
        assert ctx.get(dut.enc_took) == 0b11       # bit 0 no longer pending: no matter
        await ctx.tick()
        assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload.row)) == (1, 20 + 7)
        ctx.set(dut.enc_pend, 0)
        await ctx.tick()
        assert ctx.get(dut.o.valid) == 0 and ctx.get(dut.empty) == 1

    simulate(dut, bench)


def test_event_slice_takes_routed_rows_lowest_core_first_and_holds_when_stalled():
    dut = _slice()

    async def bench(ctx):
        ctx.set(dut.phase, Phase.ROUTE)
        for i, row in enumerate((3, 5)):
            ctx.set(dut.routed[i].valid, 1)
            ctx.set(dut.routed[i].payload.row, row)
        ctx.set(dut.o.ready, 1)
        assert (ctx.get(dut.routed[0].ready), ctx.get(dut.routed[1].ready)) == (1, 0)
        await ctx.tick()
        assert ctx.get(dut.o.payload.row) == 3
        ctx.set(dut.routed[0].valid, 0)
        ctx.set(dut.o.ready, 0)                    # the core stalls: the slice holds
        assert ctx.get(dut.routed[1].ready) == 0
        await ctx.tick()
        assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload.row)) == (1, 3)
        ctx.set(dut.o.ready, 1)
        assert ctx.get(dut.routed[1].ready) == 1
        await ctx.tick()
        assert ctx.get(dut.o.payload.row) == 20 + 5
        ctx.set(dut.phase, Phase.OTHER)            # neither phase: nothing offered
        await ctx.tick()
        assert ctx.get(dut.o.valid) == 0

    simulate(dut, bench)


# ---- SpikeScanner: the sweep's bits in, the spikes to the router in neuron order --------------
@pytest.mark.parametrize("share", [1, 2])
def test_spike_scanner_offers_every_spike_once_in_order(share):
    N = 5
    state = NeuronStateSignature(share * N, membrane_width=8, current_width=8)
    layout = RouterInLayout(src_cores=4, neuron_bits=3)
    dut = SpikeScanner(neurons=N, share=share, first_core=2, state_signature=state,
                       out_layout=layout, learning=True)
    spikes = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1][:share * N]
    psi = [0, 1, 1, 0, 0, 1, 0, 0, 1, 1][:share * N]

    async def bench(ctx):
        for n, (s, p) in enumerate(zip(spikes, psi)):        # the sweep writes each neuron
            ctx.set(dut.state.valid, 1)
            ctx.set(dut.state.neuron, n)
            ctx.set(dut.state.spike, s)
            ctx.set(dut.state.psi, p)
            await ctx.tick()
        ctx.set(dut.state.valid, 0)
        assert ctx.get(dut.spikes) == sum(s << n for n, s in enumerate(spikes))
        for n in range(share * N):                           # the learning unit's reads
            ctx.set(dut.read_addr, n)
            await ctx.tick()
            assert ctx.get(dut.read_data) == spikes[n] | psi[n] << 1
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.route, 1)
        ctx.set(dut.go, 1)
        got, stall = [], True
        for _ in range(8 * share * N):
            if ctx.get(dut.done):
                break
            ctx.set(dut.o.ready, 0 if stall else 1)          # every other cycle stalled
            if ctx.get(dut.o.valid) and not stall:
                payload = ctx.get(dut.o.payload)
                got.append((payload.core, payload.neuron))
            stall = not stall
            await ctx.tick()
        want = [(2 + n // N, n % N) for n, s in enumerate(spikes) if s]
        assert got == want and ctx.get(dut.done)

    simulate(dut, bench)


def test_spike_scanner_skip_offers_nothing():
    state = NeuronStateSignature(4, membrane_width=8, current_width=8)
    dut = SpikeScanner(neurons=4, share=1, first_core=0, state_signature=state,
                       out_layout=RouterInLayout(src_cores=1, neuron_bits=2), learning=False)

    async def bench(ctx):
        ctx.set(dut.state.valid, 1)
        ctx.set(dut.state.spike, 1)                 # neuron 0 spiked
        await ctx.tick()
        ctx.set(dut.state.valid, 0)
        ctx.set(dut.restart, 1)
        ctx.set(dut.skip, 1)                        # the first step: nothing before it
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.route, 1)
        ctx.set(dut.go, 1)
        ctx.set(dut.o.ready, 1)
        for _ in range(6):
            assert ctx.get(dut.o.valid) == 0 and ctx.get(dut.done) == 1
            await ctx.tick()

    simulate(dut, bench)


# ---- HostDecoder: the request latch, bank translation, read-back, the lent ports --------------
class _DecoderBench(wiring.Component):
    """A HostDecoder with two weight banks behind it (share 2: logical banks 0 and 1 in
    physical bank 0, 2 in bank 1 with the readout's words above them), the router's
    table ports and the aux port left open."""

    def __init__(self):
        cfg = default_config()
        self.cfg = cfg
        self.dec = HostDecoder(cfg, core_of=[0, 0, 1], word_base=[0, 8, 0], readout_base=8,
                               depth=16, width=8,
                               load_signatures={"load_index": TableWriteSignature(4, 8),
                                                "load_entry": TableWriteSignature(4, 8)},
                               aux_width=16, count_shape=range(20), learning=False)
        self.banks = [WeightBank(width=8, depth=16, backend="memory") for _ in range(2)]
        super().__init__({"bus": In(AccessSignature()), "running": In(1),
                          "a_busy": In(2)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec = dec = self.dec
        wiring.connect(m, wiring.flipped(self.bus), dec.bus)
        m.d.comb += dec.running.eq(self.running)
        for p, bank in enumerate(self.banks):
            m.submodules[f"bank{p}"] = bank
            wiring.connect(m, dec.banks[p], bank.b)
            m.d.comb += [dec.bank_grant[p].eq(bank.b_grant), bank.a.re.eq(self.a_busy[p])]
        for k in range(len(dec.counts)):
            m.d.comb += dec.counts[k].eq(10 + k)
        for k in range(len(dec.status)):
            m.d.comb += dec.status[k].eq(100 + k)
        return m


async def _access(ctx, bus, space, bank, addr, wdata=None):
    """One host access through the decoder's handshake: returns the read data."""
    ctx.set(bus.req, 1)
    ctx.set(bus.we, wdata is not None)
    ctx.set(bus.space, space)
    ctx.set(bus.bank, bank)
    ctx.set(bus.addr, addr)
    ctx.set(bus.wdata, wdata or 0)
    for _ in range(20):
        await ctx.tick()
        if ctx.get(bus.ack):
            ctx.set(bus.req, 0)
            data = ctx.get(bus.rdata)
            await ctx.tick()
            return data
    raise AssertionError("no ack")


def test_host_decoder_maps_logical_banks_to_physical_words():
    dut = _DecoderBench()

    async def bench(ctx):
        w = SPACES["weights"]
        for bank, addr, value in [(0, 1, 0x21), (1, 1, 0x31), (2, 2, 0x42), (3, 0, 0x77)]:
            await _access(ctx, dut.bus, w, bank, addr, value)
        for bank, addr, value in [(0, 1, 0x21), (1, 1, 0x31), (2, 2, 0x42), (3, 0, 0x77)]:
            assert await _access(ctx, dut.bus, w, bank, addr) == value
        # logical bank 1 starts at word 8 of physical bank 0; the readout (bank 3) at
        # word 8 of physical bank 1: the same words seen through the other logical bank
        assert await _access(ctx, dut.bus, w, 0, 8 + 1) == 0x31
        assert await _access(ctx, dut.bus, w, 2, 8 + 0) == 0x77
        assert await _access(ctx, dut.bus, SPACES["counts"], 0, 3) == 13
        assert await _access(ctx, dut.bus, SPACES["status"], 0,
                             STATUS_REGS.index("steps")) == 100 + STATUS_REGS.index("steps")

    simulate(dut, bench)


def test_host_decoder_waits_for_a_free_bank_cycle():
    dut = _DecoderBench()

    async def bench(ctx):
        ctx.set(dut.a_busy, 0b10)            # bank 1's crossbar holds its port
        await _access(ctx, dut.bus, SPACES["weights"], 0, 5, 0x66)     # bank 0: served
        ctx.set(dut.bus.req, 1)
        ctx.set(dut.bus.we, 1)
        ctx.set(dut.bus.space, SPACES["weights"])
        ctx.set(dut.bus.bank, 2)
        for _ in range(6):
            await ctx.tick()
            assert ctx.get(dut.bus.ack) == 0
        ctx.set(dut.a_busy, 0)
        for _ in range(4):
            await ctx.tick()
            if ctx.get(dut.bus.ack):
                break
        assert ctx.get(dut.bus.ack) == 1

    simulate(dut, bench)


def test_host_decoder_ignores_the_host_while_running():
    dut = _DecoderBench()

    async def bench(ctx):
        ctx.set(dut.running, 1)
        ctx.set(dut.bus.req, 1)
        ctx.set(dut.bus.space, SPACES["status"])
        for _ in range(6):
            await ctx.tick()
            assert ctx.get(dut.bus.ack) == 0

    simulate(dut, bench)


# ---- Sequencer: the phases of a step, the step count, the prediction -------------------------
def test_sequencer_runs_steps_in_phase_order_and_predicts_the_largest_count():
    cfg = default_config()
    cfg = dataclasses.replace(cfg, sizes=dataclasses.replace(cfg.sizes, steps=3, n_in=2))
    topo_layout = RouterOutLayout(dests=5, rows=20)
    dut = Sequencer(cfg, cores=1, logical=1, layer0=[0], readout_rows=9,
                    count_shape=range(64), route_layout=topo_layout, aux_width=16,
                    learning=False)
    counts = [3, 9, 9, 1] + [0] * (cfg.sizes.classes - 4)

    async def bench(ctx):
        for k, c in enumerate(counts):
            ctx.set(dut.counts[k], c)
        ctx.set(dut.scans_done, 1)
        ctx.set(dut.slices_empty, 1)
        ctx.set(dut.ro_event.ready, 1)
        ctx.set(dut.run.start, 1)
        await ctx.tick()
        ctx.set(dut.run.start, 0)
        ctx.set(dut.step_done, 1)                 # the router is always drained
        phases, updates, answer, ends = [], 0, False, 0
        for _ in range(400):
            await ctx.tick()
            phases.append(ctx.get(dut.phase))
            ends += ctx.get(dut.step_end)
            # the core and the readout answer the cycle after update
            ctx.set(dut.done, 0b11 if answer else 0)
            answer = bool(ctx.get(dut.update))
            updates += answer
            if ctx.get(dut.run.done):
                break
        assert ctx.get(dut.run.done) and updates == 3 and ends == 3
        await ctx.tick()
        assert ctx.get(dut.steps_done) == 3
        assert ctx.get(dut.prediction) == 1     # 9 first at class 1 (lowest index on ties)
        order = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
        assert order[:4] == [Phase.OTHER, Phase.ENCODE, Phase.ROUTE, Phase.OTHER]

    simulate(dut, bench)


# ---- the per-sample counters: wide enough that none wraps -----------------------------------
@pytest.mark.parametrize("preset", ["default", "ice40-large", "ulx3s-deep", "tiny"])
def test_stats_counters_hold_a_samples_worst_case(preset):
    """A sample changes each weight at most once a step: the learning and router counters
    must hold synapses x steps (the deep preset's 16-bit counter read 4,669 writes for
    70,205); the host's status word is 32 bits."""
    from gen.config import load_config
    from gen.topology import make_topology
    from rtl.internals import never_elaborated
    from rtl.top import Engine
    cfg = default_config() if preset == "default" else load_config(preset)
    topo = make_topology(cfg)
    engine = Engine(topo)
    never_elaborated(engine)                # measured only
    worst = topo.synapses() * cfg.sizes.steps
    stats = engine.learner.signature.members["stats"].signature.members
    widths = {name: Shape.cast(stats[name].shape).width
              for name in ("rows_swept", "weight_writes", "mod_events", "gated_steps")}
    s = cfg.sizes
    bounds = {"rows_swept": worst, "weight_writes": worst,
              "mod_events": s.modulators * s.steps,      # every modulator every step
              "gated_steps": s.steps}
    for name, width in widths.items():
        assert width <= 32 and 2 ** width > bounds[name], (name, width, bounds[name])
    assert engine.router_params.counter_width == widths["weight_writes"] >= 16
