"""Event-driven crossbar: an axon event selects a weight row, whose wide words are added,
lane by lane and saturating, into the core's synaptic-current buffer (phase 2).

Weights: row ``r`` of the crossbar occupies words ``r * words_per_row ..`` of the weight
memory; word ``k`` holds columns ``k*lanes .. k*lanes + lanes - 1``, column ``k*lanes + p``
in bits ``[p*weight_width, (p+1)*weight_width)``. Columns past ``n_cols`` in the last word
are padding (load them with 0; their currents are never read).

Currents: ``words_per_row`` words of ``lanes`` signed ``current_width`` lanes, laid out like
the weight words, so one cycle reads a weight word and a current word, adds and writes the
current word back: one weight word per cycle, an event every ``words_per_row`` cycles.
"""
from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .lif import saturate
from .memory import WeightMemory, WeightPortSignature, WeightWriteSignature

__all__ = ["Crossbar", "EventLayout", "CurrentPortSignature", "index_shape"]


def index_shape(count: int):
    """Unsigned shape of an index ``0 .. count-1`` (at least one bit: no zero-width ports)."""
    return unsigned(max(1, bits_for(count - 1)))


class EventLayout(data.StructLayout):
    """An axon event: the crossbar row (axon) whose source spiked."""

    def __init__(self, n_rows: int):
        super().__init__({"row": index_shape(n_rows)})


class CurrentPortSignature(wiring.Signature):
    """Access to the current buffer from its user's side (the neuron sweep): ``addr`` and
    ``en`` read a word (``data`` the next cycle; held while ``en`` is low); ``clr`` writes
    zero to word ``clr_addr``. Only while the crossbar is idle."""

    def __init__(self, words: int, width: int):
        super().__init__({
            "addr": Out(range(max(words, 2))),
            "en": Out(1),
            "clr": Out(1),
            "clr_addr": Out(range(max(words, 2))),
            "data": In(width),
        })


class Crossbar(wiring.Component):
    """``n_rows`` x ``n_cols`` weights, ``lanes`` weights per memory word.

    Ports: ``i_event`` (stream of :class:`EventLayout`), ``load`` (weight word writes, only
    while idle), ``cur`` (:class:`CurrentPortSignature`, flipped), ``idle`` (no event in
    flight). With ``external_weights`` the crossbar builds no :class:`WeightMemory`; it
    drives the port ``weights`` (:class:`rtl.memory.WeightPortSignature`: ``addr``,
    ``re``, ``we``, ``wdata`` out, ``rdata`` in, read latency 1, the WeightMemory
    contract) and the owner connects it to a memory (a shared bank, say).

    Timing: an event accepted in cycle ``a`` reads its words in cycles
    ``a+1 .. a+W`` (``W = words_per_row``) and writes the currents in ``a+2 .. a+W+1``;
    ``i_event.ready`` is high in the cycle the last word is read, so back-to-back events
    keep the weight memory busy every cycle.
    """

    def __init__(self, *, n_rows: int, n_cols: int, weight_width: int, current_width: int,
                 lanes: int, backend: str = "auto", external_weights: bool = False):
        for name, value in (("n_rows", n_rows), ("n_cols", n_cols), ("lanes", lanes),
                            ("weight_width", weight_width), ("current_width", current_width)):
            if not isinstance(value, int) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        self._n_rows, self._n_cols, self._lanes = n_rows, n_cols, lanes
        self._weight_width, self._current_width = weight_width, current_width
        self._external = bool(external_weights)
        members = {
            "i_event": In(stream.Signature(EventLayout(n_rows))),
            "load": In(WeightWriteSignature(self.depth, self.word_width)),
            "cur": In(CurrentPortSignature(self.words_per_row, lanes * current_width)),
            "idle": Out(1),
        }
        if self._external:
            self._weights = None
            members["weights"] = Out(WeightPortSignature(self.depth, self.word_width))
        else:
            self._weights = WeightMemory(width=self.word_width, depth=self.depth,
                                         backend=backend)
        super().__init__(members)

    @property
    def external_weights(self) -> bool:
        return self._external

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def words_per_row(self) -> int:
        return -(-self._n_cols // self._lanes)

    @property
    def word_width(self) -> int:
        return self._lanes * self._weight_width

    @property
    def depth(self) -> int:
        return self._n_rows * self.words_per_row

    def elaborate(self, platform):
        m = Module()
        wpr, lanes = self.words_per_row, self._lanes
        ww, cw = self._weight_width, self._current_width
        if self._external:
            weights = self.weights          # the same members, driven towards the owner
        else:
            m.submodules.weights = weights = self._weights
        m.submodules.currents = currents = memory.Memory(     # depth >= 2: no 0-bit address
            shape=lanes * cw, depth=max(wpr, 2), init=[])
        c_wr = currents.write_port()
        # transparent: with one word per row, back-to-back events read the word being written
        c_rd = currents.read_port(transparent_for=(c_wr,))

        # issue stage: one weight word and one current word per cycle
        busy = Signal()
        addr = Signal(range(max(self.depth, 2)))
        if wpr & (wpr - 1) == 0 and wpr > 1:
            # rows start at multiples of a power of two: the word is the address's low bits
            word = addr[:(wpr - 1).bit_length()]
            with m.If(self.i_event.valid & self.i_event.ready):
                m.d.sync += [busy.eq(1), addr.eq(self.i_event.payload.row * wpr)]
            with m.Elif(busy):
                m.d.sync += addr.eq(addr + 1)
        else:
            word = Signal(range(max(wpr, 2)))
            with m.If(self.i_event.valid & self.i_event.ready):
                m.d.sync += [busy.eq(1), addr.eq(self.i_event.payload.row * wpr), word.eq(0)]
            with m.Elif(busy):
                m.d.sync += [addr.eq(addr + 1), word.eq(word + 1)]
        last = word == wpr - 1
        m.d.comb += self.i_event.ready.eq(~busy | last)
        with m.If(busy & last & ~(self.i_event.valid & self.i_event.ready)):
            m.d.sync += busy.eq(0)
        m.d.comb += [
            weights.addr.eq(addr),
            weights.re.eq(busy),
            weights.we.eq(self.load.en),
            weights.wdata.eq(self.load.data),
            c_rd.addr.eq(word),
            c_rd.en.eq(busy | self.cur.en),
            self.cur.data.eq(c_rd.data),
        ]
        with m.If(self.load.en):
            m.d.comb += weights.addr.eq(self.load.addr)
        with m.If(~busy):
            m.d.comb += c_rd.addr.eq(self.cur.addr)

        # accumulate stage: saturating add of every lane, written back
        acc_valid = Signal()
        acc_word = Signal(range(max(wpr, 2)))
        m.d.sync += [acc_valid.eq(busy), acc_word.eq(word)]
        sums = [saturate(c_rd.data[p * cw:(p + 1) * cw].as_signed() +
                         weights.rdata[p * ww:(p + 1) * ww].as_signed(), signed(cw))
                for p in range(lanes)]
        with m.If(acc_valid):
            m.d.comb += [c_wr.addr.eq(acc_word), c_wr.data.eq(Cat(*sums)), c_wr.en.eq(1)]
        with m.Else():
            m.d.comb += [c_wr.addr.eq(self.cur.clr_addr), c_wr.data.eq(0),
                         c_wr.en.eq(self.cur.clr)]
        m.d.comb += self.idle.eq(~busy & ~acc_valid)
        return m
