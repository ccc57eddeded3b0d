"""``python -m gen run`` against the whole chip under Verilator behind a pseudo-terminal
(sim/pty_chip.py, sim/tb_pty.py): the real command, the real ``SerialTransport`` and
pyserial on a real pty, no board. The golden model here is run by the test itself, apart
from the one inside ``gen run``: the chip's predictions and the weights it learnt must
equal it. A broken weight on the chip's side must be caught as a fault, a chip built for
another config refused, and a port that never answers must end the run in seconds."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tty

import numpy as np
import pytest

from gen.config import Config, load_config
from rtl.address_map import SPACES
from sim.compare import chip_build
from rtl.host_protocol import CMD_PING
from sim.host import frame, weight_words
from sim.model import Network
from sim.train import learning_rate_schedule, load_weights, save_weights

from conftest import REPO

# the chip of tests/test_chip_link.py (one Verilator build for both)
CONFIG = {
    "sizes.n_in": 6, "sizes.cores": 3, "sizes.neurons": 4, "sizes.classes": 2,
    "sizes.per_class": 2, "sizes.steps": 4, "topology.ws_neighbours": 2,
    "topology.axons_per_edge": 2, "topology.readout_density": 0.6,
    "dynamics.enc_theta": 4, "learning.teach_start": 1,
}
SAMPLES = 4


def gen_run(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gen", "run", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The config, a data set of its shape, and weights: the config's initial ones
    (``w.npz``) and, for learning, the same with the rates halved every epoch."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = Config().replace(**CONFIG).validate()
    rng = np.random.default_rng(5)
    theta = cfg.dynamics.enc_theta
    x, xt = rng.integers(0, theta + 1, (40, 6)), rng.integers(0, theta + 1, (20, 6))
    x[0, 0] = xt[0, 0] = theta                      # the intensities are taken as they are
    np.savez(tmp / "data.npz", X=x, y=rng.integers(0, 2, 40), X_test=xt,
             y_test=rng.integers(0, 2, 20))
    save_weights(tmp / "w.npz", Network(cfg))
    decay = cfg.replace(**{"learning.decay_epochs": 1}).validate()
    save_weights(tmp / "w-decay.npz", Network(decay))
    return cfg, tmp


@pytest.fixture(scope="module")
def build(files):
    return chip_build(load_weights(files[1] / "w.npz").topology)


@pytest.fixture(scope="module")
def port(build, tmp_path_factory):
    from sim.pty_chip import PtyChip
    chip = PtyChip(build, tmp_path_factory.mktemp("pty"))
    yield chip.start()
    stats = chip.stop()
    assert stats["commands"] == stats["replies"] > 0


def _data(tmp):
    from sim.data import load_npz
    return load_npz(tmp / "data.npz", levels=CONFIG["dynamics.enc_theta"])


@pytest.mark.rtl
def test_run_predictions_equal_the_golden_model(files, port):
    cfg, tmp = files
    plot = tmp / "run-raster.png"
    r = gen_run("--port", port, "--weights", tmp / "w.npz", "--data", tmp / "data.npz",
                "--samples", SAMPLES, "--json", "--quiet", "--timeout", 60,
                "--plot", plot, "--plot-sample", 1)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    ds = _data(tmp)
    pred, counts, _ = load_weights(tmp / "w.npz").run(ds.x_test[:SAMPLES])
    assert [row["chip_pred"] for row in report["rows"]] == pred.tolist()
    assert [row["chip_counts"] for row in report["rows"]] == counts.tolist()
    assert report["plot"] == {"file": str(plot), "sample": 1, "divergence": None}
    assert plot.stat().st_size > 10_000
    assert report["match"] and report["samples_run"] == SAMPLES
    assert report["chip"]["lanes"] == report["lanes"] == 2
    assert all(row["cycles"] > 0 for row in report["rows"])
    assert report["samples_per_second_wire"] > 0


@pytest.mark.rtl
def test_run_learn_weights_read_back_equal_the_golden_model(files, port):
    """Two epochs on chip, the rates halved after the first: the weights saved are the
    chip's, read back, and must be those of the golden model trained in train's order."""
    cfg, tmp = files
    out = tmp / "w2.npz"
    r = gen_run("--port", port, "--weights", tmp / "w-decay.npz", "--data",
                tmp / "data.npz", "--samples", SAMPLES, "--learn", "--epochs", 2,
                "--seed", 3, "--out", out, "--json", "--quiet", "--timeout", 60)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    ds = _data(tmp)
    net = load_weights(tmp / "w-decay.npz")
    start = net.weights.copy()
    base, rng = net.config, np.random.default_rng(3)
    preds = []
    for epoch in range(2):
        net.config = learning_rate_schedule(base, epoch)
        for i in rng.permutation(SAMPLES):
            p, _, _ = net.run(ds.x_train[i:i + 1], ds.y_train[i:i + 1], learn=True)
            preds.append(int(p[0]))
    assert [row["chip_pred"] for row in report["rows"]] == preds
    got = load_weights(out).weights
    for name in ("w_in", "w_hh", "w_ro"):
        assert np.array_equal(getattr(got, name), getattr(net.weights, name)), name
    changed = sum(int((getattr(got, k) != getattr(start, k)).sum())
                  for k in ("w_in", "w_hh", "w_ro"))
    assert changed > 0                               # it did learn
    assert report["after_learning"]["words_differing"] == [0] * 4
    assert report["after_learning"]["lfsr_match"] and report["match"]


def _broken_readout_weight(cfg, tmp):
    """A readout weight whose change to an extreme alters the class counts, and the first
    test sample where it does (the golden model decides: the test checks its premise)."""
    net = load_weights(tmp / "w.npz")
    ds = _data(tmp)
    u = ds.x_test[:SAMPLES]
    _, counts, _ = net.run(u)
    lanes, bank = 2, len(net.topology.cores)
    hi = (1 << (cfg.widths.weight - 1)) - 1
    w_ro = net.weights.w_ro
    for r in reversed(range(w_ro.shape[0])):          # the bias row first: every step
        for j in range(w_ro.shape[1]):
            for value in (hi, -hi - 1):
                if w_ro[r, j] == value:
                    continue
                bad = Network(cfg, net.topology, net.weights.copy())
                bad.weights.w_ro[r, j] = value
                _, bad_counts, _ = bad.run(u)
                differ = np.flatnonzero((bad_counts != counts).any(axis=1))
                if len(differ):
                    want = weight_words(bad, lanes)[bank]
                    good = weight_words(net, lanes)[bank]
                    addr = next(a for a, (x, y) in enumerate(zip(want, good)) if x != y)
                    return ({"space": SPACES["weights"], "bank": bank, "addr": addr,
                             "word": want[addr]}, int(differ[0]))
    raise AssertionError("no readout weight changes the counts of these samples")


@pytest.mark.rtl
def test_run_catches_a_broken_weight_on_the_chip(files, build, tmp_path):
    from sim.pty_chip import PtyChip
    cfg, tmp = files
    perturb, first = _broken_readout_weight(cfg, tmp)
    plot = tmp_path / "fault.png"
    with PtyChip(build, tmp_path / "pty", perturb=perturb) as chip:
        r = gen_run("--port", chip.port, "--weights", tmp / "w.npz", "--data",
                    tmp / "data.npz", "--samples", SAMPLES, "--quiet", "--timeout", 60,
                    "--plot", plot)
    assert chip.result["perturbed"] == 1
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"FAULT at sample {first} " in r.stdout
    assert f"raster of sample {first}: {plot}" in r.stdout     # the fault is drawn
    assert r.stderr.strip().splitlines()[-1].startswith(f"fault: sample {first}:")


@pytest.mark.rtl
def test_run_refuses_a_chip_built_for_another_config(files, port, tmp_path):
    cfg, tmp = files
    other = cfg.replace(**{"sizes.steps": 5}).validate()
    save_weights(tmp_path / "other.npz", Network(other))
    r = gen_run("--port", port, "--weights", tmp_path / "other.npz", "--data",
                tmp / "data.npz", "--samples", 1, "--quiet", "--timeout", 60)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"error: the chip on {port} has sizes.steps = 4, the weights' config 5: build and "
        "program it for these weights (gen build --weights ..., gen program)")


@pytest.mark.rtl
def test_run_on_a_board_that_stops_answering_mid_run(files, build, tmp_path):
    """The link goes dead during the third sample: that sample's error line and exit 2,
    not a hang (the run is given 300 s; it needs the load's time and 2 s more)."""
    from sim.host import load_commands
    from sim.pty_chip import PtyChip
    cfg, tmp = files
    net = load_weights(tmp / "w.npz")
    # PING, the image, two whole samples (input frames, RUN, counts, status), one frame
    per_sample = -(-cfg.sizes.n_in // 2) + 3
    mute = 1 + len(load_commands(net, 2)) + 2 * per_sample + 1
    with PtyChip(build, tmp_path / "pty", mute_after=mute) as chip:
        r = gen_run("--port", chip.port, "--weights", tmp / "w.npz", "--data",
                    tmp / "data.npz", "--samples", SAMPLES, "--quiet", "--timeout", 2,
                    timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: sample 2 (test sample 2): no reply (got nothing) from the chip on "
        f"{chip.port} within --timeout 2 s"), r.stderr


def test_run_on_a_port_that_never_answers_times_out(files, tmp_path):
    """A board that says nothing: the first reply's timeout ends the run, one error line,
    exit 2, in seconds (Python's start-up included), not a hang."""
    cfg, tmp = files
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    try:
        t0 = time.monotonic()
        r = gen_run("--port", name, "--weights", tmp / "w.npz", "--data",
                    tmp / "data.npz", "--timeout", 1, "--quiet", timeout=60)
        elapsed = time.monotonic() - t0
        sent = os.read(master, 64)
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: PING: no reply (got nothing) from the chip on {name} "
        "within --timeout 1 s"), r.stderr
    assert sent == frame(CMD_PING)                  # it asked, once
    assert elapsed < 30


def test_run_on_a_port_that_does_not_exist(files, tmp_path):
    cfg, tmp = files
    r = gen_run("--port", tmp_path / "ttyNONE", "--weights", tmp / "w.npz", "--data",
                tmp / "data.npz", "--quiet")
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: cannot open --port {tmp_path / 'ttyNONE'}: ")
    assert len(r.stderr.strip().splitlines()) == 1


def test_unpack_bank_inverts_pack_rows():
    from gen.run import unpack_bank
    from sim.host import pack_rows
    rng = np.random.default_rng(2)
    for lanes, width, cols in ((2, 8, 5), (4, 4, 7), (1, 16, 3), (8, 2, 9)):
        m = rng.integers(-(1 << (width - 1)), 1 << (width - 1), (6, cols))
        assert np.array_equal(unpack_bank(pack_rows(m, lanes, width), 6, cols, lanes,
                                          width), m)


def test_run_refuses_a_chip_built_for_another_frame_count():
    """A chip for single-frame samples would take a sequence's first frame and run it
    silently wrong: PING's frames (1 when a chip's reply has none) must match."""
    from gen.run import RunError, _check_chip
    from gen.topology import make_topology
    cfg = load_config("tiny").replace(**{"sizes.frames": 2}).validate()
    s, topo = cfg.sizes, make_topology(cfg)
    info = {"version": 3, "classes": s.classes, "n_in": s.n_in, "cores": len(topo.cores),
            "steps": s.steps, "enc_theta": cfg.dynamics.enc_theta, "learning": True}
    _check_chip({**info, "frames": 2}, cfg, topo, True, "/dev/x")
    with pytest.raises(RunError, match=r"has sizes.frames = 1, the weights' config 2"):
        _check_chip({**info, "frames": 1}, cfg, topo, True, "/dev/x")
