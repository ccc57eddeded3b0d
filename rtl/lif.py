"""Fixed-point helpers and the combinational LIF update of docs/architecture.md phase 3.

Everything here is combinational, so the neuron core can pipeline it as it likes and the
unit tests can check it exhaustively for narrow widths against the golden model.
"""
from amaranth.hdl import C, Module, Mux, Shape, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["saturate", "NeuronParamsSignature", "LifUpdate", "REF_WIDTH"]

#: Bits of the refractory counter: ``dynamics.refractory`` is 0..255 (gen/config.py).
REF_WIDTH = 8


def saturate(value, shape):
    """``value`` clamped to the range of ``shape`` (``sat_s`` / ``sat_u`` of the contract);
    the result has exactly that shape."""
    shape = Shape.cast(shape)
    if shape.signed:
        lo, hi = -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
        inside = value[:shape.width].as_signed()
    else:
        lo, hi = 0, (1 << shape.width) - 1
        inside = value[:shape.width]
    return Mux(value > hi, C(hi, shape), Mux(value < lo, C(lo, shape), inside))


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


class LifUpdate(wiring.Component):
    """One neuron's phase 3, combinational.

    If ``ref == 0``: ``v' = sat_s(v - (v >> leak_shift) + i, membrane)``,
    ``psi = [theta - psi_window <= v' < theta + psi_window]``, ``spike = [v' >= theta]``;
    on a spike ``v' -= theta`` (``reset_subtract``) or ``v' = 0``, and ``ref' = refractory``
    (else ``ref' = 0``). If ``ref > 0``: ``v`` is held, no spike, ``psi = 0``,
    ``ref' = ref - 1``.
    """

    def __init__(self, *, membrane_width: int, current_width: int, ref_width: int = REF_WIDTH):
        for name, value, lo in (("membrane_width", membrane_width, 2),
                                ("current_width", current_width, 1),
                                ("ref_width", ref_width, 1)):
            if not isinstance(value, int) or value < lo:
                raise TypeError(f"{name} must be an integer >= {lo}, not {value!r}")
        self._membrane_width = membrane_width
        super().__init__({
            "v": In(signed(membrane_width)),
            "i": In(signed(current_width)),
            "ref": In(unsigned(ref_width)),
            "params": In(NeuronParamsSignature(membrane_width, ref_width)),
            "v_out": Out(signed(membrane_width)),
            "ref_out": Out(unsigned(ref_width)),
            "spike": Out(1),
            "psi": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        theta = p.theta                  # unsigned: zero-extended in the signed compares below
        active = self.ref == 0
        v_int = saturate(self.v - (self.v >> p.leak_shift) + self.i,
                         signed(self._membrane_width))
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
