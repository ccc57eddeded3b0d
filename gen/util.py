"""Integer helpers that every layer uses (config, topology, RTL, build plan, driver).

One home each: the build plan, the RTL and the host driver must agree on the number of
words in a row and the width of an index, so they compute it here.
"""
from __future__ import annotations

__all__ = ["ceil_div", "index_width"]


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, ``b > 0`` (words of ``b`` lanes holding ``a``
    values, blocks of ``b`` entries holding ``a``)."""
    return -(-a // b)


def index_width(n: int) -> int:
    """Bits of an index into ``n`` things (0 .. n-1), at least 1: ``ceil(log2 n)``."""
    return max(1, (n - 1).bit_length())
