"""The fixed-point arithmetic of phases 5 and 6 (docs/architecture.md): the post-term
shapes, the clamping shifter of the sweep's ``dw`` and the pre-trace update.

Split out of rtl/plasticity.py, which re-exports every name, so that the sweep engine
there is only the engine; the learning unit (rtl/learn.py) uses :func:`trace_update`.
"""
from amaranth.hdl import C, Cat, Module, Mux, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .hash import feedback_sum_bound
from .lif import saturate

__all__ = ["SHIFT_MAX", "ETA_WIDTH", "post_shape", "term_shape", "shift_clamp",
           "trace_update", "TraceUpdate"]

SHIFT_MAX = 16          # learning.eta_*_shift: 0..16 (the LFSR gives 16 rounding bits)
ETA_WIDTH = 8           # learning.eta_*: 0..255


def post_shape(classes: int):
    """Signed shape of a post term: ``eta * sum_k Bc sig_k`` (hidden) or ``eta * sig``."""
    return signed(term_shape(classes).width + ETA_WIDTH)


def term_shape(classes: int):
    """Signed shape of a post term without its ``eta``, as the post-term memory keeps it:
    ``sum_k Bc[j,k] sig_k`` (hidden; ``|.| <= K*K``, rtl.hash.feedback_sum_bound) or
    ``sig`` (readout)."""
    return signed(bits_for(feedback_sum_bound(classes)) + 1)


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
