"""The chip: the engine (:class:`Engine`) behind the UART host link (:class:`SwirlChip`),
on a board (:class:`BoardTop`). docs/architecture.md has the block diagram; docs/build.md
the budgets.

:class:`Engine` is a wiring diagram of these blocks, one a file:

* the hidden cores (rtl/core.py ``NeuronCore``), each reading its weights from a
  :class:`rtl.memory.WeightBank`, fed by an event slice (rtl/event_slice.py) and read out
  by a spike scanner (rtl/spike_scanner.py);
* the spike router (rtl/router.py), the readout (rtl/readout.py, with the input
  encoder's words in its memory);
* the step sequencer with the encoder (rtl/sequencer.py, the phases of a step);
* the learning unit (rtl/learn.py: teacher, plasticity sweep, traces), when built;
* the host decoder (rtl/host_decoder.py): the host's reads and writes of every memory
  between samples, and the weight banks' secondary ports.

Weights: each hidden core's crossbar reads a weight bank (one SPRAM on the UP5K at
``lanes = 16 // widths.weight``); the readout's weights sit in the upper part of the
last core's bank and are read in the cycles that core's crossbar leaves free. The host
and the learning unit use the same secondary port.
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, Module
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.routing import RouterParams
from gen.topology import Topology
from gen.util import ceil_div

from .address_map import PROTOCOL_VERSION, SPACES, STATUS_REGS, value_limits
from .core import NeuronCore
from .event_slice import EventSlice
from .host import BusSignature, HostLink
from .host_decoder import HostDecoder
from .learn import LearningUnit, trace_word_count
from .memory import WeightBank
from .readout import ReadoutCore, pipelined_sweep
from .router import Router
from .sequencer import Phase, Sequencer
from .spike_scanner import SpikeScanner, hidden_bits
from .uart import UartRx, UartTx

__all__ = ["Engine", "SwirlChip", "BoardTop", "ProbeSignature", "info_bytes", "stats_width"]


class ProbeSignature(wiring.Signature):
    """What a testbench watches (sim/tb_chip.py ``StepProbe``), from the engine's side:
    ``steps_done`` moves on at the end of every step; then ``s_in`` holds the step's input
    spikes, ``s_h`` the hidden spikes (logical core ``g``'s neuron ``i`` at bit ``g *
    neurons + i``) and ``s_r`` the readout's (bit ``i`` neuron ``i``); ``learning`` is
    high while the learning unit works (a sample's trace clear, then each step's phases
    4-6: teacher, modulators, sweep, traces), so a reset can be aimed into it;
    ``state_*``: each physical core's ``o_state`` (rtl/core_ports.py: a neuron's current
    and membrane after its update, valid one cycle), flat, core ``p``'s field at bits ``p
    * width``, for the per-step membranes of a strict compare; ``ro_*`` the readout's
    (its ``o_state``); ``trace_*`` each pre-synaptic trace as the learning unit writes it
    back and ``activity`` the teacher's class traces, class ``k`` at bits ``k *
    widths.teacher`` (rtl/learn.py ``ObserveSignature``; zero on a chip without learning).
    The board leaves it unconnected, and synthesis removes what only it reads."""

    def __init__(self, config, cores: int = 1, core_neurons: int = 1):
        s, w = config.sizes, config.widths
        n = max(1, (core_neurons - 1).bit_length())
        trace_words = trace_word_count(s)
        super().__init__({"steps_done": Out(range(s.steps + 1)), "s_in": Out(s.n_in),
                          "s_h": Out(s.hidden), "s_r": Out(s.readout), "learning": Out(1),
                          "state_valid": Out(cores), "state_neuron": Out(cores * n),
                          "state_current": Out(cores * w.current),
                          "state_membrane": Out(cores * w.membrane),
                          "ro_valid": Out(1), "ro_neuron": Out(range(max(s.readout, 2))),
                          "ro_current": Out(w.current), "ro_membrane": Out(w.membrane),
                          "trace_valid": Out(1), "trace_addr": Out(range(trace_words)),
                          "trace_data": Out(w.trace),
                          "activity": Out(s.classes * w.teacher)})


# ---- the engine -------------------------------------------------------------------------------
def stats_width(topo: Topology) -> int:
    """Bits of the per-sample counters (learning and router): a sample's weight writes
    reach at most every synapse once a step, so no learning counter wraps (the deep
    ULX3S preset's 16-bit ``weight_writes`` read 4,669 for 70,205); at least 16, at most
    the host's 32-bit status word."""
    worst = topo.synapses() * topo.config.sizes.steps
    return min(32, max(16, worst.bit_length()))


class Engine(wiring.Component):
    """Cores + router + readout + encoder + sequencer, driven through ``bus``
    (rtl.host.BusSignature, flipped). Everything is sized from ``topo`` (its config).
    ``lanes``: weights per memory word (``16 // widths.weight`` fills one SPRAM word).

    ``share``: logical cores (the topology's) per physical ``NeuronCore``. With 2, cores
    ``2p`` and ``2p + 1`` of a layer time-share core ``p`` and its weight bank (their rows
    one after the other): half the cores' logic and block RAM, at half the weight-memory
    bandwidth. The host, the router, the learning unit and the golden model still see
    logical cores and banks; the engine maps them (``core_of``, ``row_base``,
    ``word_base``).

    ``weight_stage``: each core's crossbar registers its weight word before the adders
    (rtl/crossbar.py): one cycle more an event burst, for deep block-RAM banks whose depth
    multiplexer would otherwise limit the clock (gen/build.py ``plan_build``).
    ``sweep_lanes``: the learning unit's sweep lanes (rtl/sweep_pipeline.py; default
    ``lanes``), fewer where the multipliers are few (the UP5K's 8 DSP blocks); the
    readout adds as many lanes a cycle (a weight word in beats, as the sweep), which
    keeps the UP5K's 4-lane chip within its logic cells."""

    def __init__(self, topo: Topology, *, lanes: int = 2, backend: str = "auto",
                 fifo_depth: int = 1, counter_width: int | None = None, learning: bool = True,
                 weights=None, share: int = 1, weight_stage: bool = False,
                 sweep_lanes: int | None = None):
        cfg = topo.config
        s = cfg.sizes
        if not isinstance(share, int) or share < 1 or s.cores % share:
            raise ValueError(f"share = {share!r} must be a positive integer dividing "
                             f"sizes.cores = {s.cores} (the cores of a layer)")
        self.topo, self.config, self.lanes, self.share = topo, cfg, lanes, share
        # depth-1 FIFOs keep the full rate (rtl/router.py DestFifo); the counters are per
        # sample (cleared by RUN), as wide as the config needs (:func:`counter_width`)
        counter_width = counter_width or stats_width(topo)
        self.router_params = RouterParams.from_topology(topo, fifo_depth=fifo_depth,
                                                        counter_width=counter_width)
        W = ceil_div(s.neurons, lanes)
        self.n_hidden_cores = len(topo.cores)            # logical
        self.groups = [list(range(p, p + share))
                       for p in range(0, self.n_hidden_cores, share)]
        self.core_of, self.row_base, self.word_base = [], [], []
        for p, group in enumerate(self.groups):
            base = 0
            for g in group:
                self.core_of.append(p)
                self.row_base.append(base)
                self.word_base.append(base * W)
                base += topo.cores[g].n_rows
        self.bank_depths = [rows.n_rows * W for rows in topo.cores]    # logical banks
        self.cores = [NeuronCore.from_config(
            cfg, [topo.cores[g] for g in group] if share > 1 else topo.cores[group[0]],
            lanes=lanes, backend=backend, external_weights=True, weight_stage=weight_stage)
            for group in self.groups]
        self.readout_rows = s.cores * s.neurons + int(cfg.topology.readout_bias)
        self.readout_host = len(self.cores) - 1        # physical bank holding the readout
        self.word_width = lanes * cfg.widths.weight
        self.readout_base = self.cores[self.readout_host].crossbar.depth
        ro_W = ceil_div(s.readout, lanes)
        self.readout_depth = self.readout_rows * ro_W
        # ``weights`` (a sim.model.Network): initial bank contents, where the memory can
        # take them (block RAM; not SPRAM)
        inits = [None] * len(self.cores)
        if weights is not None:
            from sim.host import weight_words
            words = weight_words(weights, lanes)
            inits = [sum((words[g] for g in group), []) for group in self.groups]
            inits[self.readout_host] = inits[self.readout_host] + words[-1]
        bank_depth = [core.crossbar.depth + (self.readout_depth if p == self.readout_host
                                              else 0) for p, core in enumerate(self.cores)]
        depth = max(bank_depth)
        self.banks = [WeightBank(width=self.word_width, depth=d, a_depth=core.crossbar.depth,
                                 b_depth=depth, backend=backend, init=init)
                      for core, d, init in zip(self.cores, bank_depth, inits)]
        self.readout = ReadoutCore(cfg, rows=self.readout_rows, lanes=lanes,
                                   base=self.readout_base, depth=depth,
                                   aux_words=s.sample_width,
                                   aux_width=2 * cfg.widths.encoder,
                                   add_lanes=sweep_lanes,
                                   pipelined_sweep=pipelined_sweep(
                                       s.readout, share * s.neurons + 4))
        self.router = Router(self.router_params, peak_level=False)
        route_layout = self.router.out_layout
        self.learner = LearningUnit(topo, lanes=lanes, sweep_lanes=sweep_lanes,
                                    readout_base=self.readout_base,
                                    depth=depth, counter_width=counter_width,
                                    bank_map=list(zip(self.core_of, self.word_base)),
                                    readout_host=self.readout_host) if learning else None
        count_shape = self.readout.counts[0].shape()
        layer0 = [g for g in range(self.n_hidden_cores) if g < s.cores]
        self.sequencer = Sequencer(cfg, cores=len(self.cores), logical=self.n_hidden_cores,
                                   layer0=layer0, readout_rows=self.readout_rows,
                                   count_shape=count_shape, route_layout=route_layout,
                                   aux_width=self.readout.width, learning=learning)
        loads = {name: self.router.signature.members[name].signature.flip()
                 for name in ("load_index", "load_entry")}
        self.host = HostDecoder(cfg, core_of=self.core_of, word_base=self.word_base,
                                readout_base=self.readout_base, depth=depth,
                                width=self.word_width, load_signatures=loads,
                                aux_width=self.readout.width, count_shape=count_shape,
                                learning=learning, banks_learning=self.n_hidden_cores + 1)
        enc_row = len(self.sequencer.enc_row)
        self.slices = [EventSlice(rows=core.crossbar.n_rows,
                                  row_base=[self.row_base[g] for g in group],
                                  layer0=[g in layer0 for g in group], enc_row_width=enc_row,
                                  route_layout=route_layout)
                       for core, group in zip(self.cores, self.groups)]
        self.scanners = [SpikeScanner(neurons=s.neurons, share=share, first_core=group[0],
                                      state_signature=core.o_state.signature,
                                      out_layout=self.router.in_layout, learning=learning)
                         for core, group in zip(self.cores, self.groups)]
        super().__init__({"bus": In(BusSignature()),
                          "probe": Out(ProbeSignature(cfg, len(self.cores),
                                                      share * s.neurons))})

    @property
    def memory_shapes(self) -> dict:
        """``(depth, width)`` of every memory, under the build plan's headings
        (gen/build.py): each component is asked for its own."""
        return {
            "hidden_cores": [shape for core, scan in zip(self.cores, self.scanners)
                             for shape in core.memory_shapes + scan.memory_shapes],
            "router": self.router.memory_shapes,
            "readout_and_encoder": self.readout.memory_shapes,
            "learning": (self.learner.memory_shapes + self.learner.rom_shapes
                         if self.learner is not None else []),
            "weights": [(b.memory.depth, b.memory.width) for b in self.banks],
        }

    # what the host sees: words per (space, bank)
    def depths(self) -> dict:
        s, p = self.config.sizes, self.router_params
        return {
            SPACES["weights"]: self.bank_depths + [self.readout_depth],
            SPACES["route_index"]: [p.index_depth],
            SPACES["route_entry"]: [p.table_depth],
            SPACES["input"]: [s.sample_width],
            SPACES["counts"]: [s.classes],
            SPACES["status"]: [len(STATUS_REGS)],
            **({SPACES["lfsr"]: [self.n_hidden_cores + 1], SPACES["rates"]: [2]}
               if self.learner else {}),
        }

    # what the host may write there: (lowest, highest) word per space
    def limits(self) -> dict:
        return value_limits(self.config.dynamics.enc_theta, learning=self.learner is not None)

    def elaborate(self, platform):
        m = Module()
        lu = self.learner
        m.submodules.router = router = self.router
        m.submodules.readout = ro = self.readout
        m.submodules.sequencer = seq = self.sequencer
        m.submodules.host = host = self.host
        if lu is not None:
            m.submodules.learner = lu
        # the host link: its word accesses to the decoder, RUN to the sequencer
        wiring.connect(m, wiring.flipped(self.bus.access), host.bus)
        wiring.connect(m, wiring.flipped(self.bus.run), seq.run)
        m.d.comb += host.running.eq(seq.running)

        # the cores, their weight banks, event slices and spike scanners
        for p, (core, bank, ev, scan) in enumerate(zip(self.cores, self.banks, self.slices,
                                                       self.scanners)):
            m.submodules[f"core{p}"] = core
            m.submodules[f"bank{p}"] = bank
            m.submodules[f"events{p}"] = ev
            m.submodules[f"scan{p}"] = scan
            wiring.connect(m, core.weights, bank.a)
            wiring.connect(m, host.banks[p], bank.b)
            m.d.comb += host.bank_grant[p].eq(bank.b_grant)
            self._core_params(m, core)
            group = self.groups[p]
            wiring.connect(m, ev.o, core.i_event)
            for i, g in enumerate(group):
                wiring.connect(m, router.o[g], ev.routed[i])
            m.d.comb += [ev.phase.eq(seq.phase), ev.enc_offer.eq(seq.enc_offer),
                         ev.enc_row.eq(seq.enc_row),
                         ev.enc_pend.eq(seq.enc_pend[group[0]:group[-1] + 1])]
            wiring.connect(m, core.o_state, scan.state)
            wiring.connect(m, scan.o, router.i[group[0]])
            for g in group[1:]:                   # one scanner a physical core
                m.d.comb += router.i[g].valid.eq(0)
            m.d.comb += [core.o_spike.ready.eq(1), core.hold.eq(seq.hold),
                         core.update.eq(seq.update), core.clear.eq(seq.clear),
                         scan.route.eq(seq.phase == Phase.ROUTE), scan.go.eq(seq.scan_go),
                         scan.restart.eq(seq.scan_restart), scan.skip.eq(seq.scan_skip)]
        m.d.comb += [seq.enc_took.eq(Cat(ev.enc_took for ev in self.slices)),
                     seq.slices_empty.eq(Cat(ev.empty for ev in self.slices).all()),
                     seq.scans_done.eq(Cat(sc.done for sc in self.scanners).all()),
                     seq.done.eq(Cat(*(c.done for c in self.cores), ro.done)),
                     seq.busy.eq(Cat(*(c.busy for c in self.cores), ro.busy,
                                     *([lu.control.busy] if lu is not None else [])).any())]

        # the readout: weights through the last bank, the encoder's words in its memory
        wiring.connect(m, ro.weights, host.readout)
        m.d.comb += ro.weights_grant.eq(self.banks[-1].b_grant)
        wiring.connect(m, host.aux, ro.aux)
        wiring.connect(m, seq.aux, host.enc_aux)
        wiring.connect(m, seq.ro_event, ro.i_event)
        wiring.connect(m, router.o[self.n_hidden_cores], seq.routed_ro)
        m.d.comb += [ro.update.eq(seq.update), ro.clear.eq(seq.clear),
                     router.clear.eq(seq.router_clear), router.step_end.eq(seq.step_end),
                     seq.step_done.eq(router.step_done)]
        for k, count in enumerate(ro.counts):
            m.d.comb += [seq.counts[k].eq(count), host.counts[k].eq(count)]

        # the router's tables and the status registers, from the host
        wiring.connect(m, host.load_index, router.load_index)
        wiring.connect(m, host.load_entry, router.load_entry)
        learn_stats = [lu.stats.mod_events, lu.stats.gated_steps, lu.stats.rows_swept,
                       lu.stats.weight_writes] if lu is not None else [0, 0, 0, 0]
        for reg, value in zip(host.status, [seq.prediction, seq.cycles, router.events,
                                            router.deliveries, router.stalls,
                                            seq.steps_done, *learn_stats]):
            m.d.comb += reg.eq(value)

        # phases 4-6 after every step's sweep (rtl/learn.py)
        if lu is not None:
            wiring.connect(m, seq.learner, lu.control)
            wiring.connect(m, lu.sweep, host.sweep)
            wiring.connect(m, host.regs, lu.regs)
            m.d.comb += [lu.bits.readout.eq(ro.spikes), lu.bits.input_head.eq(seq.s_in[0]),
                         seq.spike_rotate.eq(lu.bits.input_rotate)]
            bits = hidden_bits(m, self.scanners, lu.bits.hidden_addr)
            m.d.comb += [lu.bits.hidden_spike.eq(bits[0]), lu.bits.hidden_psi.eq(bits[1]),
                         self.probe.learning.eq(lu.control.busy)]
            ob = lu.observe
            m.d.comb += [self.probe.trace_valid.eq(ob.trace_valid),
                         self.probe.trace_addr.eq(ob.trace_addr),
                         self.probe.trace_data.eq(ob.trace_data),
                         self.probe.activity.eq(Cat(ob.activity))]

        # what a testbench watches (sim/tb_chip.py StepProbe)
        m.d.comb += [self.probe.steps_done.eq(seq.steps_done), self.probe.s_in.eq(seq.s_in),
                     self.probe.s_r.eq(ro.spikes),
                     self.probe.s_h.eq(Cat(sc.spikes for sc in self.scanners))]
        n = len(self.probe.state_neuron) // len(self.cores)
        m.d.comb += [self.probe.state_valid.eq(Cat(c.o_state.valid for c in self.cores)),
                     self.probe.state_neuron.eq(Cat(c.o_state.neuron[:n]
                                                    for c in self.cores)),
                     self.probe.state_current.eq(Cat(c.o_state.current for c in self.cores)),
                     self.probe.state_membrane.eq(Cat(c.o_state.membrane
                                                      for c in self.cores)),
                     self.probe.ro_valid.eq(ro.o_state.valid),
                     self.probe.ro_neuron.eq(ro.o_state.neuron),
                     self.probe.ro_current.eq(ro.o_state.current),
                     self.probe.ro_membrane.eq(ro.o_state.membrane)]
        return m

    def _core_params(self, m, core):
        """A hidden core's constant parameters (the config's dynamics)."""
        dy, p = self.config.dynamics, core.params
        m.d.comb += [p.theta.eq(dy.theta), p.leak_shift.eq(dy.leak_shift),
                     p.psi_window.eq(self.config.learning.psi_window),
                     p.refractory.eq(dy.refractory),
                     p.reset_subtract.eq(int(dy.reset_subtract))]


def info_bytes(engine: Engine) -> bytes:
    """What PING returns: b"SWRL", protocol version, classes, n_in, hidden cores, lanes,
    steps (2 bytes, little endian), flags (bit 0: on-chip learning built in), enc_theta
    (2 bytes: the largest input intensity, for the driver's checks), frames (2 bytes:
    ``sizes.frames``, appended within version 3; a driver that finds no such bytes
    reads 1)."""
    s = engine.config.sizes
    return b"SWRL" + bytes([PROTOCOL_VERSION, s.classes, s.n_in & 0xFF,
                            engine.n_hidden_cores, engine.lanes]) + \
        s.steps.to_bytes(2, "little") + bytes([int(engine.learner is not None)]) + \
        engine.config.dynamics.enc_theta.to_bytes(2, "little") + s.frames.to_bytes(2, "little")


class SwirlChip(wiring.Component):
    """UART receiver and transmitter, host link and engine: ``rx`` in, ``tx`` out.

    ``link="bytes"`` (simulation only) leaves the UART out: the host link's byte streams
    are the ports ``rx_bytes`` and ``tx_bytes``, a byte a cycle instead of one every ten
    bit times. Everything behind the UART (framing, CRC, commands, every memory write and
    read) is the same; a large preset's weights load in seconds, not hours, under
    Verilator (sim/compare.py chooses it by size)."""

    LINKS = ("uart", "bytes")

    def __init__(self, topo: Topology, *, divisor: int, lanes: int = 2,
                 backend: str = "auto", timeout: int | None = None, learning: bool = True,
                 weights=None, share: int = 1, link: str = "uart", weight_stage: bool = False,
                 sweep_lanes: int | None = None):
        if link not in self.LINKS:
            raise ValueError(f"link must be one of {self.LINKS}, not {link!r}")
        self.engine = Engine(topo, lanes=lanes, backend=backend, learning=learning,
                             weights=weights, share=share, weight_stage=weight_stage,
                             sweep_lanes=sweep_lanes)
        self.divisor = divisor
        self.link = link
        self.host = HostLink(depths=self.engine.depths(), limits=self.engine.limits(),
                             labels=topo.config.sizes.classes, info=info_bytes(self.engine),
                             timeout=timeout if timeout is not None else divisor * 10 * 64)
        ports = ({"rx": In(1, init=1), "tx": Out(1, init=1)} if link == "uart" else
                 {"rx_bytes": In(stream.Signature(8)), "tx_bytes": Out(stream.Signature(8))})
        super().__init__({**ports, "busy": Out(1),
                          "probe": Out(self.engine.signature.members["probe"].signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        m.submodules.host = host = self.host
        wiring.connect(m, host.bus, engine.bus)
        wiring.connect(m, engine.probe, wiring.flipped(self.probe))
        if self.link == "bytes":
            wiring.connect(m, wiring.flipped(self.rx_bytes), host.i)
            wiring.connect(m, host.o, wiring.flipped(self.tx_bytes))
            return m
        m.submodules.uart_rx = rx = UartRx(self.divisor)
        m.submodules.uart_tx = tx = UartTx(self.divisor)
        wiring.connect(m, rx.o, host.i)
        wiring.connect(m, host.o, tx.i)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        return m


class BoardTop(wiring.Component):
    """The chip on a board: the UART resource's pins and the clock of ``clock`` (a
    :class:`rtl.clock.ClockPlan`: the board's oscillator, through a PLL where it has
    to be); the UART's divisor follows that clock."""

    def __init__(self, topo: Topology, *, clock, baud: int = 115200,
                 lanes: int = 2, backend: str = "auto", learning: bool = True,
                 weights=None, share: int = 1, weight_stage: bool = False,
                 sweep_lanes: int | None = None):
        from .uart import divisor_for
        self.clock = clock
        self.chip = SwirlChip(topo, divisor=divisor_for(clock.f_out, baud), lanes=lanes,
                              backend=backend, learning=learning, weights=weights,
                              share=share, weight_stage=weight_stage,
                              sweep_lanes=sweep_lanes)
        super().__init__({})

    def elaborate(self, platform):
        from .clock import ClockGen
        m = Module()
        m.submodules.chip = chip = self.chip
        if platform is not None:
            m.domains.sync = ClockDomain("sync")        # ClockGen drives its clock and reset
            m.submodules.clock = ClockGen(self.clock)
            uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
            m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
            m.d.comb += [chip.rx.eq(rx_buf.i), tx_buf.o.eq(chip.tx)]
        return m
