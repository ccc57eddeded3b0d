"""gen/plots.py: the raster marks the divergence the rasters have, the train figure
draws what the history and the weights hold, the resource chart what the report holds.
The figures themselves were checked by eye (docs/compare.md, docs/build.md); these tests
check what each function computes and reports, not pixels."""
import json

import numpy as np
import pytest

from gen import plots
from gen.cli import EXIT_ERROR, main
from gen.config import Config
from sim.compare import chip_raster, first_divergence, model_raster, spike_mismatches
from sim.model import Network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = {"sizes.n_in": 8, "sizes.cores": 3, "sizes.neurons": 8, "sizes.classes": 3,
         "sizes.per_class": 2, "sizes.steps": 8, "topology.axons_per_edge": 4}


def _probe_records(raster: dict, cfg) -> list:
    """What sim/tb_chip.py's StepProbe records for a raster: integers, bit i neuron i,
    hidden spikes one integer a logical core."""
    N = cfg.sizes.neurons

    def word(bits):
        return int(sum(int(b) << i for i, b in enumerate(bits)))
    return [{"s_in": word(raster["s_in"][t]),
             "s_h": [word(raster["s_h"][t][g * N:(g + 1) * N])
                     for g in range(cfg.sizes.hidden // N)],
             "s_r": word(raster["s_r"][t])} for t in range(len(raster["s_h"]))]


@pytest.fixture(scope="module")
def sample():
    """(config, the model's raster of one learning sample) of the default network."""
    cfg = Config()
    net = Network(cfg)
    rng = np.random.default_rng(3)
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, size=(1, cfg.sizes.n_in))
    _, _, tr = net.run(u, np.array([2]), learn=True, record=True)
    raster = model_raster(tr[0], cfg)
    assert raster["s_h"].sum() > 0 and raster["s_in"].sum() > 0   # something to draw
    return cfg, raster


def test_chip_raster_reads_the_probe_records_back(sample):
    cfg, model = sample
    chip = chip_raster(_probe_records(model, cfg), cfg)
    for key in ("s_in", "s_h", "s_r"):
        assert np.array_equal(chip[key], model[key])
    assert "m" not in chip                      # the probe port has no modulators


def test_raster_of_agreeing_rasters_marks_nothing(sample, tmp_path):
    cfg, model = sample
    chip = chip_raster(_probe_records(model, cfg), cfg)
    path = tmp_path / "r.png"
    assert plots.raster(model, chip, cfg, path) is None
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("flips, first", [
    # (key, step, index) flipped in the chip's raster -> the first divergence (steps < 12,
    # the default's)
    ([("s_h", 9, 70)], ("s_h", 9, 70, 1, 6)),
    ([("s_h", 11, 200), ("s_r", 10, 5), ("s_h", 9, 70)], ("s_h", 9, 70, 1, 6)),
    ([("s_r", 3, 7), ("s_h", 3, 250)], ("s_h", 3, 250, 3, 58)),   # hidden before readout
    ([("s_in", 10, 1), ("s_h", 10, 0)], ("s_in", 10, 1, None, 1)),
])
def test_a_perturbed_chip_raster_marks_the_divergence_where_it_is(sample, tmp_path, flips,
                                                                   first):
    """The negative check: the chip raster perturbed at known (step, neuron)s; the plot
    marks the earliest (step-major, input before hidden before readout)."""
    cfg, model = sample
    chip = chip_raster(_probe_records(model, cfg), cfg)
    for key, t, j in flips:
        chip[key][t, j] ^= 1
    d = plots.raster(model, chip, cfg, tmp_path / "r.png", sample=0)
    key, t, j, core, neuron = first
    assert (d["key"], d["step"], d["index"], d["core"], d["neuron"]) == \
        (key, t, j, core, neuron)
    assert (d["model"], d["chip"]) == (int(model[key][t, j]), 1 - int(model[key][t, j]))
    assert d == first_divergence(model, chip, cfg)
    marked = {(m["key"], m["step"], m["index"]) for m in spike_mismatches(model, chip)}
    assert marked == {(k, t, j) for k, t, j in flips}


def test_a_chip_that_ran_fewer_steps_diverges_at_the_missing_step(sample, tmp_path):
    cfg, model = sample
    chip = {k: np.asarray(model[k])[:-2] for k in ("s_in", "s_h", "s_r")}
    d = plots.raster(model, chip, cfg, tmp_path / "r.png")
    assert d["key"] is None and d["step"] == cfg.sizes.steps - 2
    assert f"ran {cfg.sizes.steps - 2} steps" in d["where"]


@pytest.mark.parametrize("chip_counts, differ", [(None, []), ("one_off", [1])])
def test_raster_with_a_boards_class_counts_marks_the_classes_that_differ(
        sample, tmp_path, chip_counts, differ):
    """``run --plot``: no chip raster, the board's class counts beside the model's."""
    cfg, model = sample
    counts = [int(c) for c in model["s_r"].reshape(len(model["s_r"]), cfg.sizes.classes,
                                                    -1).sum(axis=(0, 2))]
    chip = list(counts)
    if chip_counts == "one_off":
        chip[1] += 1
    d = plots.raster(model, None, cfg, tmp_path / "c.png",
                     counts={"model": counts, "chip": chip, "chip_label": "chip"})
    assert d == ({"key": "counts", "classes": differ} if differ else None)
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_raster_without_a_chip_draws_the_model_alone(sample, tmp_path):
    cfg, model = sample
    assert plots.raster(model, None, cfg, tmp_path / "m.png") is None
    assert (tmp_path / "m.png").read_bytes().startswith(PNG_MAGIC)


# ---- compare --plot (compare stubbed with rasters of the model) ------------------------
@pytest.fixture
def compare_with_rasters(monkeypatch, sample):
    import sim.compare
    cfg, model = sample

    def fake(config, *, samples, rasters=False, **kw):
        pairs = []
        for i in range(samples):
            chip = chip_raster(_probe_records(model, cfg), cfg)
            if i == 1:
                chip["s_h"][5, 17] ^= 1
            pairs.append({"model": model, "chip": chip})
        rows = [{"sample": i, "label": 0, "match": i != 1} for i in range(samples)]
        return {"bit_exact": False, "lanes": 2, "task": "digits", "learn": True,
                "synaptic_events_per_cycle": 0.0, "cycles_per_sample": 1.0, "rows": rows,
                **({"rasters": pairs} if rasters else {})}
    monkeypatch.setattr(sim.compare, "compare", fake)


def test_compare_plot_draws_the_first_diverging_sample(compare_with_rasters, tmp_path,
                                                       capsys):
    path = tmp_path / "raster.png"
    assert main(["compare", "--samples", "3", "--plot", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "rasters" not in report
    assert report["plot"]["sample"] == 1
    d = report["plot"]["divergence"]
    assert (d["step"], d["key"], d["core"], d["neuron"]) == (5, "s_h", 0, 17)
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_compare_plot_sample_chooses_the_sample(compare_with_rasters, tmp_path, capsys):
    path = tmp_path / "raster.png"
    assert main(["compare", "--samples", "3", "--plot", str(path), "--plot-sample", "2",
                 "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["plot"]["sample"] == 2 and report["plot"]["divergence"] is None


@pytest.mark.parametrize("options, expected", [
    (["--plot-sample", "1"], "--plot-sample needs --plot FILE.png"),
    (["--plot", "{tmp}/r.png", "--plot-sample", "3"], "--plot-sample must be 0..2"),
    (["--plot", "{tmp}/no/r.png"], "no directory"),
])
def test_compare_plot_refuses_bad_options_before_running(options, expected, tmp_path,
                                                         capsys, monkeypatch):
    import sim.compare
    monkeypatch.setattr(sim.compare, "compare", lambda *a, **k: pytest.fail("ran"))
    options = [o.format(tmp=tmp_path) for o in options]
    assert main(["compare", "--samples", "3", *options]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err


# ---- train ---------------------------------------------------------------------------------
def test_train_history_has_the_gated_fraction_of_each_epoch(tmp_path, capsys):
    from sim import train as tr
    from sim.data import Dataset
    cfg = Config().replace(**SMALL).validate()
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 16)
    x = rng.integers(0, 4, size=(len(y), 8))
    for k in range(3):
        x[y == k, 2 * k:2 * k + 2] += 8
    x = np.minimum(x, cfg.dynamics.enc_theta)
    ds = Dataset("toy", x, y, x, y, cfg.dynamics.enc_theta, 3)
    res = tr.train(cfg, ds, epochs=2, progress=False)
    for h in res.history:
        assert 0.0 < h["gated_fraction"] <= 1.0
    # the epochs' steps are equal in number, so the run's fraction is their mean
    assert np.isclose(np.mean([h["gated_fraction"] for h in res.history]),
                      res.summary()["gated_fraction"])
    drawn = plots.curve(res.history, tmp_path / "c.png", "toy", net=res.net)
    assert drawn["gated_fraction"] == [h["gated_fraction"] for h in res.history]
    net = res.net
    N = cfg.sizes.neurons
    want = [(f"core {g}", int(net.in_mask[:, g * N:(g + 1) * N].sum() +
                              net.hh_mask[:, g * N:(g + 1) * N].sum()))
            for g in range(cfg.sizes.cores)] + [("readout", int(net.ro_mask.sum()))]
    assert drawn["banks"] == want
    syn = net.topology.synapse_counts()
    assert sum(n for _, n in want) == sum(syn[k] for k in ("input", "hidden", "readout",
                                                           "readout_bias"))


def test_train_command_writes_the_figure(tmp_path, capsys):
    from tests.test_cli import _dataset
    cfg = Config().replace(**SMALL).validate()
    cfg.save(tmp_path / "c.toml")
    data = _dataset(tmp_path / "d.npz")
    plot = tmp_path / "curve.png"
    assert main(["train", "--task", "digits", "--data", str(data), "--config",
                 str(tmp_path / "c.toml"), "--epochs", "2", "--out", str(tmp_path / "w.npz"),
                 "--plot", str(plot), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert all("gated_fraction" in h for h in summary["history"])
    assert plot.read_bytes().startswith(PNG_MAGIC)


# ---- build ---------------------------------------------------------------------------------
def _report(board="ice40", **used):
    cells = {"ice40": {"luts": "ICESTORM_LC", "ebr": "ICESTORM_RAM",
                       "spram": "ICESTORM_SPRAM", "dsp": "ICESTORM_DSP"},
             "ulx3s": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "ebr": "DP16KD",
                       "dsp": "MULT18X18D"}}[board]
    limits = {"ice40": {"luts": 5280, "ffs": 5280, "ebr": 30, "spram": 4, "dsp": 8},
              "ulx3s": {"luts": 83640, "ffs": 83640, "ebr": 208, "spram": 0,
                        "dsp": 156}}[board]
    res = {k: {"used": used.get(k, 1), "available": limits[k] or None,
               **({"cell": cells[k]} if k in cells else {})} for k in limits}
    return {"board": board, "device": "test", "resources": res, "limits": limits,
            "fmax": {"clk": {"achieved_mhz": 31.0, "constraint_mhz": 30.0, "met": True}},
            "clock": {"clock_hz": 30e6}}


def test_resource_chart_draws_the_reports_fractions(tmp_path):
    path = tmp_path / "resources.png"
    rows = plots.resources(_report(luts=4807, ffs=1864, ebr=17, spram=2, dsp=7), path)
    assert [(k, u, c) for k, _, u, c, _ in rows] == [
        ("luts", 4807, 5280), ("ffs", 1864, 5280), ("ebr", 17, 30), ("spram", 2, 4),
        ("dsp", 7, 8)]
    assert [round(f, 3) for *_, f in rows] == [0.910, 0.353, 0.567, 0.5, 0.875]
    assert rows[0][1] == "logic cells (LUT4+FF)" and rows[2][1] == "EBR (SB_RAM40_4K)"
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_resource_chart_of_an_ecp5_and_of_an_overfull_design(tmp_path):
    rows = plots.resources(_report("ulx3s", luts=8072, spram=0), tmp_path / "e.png")
    assert rows[0][1] == "LUT4" and rows[3][4] is None       # no SPRAM on the ECP5
    rows = plots.resources(_report(ebr=35), tmp_path / "o.png")
    assert rows[2][4] > 1                                    # drawn over the limit


def test_resource_chart_refuses_a_report_without_a_resource(tmp_path):
    rep = _report()
    del rep["resources"]["dsp"]
    with pytest.raises(ValueError, match="no 'dsp'"):
        plots.resources(rep, tmp_path / "x.png")


def test_sweep_lines_average_only_the_trials_that_ran_to_the_end(tmp_path):
    """ASHA stops trials at an early epoch: their accuracy is drawn (hollow) but kept
    out of the mean per value, which a value with only stopped trials does not get."""
    def row(v, acc, status):
        return {"task": "digits", "seed": 0, "x": v, "test_accuracy": acc, "status": status}
    rows = [row(1, 0.96, "done"), row(1, 0.90, "stopped early"), row(2, 0.95, "done"),
            row(2, 0.97, "done"), row(3, 0.80, "stopped early")]
    drawn = plots.sweep_params(rows, [("learning.x", "x")], "test_accuracy",
                               tmp_path / "p.png", tasks=["digits"])
    assert drawn["learning.x"]["digits"] == [(1, pytest.approx(0.96)), (2, pytest.approx(0.96))]
    assert (tmp_path / "p.png").stat().st_size > 0
