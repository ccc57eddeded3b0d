"""The host protocol's facts (docs/host-protocol.md), for the link (rtl/host.py) and the
driver (sim/host.py) alike: the sync byte, command codes, reply statuses, the WRITE
payload limit, CRC-8 (in software and as an xor network), and the signatures of the bus
between the host link and the engine."""
from amaranth.hdl import C, Cat
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SYNC", "CMD_PING", "CMD_WRITE", "CMD_READ", "CMD_RUN", "STATUS",
           "MAX_WRITE_WORDS", "crc8", "AccessSignature", "RunSignature", "BusSignature"]

SYNC = 0xA5
CMD_PING, CMD_WRITE, CMD_READ, CMD_RUN = 0x01, 0x10, 0x11, 0x20
STATUS = {"ok": 0, "bad_crc": 1, "bad_command": 2, "bad_length": 3, "timeout": 4,
          "bad_address": 5, "bad_value": 6}
MAX_WRITE_WORDS = 2          # words per WRITE frame (the payload buffer is 4 + 4*2 bytes)


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), initial 0, no reflection, no xor-out."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc8_hw(crc, byte):
    """``crc8`` of one byte as an xor network: the CRC is linear over GF(2), so each
    output bit is the xor of a fixed set of the 16 input bits (found by running the
    bitwise algorithm on sets of bit indices)."""
    c = [{j, 8 + j} for j in range(8)]          # bit j of crc ^ byte: crc[j], byte[j]
    for _ in range(8):
        top = c[7]
        c = [set() if j == 0 else c[j - 1] for j in range(8)]     # shift left
        for j in (0, 1, 2):                                        # ^ 0x07 when top set
            c[j] = c[j] ^ top
    bits = Cat(crc, Cat(byte, C(0, 8))[:8])      # byte zero-extended to 8 bits
    out = []
    for terms in c:
        v = C(0, 1)
        for t in sorted(terms):
            v = v ^ bits[t]
        out.append(v)
    return Cat(*out)


class AccessSignature(wiring.Signature):
    """One READ/WRITE word access from the host link's side: ``req`` with ``we``,
    ``space``, ``bank``, ``addr``, ``wdata`` until ``ack`` (``rdata`` valid with it)."""

    def __init__(self):
        super().__init__({"req": Out(1), "we": Out(1), "space": Out(8), "bank": Out(8),
                          "addr": Out(16), "wdata": Out(32), "ack": In(1), "rdata": In(32)})


class RunSignature(wiring.Signature):
    """A sample from the host link's side: ``start`` (strobe) with RUN's ``learn`` flag and
    ``label``, ``done`` (strobe) at its end."""

    def __init__(self):
        super().__init__({"start": Out(1), "learn": Out(1), "label": Out(8), "done": In(1)})


class BusSignature(wiring.Signature):
    """The host link's side of the chip: word accesses (the host decoder's) and sample
    runs (the sequencer's)."""

    def __init__(self):
        super().__init__({"access": Out(AccessSignature()), "run": Out(RunSignature())})
