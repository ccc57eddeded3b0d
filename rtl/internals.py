"""The two places SWIRL reaches into Amaranth below its public API, behind one helper
each, so an Amaranth release that changes them breaks here, in tests/test_internals.py,
and nowhere else.

* :func:`undefined_init`: a register with no initial value (RTLIL ``x``), which yosys
  can merge into a block RAM's synchronous read port (rtl/crossbar.py ``read_port``).
  Amaranth 0.5 gives every ``Signal`` an ``init``; the RTLIL backend's ``Undef`` as the
  ``init`` attribute overrides it.
* :func:`never_elaborated`: an elaboratable built only to be measured (the build plan
  asks components for their memory shapes) or abandoned by a constructor that refuses
  its arguments would otherwise warn ``UnusedElaboratable`` when garbage collected.
  Amaranth's public switch (``# amaranth: UnusedElaboratable=no``) applies per source
  file of the constructor call, which would silence the warning for the chip too.
"""
from __future__ import annotations

from amaranth.back.rtlil import Undef
from amaranth.hdl import Elaboratable

__all__ = ["undefined_init", "never_elaborated"]


def undefined_init(width: int) -> dict:
    """``attrs`` for a ``Signal`` of ``width`` bits whose initial value is undefined."""
    return {"init": Undef(width)}


def never_elaborated(*objs) -> None:
    """Mark ``objs`` and every elaboratable they hold (attributes, lists, dicts, at any
    depth) as deliberately never elaborated: no ``UnusedElaboratable`` warning."""
    seen = set()

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            for x in obj.values():
                walk(x)
        elif isinstance(obj, Elaboratable):
            obj._MustUse__silence = True
            for x in vars(obj).values():
                walk(x)

    for obj in objs:
        walk(obj)
