"""The neuron core's output layouts (rtl/core.py, which re-exports them): what the router
and the learning unit take from a core, apart from the core itself."""
from amaranth.hdl import signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from .crossbar import index_shape

__all__ = ["SpikeLayout", "NeuronStateSignature"]


class SpikeLayout(data.StructLayout):
    """A spike of the core: the local neuron index (the router adds the core)."""

    def __init__(self, neurons: int):
        super().__init__({"neuron": index_shape(neurons)})


class NeuronStateSignature(wiring.Signature):
    """One neuron's phase-3 result, valid for one cycle (no backpressure): its current,
    its membrane after the update and reset, spike and ``psi`` (for the plasticity unit)."""

    def __init__(self, neurons: int, membrane_width: int, current_width: int):
        super().__init__({
            "valid": Out(1),
            "neuron": Out(index_shape(neurons)),
            "current": Out(signed(current_width)),
            "membrane": Out(signed(membrane_width)),
            "spike": Out(1),
            "psi": Out(1),
        })
