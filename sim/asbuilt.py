"""The chip as ``python -m gen build`` makes it, under Verilator (issue 13 items 1 and 2):

* ``kind="rtl"``, *as built*: the board top that ``build`` elaborates (gen/build.py
  :func:`~gen.build.board_design`: the PLL from the board's oscillator and the power-on
  reset, the I/O buffers on the UART's pins, the UART divisor for the board's clock, the
  board's memory primitives, e.g. ``SB_SPRAM256KA`` on the UP5K), converted to Verilog by
  yosys from the ``swirl.il`` the build writes;
* ``kind="netlist"``: yosys' synthesised netlist, the build's own script (``swirl.ys``:
  ``synth_ice40 -dsp`` or ``synth_ecp5``) ending in ``write_verilog`` instead of
  ``write_json``: LUTs, carries, flip-flops, block RAMs, DSPs as nextpnr receives them.

Either is simulated with the cells' models of sim/cells.py (yosys' own; the PLL's and the
ECP5 multiplier's our behaviour) inside a wrapper ``top(clk, rst, rx, tx)`` that puts the
simulation's clock on the oscillator pin and the testbench's UART on the board's: the
chips' testbenches (sim/tb_pty.py, ``python -m gen run --port``) drive it as they drive
the chip alone. ``rst`` is not connected: a board has no reset pin; the chip leaves reset
once the PLL has locked and the power-on timer has run (:attr:`AsBuilt.settle_cycles`).

The yosys step (a minute for a small chip, several for the default) is cached in
``sim_build/`` by the RTLIL text and the script, as the Verilator build is.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import tempfile
from dataclasses import dataclass

from . import harness
from .cells import LOCK_CYCLES, library

__all__ = ["KINDS", "AsBuilt", "board_verilog", "asbuilt_build"]

KINDS = ("rtl", "netlist")
_FAMILY = {"icestorm": "ice40", "trellis": "ecp5"}


@dataclass(frozen=True)
class AsBuilt:
    """A Verilator build of a board's chip, and what a testbench needs to drive it."""
    build: harness.Build
    board: str
    kind: str
    divisor: int             # UART clocks a bit: the board's (its clock and the baud)
    settle_cycles: int       # clocks from power-on until the chip hears the host
    clock_hz: float          # the clock the board runs (the simulation's clock stands for it)
    lanes: int
    share: int
    learning: bool
    cells: dict              # cell type -> instances in the simulated design


def _script(kind: str, ys: str) -> str:
    if kind == "rtl":
        # Amaranth's own Verilog conversion (amaranth.back.verilog): processes to
        # Verilog, memories whole
        return ("read_rtlil swirl.il\nproc -nomux -norom\nmemory_collect\n"
                "write_verilog -noattr -norename design.v\n")
    lines = [ln for ln in ys.splitlines() if not ln.startswith("#")]
    if not lines or not lines[-1].startswith("write_json"):
        raise RuntimeError(f"unexpected yosys script from the build:\n{ys}")
    return "\n".join(lines[:-1] + ["write_verilog -noattr design.v"]) + "\n"


def board_verilog(config, board, *, kind: str = "rtl", learning: bool | None = None,
                  baud: int = 115200, clock_hz: float | None = None, log=print):
    """The Verilog of ``board``'s chip for ``config`` (``kind`` :data:`KINDS`), its cell
    models and the wrapper: ``(sources, facts)``, ``sources`` for
    :func:`sim.harness.build_verilog`."""
    from gen.build import board_design, find_tools, prepare_design
    from rtl.clock import POR_SECONDS
    from rtl.uart import divisor_for
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    top, plan, clock, topo, _ = board_design(config, board, baud=baud, learning=learning,
                                            clock_hz=clock_hz)
    if clock.source == "hfosc":
        raise ValueError(f"{board.name}: its clock comes from the internal SB_HFOSC, "
                         f"which has no simulation model; the iCEBreaker (--board ice40) "
                         f"builds the same UP5K chip from a pin")
    with tempfile.TemporaryDirectory(prefix="swirl-asbuilt-") as tmp:
        out = pathlib.Path(tmp)
        prepare_design(top, board, out)
        il = (out / "swirl.il").read_text()
        script = _script(kind, (out / "swirl.ys").read_text())
        yosys = find_tools(board.toolchain)["YOSYS"]
        key = hashlib.sha256(json.dumps([il, script, yosys]).encode()).hexdigest()[:12]
        cached = harness.SIM_BUILD / f"asbuilt-{board.name}-{kind}-{key}.v"
        if cached.exists():
            design = cached.read_text()
        else:
            log(f"yosys: the {board.name} chip's {'netlist' if kind == 'netlist' else 'RTL'}"
                f" (cached in {harness.SIM_BUILD.name}/; a minute or more)")
            (out / "asbuilt.ys").write_text(script)
            r = subprocess.run([yosys, "-q", "-l", "asbuilt.log", "asbuilt.ys"], cwd=out,
                               capture_output=True, text=True)
            if r.returncode != 0:
                tail = "\n".join((out / "asbuilt.log").read_text().splitlines()[-15:])
                raise RuntimeError(f"yosys ({kind}) failed with status {r.returncode}:\n"
                                   f"{tail}")
            design = (out / "design.v").read_text()
            harness.SIM_BUILD.mkdir(exist_ok=True)
            cached.write_text(design)
    ports = re.search(r"^module swirl\s*\((.*?)\);", design, re.S | re.M)
    if ports is None:
        raise RuntimeError("no module swirl in yosys' Verilog")
    names = [p.strip().lstrip("\\") for p in ports.group(1).split(",")]
    pins = {"clk": f"{clock.pin}_0__io", "rx": "uart_0__rx__io", "tx": "uart_0__tx__io"}
    missing = sorted(set(pins.values()) - set(names))
    if missing:
        raise RuntimeError(f"the board top has no port {', '.join(missing)} "
                           f"(it has {', '.join(names)})")
    defined = set(re.findall(r"^module\s+\\?(\S+?)\s*[(#;]", design, re.M))
    lib = library(_FAMILY[board.toolchain])
    models = lib.models_for(design, defined)
    cells = {name: len(re.findall(rf"^\s+\\?{re.escape(name)}\s", design, re.M))
             for name in sorted(lib.used_by(design) - defined)}
    # the other pins the board's resources bring (the ULX3S UART's RTS and DTR) stay open
    wrapper = ("// the board around the chip: the oscillator and the UART's pins\n"
               "module top(input clk, input rst, input rx, output tx);\n"
               "  wire rx_pin = rx, tx_pin;    // the pins are the I/O cells' inouts\n"
               "  assign tx = tx_pin;\n"
               f"  swirl board(.{pins['clk']}(clk), .{pins['rx']}(rx_pin), "
               f".{pins['tx']}(tx_pin));\n"
               "endmodule\n")
    settle = LOCK_CYCLES + int(POR_SECONDS * clock.f_out) + 1 + 16     # + sync, margin
    facts = {"divisor": divisor_for(clock.f_out, baud), "settle_cycles": settle,
             "clock_hz": clock.f_out, "lanes": plan["lanes"], "share": plan["share"],
             "learning": plan["learning"], "cells": cells}
    sources = {"top.v": wrapper, "swirl.v": design, "cells.v": models}
    return sources, facts


def asbuilt_build(config, board, *, kind: str = "rtl", learning: bool | None = None,
                  baud: int = 115200, clock_hz: float | None = None,
                  opt: str | None = None, log=print) -> AsBuilt:
    """:func:`board_verilog` built under Verilator (cached as every build is).
    ``board`` is a :class:`boards.Board` or its name."""
    from boards import Board, get_board
    board = board if isinstance(board, Board) else get_board(board)
    sources, facts = board_verilog(config, board, kind=kind, learning=learning, baud=baud,
                                   clock_hz=clock_hz, log=log)
    # a netlist is one flat module of thousands of cells, and either kind runs millions of
    # cycles at the board's divisor: a whole chip's -O1 (harness.CHIP_OPT) builds longer
    # than -O0 and runs 2x (the ULX3S netlist) to 6x (the iCEBreaker RTL) faster
    extra = ("-Wno-PINMISSING", "-Wno-MULTIDRIVEN", "-Wno-TIMESCALEMOD", "-Wno-UNOPTFLAT",
             "-Wno-ASSIGNIN")
    opt = opt or harness.sim_opt(harness.CHIP_OPT)
    b = harness.build_verilog(sources, f"asbuilt-{board.name}-{kind}", extra_args=extra,
                              opt=opt)
    return AsBuilt(b, board.name, kind, **facts)
