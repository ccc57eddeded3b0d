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
   word by word through a pipeline (the weight memory is single ported: a read every
   other cycle, each word written back ``WB_LATENCY = 5`` cycles after its read, in the
   cycles between; ``2 * words + 4`` cycles a row). Lane ``p`` of word ``k`` is column
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
from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .hash import FeedbackPost, feedback_sum_bound
from .lfsr import LFSR_WIDTH, lfsr_states
from .lif import saturate
from .memory import WeightPortSignature   # the sweep's port onto a weight bank

__all__ = ["WeightPortSignature", "TracePortSignature", "GatePortSignature",
           "MaskPortSignature", "PlasticityParamsSignature", "LfsrLoadSignature",
           "SweepCmdLayout", "PlasticityUnit", "TraceUpdate", "trace_update",
           "post_shape", "term_shape", "shift_clamp", "SHIFT_MAX", "WB_LATENCY"]

SHIFT_MAX = 16          # learning.eta_*_shift: 0..16 (the LFSR gives 16 rounding bits)
ETA_WIDTH = 8           # learning.eta_*: 0..255
WB_LATENCY = 5          # cycles from a weight word's read to its write-back (odd)


def _idx(count: int):
    return unsigned(max(1, bits_for(max(count, 1) - 1)))


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
    return signed(term_shape(classes).width + ETA_WIDTH)


def term_shape(classes: int):
    """Signed shape of a post term without its ``eta``, as the post-term memory keeps it:
    ``sum_k Bc[j,k] sig_k`` (hidden; ``|.| <= K*K``, rtl.hash.feedback_sum_bound) or
    ``sig`` (readout)."""
    return signed(bits_for(feedback_sum_bound(classes)) + 1)


def _pow2(n: int) -> bool:
    return n & (n - 1) == 0


def _log2(n: int) -> int:
    return n.bit_length() - 1


def shift_clamp(value, shift, width: int):
    """``clamp(value >> shift, -2^(width-1), 2^(width-1) - 1)`` (arithmetic shift) for a
    signed ``value`` and an unsigned ``shift``: a logarithmic shifter whose stages drop the
    bits that can only land above the result (they must be copies of the sign, or the
    result saturates), so no stage is wider than the result needs."""
    value = Value.cast(value)
    shift = Value.cast(shift)
    sign = value[-1]
    lo = value[:-1]
    over = C(0, 1)

    def drop(lo, over, keep):
        if len(lo) > keep:
            over = over | (lo[keep:] != sign.replicate(len(lo) - keep))
            lo = lo[:keep]
        return lo, over

    for i in reversed(range(len(shift))):
        amt = 1 << i
        # the stages left shift by at most 2*amt - 1 (this one included)
        lo, over = drop(lo, over, width - 1 + 2 * amt - 1)
        if amt >= len(lo):
            shifted = sign.replicate(len(lo))
        else:
            shifted = Cat(lo[amt:], sign.replicate(amt))
        lo = Mux(shift[i], shifted, lo)
    lo, over = drop(lo, over, width - 1)
    lo = Cat(lo, sign.replicate(width - 1 - len(lo)))
    hi = C((1 << (width - 1)) - 1, width)
    return Mux(over, Mux(sign, ~hi, hi), Cat(lo, sign)).as_signed()


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
    ``depth`` (weight words), ``trace_depth``, ``mask_depth``, ``counter_width``,
    ``trace_latency``, ``lfsr_init`` (every bank's reset state), ``shift_by_multiply``
    (True: ``>> shift`` as multiplies by ``2^(16 - shift)``, two more multipliers a lane
    that a ``-dsp`` build puts in DSP blocks, instead of a shifter in logic), ``eta_max``
    (the largest ``eta_hidden`` / ``eta_readout`` the params will carry, default 255: it
    sizes ``x * eta`` and so the registered product, which must fit one DSP's input).

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
                 shift_by_multiply: bool = True, eta_max: int = (1 << ETA_WIDTH) - 1):
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
        if not isinstance(eta_max, int) or not 0 <= eta_max < 1 << ETA_WIDTH:
            raise ValueError(f"eta_max must be 0..{(1 << ETA_WIDTH) - 1}, not {eta_max!r}")
        self._eta_max = eta_max
        self._shift_by_multiply = bool(shift_by_multiply)
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
        tshape = term_shape(K)
        tw_ = tshape.width

        # ---- per-bank LFSR states ---------------------------------------------------
        # a register per bank; one read mux (the running command's bank while busy, else
        # lfsr_sel); one next-state value for all, each register with its own enable (a
        # word's LFSR step of its bank, or a load while idle). The datapath steps a copy of
        # the running command's state (``state``, off the read mux), which follows the
        # bank's register a cycle late and is stepped with it
        cmd = Signal(self._layout)              # the running command
        lfsr = [Signal(LFSR_WIDTH, name=f"lfsr{b}", init=self._lfsr_init[b])
                for b in range(self._banks)]
        sel_state = Signal(LFSR_WIDTH)
        state = Signal(LFSR_WIDTH)
        m.d.comb += [sel_state.eq(Array(lfsr)[Mux(self.busy, cmd.bank, self.lfsr_sel)]),
                     self.lfsr_state.eq(sel_state)]

        # ---- post-term memory: one row of post terms (without eta), lanes per word ----
        m.submodules.post = post_mem = memory.Memory(shape=lanes * tw_,
                                                     depth=max(wpr_max, 2), init=[])
        p_wr = post_mem.write_port(granularity=tw_)
        p_rd = post_mem.read_port()

        m.submodules.fb = fb = FeedbackPost(classes=K, hidden=max(self._hidden, 1))

        # ---- command registers ------------------------------------------------------
        # the class signals m_k - m_(K+k), from m (held while commands run)
        sig = [Signal(signed(2), name=f"sig{k}") for k in range(K)]
        m.d.comb += [sig[i].eq(self.m[i] - self.m[K + i]) for i in range(K)]
        # column of the post phase; in the sweep, the word of the row (k)
        c = Signal(range(max(self._cols, wpr_max) + 1))
        j = Signal(_idx(self._hidden))          # its hidden index, j0 + c
        if _pow2(lanes):                        # its word and lane
            cw, cl = c[_log2(lanes):], c[:_log2(lanes)]
        else:
            cw, cl = Signal(range(wpr_max + 1)), Signal(range(lanes))
        if _pow2(P):                            # its class (readout)
            cls, pc = c[_log2(P):], None
        else:
            cls, pc = Signal(range(K)), Signal(range(P))
        rows_left = Signal(range(self._rows + 1))
        # the trace address given: POST, HASH: row 0's; ROW, RMW: the next row's;
        # ROW_WAIT: the row's
        ta = Signal(self.trace.addr.shape())
        jn = Signal(self.gate.addr.shape())     # the gate address given: column c + 1's
        k = c                                   # the post phase is over by then
        waddr = Signal(range(max(self._depth, 2) + wpr_max))    # weight word address
        wr_addr = Signal.like(waddr)            # ... of the next write-back
        reading = Signal()                      # the row has words to read
        odd = Signal()                          # a write-back cycle (no read)
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

        # ---- datapath of one word: a pipeline from the read to the write-back ------------
        # A word read in cycle t is written back in cycle t + WB_LATENCY (5, odd): E1 (t + 1,
        # the read data, the post terms and the mask bits are valid) registers the products
        # x*eta*term and the scaled rounding bits and steps the LFSR, E2 (t + 2) dw and the
        # rounding carry, E3 (t + 3) the new word, E4 (t + 4) whether it changed; it is
        # written in t + 5. Reads go in every other cycle, so the writes fall in the cycles
        # between: a row of n words takes 2n + WB_LATENCY - 1 cycles.
        # dw = (x*eta * term + R) >> shift, R = rnd & (2^shift - 1): the docstring's
        # (x * post + R) >> shift. Only dw's clamp to ww + 1 bits matters for sat(w + dw).
        rd = Signal()                           # a word is read this cycle
        vs = [rd] + [Signal(name=f"v{i}") for i in range(1, WB_LATENCY + 1)]  # stage holds
        lasts = [Signal(name=f"last{i}") for i in range(1, WB_LATENCY + 1)]  # ... row's last
        last_word = Signal()
        m.d.comb += last_word.eq(k + 1 == cmd.words)
        m.d.sync += [vs[i + 1].eq(vs[i]) for i in range(WB_LATENCY)]
        m.d.sync += lasts[0].eq(rd & last_word)
        m.d.sync += [lasts[i + 1].eq(lasts[i]) for i in range(WB_LATENCY - 1)]
        v1, v_w, last1, last_w = vs[1], vs[WB_LATENCY], lasts[0], lasts[-1]
        lane_states = lfsr_states(m, state, lanes, name="lane")
        nb = bits_for(lanes)
        last_n = (cmd.cols - (cmd.words - 1) * lanes)[:nb]
        n_valid = Signal(range(lanes + 1))      # of the word in E1
        m.d.comb += n_valid.eq(Mux(last1, last_n, lanes))
        if self._shift_by_multiply:
            # no shifter: with P = x*eta*term, floor((P + R) / 2^shift) = floor(P / 2^shift)
            # + carry, carry = [P mod 2^shift + R >= 2^shift]. Scaled by 2^(16 - shift)
            # (multipliers: DSP blocks), y = P * 2^(16 - shift) holds floor(P / 2^shift)
            # from bit 16 up and (P mod 2^shift) * 2^(16 - shift) below, and R * 2^(16 -
            # shift) is the low half of rnd * 2^(16 - shift): carry is the carry out of a
            # 16-bit add. shift 0: dw = P (R = 0); shift > SHIFT_MAX: scale 0, dw = 0.
            # the running command's scale, registered (the shift's mux off the datapath)
            scale = Signal(LFSR_WIDTH)          # 2^(16 - shift), 0 for shift 0 or > 16
            no_shift = Signal()
            m.d.sync += [scale.eq((C(1 << LFSR_WIDTH, LFSR_WIDTH + 1) >> shift)[:LFSR_WIDTH]),
                         no_shift.eq(shift == 0)]
        else:
            rmask = Signal(LFSR_WIDTH)
            m.d.comb += rmask.eq(((C(1, SHIFT_MAX + 1) << shift) - 1)[:SHIFT_MAX])
        new_words, changed = [], []
        for p in range(lanes):
            # E1: the products, the old word, whether the lane is written
            w_old = self.mem.rdata[p * ww:(p + 1) * ww].as_signed()
            term = p_rd.data[p * tw_:(p + 1) * tw_].as_signed()
            prod = Signal(signed(len(x) + tw_), name=f"prod{p}")
            w1, w2, w3 = (Signal(signed(ww), name=f"w{i}_{p}") for i in (1, 2, 3))
            live1, live2, live3 = (Signal(name=f"live{i}_{p}") for i in (1, 2, 3))
            # (each stage's registers load when it holds a word, and keep it: a word
            # moves on every other cycle)
            with m.If(vs[1]):
                m.d.sync += [prod.eq(x * term), w1.eq(w_old),
                             live1.eq((n_valid > p) & (~readout | self.mask.data[p]))]
            with m.If(vs[2]):
                m.d.sync += [w2.eq(w1), live2.eq(live1)]
            with m.If(vs[3]):
                m.d.sync += [w3.eq(w2), live3.eq(live2)]
            # E2: dw (clamped) and the rounding carry
            dw = Signal(signed(ww + 1), name=f"dw{p}")
            carry = Signal(name=f"carry{p}")
            if self._shift_by_multiply:
                rs = Signal(LFSR_WIDTH, name=f"rs{p}")      # R * 2^(16 - shift)
                with m.If(vs[1]):
                    m.d.sync += rs.eq((lane_states[p] * scale)[:LFSR_WIDTH])
                y = Signal(signed(len(prod) + LFSR_WIDTH), name=f"y{p}")
                m.d.comb += y.eq(prod * scale)
                with m.If(vs[2]):
                    m.d.sync += [
                        carry.eq((y[:LFSR_WIDTH] + rs)[LFSR_WIDTH]),
                        dw.eq(Mux(no_shift, saturate(prod, signed(ww + 1)),
                                  saturate(y[LFSR_WIDTH:].as_signed(), signed(ww + 1)))),
                    ]
            else:
                r_q = Signal(LFSR_WIDTH, name=f"r{p}")
                with m.If(vs[1]):
                    m.d.sync += r_q.eq(lane_states[p] & rmask)
                v = Signal(signed(max(len(prod), LFSR_WIDTH + 1) + 1), name=f"v{p}")
                m.d.comb += v.eq(prod + r_q)
                with m.If(vs[2]):
                    m.d.sync += [dw.eq(shift_clamp(v, shift, ww + 1)), carry.eq(0)]
            # E3: the new weight
            w_new = Signal(signed(ww), name=f"w_new{p}")
            m.d.comb += w_new.eq(saturate(w2 + dw + carry, signed(ww)))
            new_words.append(Mux(live2, w_new, w2))
            # E4: did it change (counted the cycle after)
            changed.append(live3 & (w3 != self.mem.wdata[p * ww:(p + 1) * ww].as_signed()))
        wdata = Signal(lanes * ww)              # E3 -> the write-back
        with m.If(vs[3]):
            m.d.sync += wdata.eq(Cat(*new_words))
        changed_q = Signal(lanes)
        m.d.sync += [changed_q.eq(Mux(vs[4], Cat(*changed), 0)),
                     self.weight_writes.eq(self.weight_writes + sum(changed_q))]
        # the bank's LFSR steps past the word's lanes in E1
        lfsr_next = Signal(LFSR_WIDTH)
        m.d.comb += lfsr_next.eq(Array([state, *lane_states])[n_valid])
        stepping = Signal()
        m.d.comb += stepping.eq(v1)
        lfsr_d = Signal(LFSR_WIDTH)
        m.d.comb += lfsr_d.eq(Mux(stepping, lfsr_next, self.lfsr_load.data))
        m.d.sync += state.eq(Mux(stepping, lfsr_next, sel_state))
        for b in range(self._banks):
            with m.If((stepping & (cmd.bank == b)) |
                      (self.lfsr_load.en & (self.lfsr_load.bank == b))):
                m.d.sync += lfsr[b].eq(lfsr_d)

        # ---- control ----------------------------------------------------------------
        # the gate and trace ports are given the next column's / row's address in the
        # states that may move on to it (whether they do is not waited for: a read is
        # harmless), from registers, so no port address depends on the data read
        m.d.comb += [
            self.gate.addr.eq(Mux(self.cmd.ready, self.cmd.payload.j0, jn)),
            self.trace.addr.eq(ta),
            self.mem.addr.eq(Mux(v_w, wr_addr, waddr)),
            self.mask.addr.eq(waddr - cmd.base),
            p_rd.addr.eq(k),
            self.mem.wdata.eq(wdata),
            self.mem.re.eq(rd), p_rd.en.eq(rd), self.mem.we.eq(v_w),
            p_wr.addr.eq(cw),
        ]
        term_value = Signal(tshape)
        write_post = Signal()
        m.d.comb += [p_wr.data.eq(term_value.as_unsigned().replicate(lanes)),
                     p_wr.en.eq(Mux(write_post, (C(1, lanes) << cl)[:lanes], 0))]
        m.d.sync += self.done.eq(0)

        def next_col():
            m.d.comb += write_post.eq(1)
            m.d.sync += [c.eq(c + 1), j.eq(j + 1), jn.eq(jn + 1)]
            if not _pow2(lanes):
                with m.If(cl == lanes - 1):
                    m.d.sync += [cl.eq(0), cw.eq(cw + 1)]
                with m.Else():
                    m.d.sync += cl.eq(cl + 1)
            if not _pow2(P):
                with m.If(pc == P - 1):
                    m.d.sync += [pc.eq(0), cls.eq(cls + 1)]
                with m.Else():
                    m.d.sync += pc.eq(pc + 1)
            with m.If(c + 1 == cmd.cols):
                if self._trace_latency == 1:
                    m.d.sync += ta.eq(ta + 1)
                    m.next = "ROW"
                else:       # row 0's address may have been given for one cycle only
                    m.next = "ROW_WAIT"
            with m.Else():
                m.next = "POST"

        def next_row():
            with m.If(rows_left == 1):
                m.next = "DONE"
            with m.Else():
                m.d.sync += rows_left.eq(rows_left - 1)
                if self._trace_latency == 1:
                    m.d.sync += ta.eq(ta + 1)
                    m.next = "ROW"
                else:
                    m.next = "ROW_WAIT"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    pl = self.cmd.payload
                    m.d.sync += [cmd.eq(pl), c.eq(0), j.eq(pl.j0), jn.eq(pl.j0 + 1),
                                 rows_left.eq(pl.rows), ta.eq(pl.trace_base),
                                 waddr.eq(pl.base)]
                    if not _pow2(lanes):
                        m.d.sync += [cw.eq(0), cl.eq(0)]
                    if not _pow2(P):
                        m.d.sync += [pc.eq(0), cls.eq(0)]
                    enabled = pr.learn & Mux(pl.readout, pr.learn_readout, pr.learn_hidden)
                    with m.If(enabled):
                        m.d.sync += self.sweeps.eq(self.sweeps + 1)
                        m.next = "POST"
                    with m.Else():
                        m.next = "DONE"
            with m.State("POST"):
                g = Mux(pr.post_from_trace, self.gate.xpos, self.gate.psi)
                with m.If(readout):
                    m.d.comb += term_value.eq(Array(sig)[cls])
                    next_col()
                with m.Elif(g):
                    m.d.comb += fb.start.eq(1)
                    m.next = "HASH"
                with m.Else():
                    m.d.comb += term_value.eq(0)
                    next_col()
            with m.State("HASH"):
                with m.If(fb.done):
                    m.d.comb += term_value.eq(fb.acc)
                    next_col()
            with m.State("ROW_WAIT"):      # trace_latency 2: the row's address is held
                m.d.sync += ta.eq(ta + 1)
                m.next = "ROW"
            with m.State("ROW"):
                x_eff = Mux(~readout & self.trace.hidden & ~pr.learn_recurrent, 0,
                            self.trace.x)
                with m.If(x_eff != 0):
                    m.d.sync += [x.eq(x_eff * eta), k.eq(0), reading.eq(1), odd.eq(0),
                                 wr_addr.eq(waddr),
                                 self.rows_swept.eq(self.rows_swept + 1)]
                    m.next = "RMW"
                with m.Else():
                    m.d.sync += waddr.eq(waddr + cmd.words)
                    next_row()
            # the row's words: a read every other cycle (word k), the write-back of a word
            # WB_LATENCY cycles after its read, in the cycles between
            with m.State("RMW"):
                m.d.comb += rd.eq(reading & ~odd)
                m.d.sync += odd.eq(~odd)
                with m.If(rd):
                    m.d.sync += [waddr.eq(waddr + 1), k.eq(k + 1)]
                    with m.If(last_word):
                        m.d.sync += reading.eq(0)
                with m.If(v_w):
                    m.d.sync += wr_addr.eq(wr_addr + 1)
                    with m.If(last_w):
                        next_row()
            with m.State("DONE"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~self.cmd.ready)
        with m.If(self.clear_counters):
            m.d.sync += [self.rows_swept.eq(0), self.weight_writes.eq(0), self.sweeps.eq(0)]
        return m
