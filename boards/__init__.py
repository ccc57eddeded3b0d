"""Board registry: the names ``--board`` accepts, each an amaranth-boards platform
subclass plus the device limits the build checks a design against before synthesis.

``BOARDS`` maps a name to a :class:`Board`; :func:`get_board` raises
:class:`UnknownBoard` (a ``ValueError``: the CLI turns it into exit status 2) with the
list of known names.

The platform classes subclass amaranth-boards' own (pins are not copied); they only add
what SWIRL needs that the upstream class lacks (a UART on the UPduino v3's header).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.build import Attrs, Pins, Resource, Subsignal
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from amaranth_boards.upduino_v3 import UpduinoV3Platform

__all__ = ["BOARDS", "Board", "Limits", "UnknownBoard", "get_board", "SwirlICEBreaker",
           "SwirlUpduinoV3", "SwirlULX3S"]


class UnknownBoard(ValueError):
    """A board name that is not in :data:`BOARDS`."""


@dataclass(frozen=True)
class Limits:
    """Device resources, as nextpnr counts them (ICESTORM_LC / TRELLIS_COMB, ...)."""
    luts: int
    ffs: int
    ebr: int                 # iCE40 SB_RAM40_4K (4 kbit) / ECP5 DP16KD (18 kbit)
    ebr_bits: int            # bits per EBR block
    spram: int               # iCE40 UP SB_SPRAM256KA (256 kbit); 0 elsewhere
    dsp: int                 # iCE40 SB_MAC16 / ECP5 MULT18X18D

    def as_dict(self) -> dict:
        return {"luts": self.luts, "ffs": self.ffs, "ebr": self.ebr, "spram": self.spram,
                "dsp": self.dsp}


# ---- platforms --------------------------------------------------------------------------
class SwirlICEBreaker(ICEBreakerPlatform):
    """iCEBreaker (iCE40 UP5K, 12 MHz oscillator on pin 35, FTDI UART on pins 6/9)."""


class SwirlUpduinoV3(UpduinoV3Platform):
    """UPduino v3 (iCE40 UP5K). The board's FTDI chip only reaches the SPI flash, so the
    host UART is on header J1: FPGA pin 4 (tx, to the adapter's RX) and pin 3 (rx),
    for a 3.3 V USB-serial adapter. The clock comes from the internal 48 MHz SB_HFOSC
    (rtl/clock.py), not from the 12 MHz oscillator, which needs a solder jumper."""
    resources = UpduinoV3Platform.resources + [
        Resource("uart", 0,
                 Subsignal("rx", Pins("3", dir="i")),
                 Subsignal("tx", Pins("4", dir="o")),
                 Attrs(IO_STANDARD="SB_LVCMOS")),
    ]


class SwirlULX3S(ULX3S_85F_Platform):
    """ULX3S with an ECP5 LFE5U-85F (25 MHz oscillator, FTDI UART). The upstream
    ``uart`` resource also carries the FTDI's RTS and DTR lines (pins M3, N1); SWIRL
    only uses rx (M1) and tx (L4), so the resource is replaced by one with just those
    two (requesting a subset of a resource's subsignals is deprecated in Amaranth 0.5
    and would leave input buffers on the other two)."""
    resources = [r for r in ULX3S_85F_Platform.resources
                 if (r.name, r.number) != ("uart", 0)] + [
        Resource("uart", 0,
                 Subsignal("rx", Pins("M1", dir="i")),
                 Subsignal("tx", Pins("L4", dir="o")),
                 Attrs(IO_TYPE="LVCMOS33")),
    ]


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    platform: type
    limits: Limits
    clock_hz: float          # default clock the design runs at (``build --clock``)
    oscillator_hz: float     # the reference rtl/clock.py's PLL starts from
    toolchain: str           # "icestorm" (yosys, nextpnr-ice40, icepack) or "trellis"
    spram_weights: bool      # weights in SB_SPRAM256KA (iCE40 UP) or generic block RAM
    clock_source: str = "pin"   # "pin" (the platform's default_clk) or "hfosc"
    learning: bool = True    # the on-chip learning unit is built by default (rtl/learn.py)

    def __str__(self) -> str:
        return self.description

    @property
    def family(self) -> str:
        return "ice40" if self.toolchain == "icestorm" else "ecp5"

    def clock(self, clock_hz: float | None = None):
        """The :class:`rtl.clock.ClockPlan` for ``clock_hz`` (default: ``clock_hz``)."""
        from rtl.clock import plan_clock
        return plan_clock(self.clock_source, self.oscillator_hz,
                          self.clock_hz if clock_hz is None else clock_hz, self.family,
                          pin=self.platform.default_clk)


# Every board builds the learning chip by default. On the UP5K it fits because the four
# cores of the layer time-share one physical core (gen/build.py share_for; docs/build.md);
# `build --learning off` builds the inference chip with a core each (4x the weight
# bandwidth). UP5K: 5280 logic cells (LUT4 + FF each), 30 EBR, 4 SPRAM, 8 DSP (iCE40 UltraPlus
# family data sheet, FPGA-DS-02008). ECP5-85F: 83,640 LUTs, 208 EBR (18 kbit), 156
# 18x18 multipliers (ECP5 family data sheet, FPGA-DS-02012).
_UP5K = Limits(luts=5280, ffs=5280, ebr=30, ebr_bits=4096, spram=4, dsp=8)
_ECP5_85 = Limits(luts=83640, ffs=83640, ebr=208, ebr_bits=18432, spram=0, dsp=156)

# The default clocks are what the default design meets with margin (docs/build.md,
# "Clocks"): the PLL makes exactly these from each board's oscillator.
BOARDS: dict[str, Board] = {
    "ice40": Board("ice40", "iCEBreaker (iCE40 UP5K)", SwirlICEBreaker, _UP5K,
                   clock_hz=30e6, oscillator_hz=12e6, toolchain="icestorm",
                   spram_weights=True),
    "upduino": Board("upduino", "UPduino v3 (iCE40 UP5K)", SwirlUpduinoV3, _UP5K,
                     clock_hz=24e6, oscillator_hz=48e6, clock_source="hfosc",
                     toolchain="icestorm", spram_weights=True),
    "ulx3s": Board("ulx3s", "ULX3S (ECP5 LFE5U-85F)", SwirlULX3S, _ECP5_85,
                   clock_hz=50e6, oscillator_hz=25e6, toolchain="trellis",
                   spram_weights=False),
}


def known_boards() -> str:
    return ", ".join(f"{k} ({v.description})" for k, v in sorted(BOARDS.items()))


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise UnknownBoard(f"unknown board {name!r}; known boards: {known_boards()}") \
            from None
