"""The host's way into the engine (:class:`HostDecoder`): READ and WRITE of the address
spaces of rtl/address_map.py, between samples.

It latches the host link's request, translates a logical weight bank and word into its
physical bank and word (rtl/top.py ``Engine`` ``share``), decodes the space, and answers
with the read data a cycle after the access. It also owns the secondary port of every
weight bank (``banks``, :class:`rtl.memory.WeightBank` ``b``) and the readout's aux port
(``aux``): while a sample runs it lends them to the readout (the last bank), the learning
unit's sweep and the encoder.

Both the request and the answer are registered: no path from the host link's state
machine through the bank multiplexers and back (each was the critical path in turn). A
request is latched, served (``ack``), and answered a cycle later (``bus.ack``); the next
one is latched after that.
"""
from __future__ import annotations

import functools
import operator

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from gen.util import index_width

from .address_map import SPACES, STATUS_REGS
from .host import AccessSignature
from .learn import LearnRegsSignature, SweepPortSignature
from .memory import WeightPortSignature

__all__ = ["HostDecoder"]


class HostDecoder(wiring.Component):
    """``core_of[g]`` / ``word_base[g]``: the physical bank of logical weight bank ``g``
    and its first word there; the readout's words (logical bank ``len(core_of)``) are in
    the last physical bank from ``readout_base`` on. ``depth`` / ``width``: the banks'
    largest depth, their word width. ``load_signatures``: the router's table write ports
    (``load_index``, ``load_entry``). ``aux_words`` / ``aux_width``: the encoder's words
    in the readout's memory (space ``input``: the low ``encoder`` bits, the intensity)."""

    def __init__(self, config, *, core_of: list, word_base: list, readout_base: int,
                 depth: int, width: int, load_signatures: dict, aux_width: int,
                 count_shape, learning: bool, banks_learning: int = 0):
        s = config.sizes
        self.config, self.core_of, self.word_base = config, list(core_of), list(word_base)
        self.readout_base, self.depth, self.learning = readout_base, depth, learning
        self.P = max(core_of) + 1
        port = WeightPortSignature(depth, width)
        aux = WeightPortSignature(s.sample_width, aux_width)
        members = {
            "bus": In(AccessSignature()), "running": In(1),
            "banks": Out(port).array(self.P), "bank_grant": In(self.P),
            "readout": In(port), "aux": Out(aux), "enc_aux": In(aux),
            **{name: Out(sig) for name, sig in load_signatures.items()},
            "counts": In(count_shape).array(s.classes),
            "status": In(32).array(len(STATUS_REGS)),
        }
        if learning:
            members["sweep"] = In(SweepPortSignature(depth, width, self.P))
            members["regs"] = Out(LearnRegsSignature(banks_learning, config.learning))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus, P, G = self.bus, self.P, len(self.core_of)
        host_rd_pending = Signal()
        host_rd_bank = Signal(range(P + 1))
        h_req, h_we, ack_q = Signal(name="h_req"), Signal(name="h_we"), Signal(name="ack_q")
        # the space, one-hot: decoded when the request is latched (the 8-bit compares
        # were on the paths into the read-back, the SPRAM's chip select and the LFSRs)
        h_in = {name: Signal(name=f"h_{name}") for name in SPACES}
        h_addr, h_wdata = Signal(16, name="h_addr"), Signal(32, name="h_wdata")
        h_waddr = Signal(range(self.depth + 1))
        h_target = Signal(P)            # one-hot: the physical bank of a weights access
        rdata_q = Signal(32)
        with m.If(bus.req & ~h_req & ~ack_q):
            m.d.sync += [h_req.eq(1), h_we.eq(bus.we), h_addr.eq(bus.addr),
                         h_wdata.eq(bus.wdata), h_target.eq(0)]
            m.d.sync += [h_in[name].eq(bus.space == v) for name, v in SPACES.items()]
            # a weight word's physical bank and its address there, found here (each was
            # on the path into the SPRAM's chip select or address)
            m.d.sync += h_waddr.eq(bus.addr)
            with m.Switch(bus.bank):
                for g in range(G + 1):
                    p = self.core_of[g] if g < G else P - 1
                    base = self.word_base[g] if g < G else self.readout_base
                    with m.Case(g):
                        m.d.sync += h_target.eq(Mux(bus.space == SPACES["weights"], 1 << p, 0))
                        if base:
                            m.d.sync += h_waddr.eq(base + bus.addr)
        m.d.comb += [bus.ack.eq(ack_q), bus.rdata.eq(rdata_q)]
        m.d.sync += host_rd_pending.eq(0)
        # a memory word read for the host is caught the cycle after its read (a weight
        # bank's ``rdata`` is defined only then) and answered the cycle after that: the
        # bank multiplexer and the read-back's AND-OR were one path from the block RAMs'
        # outputs, the deep ULX3S chip's critical path once the router's was cut (20.4 ns)
        host_rd_word = Signal(max(len(self.aux.rdata), *(len(b.rdata) for b in self.banks)))
        host_rd_done = Signal()
        m.d.sync += host_rd_done.eq(host_rd_pending)
        with m.If(host_rd_pending):
            m.d.sync += host_rd_word.eq(
                Array([*(b.rdata for b in self.banks), self.aux.rdata])[host_rd_bank])
        self._lend(m, h_waddr, h_wdata)

        ack = Signal()
        m.d.sync += [ack_q.eq(ack),
                     rdata_q.eq(self._read_back(h_in, h_addr, host_rd_done, host_rd_word))]
        with m.If(ack):
            m.d.sync += h_req.eq(0)

        def read_later(bank):
            """Answer with the bank's word the cycle after this read."""
            m.d.sync += [host_rd_pending.eq(1), host_rd_bank.eq(bank)]

        serve = Signal()
        m.d.comb += serve.eq(h_req & ~self.running & ~host_rd_pending & ~host_rd_done)
        self._weights(m, serve, h_target, h_we, h_waddr, ack, read_later)
        ew = self.config.widths.encoder
        with m.If(serve):
            for name in ("route_index", "route_entry"):
                with m.If(h_in[name]):
                    load = getattr(self, "load_" + name.split("_")[1])
                    m.d.comb += [load.en.eq(h_we), load.addr.eq(h_addr),
                                 load.data.eq(h_wdata), ack.eq(1)]
            with m.If(h_in["input"]):
                m.d.comb += [self.aux.we.eq(h_we), self.aux.addr.eq(h_addr),
                             self.aux.wdata.eq(h_wdata[:ew])]
                with m.If(h_we):
                    m.d.comb += ack.eq(1)
                with m.Else():
                    m.d.comb += self.aux.re.eq(1)
                    read_later(P)
            with m.If(h_in["counts"] | h_in["status"]):
                m.d.comb += ack.eq(1)
            if self.learning:
                self._learn_regs(m, h_in, h_we, h_addr, h_wdata, ack)
            # any other space (the host link refuses them; this keeps the bus alive)
            with m.If(~Cat(*(h_in[n] for n in SPACES if self.learning or n not in
                             ("lfsr", "rates"))).any()):
                m.d.comb += ack.eq(1)
        with m.If(host_rd_done):
            m.d.comb += ack.eq(1)
        return m

    def _lend(self, m, h_waddr, h_wdata):
        """The secondary ports' users while a sample runs: the readout's weight reads (the
        last bank), the learning unit's sweep (any bank), the encoder (aux). Between
        samples the host's request below takes them."""
        banks, ro = self.banks, self.readout
        hb = banks[self.P - 1]
        for bank in banks:
            m.d.comb += [bank.addr.eq(h_waddr), bank.wdata.eq(h_wdata)]
        m.d.comb += [hb.addr.eq(Mux(self.running, ro.addr, h_waddr)),
                     hb.re.eq(self.running & ro.re), ro.rdata.eq(hb.rdata)]
        if self.learning:
            lu = self.sweep
            # the plasticity sweep runs while the crossbars and the readout are idle
            with m.If(lu.active):
                with m.Switch(lu.bank):
                    for p, bank in enumerate(banks):
                        with m.Case(p):
                            m.d.comb += [bank.addr.eq(lu.mem.addr), bank.re.eq(lu.mem.re),
                                         bank.we.eq(lu.mem.we), bank.wdata.eq(lu.mem.wdata),
                                         lu.mem.rdata.eq(bank.rdata)]
        wiring.connect(m, wiring.flipped(self.enc_aux), wiring.flipped(self.aux))

    def _weights(self, m, serve, h_target, h_we, h_waddr, ack, read_later):
        """Space ``weights``: the word goes to physical bank ``h_target`` (logical bank
        ``g`` is in ``core_of[g]``, the readout's words in the last one) in a cycle its
        crossbar leaves free (``bank_grant``)."""
        for p, bank in enumerate(self.banks):
            with m.If(serve & h_target[p]):
                m.d.comb += [bank.we.eq(h_we), bank.re.eq(~h_we), bank.addr.eq(h_waddr)]
                with m.If(self.bank_grant[p]):
                    with m.If(h_we):
                        m.d.comb += ack.eq(1)
                    with m.Else():
                        read_later(p)

    def _read_back(self, h_in, h_addr, done, word):
        """The word a read answers with, registered into ``bus.rdata`` (read with
        ``ack``): a memory's word once caught (``done``, ``word``: a weight bank's or the
        input's intensity), a count, a status register, an LFSR state or a rate. An
        AND-OR of the one-hot space bits: no priority chain behind a compare."""
        s, ew = self.config.sizes, self.config.widths.encoder
        terms = [Mux(done & h_in["weights"], word, 0),
                 Mux(done & h_in["input"], word[:ew], 0),
                 Mux(h_in["counts"], Array(self.counts)[h_addr[:index_width(s.classes)]], 0),
                 Mux(h_in["status"], Array(self.status)[h_addr[:4]], 0)]
        if self.learning:
            regs = self.regs
            terms += [Mux(h_in["lfsr"], regs.lfsr_state, 0),
                      Mux(h_in["rates"], Mux(h_addr[0], regs.eta_readout_shift,
                                             regs.eta_hidden_shift), 0)]
        return functools.reduce(operator.or_, terms)

    def _learn_regs(self, m, h_in, h_we, h_addr, h_wdata, ack):
        """Spaces ``lfsr`` (word b: bank b's LFSR state) and ``rates`` (the shifts). The
        LFSR read select is the latched address, always (the plasticity unit's LFSR
        multiplexer takes it while idle)."""
        regs = self.regs
        m.d.comb += regs.lfsr_sel.eq(h_addr)
        with m.If(h_in["lfsr"]):
            m.d.comb += [ack.eq(1), regs.lfsr_load.en.eq(h_we), regs.lfsr_load.bank.eq(h_addr),
                         regs.lfsr_load.data.eq(h_wdata)]
        with m.If(h_in["rates"]):
            m.d.comb += [ack.eq(1), regs.shift_we.eq(h_we), regs.shift_sel.eq(h_addr[0]),
                         regs.shift_wdata.eq(h_wdata)]
