"""The board clock: the ``sync`` domain from the board's oscillator through a PLL, so a
board runs at the clock its design meets rather than at whatever its oscillator gives.

:func:`plan_clock` picks the PLL's dividers for a target frequency (the fastest the PLL
makes at or below it: the build checks that frequency against nextpnr's Fmax), and
:class:`ClockGen` builds the domain from the plan:

- iCE40 with the oscillator on the PLL's pad (iCEBreaker, pin 35): ``SB_PLL40_PAD``;
- iCE40 UP from the internal 48 MHz ``SB_HFOSC`` (UPduino v3): ``SB_PLL40_CORE``;
- ECP5 (ULX3S, 25 MHz): ``EHXPLLL`` with CLKOP as its own feedback.

A target equal to the oscillator (or, from the HFOSC, to one of its dividers 48/24/12/6
MHz) needs no PLL and gets none. The domain is held in reset until the PLL locks and
then for 15 us more: iCE40 block RAMs read as zeros for ~3 us after configuration (the
reason and the margin are Amaranth's, amaranth/vendor/_siliconblue.py).

The PLL limits are the data sheets' (iCE40: FPGA-TN-02052 sysCLOCK PLL; ECP5:
FPGA-TN-02200), the same ones icepll and ecppll use; tests/test_clock.py checks the
choices against those two tools.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from amaranth import ClockDomain, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["ClockPlan", "ClockGen", "ClockError", "plan_clock", "ice40_pll", "ecp5_pll",
           "ICE40_PLL", "ECP5_PLL", "HFOSC_HZ"]

MHZ = 1e6
HFOSC_HZ = 48e6          # SB_HFOSC, divided by 1, 2, 4 or 8 (CLKHF_DIV 0..3)
POR_SECONDS = 15e-6      # reset held after lock (iCE40 BRAMs read zero for ~3 us)


class ClockError(ValueError):
    """A clock no PLL on the board makes (the message names the limits)."""


@dataclass(frozen=True)
class PllLimits:
    """Frequency ranges (Hz) of one PLL family (its divider ranges are in the solver)."""
    f_in: tuple
    f_pfd: tuple
    f_vco: tuple
    f_out: tuple


# iCE40 SB_PLL40 (simple feedback): f_pfd = f_in / (DIVR+1), f_vco = f_pfd * (DIVF+1),
# f_out = f_vco / 2**DIVQ; DIVR 0..15, DIVF 0..127, DIVQ 1..6.
ICE40_PLL = PllLimits(f_in=(10 * MHZ, 133 * MHZ), f_pfd=(10 * MHZ, 133 * MHZ),
                      f_vco=(533 * MHZ, 1066 * MHZ), f_out=(16 * MHZ, 275 * MHZ))
# ECP5 EHXPLLL, CLKOP fed back: f_out = f_in * CLKFB_DIV / CLKI_DIV,
# f_vco = f_out * CLKOP_DIV; CLKI_DIV 1..128, CLKFB_DIV 1..80, CLKOP_DIV 1..128.
ECP5_PLL = PllLimits(f_in=(8 * MHZ, 400 * MHZ), f_pfd=(3.125 * MHZ, 400 * MHZ),
                     f_vco=(400 * MHZ, 800 * MHZ), f_out=(10 * MHZ, 400 * MHZ))


def _inside(f, lo_hi, slack=1e-6):
    return lo_hi[0] * (1 - slack) <= f <= lo_hi[1] * (1 + slack)


def _check_target(limits: PllLimits, f_in: float, target: float, what: str):
    if not _inside(f_in, limits.f_in):
        raise ClockError(f"{what}: reference {f_in / MHZ:g} MHz is outside the PLL's input "
                         f"range {limits.f_in[0] / MHZ:g}..{limits.f_in[1] / MHZ:g} MHz")
    if not _inside(target, limits.f_out):
        raise ClockError(f"{what}: --clock {target / MHZ:g} MHz is outside the PLL's output "
                         f"range {limits.f_out[0] / MHZ:g}..{limits.f_out[1] / MHZ:g} MHz")


def ice40_filter_range(f_pfd: float) -> int:
    """The loop filter setting for a phase-detector frequency (the data sheet's table)."""
    for bound, setting in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if f_pfd < bound * MHZ:
            return setting
    return 6


def ice40_pll(f_in: float, target: float) -> dict:
    """The iCE40 PLL dividers whose output is the fastest at or below ``target``:
    ``{"DIVR", "DIVF", "DIVQ", "FILTER_RANGE", "f_out", "f_vco", "f_pfd"}``."""
    _check_target(ICE40_PLL, f_in, target, "iCE40 PLL")
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not _inside(f_pfd, ICE40_PLL.f_pfd):
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not _inside(f_vco, ICE40_PLL.f_vco):
                continue
            for divq in range(1, 7):
                f_out = f_vco / 2 ** divq
                if f_out <= target * (1 + 1e-9) and _inside(f_out, ICE40_PLL.f_out) and \
                        (best is None or f_out > best["f_out"] + 1e-3):
                    best = {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                            "FILTER_RANGE": ice40_filter_range(f_pfd),
                            "f_out": f_out, "f_vco": f_vco, "f_pfd": f_pfd}
    if best is None:
        raise ClockError(f"iCE40 PLL: no divider setting makes {target / MHZ:g} MHz or less "
                         f"from {f_in / MHZ:g} MHz")
    return best


def ecp5_pll(f_in: float, target: float) -> dict:
    """The ECP5 EHXPLLL dividers (CLKOP fed back) whose output is the fastest at or below
    ``target``: ``{"CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "f_out", "f_vco", "f_pfd"}``."""
    _check_target(ECP5_PLL, f_in, target, "ECP5 PLL")
    best = None
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not _inside(f_pfd, ECP5_PLL.f_pfd):
            continue
        for clkfb in range(1, 81):
            f_out = f_pfd * clkfb
            if f_out > target * (1 + 1e-9) or not _inside(f_out, ECP5_PLL.f_out):
                continue
            if best is not None and f_out <= best["f_out"] + 1e-3:
                continue
            # the VCO nearest the middle of its range (the PLL's best jitter)
            ops = [d for d in range(1, 129) if _inside(f_out * d, ECP5_PLL.f_vco)]
            if ops:
                mid = sum(ECP5_PLL.f_vco) / 2
                op = min(ops, key=lambda d: abs(f_out * d - mid))
                best = {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": op,
                        "f_out": f_out, "f_vco": f_out * op, "f_pfd": f_pfd}
    if best is None:
        raise ClockError(f"ECP5 PLL: no divider setting makes {target / MHZ:g} MHz or less "
                         f"from {f_in / MHZ:g} MHz")
    return best


@dataclass(frozen=True)
class ClockPlan:
    """How the board's ``sync`` clock is made: ``source`` is ``"pin"`` (a resource named
    ``pin``) or ``"hfosc"``; ``pll`` the family (``"ice40"``, ``"ecp5"``) or ``None`` for
    the source directly, with ``hfosc_div`` then the HFOSC's divider exponent."""
    source: str
    f_ref: float                 # the oscillator's frequency
    f_out: float                 # the clock the design runs at
    pll: str | None = None
    params: dict = field(default_factory=dict)
    pin: str = "clk12"
    hfosc_div: int = 0

    @property
    def mhz(self) -> float:
        return self.f_out / MHZ

    def describe(self) -> str:
        ref = (f"SB_HFOSC {self.f_ref / MHZ:g} MHz" if self.source == "hfosc"
               else f"{self.f_ref / MHZ:g} MHz oscillator")
        if self.pll is None:
            div = f" / {2 ** self.hfosc_div}" if self.source == "hfosc" and self.hfosc_div \
                else ""
            return f"{self.f_out / MHZ:.3f} MHz: the {ref}{div} (no PLL)"
        dividers = ", ".join(f"{k} {v}" for k, v in self.params.items()
                             if not k.startswith("f_"))
        return (f"{self.f_out / MHZ:.3f} MHz: the {ref} through the {self.pll} PLL "
                f"({dividers}; VCO {self.params['f_vco'] / MHZ:.0f} MHz)")

    def as_dict(self) -> dict:
        return {"source": self.source, "reference_hz": self.f_ref, "clock_hz": self.f_out,
                "pll": self.pll, "params": self.params, "description": self.describe()}


def plan_clock(source: str, f_ref: float, target: float, family: str,
               pin: str = "clk12") -> ClockPlan:
    """The clock plan for ``target`` Hz from a board's oscillator (see the module doc)."""
    direct = [HFOSC_HZ / 2 ** d for d in range(4)] if source == "hfosc" else [f_ref]
    for div, f in enumerate(direct):
        if abs(f - target) < 1:
            return ClockPlan(source, f_ref if source == "pin" else HFOSC_HZ, f, pin=pin,
                             hfosc_div=div)
    try:
        p = (ice40_pll if family == "ice40" else ecp5_pll)(
            HFOSC_HZ if source == "hfosc" else f_ref, target)
    except ClockError as e:
        raise ClockError(f"{e} (or exactly " + " / ".join(f"{f / MHZ:g}" for f in direct)
                         + " MHz without the PLL)") from None
    return ClockPlan(source, HFOSC_HZ if source == "hfosc" else f_ref, p["f_out"], family,
                     p, pin=pin)


class ClockGen(wiring.Component):
    """Drives the ``sync`` domain's clock and reset from a :class:`ClockPlan`; the parent
    defines the domain (a domain defined below its users is deprecated in Amaranth)."""

    def __init__(self, plan: ClockPlan):
        self.plan = plan
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        p = self.plan
        clk = Signal(name="board_clk")
        lock = Signal(name="pll_lock", init=1)
        if p.source == "hfosc":
            osc = Signal()
            div = p.hfosc_div if p.pll is None else 0
            m.submodules.hfosc = Instance("SB_HFOSC", i_CLKHFEN=1, i_CLKHFPU=1,
                                          p_CLKHF_DIV=f"0b{div:02b}", o_CLKHF=osc)
            if p.pll is None:
                m.d.comb += clk.eq(osc)
            else:
                m.submodules.pll = Instance("SB_PLL40_CORE", i_REFERENCECLK=osc,
                                            **self._ice40_ports(clk, lock))
        else:
            pin = platform.request(p.pin, dir="-")
            if p.pll == "ice40":
                # the oscillator's pad feeds the PLL directly (no SB_IO in between)
                m.submodules.pll = Instance("SB_PLL40_PAD", i_PACKAGEPIN=pin.io,
                                            **self._ice40_ports(clk, lock))
            else:
                m.submodules.clk_buf = buf = io.Buffer("i", pin)
                if p.pll is None:
                    m.d.comb += clk.eq(buf.i)
                else:
                    m.submodules.pll = self._ecp5_pll(buf.i, clk, lock)
        # no constraint of its own on ``clk``: nextpnr derives the PLL output's from the
        # oscillator pin's (the platform's Clock) and the dividers, and the net's name
        # does not survive synthesis anyway

        # power-on reset: counts in the new clock once the PLL has locked
        delay = max(1, int(POR_SECONDS * p.f_out))
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        timer, ready = Signal(range(delay + 1)), Signal()
        m.d.comb += ClockSignal("por").eq(clk)
        with m.If(timer == delay):
            m.d.por += ready.eq(lock)
        with m.Else():
            m.d.por += timer.eq(timer + lock)
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.reset_sync = ResetSynchronizer(~ready | ~lock, domain="sync")
        return m

    def _ice40_ports(self, clk, lock) -> dict:
        q = self.plan.params
        return dict(p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                    p_DIVR=Const(q["DIVR"], 4), p_DIVF=Const(q["DIVF"], 7),
                    p_DIVQ=Const(q["DIVQ"], 3), p_FILTER_RANGE=Const(q["FILTER_RANGE"], 3),
                    i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk, o_LOCK=lock)

    def _ecp5_pll(self, clk_in, clk, lock) -> Instance:
        q = self.plan.params
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.plan.f_ref / MHZ:g}",
            a_FREQUENCY_PIN_CLKOP=f"{self.plan.f_out / MHZ:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=q["CLKI_DIV"], p_CLKFB_DIV=q["CLKFB_DIV"],
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=q["CLKOP_DIV"],
            p_CLKOP_CPHASE=q["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=clk_in, i_CLKFB=clk, i_PHASESEL0=0, i_PHASESEL1=0,
            i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk, o_LOCK=lock)
