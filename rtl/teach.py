"""Phase 4 of docs/architecture.md: the population winner-take-all teacher and the
modulator LIF population (``2 * classes`` neurons: positive errors, then negative).

:class:`Teacher` takes one step per ``update`` strobe (while ``learn`` is high), all of it
in one cycle, combinational from its registers and the step's readout spikes:

* activity traces ``a_k = sat_u(a_k - (a_k >> teacher_shift) + sum_p spike_(k,p))``;
* from step ``teach_start`` on: ``err_y = +1`` if ``a_y < target``; ``k*`` = the strongest
  other class (lowest index on ties), ``err_k* = -1`` if ``a_k* > 0`` and
  ``a_k* + margin >= a_y``;
* modulator LIFs ``vm = sat_s(vm - (vm >> mod_leak_shift) + mod_drive * [err], membrane)``,
  spike ``m = [vm >= mod_theta]``, ``vm -= mod_theta * m``.

The step counter, traces and membranes are zeroed by ``clear`` (the start of a sample).
With ``learn`` low, ``update`` only counts the step: no state changes, ``m`` is zero.
"""
from amaranth.hdl import C, Cat, Module, Mux, Signal, signed, unsigned
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
    ``label``; ``learn``; ``update`` / ``clear`` strobes; outputs (registered, valid from
    the cycle after ``update``): ``m`` (modulator spikes, bit ``k`` positive, ``K + k``
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
        })

    def elaborate(self, platform):
        m = Module()
        K, P, tw, mw = self._k, self._p, self._tw, self._mw
        p = self.params
        a = [Signal(tw, name=f"a{k}") for k in range(K)]
        vm = [Signal(signed(mw), name=f"vm{i}") for i in range(2 * K)]
        t = self.step
        a_new = []
        for k in range(K):
            count = sum(self.spikes[k * P + q] for q in range(P))
            a_new.append(Signal(tw, name=f"a_new{k}"))
            m.d.comb += a_new[k].eq(saturate(a[k] - (a[k] >> p.teacher_shift) + count,
                                             unsigned(tw)))
        label = self.label
        a_y = Signal(tw)
        m.d.comb += a_y.eq(Mux(label == 0, a_new[0], 0))
        for k in range(1, K):
            with m.If(label == k):
                m.d.comb += a_y.eq(a_new[k])
        # strongest other class, lowest index on ties: a chain of strict compares
        best_v = C(-1, signed(tw + 1))
        best_k = C(0, range(K))
        for k in range(K):
            take = (label != k) & (Cat(a_new[k], C(0, 1)).as_signed() > best_v)
            best_v = Mux(take, Cat(a_new[k], C(0, 1)).as_signed(), best_v)
            best_k = Mux(take, k, best_k)
        on = t >= p.teach_start
        pos = on & (a_y < p.target)
        best = Signal(tw)
        kstar = Signal(range(K))
        m.d.comb += [best.eq(best_v[:tw]), kstar.eq(best_k)]
        neg = on & (best > 0) & ((best + p.margin) >= a_y)
        err_pos = Signal(K)
        err_neg = Signal(K)
        m.d.comb += [err_pos.eq(Mux(pos, C(1, K) << label, 0)[:K]),
                     err_neg.eq(Mux(neg, C(1, K) << kstar, 0)[:K])]
        drive = Cat(err_pos, err_neg)
        m_new = []
        vm_new = []
        for i in range(2 * K):
            v = Signal(signed(mw), name=f"vm_int{i}")
            m.d.comb += v.eq(saturate(vm[i] - (vm[i] >> p.mod_leak_shift) +
                                      Mux(drive[i], p.mod_drive, 0), signed(mw)))
            fire = v >= p.mod_theta
            m_new.append(fire)
            vm_new.append(Mux(fire, v - p.mod_theta, v))
        m.d.comb += [self.activity[k].eq(a[k]) for k in range(K)]
        with m.If(self.clear):
            m.d.sync += [s.eq(0) for s in (*a, *vm)]
            m.d.sync += [t.eq(0), self.m.eq(0), self.err_pos.eq(0), self.err_neg.eq(0)]
        with m.Elif(self.update):
            m.d.sync += t.eq(t + 1)
            with m.If(self.learn):
                m.d.sync += [a[k].eq(a_new[k]) for k in range(K)]
                m.d.sync += [vm[i].eq(vm_new[i]) for i in range(2 * K)]
                m.d.sync += [self.m.eq(Cat(*m_new)), self.err_pos.eq(err_pos),
                             self.err_neg.eq(err_neg),
                             self.events.eq(self.events + sum(m_new))]
            with m.Else():
                m.d.sync += [self.m.eq(0), self.err_pos.eq(0), self.err_neg.eq(0)]
        return m
