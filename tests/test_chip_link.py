"""The host link of the whole chip under Verilator (rtl/top.py ``SwirlChip`` through its
UART pins, sim/tb_chip.py ``run_link_job``): raw frames and line levels where the driver
would never send them. Bytes that come while a command runs or its reply is sent,
line errors, READ of no words, and values the chip must refuse (docs/host-protocol.md)."""
from __future__ import annotations

import struct

import pytest

from gen.config import Config
from gen.topology import make_topology
from rtl.address_map import SPACES, STATUS_REGS
from rtl.host import CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, STATUS
from sim import harness
from sim.compare import DIVISOR, chip_build
from sim.host import frame, read_frame, split_replies, write_frame

pytestmark = pytest.mark.rtl

BYTE = 10 * DIVISOR              # cycles a byte takes on the line
LISTEN = 100 * BYTE              # past a phantom frame's timeout (64 byte times) and reply
CONFIG = {
    "sizes.n_in": 6, "sizes.cores": 3, "sizes.neurons": 4, "sizes.classes": 2,
    "sizes.per_class": 2, "sizes.steps": 4, "topology.ws_neighbours": 2,
    "topology.axons_per_edge": 2, "topology.readout_density": 0.6,
    "dynamics.enc_theta": 4, "learning.teach_start": 1,
}
PING = frame(CMD_PING)
BAD_PING = PING[:-1] + bytes([PING[-1] ^ 1])


@pytest.fixture(scope="module")
def chip():
    cfg = Config().replace(**CONFIG).validate()
    topo = make_topology(cfg)
    return cfg, topo, chip_build(topo)


def talk(chip, tmp_path, *exchanges) -> list:
    """Each exchange ``(items, listen)`` (bytes, or ``[level, cycles]`` line levels) sent
    back to back; returns the replies the chip sent within ``listen`` cycles after each."""
    job = {"kind": "link", "divisor": DIVISOR,
           "exchanges": [{"send": list(items), "listen": listen} for items, listen in exchanges]}
    result = harness.run(chip[2], "sim.tb_chip", job, tmp_path / "link")[0]
    return [split_replies(bytes.fromhex(h)) for h in result["replies"]]


def heads(replies) -> list:
    return [(status, cmd) for status, cmd, _ in replies]


def words(reply) -> list:
    status, _, payload = reply
    assert status == 0, reply
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


def test_bytes_during_a_command_or_reply_are_dropped(chip, tmp_path):
    """Nothing a host sends before the reply has ended is taken: not a whole frame, not a
    lone sync byte (which used to open a phantom frame, answered by a timeout 64 byte times
    later), not bytes during a long reply or a sample."""
    n = chip[1].cores[0].n_rows * 2          # bank 0's words: 2 a row (4 neurons, lanes 2)
    got = talk(chip, tmp_path,
               (BAD_PING + PING, LISTEN), (BAD_PING + b"\xA5", LISTEN),
               (read_frame(SPACES["weights"], 0, 0, n) + PING, 4 * n * BYTE + LISTEN),
               (frame(CMD_RUN, b"\0\0") + PING, LISTEN), (PING, LISTEN))
    assert [heads(r) for r in got] == [
        [(STATUS["bad_crc"], CMD_PING)], [(STATUS["bad_crc"], CMD_PING)],
        [(0, CMD_READ)], [(0, CMD_RUN)], [(0, CMD_PING)]]
    assert len(got[2][0][2]) == 4 * n


def _byte_levels(byte: int, stop: int) -> list:
    return [[0, DIVISOR]] + [[(byte >> i) & 1, DIVISOR] for i in range(8)] + [[stop, DIVISOR]]


def test_line_errors(chip, tmp_path):
    """A byte with a low stop bit is dropped (the frame, one byte short, times out); a low
    glitch under half a bit is no byte; one of a bit is a 0xFF byte (skipped between
    frames, a bad CRC inside one); a break between frames is nothing, inside one it
    truncates the frame."""
    low_stop = [*PING[:2], *_byte_levels(PING[2], 0), [1, DIVISOR], *PING[3:]]
    short_glitch = [*PING[:3], [0, DIVISOR // 2 - 1], [1, DIVISOR], *PING[3:]]
    long_glitch = [[0, DIVISOR], [1, 2 * BYTE], *PING]
    glitch_in_frame = [*PING[:4], [0, DIVISOR], [1, 2 * BYTE], PING[4]]
    brk = [[0, 30 * BYTE], [1, 2 * BYTE], *PING]
    break_in_frame = [*PING[:2], [0, 80 * BYTE], [1, 2 * BYTE]]
    got = talk(chip, tmp_path, (low_stop, LISTEN), (short_glitch, LISTEN),
               (long_glitch, LISTEN), (glitch_in_frame, LISTEN), (brk, LISTEN),
               (break_in_frame, LISTEN), (PING, LISTEN))
    assert [heads(r) for r in got] == [
        [(STATUS["timeout"], CMD_PING)], [(0, CMD_PING)], [(0, CMD_PING)],
        [(STATUS["bad_crc"], CMD_PING)], [(0, CMD_PING)],
        [(STATUS["timeout"], CMD_PING)], [(0, CMD_PING)]]


def test_timeout_reply_of_a_lone_sync_carries_command_0(chip, tmp_path):
    got = talk(chip, tmp_path, (PING, LISTEN), (b"\xA5", LISTEN))
    assert [heads(r) for r in got] == [[(0, CMD_PING)], [(STATUS["timeout"], 0)]]


def test_read_of_no_words_is_bad_length_in_every_space(chip, tmp_path):
    cfg, topo, _ = chip
    targets = [(SPACES["weights"], b) for b in range(len(topo.cores) + 1)] + \
        [(s, 0) for s in SPACES.values() if s != SPACES["weights"]] + [(8, 0)]
    got = talk(chip, tmp_path, *[(read_frame(s, b, 0, 0), 20 * BYTE) for s, b in targets])
    assert [heads(r) for r in got] == [[(STATUS["bad_length"], CMD_READ)]] * len(targets)


def test_values_out_of_range_change_nothing(chip, tmp_path):
    """Every word of a WRITE is checked before the first is written: a frame with one
    value the golden model refuses (an intensity above enc_theta, an LFSR state of 0, a
    rate shift past 16, a learning RUN's label at or above classes) gets bad_value and
    changes nothing; the limits themselves are taken."""
    cfg, topo, _ = chip
    theta, banks, classes = cfg.dynamics.enc_theta, len(topo.cores) + 1, cfg.sizes.classes
    inp, lfsr, rates = SPACES["input"], SPACES["lfsr"], SPACES["rates"]
    steps = STATUS_REGS.index("steps")
    reads = [read_frame(inp, 0, 0, 2), read_frame(lfsr, 0, 0, banks),
             read_frame(rates, 0, 0, 2), read_frame(SPACES["status"], 0, steps, 1)]
    bad = [write_frame(inp, 0, 0, [theta - 1, theta + 1]), write_frame(inp, 0, 1, [255]),
           write_frame(lfsr, 0, 0, [0x1234, 0]), write_frame(lfsr, 0, 1, [0x10001]),
           write_frame(rates, 0, 0, [17, 3]), write_frame(rates, 0, 0, [3, 32]),
           frame(CMD_RUN, bytes([1, classes])), frame(CMD_RUN, bytes([1, 255]))]
    edge = [write_frame(inp, 0, 0, [0, theta]), write_frame(lfsr, 0, 0, [1, 0xFFFF]),
            write_frame(rates, 0, 0, [16, 0])]
    run = frame(CMD_RUN, bytes([1, classes - 1]))
    exchanges = [(f, 40 * BYTE) for f in reads + bad + reads + edge + reads]
    got = talk(chip, tmp_path, *exchanges, (run, LISTEN), (reads[3], 40 * BYTE))
    n = len(bad)
    before, refused, after = got[:4], got[4:4 + n], got[4 + n:8 + n]
    taken, last = got[8 + n:11 + n], got[11 + n:15 + n]
    assert [heads(r) for r in refused] == [[(STATUS["bad_value"], f[1])] for f in bad]
    assert [words(r[0]) for r in after] == [words(r[0]) for r in before]
    assert words(before[3][0]) == [0]                     # no sample ran
    assert [heads(r) for r in taken] == [[(0, CMD_WRITE)]] * len(edge)
    assert words(last[0][0]) == [0, theta] and words(last[1][0])[:2] == [1, 0xFFFF]
    assert words(last[2][0]) == [16, 0]
    assert heads(got[-2]) == [(0, CMD_RUN)] and words(got[-1][0]) == [cfg.sizes.steps]
