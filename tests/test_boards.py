"""Board registry (boards/): names, platforms, limits, unknown names."""
import pytest
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from amaranth_boards.upduino_v3 import UpduinoV3Platform

from boards import BOARDS, UnknownBoard, get_board
from gen.cli import main


def test_registry_names_and_platforms():
    assert set(BOARDS) == {"ice40", "upduino", "ulx3s"}
    assert issubclass(BOARDS["ice40"].platform, ICEBreakerPlatform)
    assert issubclass(BOARDS["upduino"].platform, UpduinoV3Platform)
    assert issubclass(BOARDS["ulx3s"].platform, ULX3S_85F_Platform)
    for b in BOARDS.values():
        assert b.name in str(get_board(b.name).name)
        assert b.clock_hz > 0 and b.limits.luts > 0 and b.limits.ebr > 0


def test_device_limits():
    up5k = BOARDS["ice40"].limits
    assert (up5k.luts, up5k.ebr, up5k.spram, up5k.dsp) == (5280, 30, 4, 8)
    assert BOARDS["upduino"].limits == up5k
    assert BOARDS["ice40"].platform.device == "iCE40UP5K"
    assert BOARDS["ulx3s"].platform.device == "LFE5U-85F"
    assert BOARDS["ulx3s"].limits.spram == 0 and not BOARDS["ulx3s"].spram_weights
    ecp5 = BOARDS["ulx3s"].limits
    assert (ecp5.luts, ecp5.ffs, ecp5.ebr, ecp5.ebr_bits, ecp5.dsp) == \
        (83640, 83640, 208, 18432, 156)             # nextpnr-ecp5's TRELLIS_COMB/FF, ...


def test_clocks_and_toolchains():
    """Each board's default clock comes from its oscillator through the PLL
    (rtl/clock.py), at a frequency the PLL makes exactly."""
    ice40, upduino, ulx3s = (BOARDS[n] for n in ("ice40", "upduino", "ulx3s"))
    assert (ice40.toolchain, upduino.toolchain, ulx3s.toolchain) == \
        ("icestorm", "icestorm", "trellis")
    # the oscillators are the platforms' own
    assert ice40.platform().default_clk_frequency == ice40.oscillator_hz == 12e6
    assert ulx3s.platform().default_clk_frequency == ulx3s.oscillator_hz == 25e6
    assert (upduino.clock_source, upduino.oscillator_hz) == ("hfosc", 48e6)
    assert ice40.clock().pll == "ice40" and ice40.clock().f_out == 30e6
    assert ulx3s.clock().pll == "ecp5" and ulx3s.clock().f_out == 50e6
    # the UPduino's pins place its chip at 27 MHz: 24 MHz, the HFOSC / 2, no PLL
    up = upduino.clock()
    assert (up.pll, up.hfosc_div, up.f_out) == (None, 1, 24e6)


def test_every_board_has_a_uart():
    """Exactly rx and tx: BoardTop requests those two (every other subsignal of the
    resource would need a dir too)."""
    for b in BOARDS.values():
        uart = b.platform().lookup("uart", 0)
        assert [s.name for s in uart.ios] == ["rx", "tx"], b.name
        assert [s.ios[0].dir for s in uart.ios] == ["i", "o"], b.name
    ulx3s = BOARDS["ulx3s"].platform().lookup("uart", 0)
    assert [s.ios[0].names for s in ulx3s.ios] == [["M1"], ["L4"]]   # the FTDI's


def test_unknown_board_lists_known_ones(capsys):
    with pytest.raises(UnknownBoard, match="known boards: ice40 .*ulx3s .*upduino"):
        get_board("nexys")
    with pytest.raises(SystemExit) as exit_:        # argparse's choices
        main(["build", "--board", "nexys"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nexys'" in err and "upduino" in err     # argparse's choices
