"""Host link: the framed, checked command interface of docs/host-protocol.md on top of a
byte stream (the UART), driving the chip through a small request/acknowledge bus.

Command frame (host -> chip): ``A5 cmd len_lo len_hi payload[len] crc``; reply (chip ->
host): ``A5 status cmd len_lo len_hi payload[len] crc``. ``crc`` is CRC-8 (polynomial
0x07, initial 0) over every byte after the sync byte. A frame is executed only once it
is complete and its CRC and length are right; the whole payload is buffered first, and a
write's address range and every word's value are checked before the first word is
written, so a malformed, truncated (no byte for ``timeout`` cycles), out-of-range or
out-of-limit command changes nothing and gets an error reply. The link takes every byte
the cycle it comes: those that arrive between a command's CRC byte and the end of its
reply are dropped (docs/host-protocol.md says why).

The chip side is :class:`BusSignature` (seen from the host link): ``access``
(:class:`AccessSignature`: ``req`` with ``we``, ``space``, ``bank``, ``addr``, ``wdata``
until ``ack``, ``rdata`` valid with it) and ``run`` (:class:`RunSignature`: ``start``
begins a sample, ``done`` ends it; ``learn`` is the RUN flag, ``label`` its second byte).
"""
from types import SimpleNamespace

from amaranth.hdl import Array, C, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from gen.util import index_width

from .host_protocol import (CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, MAX_WRITE_WORDS, STATUS,
                            SYNC, AccessSignature, BusSignature, RunSignature, _crc8_hw, crc8)

__all__ = ["HostLink", "BusSignature", "AccessSignature", "RunSignature", "SYNC", "CMD_PING",
           "CMD_WRITE", "CMD_READ", "CMD_RUN", "STATUS", "crc8", "MAX_WRITE_WORDS"]

def _zero_tests(v, cuts, given=None) -> dict:
    """``{n: v[n:] == 0}`` for each cut ``n``, as one chain from the top bit down: each
    test shares the ones above it instead of testing every bit above its cut again.
    ``given``: ``(n, test)``, a test known already, the chain's top when no cut is
    between it and ``len(v)`` (then no bit above ``n`` is read)."""
    tests, top, above = {}, len(v), C(1)
    if given is not None and all(n >= len(v) or n <= given[0] for n in cuts):
        top, above = given
    for n in sorted(set(cuts), reverse=True):
        if n >= len(v):
            tests[n] = C(1)
            continue
        if n < top:
            above, top = above & (v[n:top] == 0), n
        tests[n] = above
    return tests


def _bound_cuts(lo: int, hi: int) -> tuple:
    """The cuts :func:`_within` asks :func:`_zero_tests` for."""
    return (max(hi.bit_length(), 1),) + ((lo.bit_length(),) if lo else ())


def _within(v, lo: int, hi: int, zero: dict):
    """``lo <= v <= hi`` for constants: the bits above a bound's width all 0 (``zero``,
    from :func:`_zero_tests`) and the rest compared, not a compare of ``len(v)`` bits."""
    n = max(hi.bit_length(), 1)
    ok = zero[n] if hi == (1 << n) - 1 else zero[n] & (v[:n] <= hi)
    if lo:
        n = lo.bit_length()
        ok = ok & (~zero[n] | (v[:n] >= lo))
    return ok


class HostLink(wiring.Component):
    """``depths``: ``{space: [depth of bank 0, depth of bank 1, ...]}``, the words each
    (space, bank) holds (writes and reads past it are refused); ``limits``: ``{space:
    (lowest, highest)}``, the values a WRITE's words may take there (others are refused,
    bad_value); ``labels``: RUN with the learn flag needs ``label < labels`` (None: any);
    ``info``: the bytes PING returns; ``timeout``: cycles without a byte that end a frame
    as truncated. The sink of ``o`` must show ``ready`` when it is idle (rtl/uart.py
    ``UartTx`` does): the link waits for that to know its reply has left."""

    def __init__(self, *, depths: dict, info: bytes, timeout: int, limits: dict | None = None,
                 labels: int | None = None):
        if not isinstance(timeout, int) or timeout < 2:
            raise TypeError(f"timeout must be an integer >= 2, not {timeout!r}")
        self._depths = {int(s): [int(d) for d in banks] for s, banks in depths.items()}
        self._limits = {int(s): (int(lo), int(hi)) for s, (lo, hi) in (limits or {}).items()}
        for s, (lo, hi) in self._limits.items():
            if not 0 <= lo <= hi < 1 << 32:
                raise ValueError(f"limits of space {s}: need 0 <= lowest <= highest < 2**32, "
                                 f"not {lo}..{hi}")
        if labels is not None and not 1 <= labels <= 256:
            raise ValueError(f"labels must be 1..256, not {labels}")
        self._labels = labels
        self._info = bytes(info)
        self._timeout = timeout
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8)),
                          "bus": Out(BusSignature()), "errors": Out(16)})

    def elaborate(self, platform):
        m = Module()
        r = self._registers()
        in_range = self._range_check(m, r)
        value_ok = self._value_check(m, r)

        # ---- byte out: one byte offered at a time, CRC over all but the sync --------
        tx_byte = Signal(8)
        tx_valid = Signal()
        m.d.comb += [self.o.payload.eq(tx_byte), self.o.valid.eq(tx_valid)]
        sent = tx_valid & self.o.ready
        self._bus_outputs(m, r)
        rx = self.i
        # every byte is taken the cycle it comes, so the UART never holds one: outside the
        # receive states (from a command's CRC byte to the end of its reply) it is dropped
        m.d.comb += rx.ready.eq(1)

        # one CRC network each way, on the byte that moves
        tx_crc = Signal()
        with m.If(sent & tx_crc):
            m.d.sync += r.out_crc.eq(_crc8_hw(r.out_crc, tx_byte))
        rx_crc_next = _crc8_hw(r.crc, rx.payload)
        r.tx = SimpleNamespace(byte=tx_byte, valid=tx_valid, crc=tx_crc, sent=sent)

        with m.FSM():
            self._receive_states(m, r, rx_crc_next)
            self._check_states(m, r, in_range, value_ok)
            self._reply_states(m, r)
        return m

    def _registers(self):
        """The frame's registers, shared by the receive, check and reply states: the
        payload buffer (and the fields it holds), the header, the counters."""
        nbuf = 4 + 4 * MAX_WRITE_WORDS
        buf = Array(Signal(8, name=f"buf{k}") for k in range(nbuf))
        cmd = Signal(8)
        length = Signal(16)
        count = Signal(16)                # payload bytes received
        crc = Signal(8)
        timer = Signal(range(self._timeout + 1))
        status = Signal(8)
        space, bank = buf[0], buf[1]
        base = Cat(buf[2], buf[3])
        k = Signal(8)                     # word index of a WRITE / READ
        nwords = Signal(8)
        word = Signal(32)
        byte_i = Signal(2)
        reply_len = Signal(max(10, len(self._info).bit_length()))
        out_crc = Signal(8)
        # a WRITE word's high half is 0: flagged as its bytes come, so that those bytes
        # are kept only where the chip uses them (most spaces take 16 bits at the most)
        high_zero = [Signal(name=f"word{w}_high_zero") for w in range(MAX_WRITE_WORDS)]
        return SimpleNamespace(nbuf=nbuf, buf=buf, cmd=cmd, length=length, count=count,
                               crc=crc, timer=timer, status=status, space=space, bank=bank,
                               base=base, k=k, nwords=nwords, word=word, byte_i=byte_i,
                               reply_len=reply_len, out_crc=out_crc, high_zero=high_zero)

    def _range_check(self, m, r):
        """``in_range``: not a READ or WRITE, or ``addr + n <= depth`` of (space, bank).
        The depth and the end address are registered (state LIMIT waits for them), and so
        is the compare (state COMPARE): the 17-bit compare and the status register's
        enable were the chip's longest path."""
        depth = Signal(17)
        m.d.comb += depth.eq(0)
        with m.Switch(r.space):
            for s, banks in self._depths.items():
                with m.Case(s):
                    with m.Switch(r.bank):
                        for b, d in enumerate(banks):
                            with m.Case(b):
                                m.d.comb += depth.eq(d)
        depth_q = Signal(17)
        end_q = Signal(17)
        m.d.sync += [depth_q.eq(depth), end_q.eq(r.base + r.nwords)]
        in_range = Signal()
        m.d.sync += in_range.eq(((r.cmd != CMD_WRITE) & (r.cmd != CMD_READ)) |
                                (end_q <= depth_q))
        return in_range

    def _value_check(self, m, r):
        """``value_ok``: every word of a WRITE within its space's ``limits``, and a
        learning RUN's label below ``labels``. Registered twice like the range check: each
        word against its space's (constant) limits, then the verdict (valid in RANGE: the
        payload is still since the CRC byte, ``nwords`` from CHECK on)."""
        word_ok = []
        cuts = [n for lo, hi in self._limits.values() for n in _bound_cuts(lo, hi)]
        for w in range(MAX_WRITE_WORDS):
            value = Cat(*(r.buf[4 + 4 * w + j] for j in range(4)))
            zero = _zero_tests(value, cuts, given=(16, r.high_zero[w]))
            ok = Signal(name=f"word{w}_ok")
            m.d.sync += ok.eq(1)
            with m.Switch(r.space):
                for s, (lo, hi) in self._limits.items():
                    with m.Case(s):
                        m.d.sync += ok.eq(_within(value, lo, hi, zero))
            word_ok.append(ok | (r.nwords <= w))
        label = r.buf[1]
        label_ok = C(1) if self._labels is None else ~r.buf[0][0] | _within(
            label, 0, self._labels - 1, _zero_tests(label, _bound_cuts(0, self._labels - 1)))
        value_ok = Signal()
        m.d.sync += value_ok.eq(Mux(r.cmd == CMD_RUN, label_ok,
                                    (r.cmd != CMD_WRITE) | Cat(*word_ok).all()))
        return value_ok

    def _bus_outputs(self, m, r):
        """The bus's address and write data (word ``k`` of the payload) and the RUN
        flag and label, all straight from the payload buffer."""
        bus, buf = self.bus, r.buf
        acc = bus.access
        m.d.comb += [acc.space.eq(r.space), acc.bank.eq(r.bank), acc.addr.eq(r.base + r.k),
                     acc.wdata.eq(Cat(buf[4 + 0], buf[5], buf[6], buf[7]))]
        with m.Switch(r.k[:3]):
            for w in range(MAX_WRITE_WORDS):
                with m.Case(w):
                    m.d.comb += acc.wdata.eq(Cat(*(buf[4 + 4 * w + j] for j in range(4))))
        # the RUN flag and label, held with the payload
        m.d.comb += [bus.run.learn.eq(buf[0][0]), bus.run.label.eq(buf[1])]

    def _receive(self, m, r, rx_crc_next, then):
        """Takes a frame byte into the CRC and calls ``then``; no byte for ``timeout``
        cycles ends the frame as truncated."""
        rx = self.i
        with m.If(rx.valid):
            m.d.sync += [r.crc.eq(rx_crc_next), r.timer.eq(self._timeout)]
            then()
        with m.Elif(r.timer == 0):
            m.d.sync += r.status.eq(STATUS["timeout"])
            m.next = "REPLY"
        with m.Else():
            m.d.sync += r.timer.eq(r.timer - 1)

    def _receive_states(self, m, r, rx_crc_next):
        """SYNC to CRC: the command frame, byte by byte, the payload into the buffer."""
        rx = self.i
        # the next byte is the payload's last: a register kept with ``count`` (the 16-bit
        # add and compare and the state's enable were the chip's longest path)
        last_byte = Signal()
        with m.State("SYNC"):
            with m.If(rx.valid & (rx.payload == SYNC)):
                # cmd 0 until the command byte comes: a timeout reply carries it
                m.d.sync += [r.crc.eq(0), r.count.eq(0), r.timer.eq(self._timeout),
                             r.cmd.eq(0)]
                m.next = "CMD"

        with m.State("CMD"):
            def got_cmd():
                m.d.sync += r.cmd.eq(rx.payload)
                m.next = "LEN0"
            self._receive(m, r, rx_crc_next, got_cmd)
        with m.State("LEN0"):
            def got_len0():
                m.d.sync += r.length[:8].eq(rx.payload)
                m.next = "LEN1"
            self._receive(m, r, rx_crc_next, got_len0)
        with m.State("LEN1"):
            def got_len1():
                m.d.sync += [r.length[8:].eq(rx.payload),
                             last_byte.eq(Cat(r.length[:8], rx.payload) == 1)]
                with m.If(Cat(r.length[:8], rx.payload) == 0):
                    m.next = "CRC"
                with m.Else():
                    m.next = "PAYLOAD"
            self._receive(m, r, rx_crc_next, got_len1)
        with m.State("PAYLOAD"):
            def got_byte():
                zero = rx.payload == 0
                with m.Switch(r.count):
                    for j in range(r.nbuf):
                        with m.Case(j):
                            m.d.sync += r.buf[j].eq(rx.payload)
                            w, b = divmod(j - 4, 4)
                            if j >= 4 and b >= 2:       # bytes 2 and 3 of word w
                                m.d.sync += r.high_zero[w].eq(
                                    zero & (r.high_zero[w] if b == 3 else 1))
                m.d.sync += [r.count.eq(r.count + 1), last_byte.eq(r.count + 2 == r.length)]
                with m.If(last_byte):
                    m.next = "CRC"
            self._receive(m, r, rx_crc_next, got_byte)
        with m.State("CRC"):
            def got_crc():
                m.next = "CHECK"
            self._receive(m, r, rx_crc_next, got_crc)

    def _check_states(self, m, r, in_range, value_ok):
        """CHECK to RUNNING: the frame's CRC, length, address range and values, then the
        command (nothing is changed unless all of them are right)."""
        bus, cmd, length, status = self.bus, r.cmd, r.length, r.status
        # the word in flight is the last: a register kept with ``k`` (the compare and the
        # state's enable were a long path)
        last_word = Signal()
        # a READ of no words, registered (the count byte is still since the CRC byte)
        no_words = Signal()
        m.d.sync += no_words.eq(r.buf[4] == 0)
        with m.State("CHECK"):
            # crc now covers the CRC byte too: zero when it matched
            m.d.sync += [status.eq(STATUS["ok"]), r.k.eq(0),
                         r.nwords.eq(Mux(cmd == CMD_READ, r.buf[4], (length - 4)[2:10]))]
            with m.If(r.crc != 0):
                m.d.sync += status.eq(STATUS["bad_crc"])
            with m.Elif(cmd == CMD_PING):
                with m.If(length != 0):
                    m.d.sync += status.eq(STATUS["bad_length"])
            with m.Elif(cmd == CMD_WRITE):
                with m.If((length < 8) | (length > r.nbuf) | (length[:2] != 0)):
                    m.d.sync += status.eq(STATUS["bad_length"])
            with m.Elif(cmd == CMD_READ):
                with m.If((length != 5) | no_words):
                    m.d.sync += status.eq(STATUS["bad_length"])
            with m.Elif(cmd == CMD_RUN):
                with m.If(length != 2):
                    m.d.sync += status.eq(STATUS["bad_length"])
            with m.Else():
                m.d.sync += status.eq(STATUS["bad_command"])
            m.next = "LIMIT"
        with m.State("LIMIT"):            # depth_q and end_q take nwords in
            m.d.sync += last_word.eq(r.nwords == 1)
            m.next = "COMPARE"
        with m.State("COMPARE"):          # in_range and value_ok take them in
            m.next = "RANGE"
        with m.State("RANGE"):
            with m.If(status == 0):
                with m.If(~in_range):
                    m.d.sync += status.eq(STATUS["bad_address"])
                with m.Elif(~value_ok):
                    m.d.sync += status.eq(STATUS["bad_value"])
            m.next = "EXEC"
        with m.State("EXEC"):
            with m.If(status != 0):
                m.next = "REPLY"
            with m.Elif(cmd == CMD_WRITE):
                m.d.comb += [bus.access.req.eq(1), bus.access.we.eq(1)]
                with m.If(bus.access.ack):
                    m.d.sync += [r.k.eq(r.k + 1), last_word.eq(r.k + 2 == r.nwords)]
                    with m.If(last_word):
                        m.next = "REPLY"
            with m.Elif(cmd == CMD_RUN):
                m.d.comb += bus.run.start.eq(1)
                m.next = "RUNNING"
            with m.Else():
                m.next = "REPLY"
        with m.State("RUNNING"):
            with m.If(bus.run.done):
                m.next = "REPLY"

    def _emit(self, m, r, value, next_state, crc_it=True):
        """Offers ``value`` as the next reply byte (into the reply's CRC unless
        ``crc_it`` is False); moves on to ``next_state`` once it is taken."""
        m.d.comb += [r.tx.byte.eq(value), r.tx.valid.eq(1), r.tx.crc.eq(int(crc_it))]
        with m.If(r.tx.sent):
            m.next = next_state

    def _reply_states(self, m, r):
        """REPLY to T_CRC: the reply frame, with PING's info or READ's words as body."""
        bus, cmd, k, sent = self.bus, r.cmd, r.k, r.tx.sent
        info = Array(Const(b, 8) for b in (self._info or b"\0"))
        with m.State("REPLY"):
            m.d.sync += [r.out_crc.eq(0), k.eq(0), r.byte_i.eq(0),
                         r.reply_len.eq(Mux(r.status != 0, 0,
                                        Mux(cmd == CMD_PING, len(self._info),
                                            Mux(cmd == CMD_READ, r.nwords << 2, 0))))]
            m.next = "T_SYNC"
        with m.State("T_SYNC"):
            self._emit(m, r, C(SYNC, 8), "T_STATUS", crc_it=False)
        with m.State("T_STATUS"):
            self._emit(m, r, r.status, "T_CMD")
        with m.State("T_CMD"):
            self._emit(m, r, cmd, "T_LEN0")
        with m.State("T_LEN0"):
            self._emit(m, r, r.reply_len[:8], "T_LEN1")
        with m.State("T_LEN1"):
            self._emit(m, r, r.reply_len[8:], "T_CRC")
            with m.If(sent & (r.reply_len != 0)):
                m.next = "T_BODY"
        with m.State("T_BODY"):
            with m.If(cmd == CMD_PING):
                self._emit(m, r, info[k[:index_width(len(info))]], "T_BODY")
                with m.If(sent):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k + 1 == len(self._info)):
                        m.next = "T_CRC"
            with m.Else():
                m.next = "T_FETCH"
        with m.State("T_FETCH"):
            m.d.comb += bus.access.req.eq(1)
            with m.If(bus.access.ack):
                m.d.sync += [r.word.eq(bus.access.rdata), r.byte_i.eq(0)]
                m.next = "T_WORD"
        with m.State("T_WORD"):
            self._emit(m, r, r.word.word_select(r.byte_i, 8), "T_WORD")
            with m.If(sent):
                m.d.sync += r.byte_i.eq(r.byte_i + 1)
                with m.If(r.byte_i == 3):
                    m.d.sync += k.eq(k + 1)
                    m.next = "T_NEXT"
        with m.State("T_NEXT"):
            with m.If(k == r.nwords):
                m.next = "T_CRC"
            with m.Else():
                m.next = "T_FETCH"
        with m.State("T_CRC"):
            self._emit(m, r, r.out_crc, "T_END", crc_it=False)
            with m.If(sent & (r.status != 0)):
                m.d.sync += self.errors.eq(self.errors + 1)
        with m.State("T_END"):            # the transmitter idle: the reply has left
            with m.If(self.o.ready):
                m.next = "SYNC"
