"""The plasticity sweep's datapath for one weight word (rtl/plasticity.py, phase 5 of
docs/architecture.md): the pipeline from a word's read to its write-back.

Split out of :class:`rtl.plasticity.PlasticityUnit` so that file holds the engine's
control; :class:`WordPipeline` adds its logic to the unit's module (no sub-component, so
the elaborated design is the one the unit always had).
"""
from types import SimpleNamespace

from amaranth.hdl import C, Cat, Mux, Signal, signed
from amaranth.utils import bits_for

from .lfsr import LFSR_WIDTH, lfsr_states
from .lif import saturate
from .plasticity_math import SHIFT_MAX, shift_clamp

__all__ = ["WordPipeline", "WB_LATENCY", "word_schedule"]

WB_LATENCY = 5          # cycles from a weight word's read to its write-back, one beat a word


def word_schedule(beats: int) -> tuple[int, int]:
    """``(period, latency)`` of a word that takes ``beats`` cycles through the lanes: a
    read every ``period`` cycles, its write-back ``latency`` cycles after it. One beat:
    a read every other cycle, written 5 cycles later (odd, so writes fall between
    reads). More (a power of two): a read every ``beats`` cycles, written as soon as its
    last beat's new lanes are registered, ``beats + 3`` cycles on, which is never a read
    slot (3 beats would put it on one)."""
    if beats == 1:
        return 2, WB_LATENCY
    return beats, beats + 3


class WordPipeline:
    """Builds the word datapath for words of ``lanes`` weights of ``weight_width`` bits,
    ``sweep_lanes`` of them a cycle (a word in ``lanes // sweep_lanes`` beats: the
    multipliers are the sweep lanes', so a wide crossbar word need not bring as many
    DSP blocks), with post terms of ``term_width`` bits; ``shift_by_multiply`` as
    :class:`PlasticityUnit`."""

    def __init__(self, *, lanes: int, sweep_lanes: int, weight_width: int, term_width: int,
                 shift_by_multiply: bool):
        beats = lanes // sweep_lanes
        if lanes % sweep_lanes or beats & (beats - 1):
            raise ValueError(f"sweep_lanes = {sweep_lanes} must be lanes = {lanes} divided "
                             f"by a power of two")
        self._lanes, self._sweep, self._beats = lanes, sweep_lanes, beats
        self._ww, self._tw = weight_width, term_width
        self.period, self.latency = word_schedule(beats)   # a read every period cycles
        self._shift_by_multiply = shift_by_multiply

    def build(self, m, r, state, terms, mem, mask, weight_writes):
        """Adds the pipeline to ``m``. ``r``: the unit's command registers (``cmd``,
        ``k``, ``x``, ``readout``, ``shift``); ``state``: the running bank's LFSR state;
        ``terms``: the post-term memory's read data; ``mem`` / ``mask``: the weight and
        mask ports. Returns the strobes (``rd`` is the caller's to drive), the lane states
        and the word to write back."""
        # A word read in cycle t goes through the lanes in beats b = 0 .. B-1, beat b in
        # E1 in cycle t + 1 + b (the read data, post terms and mask bits are valid in
        # t + 1; beats 1.. take them from a register shifted a beat at a time). E1
        # registers the products x*eta*term and the scaled rounding bits and steps the
        # LFSR, E2 dw and the rounding carry, E3 the new lanes (shifted into the word to
        # write), E4 whether they changed. The word is written ``latency`` cycles after
        # its read (:func:`word_schedule`); a row of n words takes
        # ``period * (n - 1) + latency + 1`` cycles.
        # dw = (x*eta * term + R) >> shift, R = rnd & (2^shift - 1): the docstring's
        # (x * post + R) >> shift. Only dw's clamp to ww + 1 bits matters for sat(w + dw).
        cmd, lanes, S, B, ww = r.cmd, self._lanes, self._sweep, self._beats, self._ww
        period, latency = self.period, self.latency
        rd = Signal()                           # a word is read this cycle
        vs = [rd] + [Signal(name=f"v{i}") for i in range(1, latency + 1)]  # rd, delayed
        lasts = [Signal(name=f"last{i}") for i in range(1, latency + 1)]  # ... row's last
        last_word = Signal()
        m.d.comb += last_word.eq(r.k + 1 == cmd.words)
        m.d.sync += [vs[i + 1].eq(vs[i]) for i in range(latency)]
        m.d.sync += lasts[0].eq(rd & last_word)
        m.d.sync += [lasts[i + 1].eq(lasts[i]) for i in range(latency - 1)]
        first, v_w, last1, last_w = vs[1], vs[latency], lasts[0], lasts[-1]
        # the beat in each stage: es[i] holds in E_i
        es = [None, Signal(name="e1"), Signal(name="e2"), Signal(name="e3"),
              Signal(name="e4")]
        if B > 1:
            beats_left = Signal(range(B))       # beats of the word still to enter E1
            with m.If(first):
                m.d.sync += beats_left.eq(B - 1)
            with m.Elif(beats_left != 0):
                m.d.sync += beats_left.eq(beats_left - 1)
            m.d.comb += es[1].eq(first | (beats_left != 0))
        else:
            m.d.comb += es[1].eq(first)
        m.d.sync += [es[i + 1].eq(es[i]) for i in range(1, 4)]
        # the beat's weights, post terms and mask bits: the read data at beat 0, then a
        # register shifted down a beat at a time
        src_w, src_t, src_m = (self._beat_source(m, first, es[1], data, n)
                               for data, n in ((mem.rdata, ww), (terms, self._tw),
                                               (mask.data, 1)))
        # how many of the word's lanes are columns (the row's last word may be short),
        # and of those how many are in this beat
        nb = bits_for(lanes)
        last_n = (cmd.cols - (cmd.words - 1) * lanes)[:nb]
        n_valid = Signal(range(S + 1))          # of the beat in E1
        if B > 1:
            rem = Signal(range(lanes + 1))      # the word's columns from this beat on
            rem_q = Signal(range(lanes + 1))
            m.d.comb += rem.eq(Mux(first, Mux(last1, last_n, lanes), rem_q))
            with m.If(es[1]):
                m.d.sync += rem_q.eq(Mux(rem > S, rem - S, 0))
            m.d.comb += n_valid.eq(Mux(rem > S, S, rem))
        else:
            m.d.comb += n_valid.eq(Mux(last1, last_n, lanes))
        lane_states = lfsr_states(m, state, S, name="lane")
        rounding = self._rounding(m, r.shift)
        new_lanes, changed = [], []
        wdata = Signal(lanes * ww)              # the word to write back, built at E3
        top = wdata[(lanes - S) * ww:]          # ... whose newest beat is at the top
        for p in range(S):
            new_lane, lane_changed = self._lane(m, p, r, es, n_valid, src_w, src_t, src_m,
                                                top, lane_states[p], rounding)
            new_lanes.append(new_lane)
            changed.append(lane_changed)
        with m.If(es[3]):
            m.d.sync += wdata.eq(Cat(wdata[S * ww:], *new_lanes) if B > 1
                                 else Cat(*new_lanes))
        changed_q = Signal(S)
        m.d.sync += [changed_q.eq(Mux(es[4], Cat(*changed), 0)),
                     weight_writes.eq(weight_writes + sum(changed_q))]
        return SimpleNamespace(rd=rd, e1=es[1], v_w=v_w, last_w=last_w, last_word=last_word,
                               lane_states=lane_states, n_valid=n_valid, wdata=wdata,
                               period=period)

    def _beat_source(self, m, first, e1, data, width):
        """The beat in E1's ``sweep_lanes`` fields of ``width`` bits out of ``data`` (a
        word of ``lanes`` fields, valid in the cycle after the read)."""
        if self._beats == 1:
            return data
        rest = Signal((self._lanes - self._sweep) * width)
        now = Mux(first, data, rest)
        with m.If(e1):
            m.d.sync += rest.eq(now[self._sweep * width:])
        return now

    def _rounding(self, m, shift):
        """The running command's rounding mask or scale, from its shift, computed once for
        every lane (with ``shift_by_multiply``: ``(scale, no_shift)``; else ``rmask``)."""
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
            return scale, no_shift
        rmask = Signal(LFSR_WIDTH)
        m.d.comb += rmask.eq(((C(1, SHIFT_MAX + 1) << shift) - 1)[:SHIFT_MAX])
        return rmask

    def _lane(self, m, p, r, es, n_valid, words, terms, mask, top, lane_state, rounding):
        """Sweep lane ``p`` (of each beat): returns its new weight (E3) and whether it
        changed (E4, against ``top``, the newest beat of the word to write)."""
        ww, tw_ = self._ww, self._tw
        # E1: the products, the old word, whether the lane is written
        w_old = words[p * ww:(p + 1) * ww].as_signed()
        term = terms[p * tw_:(p + 1) * tw_].as_signed()
        prod = Signal(signed(len(r.x) + tw_), name=f"prod{p}")
        w1, w2, w3 = (Signal(signed(ww), name=f"w{i}_{p}") for i in (1, 2, 3))
        live1, live2, live3 = (Signal(name=f"live{i}_{p}") for i in (1, 2, 3))
        # (each stage's registers load when it holds a beat, and keep it)
        with m.If(es[1]):
            m.d.sync += [prod.eq(r.x * term), w1.eq(w_old),
                         live1.eq((n_valid > p) & (~r.readout | mask[p]))]
        with m.If(es[2]):
            m.d.sync += [w2.eq(w1), live2.eq(live1)]
        with m.If(es[3]):
            m.d.sync += [w3.eq(w2), live3.eq(live2)]
        # E2: dw (clamped) and the rounding carry
        dw = Signal(signed(ww + 1), name=f"dw{p}")
        carry = Signal(name=f"carry{p}")
        if self._shift_by_multiply:
            self._dw_by_multiply(m, p, es, prod, lane_state, rounding, dw, carry)
        else:
            self._dw_by_shift(m, p, es, prod, lane_state, rounding, r.shift, dw, carry)
        # E3: the new weight
        w_new = Signal(signed(ww), name=f"w_new{p}")
        m.d.comb += w_new.eq(saturate(w2 + dw + carry, signed(ww)))
        # E4: did it change (counted the cycle after)
        changed = live3 & (w3 != top[p * ww:(p + 1) * ww].as_signed())
        return Mux(live2, w_new, w2), changed

    def _dw_by_multiply(self, m, p, es, prod, lane_state, rounding, dw, carry):
        """E2 with ``shift_by_multiply``: ``dw`` and the carry from ``prod * scale`` (the
        scaling in :meth:`_rounding`), no shifter."""
        scale, no_shift = rounding
        ww = self._ww
        rs = Signal(LFSR_WIDTH, name=f"rs{p}")      # R * 2^(16 - shift)
        with m.If(es[1]):
            m.d.sync += rs.eq((lane_state * scale)[:LFSR_WIDTH])
        y = Signal(signed(len(prod) + LFSR_WIDTH), name=f"y{p}")
        m.d.comb += y.eq(prod * scale)
        with m.If(es[2]):
            m.d.sync += [
                carry.eq((y[:LFSR_WIDTH] + rs)[LFSR_WIDTH]),
                dw.eq(Mux(no_shift, saturate(prod, signed(ww + 1)),
                          saturate(y[LFSR_WIDTH:].as_signed(), signed(ww + 1)))),
            ]

    def _dw_by_shift(self, m, p, es, prod, lane_state, rmask, shift, dw, carry):
        """E2 without ``shift_by_multiply``: ``dw`` from the rounded product through the
        clamping shifter (:func:`shift_clamp`); the carry is 0."""
        r_q = Signal(LFSR_WIDTH, name=f"r{p}")
        with m.If(es[1]):
            m.d.sync += r_q.eq(lane_state & rmask)
        v = Signal(signed(max(len(prod), LFSR_WIDTH + 1) + 1), name=f"v{p}")
        m.d.comb += v.eq(prod + r_q)
        with m.If(es[2]):
            m.d.sync += [dw.eq(shift_clamp(v, shift, self._ww + 1)), carry.eq(0)]
