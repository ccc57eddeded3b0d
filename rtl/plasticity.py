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
   (``K + 2`` cycles).
2. **Sweep**: rows in order; a row's pre trace comes through the ``trace`` port (one
   cycle per row whose trace is zero: skipped). A visited row is read and written back
   word by word (the weight memory is single ported: read, then write, two cycles a
   word). Lane ``p`` of word ``k`` is column ``c = k*lanes + p``; it takes the bank's
   LFSR state after ``p + 1`` steps (only columns ``< cols`` consume steps), and
   ``dw = (x * post_c + (state & (2^shift - 1))) >> shift``,
   ``w = sat_s(w + dw, weight_width)``. In a readout command, lanes whose ``mask`` bit is
   0 keep their word (the LFSR step is still consumed).

``learn`` low, or the bank kind's switch (``learn_hidden`` / ``learn_readout``) low: a
command completes at once, touching nothing (no LFSR step). ``learn_recurrent`` low: rows
the trace port marks ``hidden`` count as zero-trace rows in hidden banks.

All ports that read a memory (``mem``, ``trace``, ``gate``, ``mask``) have read latency 1:
data in the cycle after the address; ``trace_latency = 2`` allows the trace port one
cycle more (a row-source table in front of the trace memory), at one cycle more per row.
"""
from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .hash import FeedbackPost, feedback_acc_shape
from .lfsr import LFSR_WIDTH, lfsr_states
from .lif import saturate

__all__ = ["WeightPortSignature", "TracePortSignature", "GatePortSignature",
           "MaskPortSignature", "PlasticityParamsSignature", "LfsrLoadSignature",
           "SweepCmdLayout", "PlasticityUnit", "TraceUpdate", "trace_update",
           "post_shape", "SHIFT_MAX"]

SHIFT_MAX = 16          # learning.eta_*_shift: 0..16 (the LFSR gives 16 rounding bits)
ETA_WIDTH = 8           # learning.eta_*: 0..255


def _idx(count: int):
    return unsigned(max(1, bits_for(max(count, 1) - 1)))


class WeightPortSignature(wiring.Signature):
    """The weight memory's port from its user's side (rtl/memory.py ``WeightMemory``
    contract): ``re`` reads ``addr`` (``rdata`` the next cycle), ``we`` writes ``wdata``."""

    def __init__(self, depth: int, width: int):
        super().__init__({
            "addr": Out(range(max(depth, 2))), "re": Out(1), "we": Out(1),
            "wdata": Out(width), "rdata": In(width),
        })


class TracePortSignature(wiring.Signature):
    """A crossbar row's pre trace ``x`` (before this step's trace update) and whether
    its source is a hidden neuron (``hidden``, for ``learn_recurrent``)."""

    def __init__(self, depth: int, trace_width: int):
        super().__init__({"addr": Out(range(max(depth, 2))),
                          "x": In(trace_width), "hidden": In(1)})


class GatePortSignature(wiring.Signature):
    """A hidden neuron's post gate candidates: ``psi`` (phase 3) and ``xpos`` (its trace
    is non-zero before this step's update); ``post_from_trace`` picks."""

    def __init__(self, hidden: int):
        super().__init__({"addr": Out(range(max(hidden, 2))), "psi": In(1), "xpos": In(1)})


class MaskPortSignature(wiring.Signature):
    """The readout synapse mask, one bit per lane, addressed like the readout bank's
    weight words relative to its base (``row * words + k``)."""

    def __init__(self, depth: int, lanes: int):
        super().__init__({"addr": Out(range(max(depth, 2))), "data": In(lanes)})


class PlasticityParamsSignature(wiring.Signature):
    """Run-time learning parameters (``learning.*`` and ``seed``)."""

    def __init__(self):
        super().__init__({
            "seed": Out(32),
            "learn": Out(1),
            "learn_hidden": Out(1), "learn_readout": Out(1), "learn_recurrent": Out(1),
            "post_from_trace": Out(1),
            "eta_hidden": Out(ETA_WIDTH), "eta_hidden_shift": Out(range(SHIFT_MAX + 1)),
            "eta_readout": Out(ETA_WIDTH), "eta_readout_shift": Out(range(SHIFT_MAX + 1)),
        })


class LfsrLoadSignature(wiring.Signature):
    def __init__(self, banks: int):
        super().__init__({"en": Out(1), "bank": Out(_idx(banks)), "data": Out(LFSR_WIDTH)})


class SweepCmdLayout(data.StructLayout):
    """One bank's sweep: ``bank`` (its LFSR), ``readout``, ``base`` (first weight word),
    ``rows``, ``cols``, ``words`` (``ceil(cols / lanes)``), ``j0`` (global hidden index of
    column 0, for the hash and the gate port), ``trace_base`` (trace port address of row
    0)."""

    def __init__(self, *, banks, depth, max_rows, max_cols, hidden, trace_depth, lanes):
        super().__init__({
            "bank": _idx(banks),
            "readout": 1,
            "base": _idx(depth),
            "rows": range(max_rows + 1),
            "cols": range(max_cols + 1),
            "words": range(-(-max_cols // lanes) + 1),
            "j0": _idx(hidden),
            "trace_base": _idx(trace_depth),
        })


def post_shape(classes: int):
    """Signed shape of a post term: ``eta * sum_k Bc sig_k`` (hidden) or ``eta * sig``."""
    acc = feedback_acc_shape(classes)
    return signed(acc.width + ETA_WIDTH)


def trace_update(x, spike, shift, inc, width: int):
    """Phase 6: ``sat_u(x - (x >> shift) + inc * spike, width)``."""
    return saturate(x - (x >> shift) + Mux(spike, inc, 0), unsigned(width))


class TraceUpdate(wiring.Component):
    """Phase 6 for one trace (combinational): ``x_next`` from ``x`` and ``spike``."""

    def __init__(self, trace_width: int):
        self._w = trace_width
        super().__init__({"x": In(trace_width), "spike": In(1),
                          "shift": In(range(trace_width)), "inc": In(trace_width),
                          "x_next": Out(trace_width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.x_next.eq(trace_update(self.x, self.spike, self.shift, self.inc,
                                                self._w))
        return m


class PlasticityUnit(wiring.Component):
    """The sweep engine (module docstring). Elaboration parameters: ``banks`` (LFSRs),
    ``classes``, ``per_class``, ``hidden`` (global hidden neurons, for ``j``),
    ``max_rows`` / ``max_cols`` of a bank, ``lanes``, ``weight_width``, ``trace_width``,
    ``depth`` (weight words), ``trace_depth``, ``mask_depth``.

    Ports: ``params``; ``m`` (the step's modulator spikes, held during commands);
    ``cmd`` (stream of :class:`SweepCmdLayout`; ready when idle); ``done`` (strobe, a
    command finished); ``busy``; ``mem`` / ``trace`` / ``gate`` / ``mask`` (memory ports);
    ``lfsr_load`` (set a bank's LFSR state, while idle); ``lfsr_sel`` / ``lfsr_state``
    (read one); counters ``rows_swept``, ``weight_writes`` (weights whose value changed),
    ``sweeps`` (commands that ran).
    """

    def __init__(self, *, banks: int, classes: int, per_class: int, hidden: int,
                 max_rows: int, max_cols: int, lanes: int, weight_width: int,
                 trace_width: int, depth: int, trace_depth: int, mask_depth: int,
                 counter_width: int = 32, trace_latency: int = 1, lfsr_init=None):
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
        if trace_latency not in (1, 2):
            raise ValueError(f"trace_latency must be 1 or 2, not {trace_latency!r}")
        self._trace_latency = trace_latency
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
            "lfsr_sel": In(_idx(banks)),
            "lfsr_state": Out(LFSR_WIDTH),
            "rows_swept": Out(counter_width),
            "weight_writes": Out(counter_width),
            "sweeps": Out(counter_width),
            "clear_counters": In(1),
        })

    @property
    def cmd_layout(self) -> SweepCmdLayout:
        return self._layout

    def elaborate(self, platform):
        m = Module()
        K, P, lanes, ww = self._k, self._p, self._lanes, self._ww
        pr = self.params
        wpr_max = -(-self._cols // lanes)
        pshape = post_shape(K)
        pw = pshape.width

        # ---- per-bank LFSR states ---------------------------------------------------
        lfsr = Array([Signal(LFSR_WIDTH, name=f"lfsr{b}", init=self._lfsr_init[b])
                      for b in range(self._banks)])
        m.d.comb += self.lfsr_state.eq(lfsr[self.lfsr_sel])
        with m.If(self.lfsr_load.en):
            m.d.sync += lfsr[self.lfsr_load.bank].eq(self.lfsr_load.data)

        # ---- post-term memory: one row of post terms, lanes per word -----------------
        m.submodules.post = post_mem = memory.Memory(shape=lanes * pw, depth=max(wpr_max, 2),
                                                     init=[])
        p_wr = post_mem.write_port(granularity=pw)
        p_rd = post_mem.read_port()

        m.submodules.fb = fb = FeedbackPost(classes=K, hidden=max(self._hidden, 1))

        # ---- command registers ------------------------------------------------------
        cmd = Signal(self._layout)
        sig = [Signal(signed(2), name=f"sig{k}") for k in range(K)]
        c = Signal(range(self._cols + 1))       # column of the post phase
        cw = Signal(range(wpr_max + 1))         # its word ...
        cl = Signal(range(lanes))               # ... and lane
        pc = Signal(range(P))                   # position inside the class (readout)
        cls = Signal(range(K))                  # class of column c (readout)
        r = Signal(range(self._rows + 1))
        k = Signal(range(wpr_max + 1))
        col0 = Signal(range(wpr_max * lanes + 1))   # k * lanes
        row_addr = Signal(range(max(self._depth, 2) + wpr_max))
        rel = Signal(range(max(self._mdepth, 2) + wpr_max))
        x = Signal(self._tw)
        readout = cmd.readout
        shift = Signal(range(SHIFT_MAX + 1))
        eta = Signal(ETA_WIDTH)
        m.d.comb += [
            shift.eq(Mux(readout, pr.eta_readout_shift, pr.eta_hidden_shift)),
            eta.eq(Mux(readout, pr.eta_readout, pr.eta_hidden)),
            fb.seed.eq(pr.seed), fb.j.eq(cmd.j0 + c),
        ]
        m.d.comb += [fb.sig[i].eq(sig[i]) for i in range(K)]

        # ---- datapath of one word (valid in WRITE) -----------------------------------
        state = Signal(LFSR_WIDTH)
        m.d.comb += state.eq(lfsr[cmd.bank])
        lane_states = lfsr_states(m, state, lanes, name="lane")
        rmask = ((C(1, SHIFT_MAX + 1) << shift) - 1)[:SHIFT_MAX]
        remaining = Signal(range(wpr_max * lanes + 1))
        m.d.comb += remaining.eq(cmd.cols - col0)
        n_valid = Signal(range(lanes + 1))
        m.d.comb += n_valid.eq(Mux(remaining >= lanes, lanes, remaining))
        new_words, changed = [], []
        for p in range(lanes):
            w_old = self.mem.rdata[p * ww:(p + 1) * ww].as_signed()
            post_p = p_rd.data[p * pw:(p + 1) * pw].as_signed()
            rnd = lane_states[p] & rmask
            prod = x * post_p
            dw = Signal(signed(max(prod.shape().width, LFSR_WIDTH + 1) + 2), name=f"dw{p}")
            m.d.comb += dw.eq((prod + rnd) >> shift)
            w_new = Signal(signed(ww), name=f"w_new{p}")
            m.d.comb += w_new.eq(saturate(w_old + dw, signed(ww)))
            live = (n_valid > p) & (~readout | self.mask.data[p])
            new_words.append(Mux(live, w_new, w_old))
            changed.append(live & (w_new != w_old))
        lfsr_next = Signal(LFSR_WIDTH)
        m.d.comb += lfsr_next.eq(Array([state, *lane_states])[n_valid])

        # ---- control ----------------------------------------------------------------
        adv_col = Signal()      # the post phase finishes column c this cycle
        adv_row = Signal()      # the sweep moves to row r + 1 this cycle
        m.d.comb += [
            self.gate.addr.eq(cmd.j0 + c + adv_col),
            self.trace.addr.eq(cmd.trace_base + r + adv_row),
            self.mem.addr.eq(row_addr + k),
            self.mask.addr.eq(rel + k),
            p_rd.addr.eq(k),
            self.mem.wdata.eq(Cat(*new_words)),
            p_wr.addr.eq(cw),
        ]
        post_value = Signal(pshape)
        write_post = Signal()
        m.d.comb += [p_wr.data.eq(post_value.as_unsigned().replicate(lanes)),
                     p_wr.en.eq(Mux(write_post, (C(1, lanes) << cl)[:lanes], 0))]
        m.d.sync += self.done.eq(0)

        def next_col():
            m.d.comb += [adv_col.eq(1), write_post.eq(1)]
            m.d.sync += c.eq(c + 1)
            with m.If(cl == lanes - 1):
                m.d.sync += [cl.eq(0), cw.eq(cw + 1)]
            with m.Else():
                m.d.sync += cl.eq(cl + 1)
            with m.If(pc == P - 1):
                m.d.sync += [pc.eq(0), cls.eq(cls + 1)]
            with m.Else():
                m.d.sync += pc.eq(pc + 1)
            with m.If(c + 1 == cmd.cols):
                m.next = "ROW"
            with m.Else():
                m.next = "POST"

        def next_row():
            with m.If(r + 1 == cmd.rows):
                m.next = "DONE"
            with m.Else():
                m.d.comb += adv_row.eq(1)
                m.d.sync += [r.eq(r + 1), row_addr.eq(row_addr + cmd.words),
                             rel.eq(rel + cmd.words)]
                m.next = "ROW" if self._trace_latency == 1 else "ROW_WAIT"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1),
                             self.gate.addr.eq(self.cmd.payload.j0),
                             self.trace.addr.eq(self.cmd.payload.trace_base)]
                with m.If(self.cmd.valid):
                    pl = self.cmd.payload
                    m.d.sync += [cmd.eq(pl), c.eq(0), cw.eq(0), cl.eq(0), pc.eq(0),
                                 cls.eq(0), r.eq(0), k.eq(0), col0.eq(0),
                                 row_addr.eq(pl.base), rel.eq(0)]
                    m.d.sync += [sig[i].eq(self.m[i] - self.m[K + i]) for i in range(K)]
                    enabled = pr.learn & Mux(pl.readout, pr.learn_readout, pr.learn_hidden)
                    with m.If(enabled):
                        m.d.sync += self.sweeps.eq(self.sweeps + 1)
                        m.next = "POST"
                    with m.Else():
                        m.next = "DONE"
            with m.State("POST"):
                g = Mux(pr.post_from_trace, self.gate.xpos, self.gate.psi)
                with m.If(readout):
                    m.d.comb += post_value.eq(eta * Array(sig)[cls])
                    next_col()
                with m.Elif(g):
                    m.d.comb += fb.start.eq(1)
                    m.next = "HASH"
                with m.Else():
                    m.d.comb += post_value.eq(0)
                    next_col()
            with m.State("HASH"):
                with m.If(fb.done):
                    m.d.comb += post_value.eq(eta * fb.acc)
                    next_col()
            with m.State("ROW_WAIT"):      # trace_latency 2: the address is held
                m.next = "ROW"
            with m.State("ROW"):
                x_eff = Mux(~readout & self.trace.hidden & ~pr.learn_recurrent, 0,
                            self.trace.x)
                with m.If(x_eff != 0):
                    m.d.sync += [x.eq(x_eff), k.eq(0), col0.eq(0),
                                 self.rows_swept.eq(self.rows_swept + 1)]
                    m.next = "READ"
                with m.Else():
                    next_row()
            with m.State("READ"):
                m.d.comb += [self.mem.re.eq(1), p_rd.en.eq(1)]
                m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.mem.we.eq(1)
                m.d.sync += [lfsr[cmd.bank].eq(lfsr_next),
                             self.weight_writes.eq(self.weight_writes + sum(changed))]
                with m.If(k + 1 == cmd.words):
                    next_row()
                with m.Else():
                    m.d.sync += [k.eq(k + 1), col0.eq(col0 + lanes)]
                    m.next = "READ"
            with m.State("DONE"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~self.cmd.ready)
        with m.If(self.clear_counters):
            m.d.sync += [self.rows_swept.eq(0), self.weight_writes.eq(0), self.sweeps.eq(0)]
        return m
