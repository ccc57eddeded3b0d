"""rtl/internals.py: the two Amaranth internals SWIRL relies on still work the way the
helpers assume. When an Amaranth release changes them, these fail (not the chip)."""
import gc
import warnings

from amaranth.back import rtlil
from amaranth.hdl import Fragment, Module, Signal

from rtl.internals import never_elaborated, undefined_init




def _unused_warnings(make) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
        gc.collect()
    return [w for w in caught if "created but never used" in str(w.message)]


def test_an_unused_elaboratable_still_warns_and_never_elaborated_silences_it():
    Fragment.get(Module(), None)        # Amaranth arms the warning at the first elaboration
    assert len(_unused_warnings(lambda: Module())) == 1     # the mechanism is still there

    def measured():
        outer = Module()
        outer.inner = [Module(), {"deep": Module()}]         # held, at any depth
        never_elaborated(outer)

    assert _unused_warnings(measured) == []


def test_undefined_init_is_an_x_initial_value_in_rtlil():
    m = Module()
    reg = Signal(4, attrs=undefined_init(4))
    d = Signal(4)
    m.d.sync += reg.eq(d)
    text = rtlil.convert(m, ports=[reg, d])
    assert "attribute \\init 4'xxxx" in text
