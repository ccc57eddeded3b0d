"""Phase 4 of docs/architecture.md: the population winner-take-all teacher and the
modulator LIF population (``2 * classes`` neurons: positive errors, then negative).

:class:`Teacher` takes one step per ``update`` strobe (while ``learn`` is high), from its
registers and the step's readout spikes (held until ``done``), one class and then one
modulator a cycle (``3 * classes + 2`` cycles; done in one cycle it was the longest
path of the chip, a chain of ``classes`` compares between two adders):

* activity traces ``a_k = sat_u(a_k - (a_k >> teacher_shift) + sum_p spike_(k,p))``;
* from step ``teach_start`` on: ``err_y = +1`` if ``a_y < target``; ``k*`` = the strongest
  other class (lowest index on ties), ``err_k* = -1`` if ``a_k* > 0`` and
  ``a_k* + margin >= a_y``;
* modulator LIFs ``vm = sat_s(vm - (vm >> mod_leak_shift) + mod_drive * [err], membrane)``,
  spike ``m = [vm >= mod_theta]``, ``vm -= mod_theta * m``.

The step counter, traces and membranes are zeroed by ``clear`` (the start of a sample).
With ``learn`` low, ``update`` only counts the step: no state changes, ``m`` is zero, and
``done`` comes the next cycle. ``clear`` is taken while idle.
"""
from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .lif import saturate

__all__ = ["Teacher", "TeacherParamsSignature", "STEP_WIDTH"]

STEP_WIDTH = 12     # sizes.steps <= 4096 (gen/config.py)


class TeacherParamsSignature(wiring.Signature):
    """Run-time teacher and modulator parameters (``learning.*``, ``dynamics.mod_*``)."""

    def __init__(self, teacher_width: int, membrane_width: int):
        super().__init__({
            "teacher_shift": Out(range(teacher_width)),
            "teach_start": Out(STEP_WIDTH),
            "target": Out(teacher_width),
            "margin": Out(teacher_width),
            "mod_theta": Out(unsigned(membrane_width - 1)),
            "mod_leak_shift": Out(range(membrane_width)),
            "mod_drive": Out(unsigned(membrane_width - 1)),
        })


class Teacher(wiring.Component):
    """Teacher plus modulators for ``classes`` x ``per_class`` readout neurons.

    Ports: ``params``; ``spikes`` (readout spikes of the step, bit ``k*per_class + p``);
    ``label``; ``learn``; ``update`` / ``clear`` strobes; ``done`` (strobe) / ``busy``;
    outputs (registered, valid from the cycle after ``done``): ``m`` (modulator spikes, bit ``k`` positive, ``K + k``
    negative), ``activity`` (the traces ``a_k``), ``err_pos`` / ``err_neg``; ``events``
    counts modulator spikes since reset (``Stats.modulator_events``).
    """

    def __init__(self, *, classes: int, per_class: int, teacher_width: int,
                 membrane_width: int, counter_width: int = 32):
        for name, value, lo in (("classes", classes, 2), ("per_class", per_class, 1),
                                ("teacher_width", teacher_width, 2),
                                ("membrane_width", membrane_width, 4)):
            if not isinstance(value, int) or value < lo:
                raise TypeError(f"{name} must be an integer >= {lo}, not {value!r}")
        self._k, self._p = classes, per_class
        self._tw, self._mw = teacher_width, membrane_width
        super().__init__({
            "params": In(TeacherParamsSignature(teacher_width, membrane_width)),
            "spikes": In(classes * per_class),
            "label": In(range(classes)),
            "learn": In(1),
            "update": In(1),
            "clear": In(1),
            "m": Out(2 * classes),
            "activity": Out(teacher_width).array(classes),
            "err_pos": Out(classes),
            "err_neg": Out(classes),
            "step": Out(STEP_WIDTH),
            "events": Out(counter_width),
            "done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        K, P, tw, mw = self._k, self._p, self._tw, self._mw
        p = self.params
        a = Array(Signal(tw, name=f"a{k}") for k in range(K))
        vm = Array(Signal(signed(mw), name=f"vm{i}") for i in range(2 * K))
        t = self.step
        k = Signal(range(max(2 * K, 2)))        # class (ACT) or modulator (MOD) in turn
        on = Signal()                            # t >= teach_start, at the update
        a_y = Signal(tw)                         # the label's new trace
        best_v = Signal(signed(tw + 1))          # the strongest other class's new trace
        best_k = Signal(range(K))
        err_pos = Signal(K)
        err_neg = Signal(K)
        m_acc = Signal(2 * K)                    # modulator spikes, shifted in
        fired = Signal(range(2 * K + 1))
        m.d.comb += [self.activity[i].eq(a[i]) for i in range(K)]
        m.d.sync += self.done.eq(0)

        # ACT: class k's trace (one class a cycle)
        a_k = Signal(tw)
        count = Signal(range(P + 1))
        a_new = Signal(tw)
        group = self.spikes.word_select(k[:max(1, (K - 1).bit_length())], P) \
            if K > 1 else self.spikes[:P]
        m.d.comb += [a_k.eq(a[k]), count.eq(sum(group[q] for q in range(P))),
                     a_new.eq(saturate(a_k - (a_k >> p.teacher_shift) + count,
                                       unsigned(tw)))]
        a_new_s = Cat(a_new, C(0, 1)).as_signed()
        # MOD: modulator k's LIF (one a cycle)
        v_k = Signal(signed(mw))
        v_int = Signal(signed(mw))
        drive = Cat(err_pos, err_neg).bit_select(k, 1)
        m.d.comb += [v_k.eq(vm[k]),
                     v_int.eq(saturate(v_k - (v_k >> p.mod_leak_shift) +
                                       Mux(drive, p.mod_drive, 0), signed(mw)))]
        fire = v_int >= p.mod_theta

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.clear):
                    m.d.sync += [a[i].eq(0) for i in range(K)]
                    m.d.sync += [vm[i].eq(0) for i in range(2 * K)]
                    m.d.sync += [t.eq(0), self.m.eq(0), self.err_pos.eq(0),
                                 self.err_neg.eq(0)]
                with m.Elif(self.update):
                    with m.If(self.learn):
                        m.d.sync += [k.eq(0), on.eq(t >= p.teach_start), a_y.eq(0),
                                     best_v.eq(-1), best_k.eq(0)]
                        m.next = "ACT"
                    with m.Else():
                        m.d.sync += [t.eq(t + 1), self.m.eq(0), self.err_pos.eq(0),
                                     self.err_neg.eq(0), self.done.eq(1)]
            with m.State("ACT"):
                m.d.sync += a[k].eq(a_new)
                with m.If(k == self.label):
                    m.d.sync += a_y.eq(a_new)
                with m.Elif(a_new_s > best_v):      # strict: the lowest index wins ties
                    m.d.sync += [best_v.eq(a_new_s), best_k.eq(k)]
                m.d.sync += k.eq(k + 1)
                with m.If(k == K - 1):
                    m.next = "ERR"
            with m.State("ERR"):
                best = best_v[:tw]
                pos = on & (a_y < p.target)
                neg = on & (best > 0) & ((best + p.margin) >= a_y)
                m.d.sync += [err_pos.eq(Mux(pos, C(1, K) << self.label, 0)[:K]),
                             err_neg.eq(Mux(neg, C(1, K) << best_k, 0)[:K]),
                             k.eq(0), fired.eq(0)]
                m.next = "MOD"
            with m.State("MOD"):
                m.d.sync += [vm[k].eq(Mux(fire, v_int - p.mod_theta, v_int)),
                             m_acc.eq(Cat(m_acc[1:], fire)), fired.eq(fired + fire),
                             k.eq(k + 1)]
                with m.If(k == 2 * K - 1):
                    m.d.sync += [self.m.eq(Cat(m_acc[1:], fire)), self.err_pos.eq(err_pos),
                                 self.err_neg.eq(err_neg), t.eq(t + 1),
                                 self.events.eq(self.events + fired + fire),
                                 self.done.eq(1)]
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
