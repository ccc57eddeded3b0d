"""A host link that survives abuse: a seeded corpus of malformed frames and line faults for
the whole chip (sim/tb_fuzz.py plays it under Verilator), what docs/host-protocol.md says
the chip answers to each, and the check of what it did answer.

The reference is the document, not the RTL: :func:`frame_status` and :func:`decode` are
the protocol's rules written out (the check order CRC, command, length, address range,
values; a truncated frame's timeout reply with its command byte; bytes outside a frame
skipped; bytes during a reply dropped), and the depths and limits come from the golden
model's side (sim/host.py ``weight_words``, the router's tables of gen/routing.py,
rtl/address_map.py ``value_limits``, the config), never from the elaborated chip.

A run (:func:`build_job`): load the golden model's network through the link, write one
sample's intensities, run it once (learning off) and read the whole readable state back:
the snapshot. Then the corpus, case by case, with a full read-back after every ``every``
cases and after the last; then the same sample again with learning off and once with learning on.
:func:`check` then counts, per category: cases, error replies by status, hangs (a reply
that did not come by its deadline), wrong replies, and state changes (a read-back unlike
the snapshot); and compares the first and the two last samples with the golden model bit
for bit (sim/compare.py ``side_by_side``).

Categories (:data:`CATEGORIES`), each case tagged with one and with the replies it must
get: ``bad_crc``, ``truncated`` (a frame cut short, then silence: the timeout reply),
``bad_length`` (the declared length wrong for the command), ``length_lies`` (the declared
length unlike the bytes that follow), ``bad_command``, ``bad_address`` (past the end of a
bank, no such bank, no such space), ``bad_value`` (intensity above ``enc_theta``, LFSR
state 0 or past 16 bits, a shift past 16, a learning RUN's label at or above ``classes``),
``oversize`` (payloads past the 12-byte buffer, full of sync bytes), ``random_bytes``
(no sync byte: ignored), ``random_frame`` (a sync byte and random bytes), ``split_pause``
(pauses inside a frame, under and over the timeout), ``during_run`` (a frame while a
sample runs: dropped), ``during_reply`` (a frame while the chip replies: dropped),
``framing_error`` (a byte with a low stop bit: dropped by the UART), ``baud_offset``
(frames whose bits are 2 % shorter or longer than the chip's). Every case is followed
by a sentinel (:data:`SENTINEL`, an unknown command) that must get its bad_command reply:
a chip that hangs, or took a byte it should have dropped and opened a phantom frame, fails
there, also after a case that must get no reply.
"""
from __future__ import annotations

import dataclasses
import struct
from collections import Counter

import numpy as np

from rtl.address_map import SPACES, STATUS_REGS, value_limits
from rtl.host_protocol import (CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, MAX_WRITE_WORDS,
                               STATUS, SYNC, crc8)

from .host import HostError, frame, load_commands, read_frame, split_replies, weight_words, write_frame

__all__ = ["PERIOD_PS", "CATEGORIES", "Target", "Line", "Case", "frame_status", "decode",
           "Ambiguous", "corpus", "build_job", "check", "format_counts", "state_reads"]

PERIOD_PS = 10_000                  # sim/tb_chip.py PERIOD_NS, in picoseconds
CATEGORIES = ("bad_crc", "truncated", "bad_length", "length_lies", "bad_command",
              "bad_address", "bad_value", "oversize", "random_bytes", "random_frame",
              "split_pause", "during_run", "during_reply", "framing_error", "baud_offset")
STATUS_NAMES = {v: k for k, v in STATUS.items()}
COMMANDS = (CMD_PING, CMD_WRITE, CMD_READ, CMD_RUN)
MAX_READ = 255                      # words of one READ
PING_REPLY = 5 + 13 + 1             # bytes of PING's reply (13 bytes of info)
#: cycles a sample takes at the least, for the frames sent while one runs: the chip of
#: tests/test_fuzz.py takes 299 (4 steps); each such case checks that its reply ended
#: after the frame did (a wrong bound fails, it cannot pass a frame sent too late)
SAMPLE_CYCLES = 240


@dataclasses.dataclass(frozen=True)
class Target:
    """What the protocol says about one chip: ``depths`` ``{space: [words of bank 0,
    ...]}`` (docs/host-protocol.md's table), ``limits`` ``{space: (lowest, highest)}``,
    ``classes`` (a learning RUN's label is below it), ``divisor`` (cycles a bit),
    ``timeout`` (cycles without a byte that end a frame), ``weights`` (the golden model's
    words per weight bank), ``steps`` (a sample's)."""
    depths: dict
    limits: dict
    classes: int
    divisor: int
    timeout: int
    weights: tuple
    steps: int

    @classmethod
    def of(cls, net, lanes: int, divisor: int, timeout: int | None = None) -> "Target":
        """From the golden model's ``net`` (sim/model.py ``Network``) and the chip's
        ``lanes``, ``divisor`` and ``timeout`` (docs: 64 byte times by default)."""
        from gen.routing import RouterParams
        cfg, topo = net.config, net.topology
        s = cfg.sizes
        words = weight_words(net, lanes)
        p = RouterParams.from_topology(topo)
        depths = {SPACES["weights"]: [len(w) for w in words],
                  SPACES["route_index"]: [p.index_depth], SPACES["route_entry"]: [p.table_depth],
                  SPACES["input"]: [s.sample_width], SPACES["counts"]: [s.classes],
                  SPACES["status"]: [len(STATUS_REGS)], SPACES["lfsr"]: [len(topo.cores) + 1],
                  SPACES["rates"]: [2]}
        return cls(depths=depths, limits=value_limits(cfg.dynamics.enc_theta),
                   classes=s.classes, divisor=divisor,
                   timeout=timeout if timeout is not None else divisor * 10 * 64,
                   weights=tuple(tuple(w) for w in words), steps=s.steps)

    @property
    def byte(self) -> int:
        """Cycles of one byte on the line (8N1)."""
        return 10 * self.divisor


def frame_status(body: bytes, t: Target) -> int:
    """The status of a complete command frame (``body``: every byte after the sync, the
    CRC byte last), by docs/host-protocol.md "Errors": CRC, command, length, address
    range, values, in that order, the first that fails names the error."""
    if crc8(body) != 0:
        return STATUS["bad_crc"]
    cmd, n, p = body[0], body[1] | body[2] << 8, body[3:-1]
    if cmd not in COMMANDS:
        return STATUS["bad_command"]
    if (cmd == CMD_PING and n != 0) or (cmd == CMD_RUN and n != 2) or \
            (cmd == CMD_WRITE and (n % 4 or not 1 <= (n - 4) // 4 <= MAX_WRITE_WORDS)) or \
            (cmd == CMD_READ and (n != 5 or p[4] == 0)):
        return STATUS["bad_length"]
    if cmd in (CMD_READ, CMD_WRITE):
        space, bank, addr = p[0], p[1], p[2] | p[3] << 8
        count = p[4] if cmd == CMD_READ else (n - 4) // 4
        banks = t.depths.get(space, [])
        if bank >= len(banks) or addr + count > banks[bank]:
            return STATUS["bad_address"]
        if cmd == CMD_WRITE and space in t.limits:
            lo, hi = t.limits[space]
            if any(not lo <= w <= hi for w in struct.unpack(f"<{count}I", p[4:])):
                return STATUS["bad_value"]
    if cmd == CMD_RUN and p[0] & 1 and p[1] >= t.classes:
        return STATUS["bad_value"]
    return STATUS["ok"]


class Ambiguous(ValueError):
    """The document does not fix the chip's answer to this byte stream (bytes that come
    about when a reply ends): the generator draws another case."""


def decode(stream: bytes, t: Target) -> list:
    """The replies ``[(status, cmd)]`` the document gives for ``stream`` sent back to back
    to an idle link, then silence: bytes outside a frame skipped; a frame cut short ends
    as a timeout (its command byte, 0 if only its sync came); a complete frame is
    checked (:func:`frame_status`). The bytes after a complete frame come during its
    reply and are dropped if their stop bits are all before the reply's last (an error
    reply of 6 bytes outlasts 5 bytes sent back to back after the CRC); more of them
    are :class:`Ambiguous`."""
    body, end = first_frame(stream)
    if body is None:
        return []
    if end is None:
        return [(STATUS["timeout"], body[0] if body else 0)]
    status = frame_status(body[:end], t)
    rest = len(body) - end
    if rest and (status == STATUS["ok"] or rest > 5):
        raise Ambiguous(f"{rest} bytes after a frame answered {STATUS_NAMES[status]}")
    return [(status, body[0])]


def first_frame(stream: bytes) -> tuple:
    """``(body, end)`` of the first frame in ``stream``: ``body`` the bytes after its
    sync, ``end`` the frame's length in them (command, length, payload, CRC), ``None``
    if the stream ends before it does; ``(None, None)`` without a sync."""
    i = stream.find(bytes([SYNC]))
    if i < 0:
        return None, None
    body = stream[i + 1:]
    if len(body) < 3 or len(body) < 4 + (body[1] | body[2] << 8):
        return body, None
    return body, 4 + (body[1] | body[2] << 8)


class Line:
    """The host's side of the UART line as ``(level, picoseconds)`` segments (sim/tb_fuzz.py
    plays them): 8N1 bytes at the chip's bit time or ``baud`` off it (+0.02: 2 % faster,
    bits of ``divisor / 1.02`` cycles), the edges of a byte at fractional times from its
    start bit (rounded once, by the player), low stop bits, idle time."""

    def __init__(self, divisor: int):
        self.bit_ps = divisor * PERIOD_PS
        self.segments: list = []

    def level(self, level: int, ps: float) -> "Line":
        if ps <= 0:
            return self
        if self.segments and self.segments[-1][0] == level:
            self.segments[-1][1] += ps
        else:
            self.segments.append([level, ps])
        return self

    def byte(self, b: int, *, baud: float = 0.0, stop: int = 1) -> "Line":
        bit = self.bit_ps / (1 + baud)
        levels = [0] + [(b >> i) & 1 for i in range(8)] + [stop]
        for k, level in enumerate(levels):
            self.level(level, round((k + 1) * bit) - round(k * bit))
        if not stop:            # the line back high for a bit, as after any break
            self.level(1, self.bit_ps)
        return self

    def send(self, data: bytes, *, baud: float = 0.0, gaps: dict | None = None,
             low_stop: int | None = None) -> "Line":
        """``data`` back to back; ``gaps`` ``{k: cycles}`` of idle line before byte
        ``k``; byte ``low_stop`` (an index) with its stop bit low."""
        for k, b in enumerate(data):
            if gaps and k in gaps:
                self.idle(gaps[k])
            self.byte(b, baud=baud, stop=0 if k == low_stop else 1)
        return self

    def idle(self, cycles: float) -> "Line":
        return self.level(1, round(cycles * PERIOD_PS))

    def cycles(self) -> float:
        return sum(ps for _, ps in self.segments) / PERIOD_PS


@dataclasses.dataclass
class Case:
    """One corpus entry: its ``category``, a readable ``name``, the line it sends, the
    replies it must get (``[(status, cmd)]``, in order), and for an ok READ the words it
    must return (``read``: ``(space, bank, addr, count)``, from the snapshot)."""
    category: str
    name: str
    line: list
    expect: list
    read: tuple | None = None
    run: bool = False                 # a RUN is among its commands (longer deadline)

    def exchange(self, t: Target, run_cycles: int, quiet: bool = False) -> dict:
        """The exchange sim/tb_fuzz.py plays: the deadline covers a timeout, the longest
        reply and a sample. With ``quiet`` the player listens on after the replies, long
        enough for a phantom frame's timeout reply to show in this case's bytes; without,
        the sentinel sent right after the replies shows it (a phantom frame takes the
        sentinel's bytes in, and the sentinel's reply is wrong or late)."""
        words = self.read[3] if self.read else 0
        deadline = t.timeout + (20 + 6 + 4 * words + PING_REPLY) * t.byte + \
            (run_cycles if self.run else 0)
        return {"segments": self.line, "replies": len(self.expect), "deadline": deadline,
                "quiet": t.timeout + 12 * t.byte if quiet else 0}


def state_reads(t: Target) -> list:
    """``(space, bank, addr, count)`` READs of everything the host can read back and that
    a bad frame must not change: every weight bank, the input, the class counts and
    status registers of the last sample, the LFSR states and the learning rates. (The
    router's tables are write only: the samples after the corpus are their check.)"""
    reads = []
    for space in ("weights", "input", "counts", "status", "lfsr", "rates"):
        s = SPACES[space]
        for bank, depth in enumerate(t.depths[s]):
            reads += [(s, bank, a, min(MAX_READ, depth - a)) for a in range(0, depth, MAX_READ)]
    return reads


def _exchange(t: Target, data: bytes, replies: int, *, probe: bool = False,
              run_cycles: int = 0) -> dict:
    """A plain exchange: ``data`` at the chip's baud, ``replies`` replies to wait for."""
    return {"segments": Line(t.divisor).send(data).segments, "replies": replies,
            "deadline": t.timeout + 4 * t.byte * MAX_READ + run_cycles, "quiet": 0,
            "probe": probe}


# ---- the corpus ---------------------------------------------------------------------------
SENTINEL = frame(0x02)      # an unknown command: the reply that proves the link is back
WRITABLE = (SPACES["weights"], SPACES["input"], SPACES["lfsr"], SPACES["rates"])
READABLE = (SPACES["weights"], SPACES["input"], SPACES["counts"], SPACES["status"],
            SPACES["lfsr"], SPACES["rates"], SPACES["route_index"], SPACES["route_entry"])


def _frames(stream: bytes) -> list:
    """The complete frames (``body``: the bytes after the sync) :func:`decode` finds."""
    body, end = first_frame(stream)
    return [] if end is None else [body[:end]]


class _Gen:
    """The corpus generator of one seed: the frame makers each category draws on."""

    def __init__(self, t: Target, seed: int):
        self.t, self.rng = t, np.random.default_rng(seed)

    def int(self, lo: int, hi: int) -> int:
        """A uniform integer in ``lo .. hi`` (both included)."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bytes(self, n: int, sync: float = 0.0) -> bytes:
        """``n`` random bytes, each the sync byte with chance ``sync``."""
        return bytes(SYNC if self.rng.random() < sync else self.int(0, 255) for _ in range(n))

    # -- frames the chip takes (never sent whole and valid unless they change nothing)
    def word_for(self, space: int) -> int:
        lo, hi = self.t.limits.get(space, (0, 0xFFFF))
        return self.int(lo, hi)

    def valid_read(self, max_count: int = 8) -> bytes:
        space = self.pick(READABLE)
        bank = self.int(0, len(self.t.depths[space]) - 1)
        depth = self.t.depths[space][bank]
        count = self.int(1, min(max_count, depth))
        return read_frame(space, bank, self.int(0, depth - count), count)

    def valid_write(self) -> bytes:
        space = self.pick(WRITABLE)
        bank = self.int(0, len(self.t.depths[space]) - 1)
        depth = self.t.depths[space][bank]
        n = self.int(1, min(MAX_WRITE_WORDS, depth))
        return write_frame(space, bank, self.int(0, depth - n),
                           [self.word_for(space) for _ in range(n)])

    def valid_run(self, learn: int | None = None) -> bytes:
        learn = self.int(0, 1) if learn is None else learn
        return frame(CMD_RUN, bytes([learn | self.int(0, 127) << 1,
                                     self.int(0, self.t.classes - 1)]))

    def valid_frame(self) -> bytes:
        kind = self.int(0, 3)
        return (frame(CMD_PING), self.valid_read(), self.valid_write(), self.valid_run())[kind]

    def harmless_frame(self) -> bytes:
        """A frame the chip executes without changing state: PING, or a READ."""
        return frame(CMD_PING) if self.int(0, 2) == 0 else self.valid_read()

    # -- the byte-level categories: each returns (name, stream)
    def bad_crc(self):
        f = bytearray(self.valid_frame())
        if self.int(0, 1):
            f[-1] ^= self.int(1, 255)
            return "crc byte wrong", bytes(f)
        k = self.pick([1] + list(range(4, len(f) - 1)))     # the command or the payload
        f[k] ^= 1 << self.int(0, 7)
        return f"bit flipped in byte {k}", bytes(f)

    def truncated(self):
        f = self.pick([self.valid_frame, self.error_frame])()
        k = self.int(1, len(f) - 1)
        return f"cut after {k} of {len(f)} bytes", f[:k]

    def bad_length(self):
        cmd = self.pick(COMMANDS)
        right = {CMD_PING: (0,), CMD_WRITE: (8, 12), CMD_READ: (5,), CMD_RUN: (2,)}[cmd]
        if cmd == CMD_READ and self.int(0, 3) == 0:
            p = bytearray(self.valid_read()[4:-1])
            p[4] = 0
            return "READ of 0 words", frame(CMD_READ, bytes(p))
        n = self.pick([n for n in range(0, 13) if n not in right])
        head = self.valid_write()[4:8] if cmd == CMD_WRITE else self.valid_read()[4:8]
        payload = (head + self.bytes(12))[:n]
        return f"cmd {cmd:02x} with {n} bytes", frame(cmd, payload)

    def length_lies(self):
        f = self.pick([self.valid_frame, self.error_frame])()
        n = f[2] | f[3] << 8
        declared = self.pick([m for m in range(0, n + 6) if m != n])
        body = bytes([f[1]]) + struct.pack("<H", declared) + f[4:-1]
        return f"declared {declared}, sent {n}", bytes([SYNC]) + body + bytes([crc8(body)])

    def bad_command(self):
        cmd = self.pick([0x00, SYNC, 0xFF] + [c for c in range(256) if c not in COMMANDS])
        n = self.int(0, 12)
        return f"cmd {cmd:02x}", frame(cmd, self.bytes(n, sync=0.1))

    def bad_address(self):
        t, kind = self.t, self.int(0, 3)
        write = self.int(0, 1)
        space = self.pick(WRITABLE if write else READABLE)
        banks = t.depths[space]
        bank = self.int(0, len(banks) - 1)
        n = self.int(1, MAX_WRITE_WORDS) if write else self.int(1, 16)
        addr = self.int(0, 0xFFFF)
        if kind == 0:                              # just past the end
            addr = max(0, banks[bank] - n + 1 + self.int(0, 2))
            why = "past the end"
        elif kind == 1:                            # no such bank
            bank = self.pick([len(banks), len(banks) + 1, 255])
            addr, why = self.int(0, 3), "no such bank"
        elif kind == 2:                            # no such space
            space, bank, addr, why = self.int(8, 255), 0, self.int(0, 3), "no such space"
        else:
            why = "far past the end"
            addr = self.int(max(banks[bank], 0x100), 0xFFFF)
        if write:
            words = [self.word_for(space) for _ in range(n)]
            return f"WRITE {why}", write_frame(space, bank, addr, words)
        return f"READ {why}", read_frame(space, bank, addr, n)

    def bad_value(self):
        t, kind = self.t, self.int(0, 4)
        if kind == 0:
            label = self.int(t.classes, 255)
            return f"label out of range {label}", frame(
                CMD_RUN, bytes([1 | self.int(0, 127) << 1, label]))
        space = (SPACES["lfsr"], SPACES["lfsr"], SPACES["input"], SPACES["rates"])[kind - 1]
        hi = t.limits[space][1]
        depth = t.depths[space][0]
        n = self.int(1, min(MAX_WRITE_WORDS, depth))
        words = [self.word_for(space) for _ in range(n)]
        j = self.int(0, n - 1)
        if kind == 1:
            words[j], name = 0, "lfsr zero"
        else:
            words[j] = self.pick([hi + 1, self.int(hi + 1, 0xFFFFFFFF), 0xFFFFFFFF])
            name = f"space {space} word {words[j]:#x} over {hi}"
        return name, write_frame(space, 0, self.int(0, depth - n), words)

    def oversize(self):
        cmd = self.pick(COMMANDS + (0x33,))
        n = self.int(13, 40) if self.int(0, 9) else self.int(200, 300)
        f = bytearray(frame(cmd, self.bytes(n, sync=0.25)))
        if self.int(0, 3) == 0:
            f[-1] ^= self.int(1, 255)
        return f"cmd {cmd:02x}, {n} payload bytes", bytes(f)

    def random_bytes(self):
        n = self.int(1, 32)
        return f"{n} bytes", bytes(self.pick([b for b in range(256) if b != SYNC])
                                   for _ in range(n))

    def random_frame(self):
        n = self.int(0, 12)
        head = bytes([SYNC, self.pick(COMMANDS + (self.int(0, 255),)), n,
                      0 if self.int(0, 3) else self.int(0, 255)])
        k = n + 1 if self.int(0, 2) else self.int(0, n + 1)
        return f"len {n}, {k} bytes after the header", head + self.bytes(k)

    def error_frame(self) -> bytes:
        """A frame that gets an error reply (any of the byte-level error categories)."""
        return self.pick([self.bad_crc, self.bad_length, self.bad_command, self.bad_address,
                          self.bad_value])()[1]

    # -- building a case ------------------------------------------------------------------
    def harmless(self, stream: bytes) -> bool:
        """No frame of ``stream`` is a WRITE or RUN the chip would execute."""
        return all(frame_status(b, self.t) != STATUS["ok"] or b[0] not in (CMD_WRITE, CMD_RUN)
                   for b in _frames(stream))

    def read_of(self, stream: bytes):
        """``(space, bank, addr, count)`` of the ok READ in ``stream``, if any."""
        for b in _frames(stream):
            if b[0] == CMD_READ and frame_status(b, self.t) == STATUS["ok"]:
                return b[3], b[4], b[5] | b[6] << 8, b[7]
        return None

    def case(self, category: str) -> Case:
        """One case of ``category``, drawn again until its answer is fixed by the document
        and it changes nothing when the chip gets it right."""
        for _ in range(1000):
            try:
                made = getattr(self, "case_" + category, None)
                c = made() if made else self.byte_case(category)
            except Ambiguous:
                continue
            if c is not None:
                return c
        raise RuntimeError(f"no case of {category} after 1000 draws")

    def byte_case(self, category: str):
        name, stream = getattr(self, category)()
        if not self.harmless(stream):
            return None
        return Case(category, name, Line(self.t.divisor).send(stream).segments,
                    decode(stream, self.t), self.read_of(stream))

    def case_split_pause(self):
        t = self.t
        f = self.pick([self.harmless_frame, self.error_frame])()
        if self.int(0, 1):           # pauses under the timeout: the frame as if whole
            ks = sorted({self.int(1, len(f) - 1) for _ in range(self.int(1, 2))})
            gaps = {k: self.int(t.timeout // 5, int(0.9 * t.timeout) - t.byte) for k in ks}
            expect, read = decode(f, t), self.read_of(f)
            name = f"pauses of {sorted(gaps.values())} cycles at {ks}"
        else:                        # one over it: a timeout, then the rest from idle
            k = self.int(1, len(f) - 1)
            gaps = {k: t.timeout + self.int(12, 30) * t.byte}
            rest = f[k:]
            if not self.harmless(rest):
                return None
            expect = decode(f[:k], t) + decode(rest, t)
            read, name = self.read_of(rest), f"pause of {gaps[k]} cycles at {k}"
        return Case("split_pause", name, Line(t.divisor).send(f, gaps=gaps).segments,
                    expect, read)

    def case_framing_error(self):
        f = self.pick([self.harmless_frame, self.error_frame])()
        k = self.int(0, len(f) - 1)
        seen = f[:k] + f[k + 1:]
        if not self.harmless(seen):
            return None
        return Case("framing_error", f"low stop bit on byte {k} of {len(f)}",
                    Line(self.t.divisor).send(f, low_stop=k).segments, decode(seen, self.t),
                    self.read_of(seen))

    def case_baud_offset(self):
        f = self.pick([self.harmless_frame, self.error_frame])()
        baud = self.pick([-0.02, 0.02])
        return Case("baud_offset", f"{100 * baud:+.0f} % baud, {f.hex()}",
                    Line(self.t.divisor).send(f, baud=baud).segments, decode(f, self.t),
                    self.read_of(f))

    def during(self, category: str, first: bytes, busy_bytes: int, expect, read, run):
        """``first``, then a frame that ends within ``busy_bytes`` byte times after it
        (while the chip runs or replies): dropped, so only ``first`` is answered."""
        t = self.t
        kind = self.int(0, 5)
        g = (frame(CMD_PING), SENTINEL, bytes([SYNC]), self.valid_run(learn=1),
             self.valid_write(), self.error_frame())[kind]
        g = g[:max(1, min(len(g), busy_bytes - 1))]
        delay = self.int(0, max(0, busy_bytes - 1 - len(g))) * t.byte
        line = Line(t.divisor).send(first).idle(delay).send(g)
        return Case(category, f"{first.hex()} then {g.hex()} {delay} cycles later",
                    line.segments, expect, read, run)

    def case_during_run(self):
        """The busy time: the sample (at least :data:`SAMPLE_CYCLES`), then its 6-byte
        reply."""
        run = self.valid_run(learn=0)
        busy = 6 + SAMPLE_CYCLES // self.t.byte
        return self.during("during_run", run, busy, [(STATUS["ok"], CMD_RUN)], None, True)

    def case_during_reply(self):
        t = self.t
        if self.int(0, 3) == 0:     # an error reply (6 bytes) outlasts 5 bytes
            bad = self.error_frame()
            return self.during("during_reply", bad, 6, decode(bad, t), None, False)
        bank = self.int(0, len(t.weights) - 1)
        count = self.int(4, min(24, len(t.weights[bank])))
        r = read_frame(SPACES["weights"], bank, 0, count)
        return self.during("during_reply", r, 6 + 4 * count, [(STATUS["ok"], CMD_READ)],
                           (SPACES["weights"], bank, 0, count), False)


#: cases a category in the default corpus of 520 (tests/test_fuzz.py); bench/fuzz.py scales it
MIX = {"bad_crc": 50, "truncated": 30, "bad_length": 45, "length_lies": 30,
       "bad_command": 40, "bad_address": 50, "bad_value": 55, "oversize": 25,
       "random_bytes": 30, "random_frame": 30, "split_pause": 20, "during_run": 25,
       "during_reply": 25, "framing_error": 30, "baud_offset": 35}


def corpus(t: Target, n: int = 520, seed: int = 1) -> list:
    """``n`` cases (at least one a category) in :data:`MIX`'s proportions, shuffled, the
    same for the same seed."""
    if n < len(MIX):
        raise ValueError(f"a corpus has at least {len(MIX)} cases (one a category), not {n}")
    g = _Gen(t, seed)
    total = sum(MIX.values())
    share = {c: n * m / total for c, m in MIX.items()}
    quota = {c: max(1, int(v)) for c, v in share.items()}
    # the rest to the largest remainders (taken back from them when over)
    by_rest = sorted(MIX, key=lambda c: share[c] - int(share[c]), reverse=True)
    k = 0
    while sum(quota.values()) != n:
        c = by_rest[k % len(by_rest)]
        step = 1 if sum(quota.values()) < n else -1
        if quota[c] + step >= 1:
            quota[c] += step
        k += 1
    order = [c for c, q in quota.items() for _ in range(q)]
    g.rng.shuffle(order)
    return [g.case(c) for c in order]


# ---- the run: setup, corpus, read-backs, samples --------------------------------------------
def _run_bound(t: Target) -> int:
    """Cycles a sample may take at most (sim/compare.py run_chip's bound)."""
    words = sum(len(w) for w in t.weights)
    return t.steps * (50 * words + 200_000)


def build_job(net, lanes: int, divisor: int, cases: list, u, label: int,
              every: int = 1, quiet: bool = False) -> tuple:
    """``(job, plan)``: the sim/tb_fuzz.py job and, exchange by exchange, what it is.
    Load ``net`` (routes and weights), write the sample ``u``, run it (learning off) and
    read the state back (the snapshot); then each case, the sentinel after it, and a
    read-back after every ``every`` cases and after the last; then the sample again with
    learning off, and with learning on as class ``label``, each followed by the reads
    the golden-model comparison needs. ``quiet``: :meth:`Case.exchange`'s."""
    t = Target.of(net, lanes, divisor)
    bound = _run_bound(t)
    ex, plan = [], []

    def add(kind, data=None, *, exchange=None, **info):
        ex.append(exchange or _exchange(t, data, 1, probe=kind == "sample_run",
                                        run_cycles=bound if kind == "sample_run" else 0))
        plan.append({"kind": kind, **info})

    def snapshot(after):
        for r in state_reads(t):
            add("snapshot", read_frame(*r), read=list(r), after=after)

    def sample(learn, name):
        add("sample_run", frame(CMD_RUN, bytes([int(learn), label])), sample=name)
        reads = [(SPACES["counts"], 0, 0, t.classes), (SPACES["status"], 0, 0, len(STATUS_REGS)),
                 (SPACES["lfsr"], 0, 0, len(t.weights))]
        # the weights after a sample without learning are in the read-back beside it
        reads += [(SPACES["weights"], b, a, min(MAX_READ, len(w) - a))
                  for b, w in enumerate(t.weights) for a in range(0, len(w), MAX_READ)
                  if learn]
        for r in reads:
            add("sample_read", read_frame(*r), read=list(r), sample=name)

    for f in load_commands(net, lanes):
        add("load", f)
    words = [int(x) for x in u]
    for k in range(0, len(words), MAX_WRITE_WORDS):
        add("load", write_frame(SPACES["input"], 0, k, words[k:k + MAX_WRITE_WORDS]))
    sample(False, "before")
    snapshot(-1)
    for i, c in enumerate(cases):
        add("case", exchange=c.exchange(t, bound, quiet), case=i)
        add("sentinel", SENTINEL, case=i)
        if (i + 1) % every == 0 or i == len(cases) - 1:
            snapshot(i)
    sample(False, "after")
    sample(True, "learn")
    cfg, topo = net.config, net.topology
    job = {"divisor": divisor, "cores": len(topo.cores), "neurons": cfg.sizes.neurons,
           "exchanges": ex}
    return job, plan


def _replies(data_hex: str):
    """``[(status, cmd, payload)]`` of a recorded exchange, or None if the bytes are not
    whole, well-formed replies."""
    try:
        return split_replies(bytes.fromhex(data_hex))
    except (HostError, IndexError):
        return None


def _words(payload: bytes) -> list:
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


def check(net, lanes: int, divisor: int, cases: list, u, label: int, plan: list,
          results: list) -> dict:
    """The counts of a run (:func:`build_job`'s plan and sim/tb_fuzz.py's ``exchanges``),
    checked against the document and the golden model ``net`` (as loaded: it is run
    here, and learns the last sample). Returns ``{"categories": {category: {"cases",
    "silent" (no reply, as expected or not), "replies": {status: n}, "hangs", "wrong"}},
    "totals": {..., "state_changes": read-backs unlike the snapshot}, "changes": [(first
    case, last case, reads that differ)], "failures": [text], "samples": {name: bit
    exact}}``; ``failures`` is empty only when every
    reply is the documented one, no exchange hung, every read-back equals the snapshot
    and the samples match the model bit for bit."""
    from .compare import side_by_side
    t = Target.of(net, lanes, divisor)
    fails, cats = [], {c: {"cases": 0, "silent": 0, "replies": Counter(), "hangs": 0,
                           "wrong": 0} for c in CATEGORIES}
    snaps, samples = {}, {}
    hangs_outside = 0
    if len(results) != len(plan):
        fails.append(f"{len(results)} exchanges recorded, {len(plan)} planned")

    for k, (p, r) in enumerate(zip(plan, results)):
        got = _replies(r["bytes"])
        kind = p["kind"]
        if kind in ("load", "snapshot", "sample_run", "sample_read"):
            if r["hang"] or got is None or len(got) != 1 or got[0][0] != STATUS["ok"]:
                hangs_outside += int(r["hang"])
                fails.append(f"exchange {k} ({kind}): {r['bytes'][:80]}"
                             f"{' (no reply: hang)' if r['hang'] else ''}")
                got = None
            if kind == "snapshot":
                snaps.setdefault(p["after"], {})[tuple(p["read"])] = \
                    _words(got[0][2]) if got else None
            if kind in ("sample_run", "sample_read"):
                s = samples.setdefault(p["sample"], {"reads": {}})
                if kind == "sample_run":
                    s["steps"] = r.get("steps", [])
                else:
                    s["reads"][tuple(p["read"])] = _words(got[0][2]) if got else None
            continue
        c = cases[p["case"]]
        cat = cats[c.category]
        where = f"case {p['case']} ({c.category}: {c.name})"
        if kind == "sentinel":
            if r["hang"]:
                cat["hangs"] += 1
            if got is None or [(s, m) for s, m, _ in got] != [(STATUS["bad_command"], 0x02)]:
                cat["wrong"] += 1
                fails.append(f"{where}: the sentinel after it got {r['bytes'] or 'nothing'}"
                             f"{' (hang)' if r['hang'] else ''}")
            continue
        cat["cases"] += 1
        cat["silent"] += int(got == [])
        for s, _, _ in got or []:
            cat["replies"][STATUS_NAMES.get(s, str(s))] += 1
        if r["hang"]:
            cat["hangs"] += 1
        heads = None if got is None else [(s, m) for s, m, _ in got]
        ok = heads == [tuple(e) for e in c.expect] and not r["hang"]
        if ok and c.read is not None:
            ok = _words(got[0][2]) == _expected_words(snaps.get(-1, {}), t, c.read)
        if ok and c.category in ("during_run", "during_reply") and r["waited"] <= 0:
            ok = False          # the frame did not come while the chip was busy
            fails.append(f"{where}: the reply had ended before the frame did (corpus)")
        if not ok:
            cat["wrong"] += 1
            fails.append(f"{where}: expected {c.expect}, got {heads if heads is not None else r['bytes']}"
                         f"{' (hang)' if r['hang'] else ''}")

    # the snapshot against the golden model, then every read-back against the snapshot
    reference = snaps.get(-1)
    ref_fail = _reference_mismatch(reference, t, net, u) if reference else "no snapshot"
    if ref_fail:
        fails.append(f"the snapshot after loading is not the golden model's: {ref_fail}")
    changes = []
    previous = -1
    for after in sorted(a for a in snaps if a >= 0):
        if snaps[after] != reference:
            diff = [r for r in snaps[after] if snaps[after][r] != (reference or {}).get(r)]
            changes.append((previous + 1, after, diff))
            fails.append(f"state changed between cases {previous + 1} and {after}: "
                         f"reads {diff}")
        previous = after

    # the samples against the golden model
    bit_exact = {}
    for name, learn in (("before", False), ("after", False), ("learn", True)):
        s = samples.get(name)
        if s is None or any(v is None for v in s["reads"].values()):
            bit_exact[name] = False
            fails.append(f"sample {name}: not all of it was read")
            continue
        # without learning, the weights are the read-back's (taken right after "before",
        # right before "after"); with it, the sample's own reads
        run = _sample_run(s, t, None if learn else
                          snaps[-1 if name == "before" else max(snaps)])
        rep = side_by_side(net, np.asarray([u]), np.asarray([label]), learn, run, lanes=lanes)
        bit_exact[name] = bool(rep["bit_exact"])
        if not rep["bit_exact"]:
            fails.append(f"sample {name} (learning {'on' if learn else 'off'}) is not the "
                         f"golden model's: {rep['first_divergence']}")

    for cat in cats.values():
        cat["replies"] = dict(cat["replies"])
    totals = {"cases": sum(c["cases"] for c in cats.values()),
              "error_replies": sum(n for c in cats.values() for s, n in c["replies"].items()
                                   if s != "ok"),
              "hangs": sum(c["hangs"] for c in cats.values()) + hangs_outside,
              "wrong": sum(c["wrong"] for c in cats.values()),
              "state_changes": len(changes), "read_backs": len(snaps)}
    named = {"lfsr_zero": sum(c.name == "lfsr zero" for c in cases),
             "label_out_of_range": sum(c.name.startswith("label out of range") for c in cases)}
    return {"categories": cats, "totals": totals, "named": named, "failures": fails,
            "samples": bit_exact, "changes": changes}


def _snapshot_words(snap: dict, t: Target, read) -> list | None:
    """The words ``read`` (``(space, bank, addr, count)``) covers, from a snapshot."""
    space, bank, addr, count = read
    words = []
    for (s, b, a, _), got in sorted(snap.items()):
        if s == space and b == bank and got is not None:
            words += [(a + j, w) for j, w in enumerate(got)]
    have = dict(words)
    if not all(addr + j in have for j in range(count)):
        return None
    return [have[addr + j] for j in range(count)]


def _expected_words(snap: dict, t: Target, read) -> list | None:
    """What an ok READ ``read`` must return: the snapshot's words, or for the write-only
    router tables 0s (docs/host-protocol.md)."""
    if read[0] in (SPACES["route_index"], SPACES["route_entry"]):
        return [0] * read[3]
    return _snapshot_words(snap, t, read)


def _reference_mismatch(snap: dict, t: Target, net, u) -> str | None:
    """What in the first snapshot is not the golden model's: the weights, the input,
    the LFSR states and the learning-rate shifts (the counts and status registers are the
    first sample's, compared with the model as a sample)."""
    l = net.config.learning
    want = {SPACES["input"]: [int(x) for x in u],
            SPACES["lfsr"]: [bk.lfsr.state for bk in net.banks] + [net.readout_bank.lfsr.state],
            SPACES["rates"]: [l.eta_hidden_shift, l.eta_readout_shift]}
    for b, w in enumerate(t.weights):
        got = _snapshot_words(snap, t, (SPACES["weights"], b, 0, len(w)))
        if got != list(w):
            return f"weight bank {b}"
    for space, words in want.items():
        if _snapshot_words(snap, t, (space, 0, 0, len(words))) != words:
            return f"space {space}"
    return None


def _sample_run(s: dict, t: Target, weights_from: dict | None = None) -> dict:
    """A sample's reads in the shape sim/compare.py ``side_by_side`` takes; the weights
    from ``weights_from`` (a read-back) if given."""
    reads = s["reads"]
    status = dict(zip(STATUS_REGS, reads[(SPACES["status"], 0, 0, len(STATUS_REGS))]))
    lfsr = reads[(SPACES["lfsr"], 0, 0, len(t.weights))]
    weights = [_snapshot_words(weights_from or reads, t, (SPACES["weights"], b, 0, len(w)))
               for b, w in enumerate(t.weights)]
    row = {"steps_raster": s["steps"], "counts": reads[(SPACES["counts"], 0, 0, t.classes)],
           "lfsr": lfsr, **status}
    return {"samples": [row], "weights": weights, "lfsr": lfsr}


def format_counts(report: dict) -> str:
    """The counts table (docs/host-protocol.md "Fuzzing")."""
    statuses = [s for s in STATUS if s != "ok"]
    head = ["category", "cases", "no reply", "ok"] + statuses + ["hangs", "wrong"]
    rows = []
    for name, c in report["categories"].items():
        if not c["cases"]:
            continue
        rows.append([name, c["cases"], c["silent"], c["replies"].get("ok", 0)] +
                    [c["replies"].get(s, 0) for s in statuses] + [c["hangs"], c["wrong"]])
    tot = report["totals"]
    rows.append(["total", tot["cases"]] + [sum(r[j] for r in rows) for j in range(2, len(head))])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "| " + " | ".join(str(x).rjust(w) if j else str(x).ljust(w)
                                       for j, (x, w) in enumerate(zip(r, widths))) + " |"
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    out.append(f"hangs: {tot['hangs']}; state changes: {tot['state_changes']} "
               f"(read-backs of the whole state: {tot['read_backs']}); wrong replies: "
               f"{tot['wrong']}; LFSR state 0 refused: {report['named']['lfsr_zero']} cases, "
               f"labels out of range: {report['named']['label_out_of_range']}; samples bit "
               f"exact with the golden model: " +
               ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in report["samples"].items()))
    return "\n".join(out)


def sample_of(cfg, seed: int = 7) -> list:
    """A sample of ``cfg``'s shape: ``frames * n_in`` intensities in ``0 .. enc_theta``, the first
    at ``enc_theta`` (the largest the chip takes)."""
    theta = cfg.dynamics.enc_theta
    u = np.random.default_rng(seed).integers(0, theta + 1, cfg.sizes.sample_width)
    u[0] = theta
    return [int(x) for x in u]


def fuzz_chip(net_factory, work, *, frames: int = 520, seed: int = 1, every: int = 52,
              label: int = 1, lanes: int | None = None, divisor: int | None = None,
              quiet: bool = False) -> tuple:
    """Build (or reuse) the chip of ``net_factory()``'s topology, run the corpus of
    ``frames`` cases of ``seed`` on it (:func:`build_job`) and check it (:func:`check`,
    on a fresh ``net_factory()``). Returns ``(report, (cases, u, plan, results))``."""
    from . import harness
    from .compare import DIVISOR, LANES, chip_build
    lanes, divisor = lanes or LANES, divisor or DIVISOR
    net = net_factory()
    t = Target.of(net, lanes, divisor)
    cases = corpus(t, frames, seed)
    u = sample_of(net.config)
    job, plan = build_job(net, lanes, divisor, cases, u, label, every=every, quiet=quiet)
    b = chip_build(net.topology, lanes=lanes, divisor=divisor)
    results = harness.run(b, "sim.tb_fuzz", job, work)[0]["exchanges"]
    report = check(net_factory(), lanes, divisor, cases, u, label, plan, results)
    return report, (cases, u, plan, results)
