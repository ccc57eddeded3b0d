"""The neuron core's spike-stack pointer (rtl/core.py): an address that steps forward on
a push and back on a pop without an adder, since a stack's entries need only distinct
addresses, not ordered ones."""
from amaranth.hdl import Cat, Signal
from amaranth.utils import bits_for

__all__ = ["StackPointer"]


class StackPointer:
    """A Fibonacci LFSR of period at least ``period`` (``2**k - 1`` states, all but 0):
    ``state`` (starts at ``empty_state`` = 1), ``forth`` and ``back`` (the next and the
    previous state, combinational: a shift and one XOR each); ``depth`` (``2**k``) is the
    memory it addresses."""

    TAPS = {2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6),
            8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1),
            13: (13, 4, 3, 1), 14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4)}

    def __init__(self, period: int):
        k = max(2, bits_for(period))            # 2**k - 1 >= period
        taps = self.TAPS[k]
        self.depth = 1 << k
        self.empty_state = 1
        self.state = s = Signal(k, init=1)
        self.empty = s == 1
        self.forth = Cat(Cat(*(s[t - 1] for t in taps)).xor(), s[:-1])
        self.back = Cat(s[1:], Cat(s[0], *(s[t] for t in taps[1:])).xor())
