"""Phases 4-6 of docs/architecture.md for the whole chip: the teacher and modulators,
the gated plasticity sweep over every weight bank, and the trace update.

:class:`LearningUnit` is what the step sequencer (rtl/top.py ``Engine``) starts once a
step's neurons are done (``start``), and waits for (``done``). It owns:

* a :class:`rtl.teach.Teacher` (activity traces, ternary error, modulator LIFs);
* a :class:`rtl.plasticity.PlasticityUnit`, given one sweep command per bank in a step
  where a modulator spiked; its weight port leaves through ``mem`` with ``mem_bank`` (the
  physical weight bank: the readout's rows live in the last hidden core's bank);
* the trace memory, one word per pre-synaptic source: input channels ``0 .. n_in-1``,
  hidden neurons ``n_in .. n_in+H-1``, the readout's bias row ``n_in+H``;
* the row -> trace address map of every hidden bank: computed for the rows whose
  sources are in order (the input rows of layer 0, the local rows), a ROM from the
  topology for the rest (the long-range rows): (trace address, source is hidden). The
  readout's rows need neither: row ``r`` is trace address ``n_in + last_layer_offset +
  r``;
* the readout synapse mask (a ROM, the crossbar word layout of the readout bank).

Per step, with ``learn``: one teacher update on ``spikes_r``; if any modulator spiked, one
sweep per bank (hidden banks, then the readout); then phase 6, every trace updated from
the step's input and hidden spikes (the bias source spikes every step), one word a
cycle.
Without ``learn``: ``done`` at once, nothing changes. ``clear`` (start of a sample)
zeroes the teacher and the traces (``busy`` meanwhile).
"""
from __future__ import annotations

import functools

from amaranth.hdl import Array, C, Module, Mux, Signal
from amaranth.lib import enum, memory, wiring
from amaranth.lib.wiring import In, Out

from gen.topology import KIND_INPUT, Topology
from gen.util import ceil_div, index_width

from .crossbar import NO_RW_CHECK, read_port
from .lfsr import LFSR_WIDTH
from .memory import RomShape
from .plasticity import (SHIFT_MAX, LfsrLoadSignature, PlasticityUnit, WeightPortSignature,
                         trace_update)
from .teach import Teacher

__all__ = ["LearningUnit", "row_sources", "LearnControlSignature", "StepBitsSignature",
           "SweepPortSignature", "LearnRegsSignature", "LearnStatsSignature"]


class LearnControlSignature(wiring.Signature):
    """Phases 4-6 of a step from the sequencer's side: ``start`` once the neurons are
    done, ``done`` back; ``clear`` (and ``clear_counters``) at a sample's start, ``busy``
    meanwhile; ``learn`` / ``label``: the sample's (RUN's)."""

    def __init__(self):
        super().__init__({"start": Out(1), "clear": Out(1), "clear_counters": Out(1),
                          "learn": Out(1), "label": Out(8), "done": In(1), "busy": In(1)})


class StepBitsSignature(wiring.Signature):
    """The step's spikes from the learning unit's side. Inputs: a chain the owner
    rotates by one on ``input_rotate``, ``input_head`` its first bit (a turn visits each
    once). Hidden: ``hidden_spike`` / ``hidden_psi`` are neuron ``hidden_addr``'s of the
    cycle before (latency 1, the owner's memories). Readout: ``readout``, bit i neuron i."""

    def __init__(self, hidden: int, readout: int):
        super().__init__({"input_rotate": Out(1), "input_head": In(1),
                          "hidden_addr": Out(range(max(hidden, 2))), "hidden_spike": In(1),
                          "hidden_psi": In(1), "readout": In(readout)})


class SweepPortSignature(wiring.Signature):
    """The plasticity sweep's weight port from the learning unit's side: ``mem`` on
    physical bank ``bank`` while ``active``."""

    def __init__(self, depth: int, width: int, banks: int):
        super().__init__({"mem": Out(WeightPortSignature(depth, width)),
                          "bank": Out(range(max(banks, 2))), "active": Out(1)})


class LearnRegsSignature(wiring.Signature):
    """The learning unit's host registers from the host's side: the LFSR states (space
    ``lfsr``) and the learning-rate shifts (space ``rates``: word 0 ``eta_hidden_shift``,
    word 1 ``eta_readout_shift``; the decay of gen train between epochs)."""

    def __init__(self, banks: int, learning):
        super().__init__({
            "lfsr_load": Out(LfsrLoadSignature(banks)),
            "lfsr_sel": Out(range(max(banks, 2))), "lfsr_state": In(LFSR_WIDTH),
            "shift_we": Out(1), "shift_sel": Out(1), "shift_wdata": Out(range(SHIFT_MAX + 1)),
            "eta_hidden_shift": In(range(SHIFT_MAX + 1), init=learning.eta_hidden_shift),
            "eta_readout_shift": In(range(SHIFT_MAX + 1), init=learning.eta_readout_shift),
        })


class LearnStatsSignature(wiring.Signature):
    """Per-sample counters (status registers, cleared by ``clear_counters``), each as wide
    as its own worst case over a sample (``widths``: name -> bits), so none wraps and
    none costs logic it cannot use (on the 99 %-full UP5K every bit is a cell)."""

    NAMES = ("mod_events", "gated_steps", "rows_swept", "weight_writes")

    def __init__(self, widths: dict):
        super().__init__({name: Out(widths[name]) for name in self.NAMES})


class SourceKind(enum.Enum, shape=2):
    """What spiked for the trace word being written back (phase 6)."""
    INPUT = 0
    HIDDEN = 1
    BIAS = 2


def lfsr_seeds(config, banks: int) -> list:
    """Every bank's initial LFSR state, as the golden model seeds them (sim.fixed)."""
    from sim.fixed import lfsr_seed
    return [lfsr_seed(config.seed, b) for b in range(banks)]


def row_sources(topo: Topology) -> tuple:
    """Every hidden bank's rows in three segments (feed-forward, local, long-range),
    each ``(start, end, hidden, linear, offset)``, and the row-source table: a linear
    segment's row ``r`` has trace address ``r + offset`` (the local rows always; the
    feed-forward rows of layer 0, inputs in channel order); the others are looked up in
    the table at index ``r + offset``, a word ``trace address | hidden << abits``. Only
    the long-range rows (and the feed-forward rows of deeper layers) take table words:
    128 on the default, not 640."""
    s = topo.config.sizes
    n_in = s.n_in
    ab = index_width(max(n_in + s.hidden + 1, 2))
    segs, table = [], []
    for rows in topo.cores:
        bounds = (0, rows.n_ff, rows.n_ff + rows.n_local, rows.n_rows)
        bank = []
        for start, end in zip(bounds, bounds[1:]):
            addr = [int(src) if kind == KIND_INPUT else n_in + int(src)
                    for kind, src in zip(rows.kind[start:end], rows.source[start:end])]
            hidden = [kind != KIND_INPUT for kind in rows.kind[start:end]]
            uniform = len(set(hidden)) <= 1
            linear = uniform and all(a - r == addr[0] - start
                                     for r, a in zip(range(start, end), addr))
            if linear:
                bank.append((start, end, bool(hidden and hidden[0]), True,
                             (addr[0] - start) if addr else 0))
            else:
                bank.append((start, end, False, False, len(table) - start))
                table += [a | int(h) << ab for a, h in zip(addr, hidden)]
        segs.append(bank)
    return segs, table or [0]


def trace_word_count(sizes) -> int:
    """Words of the trace memory: the input channels, the hidden neurons, the bias source."""
    return sizes.n_in + sizes.hidden + 1


class ObserveSignature(wiring.Signature):
    """What a testbench watches of the learning unit (through the engine's probe port):
    each trace word as phase 6 writes it back (``trace_valid`` one cycle; addresses as the
    trace memory's: inputs, hidden neurons, the bias source) and the teacher's class
    traces. The chip leaves it open and synthesis removes it."""

    def __init__(self, trace_words: int, trace_width: int, classes: int, teacher_width: int):
        super().__init__({"trace_valid": Out(1), "trace_addr": Out(range(max(trace_words, 2))),
                          "trace_data": Out(trace_width),
                          "activity": Out(teacher_width).array(classes)})


class LearningUnit(wiring.Component):
    """Teacher, plasticity sweep, traces (module docstring), sized from ``topo``.
    ``bank_rows``: rows of each hidden bank; ``readout_base``: first word of the readout
    rows in bank ``readout_host``; ``depth``: words of the largest bank; ``sweep_lanes``:
    the plasticity unit's (default ``lanes``)."""

    def __init__(self, topo: Topology, *, lanes: int, readout_base: int, depth: int,
                 counter_width: int = 16, bank_map=None, readout_host: int | None = None,
                 sweep_lanes: int | None = None):
        cfg = topo.config
        s, w = cfg.sizes, cfg.widths
        self.topo, self.config, self.lanes = topo, cfg, lanes
        self.G = len(topo.cores)
        self.H, self.n_in, self.R = s.hidden, s.n_in, s.readout
        # logical bank g's words are in physical bank bank_map[g][0] from word
        # bank_map[g][1] on (rtl/top.py Engine ``share``); the readout's rows in bank
        # readout_host from readout_base on
        self.bank_map = list(bank_map) if bank_map is not None else \
            [(g, 0) for g in range(self.G)]
        self.readout_host = self.G - 1 if readout_host is None else readout_host
        self.readout_base = readout_base
        self.readout_rows = s.cores * s.neurons + int(cfg.topology.readout_bias)
        self.words_h = ceil_div(s.neurons, lanes)
        self.words_r = ceil_div(s.readout, lanes)
        self.trace_words = trace_word_count(s)
        max_rows = max([r.n_rows for r in topo.cores] + [self.readout_rows])
        self.teacher = Teacher(classes=s.classes, per_class=s.per_class,
                               teacher_width=w.teacher, membrane_width=w.membrane)
        self.unit = PlasticityUnit(
            banks=self.G + 1, classes=s.classes, per_class=s.per_class, hidden=s.hidden,
            max_rows=max_rows, max_cols=max(s.neurons, s.readout), lanes=lanes,
            weight_width=w.weight, trace_width=w.trace, depth=depth,
            trace_depth=max(max_rows, self.trace_words),
            mask_depth=self.readout_rows * self.words_r, counter_width=counter_width,
            trace_latency=2, lfsr_init=lfsr_seeds(cfg, self.G + 1),
            eta_max=max(cfg.learning.eta_hidden, cfg.learning.eta_readout),
            sweep_lanes=sweep_lanes)
        super().__init__({
            "control": In(LearnControlSignature()),
            "bits": Out(StepBitsSignature(s.hidden, s.readout)),
            "sweep": Out(SweepPortSignature(depth, lanes * w.weight, self.readout_host + 1)),
            "regs": In(LearnRegsSignature(self.G + 1, cfg.learning)),
            "stats": Out(LearnStatsSignature({
                # at most every modulator once a step; at most one gated step a step
                "mod_events": max(1, (cfg.sizes.modulators * s.steps).bit_length()),
                "gated_steps": max(1, s.steps.bit_length()),
                "rows_swept": counter_width, "weight_writes": counter_width})),
            "observe": Out(ObserveSignature(self.trace_words, w.trace, s.classes, w.teacher)),
        })

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of every writable memory of the unit (gen/build.py counts
        them): the trace memory (twice with ``post_from_trace``: a second read port), the
        teacher's and the plasticity unit's (these two in LUT RAM on the ECP5, rtl/memory.py
        ``lut_ram_attrs``)."""
        # block RAM: the trace read's address comes from the row-source ROM's data, and
        # in LUT RAM the ROM, the unpacking and the read multiplexer were one 22.5 ns path
        traces = (max(self.trace_words, 2), self.config.widths.trace)
        return ([traces] * (1 + int(self.config.learning.post_from_trace)) +
                self.teacher.memory_shapes + self.unit.memory_shapes)

    @property
    def rom_shapes(self) -> list:
        """``(depth, width)`` of the unit's ROMs, fixed by the topology: the row-source
        table and the readout mask (none for a dense readout, whose every synapse is
        there). Block RAM on every board: yosys maps no ROM to the ECP5's LUT RAM."""
        table = row_sources(self.topo)[1]
        mask = [] if self._dense_mask else \
            [(max(self.readout_rows * self.words_r, 2), self.lanes)]
        return [RomShape(*shape) for shape in
                [(max(len(table), 2), index_width(max(self.trace_words, 2)) + 1)] + mask]

    @functools.cached_property
    def _dense_mask(self) -> bool:
        """Every readout synapse present (a mask word of all ones each): no mask ROM."""
        full = (1 << self.lanes) - 1
        return all(word == full for word in self._mask_table())

    # ---- elaboration-time tables ------------------------------------------------------
    def _mask_table(self) -> list:
        """The readout synapse mask in the readout bank's word layout (bias row: all).
        Lanes past the readout's neurons are padding, which the sweep never writes
        (rtl/plasticity.py: only columns < cols are live): their bits are 1, so that a
        dense readout needs no ROM at lanes that do not divide it."""
        import numpy as np
        mask = np.asarray(self.topo.readout_mask, bool)
        if self.config.topology.readout_bias:
            mask = np.vstack([mask, np.ones((1, self.R), bool)])
        words = []
        for row in mask:
            for k in range(self.words_r):
                bits = 0
                for p in range(self.lanes):
                    c = k * self.lanes + p
                    if c >= self.R or row[c]:
                        bits |= 1 << p
                words.append(bits)
        return words

    def _commands(self) -> list:
        """The sweep command of every bank: hidden banks, then the readout."""
        s = self.config.sizes
        cmds = [{"bank": g, "readout": 0, "base": self.bank_map[g][1], "rows": rows.n_rows,
                 "cols": s.neurons, "words": self.words_h, "j0": g * s.neurons,
                 "trace_base": 0}
                for g, rows in enumerate(self.topo.cores)]
        cmds.append({"bank": self.G, "readout": 1, "base": self.readout_base,
                     "rows": self.readout_rows, "cols": s.readout, "words": self.words_r,
                     "j0": 0, "trace_base": self.n_in + self.topo.last_layer_offset})
        return cmds

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        s, w, ln, dy = cfg.sizes, cfg.widths, cfg.learning, cfg.dynamics
        G, K = self.G, s.classes
        m.submodules.teacher = teacher = self.teacher
        m.submodules.unit = unit = self.unit

        # ---- constant parameters (the config) ----------------------------------------
        tp, pp = teacher.params, unit.params
        m.d.comb += [
            tp.teacher_shift.eq(ln.teacher_shift), tp.teach_start.eq(ln.teach_start),
            tp.target.eq(ln.target), tp.margin.eq(ln.margin),
            tp.push_down_all.eq(int(ln.push_down_all)),
            tp.mod_theta.eq(dy.mod_theta), tp.mod_leak_shift.eq(dy.mod_leak_shift),
            tp.mod_drive.eq(dy.mod_drive),
            pp.seed.eq(cfg.seed), pp.learn.eq(1),
            pp.learn_hidden.eq(int(ln.learn_hidden)),
            pp.learn_readout.eq(int(ln.learn_readout)),
            pp.learn_recurrent.eq(int(ln.learn_recurrent)),
            pp.post_from_trace.eq(int(ln.post_from_trace)),
            pp.eta_hidden.eq(ln.eta_hidden), pp.eta_hidden_shift.eq(self.regs.eta_hidden_shift),
            pp.eta_readout.eq(ln.eta_readout), pp.eta_readout_shift.eq(self.regs.eta_readout_shift),
        ]
        with m.If(self.regs.shift_we):
            with m.If(self.regs.shift_sel):
                m.d.sync += self.regs.eta_readout_shift.eq(self.regs.shift_wdata)
            with m.Else():
                m.d.sync += self.regs.eta_hidden_shift.eq(self.regs.shift_wdata)
        m.d.comb += [teacher.spikes.eq(self.bits.readout), teacher.label.eq(self.control.label),
                     teacher.learn.eq(1), teacher.clear.eq(self.control.clear),
                     unit.m.eq(teacher.m), unit.clear_counters.eq(self.control.clear_counters)]
        wiring.connect(m, wiring.flipped(self.regs.lfsr_load), unit.lfsr_load)
        m.d.comb += [unit.lfsr_sel.eq(self.regs.lfsr_sel), self.regs.lfsr_state.eq(unit.lfsr_state),
                     self.stats.rows_swept.eq(unit.rows_swept),
                     self.stats.weight_writes.eq(unit.weight_writes)]
        # the step's modulator spikes, counted in GATE and added the cycle after (the
        # popcount and the adder not in one cycle)
        events_q = Signal(range(2 * K + 1))
        m.d.sync += [events_q.eq(0), self.stats.mod_events.eq(self.stats.mod_events + events_q)]
        with m.If(self.control.clear_counters):
            m.d.sync += [self.stats.mod_events.eq(0), self.stats.gated_steps.eq(0)]

        # ---- memories ---------------------------------------------------------------------
        tw = w.trace
        # a read never meets a write to its address (the trace update reads word a and
        # writes a - 1): no collision logic (rtl/crossbar.py read_port)
        m.submodules.traces = tmem = memory.Memory(shape=tw, depth=max(self.trace_words, 2),
                                                   init=[], attrs=NO_RW_CHECK)
        t_wr = tmem.write_port()
        t_rd = read_port(m, tmem, t_wr, collisions=False, name="trace")  # rows, update
        m.d.comb += t_rd.en.eq(1)
        ab = index_width(max(self.trace_words, 2))
        segments, table = row_sources(self.topo)
        m.submodules.sources = smem = memory.Memory(shape=ab + 1, depth=max(len(table), 2),
                                                    init=table)
        s_rd = smem.read_port()
        if self._dense_mask:
            m.d.comb += unit.mask.data.eq(C((1 << self.lanes) - 1, self.lanes))
        else:
            mask_words = self._mask_table()
            m.submodules.mask = mmem = memory.Memory(shape=self.lanes,
                                                     depth=max(len(mask_words), 2),
                                                     init=mask_words)
            k_rd = mmem.read_port()
            m.d.comb += [k_rd.addr.eq(unit.mask.addr), unit.mask.data.eq(k_rd.data)]

        # ---- weight port out, on the bank of the running command ----------------------------
        cmd_idx = Signal(range(G + 2))
        is_readout = Signal()
        m.d.comb += [is_readout.eq(cmd_idx == G),
                     self.sweep.bank.eq(Array([C(p, self.sweep.bank.shape()) for p, _ in
                                             self.bank_map] + [self.readout_host])[cmd_idx]),
                     self.sweep.active.eq(unit.busy),
                     self.sweep.mem.addr.eq(unit.mem.addr), self.sweep.mem.re.eq(unit.mem.re),
                     self.sweep.mem.we.eq(unit.mem.we), self.sweep.mem.wdata.eq(unit.mem.wdata),
                     unit.mem.rdata.eq(self.sweep.mem.rdata)]

        # ---- trace port: row -> trace address (linear, or the table) -> trace memory.
        # Latency 2: cycle 0 the row's segment (its bank's constants), cycle 1 the
        # table's word or the computed address, cycle 2 the trace.
        row = unit.trace.addr
        value = Signal(range(max(self.trace_words, len(table), 2)))
        linear, seg_hidden = Signal(), Signal()
        with m.Switch(cmd_idx):
            for g, bank in enumerate(segments):
                with m.Case(g):
                    for start, end, hidden, lin, offset in bank:
                        if end > start:
                            with m.If((row >= start) & (row < end)):
                                m.d.comb += [value.eq(row + offset), linear.eq(int(lin)),
                                             seg_hidden.eq(int(hidden))]
        value_q, linear_q, seg_hidden_q = Signal.like(value), Signal(), Signal()
        addr_q = Signal.like(unit.trace.addr)
        hidden_q = Signal()
        m.d.sync += [addr_q.eq(row), value_q.eq(value), linear_q.eq(linear),
                     seg_hidden_q.eq(seg_hidden),
                     hidden_q.eq(Mux(linear_q, seg_hidden_q, s_rd.data[ab]))]
        m.d.comb += [s_rd.addr.eq(value),
                     t_rd.addr.eq(Mux(is_readout, addr_q,
                                      Mux(linear_q, value_q, s_rd.data[:ab]))),
                     unit.trace.x.eq(t_rd.data), unit.trace.hidden.eq(hidden_q)]

        # ---- gate port: psi of the step, x_j > 0 (latency 1) --------------------------------
        m.d.comb += [self.bits.hidden_addr.eq(unit.gate.addr),
                     unit.gate.psi.eq(self.bits.hidden_psi)]
        if ln.post_from_trace:   # a second read port (a copy of the memory) only then
            g_rd = read_port(m, tmem, t_wr, collisions=False, name="gate")
            m.d.comb += g_rd.en.eq(1)
            m.d.comb += [g_rd.addr.eq(self.n_in + unit.gate.addr),
                         unit.gate.xpos.eq(g_rd.data != 0)]

        # ---- sequencing --------------------------------------------------------------------
        cmds = self._commands()
        a = Signal(range(self.trace_words + 1))     # trace word being read
        wb = Signal()                                # write back word a - 1 this cycle
        wb_addr = Signal.like(a)
        wb_spike = Signal()                          # an input's spike, registered
        wb_kind = Signal(SourceKind)
        spike_now = Mux(wb_kind == SourceKind.INPUT, wb_spike,
                        Mux(wb_kind == SourceKind.HIDDEN, self.bits.hidden_spike, 1))
        m.d.sync += [self.control.done.eq(0), wb.eq(0)]
        updated = Signal(tw)
        m.d.comb += updated.eq(trace_update(t_rd.data, spike_now, ln.trace_shift, ln.trace_inc,
                                            tw))
        with m.If(wb):
            m.d.comb += [t_wr.addr.eq(wb_addr), t_wr.en.eq(1), t_wr.data.eq(updated)]
        ob = self.observe
        m.d.comb += [ob.trace_valid.eq(wb), ob.trace_addr.eq(wb_addr), ob.trace_data.eq(updated),
                     *(ob.activity[k].eq(teacher.activity[k]) for k in range(K))]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.control.clear):
                    m.d.sync += a.eq(0)
                    m.next = "CLEAR"
                with m.Elif(self.control.start):
                    with m.If(self.control.learn):
                        m.d.comb += teacher.update.eq(1)
                        m.next = "TEACH"
                    with m.Else():
                        m.d.sync += self.control.done.eq(1)
            with m.State("TEACH"):
                with m.If(teacher.done):
                    m.next = "GATE"
            # 4. the modulators of this step are in teacher.m now
            with m.State("GATE"):
                m.d.sync += [cmd_idx.eq(0), events_q.eq(sum(teacher.m))]
                with m.If(teacher.m.any()):
                    m.d.sync += self.stats.gated_steps.eq(self.stats.gated_steps + 1)
                    m.next = "CMD"
                with m.Else():
                    m.d.sync += a.eq(0)
                    m.next = "TRACE"
            # 5. one sweep per bank
            with m.State("CMD"):
                m.d.comb += unit.cmd.valid.eq(1)
                with m.Switch(cmd_idx):
                    for i, c in enumerate(cmds):
                        with m.Case(i):
                            m.d.comb += [getattr(unit.cmd.payload, k).eq(v)
                                         for k, v in c.items()]
                with m.If(unit.cmd.ready):
                    m.next = "SWEEP"
            with m.State("SWEEP"):
                with m.If(unit.done):
                    m.d.sync += cmd_idx.eq(cmd_idx + 1)
                    with m.If(cmd_idx == G):
                        m.d.sync += a.eq(0)
                        m.next = "TRACE"
                    with m.Else():
                        m.next = "CMD"
            # 6. traces: read word a, write it back updated the next cycle
            with m.State("TRACE"):
                m.d.comb += [t_rd.addr.eq(a), t_rd.en.eq(1)]
                # inputs: the chain's head, now; hidden neurons: their memory, the next
                # cycle (with the trace); the bias source: always spikes
                is_input = a < self.n_in
                m.d.comb += [self.bits.input_rotate.eq(is_input),
                             self.bits.hidden_addr.eq(a - self.n_in)]
                m.d.sync += [wb.eq(1), wb_addr.eq(a), wb_spike.eq(self.bits.input_head),
                             wb_kind.eq(Mux(is_input, SourceKind.INPUT,
                                         Mux(a == self.trace_words - 1, SourceKind.BIAS,
                                             SourceKind.HIDDEN))),
                             a.eq(a + 1)]
                with m.If(a == self.trace_words - 1):
                    m.next = "TRACE_END"
            with m.State("TRACE_END"):          # the last write-back
                m.d.sync += self.control.done.eq(1)
                m.next = "IDLE"
            # start of a sample: zero every trace
            with m.State("CLEAR"):
                m.d.comb += [t_wr.addr.eq(a), t_wr.data.eq(0), t_wr.en.eq(1)]
                m.d.sync += a.eq(a + 1)
                with m.If(a == self.trace_words - 1):
                    m.next = "IDLE"
        m.d.comb += self.control.busy.eq(~fsm.ongoing("IDLE"))
        return m
