"""The readout population (:class:`ReadoutCore`): the last hidden layer's neurons (and a
bias row) project onto ``classes * per_class`` LIF neurons whose spikes are counted per
class; the prediction is the class with the most spikes (rtl/sequencer.py). Its weights sit
in the upper part of the last core's weight bank (rtl/memory.py ``WeightBank``), read in the
cycles that core's crossbar leaves free; its state block RAM also holds the input encoder's
words (``aux``)."""
from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.util import ceil_div

from .crossbar import NO_RW_CHECK, EventLayout, read_port
from .core_ports import NeuronStateSignature
from .memory import LutRamShape, WeightPortSignature, lut_ram_attrs
from .lif import REF_WIDTH, LifFire, leak_integrate, saturate

__all__ = ["ReadoutCore", "event_cycles", "pipelined_sweep", "sweep_cycles"]


def pipelined_sweep(readout: int, core_sweep: int) -> bool:
    """Whether the readout sweeps a neuron a cycle: where its 4 cycles a neuron would
    outlast the hidden cores' sweep of ``core_sweep`` cycles, which runs beside it (a
    core each on the ECP5: ``N + 4``), so that it would set the step's update phase.
    Not on the UP5K, whose shared core sweeps its 4 x 64 neurons for longer anyway and
    whose cells are all used (the pipeline's registers took the 4-lane chip from 5,200
    to 5,277 of 5,280 logic cells and its clock below 30 MHz)."""
    return 4 * readout + 2 > core_sweep


def event_cycles(words_per_row: int, lanes: int, add_lanes: int) -> int:
    """Cycles from one event to the next without bank contention (gen/perfmodel.py): a
    current word a cycle, ``lanes // add_lanes`` a weight word, with the event's address
    cycle and the IDLE cycle that takes the next."""
    return words_per_row * (lanes // add_lanes) + 2


def sweep_cycles(readout: int, pipelined: bool) -> int:
    """The readout's sweep, from the update to its end (gen/perfmodel.py)."""
    return readout + 4 if pipelined else 4 * readout + 2


class ReadoutCore(wiring.Component):
    """The readout population: ``rows`` axons (last-layer hidden neurons, then the bias
    row), ``neurons = classes * per_class`` LIF neurons with ``theta_out`` /
    ``leak_shift_out``, and the class counts.

    Weights come through a shared-bank port (``weights``, a read only when ``weights_grant``): row
    ``r`` is words ``base + r*W .. + W-1``, ``W = ceil(neurons / lanes)``, the crossbar
    layout. The currents are kept in a memory of their own, several to a word, so an
    event adds several lanes a cycle; the membranes (with their
    refractory counts) in a second memory, at ``0 .. R-1``, and ``aux_words`` words from the
    next power of two above ``R - 1`` on for another user (the encoder), reachable
    through ``aux`` while the readout is idle.

    ``add_lanes`` (default ``lanes``, a divisor of it) are added a cycle: a weight word
    in ``B = lanes // add_lanes`` beats, the currents ``add_lanes`` to a word.

    Timing: an event takes ``W`` weight reads (each waits for a free bank cycle) and is
    ``W * B + 2`` cycles from the one before without contention (its address cycle and
    the IDLE cycle that takes it included; the adds trail the reads by three cycles),
    where adding a neuron a cycle took ``R + 4``. With ``pipelined_sweep`` the sweep
    takes a neuron a cycle through four stages (``R + 4`` cycles), else 4 cycles a
    neuron (``4R + 2``) with fewer registers: :func:`pipelined_sweep` says which.
    ``update`` / ``clear`` / ``done`` / ``busy`` as for
    ``NeuronCore``; ``counts[k]`` are the class spike counts since ``clear``, ``spikes``
    the last sweep's spikes (bit ``i`` neuron ``i``, for the teacher); ``o_state`` each
    neuron's current and membrane as the sweep writes them back (as ``NeuronCore``'s: for
    a testbench's per-step compare; the chip leaves it open and synthesis removes it)."""

    def __init__(self, config, *, rows: int, lanes: int, base: int, depth: int,
                 aux_words: int = 0, aux_width: int = 1, add_lanes: int | None = None,
                 pipelined_sweep: bool = True):
        s, w, d = config.sizes, config.widths, config.dynamics
        add_lanes = add_lanes or lanes
        if lanes % add_lanes:
            raise ValueError(f"add_lanes = {add_lanes} must divide lanes = {lanes}")
        self._cfg = config
        self._rows, self._lanes, self._base = rows, lanes, base
        self._add, self._beats = add_lanes, lanes // add_lanes
        self._pipelined = pipelined_sweep
        self._neurons = s.readout
        self._W = ceil_div(s.readout, lanes)
        self._count_width = max(1, (s.per_class * s.steps).bit_length())
        self._use_ref = d.refractory > 0
        self.width = max(w.membrane + (REF_WIDTH if self._use_ref else 0), aux_width)
        # the aux words from a power of two on: their address is a concatenation, no
        # adder in front of the memory (the encoder's path into it was the longest)
        self.aux_base = 1 << (s.readout - 1).bit_length()
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
    def pipelined(self) -> bool:
        """Whether the sweep takes a neuron a cycle (:func:`pipelined_sweep`)."""
        return self._pipelined

    @property
    def words_per_row(self) -> int:
        return self._W

    @property
    def depth(self) -> int:
        return self._rows * self._W

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of the memories this core instantiates: the currents,
        ``add_lanes`` to a word, and the state (membranes, then the aux words): what the
        build plan counts (gen/build.py)."""
        return [LutRamShape(max(self._W * self._beats, 2),
                            self._add * self._cfg.widths.current),
                LutRamShape(max(self.state_depth, 2), self.width)]

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        s, wd, dy = cfg.sizes, cfg.widths, cfg.dynamics
        R, W, lanes = self._neurons, self._W, self._lanes
        A, B = self._add, self._beats            # lanes added a cycle; beats a word
        ww, cw, mw = wd.weight, wd.current, wd.membrane
        use_ref = self._use_ref
        (cur_depth, cur_width), (depth, width) = self.memory_shapes
        attrs = {**NO_RW_CHECK, **lut_ram_attrs(platform)}
        # currents: word k holds neurons k*A .. k*A + A-1, so word k*B + b is beat b of
        # weight word k: an event adds a word (a beat of a weight word) a cycle
        m.submodules.cur = cm = memory.Memory(shape=cur_width, depth=cur_depth, init=[],
                                              attrs=attrs)
        cwr = cm.write_port()
        # no read meets a write to its word in the same cycle (a word is read three
        # cycles after the last write to it at the earliest: see the event pipeline)
        crd = read_port(m, cm, cwr, collisions=False, name="cur")
        m.submodules.state = st = memory.Memory(shape=width, depth=depth, init=[],
                                                attrs=attrs)
        wr = st.write_port()
        # no read meets a write to its address in the same cycle (the pipelined sweep
        # reads neuron n while it writes n-3; the other writes a neuron two cycles after
        # reading it and reads nothing then): no bypass
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

        # ---- an event: a current word a cycle through three stages ----------------------
        # ACC reads weight word k at its first beat (when the bank grants it) and issues
        # one current word a cycle; a cycle later (``a``) the weight word is registered
        # (first beat) and the current word read; then (``b``) the beat's lanes are
        # added and saturated into a register; then (``c``) the sum is written back.
        # Current word j's write is in the cycle word j+2 is read; the next event's first
        # read comes 3 cycles after this one's last write at the earliest; the register
        # holds weight word k until word k+1's first beat reaches ``a``, a cycle after
        # k's last beat was added.
        subs = W * B                               # current words an event
        addr = Signal.like(self.weights.addr)      # next weight word
        left = Signal(range(max(subs, 2)))         # current words of the event still to do
        nxt = Signal(range(max(subs, 2)))          # ... the next one
        beat = Signal(range(max(B, 2)))            # ... its beat
        row_q = Signal.like(self.i_event.payload.row)
        a_valid, a_first = Signal(), Signal()
        a_word, b_word, c_word = (Signal(range(max(subs, 2)), name=f"{x}_word")
                                  for x in "abc")
        a_beat, b_beat = Signal.like(beat), Signal.like(beat)
        b_valid, c_valid = Signal(), Signal()
        wreg = Signal(lanes * ww)                  # the weight word being added
        c_data = Signal(cur_width)                 # stage c's sums
        m.d.sync += [a_valid.eq(0), b_valid.eq(a_valid), c_valid.eq(b_valid),
                     b_word.eq(a_word), c_word.eq(b_word), b_beat.eq(a_beat)]
        with m.If(a_valid):
            with m.If(a_first):
                m.d.sync += wreg.eq(self.weights.rdata)
            m.d.comb += [crd.addr.eq(a_word), crd.en.eq(1)]
        with m.If(b_valid):
            beat_w = wreg.word_select(b_beat, A * ww) if B > 1 else wreg
            m.d.sync += c_data.eq(Cat(
                saturate(crd.data.word_select(i, cw).as_signed()
                         + beat_w.word_select(i, ww).as_signed(), signed(cw))
                for i in range(A)))
        with m.If(c_valid):
            m.d.comb += [cwr.addr.eq(c_word), cwr.en.eq(1), cwr.data.eq(c_data)]
        flowing = a_valid | b_valid | c_valid

        # ---- the sweep ------------------------------------------------------------------
        n = Signal(range(max(R, subs) + 1))  # neuron (word, when clearing)
        lane = Signal(range(max(A, 2)))      # ... its lane in current word ``word``
        word = Signal(range(max(subs, 2)))
        # a neuron a cycle through four stages: 0 reads its current word (at the word's
        # first lane; the port holds it for the others) and its membrane, 1 registers
        # both (and clears the current word), 2 leaks and integrates, 3 fires and
        # writes the membrane back: stage 3 writes neuron n-3 while stage 0 reads n
        s1, s2, s3 = Signal(), Signal(), Signal()          # a neuron in stage 1, 2, 3
        s1_lane = Signal.like(lane)
        s1_word = Signal.like(word)
        s1_first = Signal()
        s1_n, s2_n = Signal.like(n), Signal.like(n)
        cur_q = Signal(signed(cw))           # stage 2's current, then stage 3's
        mem_q = Signal(signed(mw))           # stage 2's membrane
        ref_m = Signal(REF_WIDTH)            # ... and refractory count
        cur_f = Signal(signed(cw))
        v_q = Signal(signed(mw))             # stage 3's membrane, refractory count and
        ref_q = Signal(REF_WIDTH)            # leaked and integrated membrane
        v_int = Signal(signed(mw))
        n3 = Signal.like(n)                  # stage 3's neuron
        pending = Signal()
        cls = Signal(range(s.classes + 1))
        within = Signal(range(s.per_class + 1))
        with m.If(self.update):
            m.d.sync += pending.eq(1)
        m.d.sync += self.done.eq(0)

        def on_clear():
            with m.If(self.clear):
                m.d.sync += [n.eq(0), pending.eq(0), a_valid.eq(0), b_valid.eq(0),
                             c_valid.eq(0)]
                m.d.sync += [c.eq(0) for c in self.counts]
                m.d.sync += [s1.eq(0), s2.eq(0), s3.eq(0)]
                m.next = "CLEAR"

        with m.FSM(init="CLEAR") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.i_event.ready.eq(~pending)
                with m.If(self.i_event.valid & ~pending):
                    m.d.sync += [row_q.eq(self.i_event.payload.row),
                                 left.eq(subs - 1), nxt.eq(0), beat.eq(0)]
                    m.next = "ADDR"
                with m.Elif(pending & ~self.update):
                    m.d.sync += [pending.eq(0), n.eq(0), lane.eq(0), word.eq(0),
                                 cls.eq(0), within.eq(0)]
                    m.next = "SWEEP" if self._pipelined else "S_CUR"
                on_clear()
            # the event's first word address: a cycle of its own, off the path from the
            # router's output; then a word a granted cycle: ``W * B + 2`` cycles an event,
            # the IDLE cycle that takes the next included, with free bank cycles
            with m.State("ADDR"):
                m.d.sync += addr.eq(self._base + row_q * W)
                m.next = "ACC"
                on_clear()
            with m.State("ACC"):
                go = Signal()
                with m.If(beat == 0):
                    m.d.comb += [self.weights.addr.eq(addr),
                                 self.weights.re.eq(self.weights_grant),
                                 go.eq(self.weights_grant)]
                with m.Else():
                    m.d.comb += go.eq(1)
                with m.If(go):
                    m.d.sync += [left.eq(left - 1), nxt.eq(nxt + 1), a_valid.eq(1),
                                 a_word.eq(nxt), a_beat.eq(beat), a_first.eq(beat == 0),
                                 beat.eq(Mux(beat == B - 1, 0, beat + 1))]
                    with m.If(beat == 0):
                        m.d.sync += addr.eq(addr + 1)
                    with m.If(left == 0):
                        m.next = "IDLE"
                on_clear()
            def fire(neuron, current):
                """The LIF update's second half for ``neuron``: the membrane written
                back, the spike counted (the sweep's last stage or state)."""
                m.d.comb += [lif.v.eq(v_q), lif.ref.eq(ref_q), lif.v_int.eq(v_int),
                             wr.addr.eq(neuron), wr.en.eq(1),
                             wr.data.eq(Cat(lif.v_out, lif.ref_out) if use_ref
                                        else lif.v_out)]
                os = self.o_state
                m.d.comb += [os.valid.eq(1), os.neuron.eq(neuron), os.current.eq(current),
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

            def next_lane():
                with m.If(lane == A - 1):
                    m.d.sync += [lane.eq(0), word.eq(word + 1)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)

            if self._pipelined:
                # sweep, pipelined: a neuron a cycle, ``R + 4`` cycles (after the event
                # pipeline drains)
                with m.State("SWEEP"):
                    issue = Signal()
                    m.d.comb += issue.eq(~flowing & (n != R))
                    m.d.sync += [s1.eq(issue), s2.eq(s1), s3.eq(s2)]
                    with m.If(issue):                                       # stage 0
                        m.d.comb += [crd.addr.eq(word), crd.en.eq(lane == 0),
                                     rd.addr.eq(n), rd.en.eq(1)]
                        m.d.sync += [s1_lane.eq(lane), s1_word.eq(word), s1_n.eq(n),
                                     s1_first.eq(lane == 0), n.eq(n + 1)]
                        next_lane()
                    with m.If(s1):                                          # stage 1
                        m.d.sync += [cur_q.eq(crd.data.word_select(s1_lane, cw).as_signed()),
                                     mem_q.eq(rd.data[:mw].as_signed()), s2_n.eq(s1_n),
                                     ref_m.eq(rd.data[mw:mw + REF_WIDTH] if use_ref else 0)]
                        with m.If(s1_first):
                            m.d.comb += [cwr.addr.eq(s1_word), cwr.data.eq(0), cwr.en.eq(1)]
                    with m.If(s2):                                          # stage 2
                        m.d.sync += [v_q.eq(mem_q), ref_q.eq(ref_m), cur_f.eq(cur_q),
                                     v_int.eq(leak_integrate(mem_q, cur_q, dy.leak_shift_out,
                                                             mw)),
                                     n3.eq(s2_n)]
                    with m.If(s3):                                          # stage 3
                        fire(n3, cur_f)
                        with m.If(n3 == R - 1):
                            m.d.sync += [self.done.eq(1), s1.eq(0), s2.eq(0), s3.eq(0)]
                            m.next = "IDLE"
                    on_clear()
            else:
                # sweep, one neuron at a time: 4 cycles a neuron (current, membrane, the LIF
                # update in two halves); fewer registers, for the UP5K, whose shared core's
                # sweep outlasts it anyway
                with m.State("S_CUR"):
                    with m.If(~flowing):
                        m.d.comb += [crd.addr.eq(word), crd.en.eq(lane == 0)]
                        m.next = "S_MEM"
                    on_clear()
                with m.State("S_MEM"):
                    m.d.sync += cur_q.eq(crd.data.word_select(lane, cw).as_signed())
                    m.d.comb += [rd.addr.eq(n), rd.en.eq(1)]
                    with m.If(lane == 0):
                        m.d.comb += [cwr.addr.eq(word), cwr.data.eq(0), cwr.en.eq(1)]
                    m.next = "S_UPD"
                    on_clear()
                with m.State("S_UPD"):
                    m.d.sync += [v_q.eq(rd.data[:mw].as_signed()),
                                 ref_q.eq(rd.data[mw:mw + REF_WIDTH] if use_ref else 0),
                                 v_int.eq(leak_integrate(rd.data[:mw].as_signed(), cur_q,
                                                         dy.leak_shift_out, mw))]
                    m.next = "S_FIRE"
                    on_clear()
                with m.State("S_FIRE"):
                    fire(n, cur_q)
                    m.d.sync += n.eq(n + 1)
                    next_lane()
                    with m.If(n == R - 1):
                        m.d.sync += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "S_CUR"
                    on_clear()
            # zero the membranes and the current words, one of each a cycle
            with m.State("CLEAR"):
                m.d.comb += [wr.addr.eq(n), wr.data.eq(0), wr.en.eq(n < R),
                             cwr.addr.eq(n), cwr.data.eq(0), cwr.en.eq(n < subs)]
                m.d.sync += n.eq(n + 1)
                with m.If(n == max(R, subs) - 1):
                    m.next = "IDLE"
                on_clear()
        m.d.comb += self.busy.eq(pending | flowing | ~fsm.ongoing("IDLE"))
        return m
