"""Host driver for the SWIRL chip's UART command interface (docs/host-protocol.md).

:class:`Host` speaks the protocol over a :class:`Transport`: :class:`SerialTransport`
(pyserial, a real board) or :class:`SimTransport` (the Amaranth simulation of
``rtl.top.SwirlChip``, bit-level UART on its ``rx``/``tx`` pins), so tests drive the same
driver code into the simulated design that a user runs against the board.

Frame and reply helpers (:func:`frame`, :func:`parse_reply`) are pure functions; the
image helpers (:func:`load_commands`) turn a topology and weights into the command
stream that loads a chip.
"""
from __future__ import annotations

import struct

import numpy as np

from gen.util import ceil_div, index_width
from rtl.address_map import SPACES, STATUS_REGS, value_limits
from rtl.host_protocol import (CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, MAX_WRITE_WORDS,
                               STATUS, SYNC, crc8)

__all__ = ["Host", "HostError", "Transport", "SerialTransport", "SimTransport", "frame",
           "write_frame", "read_frame", "parse_reply", "split_replies", "load_commands",
           "weight_words", "pack_rows", "SPACES", "STATUS_REGS"]

STATUS_NAMES = {v: k for k, v in STATUS.items()}
SPACE_NAMES = {v: k for k, v in SPACES.items()}
# why a space's words have their limits (rtl/address_map.py value_limits), for messages
LIMIT_REASONS = {SPACES["input"]: "input intensities, at most dynamics.enc_theta",
                 SPACES["lfsr"]: "16-bit LFSR states; 0 would stay 0",
                 SPACES["rates"]: "word 0 eta_hidden_shift, word 1 eta_readout_shift; the "
                                  "LFSR gives 16 rounding bits"}


class HostError(RuntimeError):
    """An error reply, a bad reply, or no reply."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def frame(cmd: int, payload: bytes = b"") -> bytes:
    """``A5 cmd len_lo len_hi payload crc``, CRC-8 over everything after the sync."""
    body = bytes([cmd]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


def write_frame(space: int, bank: int, addr: int, words) -> bytes:
    """A WRITE of ``words`` (at most MAX_WRITE_WORDS, 32 bits each) from ``addr`` on."""
    return frame(CMD_WRITE, struct.pack("<BBH", space, bank, addr) +
                 struct.pack(f"<{len(words)}I", *words))


def read_frame(space: int, bank: int, addr: int, count: int) -> bytes:
    return frame(CMD_READ, struct.pack("<BBHB", space, bank, addr, count))


def parse_reply(data: bytes) -> tuple[int, int, bytes, int]:
    """``(status, cmd, payload, bytes used)`` of the reply at the start of ``data``;
    raises HostError for a bad sync, length or CRC, and IndexError when incomplete."""
    if data[0] != SYNC:
        raise HostError(f"reply does not start with the sync byte: {data[:8].hex()}")
    status, cmd = data[1], data[2]
    n = data[3] | data[4] << 8
    end = 5 + n + 1
    if len(data) < end:
        raise IndexError("incomplete reply")
    if crc8(data[1:end]) != 0:
        raise HostError(f"reply CRC mismatch: {data[:end].hex()}")
    return status, cmd, bytes(data[5:5 + n]), end


def split_replies(data: bytes) -> list:
    """``(status, cmd, payload)`` of every reply in ``data`` (a link test's raw bytes)."""
    out = []
    while data:
        status, cmd, payload, used = parse_reply(data)
        out.append((status, cmd, payload))
        data = data[used:]
    return out


# ---- transports ------------------------------------------------------------------------------
class Transport:
    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; fewer only when ``timeout`` (seconds, or simulated
        cycles for SimTransport) runs out."""
        raise NotImplementedError


class SerialTransport(Transport):
    def __init__(self, port: str, baud: int = 115200):
        import serial
        self._s = serial.Serial(port, baud, timeout=0.1)
        self._s.reset_input_buffer()      # a reply an earlier host gave up on is not ours

    def write(self, data: bytes) -> None:
        self._s.write(data)

    def read(self, n: int, timeout: float) -> bytes:
        self._s.timeout = timeout
        return self._s.read(n)

    def close(self) -> None:
        self._s.close()


class SimTransport(Transport):
    """The Amaranth simulator running ``dut`` (any component with ``rx`` in and ``tx``
    out, 8N1 at ``divisor`` cycles a bit). Bytes written are shifted into ``rx`` by a
    testbench; ``tx`` is decoded by another; :meth:`read` runs the simulation until
    enough bytes came back or ``timeout`` cycles passed."""

    PERIOD = 1e-6

    def __init__(self, dut, divisor: int):
        from amaranth.hdl import Signal
        from amaranth.sim import Simulator
        self.divisor = divisor
        self._stopping = False
        self._stop = Signal(name="transport_stop")   # ends both testbenches (close)
        self._out = bytearray()           # host -> chip, not yet sent
        self._in = bytearray()            # chip -> host, not yet read
        self.cycles = 0
        self.dut = dut
        sim = Simulator(dut)
        sim.add_clock(self.PERIOD)
        sim.add_testbench(self._drive, background=True)
        sim.add_testbench(self._sample, background=True)
        self._sim = sim
        self._now = 0

    async def _drive(self, ctx):
        d = self.divisor
        ctx.set(self.dut.rx, 1)
        while True:
            if self._stopping:
                ctx.set(self._stop, 1)
                return
            if not self._out:
                await ctx.tick()
                continue
            byte = self._out.pop(0)
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                ctx.set(self.dut.rx, bit)
                await ctx.tick().repeat(d)

    async def _sample(self, ctx):
        d = self.divisor
        while True:
            await ctx.tick().until((self.dut.tx == 0) | self._stop)
            if ctx.get(self._stop):
                return
            await ctx.tick().repeat(d // 2)           # middle of the start bit
            byte = 0
            for i in range(8):
                await ctx.tick().repeat(d)
                byte |= ctx.get(self.dut.tx) << i
            await ctx.tick().repeat(d)                # stop bit
            self._in.append(byte)

    def run(self, cycles: int) -> None:
        self._now += cycles
        self._sim.run_until(self._now * self.PERIOD)
        self.cycles = self._now

    def write(self, data: bytes) -> None:
        self._out.extend(data)

    def close(self) -> None:
        """Let the two testbenches finish (call when done with the simulation)."""
        self._stopping = True
        self.run(2 * self.divisor * 12)

    def read(self, n: int, timeout: float) -> bytes:
        chunk = 10 * self.divisor
        waited = 0
        while len(self._in) < n and waited < timeout:
            self.run(chunk)
            waited += chunk
        data, self._in[:] = bytes(self._in[:n]), self._in[n:]
        return data


# ---- the driver ---------------------------------------------------------------------------------
class Host:
    """Request / reply over a transport. Every method raises :class:`HostError` on an
    error reply (``.status`` holds the code). ``timeout`` is the transport's unit."""

    def __init__(self, transport: Transport, timeout: float = 2.0):
        self.t = transport
        self.timeout = timeout
        self.info: dict = {}           # what the last PING said

    def limits(self) -> dict:
        """``{space: (lowest, highest)}`` of the words :meth:`write` sends, as the chip
        checks them (bad_value); the input's only once PING said ``enc_theta``."""
        return value_limits(self.info.get("enc_theta"), self.info.get("learning", True))

    def _refuse(self, what: str, value: int, lo: int, hi: int, why: str):
        raise HostError(f"{what} = {value} is out of range {lo}..{hi} ({why}); not sent",
                        STATUS["bad_value"])

    def command(self, cmd: int, payload: bytes = b"", timeout: float | None = None,
                raw: bytes | None = None) -> bytes:
        self.t.write(raw if raw is not None else frame(cmd, payload))
        return self.reply(cmd, timeout)

    def reply(self, cmd: int | None = None, timeout: float | None = None) -> bytes:
        timeout = self.timeout if timeout is None else timeout
        head = self.t.read(5, timeout)
        if len(head) < 5:
            raise HostError(f"no reply (got {head.hex() or 'nothing'})")
        n = head[3] | head[4] << 8
        # a long reply (a READ of 255 words is 1,026 bytes) gets time for every byte
        rest = self.t.read(n + 1, timeout * (1 + n // 64))
        status, rcmd, payload, _ = parse_reply(head + rest)
        if status != 0:
            raise HostError(f"command 0x{rcmd:02x}: error {STATUS_NAMES.get(status, status)}",
                            status)
        if cmd is not None and rcmd != cmd:
            raise HostError(f"reply to command 0x{rcmd:02x}, expected 0x{cmd:02x}")
        return payload

    # ---- commands ----------------------------------------------------------------------
    def ping(self) -> dict:
        p = self.command(CMD_PING)
        if p[:4] != b"SWRL":
            raise HostError(f"not a SWIRL chip: {p.hex()}")
        self.info = {"version": p[4], "classes": p[5], "n_in": p[6], "cores": p[7],
                     "lanes": p[8], "steps": p[9] | p[10] << 8,
                     "learning": bool(p[11] & 1) if len(p) > 11 else False}
        if len(p) > 13:                 # protocol version 3
            self.info["enc_theta"] = p[12] | p[13] << 8
        self.info["frames"] = p[14] | p[15] << 8 if len(p) > 15 else 1
        return self.info

    def write(self, space: int, bank: int, addr: int, words) -> None:
        """Raises HostError before sending anything when a word is out of its space's
        limits (:meth:`limits`)."""
        words = [int(w) for w in words]
        if space in self.limits():
            lo, hi = self.limits()[space]
            for k, w in enumerate(words):
                if not lo <= w <= hi:
                    self._refuse(f"{SPACE_NAMES[space]} word {addr + k}", w, lo, hi,
                                 LIMIT_REASONS[space])
        words = [w & 0xFFFFFFFF for w in words]     # elsewhere the chip uses the low bits
        for k in range(0, len(words), MAX_WRITE_WORDS):
            self.command(CMD_WRITE, raw=write_frame(space, bank, addr + k,
                                                    words[k:k + MAX_WRITE_WORDS]))

    def read(self, space: int, bank: int, addr: int, count: int) -> list:
        out = []
        while count > 0:
            n = min(count, 255)
            p = self.command(CMD_READ, raw=read_frame(space, bank, addr, n))
            out.extend(struct.unpack(f"<{n}I", p))
            addr, count = addr + n, count - n
        return out

    def run(self, learn: bool = False, label: int = 0, timeout: float | None = None) -> None:
        """Run the loaded sample; with ``learn``, teach it as class ``label`` (below
        PING's ``classes``: the chip refuses others)."""
        classes = self.info.get("classes") if learn else None
        if not 0 <= int(label) < (classes or 256):
            self._refuse("label", label, 0, (classes or 256) - 1,
                         "a class index below PING's classes" if classes else "one byte")
        if learn and getattr(self, "info", {}).get("learning") is False:
            raise HostError("this chip was built without on-chip learning (PING flags "
                            "bit 0 is 0): run with learn=False, or build it with learning")
        self.command(CMD_RUN, bytes([int(learn), int(label)]), timeout=timeout)

    def load_input(self, intensities) -> None:
        self.write(SPACES["input"], 0, 0, list(intensities))

    def counts(self, classes: int) -> list:
        return self.read(SPACES["counts"], 0, 0, classes)

    def status(self) -> dict:
        return dict(zip(STATUS_REGS, self.read(SPACES["status"], 0, 0, len(STATUS_REGS))))

    def classify(self, intensities, classes: int, timeout: float | None = None,
                 learn: bool = False, label: int = 0) -> dict:
        """Stream one sample, run it (teaching it as ``label`` with ``learn``), read
        prediction, class counts and counters."""
        if learn and not 0 <= int(label) < classes:
            self._refuse("label", label, 0, classes - 1, f"sizes.classes = {classes}")
        self.load_input(intensities)
        self.run(learn=learn, label=label, timeout=timeout)
        return {"counts": self.counts(classes), **self.status()}

    def lfsr_states(self, banks: int) -> list:
        return self.read(SPACES["lfsr"], 0, 0, banks)

    def set_lfsr_states(self, states) -> None:
        self.write(SPACES["lfsr"], 0, 0, list(states))

    def learning_shifts(self) -> tuple:
        """``(eta_hidden_shift, eta_readout_shift)``: the learning rates' denominators."""
        return tuple(self.read(SPACES["rates"], 0, 0, 2))

    def set_learning_shifts(self, eta_hidden_shift: int, eta_readout_shift: int) -> None:
        """Set both learning-rate shifts (0..16), e.g. the decay between epochs
        (sim.train.learning_rate_schedule); :meth:`write` checks them."""
        self.write(SPACES["rates"], 0, 0, [int(eta_hidden_shift), int(eta_readout_shift)])

    def load_image(self, commands) -> None:
        """Send the frames of :func:`load_commands` (or ``load.bin`` split back into
        frames), checking every reply."""
        for f in commands:
            self.command(f[1], raw=f)


# ---- images --------------------------------------------------------------------------------
def weight_words(net, lanes: int) -> list:
    """Per weight bank (hidden cores, then the readout) the memory words of the
    crossbar layout (rtl/crossbar.py) for the golden model's ``net`` weights."""
    wb = net.config.widths.weight
    return [pack_rows(net.bank_weights(g), lanes, wb)
            for g in range(len(net.topology.cores) + 1)]


def pack_rows(mat, lanes: int, width: int) -> list:
    """Crossbar weight words (rtl/crossbar.py layout): each row split into words of
    ``lanes`` columns, column ``k*lanes + p`` in bits ``[p*width, (p+1)*width)``, the
    last word padded with zeros."""
    mat = np.asarray(mat, dtype=np.int64)
    n_rows, n_cols = mat.shape
    wpr = ceil_div(n_cols, lanes)
    padded = np.zeros((n_rows, wpr * lanes), dtype=np.int64)
    padded[:, :n_cols] = mat
    mask = (1 << width) - 1
    vals = (padded & mask).reshape(-1, lanes).tolist()     # Python ints: a word may be
    return [sum(v << (p * width) for p, v in enumerate(word))  # 64 bits or more
            for word in vals]


def route_words(topo) -> tuple[list, list]:
    """Router index and entry words (rtl/router.py layouts), packed as integers."""
    from gen.routing import RouterParams, routing_tables
    p = RouterParams.from_topology(topo, fifo_depth=2)
    index, entries = routing_tables(topo, p)
    ob, rb = index_width(p.table_depth), index_width(p.rows)
    return ([off | cnt << ob for off, cnt in index], [row | dest << rb for dest, row in entries])


def load_commands(net, lanes: int) -> list:
    """Frames that load the routing tables and every weight of ``net`` (a
    sim.model.Network), in order."""
    frames = []

    def put(space, bank, words):
        frames.extend(write_frame(space, bank, k, words[k:k + MAX_WRITE_WORDS])
                      for k in range(0, len(words), MAX_WRITE_WORDS))

    index, entries = route_words(net.topology)
    put(SPACES["route_index"], 0, index)
    put(SPACES["route_entry"], 0, entries)
    for b, words in enumerate(weight_words(net, lanes)):
        put(SPACES["weights"], b, words)
    return frames


def split_frames(data: bytes) -> list:
    """``load.bin`` back into frames."""
    out, i = [], 0
    while i < len(data):
        n = data[i + 2] | data[i + 3] << 8      # A5 cmd len_lo len_hi payload crc
        out.append(data[i:i + 4 + n + 1])
        i += 4 + n + 1
    return out
