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


def test_every_board_has_a_uart():
    for b in BOARDS.values():
        names = {r.name for r in b.platform().resources.values()}
        assert "uart" in names, b.name


def test_unknown_board_lists_known_ones(capsys):
    with pytest.raises(UnknownBoard, match="known boards: ice40 .*ulx3s .*upduino"):
        get_board("nexys")
    assert main(["build", "--board", "nexys"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown board 'nexys'") and "upduino" in err
