"""The step's neuron bits of one physical core (:class:`SpikeScanner`), and the learning
unit's reads of them across cores (:func:`hidden_bits`).

Each sweep writes every neuron's spike (and ``psi``, with learning) into a small block
RAM, word ``n`` for neuron ``n`` of the core (shift registers of these bits took a logic
cell each). In the next step's ``ROUTE`` the scanner reads it one word a cycle and offers
each spike to the router through a register slice (holding it until taken; registered
both ways, so a wide chip's arbiter over every scanner starts from flip-flops); otherwise (in
``LEARN``) the learning unit reads it at ``read_addr``.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .crossbar import NO_RW_CHECK, read_port
from .memory import block_ram_attrs
from .router import RegisterSlice

__all__ = ["SpikeScanner", "hidden_bits"]


class SpikeScanner(wiring.Component):
    """``share`` logical cores of ``neurons`` each, from logical core ``first_core`` on;
    ``state``: the core's ``o_state``; ``o``: to the router's input of ``first_core``
    (payload ``Cat(neuron, core)``, logical). ``restart`` (a strobe) starts a scan at
    neuron 0, or with ``skip`` at the end (the first step: no spikes before it); the scan
    runs while ``route`` and ``go``; ``done``: every spike is in the router. ``spikes``:
    the last sweep's spikes (bit ``i`` neuron ``i``), for the debug probe only (nothing on
    the board reads it, so synthesis removes it)."""

    def __init__(self, *, neurons: int, share: int, first_core: int, state_signature,
                 out_layout, learning: bool):
        self.N, self.share, self.first_core, self.learning = neurons, share, first_core, learning
        self.SN = SN = share * neurons
        self._layout = out_layout
        super().__init__({
            "state": In(state_signature),
            "o": Out(stream.Signature(out_layout)),
            "route": In(1), "go": In(1), "restart": In(1), "skip": In(1), "done": Out(1),
            "read_addr": In(range(max(SN, 2))), "read_data": Out(2 if learning else 1),
            "spikes": Out(SN),
        })

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of the bit memory (gen/build.py counts it)."""
        return [(max(self.SN, 2), 2 if self.learning else 1)]

    def elaborate(self, platform):
        m = Module()
        SN, N, st = self.SN, self.N, self.state
        (depth, width), = self.memory_shapes
        # written in the sweep, read after it
        m.submodules.bits = smem = memory.Memory(
            shape=width, depth=depth, init=[],
            attrs={**NO_RW_CHECK, **block_ram_attrs(platform)})
        wr = smem.write_port()
        rd = read_port(m, smem, wr, collisions=False, name="bits")
        m.d.comb += [wr.addr.eq(st.neuron), wr.en.eq(st.valid),
                     wr.data.eq(Cat(st.spike, st.psi) if self.learning else st.spike),
                     self.read_data.eq(rd.data)]
        with m.If(st.valid):
            m.d.sync += self.spikes.bit_select(st.neuron, 1).eq(st.spike)

        # ``sp`` is the neuron whose word ``rd.data`` holds (once ``have``)
        sp = Signal(range(SN + 1), name="scan")
        have = Signal(name="scan_have")
        m.submodules.skid = skid = RegisterSlice(len(self.o.payload.as_value()))
        wiring.connect(m, skid.o, wiring.flipped(self.o))
        active = self.go & (sp < SN)
        # logical core and neuron of sp
        fields = self._layout.members
        lcore, lneuron = Signal(fields["core"]), Signal(fields["neuron"])
        m.d.comb += [lcore.eq(self.first_core), lneuron.eq(sp)]
        for i in range(1, self.share):
            with m.If(sp >= i * N):
                m.d.comb += [lcore.eq(self.first_core + i), lneuron.eq(sp - i * N)]
        spike = rd.data[0]
        m.d.comb += [skid.i.valid.eq(active & have & spike),
                     skid.i.payload.eq(Cat(lneuron, lcore)),
                     self.done.eq((sp == SN) & ~skid.holding)]
        with m.If(self.restart):
            m.d.sync += sp.eq(Mux(self.skip, SN, 0))
        with m.If(self.route):
            with m.If(active & ~have):
                m.d.comb += [rd.addr.eq(sp), rd.en.eq(1)]
                m.d.sync += have.eq(1)
            with m.Elif(active & (~spike | skid.i.ready)):
                m.d.comb += [rd.addr.eq(sp + 1), rd.en.eq(1)]
                m.d.sync += sp.eq(sp + 1)
        with m.Else():
            m.d.comb += [rd.addr.eq(self.read_addr), rd.en.eq(1)]
            m.d.sync += have.eq(0)
        return m


def hidden_bits(m, scanners, addr):
    """The learning unit's read of hidden neuron ``addr`` (of all cores): the scanner
    holding it gets the address within its core; the data comes back the cycle after
    (the selection registered). Returns the bits (spike, then psi)."""
    SN, P = scanners[0].SN, len(scanners)
    rel = Signal(range(max(SN, 2)), name="lu_rel")
    sel, sel_q = Signal(range(max(P, 2)), name="lu_sel"), Signal(range(max(P, 2)), name="lu_sel_q")
    m.d.comb += [rel.eq(addr), sel.eq(0)]
    for p in range(1, P):
        with m.If(addr >= p * SN):
            m.d.comb += [rel.eq(addr - p * SN), sel.eq(p)]
    m.d.sync += sel_q.eq(sel)
    for sc in scanners:
        m.d.comb += sc.read_addr.eq(rel)
    return Array(sc.read_data for sc in scanners)[sel_q]
