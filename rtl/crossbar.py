"""Event-driven crossbar: an axon event selects a weight row, whose wide words are added,
lane by lane and saturating, into the core's synaptic-current buffer (phase 2).

Weights: row ``r`` of the crossbar occupies words ``r * words_per_row ..`` of the weight
memory; word ``k`` holds columns ``k*lanes .. k*lanes + lanes - 1``, column ``k*lanes + p``
in bits ``[p*weight_width, (p+1)*weight_width)``. Columns past ``n_cols`` in the last word
are padding (load them with 0; their currents are never read).

Currents: ``words_per_row`` words of ``lanes`` signed lanes, laid out like the weight
words, so one cycle reads a weight word and a current word, adds and writes the current
word back: one weight word per cycle, an event every ``words_per_row`` cycles. Each lane
has a memory of its own (lane ``p`` of word ``k`` at address ``k``), so that, while the
crossbar is idle, its user can address the lanes independently and keep words of its own
in them (``user_words`` at ``user_base + k``: the neuron core's membranes).

``row_blocks``: a crossbar shared by several logical cores (rtl/top.py ``share``) is
block diagonal: the rows from ``row_blocks[b]`` on belong to block ``b``, whose columns
have current words of their own from ``b * words_per_row`` on.

A lane stores ``acc_width`` bits: ``current_width``, or, with ``distinct_rows`` (each row
at most once between clears, as in a step), just the bits the worst case
``block_rows * 2**(weight_width-1)`` needs; the sums are then exact and the adders need no
saturation (the values are those of the saturating ``current_width`` accumulator).
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from gen.util import ceil_div

from .internals import undefined_init
from .lif import saturate
from .memory import WeightMemory, WeightPortSignature, WeightWriteSignature

__all__ = ["Crossbar", "EventLayout", "CurrentPortSignature", "index_shape", "read_port",
           "NO_RW_CHECK"]


def index_shape(count: int):
    """Unsigned shape of an index ``0 .. count-1`` (at least one bit: no zero-width ports)."""
    return unsigned(max(1, bits_for(count - 1)))


class EventLayout(data.StructLayout):
    """An axon event: the crossbar row (axon) whose source spiked."""

    def __init__(self, n_rows: int):
        super().__init__({"row": index_shape(n_rows)})


class _ReadPort:
    """``addr``, ``en``, ``data`` like a synchronous read port: an asynchronous port and a
    register with enable, which yosys merges into the block RAM's read port."""

    def __init__(self, m, mem, name):
        port = mem.read_port(domain="comb")
        self.addr, self.en = port.addr, Signal(name=f"{name}_en")
        # no initial value (like a synchronous port's data): with one, yosys would emulate
        # it on the block RAM's output (a flag and a gate per bit)
        self.data = Signal(len(port.data), name=f"{name}_data", reset_less=True,
                           attrs=undefined_init(len(port.data)))
        with m.If(self.en):
            m.d.sync += self.data.eq(port.data)


def read_port(m, mem, wr, *, collisions: bool, name: str):
    """A synchronous read port of ``mem`` (``lib.memory.Memory``, write port ``wr``).

    ``collisions``: a read may meet a write to the same address in the same cycle, and
    must see the new data (a transparent port; on the iCE40, yosys adds a bypass: a
    register and a multiplexer per bit). Otherwise the memory must have been built with
    ``attrs=NO_RW_CHECK``: the port is an asynchronous read into a register, which yosys
    merges into the block RAM, and ``no_rw_check`` tells it that read-during-write need not
    be emulated (it would add as much logic as the bypass)."""
    if collisions:
        return mem.read_port(transparent_for=(wr,))
    assert mem.attrs.get("no_rw_check"), "build the memory with attrs=NO_RW_CHECK"
    return _ReadPort(m, mem, name)


#: memory attributes for :func:`read_port` without collisions
NO_RW_CHECK = {"no_rw_check": 1}


class CurrentPortSignature(wiring.Signature):
    """The lane memories from their user's side (the neuron sweep), only while the crossbar
    is idle. Lane ``p``'s memory holds lane ``p`` of current word ``k`` at address ``k`` and
    the user's own words at ``user_base + k`` (:attr:`Crossbar.user_base`). Per lane:
    ``addr[p]`` and ``en[p]`` read a word (``data[p]`` the next cycle, the raw stored bits;
    held while ``en[p]`` is low), ``we[p]`` writes ``wdata[p]`` to ``waddr[p]``."""

    def __init__(self, lanes: int, depth: int, width: int):
        a = data.ArrayLayout(range(max(depth, 2)), lanes)
        w = data.ArrayLayout(width, lanes)
        super().__init__({
            "addr": Out(a), "en": Out(lanes),
            "waddr": Out(a), "we": Out(lanes), "wdata": Out(w),
            "data": In(w),
        })


class Crossbar(wiring.Component):
    """``n_rows`` x ``n_cols`` weights, ``lanes`` weights per memory word.

    Ports: ``i_event`` (stream of :class:`EventLayout`), ``load`` (weight word writes, only
    while idle), ``cur`` (:class:`CurrentPortSignature`, flipped: the lane memories while
    idle), ``idle`` (no event in flight). ``distinct_rows``, ``user_words``, ``user_width``:
    see the module docstring. ``weight_stage``: a register between the weight port's
    ``rdata`` and the adders, and the current reads a cycle later to meet it: on a deep
    bank of block RAMs (the ECP5) the read comes through the bank's depth multiplexer, and
    without the register that multiplexer, the adder and the current write were one path
    (docs/build.md "Large presets"); each event burst then takes one cycle longer. With ``external_weights`` the crossbar builds no
    :class:`WeightMemory`; it drives the port ``weights`` (:class:`rtl.memory.WeightPortSignature`: ``addr``,
    ``re``, ``we``, ``wdata`` out, ``rdata`` in, read latency 1, the WeightMemory
    contract) and the owner connects it to a memory (a shared bank, say).

    Timing: an event accepted in cycle ``a`` reads its words in cycles
    ``a+1 .. a+W`` (``W = words_per_row``) and writes the currents in ``a+2 .. a+W+1``
    (``a+3 .. a+W+2`` with ``weight_stage``);
    ``i_event.ready`` is high in the cycle the last word is read, so back-to-back events
    keep the weight memory busy every cycle.
    """

    def __init__(self, *, n_rows: int, n_cols: int, weight_width: int, current_width: int,
                 lanes: int, backend: str = "auto", external_weights: bool = False,
                 distinct_rows: bool = False, user_words: int = 0, user_width: int = 0,
                 row_blocks=(0,), weight_stage: bool = False):
        for name, value in (("n_rows", n_rows), ("n_cols", n_cols), ("lanes", lanes),
                            ("weight_width", weight_width), ("current_width", current_width)):
            if not isinstance(value, int) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        row_blocks = tuple(row_blocks)
        if not row_blocks or row_blocks[0] != 0 or \
                list(row_blocks) != sorted(set(row_blocks)) or row_blocks[-1] >= n_rows:
            raise ValueError(f"row_blocks {row_blocks!r} must start at 0 and increase "
                             f"below n_rows = {n_rows}")
        self._blocks = row_blocks
        self._n_rows, self._n_cols, self._lanes = n_rows, n_cols, lanes
        self._weight_width, self._current_width = weight_width, current_width
        self._external = bool(external_weights)
        self._distinct = bool(distinct_rows)
        self._weight_stage = bool(weight_stage)
        self._user_words, self._user_width = user_words, user_width
        members = {
            "i_event": In(stream.Signature(EventLayout(n_rows))),
            "load": In(WeightWriteSignature(self.depth, self.word_width)),
            "cur": In(CurrentPortSignature(lanes, self.lane_depth, self.lane_width)),
            "idle": Out(1),
        }
        if self._external:
            self._weights = None
            members["weights"] = Out(WeightPortSignature(self.depth, self.word_width))
        else:
            self._weights = WeightMemory(width=self.word_width, depth=self.depth,
                                         backend=backend)
        super().__init__(members)

    external_weights = property(lambda self: self._external,
                                doc="The weights are outside, behind port ``weights``.")
    weight_stage = property(lambda self: self._weight_stage,
                            doc="A register after the weight read (one cycle more a burst).")
    n_rows = property(lambda self: self._n_rows, doc="Rows (axons).")
    lanes = property(lambda self: self._lanes, doc="Weights a memory word.")
    words_per_row = property(lambda self: ceil_div(self._n_cols, self._lanes),
                             doc="Memory words of one row.")

    @property
    def current_words(self) -> int:
        """Current words: ``words_per_row`` for each block of rows (``row_blocks``)."""
        return len(self._blocks) * self.words_per_row

    @property
    def block_rows(self) -> int:
        """Rows of the largest block: the most events one current can take in a step."""
        ends = self._blocks[1:] + (self._n_rows,)
        return max(e - b for b, e in zip(self._blocks, ends))

    @property
    def word_width(self) -> int:
        return self._lanes * self._weight_width

    @property
    def acc_width(self) -> int:
        """Bits of a stored current. With ``distinct_rows`` (every row at most once between
        clears) a current is a sum of at most ``n_rows`` weights, in
        ``[-n_rows * 2**(wb-1), n_rows * (2**(wb-1) - 1)]``: stored in just the bits that
        range needs (never more than ``current_width``), it never saturates, so the values
        are those of the ``current_width`` accumulator."""
        if not self._distinct:
            return self._current_width
        lo = self.block_rows << (self._weight_width - 1)
        return min(self._current_width, bits_for(-lo, require_sign_bit=True))

    @property
    def exact(self) -> bool:
        """True when the stored sums can never saturate (``distinct_rows`` and the worst
        case fits ``current_width``): the adders then need no saturation logic."""
        lo = self.block_rows << (self._weight_width - 1)
        return (self._distinct and
                bits_for(-lo, require_sign_bit=True) <= self._current_width)

    @property
    def user_base(self) -> int:
        """Address of the first user word in each lane memory (a power of two: the user
        words' addresses are ``Cat(k, 1)``)."""
        return 1 << bits_for(max(self.current_words - 1, 1))

    @property
    def lane_depth(self) -> int:
        """Words of each lane memory: the current words, then ``user_words``."""
        if self._user_words:
            return self.user_base + self._user_words
        return max(self.current_words, 2)

    @property
    def lane_width(self) -> int:
        """Bits of a lane memory word: a stored current (:attr:`acc_width`), a user word."""
        return max(self.acc_width, self._user_width)

    @property
    def depth(self) -> int:
        return self._n_rows * self.words_per_row

    def elaborate(self, platform):
        m = Module()
        wpr, lanes = self.words_per_row, self._lanes
        ww, aw, lw = self._weight_width, self.acc_width, self.lane_width
        if self._external:
            weights = self.weights          # the same members, driven towards the owner
        else:
            m.submodules.weights = weights = self._weights
        # one memory per lane (its ports independent of the other lanes' while idle)
        ports = []
        # a read meets a write to the same address only with W = 1 (back-to-back events,
        # then the read must see the new word); the user's accesses never collide
        collisions = wpr == 1
        for p in range(lanes):
            mem = memory.Memory(shape=lw, depth=self.lane_depth, init=[],
                                attrs=None if collisions else NO_RW_CHECK)
            m.submodules[f"currents{p}"] = mem
            wr = mem.write_port()
            ports.append((read_port(m, mem, wr, collisions=collisions, name=f"cur{p}"), wr))

        # issue stage: one weight word and one current word per cycle
        busy = Signal()
        if wpr & (wpr - 1) == 0 and wpr > 1:
            # rows start at multiples of a power of two: the address is the row and the
            # word side by side (only the word counts)
            word = Signal((wpr - 1).bit_length())
            row = Signal.like(self.i_event.payload.row)
            addr = Cat(word, row)
            with m.If(self.i_event.valid & self.i_event.ready):
                m.d.sync += [busy.eq(1), row.eq(self.i_event.payload.row)]
            with m.If(busy):                # wraps to 0 after the last word
                m.d.sync += word.eq(word + 1)
        else:
            addr = Signal(range(max(self.depth, 2)))
            word = Signal(range(max(wpr, 2)))
            with m.If(self.i_event.valid & self.i_event.ready):
                m.d.sync += [busy.eq(1), addr.eq(self.i_event.payload.row * wpr), word.eq(0)]
            with m.Elif(busy):
                m.d.sync += [addr.eq(addr + 1), word.eq(word + 1)]
        # the event's block of rows (a logical core of a shared core): its current words
        # start at block * wpr
        cword = Signal(range(max(self.current_words, 2)))
        if len(self._blocks) > 1:
            block = Signal(range(len(self._blocks)))
            with m.If(self.i_event.valid & self.i_event.ready):
                m.d.sync += block.eq(0)
                for b, start in enumerate(self._blocks[1:], 1):
                    with m.If(self.i_event.payload.row >= start):
                        m.d.sync += block.eq(b)
            m.d.comb += cword.eq(block * wpr + word)
        else:
            m.d.comb += cword.eq(word)
        last = word == wpr - 1
        m.d.comb += self.i_event.ready.eq(~busy | last)
        with m.If(busy & last & ~(self.i_event.valid & self.i_event.ready)):
            m.d.sync += busy.eq(0)
        m.d.comb += [
            weights.addr.eq(addr),
            weights.re.eq(busy),
            weights.we.eq(self.load.en),
            weights.wdata.eq(self.load.data),
        ]
        with m.If(self.load.en):
            m.d.comb += weights.addr.eq(self.load.addr)

        # with weight_stage, the weight word is registered first, and the current word is
        # read a cycle later (``rd_busy``, ``rd_word``) so that both meet at the adders
        if self._weight_stage:
            rd_busy, rd_word = Signal(), Signal.like(cword)
            w_word = Signal.like(weights.rdata, reset_less=True)
            m.d.sync += [rd_busy.eq(busy), rd_word.eq(cword), w_word.eq(weights.rdata)]
        else:
            rd_busy, rd_word, w_word = busy, cword, weights.rdata
        # accumulate stage: saturating add of every lane, written back
        acc_valid = Signal()
        acc_word = Signal.like(cword)
        m.d.sync += [acc_valid.eq(rd_busy), acc_word.eq(rd_word)]
        for p, (rd, wr) in enumerate(ports):
            m.d.comb += [rd.addr.eq(Mux(rd_busy, rd_word, self.cur.addr[p])),
                         rd.en.eq(rd_busy | self.cur.en[p]),
                         self.cur.data[p].eq(rd.data)]
            w = w_word[p * ww:(p + 1) * ww].as_signed()
            total = rd.data[:aw].as_signed() + w
            # exact: the sum always fits ``aw`` bits, the saturation would never act
            acc = total[:aw] if self.exact else saturate(total, signed(aw))
            with m.If(acc_valid):
                m.d.comb += [wr.addr.eq(acc_word), wr.data.eq(acc), wr.en.eq(1)]
            with m.Else():
                m.d.comb += [wr.addr.eq(self.cur.waddr[p]), wr.data.eq(self.cur.wdata[p]),
                             wr.en.eq(self.cur.we[p])]
        m.d.comb += self.idle.eq(~busy & ~rd_busy & ~acc_valid)
        return m
