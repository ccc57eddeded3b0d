"""gen/sweep.py and `python -m gen sweep`: tiny sweeps on a real local Ray (one session
shared by the module), checked against direct `train` runs; the scheduler, resuming and
the spec's errors."""
import csv
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from gen import api
from gen.cli import EXIT_ERROR, main
from gen.config import load_config
from gen.sweep import (SpecError, base_config, load_spec, parse_spec, sweep, sweep_dataset,
                       trial_config)

REPO = pathlib.Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# digits on a 32-neuron network, 60 training samples: an epoch is well under a second
SMALL = """\
task = "digits"
epochs = 2
seeds = [0, 1]
samples = 60
[set]
"sizes.neurons" = 8
"topology.axons_per_edge" = 4
"""


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module (its start is most of a tiny sweep's time); the
    sweeps reuse it and leave it running, this fixture shuts it down."""
    from gen.sweep import _start_ray
    ray, started = _start_ray(None, 2)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def ran(ray_session, tmp_path_factory):
    """`python -m gen sweep` on 2 hidden learning rates x 2 seeds, 2 epochs: (out dir,
    its results.json, what it printed)."""
    d = tmp_path_factory.mktemp("sweep")
    spec = d / "spec.toml"
    spec.write_text(SMALL + '[search]\n"learning.eta_hidden_shift" = {grid = [6, 14]}\n')
    out = d / "out"
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["sweep", "--spec", str(spec), "--out", str(out), "--quiet"]) == 0
    return out, json.loads((out / "results.json").read_text()), buf.getvalue(), spec


def test_sweep_rows_are_train_runs_bit_for_bit(ran):
    out, results, _, spec_path = ran
    rows = results["rows"]
    assert len(rows) == 4 and {(r["seed"], r["learning.eta_hidden_shift"]) for r in rows} \
        == {(0, 6), (0, 14), (1, 6), (1, 14)}
    spec = load_spec(spec_path)
    base = base_config(spec, "digits")
    for r in rows:
        assert r["status"] == "done" and r["epochs"] == 2 and r["error"] is None
        cfg = trial_config(base, {"learning.eta_hidden_shift": r["learning.eta_hidden_shift"]})
        assert cfg.sizes.neurons == 8 and cfg.sizes.n_in == 64
        ds = api.dataset("digits", config=cfg)
        ds.x_train, ds.y_train = ds.x_train[:60], ds.y_train[:60]
        res = api.train("digits", config=cfg, data=ds, epochs=2, seed=r["seed"],
                        progress=False)
        s = res.summary()
        assert r["test_accuracy"] == s["test_accuracy"]          # bit for bit
        assert r["best_test_accuracy"] == s["best_test_accuracy"]
        assert r["train_accuracy"] == s["train_accuracy"]
        assert math.isclose(r["gated_fraction"], s["gated_fraction"], rel_tol=1e-12)
        assert math.isclose(r["weight_writes_per_sample"], s["weight_writes_per_sample"],
                            rel_tol=1e-12)
        assert r["wall_seconds"] > 0
    # the seeds differ: the sweep really ran each seed's sample order
    assert len({(r["test_accuracy"], r["gated_fraction"]) for r in rows}) > 2


def test_sweep_writes_csv_json_plots_and_the_best_config(ran):
    out, results, printed, spec_path = ran
    rows = results["rows"]
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    for t, r in zip(table, rows):
        assert float(t["test_accuracy"]) == r["test_accuracy"]
        assert int(t["seed"]) == r["seed"] and t["task"] == r["task"]
    for name in ("accuracy-per-parameter.png", "accuracy-vs-cost.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    # the best point: the highest mean over the seeds
    means = {}
    for r in rows:
        means.setdefault(r["learning.eta_hidden_shift"], []).append(r["test_accuracy"])
    top = max(means, key=lambda k: sum(means[k]) / 2)
    best = results["best"]["digits"][0]
    assert best["params"] == {"learning.eta_hidden_shift": top}
    assert best["mean"] == pytest.approx(sum(means[top]) / 2) and best["seeds"] == [0, 1]
    cfg = load_config(out / "best-digits.toml")       # `train --config` takes it as is
    want = trial_config(base_config(load_spec(spec_path), "digits"),
                        {"learning.eta_hidden_shift": top})
    assert cfg.to_dict() == want.to_dict()
    assert "best: python -m gen train --task digits --config" in printed
    assert f"{100 * best['mean']:.1f}% +- {100 * best['std']:.1f}" in printed


def test_resume_keeps_the_finished_trials(ran):
    out, results, _, spec_path = ran
    t0 = time.time()
    again = sweep(None, out, resume=True, progress=False)
    assert [r["trial_id"] for r in again["rows"]] == [r["trial_id"] for r in results["rows"]]
    assert [r["test_accuracy"] for r in again["rows"]] == \
        [r["test_accuracy"] for r in results["rows"]]
    assert [r["wall_seconds"] for r in again["rows"]] == \
        [r["wall_seconds"] for r in results["rows"]]        # not run again
    assert time.time() - t0 < 30
    # a different spec is refused rather than mixed in
    other = spec_path.with_name("other.toml")
    other.write_text(spec_path.read_text().replace("[6, 14]", "[6, 15]"))
    with pytest.raises(SpecError, match="differs from the spec"):
        sweep(other, out, resume=True, progress=False)


def test_asha_stops_the_trial_that_trails(ray_session, tmp_path):
    """eta_readout = 0 leaves the readout at chance: at the first rung ASHA stops it
    behind the trial that learns (one trial at a time, so the learner is recorded
    first)."""
    spec = parse_spec({"task": "digits", "epochs": 3, "seeds": [0], "samples": 60,
                       "max_concurrent": 1,
                       "set": {"sizes.neurons": 8, "topology.axons_per_edge": 4},
                       "search": {"learning.eta_readout": {"grid": [1, 0]}},
                       "scheduler": {"name": "asha", "grace_period": 1,
                                     "reduction_factor": 2}})
    res = sweep(spec, tmp_path / "asha", progress=False)
    rows = {r["learning.eta_readout"]: r for r in res["rows"]}
    assert rows[1]["epochs"] == 3 and rows[1]["status"] == "done"
    assert rows[0]["epochs"] == 1 and rows[0]["status"] == "stopped early"
    assert rows[0]["test_accuracy"] < rows[1]["test_accuracy"]
    assert res["best"]["digits"][0]["params"] == {"learning.eta_readout": 1}


def test_an_interrupted_sweep_resumes_where_it_stopped(ray_session, tmp_path):
    """A sweep interrupted by SIGINT (Ctrl-C) after its first trial: Tune saves its
    state, the command writes what it has and exits 130; --resume runs the rest and
    keeps the first trial as it was."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SMALL.replace("seeds = [0, 1]", "seeds = [0]\nmax_concurrent = 1")
                    + '[search]\n"learning.eta_hidden_shift" = {grid = [6, 10, 12, 14]}\n')
    out = tmp_path / "out"
    # the progress line of a finished trial is printed by Tune's driver the moment the
    # trial completes (its result.json may be flushed later, after more trials ran)
    proc = subprocess.Popen([sys.executable, "-m", "gen", "sweep", "--spec", str(spec),
                             "--out", str(out), "--cpus", "1"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    while not any(": test " in line for line in seen):
        line = proc.stdout.readline()
        assert line, "the sweep ended before a trial finished:\n" + "".join(seen)
        seen.append(line)
    proc.send_signal(signal.SIGINT)
    text = "".join(seen) + proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, text
    assert "interrupted: `python -m gen sweep --resume" in text
    before = json.loads((out / "results.json").read_text())["rows"]
    done = [r for r in before if r["status"] == "done"]
    assert done and len(done) < 4
    # the rest were running (unfinished) or not yet started (no row) when it stopped
    assert len(before) < 4 or any(r["status"] == "unfinished" for r in before)
    res = sweep(None, out, resume=True, progress=False)
    rows = res["rows"]
    assert [r["learning.eta_hidden_shift"] for r in rows] == [6, 10, 12, 14]
    assert all(r["status"] == "done" and r["epochs"] == 2 for r in rows)
    assert not res["interrupted"]
    again = {r["trial_id"]: r for r in rows}
    for r in done:                                   # kept, not run again
        assert again[r["trial_id"]]["wall_seconds"] == r["wall_seconds"]
        assert again[r["trial_id"]]["test_accuracy"] == r["test_accuracy"]


@pytest.mark.parametrize("text, expected", [
    ('[search]\n"learning.nope" = {grid = [1]}\n', "unknown config field 'learning.nope'"),
    ('[search]\n"learning.eta_hidden_shift" = {normal = [1, 2]}\n',
     "has space 'normal'; known spaces: grid, choice, randint, uniform"),
    ('[search]\n"learning.eta_hidden_shift" = {grid = []}\n', "grid = [] must be a non-empty list"),
    ('[search]\n"learning.eta_hidden_shift" = {grid = [14, 17]}\n',
     "'learning.eta_hidden_shift' value 17 is refused for task digits: "
     "learning.eta_hidden_shift = 17 is out of range: must be 0..16"),
    ('[search]\n"dynamics.theta" = {randint = [200, 100]}\n', "must be [lo, hi] with lo < hi"),
    ('[search]\n"learning.learn_hidden" = {uniform = [0, 1]}\n', "use grid or choice"),
    ('[set]\n"sizes.neurons" = 0\n', "[set] is refused for task digits: sizes.neurons = 0"),
    ('epoch = 3\n', "unknown key 'epoch'"),
    ('task = "cifar"\n', "task = 'cifar' is not a benchmark"),
    ('seeds = []\n', "seeds = [] must be a non-empty list"),
    ('epochs = 2\n[scheduler]\nname = "asha"\ngrace_period = 3\n',
     "grace_period = 3 must be an integer 1..2 (epochs)"),
    ('[scheduler]\nname = "hyperband"\n', "name = 'hyperband' is not one of fifo, asha"),
    ('[scheduler]\nmetric = "loss"\n', "metric = 'loss' is not one of"),
    ('samples = 0\n', "samples = 0 must be an integer >= 1"),
    ('task = ["digits", "mnist1d"]\n[scheduler]\nname = "asha"\n',
     "asha\" with several tasks (digits, mnist1d): ASHA ranks all trials at a rung"),
])
def test_bad_specs_are_one_error_line_before_ray(text, expected, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["sweep", "--spec", str(spec), "--out", str(tmp_path / "out")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err and str(spec) in err
    assert not (tmp_path / "out").exists()          # refused before anything started


def test_resume_with_nothing_to_resume(tmp_path, capsys):
    assert main(["sweep", "--resume", "--out", str(tmp_path)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: nothing to resume in") and err.count("\n") == 1


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:1", "--address 127.0.0.1:1: no Ray cluster answers there"),
    ("nonsense", "--address 'nonsense' must be HOST:PORT"),
])
def test_an_address_without_a_cluster_is_refused_at_once(address, expected, tmp_path,
                                                         capsys):
    t0 = time.time()
    assert main(["sweep", "--address", address, "--out", str(tmp_path / "out")]) \
        == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert time.time() - t0 < 20 and not (tmp_path / "out").exists()


def test_the_shipped_default_spec_is_small_and_valid():
    spec = load_spec()
    assert spec.tasks == ["digits"] and spec.trials() == 6
    assert spec.samples == 300 and spec.epochs == 3
    assert load_spec("default").to_dict() == spec.to_dict()     # by name too


def test_every_shipped_spec_loads():
    """A shipped spec that no longer parses (a renamed field, a retired preset) is
    found here, not by the user who runs it."""
    from gen.sweep import sweep_specs
    for name in sweep_specs():
        assert load_spec(name).trials() >= 1, name


def test_uniform_over_an_int_field_is_rounded():
    base = load_config().replace(**{"sizes.n_in": 64}).validate()
    assert trial_config(base, {"dynamics.theta": 180.6}).dynamics.theta == 181
    ds = sweep_dataset("digits", base, 10)
    assert len(ds.x_train) == 10 and len(ds.x_test) > 10


def test_a_searched_network_seed_is_averaged_over_not_a_point():
    """The config field ``seed`` in [search] is a seed: a point is the other fields, its
    accuracy the mean over the network seeds (what gen/sweeps/digits-teacher.toml asks)."""
    from gen.sweep import best_per_task, format_summary
    spec = parse_spec({"task": "digits", "epochs": 1, "search": {
        "seed": {"grid": [1, 2, 3]}, "learning.margin": {"grid": [2, 4]}}})
    acc = {(1, 2): 0.90, (2, 2): 0.94, (3, 2): 0.92, (1, 4): 0.99, (2, 4): 0.80,
           (3, 4): 0.81}
    rows = [{"task": "digits", "seed": 0, "config.seed": s, "learning.margin": m,
             "test_accuracy": a, "epochs": 1, "status": "done", "gated_fraction": 0.1,
             "weight_writes_per_sample": 100.0} for (s, m), a in acc.items()]
    points = best_per_task(rows, spec)["digits"]
    assert [p["params"] for p in points] == [{"learning.margin": 2}, {"learning.margin": 4}]
    assert points[0]["network_seeds"] == [1, 2, 3]
    assert math.isclose(points[0]["mean"], 0.92) and math.isclose(points[0]["std"], 0.02)
    text = format_summary({"spec": spec, "best": {"digits": points}, "rows": rows,
                           "seconds": 1.0, "files": {}})
    assert "92.0% +- 2.0" in text and "config.seed" not in text
