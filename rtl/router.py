"""Sparse small-world spike router: address events ``(source core, neuron)`` in, multicast
expanded through a routing table in block RAM, ``(dest core, row)`` events out, one
valid/ready stream per destination behind its own FIFO, with a step barrier.

Datapath (docs/router.md):

1. a round-robin arbiter takes one event a cycle from the ``src_cores`` input streams and
   reads the index table at ``core << neuron_bits | neuron``: ``(offset, count)``;
2. the expander reads ``count`` entries ``offset ..`` of the entry table, one a cycle;
3. each entry ``(dest, row)`` is written into destination ``dest``'s FIFO; a full FIFO
   stalls the expander (and so the arbiter): nothing is ever dropped;
4. ``o[d]`` streams ``(d, row)`` out of FIFO ``d`` through a :class:`SkidBuffer`, whose
   registered ``i.ready`` keeps the destinations' ``ready`` out of the FIFOs, the
   expander and the arbiter (no combinational path between a core and the router's
   inputs); it adds no latency.

The arbiter takes the next event in the cycle the expander issues the last entry of the
current one, so a busy router issues one entry (delivery) a cycle; an event without
entries costs one cycle.

Step barrier: ``step_end`` (a strobe, after the last event of the step has been accepted)
closes the step. From that cycle on no input is accepted until ``step_done`` (a strobe)
says every entry of the step has left its FIFO through ``o[d]``; events offered meanwhile
wait and belong to the next step. ``idle`` is high when nothing is in flight.

Tables are loaded through ``load_index`` / ``load_entry`` (one word a cycle, only while
``idle`` and no event is offered); their contents come from gen.routing.routing_tables.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.routing import RouterParams
from gen.util import index_width

__all__ = ["Router", "RouterInLayout", "RouterOutLayout", "IndexLayout", "EntryLayout",
           "TableWriteSignature", "DestFifo", "SkidBuffer", "RegisterSlice"]



class RouterInLayout(data.StructLayout):
    """An address event: a spike of ``neuron`` of source core ``core``."""

    def __init__(self, src_cores: int, neuron_bits: int):
        super().__init__({"neuron": neuron_bits, "core": index_width(src_cores)})


class RouterOutLayout(data.StructLayout):
    """A delivery: crossbar row (axon) ``row`` of destination ``core``."""

    def __init__(self, dests: int, rows: int):
        super().__init__({"row": index_width(rows), "core": index_width(dests)})


class IndexLayout(data.StructLayout):
    """Index-table word: the source's entries are ``offset .. offset+count-1``."""

    def __init__(self, table_depth: int):
        super().__init__({"offset": index_width(table_depth),
                          "count": table_depth.bit_length()})


class StoredIndexLayout(data.StructLayout):
    """The index word as the table keeps it: the host's ``(offset, count)`` and, decoded
    as it is written, whether ``count`` is 0 or 1, which the arbiter needs in the cycle
    the word is read (the compares on the block RAM's output were the UP5K chip's
    critical path)."""

    def __init__(self, table_depth: int):
        super().__init__({"word": IndexLayout(table_depth), "empty": 1, "single": 1})


class EntryLayout(data.StructLayout):
    """Entry-table word: one destination of a source."""

    def __init__(self, dests: int, rows: int):
        super().__init__({"row": index_width(rows), "dest": index_width(dests)})


class TableWriteSignature(wiring.Signature):
    """A memory write port seen from the writer: ``en`` writes ``data`` at ``addr``."""

    def __init__(self, depth: int, shape):
        super().__init__({"en": Out(1), "addr": Out(index_width(depth)),
                          "data": Out(shape)})


class DestFifo(wiring.Component):
    """A small register FIFO of ``depth`` words with full throughput at any depth: when
    full it still takes a word in a cycle its output is read (``i.ready`` depends on
    ``o.ready`` combinationally). ``amaranth.lib.fifo.SyncFIFOBuffered`` of depth 1 or 2
    takes a word only every other cycle. ``level`` counts the words held."""

    def __init__(self, width: int, depth: int):
        if not isinstance(depth, int) or depth < 1:
            raise TypeError(f"depth must be a positive integer, not {depth!r}")
        self._depth = depth
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width)),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        regs = Array(Signal(len(self.i.payload), name=f"word{k}") for k in range(depth))
        produce = Signal(range(depth))
        consume = Signal(range(depth))
        do_read = Signal()
        do_write = Signal()
        m.d.comb += [
            self.o.valid.eq(self.level != 0),
            self.o.payload.eq(regs[consume]),
            do_read.eq(self.o.valid & self.o.ready),
            self.i.ready.eq((self.level != depth) | do_read),
            do_write.eq(self.i.valid & self.i.ready),
        ]
        with m.If(do_write):
            m.d.sync += [regs[produce].eq(self.i.payload),
                         produce.eq(Mux(produce == depth - 1, 0, produce + 1))]
        with m.If(do_read):
            m.d.sync += consume.eq(Mux(consume == depth - 1, 0, consume + 1))
        m.d.sync += self.level.eq(self.level + do_write - do_read)
        return m


class SkidBuffer(wiring.Component):
    """A register slice for the ready path: ``i.ready`` is a register (``~full``), so no
    combinational path runs from ``o.ready`` to ``i.ready``. Data passes straight through
    while ``o`` takes it (no added latency, one word a cycle); a word offered while ``o``
    stalls is kept in the one-word buffer and goes out first. ``full``: a word is held."""

    def __init__(self, width: int):
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width)),
                          "full": Out(1)})

    def elaborate(self, platform):
        m = Module()
        buf = Signal(len(self.i.payload))
        m.d.comb += [
            self.i.ready.eq(~self.full),
            self.o.valid.eq(self.full | self.i.valid),
            self.o.payload.eq(Mux(self.full, buf, self.i.payload)),
        ]
        with m.If(self.full):
            with m.If(self.o.ready):
                m.d.sync += self.full.eq(0)
        with m.Elif(self.i.valid & ~self.o.ready):
            m.d.sync += [self.full.eq(1), buf.eq(self.i.payload)]
        return m


class RegisterSlice(wiring.Component):
    """A register slice for both paths: ``o.valid``, ``o.payload`` and ``i.ready`` are
    registers, so no combinational path crosses it either way (a :class:`SkidBuffer`
    passes data straight through). One cycle of latency, one word a cycle: the output
    register, and a skid word taken while ``o`` stalls. ``holding``: a word is in it."""

    def __init__(self, width: int):
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width)),
                          "holding": Out(1)})

    def elaborate(self, platform):
        m = Module()
        full = Signal()                         # the skid word holds one
        buf = Signal(len(self.i.payload))
        valid = Signal()                        # the output register holds one
        data = Signal(len(self.i.payload))
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(valid),
                     self.o.payload.eq(data), self.holding.eq(valid | full)]
        with m.If(~valid | self.o.ready):       # the output register is free next cycle
            with m.If(full):
                m.d.sync += [valid.eq(1), data.eq(buf), full.eq(0)]
            with m.Else():
                m.d.sync += [valid.eq(self.i.valid), data.eq(self.i.payload)]
        with m.Elif(self.i.valid & ~full):
            m.d.sync += [full.eq(1), buf.eq(self.i.payload)]
        return m


class Router(wiring.Component):
    """The spike router for :class:`gen.routing.RouterParams` ``params``.

    Ports: ``i`` (``src_cores`` streams of :class:`RouterInLayout`), ``o`` (``dests``
    streams of :class:`RouterOutLayout`), ``load_index``, ``load_entry``
    (:class:`TableWriteSignature`), ``step_end`` (in, strobe), ``step_done`` (out,
    strobe), ``idle`` (out), ``clear`` (in, strobe: zero the counters), and the counters
    ``events`` (events accepted), ``deliveries`` (``o`` handshakes), ``stalls`` (cycles
    the expander held an entry whose FIFO was full), ``peak_level`` (highest FIFO level
    seen; only with ``peak_level=True``: the chip reads no such register, and on a deep
    chip's 17 destinations its comparator tree is a third of the router's netlist).
    """

    def __init__(self, params: RouterParams, *, peak_level: bool = True):
        if not isinstance(params, RouterParams):
            raise TypeError(f"params must be a RouterParams, not {params!r}")
        self._p = p = params
        self._peak = peak_level
        self.in_layout = RouterInLayout(p.src_cores, p.neuron_bits)
        self.out_layout = RouterOutLayout(p.dests, p.rows)
        self.index_layout = IndexLayout(p.table_depth)
        self.stored_index_layout = StoredIndexLayout(p.table_depth)
        self.entry_layout = EntryLayout(p.dests, p.rows)
        cw = p.counter_width
        super().__init__({
            "i": In(stream.Signature(self.in_layout)).array(p.src_cores),
            "o": Out(stream.Signature(self.out_layout)).array(p.dests),
            "load_index": In(TableWriteSignature(p.index_depth, self.index_layout)),
            "load_entry": In(TableWriteSignature(p.table_depth, self.entry_layout)),
            "step_end": In(1),
            "step_done": Out(1),
            "idle": Out(1),
            "clear": In(1),
            "events": Out(cw),
            "deliveries": Out(cw),
            "stalls": Out(cw),
            **({"peak_level": Out(range(p.fifo_depth + 1))} if peak_level else {}),
        })

    @property
    def params(self) -> RouterParams:
        return self._p

    @property
    def memory_shapes(self) -> list:
        """``(depth, width)`` of the index and entry tables (gen/build.py counts them)."""
        p = self._p
        return [(p.index_depth, self.stored_index_layout.size),
                (p.table_depth, self.entry_layout.size)]

    def elaborate(self, platform):
        p = self._p
        m = Module()

        # ---- tables ---------------------------------------------------------------
        m.submodules.index = index = memory.Memory(shape=self.stored_index_layout,
                                                   depth=p.index_depth, init=[])
        # both tables in block RAM: the entry read's address comes from the index read's
        # data, and in LUT RAM that was one 23.4 ns path (docs/build.md "Large presets")
        m.submodules.entries = entries = memory.Memory(shape=self.entry_layout,
                                                       depth=p.table_depth, init=[])
        iw, ir = index.write_port(), index.read_port()
        ew, er = entries.write_port(), entries.read_port()
        m.d.comb += [
            iw.en.eq(self.load_index.en), iw.addr.eq(self.load_index.addr),
            iw.data.word.eq(self.load_index.data),
            iw.data.empty.eq(self.load_index.data.count == 0),
            iw.data.single.eq(self.load_index.data.count == 1),
            ew.en.eq(self.load_entry.en), ew.addr.eq(self.load_entry.addr),
            ew.data.eq(self.load_entry.data),
        ]

        # ---- destination FIFOs, then a skid buffer on each output ------------------------
        # The skid buffer's ``i.ready`` is a register: no combinational path from a
        # destination's ``o[d].ready`` into the FIFO, the expander and the arbiter.
        row_width = index_width(p.rows)
        fifos, skids = [], []
        for d in range(p.dests):
            f = DestFifo(row_width, p.fifo_depth)
            sk = SkidBuffer(row_width)
            m.submodules[f"fifo{d}"] = f
            m.submodules[f"skid{d}"] = sk
            fifos.append(f)
            skids.append(sk)
            wiring.connect(m, f.o, sk.i)
            m.d.comb += [
                self.o[d].valid.eq(sk.o.valid),
                self.o[d].payload.core.eq(d),
                self.o[d].payload.row.eq(sk.o.payload),
                sk.o.ready.eq(self.o[d].ready),
            ]

        # ---- expander: entry reads, one a cycle --------------------------------------
        # Two stages that move together: the entry table's read (``rd_valid``: er.data
        # holds a fresh entry), then registers (``ent_*``) that offer it to its FIFO. The
        # FIFO's ready is decoded from the register, not from the block RAM's output: on
        # the deep ULX3S chip the path RAM data -> dest_ready -> the RAM's enable was
        # 23.1 ns (43.3 MHz), 11 ns of it the RAM's clock-to-out and the routing to and
        # from its pins. A step costs one cycle more (the drain).
        lookup = Signal()                 # ir.data holds a fresh (offset, count)
        off = Signal(range(p.table_depth + 1))
        left = Signal(range(p.table_depth + 1))
        rd_valid = Signal()               # er.data holds an entry read, not yet in ``ent_*``
        ent_row = Signal.like(er.data.row)    # the entry offered to its FIFO: its row
        ent_hot = Signal(p.dests)             # and its destination, one-hot
        ent_valid = Signal()              # ``ent_*`` hold an entry not yet in its FIFO
        src_off = Signal.like(off)
        src_left = Signal.like(left)
        m.d.comb += [
            src_off.eq(Mux(lookup, ir.data.word.offset, off)),
            src_left.eq(Mux(lookup, ir.data.word.count, left)),
        ]
        # an AND-OR over the one-hot destination: no decoder between the register and the
        # arbiter's grant (the UP5K chip's critical path ran ent -> FIFO ready -> grant);
        # a destination that does not exist (gen.routing refuses to load one) has no bit
        # set and counts as ready: the entry is dropped, the router does not hang
        dest_ready = Signal()
        m.d.comb += dest_ready.eq(~ent_hot.any() |
                                  Cat(ent_hot[d] & fifos[d].i.ready for d in range(p.dests)).any())
        advance = Signal()
        issue = Signal()
        m.d.comb += [
            advance.eq(~ent_valid | dest_ready),
            issue.eq(advance & (src_left != 0)),
            er.en.eq(advance),
            er.addr.eq(src_off),
        ]
        for d in range(p.dests):
            m.d.comb += [fifos[d].i.valid.eq(ent_valid & ent_hot[d]),
                         fifos[d].i.payload.eq(ent_row)]
        with m.If(advance):
            m.d.sync += [ent_row.eq(er.data.row), ent_valid.eq(rd_valid), rd_valid.eq(issue),
                         ent_hot.eq(Cat(er.data.dest == d for d in range(p.dests)))]
        next_left = Signal.like(left)
        m.d.comb += next_left.eq(src_left - issue)
        m.d.sync += [off.eq(src_off + issue), left.eq(next_left)]

        # ---- round-robin arbiter -------------------------------------------------------
        n = p.src_cores
        last = Signal(range(n), init=n - 1)     # the source granted last
        pending = Signal()                      # step_end seen, step not yet drained
        take = Signal()                         # the expander is free next cycle
        # next_left == 0, without the subtractor on the path from the FIFOs' ready
        left_zero = Mux(lookup, ir.data.empty, left == 0)
        left_one = Mux(lookup, ir.data.single, left == 1)
        m.d.comb += take.eq((left_zero | left_one & advance) & ~pending & ~self.step_end)
        found = Signal()
        sel = Signal(range(n))
        with m.Switch(last):
            for l in range(n):
                with m.Case(l):
                    order = [(l + k) % n for k in range(1, n + 1)]
                    # the first valid source after ``last`` wins: build from the back
                    for k in reversed(order):
                        with m.If(self.i[k].valid):
                            m.d.comb += [found.eq(1), sel.eq(k)]
        grant = Signal()
        m.d.comb += grant.eq(take & found)
        payload = Signal(self.in_layout)
        with m.Switch(sel):
            for k in range(n):
                with m.Case(k):
                    m.d.comb += [payload.eq(self.i[k].payload),
                                 self.i[k].ready.eq(grant)]
        # the index table reads every cycle, at the source the arbiter would grant: only
        # the read after a grant is used (``lookup``), and its enable no longer hangs off
        # the entry table's data through dest_ready, advance and take (the deep ULX3S
        # chip's critical path ended at this enable: 44.6 MHz)
        m.d.comb += [ir.en.eq(1),
                     ir.addr.eq(Cat(payload.neuron, payload.core))]
        m.d.sync += lookup.eq(grant)
        with m.If(grant):
            m.d.sync += last.eq(sel)

        # ---- counters ------------------------------------------------------------------
        # each counter adds what happened a cycle earlier (registered), so the arbiter's
        # and the expander's paths end at a flip-flop, not in a counter's carry chain
        # (the deep ULX3S chip's critical path); the host reads them after the step
        taken = Signal(range(p.dests + 1))
        granted, stalled = Signal(), Signal()
        m.d.sync += [granted.eq(grant), stalled.eq(ent_valid & ~dest_ready),
                     taken.eq(sum(self.o[d].valid & self.o[d].ready for d in range(p.dests)))]
        with m.If(self.clear):
            m.d.sync += [self.events.eq(0), self.deliveries.eq(0), self.stalls.eq(0),
                         granted.eq(0), stalled.eq(0), taken.eq(0)]
        with m.Else():
            m.d.sync += [self.events.eq(self.events + granted),
                         self.deliveries.eq(self.deliveries + taken),
                         self.stalls.eq(self.stalls + stalled)]

        # ---- step barrier ---------------------------------------------------------------
        idle = Signal()
        m.d.comb += idle.eq(~lookup & (left == 0) & ~rd_valid & ~ent_valid &
                            Cat(f.level == 0 for f in fifos).all() &
                            ~Cat(sk.full for sk in skids).any() &
                            ~granted & ~stalled & (taken == 0))   # the counters current
        m.d.comb += [self.idle.eq(idle), self.step_done.eq(pending & idle)]
        with m.If(self.step_done):
            m.d.sync += pending.eq(0)
        with m.If(self.step_end):
            m.d.sync += pending.eq(1)

        if self._peak:
            level_max = _max_tree(m, [f.level for f in fifos], "level_max")
            with m.If(self.clear):
                m.d.sync += self.peak_level.eq(0)
            with m.Elif(level_max > self.peak_level):
                m.d.sync += self.peak_level.eq(level_max)
        return m


def _max_tree(m, values, name):
    """The largest of ``values`` as a balanced tree of named comparators (a chain of
    ``Mux`` expressions that names each operand twice doubles with every value)."""
    level = 0
    while len(values) > 1:
        pairs = []
        for i in range(0, len(values) - 1, 2):
            a, b = values[i], values[i + 1]
            big = Signal.like(a, name=f"{name}_{level}_{i // 2}")
            m.d.comb += big.eq(Mux(a > b, a, b))
            pairs.append(big)
        values = pairs + values[len(values) - len(values) % 2:]
        level += 1
    return values[0]
