"""The event input of one physical core (:class:`EventSlice`): in ``ENCODE`` the
encoder's input spikes (to the layer-0 logical cores), in ``ROUTE`` the router's
deliveries to its logical cores, through a register slice.

A shared core (``share`` logical cores) takes its logical cores' events one at a time
(the first with one waiting), each row moved to where that logical core's rows start
(``row_base``). The register slice cuts the path from the sequencer's state and the
router's outputs into the core's arbiter and crossbar (the longest path of the shared
chip); the sequencer waits for ``empty`` before ``update``.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .crossbar import EventLayout
from .sequencer import Phase

__all__ = ["EventSlice"]


class EventSlice(wiring.Component):
    """``row_base[i]``: the first row of logical core ``i`` of the group in the physical
    core; ``layer0[i]``: that logical core takes input spikes. ``enc_pend[i]``: the
    encoder's row ``enc_row`` waits for logical core ``i``; ``enc_took[i]``: taken now."""

    def __init__(self, *, rows: int, row_base: list, layer0: list, enc_row_width: int,
                 route_layout):
        self.row_base, self.layer0 = list(row_base), list(layer0)
        n = len(self.row_base)
        super().__init__({
            "phase": In(Phase),
            "enc_offer": In(1), "enc_row": In(enc_row_width),
            "enc_pend": In(n), "enc_took": Out(n),
            "routed": In(stream.Signature(route_layout)).array(n),
            "o": Out(stream.Signature(EventLayout(rows))),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        group = range(len(self.row_base))
        valid, row = self.o.valid, self.o.payload.row     # the slice's register
        offer_valid = Signal()
        offer_row = Signal.like(row)
        ready = Signal()
        m.d.comb += [ready.eq(~valid | self.o.ready), self.empty.eq(~valid)]
        with m.If(ready):
            m.d.sync += [valid.eq(offer_valid), row.eq(offer_row)]
        with m.If(self.phase == Phase.ENCODE):
            for i in reversed(group):
                if self.layer0[i]:
                    with m.If(self.enc_offer & self.enc_pend[i]):
                        m.d.comb += [offer_valid.eq(1),
                                     offer_row.eq(self.row_base[i] + self.enc_row)]
            for i in group:
                if self.layer0[i]:
                    first = Cat(*(self.enc_pend[h] for h in group[:i] if self.layer0[h])) == 0
                    m.d.comb += self.enc_took[i].eq(ready & first)
        with m.Elif(self.phase == Phase.ROUTE):
            for i in reversed(group):
                o = self.routed[i]
                with m.If(o.valid):
                    m.d.comb += [offer_valid.eq(1),
                                 offer_row.eq(self.row_base[i] + o.payload.row)]
            for i in group:
                earlier = Cat(*(self.routed[h].valid for h in group[:i])) == 0
                m.d.comb += self.routed[i].ready.eq(ready & earlier)
        return m
