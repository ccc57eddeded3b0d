"""The feedback hash of docs/architecture.md section 6 and the centred feedback sum.

* :func:`oat32`: 32-bit Jenkins one-at-a-time over key bytes from a seed, as an
  expression of adds, shifts and xors (no multiplier).
* :class:`Oat32`: that expression as a combinational component (for tests).
* :class:`FeedbackPost`: for one post neuron ``j`` and the class signals ``sig_k`` it
  computes ``sum_k Bc[j,k] sig_k`` with ``Bc[j,k] = K*B[j,k] - S_j``,
  ``S_j = sum_k B[j,k]``, ``B[j,k] = +1`` if bit 31 of
  ``oat32(seed ^ 0xFEED0000, k, j & 255, j >> 8)`` is set, else ``-1``. One hash per
  cycle, ``K`` cycles: ``A = sum_k B sig_k`` and ``S`` accumulate, then
  ``sum_k Bc sig_k = K*A - S*sum_k sig_k``. Neither ``B`` nor ``Bc`` is ever stored.
"""
from amaranth.hdl import Array, C, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

__all__ = ["FEEDBACK_KEY", "oat32", "Oat32", "FeedbackPost", "feedback_acc_shape"]

FEEDBACK_KEY = 0xFEED_0000
_M = 32


def oat32(m, seed, *key_bytes, name="oat"):
    """``oat32(seed, b0, b1, ...)``: each key byte is taken modulo 256 (its low 8 bits).
    Every intermediate is a combinational signal of module ``m`` (an expression tree would
    repeat each operand twice per stage: exponential Verilog)."""
    n = [0]

    def reg(expr):
        sig = Signal(_M, name=f"{name}_h{n[0]}")
        n[0] += 1
        m.d.comb += sig.eq(expr)
        return sig

    h = reg(Value.cast(seed)[:_M])
    for b in key_bytes:
        h = reg(h + Value.cast(b)[:8])
        h = reg(h + (h << 10))
        h = reg(h ^ (h >> 6))
    h = reg(h + (h << 3))
    h = reg(h ^ (h >> 11))
    h = reg(h + (h << 15))
    return h


class Oat32(wiring.Component):
    """Combinational ``oat32`` of ``n_bytes`` key bytes."""

    def __init__(self, n_bytes: int):
        self._n = n_bytes
        super().__init__({"seed": In(32), "key": In(8).array(n_bytes), "hash": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.hash.eq(oat32(m, self.seed, *self.key))
        return m


def feedback_acc_shape(classes: int):
    """Signed shape of ``sum_k Bc[j,k] sig_k``: ``|K*A - S*sum sig| <= 2*K*K``."""
    return signed(bits_for(2 * classes * classes) + 1)


class FeedbackPost(wiring.Component):
    """Sequential centred-feedback sum for one post neuron.

    ``start`` (with ``j``, ``sig`` and ``seed`` held until ``done``) begins; cycles
    ``1..K`` hash classes ``0..K-1``; ``done`` is high for one cycle (``K + 1`` cycles
    after ``start``) with ``acc = sum_k Bc[j,k] sig_k``, which holds until the next start.
    ``sig`` is ``K`` signed 2-bit class signals (``m_k - m_(K+k)``).
    """

    def __init__(self, *, classes: int, hidden: int):
        if not isinstance(classes, int) or classes < 2:
            raise TypeError(f"classes must be an integer >= 2, not {classes!r}")
        if not isinstance(hidden, int) or not 1 <= hidden <= 1 << 16:
            raise TypeError(f"hidden must be 1..65536 (two key bytes), not {hidden!r}")
        self._classes, self._hidden = classes, hidden
        super().__init__({
            "seed": In(32),
            "j": In(range(max(hidden, 2))),
            "sig": In(signed(2)).array(classes),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "acc": Out(feedback_acc_shape(classes)),
        })

    def elaborate(self, platform):
        m = Module()
        K = self._classes
        kw = bits_for(K)
        k = Signal(range(K + 1))
        j = Signal(16)
        a = Signal(signed(kw + 1))
        s = Signal(signed(kw + 1))
        run = Signal()
        key = C(FEEDBACK_KEY, 32)
        b = oat32(m, self.seed ^ key, k, j[:8], j[8:16])[31]
        sig_k = Array(self.sig)[k]
        sig_sum = sum(self.sig[i] for i in range(K))
        m.d.comb += [
            self.busy.eq(run),
            self.acc.eq(K * a - s * sig_sum),
        ]
        m.d.sync += self.done.eq(0)
        with m.If(self.start):
            m.d.sync += [k.eq(0), j.eq(self.j), a.eq(0), s.eq(0), run.eq(1)]
        with m.Elif(run):
            m.d.sync += [a.eq(a + Mux(b, sig_k, -sig_k)),
                         s.eq(s + Mux(b, 1, -1)),
                         k.eq(k + 1)]
            with m.If(k == K - 1):
                m.d.sync += [run.eq(0), self.done.eq(1)]
        return m

