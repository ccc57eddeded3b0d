"""The readout population (:class:`ReadoutCore`): the last hidden layer's neurons (and a
bias row) project onto ``classes * per_class`` LIF neurons whose spikes are counted per
class; the prediction is the class with the most spikes (rtl/sequencer.py). Its weights sit
in the upper part of the last core's weight bank (rtl/memory.py ``WeightBank``), read in the
cycles that core's crossbar leaves free; its state block RAM also holds the input encoder's
words (``aux``)."""
from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.util import ceil_div

from .crossbar import NO_RW_CHECK, EventLayout, read_port
from .core_ports import NeuronStateSignature
from .memory import LutRamShape, WeightPortSignature, lut_ram_attrs
from .lif import REF_WIDTH, LifFire, leak_integrate, saturate

__all__ = ["ReadoutCore"]


class ReadoutCore(wiring.Component):
    """The readout population: ``rows`` axons (last-layer hidden neurons, then the bias
    row), ``neurons = classes * per_class`` LIF neurons with ``theta_out`` /
    ``leak_shift_out``, and the class counts.

    Weights come through a shared-bank port (``weights``, a read only when ``weights_grant``): row
    ``r`` is words ``base + r*W .. + W-1``, ``W = ceil(neurons / lanes)``, the crossbar
    layout. State is one block RAM (one read and one write port) of ``width =
    max(current, membrane [+ 8 refractory bits])`` bits: currents at ``0 .. R-1``,
    membranes at ``R .. 2R-1``, and ``aux_words`` words from the next power of two above
    ``2R - 1`` on for another user
    (the encoder), reachable through ``aux`` while the readout is idle.

    Timing: an event takes ``W`` weight reads (each waits for a free bank cycle) and one
    current read-modify-write per neuron, the next word read while a word's lanes are
    added: ``R + 3`` cycles without contention (``3R + 1`` at one lane), and the IDLE
    cycle that takes the next event, so events are ``R + 4`` apart; the sweep
    takes 4 cycles a neuron. ``update`` / ``clear`` / ``done`` / ``busy`` as for
    ``NeuronCore``; ``counts[k]`` are the class spike counts since ``clear``, ``spikes``
    the last sweep's spikes (bit ``i`` neuron ``i``, for the teacher); ``o_state`` each
    neuron's current and membrane as the sweep writes them back (as ``NeuronCore``'s: for
    a testbench's per-step compare; the chip leaves it open and synthesis removes it)."""

    def __init__(self, config, *, rows: int, lanes: int, base: int, depth: int,
                 aux_words: int = 0, aux_width: int = 1):
        s, w, d = config.sizes, config.widths, config.dynamics
        self._cfg = config
        self._rows, self._lanes, self._base = rows, lanes, base
        self._neurons = s.readout
        self._W = ceil_div(s.readout, lanes)
        self._count_width = max(1, (s.per_class * s.steps).bit_length())
        self._use_ref = d.refractory > 0
        self.width = max(w.current, w.membrane + (REF_WIDTH if self._use_ref else 0),
                         aux_width)
        # the aux words from a power of two on: their address is a concatenation, no
        # adder in front of the memory (the encoder's path into it was the longest)
        self.aux_base = 1 << (2 * s.readout - 1).bit_length()
        self.state_depth = self.aux_base + aux_words
        super().__init__({
            "i_event": In(stream.Signature(EventLayout(rows))),
            "weights": Out(WeightPortSignature(depth, lanes * w.weight)),
            "weights_grant": In(1),
            "aux": In(WeightPortSignature(aux_words, self.width)),
            "update": In(1), "clear": In(1), "busy": Out(1), "done": Out(1),
            "counts": Out(unsigned(self._count_width)).array(s.classes),
            "spikes": Out(s.readout),
            "o_state": Out(NeuronStateSignature(s.readout, w.membrane, w.current)),
        })

    @property
    def words_per_row(self) -> int:
        return self._W

    @property
    def depth(self) -> int:
        return self._rows * self._W

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of the block RAM this core instantiates (its state, with the
        aux words): what the build plan counts (gen/build.py)."""
        return [LutRamShape(max(self.state_depth, 2), self.width)]

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        s, wd, dy = cfg.sizes, cfg.widths, cfg.dynamics
        R, W, lanes = self._neurons, self._W, self._lanes
        ww, cw, mw = wd.weight, wd.current, wd.membrane
        use_ref = self._use_ref
        (depth, width), = self.memory_shapes
        m.submodules.state = st = memory.Memory(shape=width, depth=depth, init=[],
                                                attrs={**NO_RW_CHECK,
                                                       **lut_ram_attrs(platform)})
        wr = st.write_port()
        # no state reads the word written in the same cycle (a read-modify-write writes
        # neuron n-1 while reading n): no bypass (it was on the critical path: host decode
        # -> write enable -> read data) and no collision logic
        rd = read_port(m, st, wr, collisions=False, name="state")
        k = (self.aux_base - 1).bit_length()        # aux_base = 2**k
        ax = self.aux
        aux = Cat(ax.addr, C(0, k - len(ax.addr)), C(1, 1)) \
            if len(ax.addr) <= k else self.aux_base + ax.addr
        m.d.comb += [rd.addr.eq(aux), rd.en.eq(ax.re), wr.addr.eq(aux), wr.en.eq(ax.we),
                     wr.data.eq(ax.wdata), ax.rdata.eq(rd.data)]

        m.submodules.lif = lif = LifFire(membrane_width=mw)
        m.d.comb += [lif.params.theta.eq(dy.theta_out),
                     lif.params.leak_shift.eq(dy.leak_shift_out),
                     lif.params.psi_window.eq(0), lif.params.refractory.eq(dy.refractory),
                     lif.params.reset_subtract.eq(int(dy.reset_subtract))]

        addr = Signal.like(self.weights.addr)      # next weight word
        row_q = Signal.like(self.i_event.payload.row)
        wreg = Signal(lanes * ww)            # the weight word being added
        # the next word is read at a word's second-to-last lane: ``fetched``, its read
        # was granted last cycle, so it is on ``rdata`` now (and only now), at the last
        # lane, where it is taken; without a grant then, FETCH reads it as before
        fetched = Signal()
        lane = Signal(range(max(lanes, 2)))
        n = Signal(range(2 * R + 1))         # neuron (word, when clearing)
        room = Signal()                      # n + 2 < R: a next word to read ahead (a
        # register kept with n: the compare's carry chain was on the path to the bank)
        wb_valid = Signal()                  # a current read last cycle: write it back
        wb_n = Signal(range(max(R, 2)))
        wb_w = Signal(signed(ww))
        wb2_valid = Signal()                 # ... its new value, written this cycle
        wb2_n = Signal.like(wb_n)
        wb2_data = Signal(signed(cw))
        cur_q = Signal(signed(cw))
        v_q = Signal(signed(mw))             # the membrane read, and its refractory count
        ref_q = Signal(REF_WIDTH)
        v_int = Signal(signed(mw))           # leaked and integrated (S_UPD -> S_FIRE)
        pending = Signal()
        cls = Signal(range(s.classes + 1))
        within = Signal(range(s.per_class + 1))
        with m.If(self.update):
            m.d.sync += pending.eq(1)
        m.d.sync += [self.done.eq(0), wb_valid.eq(0), wb2_valid.eq(wb_valid),
                     fetched.eq(0)]

        # write-back stage of the current read-modify-write (any state)
        # the sum is registered, then written (one long path less: the add and the
        # saturation no longer meet the write multiplexers). Reads never overtake it: a
        # neuron's current is read again only by the next event (cycles later) or the
        # sweep, which waits for both stages.
        with m.If(wb_valid):
            m.d.sync += [wb2_n.eq(wb_n),
                         wb2_data.eq(saturate(rd.data[:cw].as_signed() + wb_w, signed(cw)))]
        with m.If(wb2_valid):
            m.d.comb += [wr.addr.eq(wb2_n), wr.en.eq(1), wr.data.eq(wb2_data)]

        def on_clear():
            with m.If(self.clear):
                m.d.sync += [n.eq(0), pending.eq(0), wb_valid.eq(0), wb2_valid.eq(0)]
                m.d.sync += [c.eq(0) for c in self.counts]
                m.next = "CLEAR"

        with m.FSM(init="CLEAR") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.i_event.ready.eq(~pending)
                with m.If(self.i_event.valid & ~pending):
                    m.d.sync += [row_q.eq(self.i_event.payload.row), n.eq(0),
                                 room.eq(int(2 < R))]
                    m.next = "ADDR"
                with m.Elif(pending & ~self.update):
                    m.d.sync += [pending.eq(0), n.eq(0), cls.eq(0), within.eq(0)]
                    m.next = "S_CUR"
                on_clear()
            # accumulate one event: its first word's address (a cycle of its own: off the
            # path from the router's output), its first weight word, then its lanes one
            # neuron a cycle while the next word is read: ``R + 3`` cycles an event with
            # free bank cycles and 2 or more lanes (``3R + 1`` at one lane), where
            # reading and adding in turn took ``R + 2W + 1``
            with m.State("ADDR"):
                m.d.sync += addr.eq(self._base + row_q * W)
                m.next = "FETCH"
                on_clear()
            with m.State("FETCH"):
                m.d.comb += [self.weights.addr.eq(addr), self.weights.re.eq(self.weights_grant)]
                with m.If(self.weights_grant):
                    m.d.sync += addr.eq(addr + 1)
                    m.next = "LATCH"
                on_clear()
            with m.State("LATCH"):
                m.d.sync += [wreg.eq(self.weights.rdata), lane.eq(0)]
                m.next = "LANES"
                on_clear()
            with m.State("LANES"):
                m.d.comb += [rd.addr.eq(n), rd.en.eq(1)]
                m.d.sync += [wb_valid.eq(1), wb_n.eq(n),
                             wb_w.eq(wreg.word_select(lane, ww).as_signed()),
                             n.eq(n + 1), room.eq(n + 3 < R), lane.eq(lane + 1)]
                if lanes >= 2:
                    with m.If((lane == lanes - 2) & room):
                        m.d.comb += [self.weights.addr.eq(addr),
                                     self.weights.re.eq(self.weights_grant)]
                        with m.If(self.weights_grant):
                            m.d.sync += [addr.eq(addr + 1), fetched.eq(1)]
                with m.If(n == R - 1):
                    m.next = "IDLE"
                with m.Elif(lane == lanes - 1):
                    with m.If(fetched):
                        m.d.sync += [wreg.eq(self.weights.rdata), lane.eq(0)]
                    with m.Else():
                        m.next = "FETCH"
                on_clear()
            # sweep: 3 cycles a neuron (current, membrane, update)
            with m.State("S_CUR"):
                with m.If(~wb_valid & ~wb2_valid):
                    m.d.comb += [rd.addr.eq(n), rd.en.eq(1)]
                    m.next = "S_MEM"
                on_clear()
            with m.State("S_MEM"):
                m.d.sync += cur_q.eq(rd.data[:cw].as_signed())
                m.d.comb += [rd.addr.eq(R + n), rd.en.eq(1),
                             wr.addr.eq(n), wr.data.eq(0), wr.en.eq(1)]
                m.next = "S_UPD"
                on_clear()
            # 4 cycles a neuron: the LIF update is split in two halves (one was the
            # chip's longest path)
            with m.State("S_UPD"):
                m.d.sync += [v_q.eq(rd.data[:mw].as_signed()),
                             ref_q.eq(rd.data[mw:mw + REF_WIDTH] if use_ref else 0),
                             v_int.eq(leak_integrate(rd.data[:mw].as_signed(), cur_q,
                                                     dy.leak_shift_out, mw))]
                m.next = "S_FIRE"
                on_clear()
            with m.State("S_FIRE"):
                m.d.comb += [lif.v.eq(v_q), lif.ref.eq(ref_q), lif.v_int.eq(v_int),
                             wr.addr.eq(R + n), wr.en.eq(1),
                             wr.data.eq(Cat(lif.v_out, lif.ref_out) if use_ref
                                        else lif.v_out)]
                os = self.o_state
                m.d.comb += [os.valid.eq(1), os.neuron.eq(n), os.current.eq(cur_q),
                             os.membrane.eq(lif.v_out), os.spike.eq(lif.spike),
                             os.psi.eq(lif.psi)]
                # this step's spikes, neuron i in bit i once the sweep is done
                m.d.sync += self.spikes.eq(Cat(self.spikes[1:], lif.spike))
                with m.If(lif.spike):
                    with m.Switch(cls):
                        for k in range(s.classes):
                            with m.Case(k):
                                m.d.sync += self.counts[k].eq(self.counts[k] + 1)
                with m.If(within == s.per_class - 1):
                    m.d.sync += [within.eq(0), cls.eq(cls + 1)]
                with m.Else():
                    m.d.sync += within.eq(within + 1)
                m.d.sync += n.eq(n + 1)
                with m.If(n == R - 1):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "S_CUR"
                on_clear()
            # zero currents and membranes, one word a cycle
            with m.State("CLEAR"):
                m.d.comb += [wr.addr.eq(n), wr.data.eq(0), wr.en.eq(1)]
                m.d.sync += n.eq(n + 1)
                with m.If(n == 2 * R - 1):
                    m.next = "IDLE"
                on_clear()
        m.d.comb += self.busy.eq(pending | ~fsm.ongoing("IDLE"))
        return m
