"""The feedback hash of docs/architecture.md section 6 and the centred feedback sum.

* :func:`oat32`: 32-bit Jenkins one-at-a-time over key bytes from a seed, as an
  expression of adds, shifts and xors (no multiplier).
* :class:`Oat32`: that expression as a combinational component (for tests).
* :class:`FeedbackPost`: for one post neuron ``j`` and the class signals ``sig_k`` it
  computes ``sum_k Bc[j,k] sig_k`` with ``Bc[j,k] = K*B[j,k] - S_j``,
  ``S_j = sum_k B[j,k]``, ``B[j,k] = +1`` if bit 31 of
  ``oat32(seed ^ 0xFEED0000, k, j & 255, j >> 8)`` is set, else ``-1``. One key round
  per cycle on a single round circuit (four cycles a hash), the final mix and the
  accumulation pipelined behind the rounds (``4K + 3`` cycles in all),
  ``sum_k Bc sig_k = K*A - S*Q`` (``A = sum_k B sig_k``, ``S = sum_k B``,
  ``Q = sum_k sig_k``) kept in one accumulator that each class updates. Neither ``B``
  nor ``Bc`` is ever stored.
"""
from amaranth.hdl import Array, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

__all__ = ["FEEDBACK_KEY", "ROUND_CYCLES", "FeedbackPost", "Oat32", "feedback_acc_shape",
           "feedback_latency", "feedback_sum_bound", "oat32"]

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


def feedback_sum_bound(classes: int) -> int:
    """``max |sum_k Bc[j,k] sig_k|`` over signs and ``|sig_k| <= 1``: with ``n`` of the
    ``K`` signs positive, ``sum_k |Bc[j,k]| = 4 n (K - n) <= K*K``."""
    return classes * classes


def feedback_acc_shape(classes: int):
    """Signed shape of ``sum_k Bc[j,k] sig_k``: ``|K*A - S*sum sig| <= 2*K*K``."""
    return signed(bits_for(2 * classes * classes) + 1)


ROUND_CYCLES = 4        # FeedbackPost: cycles per hash (three key rounds, the final mix)


def feedback_latency(classes: int) -> int:
    """FeedbackPost's cycles from ``start`` to ``done``: ``ROUND_CYCLES`` a class, then
    the last class's final mix and accumulation (two pipeline stages)."""
    return ROUND_CYCLES * classes + 3


def _key_round(m, h, b, name):
    """One key round of oat32: ``h += b; h += h << 10; h ^= h >> 6`` (named signals)."""
    u = Signal(_M, name=f"{name}_u")
    t = Signal(_M, name=f"{name}_t")
    o = Signal(_M, name=f"{name}_o")
    m.d.comb += [u.eq(h + b), t.eq(u + (u << 10)), o.eq(t ^ (t >> 6))]
    return o


def _mix_first(m, h, name):
    """The final mix of oat32 up to its last add: ``h += h << 3; h ^= h >> 11``."""
    t = Signal(_M, name=f"{name}_t")
    v = Signal(_M, name=f"{name}_v")
    m.d.comb += [t.eq(h + (h << 3)), v.eq(t ^ (t >> 11))]
    return v


def _mix_bit31(m, v, name):
    """Bit 31 of the final mix's last add, ``v + (v << 15)``."""
    o = Signal(_M - 15, name=f"{name}_o")
    m.d.comb += o.eq(v[15:] + v[:_M - 15])
    return o[-1]


class FeedbackPost(wiring.Component):
    """Sequential centred-feedback sum for one post neuron.

    ``start`` (with ``j``, ``sig`` and ``seed`` held until ``done``) begins. One oat32 key
    round a cycle, with a single round circuit: class ``k`` takes cycles ``4k + 1`` (key
    byte ``k``), ``4k + 2`` (``j & 255``), ``4k + 3`` (``j >> 8``) and ``4k + 4`` (the
    first half of the final mix, into a register; ``h`` is reloaded with the seed). Its
    bit 31 (``B``) is registered in ``4k + 5`` and accumulated in ``4k + 6``, while the
    next class's rounds go on. ``done`` is high for one cycle (:attr:`latency` ``= 4K +
    3`` cycles after ``start``) with ``acc = sum_k Bc[j,k] sig_k``, which holds until the
    next start. ``sig`` is ``K`` signed 2-bit class signals (``m_k - m_(K+k)``).
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

    @property
    def latency(self) -> int:
        """Cycles from ``start`` to ``done``."""
        return feedback_latency(self._classes)

    def elaborate(self, platform):
        m = Module()
        K = self._classes
        kw = bits_for(K)
        k = Signal(range(K))
        ph = Signal(range(ROUND_CYCLES))
        # acc = K*A - S*Q (A = sum B sig, S = sum B, Q = sum sig), kept up to date class by
        # class without a multiplier or an adder tree: with the prefix sums S and Q of the
        # classes before k, adding class k (sign B, signal q) changes it by
        # q*((K-1)*B - S) - B*Q. Modulo 2^width: only the final value must fit.
        acc = Signal(signed(bits_for(feedback_sum_bound(K)) + 1))
        s = Signal(signed(kw + 1))
        q_sum = Signal(signed(kw + 1))
        run = Signal()
        h = Signal(_M)
        j = Value.cast(self.j)
        # the key byte of this cycle: k, j & 255, j >> 8 (0 for hidden <= 256), registered
        # (chosen the cycle before, for the next phase); the round of the last cycle is
        # not used
        byte = Signal(8)
        j_hi = j[8:16] if len(j) > 8 else 0
        with m.If(self.start):
            m.d.sync += byte.eq(0)                       # k = 0
        with m.Elif(ph == ROUND_CYCLES - 1):
            m.d.sync += byte.eq(k + 1)
        with m.Elif(ph == 0):
            m.d.sync += byte.eq(j[:8])
        with m.Else():
            m.d.sync += byte.eq(j_hi)
        r = _key_round(m, h, byte, "oat_r")
        last = ph == ROUND_CYCLES - 1
        seed = Signal(_M)
        m.d.comb += seed.eq(Value.cast(self.seed)[:_M] ^ FEEDBACK_KEY)
        # h: the seed before a hash's first round (idle, start, after its last round)
        m.d.sync += h.eq(Mux(self.start | ~run | last, seed, r))
        # the final mix and the accumulation, pipelined behind the key rounds (the next
        # class's rounds run meanwhile): the last round's cycle registers the first half
        # of the mix (v1), the next its bit 31 (b), the next accumulates
        v1 = Signal(_M)
        b = Signal()
        p1, p2 = Signal(), Signal()             # M1, M2 hold a class
        f1, f2 = Signal(), Signal()             # ... the last class
        q1, q2 = Signal(signed(2)), Signal(signed(2))
        m.d.sync += [v1.eq(_mix_first(m, h, "oat_f")), b.eq(_mix_bit31(m, v1, "oat_f")),
                     p1.eq(run & last & ~self.start), p2.eq(p1 & ~self.start),
                     f1.eq(k == K - 1), f2.eq(f1),
                     q1.eq(Array(self.sig)[k]), q2.eq(q1)]
        t = Signal(signed(kw + 2))
        d = Signal.like(acc)
        m.d.comb += [t.eq(Mux(b, K - 1, 1 - K) - s),
                     d.eq(Mux(q2 == 0, 0, Mux(q2[1], -t, t)) + Mux(b, -q_sum, q_sum))]
        m.d.comb += [self.busy.eq(run | p1 | p2), self.acc.eq(acc)]
        m.d.sync += self.done.eq(0)
        with m.If(self.start):
            m.d.sync += [k.eq(0), ph.eq(0), acc.eq(0), s.eq(0), q_sum.eq(0), run.eq(1)]
        with m.Else():
            with m.If(run):
                with m.If(last):
                    m.d.sync += [ph.eq(0), k.eq(k + 1)]
                    with m.If(k == K - 1):
                        m.d.sync += run.eq(0)
                with m.Else():
                    m.d.sync += ph.eq(ph + 1)
            with m.If(p2):
                m.d.sync += [acc.eq(acc + d), s.eq(s + Mux(b, 1, -1)), q_sum.eq(q_sum + q2)]
                with m.If(f2):
                    m.d.sync += self.done.eq(1)
        return m
