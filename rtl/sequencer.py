"""The step sequencer (:class:`Sequencer`): runs a sample of ``steps`` steps through the
engine's phases (docs/architecture.md section 4), with the input encoder inside it.

One step ``t``:

1. ``ENCODE``: the integrate-and-fire encoder visits the ``n_in`` channels (its words
   live in the readout's block RAM, reached through ``aux``); each input spike is offered
   as row ``i`` to every layer-0 core at once (``enc_*``, taken by rtl/event_slice.py).
   A temporal presentation (``sizes.frames`` > 1, or ``frame_steps`` short of the
   sample) keeps frame ``f``'s intensities at words ``f*n_in + i``; a channel's
   accumulator stays in frame 0's word, so frames 1.. cost one more read a channel,
   and past the last frame the encoder adds 0.
2. ``ROUTE``: the scanners (rtl/spike_scanner.py) offer the hidden spikes of step ``t-1``
   to the router; then ``step_end``, and the router drains (``step_done``). Then the
   readout's bias row.
3. ``update`` to every core and to the readout; each sweeps its neurons and pulses done.
4.-6. ``LEARN``: the learning unit (rtl/learn.py) runs the teacher, the plasticity sweep
   and the traces, and answers ``done``.

After step ``steps - 1`` the prediction is the class with the largest count (lowest
index on ties).
"""
from __future__ import annotations

from typing import NamedTuple

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.util import index_width

from .crossbar import EventLayout
from .host import RunSignature
from .learn import LearnControlSignature
from .memory import WeightPortSignature

__all__ = ["Phase", "Sequencer"]


class Phase(enum.Enum, shape=2):
    """What the cores' event inputs carry this cycle (rtl/event_slice.py)."""
    OTHER = 0       # neither: clearing, bias, update, learning, prediction
    ENCODE = 1      # the encoder's input spikes, to layer 0
    ROUTE = 2       # the router's deliveries of the spikes of step t-1


class _Frame(NamedTuple):
    """The temporal presentation's registers: steps of this frame so far, the frame
    (``frames``: the silent tail), its first word, the word of (frame, channel)."""
    held: Signal
    index: Signal
    base: Signal
    addr: Signal


class Sequencer(wiring.Component):
    """``cores``: physical cores; ``layer0``: the logical cores of layer 0 (of
    ``logical`` in all); ``readout_rows``: the readout's rows (the last is the bias row);
    ``count_shape``: a class count's; ``route_layout``: the router's delivery layout."""

    def __init__(self, config, *, cores: int, logical: int, layer0: list, readout_rows: int,
                 count_shape, route_layout, aux_width: int, learning: bool):
        s = config.sizes
        self.config, self.P, self.G, self.layer0 = config, cores, logical, layer0
        self.readout_rows, self.learning = readout_rows, learning
        # frames, or a silent tail: the encoder reads frame words (ENC_FRAME)
        self.temporal = s.frames > 1 or s.hold < s.steps
        members = {
            "run": In(RunSignature()), "running": Out(1),
            # the cores and the readout
            "update": Out(1), "clear": Out(1), "hold": Out(1),
            "done": In(cores + 1),          # physical cores, then the readout
            "busy": In(1),                  # any core, the readout or the learning unit
            "counts": In(count_shape).array(s.classes),
            "ro_event": Out(stream.Signature(EventLayout(readout_rows))),
            "routed_ro": In(stream.Signature(route_layout)),
            # the router
            "router_clear": Out(1), "step_end": Out(1), "step_done": In(1),
            # the scanners (rtl/spike_scanner.py) and event slices
            "phase": Out(Phase), "scan_go": Out(1), "scan_restart": Out(1),
            "scan_skip": Out(1), "scans_done": In(1), "slices_empty": In(1),
            # the encoder: its words in the readout's memory, its spikes' offers
            "aux": Out(WeightPortSignature(s.sample_width, aux_width)),
            "enc_offer": Out(1), "enc_row": Out(index_width(max(s.n_in, 2))),
            "enc_pend": Out(logical), "enc_took": In(logical),
            # the step's input spikes, a chain (the learning unit turns it once a step)
            "s_in": Out(s.n_in), "spike_rotate": In(1),
            # status
            "cycles": Out(24), "prediction": Out(8), "steps_done": Out(range(s.steps + 1)),
        }
        if learning:
            members["learner"] = Out(LearnControlSignature())
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        s = self.config.sizes
        t = Signal(range(s.steps + 1))
        ch = Signal(range(s.n_in + 1))
        k = Signal(range(s.classes + 1))        # the prediction's class, its best so far
        best = Signal(8)
        best_count = Signal.like(self.counts[0])
        first_step = Signal()           # no spikes of a step before: nothing to scan
        self._frame = fr = _Frame(Signal(range(s.hold)), Signal(range(s.frames + 1)),
                                  Signal(range(s.sample_width + 1)),
                                  Signal(range(s.sample_width + 1)))
        done_flags = Signal(self.P + 1)
        m.d.sync += done_flags.eq(done_flags | self.done)
        bias_offer = Signal()
        with m.If(bias_offer):
            m.d.comb += [self.ro_event.valid.eq(1),
                         self.ro_event.payload.row.eq(self.readout_rows - 1)]
        with m.Elif(self.phase == Phase.ROUTE):
            m.d.comb += [self.ro_event.valid.eq(self.routed_ro.valid),
                         self.ro_event.payload.row.eq(self.routed_ro.payload.row),
                         self.routed_ro.ready.eq(self.ro_event.ready)]
        with m.If(self.running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        m.d.sync += self.enc_pend.eq(self.enc_pend & ~self.enc_took)
        # RUN registered: no path from the host link's state machine into the clears of
        # the cores and the readout
        run_q = Signal()
        m.d.sync += run_q.eq(self.run.start)
        lu = self.learner if self.learning else None
        if lu is not None:
            m.d.comb += [lu.learn.eq(self.run.learn), lu.label.eq(self.run.label)]
        with m.If(self.spike_rotate):       # the learning unit's turn of the chain
            m.d.sync += self.s_in.eq(Cat(self.s_in[1:], self.s_in[0]))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(run_q):
                    m.d.sync += [self.running.eq(1), self.cycles.eq(0), t.eq(0),
                                 self.steps_done.eq(0), first_step.eq(1), fr.held.eq(0),
                                 fr.index.eq(0), fr.base.eq(0)]
                    m.d.comb += [self.clear.eq(1), self.router_clear.eq(1)]
                    if lu is not None:
                        m.d.comb += [lu.clear.eq(1), lu.clear_counters.eq(1)]
                    m.next = "CLEARING"
            with m.State("CLEARING"):
                with m.If(~self.busy):
                    self._start_step(m, ch, fr.base)
            self._encoder(m, t, ch, first_step)
            # 2. routed spikes of step t-1, then the router's barrier
            with m.State("ROUTE"):
                with m.If(self.scans_done):
                    m.d.comb += self.step_end.eq(1)
                    m.d.sync += self.scan_go.eq(0)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(self.step_done):
                    m.d.sync += [self.phase.eq(Phase.OTHER),
                                 bias_offer.eq(int(self.config.topology.readout_bias))]
                    m.next = "BIAS"
            # the readout's bias row: a source that spikes every step
            with m.State("BIAS"):
                with m.If(self.ro_event.ready):
                    m.d.sync += bias_offer.eq(0)
                with m.If((~bias_offer | self.ro_event.ready) & self.slices_empty):
                    m.next = "UPDATE"
            # 3. neurons
            with m.State("UPDATE"):
                m.d.sync += [self.hold.eq(1), done_flags.eq(0)]
                m.d.comb += self.update.eq(1)
                m.next = "SWEEP"
            with m.State("SWEEP"):
                with m.If(done_flags.all()):
                    if lu is not None:
                        m.d.comb += lu.start.eq(1)
                    m.next = "LEARN" if lu is not None else "NEXT"
            # 4.-6. teacher, plasticity sweep and traces (rtl/learn.py)
            if lu is not None:
                with m.State("LEARN"):
                    with m.If(lu.done):
                        m.next = "NEXT"
            with m.State("NEXT"):
                m.d.sync += [t.eq(t + 1), self.steps_done.eq(self.steps_done + 1),
                             self.hold.eq(0)]
                next_base = self._next_frame(m)
                with m.If(t == s.steps - 1):
                    m.d.sync += [k.eq(0), best.eq(0), best_count.eq(0)]
                    m.next = "PREDICT"
                with m.Else():
                    self._start_step(m, ch, next_base)
            self._predict(m, k, best, best_count)
        return m

    def _start_step(self, m, ch, base):
        """Into phase 1 at channel 0 (from CLEARING or NEXT); ``base``: the step's frame's
        first word."""
        m.d.sync += [self.phase.eq(Phase.ENCODE), ch.eq(0), self._frame.addr.eq(base)]
        m.next = "ENC_READ"

    def _next_frame(self, m):
        """At the end of a step: after ``hold`` steps the next frame (the silent tail
        after the last). Returns the next step's frame's first word."""
        s, fr = self.config.sizes, self._frame
        next_base = Signal.like(fr.base)
        m.d.comb += next_base.eq(fr.base)
        if not self.temporal:
            return next_base
        with m.If(fr.held == s.hold - 1):
            m.d.sync += fr.held.eq(0)
            with m.If(fr.index != s.frames):
                m.d.comb += next_base.eq(fr.base + s.n_in)
                m.d.sync += [fr.index.eq(fr.index + 1), fr.base.eq(next_base)]
        with m.Else():
            m.d.sync += fr.held.eq(fr.held + 1)
        return next_base

    def _next_channel(self, m, ch):
        m.d.sync += [ch.eq(ch + 1), self._frame.addr.eq(self._frame.addr + 1)]

    def _encoder(self, m, t, ch, first_step):
        """Phase 1: read channel ``ch`` (a later frame's intensity first, when there is
        one), add, then compare, write back, offer the spike."""
        s, dy, ew = self.config.sizes, self.config.dynamics, self.config.widths.encoder
        aux = self.aux
        frame, frame_addr = self._frame.index, self._frame.addr
        enc_u = aux.rdata[:ew]          # frame 0's intensity, kept in the word
        if self.temporal:
            u_frame = Signal(ew)        # a later frame's, read first (ENC_FRAME)
            enc_add = Mux(frame == 0, enc_u, Mux(frame == s.frames, 0, u_frame))
        else:
            enc_add = enc_u
        enc_acc = Mux(t == 0, 0, aux.rdata[ew:2 * ew])
        enc_sum = Signal(ew + 1)        # registered (ENC_ADD): the read, the add, the
        enc_u_q = Signal(ew)            # compare and the write were one long path
        enc_fire = enc_sum >= dy.enc_theta
        with m.State("ENC_READ"):
            with m.If(ch == s.n_in):
                m.d.sync += [self.phase.eq(Phase.ROUTE), self.scan_go.eq(1),
                             first_step.eq(0)]
                m.d.comb += [self.scan_restart.eq(1), self.scan_skip.eq(first_step)]
                m.next = "ROUTE"
            with m.Else():
                m.d.comb += [aux.re.eq(1), aux.addr.eq(ch)]
                m.next = "ENC_ADD"
                if self.temporal:
                    with m.If((frame != 0) & (frame != s.frames)):
                        m.d.comb += aux.addr.eq(frame_addr)
                        m.next = "ENC_FRAME"
        if self.temporal:
            with m.State("ENC_FRAME"):
                m.d.sync += u_frame.eq(aux.rdata[:ew])
                m.d.comb += [aux.re.eq(1), aux.addr.eq(ch)]
                m.next = "ENC_ADD"
        with m.State("ENC_ADD"):
            m.d.sync += [enc_sum.eq(enc_add + enc_acc), enc_u_q.eq(enc_u)]
            m.next = "ENC_CALC"
        with m.State("ENC_CALC"):
            m.d.comb += [aux.we.eq(1), aux.addr.eq(ch),
                         aux.wdata.eq(Cat(enc_u_q, Mux(enc_fire, enc_sum - dy.enc_theta,
                                                       enc_sum)[:ew]))]
            m.d.sync += self.s_in.eq(Cat(self.s_in[1:], enc_fire))     # channel ch, in order
            with m.If(enc_fire):
                m.d.sync += [self.enc_row.eq(ch),
                             self.enc_pend.eq(sum(1 << g for g in self.layer0))]
                m.next = "ENC_OFFER"
            with m.Else():
                self._next_channel(m, ch)
                m.next = "ENC_READ"
        with m.State("ENC_OFFER"):
            m.d.comb += self.enc_offer.eq(1)
            with m.If(self.enc_pend == 0):
                self._next_channel(m, ch)
                m.next = "ENC_READ"

    def _predict(self, m, k, best, best_count):
        """After the last step: the class with the largest count, one class a cycle."""
        s = self.config.sizes
        with m.State("PREDICT"):
            with m.If(k == s.classes):
                m.d.sync += [self.prediction.eq(best), self.running.eq(0)]
                m.d.comb += self.run.done.eq(1)
                m.next = "IDLE"
            with m.Else():
                cnt = Signal.like(self.counts[0])
                m.d.comb += cnt.eq(Array(self.counts)[k[:index_width(s.classes)]])
                with m.If((k == 0) | (cnt > best_count)):
                    m.d.sync += [best.eq(k), best_count.eq(cnt)]
                m.d.sync += k.eq(k + 1)
