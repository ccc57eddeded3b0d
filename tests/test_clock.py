"""The board clock (rtl/clock.py): PLL dividers checked against the data-sheet formulas
and against icepll and ecppll (the yowasp tools in the venv: independent references),
the no-PLL cases, the errors, and the primitives BoardTop instantiates."""
import re
import subprocess

import pytest

from boards import BOARDS
from gen.build import _which
from gen.cli import main
from gen.config import Config
from gen.topology import make_topology
from rtl.clock import (ECP5_PLL, ICE40_PLL, ClockError, ecp5_pll, ice40_filter_range,
                       ice40_pll, plan_clock)
from rtl.top import BoardTop

MHZ = 1e6


def _violations(limits, p, f_pfd, f_vco, f_out) -> list:
    """The frequencies outside ``limits``, and a claimed output the dividers do not make."""
    bad = [f"{name} {f / MHZ:g} MHz" for name, f, (lo, hi) in
           (("pfd", f_pfd, limits.f_pfd), ("vco", f_vco, limits.f_vco),
            ("out", f_out, limits.f_out)) if not lo <= f <= hi]
    if abs(f_out - p["f_out"]) > 1:
        bad.append(f"claims {p['f_out'] / MHZ:g} MHz, makes {f_out / MHZ:g}")
    return bad


def ice40_violations(f_in, p) -> list:
    """Every rule of the iCE40 PLL (simple feedback) that ``p`` breaks, recomputed from
    the dividers alone."""
    f_pfd = f_in / (p["DIVR"] + 1)
    f_vco = f_pfd * (p["DIVF"] + 1)
    bad = [] if 0 <= p["DIVR"] <= 15 and 0 <= p["DIVF"] <= 127 and 1 <= p["DIVQ"] <= 6 \
        else ["divider out of range"]
    return bad + _violations(ICE40_PLL, p, f_pfd, f_vco, f_vco / 2 ** p["DIVQ"])


def ecp5_violations(f_in, p) -> list:
    """The same for the ECP5 EHXPLLL with CLKOP fed back."""
    f_pfd = f_in / p["CLKI_DIV"]
    f_out = f_pfd * p["CLKFB_DIV"]
    return _violations(ECP5_PLL, p, f_pfd, f_out * p["CLKOP_DIV"], f_out)


def tool(name):
    path = _which(f"yowasp-{name}") or _which(name)
    assert path, f"{name} (yowasp-{name}, from the yowasp-nextpnr wheels) is not installed"
    return path


def icepll(f_in, f_out) -> dict:
    out = subprocess.run([tool("icepll"), "-i", f"{f_in / MHZ:g}", "-o", f"{f_out / MHZ:g}"],
                         capture_output=True, text=True, check=True).stdout
    get = lambda key: float(re.search(rf"^{key}:\s+([\d.]+)", out, re.M).group(1))  # noqa: E731
    return {"f_out": float(re.search(r"([\d.]+) MHz \(achieved\)", out).group(1)) * MHZ,
            "FILTER_RANGE": int(get("FILTER_RANGE")), "DIVR": int(get("DIVR"))}


def ecppll(f_in, f_out, tmp_path) -> float:
    subprocess.run([tool("ecppll"), "-i", f"{f_in / MHZ:g}", "-o", f"{f_out / MHZ:g}",
                    "-f", "pll.v"], cwd=tmp_path, capture_output=True, check=True)
    text = (tmp_path / "pll.v").read_text()
    div = {k: int(v) for k, v in re.findall(r"\.(CLKI_DIV|CLKFB_DIV)\((\d+)\)", text)}
    return f_in * div["CLKFB_DIV"] / div["CLKI_DIV"]


# targets icepll/ecppll meet exactly or from below, so "fastest at or below" must equal
# theirs; the board defaults are among them
ICE40_CASES = [(12e6, 30e6), (12e6, 48e6), (12e6, 36e6), (12e6, 54e6), (48e6, 30e6),
               (48e6, 40e6), (12e6, 16.5e6)]
ECP5_CASES = [(25e6, 100e6 / 3), (25e6, 50e6), (25e6, 37.5e6), (25e6, 60e6), (25e6, 40e6)]


@pytest.mark.parametrize("f_in,target", ICE40_CASES)
def test_ice40_pll_matches_icepll(f_in, target):
    p = ice40_pll(f_in, target)
    assert ice40_violations(f_in, p) == []
    ref = icepll(f_in, target)
    assert ref["f_out"] <= target * (1 + 1e-6)          # the cases are chosen so
    assert p["f_out"] == pytest.approx(ref["f_out"], abs=1e3), (p, ref)
    assert p["FILTER_RANGE"] == ice40_filter_range(p["f_pfd"])
    if p["DIVR"] == ref["DIVR"]:                        # same phase detector frequency
        assert p["FILTER_RANGE"] == ref["FILTER_RANGE"]


@pytest.mark.parametrize("f_in,target", ECP5_CASES)
def test_ecp5_pll_matches_ecppll(f_in, target, tmp_path):
    p = ecp5_pll(f_in, target)
    assert ecp5_violations(f_in, p) == []
    assert p["f_out"] == pytest.approx(ecppll(f_in, target, tmp_path), abs=1e3)


def test_fastest_at_or_below_the_target():
    """Between achievable frequencies the PLL rounds down: the design is checked against
    the clock it really gets, never a faster one."""
    for f in (31e6, 33e6, 47e6):
        p = ice40_pll(12e6, f)
        assert p["f_out"] <= f and ice40_violations(12e6, p) == []
        # nothing legal lies between it and the target
        assert all(
            not (p["f_out"] + 1 < 12e6 / (r + 1) * (d + 1) / 2 ** q <= f)
            or ice40_violations(12e6, {"DIVR": r, "DIVF": d, "DIVQ": q,
                                       "f_out": 12e6 / (r + 1) * (d + 1) / 2 ** q})
            for r in range(16) for d in range(128) for q in range(1, 7))
    p = ecp5_pll(25e6, 49e6)
    assert p["f_out"] <= 49e6 and ecp5_violations(25e6, p) == []


def test_the_checks_catch_a_wrong_divider():
    """The violation checks above are what the PLL tests rest on: a DIVQ off by one, a
    VCO out of range, a wrong feedback divider are each caught."""
    p = dict(ice40_pll(12e6, 30e6))
    assert ice40_violations(12e6, {**p, "DIVQ": p["DIVQ"] - 1}) != []
    assert ice40_violations(12e6, {**p, "DIVF": 20}) != []             # VCO 252 MHz
    q = dict(ecp5_pll(25e6, 50e6))
    assert ecp5_violations(25e6, {**q, "CLKFB_DIV": q["CLKFB_DIV"] + 1}) != []
    assert ecp5_violations(25e6, {**q, "CLKOP_DIV": 1}) != []


def test_no_pll_when_the_oscillator_is_the_clock():
    assert plan_clock("pin", 12e6, 12e6, "ice40").pll is None
    assert plan_clock("pin", 25e6, 25e6, "ecp5").pll is None
    up = plan_clock("hfosc", 48e6, 24e6, "ice40")
    assert (up.pll, up.hfosc_div, up.f_out) == (None, 1, 24e6)
    assert plan_clock("hfosc", 48e6, 30e6, "ice40").pll == "ice40"


def test_impossible_clocks_name_the_value_and_the_limits():
    with pytest.raises(ClockError, match=r"--clock 5 MHz is outside the PLL's output range "
                                         r"16\.\.275 MHz \(or exactly 12 MHz"):
        BOARDS["ice40"].clock(5e6)
    with pytest.raises(ClockError, match=r"48 / 24 / 12 / 6 MHz without the PLL"):
        BOARDS["upduino"].clock(400e6)
    with pytest.raises(ClockError, match=r"output range 10\.\.400 MHz"):
        BOARDS["ulx3s"].clock(500e6)


def test_cli_refuses_an_impossible_clock(capsys):
    assert main(["build", "--board", "ice40", "--clock", "5", "--check"]) == 2
    err = capsys.readouterr().err
    assert "--clock 5 MHz" in err and "16..275 MHz" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["build", "--board", "ice40", "--clock", "-3"])
    assert "must be > 0" in capsys.readouterr().err


def test_cli_check_reports_the_clock(capsys):
    assert main(["build", "--board", "ice40", "--clock", "36", "--check"]) == 0
    assert "clock 36.000 MHz: the 12 MHz oscillator through the ice40 PLL" in \
        capsys.readouterr().out


def test_the_config_sets_the_clock_and_clock_wins(capsys, tmp_path):
    """A config's clock_mhz (a preset that fills its board) is the build's clock unless
    --clock is given; 0 is the board's default."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text("clock_mhz = 27.0\n")
    assert main(["build", "--board", "ice40", "--config", str(cfg), "--check"]) == 0
    assert "clock 27.000 MHz" in capsys.readouterr().out
    assert main(["build", "--board", "ice40", "--config", str(cfg), "--clock", "36",
                 "--check"]) == 0
    assert "clock 36.000 MHz" in capsys.readouterr().out
    assert main(["build", "--board", "ice40", "--check"]) == 0
    assert "clock 30.000 MHz" in capsys.readouterr().out
    cfg.write_text("clock_mhz = 5.0\n")           # the PLL's limits, as for --clock
    assert main(["build", "--board", "ice40", "--config", str(cfg), "--check"]) == 2
    err = capsys.readouterr().err
    assert "the config's clock_mhz = 5 MHz" in err and "16..275 MHz" in err


def _board_rtlil(name, clock_hz=None):
    cfg = Config().replace(**{"sizes.n_in": 16, "sizes.cores": 3, "sizes.neurons": 8,
                              "sizes.classes": 3, "sizes.per_class": 2, "sizes.steps": 8,
                              "topology.axons_per_edge": 4}).validate()
    board = BOARDS[name]
    top = BoardTop(make_topology(cfg), clock=board.clock(clock_hz), learning=False)
    platform = board.platform()
    plan = platform.prepare(top, name="swirl")
    return plan.files["swirl.il"], plan.files.get("swirl.pcf", "") + \
        plan.files.get("swirl.lpf", "")


@pytest.mark.parametrize("name,cell,params", [
    ("ice40", "SB_PLL40_PAD", {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1}),
    ("upduino", "SB_PLL40_CORE", {"DIVR": 0, "DIVF": 19, "DIVQ": 5, "FILTER_RANGE": 4}),
    ("ulx3s", "EHXPLLL", {"CLKI_DIV": 1, "CLKFB_DIV": 2, "CLKOP_DIV": 12})])
def test_board_top_builds_the_pll(name, cell, params):
    """The PLL cell with the planned dividers (30 MHz on the UP5Ks, 50 on the ULX3S),
    and the oscillator's constraint nextpnr derives the PLL output's from (the build
    tests check the derived constraint in nextpnr's report)."""
    il, constraints = _board_rtlil(name, 30e6 if name != "ulx3s" else None)
    body = il.split(f"cell \\{cell} ", 1)
    assert len(body) == 2, f"no {cell} in {name}'s design"
    cell_text = body[1].split("\n  end\n", 1)[0]
    for key, value in params.items():
        got = re.search(rf"parameter \\{key} (\S+)", cell_text).group(1)
        assert int(got.split("'")[-1], 2 if "'" in got else 10) == value, (key, got)
    if name == "ice40":
        assert "set_frequency clk12_0__io 12.0" in constraints
    if name == "ulx3s":
        assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ' in constraints


def test_board_top_without_a_pll_at_the_oscillator():
    il, _ = _board_rtlil("ice40", 12e6)
    assert "SB_PLL40" not in il
    il, _ = _board_rtlil("upduino", 24e6)
    assert "SB_PLL40" not in il and "CLKHF_DIV \"0b01\"" in il
