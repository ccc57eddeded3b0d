"""Fixed-point helpers and the combinational LIF update of docs/architecture.md phase 3.

Everything here is combinational, so the neuron core can pipeline it as it likes and the
unit tests can check it exhaustively for narrow widths against the golden model.
"""
from amaranth.hdl import C, Module, Mux, Shape, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["saturate", "NeuronParamsSignature", "LifUpdate", "LifFire", "leak_integrate",
           "REF_WIDTH"]

#: Bits of the refractory counter: ``dynamics.refractory`` is 0..255 (gen/config.py).
REF_WIDTH = 8


def saturate(value, shape):
    """``value`` clamped to the range of ``shape`` (``sat_s`` / ``sat_u`` of the contract);
    the result has exactly that shape.

    Built from the bits, not from comparators: ``value`` is inside the range when its bits
    above the target's are all copies of the sign (signed target) or all zero (unsigned
    target), and outside it is the limit on ``value``'s side (its sign bit). That is an
    AND/OR of a few bits instead of two carry chains as wide as ``value``."""
    shape = Shape.cast(shape)
    value = Value.cast(value)
    n, w = len(value), shape.width
    v_signed = value.shape().signed
    lo, hi = ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if shape.signed else (0, (1 << w) - 1))
    negative = value[n - 1] if v_signed else C(0, 1)
    first = w - 1 if shape.signed else w      # bits from here up must be sign copies / 0
    if n <= first or (shape.signed and v_signed and n == w):
        inside = C(1, 1)
    elif shape.signed and v_signed:
        top = value[first:]
        inside = (top == 0) | (top == (1 << len(top)) - 1)
    else:
        inside = value[first:] == 0           # also rejects a negative signed value
    if not shape.signed and v_signed and n <= first:
        inside = ~negative
    body = value[:w].as_signed() if v_signed and n >= w else value[:w]
    if v_signed and n < w:
        body = value
    result = Mux(inside, body, Mux(negative, C(lo, shape), C(hi, shape)))
    return result[:w].as_signed() if shape.signed else result[:w]


class NeuronParamsSignature(wiring.Signature):
    """The LIF dynamics as run-time inputs (driven by constants, or by registers the host
    loads): ``theta``, ``leak_shift``, ``psi_window``, ``refractory``, ``reset_subtract``
    of ``dynamics`` / ``learning``. Fed from constants, synthesis folds them away."""

    def __init__(self, membrane_width: int, ref_width: int = REF_WIDTH):
        super().__init__({
            "theta": Out(unsigned(membrane_width - 1)),
            "leak_shift": Out(range(membrane_width)),
            "psi_window": Out(unsigned(membrane_width - 1)),
            "refractory": Out(unsigned(ref_width)),
            "reset_subtract": Out(1),
        })


def leak_integrate(v, i, leak_shift, membrane_width: int):
    """The first half of phase 3 (``ref == 0``): ``sat_s(v - (v >> leak_shift) + i)``."""
    return saturate(v - (v >> leak_shift) + i, signed(membrane_width))


def _lif_members(membrane_width: int, ref_width: int, **drive):
    """The ports :class:`LifFire` and :class:`LifUpdate` share (a neuron's state and
    parameters in, its next state out), with ``drive``, the one input that differs
    (``v_int`` or ``i``), second in the port order."""
    return {
        "v": In(signed(membrane_width)),
        **drive,
        "ref": In(unsigned(ref_width)),
        "params": In(NeuronParamsSignature(membrane_width, ref_width)),
        "v_out": Out(signed(membrane_width)),
        "ref_out": Out(unsigned(ref_width)),
        "spike": Out(1),
        "psi": Out(1),
    }


class LifFire(wiring.Component):
    """The second half of phase 3, combinational, from ``v_int`` (:func:`leak_integrate`
    of ``v``): threshold, ``psi``, reset and refractory. ``v`` is only used while
    ``ref > 0`` (held). :class:`LifUpdate` is the two halves together; the neuron core
    puts a pipeline register between them."""

    def __init__(self, *, membrane_width: int, ref_width: int = REF_WIDTH):
        self._membrane_width = membrane_width
        super().__init__(_lif_members(membrane_width, ref_width,
                                      v_int=In(signed(membrane_width))))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        theta = p.theta                  # unsigned: zero-extended in the signed compares below
        active = self.ref == 0
        v_int = self.v_int
        fire = v_int >= theta
        m.d.comb += [
            self.spike.eq(active & fire),
            self.psi.eq(active & (v_int >= theta - p.psi_window) &
                        (v_int < theta + p.psi_window)),
        ]
        with m.If(~active):
            m.d.comb += [self.v_out.eq(self.v), self.ref_out.eq(self.ref - 1)]
        with m.Elif(fire):
            m.d.comb += [self.v_out.eq(Mux(p.reset_subtract, v_int - theta, 0)),
                         self.ref_out.eq(p.refractory)]
        with m.Else():
            m.d.comb += [self.v_out.eq(v_int), self.ref_out.eq(0)]
        return m


class LifUpdate(wiring.Component):
    """One neuron's phase 3, combinational.

    If ``ref == 0``: ``v' = sat_s(v - (v >> leak_shift) + i, membrane)``,
    ``psi = [theta - psi_window <= v' < theta + psi_window]``, ``spike = [v' >= theta]``;
    on a spike ``v' -= theta`` (``reset_subtract``) or ``v' = 0``, and ``ref' = refractory``
    (else ``ref' = 0``). If ``ref > 0``: ``v`` is held, no spike, ``psi = 0``,
    ``ref' = ref - 1``. (:func:`leak_integrate`, then :class:`LifFire`.)
    """

    def __init__(self, *, membrane_width: int, current_width: int, ref_width: int = REF_WIDTH):
        for name, value, lo in (("membrane_width", membrane_width, 2),
                                ("current_width", current_width, 1),
                                ("ref_width", ref_width, 1)):
            if not isinstance(value, int) or value < lo:
                raise TypeError(f"{name} must be an integer >= {lo}, not {value!r}")
        self._membrane_width, self._ref_width = membrane_width, ref_width
        super().__init__(_lif_members(membrane_width, ref_width,
                                      i=In(signed(current_width))))

    def elaborate(self, platform):
        m = Module()
        m.submodules.fire = fire = LifFire(membrane_width=self._membrane_width,
                                           ref_width=self._ref_width)
        wiring.connect(m, wiring.flipped(self.params), fire.params)
        m.d.comb += [
            fire.v.eq(self.v), fire.ref.eq(self.ref),
            fire.v_int.eq(leak_integrate(self.v, self.i, self.params.leak_shift,
                                         self._membrane_width)),
            self.v_out.eq(fire.v_out), self.ref_out.eq(fire.ref_out),
            self.spike.eq(fire.spike), self.psi.eq(fire.psi),
        ]
        return m
