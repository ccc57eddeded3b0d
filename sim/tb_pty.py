"""cocotb testbench: the whole chip (rtl/top.py ``SwirlChip``) under Verilator behind a
pseudo-terminal, so that a host program opens the pty's slave as a serial port (pyserial,
``python -m gen run --port /dev/pts/N``) and talks to the simulated chip as to a board.

The bridge copies bytes both ways at the UART bit level: each byte the host writes to the
slave is read from the master and shifted into the chip's ``rx`` pin (8N1, ``divisor``
cycles a bit); the bytes decoded from ``tx`` are written to the master a whole reply at a
time (a pty write costs about the same for one byte as for a frame).

Time: the simulation only runs while it has something to do. The chip sends nothing
unasked (docs/host-protocol.md), so the bridge counts the host's frames (sync, command,
length, payload, CRC) and the chip's replies: while a command waits for its reply the
chip runs; when none waits and no byte is queued the simulation stands still and the
bridge blocks on the master for the host's next bytes. A host that leaves a frame
unfinished for ``STALL_S`` seconds gets the chip's own timeout reply (the simulation runs
on until it comes). So the host's speed, the pty and Python's scheduling change
nothing the chip sees but the idle time between frames, which it does not measure.

Run through :func:`sim.pty_chip.serve` (job in ``SWIRL_CASES``): the slave's name goes to
``job["port_file"]``, and the bridge ends when ``job["stop_file"]`` appears (or after
``job["max_idle_s"]`` seconds with no host byte). Faults for the tests: ``job["perturb"]``
(:class:`Perturb`, a broken memory word) and ``job["mute_after"]`` (the link goes dead
after that many replies: the chip still answers, the host hears nothing more).
"""
from __future__ import annotations

import fcntl
import itertools
import os
import pathlib
import select
import time
import tty

import cocotb
from cocotb.triggers import ClockCycles, Event, First, Timer
from cocotb.utils import get_sim_time

from rtl.host_protocol import CMD_WRITE, SYNC, crc8
from sim.tb_chip import PERIOD_NS, ChipTB, uart_byte
STALL_S = 0.5           # a frame left unfinished this long is let time out on the chip


class FrameCounter:
    """Counts the complete frames in a byte stream as the chip frames them: bytes
    outside a frame that are not the sync byte are skipped, a frame is sync, one byte,
    two bytes of length (little endian), the payload, one byte of CRC. ``reply``: the
    chip's replies, which have one byte more before the length (status, command)."""

    def __init__(self, reply: bool = False):
        self.head = 5 if reply else 4      # bytes up to and including the length
        self.buf = bytearray()
        self.frames = 0

    @property
    def inside(self) -> bool:
        return bool(self.buf)

    def feed(self, byte: int) -> bool:
        """True when ``byte`` ended a frame."""
        if not self.buf and byte != SYNC:
            return False
        self.buf.append(byte)
        if len(self.buf) >= self.head:
            n = self.buf[self.head - 2] | self.buf[self.head - 1] << 8
            if len(self.buf) == self.head + n + 1:
                self.buf.clear()
                self.frames += 1
                return True
        return False

    def abandon(self) -> None:
        """The frame so far ends (the chip will answer it with a timeout)."""
        self.buf.clear()
        self.frames += 1


class Perturb:
    """A fault on the chip's side, for the tests that show a run catches one: the word
    ``(space, bank, addr)`` of every WRITE the host sends becomes ``word`` (the CRC made
    right again), as if that memory word were broken. Holds each frame until it is
    whole; bytes between frames pass."""

    def __init__(self, space: int, bank: int, addr: int, word: int):
        self.target, self.word = (space, bank, addr), word
        self.buf = bytearray()
        self.count = 0

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if not self.buf and byte != SYNC:
                out.append(byte)
                continue
            self.buf.append(byte)
            if len(self.buf) >= 4 and len(self.buf) == 4 + (self.buf[2] | self.buf[3] << 8) + 1:
                out += self._rewrite(bytes(self.buf))
                self.buf.clear()
        return bytes(out)

    def flush(self) -> bytes:
        data, self.buf = bytes(self.buf), bytearray()
        return data

    def _rewrite(self, frame: bytes) -> bytes:
        if frame[1] != CMD_WRITE or len(frame) < 13:
            return frame
        space, bank, addr = frame[4], frame[5], frame[6] | frame[7] << 8
        f = bytearray(frame)
        for k in range((len(frame) - 9) // 4):
            if (space, bank, addr + k) == self.target:
                f[8 + 4 * k:12 + 4 * k] = (self.word & 0xFFFFFFFF).to_bytes(4, "little")
                self.count += 1
        f[-1] = crc8(bytes(f[1:-1]))
        return bytes(f)


class PtyBridge:
    def __init__(self, dut, divisor: int, job: dict):
        self.dut, self.divisor, self.job = dut, divisor, job
        self.master, slave = os.openpty()
        tty.setraw(slave)                     # no echo, no line discipline: bytes as sent
        self.slave = slave                    # kept open: the master never sees EOF
        fcntl.fcntl(self.master, fcntl.F_SETFL,
                    fcntl.fcntl(self.master, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.port = os.ttyname(slave)
        self.commands = FrameCounter()
        self.replies = FrameCounter(reply=True)
        self.replied = Event()
        self.pending = bytearray()            # chip -> host, decoded, not yet written
        self.stats = {"bytes_in": 0, "bytes_out": 0}
        self.mute = job.get("mute_after")     # replies passed on before the link goes dead
        p = job.get("perturb")
        self.perturb = Perturb(p["space"], p["bank"], p["addr"], p["word"]) if p else None

    @property
    def waiting(self) -> int:
        """Commands whose reply has not ended yet."""
        return self.commands.frames - self.replies.frames

    def _read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return b""

    def _write(self, data: bytes) -> None:
        while True:
            try:
                os.write(self.master, data)
                return
            except (BlockingIOError, InterruptedError):
                time.sleep(0.001)             # the host has not read the pty's buffer yet

    def _stop(self) -> bool:
        stop = self.job.get("stop_file")
        return bool(stop) and pathlib.Path(stop).exists()

    async def receive(self) -> None:
        """Decode ``tx`` and pass every byte on to the host, forever."""
        while True:
            byte = await uart_byte(self.dut.tx, self.divisor)
            if self.mute is None or self.replies.frames < self.mute:
                self.pending.append(byte)
                self.stats["bytes_out"] += 1
            if self.replies.feed(byte):
                self.flush()
                self.replied.set()

    def flush(self) -> None:
        """Pass the bytes decoded so far on to the host, in one write: a write to the
        pty costs milliseconds whatever its length (a byte at a time, a third of the
        bridge's time went there)."""
        if self.pending:
            self._write(bytes(self.pending))
            self.pending.clear()

    async def serve(self) -> dict:
        dut, d = self.dut, self.divisor
        dut.rx.value = 1
        port_file = self.job.get("port_file")
        if port_file:
            tmp = pathlib.Path(port_file + ".tmp")
            tmp.write_text(self.port)
            tmp.rename(port_file)             # whole or absent: the host polls for it
        queue = bytearray()
        idle_since = time.monotonic()
        max_idle = float(self.job.get("max_idle_s", 3600))
        while True:
            data = self._read()
            queue += self.perturb.feed(data) if self.perturb else data
            if queue:
                byte = queue.pop(0)
                # 8N1, one wait per run of equal bits (fewer trips through cocotb)
                for level, run in itertools.groupby([0] + [(byte >> i) & 1 for i in range(8)]
                                                    + [1]):
                    dut.rx.value = level
                    await Timer(len(list(run)) * d * PERIOD_NS, unit="ns")
                self.stats["bytes_in"] += 1
                self.commands.feed(byte)
                idle_since = time.monotonic()
                continue
            if self.waiting > 0:              # the chip works on a command: let it run
                self.replied.clear()
                await First(self.replied.wait(), Timer(100_000 * PERIOD_NS, unit="ns"))
                continue
            # nothing to do: the simulation stands still until the host writes
            self.flush()                      # the rest of a reply cut short (a timeout)
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                continue
            if self._stop():
                break
            quiet = time.monotonic() - idle_since
            if self.perturb and self.perturb.buf and quiet > STALL_S:
                queue += self.perturb.flush()
            elif self.commands.inside and quiet > STALL_S:
                self.commands.abandon()       # the chip times the frame out and replies
            elif quiet > max_idle:
                break
        self.stats.update(perturbed=self.perturb.count if self.perturb else 0,
                          cycles=int(get_sim_time("ns")) // PERIOD_NS,
                          commands=self.commands.frames, replies=self.replies.frames)
        return self.stats

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class PtyTB(ChipTB):
    """Clock and reset from :class:`sim.tb_chip.ChipTB`; :meth:`run_case` serves the pty."""

    async def run_case(self, job) -> dict:
        # a board chip (sim/asbuilt.py) hears nothing until its PLL locks and its
        # power-on reset ends
        await ClockCycles(self.dut.clk, job.get("settle_cycles", 0) + 1)
        bridge = PtyBridge(self.dut, job["divisor"], job)
        cocotb.start_soon(bridge.receive())
        try:
            stats = await bridge.serve()
        finally:
            bridge.close()
        return {"ok": True, "port": bridge.port, **stats}


@cocotb.test()
async def pty_chip(dut):
    """The chip behind a pty until $SWIRL_CASES' stop file appears."""
    from sim.harness import run_cases
    await run_cases(dut, lambda cases: PtyTB(dut))
