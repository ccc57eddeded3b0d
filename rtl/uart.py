"""8N1 UART receiver and transmitter, ``divisor`` clock cycles per bit.

``UartRx``: ``rx`` (the line, idle high) in, ``o`` a stream of bytes out. A byte is
offered until taken; a byte that completes while the previous one is still offered is
dropped and counted in ``overrun``. In the chip no byte waits, so none is lost that way:
the host link takes every byte the cycle it comes, and drops those it has no use for
(rtl/host.py). Line errors: the start bit is checked at mid-bit, so a low glitch shorter
than half a bit is no byte; a stop bit that is low counts in ``framing`` and drops the
byte, and the receiver then looks for a start bit at once, so a break (the line held low)
is a train of such dropped bytes, and its end may leave one byte of low bits 0 and high
bits 1 (0x00, 0x80, 0xC0, ..., 0xFF: never the sync byte 0xA5).

``UartTx``: ``i`` a stream of bytes in, ``tx`` (idle high) out.

The line is resynchronised through two flip-flops. Bit timing: the receiver samples mid
bit, then every ``divisor`` cycles; baud rate = clock / divisor (12 MHz / 104 = 115,384
baud, 0.16 % off 115,200). The start edge reaches the state machine 2 or 3 cycles after it
is on the pin (the synchroniser, then the cycle that sees it), so the wait to mid-bit is
``divisor // 2 - 1`` cycles from there, which samples each bit ``divisor // 2`` to
``divisor // 2 + 1`` cycles after its edge on the pin. (A wait of ``divisor // 2`` sampled 1 to 2 cycles past it: at the
simulated divisor of 4, the last quarter of each bit, and a host 2 % fast lost its stop
bits; sim/fuzz.py's baud-offset cases found it.)
"""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "divisor_for"]


def divisor_for(clock_hz: float, baud: int) -> int:
    """Cycles per bit for ``baud`` at ``clock_hz``; refuses an error above 2 %."""
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ValueError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock "
                         f"(divisor {divisor} < 4)")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"baud {baud} at {clock_hz / 1e6:g} MHz is {100 * error:.1f} % off "
                         f"(limit 2 %)")
    return divisor


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise TypeError(f"divisor must be an integer >= 4, not {divisor!r}")


class UartRx(wiring.Component):
    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "overrun": Out(1), "framing": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(d + 1))
        bit = Signal(range(10))
        shreg = Signal(8)
        m.d.comb += [self.overrun.eq(0), self.framing.eq(0)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # mid-bit on the pin: the synchroniser's and this cycle's lag off
                    m.d.sync += [timer.eq(d // 2 - 1), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 0):
                        with m.If(rx):          # a glitch, not a start bit
                            m.next = "IDLE"
                    with m.Elif(bit < 9):
                        m.d.sync += shreg.eq(Cat(shreg[1:], rx))
                    with m.Else():
                        with m.If(~rx):
                            m.d.comb += self.framing.eq(1)
                        with m.Elif(self.o.valid & ~self.o.ready):
                            m.d.comb += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        m.d.comb += [self.tx.eq(shreg[0]), self.i.ready.eq(bits == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i.payload, 1)), bits.eq(10), timer.eq(d - 1)]
        with m.Elif(bits != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [timer.eq(d - 1), bits.eq(bits - 1),
                             shreg.eq(Cat(shreg[1:], 1))]
        return m
