"""The plasticity unit's port signatures and its sweep command (rtl/plasticity.py, which
re-exports every name): what the learning unit (rtl/learn.py) and the testbench
(sim/tb_plasticity.py) wire to it, apart from the engine itself."""
from amaranth.hdl import unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from gen.util import ceil_div, index_width

from .lfsr import LFSR_WIDTH
from .plasticity_math import ETA_WIDTH, SHIFT_MAX

__all__ = ["TracePortSignature", "GatePortSignature", "MaskPortSignature",
           "PlasticityParamsSignature", "LfsrLoadSignature", "SweepCmdLayout"]


class TracePortSignature(wiring.Signature):
    """A crossbar row's pre trace ``x`` (before this step's trace update) and whether
    its source is a hidden neuron (``hidden``, for ``learn_recurrent``)."""

    def __init__(self, depth: int, trace_width: int):
        super().__init__({"addr": Out(range(max(depth, 2))),
                          "x": In(trace_width), "hidden": In(1)})


class GatePortSignature(wiring.Signature):
    """A hidden neuron's post gate candidates: ``psi`` (phase 3) and ``xpos`` (its trace
    is non-zero before this step's update); ``post_from_trace`` picks."""

    def __init__(self, hidden: int):
        super().__init__({"addr": Out(range(max(hidden, 2))), "psi": In(1), "xpos": In(1)})


class MaskPortSignature(wiring.Signature):
    """The readout synapse mask, one bit per lane, addressed like the readout bank's
    weight words relative to its base (``row * words + k``)."""

    def __init__(self, depth: int, lanes: int):
        super().__init__({"addr": Out(range(max(depth, 2))), "data": In(lanes)})


class PlasticityParamsSignature(wiring.Signature):
    """Run-time learning parameters (``learning.*`` and ``seed``)."""

    def __init__(self):
        super().__init__({
            "seed": Out(32),
            "learn": Out(1),
            "learn_hidden": Out(1), "learn_readout": Out(1), "learn_recurrent": Out(1),
            "post_from_trace": Out(1),
            "eta_hidden": Out(ETA_WIDTH), "eta_hidden_shift": Out(range(SHIFT_MAX + 1)),
            "eta_readout": Out(ETA_WIDTH), "eta_readout_shift": Out(range(SHIFT_MAX + 1)),
        })


class LfsrLoadSignature(wiring.Signature):
    """Sets one bank's LFSR state (``en`` a strobe), while the unit is idle."""

    def __init__(self, banks: int):
        super().__init__({"en": Out(1), "bank": Out(unsigned(index_width(banks))),
                          "data": Out(LFSR_WIDTH)})


class SweepCmdLayout(data.StructLayout):
    """One bank's sweep: ``bank`` (its LFSR), ``readout``, ``base`` (first weight word),
    ``rows``, ``cols``, ``words`` (``ceil(cols / lanes)``), ``j0`` (global hidden index of
    column 0, for the hash and the gate port), ``trace_base`` (trace port address of row
    0)."""

    def __init__(self, *, banks, depth, max_rows, max_cols, hidden, trace_depth, lanes):
        super().__init__({
            "bank": unsigned(index_width(banks)),
            "readout": 1,
            "base": unsigned(index_width(depth)),
            "rows": range(max_rows + 1),
            "cols": range(max_cols + 1),
            "words": range(ceil_div(max_cols, lanes) + 1),
            "j0": unsigned(index_width(hidden)),
            "trace_base": unsigned(index_width(trace_depth)),
        })
