"""LIF neuron core: ``N`` time-multiplexed neurons, their state in block RAM, and the local
crossbar (phases 2 and 3 of docs/architecture.md for one hidden core).

Step protocol (docs/rtl-core.md has the timing):

* ``DELIVER``: axon events are accepted on ``i_event`` (input and routed rows) and, with
  priority, replayed from the core's own spikes of the previous step (local rows
  ``n_ff + n``: the crossbar reads them directly, they are never routed).
* ``update`` (a strobe, once the step's last external event was accepted) ends delivery:
  the core finishes the replay and the events in flight, then sweeps its neurons, one
  per cycle in a three-stage pipeline (read; integrate: leak, current, saturation;
  fire: threshold, psi, reset, write back), emitting each spike on ``o_spike``
  (backpressure stalls the sweep) and each neuron's result on ``o_state``. The sweep
  clears the current buffer behind it and records the spikes for the next step's
  replay, which starts right away. ``done`` pulses one cycle after the last neuron.
* ``hold`` (a level) keeps the replay from starting: the top holds it while the
  plasticity unit updates the weights after a sweep (phases 4-6 come before the replay).
* ``clear`` (a strobe) zeroes membranes, refractory counters, currents and the previous
  spikes: the state at the start of a sample. Reset does the same.

``busy`` is low when ``update`` or ``clear`` may be strobed; external events offered after
``update`` wait for the next step.

Each row is delivered at most once a step (every input, routed source and local neuron
spikes at most once), so a current is a sum of at most ``n_rows`` weights: the crossbar
stores it in just the bits that needs (``Crossbar.acc_width``), exactly.

Memories (docs/rtl-core.md, "Memory layout"): with two or more lanes the membranes live
in the crossbar's lane memories, neuron ``k*lanes + p`` in lane memory ``(p+1) % lanes``
beside its current (lane memory ``p``), so reading a neuron and writing one back uses two
different lane memories each; the spike queue is a stack in its own memory; the
refractory counters, when built, have one too.
"""
from types import SimpleNamespace

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from gen.util import ceil_div, index_width

from .core_ports import NeuronStateSignature, SpikeLayout
from .crossbar import NO_RW_CHECK, Crossbar, EventLayout, index_shape, read_port
from .lif import REF_WIDTH, LifFire, NeuronParamsSignature, leak_integrate
from .memory import WeightPortSignature, WeightWriteSignature
from .stack_pointer import StackPointer

__all__ = ["NeuronCore", "SpikeLayout", "NeuronStateSignature"]


def _bits(value, lo: int, width: int):
    """``width`` bits of ``value`` from bit ``lo`` on, zero-extended: with one word a row
    (``neurons <= lanes``) an index has no word bits, and a 0-bit word would shift the
    bits ``Cat`` puts after it (the membranes' ``user_base`` address)."""
    part = value[lo:lo + width]
    return part if len(part) == width else Cat(part, C(0, width - len(part)))


class _NoPort:
    """Stands in for both ports of an absent memory: assignments go to unused signals,
    ``data`` is never driven (always 0)."""

    def __init__(self, depth: int):
        self.addr = Signal(range(depth))
        self.en = Signal()
        self.data = Signal(REF_WIDTH)


class NeuronCore(wiring.Component):
    """One hidden core: ``neurons`` LIF neurons and a crossbar of ``n_ff`` feed-forward
    rows, ``neurons`` local rows and ``n_long_range`` long-range rows (gen.topology.CoreRows
    order). Widths are ``widths.weight/membrane/current``; ``lanes`` weights per memory
    word. Use :meth:`from_config` to take them from a :class:`gen.config.Config`.

    ``external_weights``: no weight memory inside; the crossbar's weight port is the port
    ``weights`` (:class:`rtl.memory.WeightPortSignature`: ``addr``, ``re``, ``we``,
    ``wdata`` out, ``rdata`` in, read latency 1). ``load`` then only passes through to
    ``weights.we/addr/wdata`` (tie it to 0 if the owner writes the memory itself).

    ``refractory_memory``: False builds no refractory counters (the LIF sees ``ref = 0``
    always); only valid when ``params.refractory`` is 0. :meth:`from_config` sets it
    from ``dynamics.refractory``."""

    def __init__(self, *, neurons: int, n_ff: int, n_long_range: int = 0, weight_width: int,
                 membrane_width: int, current_width: int, lanes: int = 1,
                 backend: str = "auto", external_weights: bool = False,
                 refractory_memory: bool = True, blocks=None, weight_stage: bool = False):
        for name, value, lo in (("neurons", neurons, 1), ("n_ff", n_ff, 0),
                                ("n_long_range", n_long_range, 0)):
            if not isinstance(value, int) or value < lo:
                raise TypeError(f"{name} must be an integer >= {lo}, not {value!r}")
        # ``blocks``: (n_ff, n_long_range) of each logical core this core time-shares
        # (rtl/top.py ``share``): their rows follow one another, and neuron
        # ``b * neurons + n`` is neuron ``n`` of block ``b``
        blocks = [(n_ff, n_long_range)] if blocks is None else [tuple(b) for b in blocks]
        if len(blocks) > 1 and neurons % lanes:
            raise ValueError(f"a shared core needs neurons ({neurons}) divisible by lanes "
                             f"({lanes})")
        starts, self._local_base, row = [], [], 0
        for ff, lr in blocks:
            starts.append(row)
            self._local_base.append(row + ff)
            row += ff + neurons + lr
        self._block_neurons = neurons
        neurons *= len(blocks)
        self._neurons, self._n_ff = neurons, blocks[0][0]
        self._membrane_width, self._current_width = membrane_width, current_width
        self._crossbar = Crossbar(n_rows=row, n_cols=self._block_neurons,
                                  weight_width=weight_width, current_width=current_width,
                                  lanes=lanes, backend=backend,
                                  external_weights=external_weights, distinct_rows=True,
                                  row_blocks=starts, weight_stage=weight_stage,
                                  **({"user_words": ceil_div(neurons, lanes),
                                      "user_width": membrane_width} if lanes > 1 else {}))
        self._refractory_memory = bool(refractory_memory)
        self._lif = LifFire(membrane_width=membrane_width)
        xb = self._crossbar
        members = {
            "i_event": In(stream.Signature(EventLayout(xb.n_rows))),
            "o_spike": Out(stream.Signature(SpikeLayout(neurons))),
            "o_state": Out(NeuronStateSignature(neurons, membrane_width, current_width)),
            "params": In(NeuronParamsSignature(membrane_width, REF_WIDTH)),
            "load": In(WeightWriteSignature(xb.depth, xb.word_width)),
            "update": In(1),
            "clear": In(1),
            "hold": In(1),
            "busy": Out(1),
            "done": Out(1),
        }
        if external_weights:
            members["weights"] = Out(WeightPortSignature(xb.depth, xb.word_width))
        super().__init__(members)

    @classmethod
    def from_config(cls, config, rows, *, lanes: int = 1, backend: str = "auto",
                    external_weights: bool = False, weight_stage: bool = False):
        """The core for ``config`` (gen.config.Config) with crossbar rows ``rows``
        (gen.topology.CoreRows). The refractory counters are built only when
        ``dynamics.refractory > 0``. A list of CoreRows: one core time-shared by those
        logical cores (``blocks``). ``weight_stage``: see :class:`rtl.crossbar.Crossbar`."""
        w = config.widths
        group = list(rows) if isinstance(rows, (list, tuple)) else [rows]
        return cls(neurons=config.sizes.neurons, n_ff=group[0].n_ff,
                   n_long_range=group[0].n_long_range,
                   blocks=[(r.n_ff, r.n_long_range) for r in group],
                   weight_width=w.weight, membrane_width=w.membrane, current_width=w.current,
                   lanes=lanes, backend=backend, external_weights=external_weights,
                   refractory_memory=config.dynamics.refractory > 0,
                   weight_stage=weight_stage)

    crossbar = property(lambda self: self._crossbar, doc="The core's :class:`Crossbar`.")
    neurons = property(lambda self: self._neurons, doc="Neurons (of all logical cores).")
    external_weights = property(lambda self: self._crossbar.external_weights,
                                doc="The weights are outside, behind port ``weights``.")
    refractory_memory = property(lambda self: self._refractory_memory,
                                 doc="Refractory counters in a memory of their own.")

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of every block-RAM memory the core builds (not the weights):
        the crossbar's lane memories (currents, and membranes with two or more lanes),
        the membranes with one lane, the refractory counters if built, the spike stack."""
        xb, N = self._crossbar, self._neurons
        shapes = [(xb.lane_depth, xb.lane_width)] * xb.lanes
        if xb.lanes == 1:
            shapes.append((max(N, 2), self._membrane_width))
        if self._refractory_memory:
            shapes.append((max(N, 2), REF_WIDTH))
        shapes.append((StackPointer(N + 1).depth, index_shape(N).width))
        return shapes

    def elaborate(self, platform):
        m = Module()
        lanes = self._crossbar.lanes
        m.submodules.crossbar = xbar = self._crossbar
        m.submodules.lif = lif = self._lif
        wiring.connect(m, wiring.flipped(self.load), xbar.load)
        if self.external_weights:
            wiring.connect(m, wiring.flipped(self.weights), xbar.weights)
        wiring.connect(m, wiring.flipped(self.params), lif.params)
        xc = xbar.cur
        shared = lanes > 1                  # membranes in the crossbar's lane memories
        mem = self._state_memories(m)
        replay = self._replay(m, mem.sp, mem.q_rd)

        # ---- neuron sweep, three stages: read neuron n; integrate s1_n (leak, current,
        # saturation: the memories' outputs into registers); fire s2_n (threshold, psi,
        # reset; write back, emit) -------------------------------------------------------
        s = self._sweep_counters()
        mw, aw = self._membrane_width, xbar.acc_width

        def cur_of(data):                   # a stored current (``aw`` bits: it is exact)
            return data[:aw].as_signed()

        s1_i = Signal(signed(aw))
        s1_v = Signal(signed(mw))
        if shared:
            with m.Switch(s.s1_lane):
                for p in range(lanes):
                    with m.Case(p):
                        m.d.comb += [s1_i.eq(cur_of(xc.data[p])),
                                     s1_v.eq(xc.data[(p + 1) % lanes][:mw].as_signed())]
        else:
            m.d.comb += [s1_i.eq(cur_of(xc.data[0])), s1_v.eq(mem.v_rd.data)]
        s1_v_int = leak_integrate(s1_v, s1_i, self.params.leak_shift, mw)
        s2_i = Signal(signed(aw))           # sign-extended on ``o_state.current``
        s2_v_int = Signal(signed(mw))
        s2_v = Signal(signed(mw))           # held while refractory (only with the counters)
        s2_ref = Signal(REF_WIDTH)
        m.d.comb += [
            lif.v.eq(s2_v), lif.ref.eq(s2_ref), lif.v_int.eq(s2_v_int),
            mem.ref_rd.addr.eq(s.n), mem.ref_wr.addr.eq(s.s2_n),
            mem.ref_wr.data.eq(lif.ref_out),
            mem.q_wr.addr.eq(mem.sp.state), mem.q_wr.data.eq(s.s2_n),
            self.o_spike.payload.neuron.eq(s.s2_n),
            self.o_state.neuron.eq(s.s2_n), self.o_state.current.eq(s2_i),
            self.o_state.membrane.eq(lif.v_out), self.o_state.spike.eq(lif.spike),
            self.o_state.psi.eq(lif.psi),
            self.busy.eq(~replay.delivering | replay.pending),
        ]
        issue, commit = Signal(), Signal()      # set in SWEEP
        self._sweep_ports(m, s, issue, commit, mem.v_rd, mem.v_wr)
        m.d.comb += [mem.ref_rd.en.eq(issue), mem.ref_wr.en.eq(commit)]
        m.d.sync += self.done.eq(0)
        stages = SimpleNamespace(s1_i=s1_i, s1_v=s1_v, s1_v_int=s1_v_int, s2_i=s2_i,
                                 s2_v=s2_v, s2_v_int=s2_v_int, s2_ref=s2_ref,
                                 issue=issue, commit=commit)
        self._step_fsm(m, s, stages, mem, replay)
        return m

    def _state_memories(self, m):
        """The neurons' memories besides the crossbar's (:attr:`memory_shapes`): the write
        and read ports of the membranes (None with two or more lanes), of the refractory
        counters (stand-ins without them) and of the spike stack, and its pointer."""
        N, lanes = self._neurons, self._crossbar.lanes
        depth = max(N, 2)                   # no 0-bit addresses when N = 1
        # membranes: with two or more lanes, in the crossbar's lane memories (neuron
        # ``k*lanes + p`` in lane memory ``(p + 1) % lanes`` at ``user_base + k``, beside
        # its current in lane memory ``p`` at ``k``); with one lane, a memory of their own
        v_wr = v_rd = None
        if lanes == 1:
            m.submodules.membranes = v_mem = memory.Memory(
                shape=signed(self._membrane_width), depth=depth, init=[], attrs=NO_RW_CHECK)
            v_wr = v_mem.write_port()
            v_rd = read_port(m, v_mem, v_wr, collisions=False, name="v")
        if self._refractory_memory:
            m.submodules.refractory = ref_mem = memory.Memory(shape=REF_WIDTH, depth=depth,
                                                              init=[], attrs=NO_RW_CHECK)
            ref_wr = ref_mem.write_port()
            ref_rd = read_port(m, ref_mem, ref_wr, collisions=False, name="ref")
        else:                               # no counters: ``ref`` reads 0, writes go nowhere
            ref_wr, ref_rd = _NoPort(depth), _NoPort(depth)
        # (the sweep reads and writes different addresses; the stack is written in the sweep
        # and read in delivery: no read meets a write)
        sp = StackPointer(N + 1)                   # the spike stack's pointer (_replay)
        m.submodules.spikes = q_mem = memory.Memory(shape=index_shape(N), depth=sp.depth,
                                                    init=[], attrs=NO_RW_CHECK)
        q_wr = q_mem.write_port()
        q_rd = read_port(m, q_mem, q_wr, collisions=False, name="q")
        return SimpleNamespace(v_wr=v_wr, v_rd=v_rd, ref_wr=ref_wr, ref_rd=ref_rd, sp=sp,
                               q_wr=q_wr, q_rd=q_rd)

    def _replay(self, m, sp, q_rd):
        """Delivery: the previous step's spikes replayed from the stack as local-row
        events, ahead of the external ones. Returns its flags ``rp_valid``, ``pending``
        and ``delivering`` (the step FSM's to drive)."""
        xbar = self._crossbar
        # a stack: the sweep pushes its spikes, the replay pops them (the last first: the
        # order of a step's events does not matter, the sums are exact). Its pointer is a
        # maximal-length LFSR, stepped forward by a push and backward by a pop: no adders
        # (the entries' addresses need only be distinct, not in order)
        rp_valid = Signal()
        delivering = Signal()
        pending = Signal()                  # update strobed, sweep not started yet
        rp_fire = rp_valid & xbar.i_event.ready
        # ``hold``: the replay waits (the plasticity unit owns the weights meanwhile)
        fetch = delivering & ~self.hold & (~rp_valid | rp_fire) & ~sp.empty
        m.d.comb += [q_rd.addr.eq(sp.back), q_rd.en.eq(fetch)]
        with m.If(fetch):
            m.d.sync += [sp.state.eq(sp.back), rp_valid.eq(1)]
        with m.Elif(rp_fire):
            m.d.sync += rp_valid.eq(0)

        # ---- arbiter: replay first, then external events while delivery is open ---------
        accepting = delivering & ~pending
        m.d.comb += [
            xbar.i_event.valid.eq(delivering & (rp_valid | self.i_event.valid & accepting)),
            xbar.i_event.payload.row.eq(self.i_event.payload.row),
            self.i_event.ready.eq(xbar.i_event.ready & ~rp_valid & accepting),
        ]
        local_row = self._local_row(m, q_rd.data)
        with m.If(rp_valid):
            m.d.comb += xbar.i_event.payload.row.eq(local_row)
        with m.If(self.update):
            m.d.sync += pending.eq(1)
        return SimpleNamespace(rp_valid=rp_valid, delivering=delivering, pending=pending)

    def _local_row(self, m, neuron):
        """The crossbar row of a local ``neuron``'s spike (its block's local rows), with
        no adder where the row is a concatenation."""
        qb = len(neuron)
        if len(self._local_base) > 1:        # a shared core: block b's local rows
            nb = self._block_neurons
            local_row = Signal.like(self._crossbar.i_event.payload.row)
            m.d.comb += local_row.eq(neuron + self._local_base[0])
            for b, base in enumerate(self._local_base[1:], 1):
                with m.If(neuron >= b * nb):
                    m.d.comb += local_row.eq(neuron + (base - b * nb))
            return local_row
        if self._n_ff % (1 << qb) == 0:       # n_ff + n is a concatenation: no adder
            return Cat(neuron, C(self._n_ff >> qb, max(1, bits_for(self._n_ff >> qb))))
        return self._n_ff + neuron

    def _sweep_counters(self):
        """The sweep's neuron counter and stage indices, with each neuron's lane and word
        (bits of the index when ``lanes`` is a power of two, else counters of their own)."""
        N, lanes = self._neurons, self._crossbar.lanes
        W = self._crossbar.current_words    # words of all blocks
        # CLEAR zeroes address n of every memory for n < clear_n (lane memories: currents
        # and membranes)
        clear_n = max(N, self._crossbar.lane_depth)
        n = Signal(range(clear_n + 1))
        s1_valid, s2_valid = Signal(), Signal()
        s1_n = Signal(range(max(N, 2)))
        s2_n = Signal.like(s1_n)
        wb = index_width(W)                 # bits of a word index (lane memory addresses)
        # neuron n is lane n % lanes of current word n // lanes
        derived = lanes & (lanes - 1) == 0          # a power of two: the bits of n
        s1_word = None                      # (not needed when derived)
        if derived:
            k = lanes.bit_length() - 1
            lane, s1_lane = (n[:k], s1_n[:k]) if k else (C(0, 1), C(0, 1))
            s2_lane = s2_n[:k] if k else C(0, 1)
            word, s2_word = _bits(n, k, wb), _bits(s2_n, k, wb)
        else:
            lane = Signal(range(max(lanes, 2)))
            word = Signal(range(max(W, 2)))
            s1_lane, s2_lane = Signal.like(lane), Signal.like(lane)
            s1_word, s2_word = Signal.like(word), Signal.like(word)
        return SimpleNamespace(clear_n=clear_n, n=n, s1_valid=s1_valid, s2_valid=s2_valid,
                               s1_n=s1_n, s2_n=s2_n, wb=wb, derived=derived, lane=lane,
                               s1_lane=s1_lane, s2_lane=s2_lane, word=word, s1_word=s1_word,
                               s2_word=s2_word)

    def _sweep_ports(self, m, s, issue, commit, v_rd, v_wr):
        """The sweep's accesses: read neuron n (``issue``), write back s2_n (``commit``)."""
        xc, lanes, lif = self._crossbar.cur, self._crossbar.lanes, self._lif
        if lanes > 1:
            mem_lane = [(q - 1) % lanes for q in range(lanes)]   # whose membrane q holds
            for q in range(lanes):
                cur_r, mem_r = s.lane == q, s.lane == mem_lane[q]
                cur_w, mem_w = s.s2_lane == q, s.s2_lane == mem_lane[q]
                m.d.comb += [
                    xc.addr[q].eq(Cat(s.word[:s.wb], ~cur_r)),
                    xc.en[q].eq(issue & (cur_r | mem_r)),
                    # the current is zeroed behind the sweep, the membrane written back
                    xc.waddr[q].eq(Cat(s.s2_word[:s.wb], mem_w)),
                    xc.we[q].eq(commit & (cur_w | mem_w)),
                    xc.wdata[q].eq(Mux(mem_w, lif.v_out, 0)),
                ]
        else:
            m.d.comb += [
                v_rd.addr.eq(s.n), v_rd.en.eq(issue),
                v_wr.addr.eq(s.s2_n), v_wr.data.eq(lif.v_out), v_wr.en.eq(commit),
                xc.addr[0].eq(s.word), xc.en[0].eq(issue),
                xc.waddr[0].eq(s.s2_word), xc.we[0].eq(commit),
            ]

    def _step_fsm(self, m, s, st, mem, rp):
        """The step's sequence (module docstring): CLEAR, then DELIVER and SWEEP in turn.
        ``s``: the sweep counters; ``st``: the stage registers and strobes; ``mem``: the
        memory ports; ``rp``: the replay's flags."""
        N, lanes, xbar, lif = self._neurons, self._crossbar.lanes, self._crossbar, self._lif
        xc, n = xbar.cur, s.n

        def on_clear():                     # last in every state, so it takes precedence
            with m.If(self.clear):
                m.d.sync += n.eq(0)
                m.next = "CLEAR"

        with m.FSM(init="CLEAR"):
            with m.State("CLEAR"):
                # wait for events in flight, then zero one address of every memory a cycle
                m.d.sync += [rp.rp_valid.eq(0), rp.pending.eq(0),
                             mem.sp.state.eq(mem.sp.empty_state)]
                with m.If(xbar.idle):
                    for q in range(lanes):
                        m.d.comb += [xc.waddr[q].eq(n), xc.wdata[q].eq(0), xc.we[q].eq(1)]
                    if lanes == 1:
                        m.d.comb += [mem.v_wr.addr.eq(n), mem.v_wr.data.eq(0),
                                     mem.v_wr.en.eq(1)]
                    m.d.comb += [mem.ref_wr.addr.eq(n), mem.ref_wr.data.eq(0),
                                 mem.ref_wr.en.eq(1)]
                    m.d.sync += n.eq(n + 1)
                    with m.If(n == s.clear_n - 1):
                        m.d.sync += n.eq(0)
                        m.next = "DELIVER"
                on_clear()

            with m.State("DELIVER"):
                m.d.comb += rp.delivering.eq(1)
                with m.If(rp.pending & ~rp.rp_valid & mem.sp.empty & xbar.idle):
                    m.d.sync += [rp.pending.eq(0), n.eq(0), s.s1_valid.eq(0),
                                 s.s2_valid.eq(0)]
                    if not s.derived:
                        m.d.sync += [s.lane.eq(0), s.word.eq(0)]
                    m.next = "SWEEP"
                on_clear()

            with m.State("SWEEP"):
                # a spike the consumer does not take stalls all three stages (the memories'
                # read ports hold their data while not enabled)
                advance = ~(s.s2_valid & lif.spike & ~self.o_spike.ready)
                m.d.comb += [st.issue.eq(advance & (n < N)),
                             st.commit.eq(s.s2_valid & advance),
                             self.o_spike.valid.eq(s.s2_valid & lif.spike),
                             self.o_state.valid.eq(st.commit)]
                with m.If(advance):
                    m.d.sync += [s.s1_valid.eq(st.issue), s.s1_n.eq(n),
                                 s.s2_valid.eq(s.s1_valid), s.s2_n.eq(s.s1_n),
                                 st.s2_i.eq(st.s1_i), st.s2_v_int.eq(st.s1_v_int)]
                    if self._refractory_memory:
                        m.d.sync += [st.s2_v.eq(st.s1_v), st.s2_ref.eq(mem.ref_rd.data)]
                    if not s.derived:
                        m.d.sync += [s.s1_lane.eq(s.lane), s.s1_word.eq(s.word),
                                     s.s2_lane.eq(s.s1_lane), s.s2_word.eq(s.s1_word)]
                with m.If(st.issue):
                    m.d.sync += n.eq(n + 1)
                    if not s.derived:
                        with m.If(s.lane == lanes - 1):
                            m.d.sync += [s.lane.eq(0), s.word.eq(s.word + 1)]
                        with m.Else():
                            m.d.sync += s.lane.eq(s.lane + 1)
                with m.If(st.commit):
                    m.d.comb += mem.q_wr.en.eq(lif.spike)
                    with m.If(lif.spike):
                        m.d.sync += mem.sp.state.eq(mem.sp.forth)
                    with m.If(s.s2_n == N - 1):
                        m.d.sync += [self.done.eq(1), n.eq(0), s.s1_valid.eq(0),
                                     s.s2_valid.eq(0)]
                        m.next = "DELIVER"
                on_clear()
