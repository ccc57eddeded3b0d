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

__all__ = ["WordPipeline", "WB_LATENCY"]

WB_LATENCY = 5          # cycles from a weight word's read to its write-back (odd)


class WordPipeline:
    """Builds the word datapath for ``lanes`` weights of ``weight_width`` bits and post
    terms of ``term_width`` bits; ``shift_by_multiply`` as :class:`PlasticityUnit`."""

    def __init__(self, *, lanes: int, weight_width: int, term_width: int,
                 shift_by_multiply: bool):
        self._lanes, self._ww, self._tw = lanes, weight_width, term_width
        self._shift_by_multiply = shift_by_multiply

    def build(self, m, r, state, terms, mem, mask, weight_writes):
        """Adds the pipeline to ``m``. ``r``: the unit's command registers (``cmd``,
        ``k``, ``x``, ``readout``, ``shift``); ``state``: the running bank's LFSR state;
        ``terms``: the post-term memory's read data; ``mem`` / ``mask``: the weight and
        mask ports. Returns the strobes (``rd`` is the caller's to drive), the lane states
        and the word to write back."""
        # A word read in cycle t is written back in cycle t + WB_LATENCY (5, odd): E1 (t + 1,
        # the read data, the post terms and the mask bits are valid) registers the products
        # x*eta*term and the scaled rounding bits and steps the LFSR, E2 (t + 2) dw and the
        # rounding carry, E3 (t + 3) the new word, E4 (t + 4) whether it changed; it is
        # written in t + 5. Reads go in every other cycle, so the writes fall in the cycles
        # between: a row of n words takes 2n + WB_LATENCY - 1 cycles.
        # dw = (x*eta * term + R) >> shift, R = rnd & (2^shift - 1): the docstring's
        # (x * post + R) >> shift. Only dw's clamp to ww + 1 bits matters for sat(w + dw).
        cmd, lanes, ww = r.cmd, self._lanes, self._ww
        rd = Signal()                           # a word is read this cycle
        vs = [rd] + [Signal(name=f"v{i}") for i in range(1, WB_LATENCY + 1)]  # stage holds
        lasts = [Signal(name=f"last{i}") for i in range(1, WB_LATENCY + 1)]  # ... row's last
        last_word = Signal()
        m.d.comb += last_word.eq(r.k + 1 == cmd.words)
        m.d.sync += [vs[i + 1].eq(vs[i]) for i in range(WB_LATENCY)]
        m.d.sync += lasts[0].eq(rd & last_word)
        m.d.sync += [lasts[i + 1].eq(lasts[i]) for i in range(WB_LATENCY - 1)]
        v1, v_w, last1, last_w = vs[1], vs[WB_LATENCY], lasts[0], lasts[-1]
        lane_states = lfsr_states(m, state, lanes, name="lane")
        nb = bits_for(lanes)
        last_n = (cmd.cols - (cmd.words - 1) * lanes)[:nb]
        n_valid = Signal(range(lanes + 1))      # of the word in E1
        m.d.comb += n_valid.eq(Mux(last1, last_n, lanes))
        rounding = self._rounding(m, r.shift)
        new_words, changed = [], []
        for p in range(lanes):
            new_word, lane_changed = self._lane(m, p, r, vs, n_valid, terms, mem, mask,
                                                lane_states[p], rounding)
            new_words.append(new_word)
            changed.append(lane_changed)
        wdata = Signal(lanes * ww)              # E3 -> the write-back
        with m.If(vs[3]):
            m.d.sync += wdata.eq(Cat(*new_words))
        changed_q = Signal(lanes)
        m.d.sync += [changed_q.eq(Mux(vs[4], Cat(*changed), 0)),
                     weight_writes.eq(weight_writes + sum(changed_q))]
        return SimpleNamespace(rd=rd, v1=v1, v_w=v_w, last_w=last_w, last_word=last_word,
                               lane_states=lane_states, n_valid=n_valid, wdata=wdata)

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

    def _lane(self, m, p, r, vs, n_valid, terms, mem, mask, lane_state, rounding):
        """Lane ``p``: returns its new weight (E3) and whether it changed (E4)."""
        ww, tw_ = self._ww, self._tw
        # E1: the products, the old word, whether the lane is written
        w_old = mem.rdata[p * ww:(p + 1) * ww].as_signed()
        term = terms[p * tw_:(p + 1) * tw_].as_signed()
        prod = Signal(signed(len(r.x) + tw_), name=f"prod{p}")
        w1, w2, w3 = (Signal(signed(ww), name=f"w{i}_{p}") for i in (1, 2, 3))
        live1, live2, live3 = (Signal(name=f"live{i}_{p}") for i in (1, 2, 3))
        # (each stage's registers load when it holds a word, and keep it: a word
        # moves on every other cycle)
        with m.If(vs[1]):
            m.d.sync += [prod.eq(r.x * term), w1.eq(w_old),
                         live1.eq((n_valid > p) & (~r.readout | mask.data[p]))]
        with m.If(vs[2]):
            m.d.sync += [w2.eq(w1), live2.eq(live1)]
        with m.If(vs[3]):
            m.d.sync += [w3.eq(w2), live3.eq(live2)]
        # E2: dw (clamped) and the rounding carry
        dw = Signal(signed(ww + 1), name=f"dw{p}")
        carry = Signal(name=f"carry{p}")
        if self._shift_by_multiply:
            self._dw_by_multiply(m, p, vs, prod, lane_state, rounding, dw, carry)
        else:
            self._dw_by_shift(m, p, vs, prod, lane_state, rounding, r.shift, dw, carry)
        # E3: the new weight
        w_new = Signal(signed(ww), name=f"w_new{p}")
        m.d.comb += w_new.eq(saturate(w2 + dw + carry, signed(ww)))
        # E4: did it change (counted the cycle after)
        changed = live3 & (w3 != mem.wdata[p * ww:(p + 1) * ww].as_signed())
        return Mux(live2, w_new, w2), changed

    def _dw_by_multiply(self, m, p, vs, prod, lane_state, rounding, dw, carry):
        """E2 with ``shift_by_multiply``: ``dw`` and the carry from ``prod * scale`` (the
        scaling in :meth:`_rounding`), no shifter."""
        scale, no_shift = rounding
        ww = self._ww
        rs = Signal(LFSR_WIDTH, name=f"rs{p}")      # R * 2^(16 - shift)
        with m.If(vs[1]):
            m.d.sync += rs.eq((lane_state * scale)[:LFSR_WIDTH])
        y = Signal(signed(len(prod) + LFSR_WIDTH), name=f"y{p}")
        m.d.comb += y.eq(prod * scale)
        with m.If(vs[2]):
            m.d.sync += [
                carry.eq((y[:LFSR_WIDTH] + rs)[LFSR_WIDTH]),
                dw.eq(Mux(no_shift, saturate(prod, signed(ww + 1)),
                          saturate(y[LFSR_WIDTH:].as_signed(), signed(ww + 1)))),
            ]

    def _dw_by_shift(self, m, p, vs, prod, lane_state, rmask, shift, dw, carry):
        """E2 without ``shift_by_multiply``: ``dw`` from the rounded product through the
        clamping shifter (:func:`shift_clamp`); the carry is 0."""
        r_q = Signal(LFSR_WIDTH, name=f"r{p}")
        with m.If(vs[1]):
            m.d.sync += r_q.eq(lane_state & rmask)
        v = Signal(signed(max(len(prod), LFSR_WIDTH + 1) + 1), name=f"v{p}")
        m.d.comb += v.eq(prod + r_q)
        with m.If(vs[2]):
            m.d.sync += [dw.eq(shift_clamp(v, shift, self._ww + 1)), carry.eq(0)]
