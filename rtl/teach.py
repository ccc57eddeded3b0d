"""Phase 4 of docs/architecture.md: the population winner-take-all teacher and the
modulator LIF population (``2 * classes`` neurons: positive errors, then negative).

:class:`Teacher` takes one step per ``update`` strobe (while ``learn`` is high), from its
state and the step's readout spikes and label (both held until ``done``), one class and
then one modulator a cycle: ``done`` comes ``4 * classes + 2`` cycles after the ``update``
(the update cycle, ``classes`` ACT, one ACT_END, ``classes`` CMP, ``2 * classes`` MOD).
ACT computes the traces and searches for the strongest other class (a class's new trace
compared the cycle after ACT computes it, the last one in ACT_END); CMP reads the traces
back and compares each with the label's, which is known only once ACT has passed it.
Done in one cycle it was the longest path of the chip, a chain of ``classes`` compares
between two adders.

* activity traces ``a_k = sat_u(a_k - (a_k >> teacher_shift) + sum_p spike_(k,p))``;
* from step ``teach_start`` on: ``err_y = +1`` if ``a_y < target``; ``err_k = -1`` for a
  class ``k != y`` with ``a_k > 0`` and ``a_k + margin >= a_y``: every such class with
  ``push_down_all``, else only the strongest other class ``k*`` (lowest index on ties);
* modulator LIFs ``vm = sat_s(vm - (vm >> mod_leak_shift) + mod_drive * [err], membrane)``,
  spike ``m = [vm >= mod_theta]``, ``vm -= mod_theta * m``.

The traces and the membranes live in one memory (one ``SB_RAM40_4K`` for up to 32 classes
and widths up to 16 bits), one word read and one written a cycle (each phase reads one word
ahead). A membrane is never negative (it starts at 0, the leak keeps its sign, the drive is
>= 0 and it is only lowered by ``mod_theta`` when at least ``mod_theta``), so it is stored in
``membrane - 1`` bits, and ``sat_s`` only ever saturates upwards: bit-exact with the model.

The step counter, traces and membranes are zeroed by ``clear`` (the start of a sample),
taken while idle, at once: the memory is not written, a flag makes the next learning step
read zeros (from words never written) instead; ``busy`` stays low and an ``update`` may
follow in the next cycle. With ``learn`` low, ``update`` only counts the step: no state
changes, ``m`` and ``err_*`` are zero, and ``done`` comes the next cycle.
"""
from amaranth.hdl import C, Cat, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import memory
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from gen.util import index_width

from .crossbar import NO_RW_CHECK
from .lif import saturate
from .memory import LutRamShape, lut_ram_attrs

__all__ = ["Teacher", "TeacherParamsSignature", "STEP_WIDTH"]

STEP_WIDTH = 12     # sizes.steps <= 4096 (gen/config.py)


def _less(a, b, or_equal=False):
    """``a < b`` (``a <= b``) for unsigned ``a``, ``b``, from their bits, not a carry chain:
    with ``b`` a constant (the parameters in the chip) it folds to a few LUTs, where yosys
    would build a subtractor as wide as ``a``."""
    n = max(len(a), len(b))
    a, b = a.as_unsigned(), b.as_unsigned()
    lt = C(int(or_equal), 1)
    for i in range(n):                   # from the least significant bit up
        ai = a[i] if i < len(a) else C(0, 1)
        bi = b[i] if i < len(b) else C(0, 1)
        lt = (~ai & bi) | (~(ai ^ bi) & lt)
    return lt


class TeacherParamsSignature(wiring.Signature):
    """Run-time teacher and modulator parameters (``learning.*``, ``dynamics.mod_*``)."""

    def __init__(self, teacher_width: int, membrane_width: int):
        super().__init__({
            "teacher_shift": Out(range(teacher_width)),
            "teach_start": Out(STEP_WIDTH),
            "target": Out(teacher_width),
            "margin": Out(teacher_width),
            "push_down_all": Out(1),
            "mod_theta": Out(unsigned(membrane_width - 1)),
            "mod_leak_shift": Out(range(membrane_width)),
            "mod_drive": Out(unsigned(membrane_width - 1)),
        })


class Teacher(wiring.Component):
    """Teacher plus modulators for ``classes`` x ``per_class`` readout neurons.

    Ports: ``params``; ``spikes`` (readout spikes of the step, bit ``k*per_class + p``);
    ``label``; ``learn``; ``update`` / ``clear`` strobes; ``done`` (strobe) / ``busy``;
    outputs (registered, valid with ``done`` and until the next ``update``; they change
    while ``busy``): ``m`` (modulator spikes, bit ``k`` positive, ``K + k`` negative),
    ``activity`` (the traces ``a_k``: a copy for observation, which synthesis removes where
    the port is not used), ``err_pos`` / ``err_neg``, ``step``; ``events`` counts modulator
    spikes since reset (``Stats.modulator_events``) modulo ``2**counter_width``
    (``counter_width=0``: no counter).
    """

    def __init__(self, *, classes: int, per_class: int, teacher_width: int,
                 membrane_width: int, counter_width: int = 32):
        for name, value, lo in (("classes", classes, 2), ("per_class", per_class, 1),
                                ("teacher_width", teacher_width, 2),
                                ("membrane_width", membrane_width, 4),
                                ("counter_width", counter_width, 0)):
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

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of the state memory (gen/build.py counts it): modulator
        membranes and class traces, word ``Cat(k, half, fresh, traces)``."""
        return [LutRamShape(8 << index_width(self._k), max(self._mw - 1, self._tw))]

    def elaborate(self, platform):
        m = Module()
        K, P, tw, mw = self._k, self._p, self._tw, self._mw
        vw = mw - 1                     # a membrane is never negative (module docstring)
        kbits = index_width(K)
        p = self.params
        # The state lives in one memory (below). ``shadow`` is a copy of the traces for the
        # ``activity`` port only, nothing reads it: where the port is not used (the chip),
        # synthesis removes it. It is a chain rotated by one class a cycle in ACT (the new
        # trace enters at the end), back in order after K cycles, so no write decoder.
        # ``reset_less`` here and below: the reset or ``clear`` at the end (or the one reset
        # in the FSM) is their only synchronous reset, so each is a plain flip-flop with
        # reset and enable, no gate in front.
        shadow = [Signal(tw, name=f"a{i}", reset_less=True) for i in range(K)]
        t = Signal(STEP_WIDTH, reset_less=True)
        m_r = Signal(2 * K, reset_less=True)     # modulator spikes, shifted in in MOD
        k = Signal(kbits)                        # class in ACT and in each half of MOD
        k_next = Signal(kbits)
        half = Signal()                          # MOD: positive (0) / negative (1) half
        half_next = Signal()
        on = Signal()                            # t >= teach_start, at the update
        fresh = Signal(init=1)                   # traces and membranes are zero (clear)
        a_y = Signal(tw)                         # the label's new trace
        best_v = Signal(tw, reset_less=True)     # the strongest other class's new trace
        best_k = Signal(kbits)
        pos = Signal()                           # err_y = +1
        # the compare of a class's new trace with best_v, the cycle after ACT computes it
        cmp_v = Signal(tw, reset_less=True)
        cmp_k = Signal(kbits, reset_less=True)
        cmp_on = Signal()                        # ... a class other than the label's
        m.d.comb += [self.activity[i].eq(shadow[i]) for i in range(K)]
        m.d.comb += [self.step.eq(t), self.m.eq(m_r)]
        m.d.sync += [self.done.eq(0), k.eq(k_next), half.eq(half_next), cmp_on.eq(0)]
        with m.If(cmp_on & (cmp_v > best_v)):   # strict: the lowest index wins ties
            m.d.sync += [best_v.eq(cmp_v), best_k.eq(cmp_k)]
        m.d.comb += [k_next.eq(k), half_next.eq(half)]
        last = k == K - 1
        at_label = k == self.label

        # The state memory: word Cat(k, half, 0, 0) the membrane of modulator half*K + k,
        # word Cat(k, 0, 0, 1) the trace of class k. The words with the third field set are
        # never written: reading there while ``fresh`` gives the zero state of a ``clear``
        # without writing it (CMP reads the traces ACT has just written: ``written``).
        # Each phase reads one word ahead (latency 1) and writes the word it read the
        # cycle before.
        (depth, sw), = self.memory_shapes
        m.submodules.state = mem = memory.Memory(shape=sw, depth=depth, init=[],
                                                 attrs={**NO_RW_CHECK,
                                                        **lut_ram_attrs(platform)})
        # an asynchronous port and a plain register, which yosys merges into the block's
        # synchronous read port; ``no_rw_check``: no cycle reads the word being written
        # (word k + 1 read while word k is written), so no bypass is built
        rd = mem.read_port(domain="comb")
        wr = mem.write_port()
        word = Signal(sw, reset_less=True)       # the word read the cycle before
        m.d.sync += word.eq(rd.data)
        traces = Signal()                        # the trace half is read
        written = Signal()                       # ... as ACT wrote it, even if ``fresh``
        m.d.comb += [rd.addr.eq(Cat(k_next, half_next, fresh & ~written, traces)),
                     wr.addr.eq(Cat(k, half, C(0, 1), traces))]

        # ACT: class k's trace (one class a cycle)
        a_k = word[:tw]
        count = Signal(range(P + 1))
        group = self.spikes.word_select(k, P)
        m.d.comb += count.eq(sum(group[q] for q in range(P)))
        a_new = Signal(tw)
        m.d.comb += a_new.eq(saturate((a_k - (a_k >> p.teacher_shift))[:tw] + count,
                                      unsigned(tw)))
        # MOD: modulator (half, k)'s LIF (one a cycle). x = v - (v >> mod_leak_shift),
        # s = x + drive, v_int = sat(s); fire = v_int >= mod_theta; v_int - mod_theta * fire
        # from the unsaturated s: saturated (s[vw]), it fires and leaves
        # 2**vw - 1 - mod_theta = ~mod_theta; else s - mod_theta, computed from x in parallel
        # with s (x + (drive - mod_theta): two short adders, not two in a row).
        v_k = word[:vw]
        drive = Mux(half, self.err_neg.bit_select(k, 1), pos & at_label)
        x_v = Signal(vw)
        m.d.comb += x_v.eq(v_k - (v_k >> p.mod_leak_shift))
        s_v = Signal(vw + 1)
        m.d.comb += s_v.eq(x_v + Mux(drive, p.mod_drive, 0))
        v_sub = Signal(signed(vw + 2))
        m.d.comb += v_sub.eq(x_v + Mux(drive, p.mod_drive - p.mod_theta, -p.mod_theta))
        fire = ~v_sub[-1]                        # sat(s) >= mod_theta
        v_new = Mux(s_v[vw], ~p.mod_theta, Mux(fire, v_sub[:vw], s_v[:vw]))
        m.d.comb += wr.data.eq(Mux(traces, a_new, v_new))

        with m.FSM() as fsm:
            with m.State("IDLE"):                # k = 0: and read trace 0
                m.d.comb += traces.eq(1)
                with m.If(self.clear):
                    m.d.sync += [self.err_pos.eq(0), self.err_neg.eq(0), fresh.eq(1)]
                with m.Elif(self.update):
                    with m.If(self.learn):
                        m.d.sync += [on.eq(~_less(t, p.teach_start)),
                                     best_v.eq(0)]          # (its only reset)
                        m.next = "ACT"
                    with m.Else():
                        m.d.sync += [t.eq(t + 1), self.err_pos.eq(0),
                                     self.err_neg.eq(0), self.done.eq(1)]
            with m.State("ACT"):                 # and read the next trace
                m.d.comb += [traces.eq(1), wr.en.eq(1), k_next.eq(Mux(last, 0, k + 1))]
                m.d.sync += [shadow[i].eq(shadow[i + 1]) for i in range(K - 1)]
                m.d.sync += [shadow[K - 1].eq(a_new), cmp_v.eq(a_new), cmp_k.eq(k),
                             cmp_on.eq(~at_label)]
                with m.If(at_label):
                    m.d.sync += a_y.eq(a_new)
                with m.If(last):
                    m.next = "ACT_END"
            with m.State("ACT_END"):             # the last class's compare; read trace 0
                m.d.comb += [traces.eq(1), written.eq(1)]
                p_err = on & _less(a_y, p.target)
                m.d.sync += [pos.eq(p_err),
                             self.err_pos.eq(Mux(p_err, C(1, K) << self.label, 0)[:K])]
                m.next = "CMP"
            with m.State("CMP"):                 # class k's error; read the next trace
                # (after the last, membrane 0). a_k + margin >= a_y: a_y - a_k < 0 or
                # <= margin (one subtractor); err_neg fills from its top, a class a cycle
                m.d.comb += [traces.eq(~last), written.eq(~last),
                             k_next.eq(Mux(last, 0, k + 1))]
                diff = Signal(signed(tw + 1))
                m.d.comb += diff.eq(a_y - a_k)
                close = diff[tw] | _less(diff[:tw], p.margin, or_equal=True)
                n_err = (on & ~at_label & a_k.any() & close
                         & (p.push_down_all | (k == best_k)))
                m.d.sync += self.err_neg.eq(Cat(self.err_neg[1:], n_err))
                with m.If(last):
                    m.next = "MOD"
            with m.State("MOD"):                 # and read the next membrane
                m.d.comb += [k_next.eq(Mux(last, 0, k + 1)), half_next.eq(half ^ last),
                             wr.en.eq(1)]
                m.d.sync += m_r.eq(Cat(m_r[1:], fire))
                if len(self.events):
                    m.d.sync += self.events.eq(self.events + fire)
                with m.If(half & last):
                    m.d.sync += [t.eq(t + 1), fresh.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
        idle = fsm.ongoing("IDLE")
        m.d.comb += self.busy.eq(~idle)
        # the reset of the trace copies, the step and the spikes (after the FSM: it wins)
        with m.If(ResetSignal(allow_reset_less=True) | (idle & self.clear)):
            m.d.sync += [shadow[i].eq(0) for i in range(K)]
            m.d.sync += [t.eq(0), m_r.eq(0)]
        with m.If(idle & self.update & ~self.learn):
            m.d.sync += m_r.eq(0)
        return m
