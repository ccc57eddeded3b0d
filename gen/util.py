"""Integer helpers that every layer uses (config, topology, RTL, build plan, driver), and
the reading of the project's TOML files.

One home each: the build plan, the RTL and the host driver must agree on the number of
words in a row and the width of an index, so they compute it here.
"""
from __future__ import annotations

import pathlib
import tomllib

__all__ = ["ceil_div", "index_width", "read_named_toml"]


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, ``b > 0`` (words of ``b`` lanes holding ``a``
    values, blocks of ``b`` entries holding ``a``)."""
    return -(-a // b)


def index_width(n: int) -> int:
    """Bits of an index into ``n`` things (0 .. n-1), at least 1: ``ceil(log2 n)``."""
    return max(1, (n - 1).bit_length())


def read_named_toml(path, shipped: dict, what: str, error,
                    listing: str = "shipped") -> tuple[dict, pathlib.Path]:
    """A TOML file's table and its path: ``path``, or the shipped file of that name in
    ``shipped`` (``{name: path}``; a file of that name wins). ``what`` names the kind in
    the messages (``"config file"``); ``error`` is the exception class raised, with one
    line saying what is wrong (no such file, listing the shipped names; bad TOML)."""
    path = pathlib.Path(path)
    if not path.exists() and str(path) in shipped:
        path = shipped[str(path)]
    if not path.exists():
        raise error(f"{what} {str(path)!r} does not exist ({listing}: "
                    f"{', '.join(shipped) or 'none'})")
    try:
        return tomllib.loads(path.read_text()), path
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML: {e}") from None
