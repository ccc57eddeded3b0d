"""The 16-bit Galois LFSR of docs/architecture.md section 6, as an xor network.

``state' = (state >> 1) ^ (0xB400 if state & 1 else 0)``. A lane-parallel user that
consumes ``n`` steps in one cycle takes :func:`lfsr_states` (the states after 1, 2, ...,
``n`` steps: lane ``p`` gets the state after ``p + 1`` steps, the same sequence as ``n``
single steps) and keeps the last one it used.
"""
from amaranth.hdl import Array, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LFSR_TAPS", "LFSR_WIDTH", "lfsr_step", "lfsr_states", "LfsrLanes"]

LFSR_WIDTH = 16
LFSR_TAPS = 0xB400     # x^16 + x^14 + x^13 + x^11 + 1, Galois form (maximal, period 65535)


def lfsr_step(state):
    """One LFSR step of a 16-bit value (combinational: a shift and four xors)."""
    state = Value.cast(state)[:LFSR_WIDTH]
    return (state >> 1) ^ (state[0].replicate(LFSR_WIDTH) & LFSR_TAPS)


def lfsr_states(m, state, n: int, name="lfsr") -> list:
    """The states after 1 .. ``n`` steps from ``state``, as combinational signals of
    module ``m`` (chained expressions would repeat each stage twice: exponential)."""
    out = []
    for i in range(n):
        nxt = Signal(LFSR_WIDTH, name=f"{name}_s{i + 1}")
        m.d.comb += nxt.eq(lfsr_step(state))
        state = nxt
        out.append(state)
    return out


class LfsrLanes(wiring.Component):
    """A loadable LFSR that advances ``count`` (0..``lanes``) steps per cycle and shows the
    ``lanes`` states after 1..``lanes`` steps (``lanes[p]`` = after ``p + 1`` steps).
    For unit tests; the plasticity unit keeps one state per bank and uses
    :func:`lfsr_states` directly."""

    def __init__(self, lanes: int):
        if not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"lanes must be a positive integer, not {lanes!r}")
        self._lanes = lanes
        super().__init__({
            "load": In(1), "load_data": In(LFSR_WIDTH),
            "count": In(range(lanes + 1)),
            "state": Out(LFSR_WIDTH),
            "lanes": Out(LFSR_WIDTH).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        state = Signal(LFSR_WIDTH, init=1)
        nxt = lfsr_states(m, state, self._lanes)
        m.d.comb += [self.state.eq(state)] + [self.lanes[p].eq(nxt[p])
                                               for p in range(self._lanes)]
        with m.If(self.load):
            m.d.sync += state.eq(self.load_data)
        with m.Elif(self.count != 0):
            m.d.sync += state.eq(Array([state, *nxt])[self.count])
        return m
