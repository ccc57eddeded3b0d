"""Integer primitives shared by the golden model: saturation, the feedback hash, the LFSR.

Each has a cheap hardware form (adds, shifts, xors, compares); docs/architecture.md gives
the same definitions as the contract the RTL meets.
"""
from __future__ import annotations

import functools

import numpy as np

MASK32 = 0xFFFF_FFFF
LFSR_TAPS = 0xB400         # Galois form of x^16 + x^14 + x^13 + x^11 + 1 (maximal)
LFSR_PERIOD = 0xFFFF


def sat_signed(x, bits: int):
    """Clamp to a ``bits``-wide two's complement range. (``np.minimum(np.maximum())``
    rather than ``np.clip``: the same values and dtype, without ``np.clip``'s per-call
    limit checks, which cost more than the clamp on the model's small arrays.)"""
    return np.minimum(np.maximum(x, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)


def sat_unsigned(x, bits: int):
    """Clamp to ``0 .. 2**bits - 1``."""
    return np.minimum(np.maximum(x, 0), (1 << bits) - 1)


def oat32(seed, *key_bytes):
    """Jenkins one-at-a-time hash of the key bytes, started from ``seed``; 32-bit,
    add-shift-xor only (no multiplier). Vectorised over numpy arrays; each key byte is
    taken modulo 256."""
    h = np.asarray(seed, dtype=np.uint64) & MASK32
    for byte in key_bytes:
        h = (h + (np.asarray(byte, dtype=np.uint64) & np.uint64(0xFF))) & MASK32
        h = (h + (h << np.uint64(10))) & MASK32
        h ^= h >> np.uint64(6)
    h = (h + (h << np.uint64(3))) & MASK32
    h ^= h >> np.uint64(11)
    h = (h + (h << np.uint64(15))) & MASK32
    return h


FEEDBACK_KEY = 0xFEED_0000


def feedback_signs(seed: int, n_post: int, n_classes: int, offset: int = 0) -> np.ndarray:
    """Fixed random broadcast-alignment feedback B[j, k] in {-1, +1}: bit 31 of
    oat32(seed ^ FEEDBACK_KEY, k, j & 255, j >> 8). Never stored on chip: recomputed
    from (seed, j, k). (Class byte first: with it last, neighbouring classes' signs
    correlated at 0.37 over 512 neurons.)"""
    j = np.arange(offset, offset + n_post, dtype=np.uint64)[:, None]
    k = np.arange(n_classes, dtype=np.uint64)[None, :]
    h = oat32((seed ^ FEEDBACK_KEY) & MASK32, k, j, j >> np.uint64(8))
    return np.where((h >> np.uint64(31)) & np.uint64(1), 1, -1).astype(np.int64)


def lfsr_step(state: int) -> int:
    """One step of the 16-bit Galois LFSR (shift right, xor taps when bit 0 was set)."""
    return (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)


@functools.lru_cache(maxsize=None)
def _lfsr_cycle() -> tuple[np.ndarray, np.ndarray]:
    """All 65535 states in order from state 1, and each state's position in that order."""
    seq = np.empty(LFSR_PERIOD, dtype=np.int64)
    s = 1
    for i in range(LFSR_PERIOD):
        seq[i] = s
        s = lfsr_step(s)
    assert s == 1, "LFSR taps are not maximal"
    pos = np.zeros(1 << 16, dtype=np.int64)
    pos[seq] = np.arange(LFSR_PERIOD)
    seq.setflags(write=False)
    pos.setflags(write=False)
    return seq, pos


LFSR_KEY = 0x5EED_0000


def lfsr_seed(seed: int, bank: int) -> int:
    """Non-zero initial state of weight bank ``bank``'s LFSR."""
    s = int(oat32((seed ^ LFSR_KEY) & MASK32, bank, bank >> 8)) & 0xFFFF
    return s if s else 1


class Lfsr:
    """A bank's LFSR, addressed by position so that a whole sweep is one vector look-up.
    ``draw(n)`` returns the next ``n`` states: the states after 1, 2, ..., n steps."""

    def __init__(self, state: int):
        if not 0 < state < (1 << 16):
            raise ValueError(f"LFSR state must be 1..65535, not {state}")
        seq, pos = _lfsr_cycle()
        self._seq = seq
        self.pos = int(pos[state])

    @property
    def state(self) -> int:
        return int(self._seq[self.pos])

    def draw(self, n: int) -> np.ndarray:
        idx = (self.pos + 1 + np.arange(n)) % LFSR_PERIOD
        self.pos = (self.pos + n) % LFSR_PERIOD
        return self._seq[idx]
