"""Phases 5 and 6 of docs/architecture.md: the modulator-gated plasticity sweep and the
pre-trace update.

:class:`PlasticityUnit` is one sweep engine shared by every weight bank (the weight
memory has one port anyway). The controller (the step sequencer; the testbench here)
sends one :class:`SweepCmdLayout` command per bank in a gated step, with the step's
modulator spikes ``m`` held on its input. Per command, in two phases:

1. **Post terms**, one per column, into a small post-term memory laid out like a weight
   row (``lanes`` terms per word). Readout bank: ``post_c = eta_readout * sig_(c //
   per_class)``, one column per cycle. Hidden bank: the gate ``g_j`` (``psi_j``, or
   ``[x_j > 0]`` with ``post_from_trace``) is read through the ``gate`` port; a zero gate
   gives ``post = 0`` in one cycle, otherwise :class:`rtl.hash.FeedbackPost` hashes the
   ``K`` feedback signs of ``j`` and ``post_j = eta_hidden * sum_k Bc[j,k] sig_k``
   (``4K + 2`` cycles: one oat32 round a cycle). The memory keeps the terms without
   ``eta`` (``sig`` or ``sum_k Bc[j,k] sig_k``, :func:`term_shape`); ``eta`` multiplies
   the row's trace instead (``x * eta * term = x * post``).
2. **Sweep**: rows in order; a row's pre trace comes through the ``trace`` port (one
   cycle per row whose trace is zero: skipped). A visited row is read and written back
   word by word through a pipeline of ``sweep_lanes`` lanes, a word in ``B = lanes //
   sweep_lanes`` beats (the weight memory is single ported; rtl.sweep_pipeline's
   ``word_schedule``: one beat, a read every other cycle and each word written back 5
   cycles after its read, ``2 * words + 4`` cycles a row; B beats, a read every B cycles,
   the write ``B + 3`` after it, ``B * words + 4`` a row; B a power of two). Lane ``p`` of word ``k`` is column
   ``c = k*lanes + p``; it takes the bank's
   LFSR state after ``p + 1`` steps (only columns ``< cols`` consume steps), and
   ``dw = (x * post_c + (state & (2^shift - 1))) >> shift``,
   ``w = sat_s(w + dw, weight_width)``. In a readout command, lanes whose ``mask`` bit is
   0 keep their word (the LFSR step is still consumed). ``shift`` is 0..16
   (``SHIFT_MAX``); a larger value gives ``dw = 0`` (with ``shift_by_multiply``, the
   default) or the plain shift (without).

``learn`` low, or the bank kind's switch (``learn_hidden`` / ``learn_readout``) low: a
command completes at once, touching nothing (no LFSR step). ``learn_recurrent`` low: rows
the trace port marks ``hidden`` count as zero-trace rows in hidden banks.

All ports that read a memory (``mem``, ``trace``, ``gate``, ``mask``) have read latency 1:
data in the cycle after the address; ``trace_latency = 2`` allows the trace port one
cycle more (a row-source table in front of the trace memory), at one cycle more per row
and one more per command.
"""
from types import SimpleNamespace

from amaranth.hdl import Array, C, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from gen.util import ceil_div, index_width

from .hash import FeedbackPost
from .lfsr import LFSR_WIDTH
from .memory import LutRamShape, WeightPortSignature, lut_ram_attrs   # the sweep's port
from .plasticity_math import (ETA_WIDTH, SHIFT_MAX, TraceUpdate, post_shape, shift_clamp,
                              term_shape, trace_update)
from .plasticity_ports import (GatePortSignature, LfsrLoadSignature, MaskPortSignature,
                               PlasticityParamsSignature, SweepCmdLayout,
                               TracePortSignature)
from .sweep_pipeline import WB_LATENCY, WordPipeline

__all__ = ["WeightPortSignature", "TracePortSignature", "GatePortSignature",
           "MaskPortSignature", "PlasticityParamsSignature", "LfsrLoadSignature",
           "SweepCmdLayout", "PlasticityUnit", "TraceUpdate", "trace_update",
           "post_shape", "term_shape", "shift_clamp", "SHIFT_MAX", "WB_LATENCY"]


def _pow2(n: int) -> bool:
    return n & (n - 1) == 0


def _log2(n: int) -> int:
    return n.bit_length() - 1


class PlasticityUnit(wiring.Component):
    """The sweep engine (module docstring). Elaboration parameters: ``banks`` (LFSRs),
    ``classes``, ``per_class``, ``hidden`` (global hidden neurons, for ``j``),
    ``max_rows`` / ``max_cols`` of a bank, ``lanes``, ``weight_width``, ``trace_width``,
    ``depth`` (weight words), ``trace_depth``, ``mask_depth``, ``counter_width``,
    ``trace_latency``, ``lfsr_init`` (every bank's reset state), ``shift_by_multiply``
    (True: ``>> shift`` as multiplies by ``2^(16 - shift)``, two more multipliers a lane
    that a ``-dsp`` build puts in DSP blocks, instead of a shifter in logic), ``eta_max``
    (the largest ``eta_hidden`` / ``eta_readout`` the params will carry, default 255: it
    sizes ``x * eta`` and so the registered product, which must fit one DSP's input),
    ``sweep_lanes`` (the word pipeline's lanes, ``lanes`` divided by a power of two,
    default ``lanes``: its multipliers, so a wide word need not bring as many DSP blocks).

    Ports: ``params``; ``m`` (the step's modulator spikes, held during commands);
    ``cmd`` (stream of :class:`SweepCmdLayout`; ready when idle); ``done`` (strobe, a
    command finished); ``busy``; ``mem`` / ``trace`` / ``gate`` / ``mask`` (memory ports);
    ``lfsr_load`` (set a bank's LFSR state, while idle); ``lfsr_sel`` / ``lfsr_state``
    (read one, combinational, while idle; while busy ``lfsr_state`` shows the running
    command's bank); counters ``rows_swept``, ``weight_writes`` (weights whose value
    changed), ``sweeps`` (commands that ran), ``counter_width`` bits.
    """

    def __init__(self, *, banks: int, classes: int, per_class: int, hidden: int,
                 max_rows: int, max_cols: int, lanes: int, weight_width: int,
                 trace_width: int, depth: int, trace_depth: int, mask_depth: int,
                 counter_width: int = 32, trace_latency: int = 1, lfsr_init=None,
                 shift_by_multiply: bool = True, eta_max: int = (1 << ETA_WIDTH) - 1,
                 sweep_lanes: int | None = None):
        for name, value in (("banks", banks), ("classes", classes), ("per_class", per_class),
                            ("hidden", hidden), ("max_rows", max_rows),
                            ("max_cols", max_cols), ("lanes", lanes),
                            ("weight_width", weight_width), ("trace_width", trace_width),
                            ("depth", depth), ("trace_depth", trace_depth),
                            ("mask_depth", mask_depth)):
            if not isinstance(value, int) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        if classes < 2:
            raise ValueError(f"classes must be >= 2, not {classes}")
        sweep_lanes = lanes if sweep_lanes is None else sweep_lanes
        if not isinstance(sweep_lanes, int) or sweep_lanes < 1:
            raise TypeError(f"sweep_lanes must be a positive integer, not {sweep_lanes!r}")
        if trace_latency not in (1, 2):
            raise ValueError(f"trace_latency must be 1 or 2, not {trace_latency!r}")
        self._trace_latency = trace_latency
        if not isinstance(eta_max, int) or not 0 <= eta_max < 1 << ETA_WIDTH:
            raise ValueError(f"eta_max must be 0..{(1 << ETA_WIDTH) - 1}, not {eta_max!r}")
        self._eta_max = eta_max
        self._shift_by_multiply = bool(shift_by_multiply)
        # the word datapath, built at elaboration (here: its lanes are checked now)
        self._pipe = WordPipeline(lanes=lanes, sweep_lanes=sweep_lanes,
                                  weight_width=weight_width,
                                  term_width=term_shape(classes).width,
                                  shift_by_multiply=self._shift_by_multiply)
        self._lfsr_init = list(lfsr_init) if lfsr_init is not None else [1] * banks
        if len(self._lfsr_init) != banks:
            raise ValueError(f"lfsr_init has {len(self._lfsr_init)} states for {banks} banks")
        self._banks, self._k, self._p, self._hidden = banks, classes, per_class, hidden
        self._rows, self._cols, self._lanes = max_rows, max_cols, lanes
        self._ww, self._tw = weight_width, trace_width
        self._depth, self._tdepth, self._mdepth = depth, trace_depth, mask_depth
        self._layout = SweepCmdLayout(banks=banks, depth=depth, max_rows=max_rows,
                                      max_cols=max_cols, hidden=hidden,
                                      trace_depth=trace_depth, lanes=lanes)
        super().__init__({
            "params": In(PlasticityParamsSignature()),
            "m": In(2 * classes),
            "cmd": In(stream.Signature(self._layout)),
            "done": Out(1),
            "busy": Out(1),
            "mem": Out(WeightPortSignature(depth, lanes * weight_width)),
            "trace": Out(TracePortSignature(trace_depth, trace_width)),
            "gate": Out(GatePortSignature(hidden)),
            "mask": Out(MaskPortSignature(mask_depth, lanes)),
            "lfsr_load": In(LfsrLoadSignature(banks)),
            "lfsr_sel": In(unsigned(index_width(banks))),
            "lfsr_state": Out(LFSR_WIDTH),
            "rows_swept": Out(counter_width),
            "weight_writes": Out(counter_width),
            "sweeps": Out(counter_width),
            "clear_counters": In(1),
        })

    @property
    def cmd_layout(self) -> SweepCmdLayout:
        return self._layout


    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of every block-RAM memory the unit builds (the weights,
        traces, gates and mask are its owner's, behind the ports): the post-term row."""
        return [LutRamShape(*self._post_row_shape())]

    def _post_row_shape(self):
        """``(depth, width)`` of the post-term memory: one weight row's words, ``lanes``
        terms (:func:`term_shape`) a word; shared by :attr:`memory_shapes` and the
        elaboration so the build's estimate cannot drift from what is built."""
        words = ceil_div(self._cols, self._lanes)
        return max(words, 2), self._lanes * term_shape(self._k).width

    def elaborate(self, platform):
        m = Module()
        K, lanes = self._k, self._lanes
        tw_ = term_shape(K).width
        cmd = Signal(self._layout)              # the running command
        lfsr, sel_state, state = self._lfsr_registers(m, cmd)

        # ---- post-term memory: one row of post terms (without eta), lanes per word ----
        post_depth, post_width = self._post_row_shape()
        m.submodules.post = post_mem = memory.Memory(shape=post_width, depth=post_depth,
                                                     init=[], attrs=lut_ram_attrs(platform))
        p_wr = post_mem.write_port(granularity=tw_)
        p_rd = post_mem.read_port()

        m.submodules.fb = fb = FeedbackPost(classes=K, hidden=max(self._hidden, 1))
        r = self._command_registers(m, cmd, fb)
        pipe = self._pipe.build(m, r, state, p_rd.data, self.mem, self.mask,
                                self.weight_writes)
        self._step_lfsrs(m, r, pipe, lfsr, sel_state, state)

        # ---- control ----------------------------------------------------------------
        # the gate and trace ports are given the next column's / row's address in the
        # states that may move on to it (whether they do is not waited for: a read is
        # harmless), from registers, so no port address depends on the data read
        m.d.comb += [
            self.gate.addr.eq(Mux(self.cmd.ready, self.cmd.payload.j0, r.jn)),
            self.trace.addr.eq(r.ta),
            self.mem.addr.eq(Mux(pipe.v_w, r.wr_addr, r.waddr)),
            self.mask.addr.eq(r.waddr - cmd.base),
            p_rd.addr.eq(r.k),
            self.mem.wdata.eq(pipe.wdata),
            pipe.rd.eq(r.read_now),
            self.mem.re.eq(pipe.rd), p_rd.en.eq(pipe.rd), self.mem.we.eq(pipe.v_w),
            p_wr.addr.eq(r.cw),
        ]
        term_value = Signal(term_shape(K))
        write_post = Signal()
        m.d.comb += [p_wr.data.eq(term_value.as_unsigned().replicate(lanes)),
                     p_wr.en.eq(Mux(write_post, (C(1, lanes) << r.cl)[:lanes], 0))]
        m.d.sync += self.done.eq(0)
        self._sweep_fsm(m, r, pipe, fb, term_value, write_post)
        m.d.comb += self.busy.eq(~self.cmd.ready)
        with m.If(self.clear_counters):
            m.d.sync += [self.rows_swept.eq(0), self.weight_writes.eq(0), self.sweeps.eq(0)]
        return m

    def _lfsr_registers(self, m, cmd):
        """The per-bank LFSR states and their read mux, apart from their stepping (which
        needs the datapath's lane states): returns ``(lfsr, sel_state, state)``."""
        # a register per bank; one read mux (the running command's bank while busy, else
        # lfsr_sel); one next-state value for all, each register with its own enable (a
        # word's LFSR step of its bank, or a load while idle). The datapath steps a copy of
        # the running command's state (``state``, off the read mux), which follows the
        # bank's register a cycle late and is stepped with it
        lfsr = [Signal(LFSR_WIDTH, name=f"lfsr{b}", init=self._lfsr_init[b])
                for b in range(self._banks)]
        sel_state = Signal(LFSR_WIDTH)
        state = Signal(LFSR_WIDTH)
        m.d.comb += [sel_state.eq(Array(lfsr)[Mux(self.busy, cmd.bank, self.lfsr_sel)]),
                     self.lfsr_state.eq(sel_state)]
        return lfsr, sel_state, state

    def _command_registers(self, m, cmd, fb):
        """The running command's counters, addresses and run-time parameters, shared by
        the datapath and the control (one namespace instead of two dozen arguments)."""
        K, P, lanes, pr = self._k, self._p, self._lanes, self.params
        wpr_max = ceil_div(self._cols, lanes)
        # the class signals m_k - m_(K+k), from m (held while commands run)
        sig = [Signal(signed(2), name=f"sig{k}") for k in range(K)]
        m.d.comb += [sig[i].eq(self.m[i] - self.m[K + i]) for i in range(K)]
        # column of the post phase; in the sweep, the word of the row (k)
        c = Signal(range(max(self._cols, wpr_max) + 1))
        j = Signal(unsigned(index_width(self._hidden)))     # its hidden index, j0 + c
        if _pow2(lanes):                        # its word and lane
            cw, cl = c[_log2(lanes):], c[:_log2(lanes)]
        else:
            cw, cl = Signal(range(wpr_max + 1), name="cw"), Signal(range(lanes), name="cl")
        if _pow2(P):                            # its class (readout)
            cls, pc = c[_log2(P):], None
        else:
            cls, pc = Signal(range(K), name="cls"), Signal(range(P), name="pc")
        rows_left = Signal(range(self._rows + 1))
        # the trace address given: POST, HASH: row 0's; ROW, RMW: the next row's;
        # ROW_WAIT: the row's
        ta = Signal(self.trace.addr.shape())
        jn = Signal(self.gate.addr.shape())     # the gate address given: column c + 1's
        k = c                                   # the post phase is over by then
        waddr = Signal(range(max(self._depth, 2) + wpr_max))    # weight word address
        wr_addr = Signal.like(waddr)            # ... of the next write-back
        reading = Signal()                      # the row has words to read
        read_now = Signal()                     # ... and this cycle reads one (a register:
        # the weight port's read enable reaches the bank's SPRAM chip selects)
        phase = Signal(range(self._pipe.period))    # of the reads: a read at 0
        x = Signal(max(1, bits_for(((1 << self._tw) - 1) * self._eta_max)))  # x * eta
        readout = cmd.readout
        shift = Signal(range(SHIFT_MAX + 1))
        eta = Signal(ETA_WIDTH)
        m.d.comb += [
            shift.eq(Mux(readout, pr.eta_readout_shift, pr.eta_hidden_shift)),
            eta.eq(Mux(readout, pr.eta_readout, pr.eta_hidden)),
            fb.seed.eq(pr.seed), fb.j.eq(j),
        ]
        m.d.comb += [fb.sig[i].eq(sig[i]) for i in range(K)]
        return SimpleNamespace(cmd=cmd, sig=sig, c=c, j=j, cw=cw, cl=cl, cls=cls, pc=pc,
                               rows_left=rows_left, ta=ta, jn=jn, k=k, waddr=waddr,
                               wr_addr=wr_addr, reading=reading, read_now=read_now,
                               phase=phase, x=x,
                               readout=readout, shift=shift, eta=eta)

    def _step_lfsrs(self, m, r, pipe, lfsr, sel_state, state):
        """The bank's LFSR steps past the word's lanes in E1; a load sets one while idle."""
        lfsr_next = Signal(LFSR_WIDTH)
        m.d.comb += lfsr_next.eq(Array([state, *pipe.lane_states])[pipe.n_valid])
        stepping = Signal()
        m.d.comb += stepping.eq(pipe.e1)
        lfsr_d = Signal(LFSR_WIDTH)
        m.d.comb += lfsr_d.eq(Mux(stepping, lfsr_next, self.lfsr_load.data))
        m.d.sync += state.eq(Mux(stepping, lfsr_next, sel_state))
        for b in range(self._banks):
            with m.If((stepping & (r.cmd.bank == b)) |
                      (self.lfsr_load.en & (self.lfsr_load.bank == b))):
                m.d.sync += lfsr[b].eq(lfsr_d)

    def _next_col(self, m, r, write_post):
        """Stores the column's post term and moves on to the next column, or to the rows
        after the last one."""
        m.d.comb += write_post.eq(1)
        m.d.sync += [r.c.eq(r.c + 1), r.j.eq(r.j + 1), r.jn.eq(r.jn + 1)]
        if not _pow2(self._lanes):
            with m.If(r.cl == self._lanes - 1):
                m.d.sync += [r.cl.eq(0), r.cw.eq(r.cw + 1)]
            with m.Else():
                m.d.sync += r.cl.eq(r.cl + 1)
        if not _pow2(self._p):
            with m.If(r.pc == self._p - 1):
                m.d.sync += [r.pc.eq(0), r.cls.eq(r.cls + 1)]
            with m.Else():
                m.d.sync += r.pc.eq(r.pc + 1)
        with m.If(r.c + 1 == r.cmd.cols):
            if self._trace_latency == 1:
                m.d.sync += r.ta.eq(r.ta + 1)
                m.next = "ROW"
            else:       # row 0's address may have been given for one cycle only
                m.next = "ROW_WAIT"
        with m.Else():
            m.next = "POST"

    def _next_row(self, m, r):
        """Moves on to the next row, or ends the command after the last one."""
        with m.If(r.rows_left == 1):
            m.next = "DONE"
        with m.Else():
            m.d.sync += r.rows_left.eq(r.rows_left - 1)
            if self._trace_latency == 1:
                m.d.sync += r.ta.eq(r.ta + 1)
                m.next = "ROW"
            else:
                m.next = "ROW_WAIT"

    def _sweep_fsm(self, m, r, pipe, fb, term_value, write_post):
        """The command's sequence (module docstring): take it, the post terms column by
        column, then the rows, each read-modify-written word by word."""
        pr, cmd, readout = self.params, r.cmd, r.readout
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    pl = self.cmd.payload
                    m.d.sync += [cmd.eq(pl), r.c.eq(0), r.j.eq(pl.j0), r.jn.eq(pl.j0 + 1),
                                 r.rows_left.eq(pl.rows), r.ta.eq(pl.trace_base),
                                 r.waddr.eq(pl.base)]
                    if not _pow2(self._lanes):
                        m.d.sync += [r.cw.eq(0), r.cl.eq(0)]
                    if not _pow2(self._p):
                        m.d.sync += [r.pc.eq(0), r.cls.eq(0)]
                    enabled = pr.learn & Mux(pl.readout, pr.learn_readout, pr.learn_hidden)
                    with m.If(enabled):
                        m.d.sync += self.sweeps.eq(self.sweeps + 1)
                        m.next = "POST"
                    with m.Else():
                        m.next = "DONE"
            with m.State("POST"):
                g = Mux(pr.post_from_trace, self.gate.xpos, self.gate.psi)
                with m.If(readout):
                    m.d.comb += term_value.eq(Array(r.sig)[r.cls])
                    self._next_col(m, r, write_post)
                with m.Elif(g):
                    m.d.comb += fb.start.eq(1)
                    m.next = "HASH"
                with m.Else():
                    m.d.comb += term_value.eq(0)
                    self._next_col(m, r, write_post)
            with m.State("HASH"):
                with m.If(fb.done):
                    m.d.comb += term_value.eq(fb.acc)
                    self._next_col(m, r, write_post)
            with m.State("ROW_WAIT"):      # trace_latency 2: the row's address is held
                m.d.sync += r.ta.eq(r.ta + 1)
                m.next = "ROW"
            with m.State("ROW"):
                x_eff = Mux(~readout & self.trace.hidden & ~pr.learn_recurrent, 0,
                            self.trace.x)
                with m.If(x_eff != 0):
                    m.d.sync += [r.x.eq(x_eff * r.eta), r.k.eq(0), r.reading.eq(1),
                                 r.phase.eq(0), r.read_now.eq(1), r.wr_addr.eq(r.waddr),
                                 self.rows_swept.eq(self.rows_swept + 1)]
                    m.next = "RMW"
                with m.Else():
                    m.d.sync += r.waddr.eq(r.waddr + cmd.words)
                    self._next_row(m, r)
            # the row's words: a read every ``period`` cycles (word k), the write-back of
            # a word in a cycle between (rtl.sweep_pipeline.word_schedule)
            with m.State("RMW"):
                phase_next = Mux(r.phase == pipe.period - 1, 0, r.phase + 1)
                reading_next = r.reading & ~(pipe.rd & pipe.last_word)
                m.d.sync += [r.phase.eq(phase_next),
                             r.read_now.eq(reading_next & (phase_next == 0))]
                with m.If(pipe.rd):
                    m.d.sync += [r.waddr.eq(r.waddr + 1), r.k.eq(r.k + 1)]
                    with m.If(pipe.last_word):
                        m.d.sync += r.reading.eq(0)
                with m.If(pipe.v_w):
                    m.d.sync += r.wr_addr.eq(r.wr_addr + 1)
                    with m.If(pipe.last_w):
                        self._next_row(m, r)
            with m.State("DONE"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
