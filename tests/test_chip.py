"""The whole chip under Verilator, driven through its UART by the host driver, against the
golden model (sim/compare.py, sim/tb_chip.py): inference and on-chip learning, bit for
bit (every step's spikes, counts, predictions, learning counters, LFSR states and, after
the run, every weight), on small configs; and the `compare` command itself."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from boards import get_board
from gen.build import chip_options
from gen.config import Config, load_config
from gen.topology import make_topology
from sim.compare import chip_build, compare, run_chip, side_by_side
from sim.model import Network

pytestmark = pytest.mark.rtl

# the small chip is the shipped `tiny` preset (gen/presets/tiny.toml: 6 inputs, 3 cores x 4
# neurons, 2 classes x 2, 8 steps): docs/api.md's walk-through shares its Verilator build
CONFIGS = {
    "small": {},
    # two layers, refractory, reset to zero, no readout bias, readout only from traces,
    # the teacher pushing down only the strongest wrong class (of two)
    "two_layers": {"sizes.layers": 2, "sizes.n_in": 5, "sizes.classes": 3,
                   "sizes.per_class": 1, "topology.ff_fan_in": 5,
                   "dynamics.refractory": 2, "dynamics.reset_subtract": False,
                   "topology.readout_bias": False, "learning.post_from_trace": True,
                   "learning.learn_recurrent": False, "learning.push_down_all": False},
    # 2-bit weights, 8 neurons a core: on the UP5K boards 16 // 2 = 8 lanes, a crossbar row
    # is one weight word that the row fills (issue 16)
    "narrow_weights": {"sizes.neurons": 8, "widths.weight": 2, "widths.membrane": 8,
                       "widths.current": 8, "init_scale": 2, "init_rec_scale": 1,
                       "dynamics.theta": 4, "dynamics.theta_out": 2,
                       "learning.psi_window": 6, "learning.eta_hidden_shift": 2,
                       "learning.eta_readout_shift": 2},
}


def small_config(name: str) -> Config:
    return load_config("tiny").replace(**CONFIGS[name]).validate()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Random samples with a strong first channel, in an .npz `--data` file."""
    path = tmp_path_factory.mktemp("data") / "small.npz"
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, (60, 6))
    y = np.arange(60) % 2
    x[:, 0] = 10 * (y == 0)
    np.savez(path, X=x, y=y)
    return path


@pytest.mark.parametrize("learn", [False, True], ids=["inference", "learning"])
def test_chip_matches_golden_model(learn, dataset, tmp_path):
    cfg = small_config("small")
    r = compare(cfg, task="digits", data=dataset, samples=6, learn=learn, work=tmp_path)
    assert r["bit_exact"], r["first_divergence"]
    assert all(row["match"] for row in r["rows"])
    spikes = sum(sum(map(sum, row["chip_population_spikes"])) for row in r["rows"])
    assert spikes > 0
    if learn:   # learning did happen, on both sides
        assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


def test_byte_link_bit_exact(dataset, tmp_path, monkeypatch):
    """The chip without its UART (``SwirlChip(link="bytes")``, what ``compare`` takes for
    a large preset): the same host link fed a byte a cycle loads, learns and reads back
    bit exact; ``auto`` takes it once the weights pass sim.compare.UART_WORDS."""
    import sim.compare
    cfg = small_config("small")
    net = Network(cfg, make_topology(cfg))
    assert sim.compare.link_for(net, 2) == "uart"
    monkeypatch.setattr(sim.compare, "UART_WORDS", 1)
    assert sim.compare.link_for(net, 2) == "bytes"
    with pytest.raises(ValueError, match="--link must be one of auto, uart, bytes, not 'usb'"):
        sim.compare.link_for(net, 2, "usb")
    r = compare(cfg, task="digits", data=dataset, samples=4, learn=True, work=tmp_path)
    assert r["link"] == "bytes"
    assert r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


def test_temporal_presentation_bit_exact(tmp_path):
    """A sequence (docs/architecture.md section 3): 3 frames of 6 channels, 2 steps each,
    then 2 silent steps, from a (samples, frames, features) ``--data`` file; learning on.
    The chip's input spikes are the model's, and not those of the first frame held for
    the whole sample (what an encoder that ignored the frames would give)."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 10, (40, 3, 6)).astype(float)
    y = np.arange(40) % 2
    x[:, 1, 0] = 10 * (y == 0)           # the class is in the middle frame
    path = tmp_path / "sequences.npz"
    np.savez(path, X=x, y=y)
    cfg = small_config("small").replace(**{"sizes.frames": 3, "sizes.frame_steps": 2})
    r = compare(cfg.validate(), task="digits", data=path, samples=4, learn=True,
                work=tmp_path, rasters=True)
    assert r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0
    held = Network(small_config("small"))
    from sim.data import load_npz
    u = load_npz(path, levels=cfg.dynamics.enc_theta).x_test[:4]
    chip_in = np.stack([rs["chip"]["s_in"] for rs in r["rasters"]])
    _, _, tr = held.run(u[:, :6], record=True)
    assert chip_in[:, 6:].sum() == 0                 # the silent tail
    assert not np.array_equal(chip_in, np.asarray(tr["s_in"]))


@pytest.mark.parametrize("layers, share, density", [(1, 4, 0.5), (2, 2, 0.5), (1, 4, 1.0)],
                         ids=["one_layer", "two_layers", "dense_readout"])
def test_shared_cores_learn_bit_exact(layers, share, density, dataset, tmp_path):
    """Logical cores time-sharing a physical core and its weight bank (the UP5K learning
    chip: all four on one), learning: still the golden model, bit for bit. With a dense
    readout the learning unit has no mask ROM (every synapse is there). With the four
    on one core the readout sweeps a neuron at a time (its 4 x 4 neurons take no longer
    than the shared core's 4 x 4: rtl/readout.py ``pipelined_sweep``), with two a
    neuron a cycle: both sweeps are checked."""
    cfg = small_config("small" if layers == 1 else "two_layers").replace(
        **{"sizes.cores": 4, "sizes.n_in": 6, "topology.readout_density": density})
    from rtl.internals import never_elaborated
    from rtl.top import Engine
    engine = Engine(make_topology(cfg.validate()), share=share)
    never_elaborated(engine)
    roms = engine.learner.rom_shapes
    assert len(roms) == (1 if density == 1.0 else 2)      # the row sources (and the mask)
    assert engine.readout.pipelined == (share == 2)
    r = compare(cfg.validate(), task="digits", data=dataset, samples=4, learn=True,
                work=tmp_path, share=share)
    assert r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


def test_dense_readout_needs_no_mask_at_lanes_that_pad_it(dataset, tmp_path):
    """6 dense readout neurons at 4 lanes: the second word's last two lanes are padding,
    which the sweep never writes, so there is no mask ROM (it took the deep ULX3S chip's
    last two DP16KD at 4 lanes), and learning stays bit exact."""
    cfg = small_config("small").replace(**{"sizes.per_class": 3,
                                           "topology.readout_density": 1.0}).validate()
    from rtl.internals import never_elaborated
    from rtl.top import Engine
    engine = Engine(make_topology(cfg), lanes=4)
    never_elaborated(engine)
    assert engine.readout.words_per_row == 2 and len(engine.learner.rom_shapes) == 1
    r = compare(cfg, task="digits", data=dataset, samples=4, learn=True, work=tmp_path,
                lanes=4)
    assert r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
def test_readout_reads_ahead_at_any_lanes_bit_exact(lanes, dataset, tmp_path):
    """The readout reads a row's next weight word while it adds this one's lanes
    (rtl/readout.py): 6 readout neurons at 1 lane (a word a neuron: no read ahead), 2
    (three words, each read at the lane before the last), 3 (two full words) and 4 (a
    full word, then a half-empty one), learning on."""
    cfg = small_config("small").replace(**{"sizes.per_class": 3}).validate()
    r = compare(cfg, task="digits", data=dataset, samples=4, learn=True, work=tmp_path,
                lanes=lanes)
    assert r["bit_exact"], r["first_divergence"]
    assert sum(sum(row["chip_counts"]) for row in r["rows"]) > 0      # the readout fired


@pytest.mark.parametrize("name", ["small", "narrow_weights"])
def test_weight_stage_learns_bit_exact(name, dataset, tmp_path):
    """The ECP5 boards' chip (gen/build.py ``weight_stage_for``): every crossbar registers
    its weight word before the adders and reads its currents a cycle later. Learning on;
    with 2-bit weights at 8 lanes a row is one word, so back-to-back events read the
    current word the previous event is writing (the transparent port's case)."""
    cfg = small_config(name)
    lanes = 8 if name == "narrow_weights" else 2
    assert (cfg.sizes.neurons <= lanes) == (name == "narrow_weights")
    r = compare(cfg, task="digits", data=dataset, samples=4, learn=True, work=tmp_path,
                lanes=lanes, weight_stage=True)
    assert r["weight_stage"] and r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


@pytest.mark.parametrize("sweep_lanes", [2, 1])
def test_sweep_in_beats_learns_bit_exact(sweep_lanes, dataset, tmp_path):
    """The learning unit sweeping a 4-weight word through fewer lanes than the crossbar's
    (rtl/sweep_pipeline.py): 2 beats a word (the UP5K's 4-lane build) and 4."""
    cfg = small_config("small")
    r = compare(cfg, task="digits", data=dataset, samples=4, learn=True, work=tmp_path,
                lanes=4, sweep_lanes=sweep_lanes)
    assert r["sweep_lanes"] == sweep_lanes and r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


@pytest.mark.parametrize("share", [1, 3], ids=["own_cores", "shared_core"])
def test_chip_at_the_boards_lanes_learns_bit_exact(share, dataset, tmp_path):
    """``compare`` at the lanes the UP5K build uses (gen.build.lanes_for: 8 for 2-bit
    weights) and its sweep lanes (2: a word swept in 4 beats): with a core each, N =
    lanes (not bit exact before the fix of issue 16: a hidden spike differed by step 3 of
    every sample); with the three sharing one core (the UP5K learning chip), 24 neurons
    on 3 words a row."""
    cfg = small_config("narrow_weights")
    opts = chip_options(cfg, get_board("ice40"))
    lanes = opts["lanes"]
    assert lanes == 8 == cfg.sizes.neurons and opts["sweep_lanes"] == 2
    r = compare(cfg, task="digits", data=dataset, samples=6, learn=True, work=tmp_path,
                share=share, lanes=lanes, sweep_lanes=opts["sweep_lanes"])
    assert r["bit_exact"], r["first_divergence"]
    assert r["lanes"] == lanes and r["weight_ceiling_per_cycle"] == 3 // share * lanes
    assert sum(sum(map(sum, row["chip_population_spikes"])) for row in r["rows"]) > 0
    assert sum(row["chip_stats"]["weight_writes"] for row in r["rows"]) > 0


@pytest.fixture(scope="module")
def two_layer_run(tmp_path_factory):
    """The two-layer chip learning 5 random samples, and the network it started from."""
    cfg = small_config("two_layers")
    topo = make_topology(cfg)
    net = Network(cfg, topo)
    rng = np.random.default_rng(5)
    w = net.weights
    # readout weights >= 0: two wrong classes are often close at once, so the teacher
    # rule changes the run (test_compare_finds_a_difference)
    w.w_ro[:] = rng.integers(0, 40, w.w_ro.shape) * net.ro_mask
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (5, cfg.sizes.n_in))
    labels = np.arange(5) % cfg.sizes.classes
    chip = run_chip(chip_build(topo), net, u, labels, [{"learn": True}],
                    tmp_path_factory.mktemp("two_layers"))
    return cfg, topo, net.weights.copy(), u, labels, chip["runs"][0]


def test_two_layer_chip_learns_bit_exact(two_layer_run):
    cfg, topo, weights, u, labels, run = two_layer_run
    r = side_by_side(Network(cfg, topo, weights.copy()), u, labels, True, run)
    assert r["bit_exact"], r["first_divergence"]
    assert sum(row["chip_stats"]["rows_swept"] for row in r["rows"]) > 0


@pytest.mark.parametrize("change", ["theta", "weight", "teacher rule"])
def test_compare_finds_a_difference(two_layer_run, change):
    """The same chip run beside a slightly different model must not pass (the teacher
    rule: the model pushing down every close wrong class where the chip was built to push
    only the strongest)."""
    cfg, topo, weights, u, labels, run = two_layer_run
    weights = weights.copy()
    if change == "theta":
        cfg = cfg.replace(**{"dynamics.theta": cfg.dynamics.theta + 1})
    elif change == "teacher rule":
        cfg = cfg.replace(**{"learning.push_down_all": True})
    else:
        i, j = np.argwhere(Network(cfg, topo).in_mask)[0]
        weights.w_in[i, j] += 1
    r = side_by_side(Network(cfg, topo, weights), u, labels, True, run)
    assert not r["bit_exact"]
    assert r["first_divergence"] is not None


def _perturbed(run: dict, field: str) -> dict:
    """The chip's record of a run with one compared field off by one bit (a deep copy)."""
    import copy
    run = copy.deepcopy(run)
    last = run["samples"][-1]
    if field == "weight word":
        bank = next(b for b, words in enumerate(run["weights"]) if words)
        run["weights"][bank][0] ^= 1
    elif field == "final LFSR":
        run["lfsr"][0] ^= 1
    elif field == "sample LFSR":
        last["lfsr"][0] ^= 1
    elif field == "counter":
        last["weight_writes"] += 1
    elif field == "class count":
        last["counts"][0] += 1
    elif field == "spike":
        last["steps_raster"][0]["s_r"] ^= 1
    return run


@pytest.mark.parametrize("field", ["weight word", "final LFSR", "sample LFSR", "counter",
                                   "class count", "spike"])
def test_compare_catches_a_fault_in_every_field_it_compares(two_layer_run, field):
    """Each field the chip reports, changed by one (as a broken memory word, LFSR,
    counter or spike would), makes the same comparison fail, and say where: the sample
    for per-sample fields, the weights or LFSRs after the run for the rest."""
    cfg, topo, weights, u, labels, run = two_layer_run
    r = side_by_side(Network(cfg, topo, weights.copy()), u, labels, True,
                     _perturbed(run, field))
    assert not r["bit_exact"], field
    where = r["first_divergence"]
    assert where["sample"] == len(u) - 1
    if field == "weight word":
        assert sum(r["weight_words_differing"]) == 1
    if field == "final LFSR":
        assert not r["lfsr_match"]


def test_compare_command(dataset, tmp_path):
    toml = tmp_path / "small.toml"
    toml.write_text(small_config("small").to_toml())
    cmd = [sys.executable, "-m", "gen", "compare", "--config", str(toml), "--data",
           str(dataset), "--samples", "3", "--learn"]
    out = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["bit_exact"] is True and r["samples"] == 3 and r["learn"] is True
    assert 0 < r["weight_memory_utilisation"] <= 1
    text = subprocess.run(cmd + ["--fmax", "30"], capture_output=True, text=True,
                          timeout=900)
    assert text.returncode == 0, text.stderr
    assert "bit exact: yes" in text.stdout and "M synaptic events/s" in text.stdout
    bad = subprocess.run(cmd[:-1] + ["--samples", "100000"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "--samples must be 1.." in bad.stderr
    assert "Traceback" not in bad.stderr
