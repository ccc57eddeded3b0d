"""The chip as ``build`` makes it (sim/asbuilt.py), under Verilator behind a pty, driven
by ``python -m gen run`` like a board: the board top with its PLL (modelled), power-on
reset, I/O cells and memory primitives at the board's real UART divisor (115,200 baud),
and yosys' synthesised netlist of it with the vendor cell models, for the iCEBreaker
(learning and inference chips) and the ULX3S. The netlists run their UART at 921,600 baud
(divisors 33 and 54): the real divisor is the as-built chips' to show, the netlists' is
that synthesis kept the behaviour, and a netlist simulates 3-4x slower. ``gen run`` compares every prediction with the golden
model (sim/model.py) and, after learning, every weight and LFSR state read back; a broken
weight on the chip's side must be caught."""
from __future__ import annotations

import json

import pytest

from rtl.uart import divisor_for
from sim.asbuilt import asbuilt_build
from sim.pty_chip import PtyChip
from sim.train import load_weights, save_weights

from test_board_run import SAMPLES, _broken_readout_weight, files, gen_run  # noqa: F401

#: (board, kind, learning, baud, the cells the simulated design must contain); the ULX3S's
#: as-built RTL and the default config's netlists are in bench/asbuilt.py (minutes each)
BOARD_BAUD, NETLIST_BAUD = 115_200, 921_600
CHIPS = {
    "ice40-rtl": ("ice40", "rtl", True, BOARD_BAUD, {"SB_PLL40_PAD", "SB_IO", "SB_SPRAM256KA"}),
    "ice40-netlist": ("ice40", "netlist", True, NETLIST_BAUD,
                      {"SB_PLL40_PAD", "SB_LUT4", "SB_CARRY", "SB_RAM40_4K", "SB_MAC16",
                       "SB_SPRAM256KA"}),
    "ice40-inference-rtl": ("ice40", "rtl", False, BOARD_BAUD,
                            {"SB_PLL40_PAD", "SB_IO", "SB_SPRAM256KA"}),
    "ulx3s-netlist": ("ulx3s", "netlist", True, NETLIST_BAUD,
                      {"EHXPLLL", "TRELLIS_IO", "LUT4", "CCU2C", "TRELLIS_FF", "TRELLIS_DPR16X4",
                       "MULT18X18D"}),
}
_built = {}


def chip(cfg, name):
    if name not in _built:
        board, kind, learning, baud, _ = CHIPS[name]
        _built[name] = asbuilt_build(cfg, board, kind=kind, learning=learning, baud=baud)
    return _built[name]


def _as_built(cfg, name):
    """The chip, checked to be what the board builds: its divisor, its cells."""
    board, kind, learning, baud, cells = CHIPS[name]
    a = chip(cfg, name)
    assert a.divisor == divisor_for(a.clock_hz, baud) > 30      # the board clock's, not 4
    assert a.learning == learning
    assert cells <= set(a.cells), a.cells
    return a


@pytest.fixture(scope="module")
def trained(files):
    """Weights the golden model learnt over the training set five times, so that the readout
    fires in inference (from the initial all-zero readout it never would, and equal
    counts would prove nothing)."""
    cfg, tmp = files
    from sim.data import load_npz
    data = load_npz(tmp / "data.npz", levels=cfg.dynamics.enc_theta)
    net = load_weights(tmp / "w.npz")
    for _ in range(5):
        net.run(data.x_train, data.y_train, learn=True)
    save_weights(tmp / "w-trained.npz", net)
    return tmp / "w-trained.npz"


@pytest.mark.rtl
@pytest.mark.parametrize("name", sorted(n for n, c in CHIPS.items() if c[2]))
def test_as_built_chip_learns_bit_exact(files, name, tmp_path):
    cfg, tmp = files
    a = _as_built(cfg, name)
    with PtyChip(a.build, tmp_path / "pty", divisor=a.divisor,
                 settle_cycles=a.settle_cycles) as pty:
        r = gen_run("--port", pty.port, "--weights", tmp / "w-decay.npz", "--data",
                    tmp / "data.npz", "--samples", SAMPLES, "--learn", "--epochs", 1,
                    "--seed", 3, "--out", tmp_path / "w.npz", "--json", "--quiet",
                    "--timeout", 120, timeout=1500)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["match"] and report["samples_run"] == SAMPLES
    assert report["after_learning"]["lfsr_match"]
    assert not any(report["after_learning"]["words_differing"])


@pytest.mark.rtl
@pytest.mark.parametrize("name", sorted(n for n, c in CHIPS.items() if not c[2]))
def test_as_built_inference_chip_bit_exact_with_the_readout_firing(files, trained, name,
                                                                   tmp_path):
    cfg, tmp = files
    a = _as_built(cfg, name)
    with PtyChip(a.build, tmp_path / "pty", divisor=a.divisor,
                 settle_cycles=a.settle_cycles) as pty:
        r = gen_run("--port", pty.port, "--weights", trained, "--data", tmp / "data.npz",
                    "--samples", SAMPLES, "--json", "--quiet", "--timeout", 120,
                    timeout=1500)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["match"] and report["samples_run"] == SAMPLES
    assert not report["chip"]["learning"]
    assert sum(sum(row["chip_counts"]) for row in report["rows"]) > 0     # the premise


@pytest.mark.rtl
def test_as_built_chip_catches_a_broken_weight(files, tmp_path):
    cfg, tmp = files
    a = chip(cfg, "ice40-rtl")
    perturb, first = _broken_readout_weight(cfg, tmp)
    with PtyChip(a.build, tmp_path / "pty", divisor=a.divisor,
                 settle_cycles=a.settle_cycles, perturb=perturb) as pty:
        r = gen_run("--port", pty.port, "--weights", tmp / "w.npz", "--data",
                    tmp / "data.npz", "--samples", SAMPLES, "--json", "--quiet",
                    "--timeout", 120, timeout=1500)
    assert pty.result["perturbed"] == 1
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"fault: sample {first}:")
