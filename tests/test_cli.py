"""gen/cli.py: every command, its help, its exit status and its error messages."""
import json
import pathlib
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from boards import BOARDS
from gen.cli import EXIT_ERROR, get_parser, main
from gen.config import Config

REPO = pathlib.Path(__file__).resolve().parent.parent
COMMANDS = ["config", "topology", "train", "sweep", "eval", "build"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Small enough that one epoch on 48 samples takes well under a second.
TINY = {"sizes.n_in": 8, "sizes.cores": 3, "sizes.neurons": 8, "sizes.classes": 3,
        "sizes.per_class": 2, "sizes.steps": 8, "topology.axons_per_edge": 4}


def _dataset(path: pathlib.Path, n=60, features=8, classes=3, seed=0) -> pathlib.Path:
    """A separable, non-negative data set (so channels == features): class k lights up
    its own features."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n // classes)
    x = rng.random((len(y), features))
    for k in range(classes):
        x[y == k, 2 * k:2 * k + 2] += 5.0
    np.savez(path, X=x, y=y)
    return path


@pytest.fixture
def tiny(tmp_path):
    """(data .npz, config .toml) for a one-second training run."""
    cfg = Config().replace(**TINY).validate()
    cfg.save(tmp_path / "tiny.toml")
    return _dataset(tmp_path / "toy.npz"), tmp_path / "tiny.toml"


@pytest.fixture
def trained(tiny, tmp_path, capsys):
    """Weights from one epoch on the tiny data set."""
    data, config = tiny
    out = tmp_path / "w.npz"
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(config),
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    return out


# ---- parser and help --------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Example" in out
    assert "python -m gen " + command in out


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    assert "required" in capsys.readouterr().err


def test_parser_is_testable_without_running():
    args = get_parser().parse_args(["train", "--task", "mnist1d", "--epochs", "3"])
    assert (args.command, args.task, args.epochs, args.seed) == ("train", "mnist1d", 3, 0)
    assert args.out is None and args.plot is None and not args.freeze_hidden


# ---- config -----------------------------------------------------------------------------
def test_config_prints_toml_that_loads_back(capsys):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert Config.from_dict(tomllib.loads(text)).to_dict() == Config().to_dict()


def test_config_writes_a_file_and_reads_one(tmp_path, capsys):
    out = tmp_path / "c.toml"
    assert main(["config", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    out.write_text(out.read_text().replace("seed = 1", "seed = 99"))
    assert main(["config", "--config", str(out)]) == 0
    assert "seed = 99" in capsys.readouterr().out


@pytest.mark.parametrize("text, expected", [
    (None, "does not exist"),
    ("[sizes\n", "not valid TOML"),
    ("[widths]\nweight = 40\n", "widths.weight = 40"),
    ("[sizes]\nbogus = 1\n", "sizes.bogus"),
])
def test_config_errors_are_one_line_and_exit_2(tmp_path, capsys, text, expected):
    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    assert main(["config", "--config", str(path)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in err


# ---- topology ---------------------------------------------------------------------------
def test_topology_text(capsys):
    assert main(["topology"]) == 0
    out = capsys.readouterr().out
    for word in ("synapses", "routing_entries", "layer 0:", "clustering", "path length",
                 "sigma"):
        assert word in out


def test_topology_json(tiny, capsys):
    _, config = tiny
    assert main(["topology", "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["synapse_counts"]["hidden_neurons"] == 3 * 8
    assert len(report["core_graph"]) == 1
    assert all(a != b for a, b in report["core_graph"][0])
    assert len(report["core_rows"]) == 3
    assert report["small_world"]["nodes"] == 24


# ---- build ------------------------------------------------------------------------------
def test_build_unknown_board_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_:        # argparse's choices
        main(["build", "--board", "nope"])
    assert exit_.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    assert "'nope'" in err
    for name in BOARDS:
        assert name in err


def test_build_check_stops_before_synthesis(capsys, tmp_path):
    out = tmp_path / "build"
    assert main(["build", "--board", "ice40", "--check", "--out", str(out)]) == 0
    assert "fits" in capsys.readouterr().out
    assert not out.exists()


def test_build_json_and_weights(trained, capsys):
    assert main(["build", "--board", "ice40", "--weights", str(trained), "--check",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["board"] == "ice40"
    assert plan["neurons"]["hidden"] == 3 * 8         # the weights' own config
    assert plan["synapses"]["readout"] > 0


def test_build_refuses_a_bad_config_before_anything(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[sizes]\nneurons = 0\n")
    assert main(["build", "--board", "ice40", "--config", str(path)]) == EXIT_ERROR
    assert "sizes.neurons = 0" in capsys.readouterr().err


# ---- compare (the lanes it simulates; the chip runs are tests/test_chip.py) ---------------
@pytest.fixture
def compare_lanes(monkeypatch):
    """``compare`` stubbed: records the lanes the command asks for, simulates nothing."""
    import sim.compare
    class Seen(list):
        share = None
    seen = Seen()

    def fake(config, *, lanes, share, **kw):
        seen.append(lanes)
        seen.share = share
        return {"bit_exact": True, "lanes": lanes, "synaptic_events_per_cycle": 0.0,
                "cycles_per_sample": 1.0}
    monkeypatch.setattr(sim.compare, "compare", fake)
    return seen


@pytest.mark.parametrize("options, weight, lanes, share", [
    ([], 8, 2, 1), (["--lanes", "4"], 8, 4, 1), (["--board", "ice40"], 8, 2, 4),
    (["--board", "ice40"], 2, 8, 4), (["--board", "upduino"], 4, 4, 4),
    (["--board", "ulx3s"], 2, 4, 1), (["--board", "ulx3s"], 8, 4, 1),
    (["--board", "ice40", "--share", "2"], 8, 2, 2),
])
def test_compare_simulates_the_boards_lanes(options, weight, lanes, share, compare_lanes,
                                            tmp_path, capsys):
    """The default stays 2 lanes and a core each; ``--board`` takes gen.build.lanes_for
    (16 // widths.weight on the UP5K boards, 4 or fewer on the ECP5: a 32-bit host word)
    and the learning chip's share (a layer's
    cores on one physical core on the UP5K) unless ``--share`` says."""
    path = tmp_path / "c.toml"
    Config().replace(**{"widths.weight": weight, "init_scale": 1, "init_rec_scale": 1}) \
        .validate().save(path)
    assert main(["compare", "--config", str(path), "--json", *options]) == 0
    assert compare_lanes == [lanes] and compare_lanes.share == share
    assert json.loads(capsys.readouterr().out)["lanes"] == lanes


@pytest.mark.parametrize("options, expected", [
    (["--lanes", "5"], "--lanes must be 1..4 for widths.weight = 8 (a host-link word holds "
                       "32 bits), not 5"),
    (["--lanes", "0"], "argument --lanes: 0 must be >= 1"),
    (["--lanes", "2", "--board", "ice40"], "--board: not allowed with argument --lanes"),
    (["--board", "nope"], "invalid choice: 'nope'"),
])
def test_compare_refuses_bad_lanes_before_building(options, expected, compare_lanes, capsys):
    try:
        status = main(["compare", *options])
    except SystemExit as e:                         # argparse's own checks
        status = e.code
    assert status == EXIT_ERROR and compare_lanes == []
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


# ---- train and eval ---------------------------------------------------------------------
def test_train_unknown_task_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "digits" in err


@pytest.mark.parametrize("epochs", ["0", "-1", "x"])
def test_train_bad_epochs_is_refused(epochs, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "digits", "--epochs", epochs])
    assert e.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_train_writes_weights_and_curve_then_eval_scores_them(tiny, tmp_path, capsys):
    data, config = tiny
    out = tmp_path / "w.npz"
    # --data alone: no --task needed (issue 14 item 6)
    assert main(["train", "--data", str(data), "--config", str(config),
                 "--epochs", "1", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "epoch 1: train" in stdout and "test" in stdout
    assert str(out) in stdout
    plot = tmp_path / "w-curve.png"
    assert out.exists() and plot.read_bytes().startswith(PNG_MAGIC)

    assert main(["eval", "--weights", str(out), "--data", str(data)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    # without --task or --data, eval uses the data the weights were trained on
    assert main(["eval", "--weights", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["samples"] == 12
    assert np.array(result["confusion"]).shape == (3, 3)


def test_train_needs_a_task_or_data(capsys):
    assert main(["train", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: give --task") and "--data" in err


def test_train_json_is_the_only_stdout(tiny, tmp_path, capsys):
    data, config = tiny
    out, plot = tmp_path / "a.npz", tmp_path / "curve.png"
    assert main(["train", "--task", "mnist1d", "--data", str(data), "--config", str(config),
                 "--epochs", "2", "--out", str(out), "--plot", str(plot), "--json",
                 "--freeze-hidden"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["task"] == "mnist1d"
    assert summary["weights"] == str(out) and summary["plot"] == str(plot)
    assert summary["epochs"] == 2 and len(summary["history"]) == 2
    assert summary["learn_hidden"] is False
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert "epoch 2: train" in captured.err
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_train_ablation_reports_both_runs(tiny, tmp_path, capsys):
    data, config = tiny
    out = tmp_path / "a.npz"
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(config),
                 "--epochs", "1", "--out", str(out), "--json", "--quiet",
                 "--ablation"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["learn_hidden"] is True
    assert summary["readout_only"]["learn_hidden"] is False
    gain = summary["test_accuracy"] - summary["readout_only"]["test_accuracy"]
    assert summary["hidden_learning_gain"] == pytest.approx(gain)
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(config),
                 "--ablation", "--freeze-hidden"]) == EXIT_ERROR
    assert "--ablation" in capsys.readouterr().err


def test_train_default_output_names(tiny, tmp_path, monkeypatch, capsys):
    data, config = tiny
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(config),
                 "--epochs", "1", "--quiet"]) == 0
    assert (tmp_path / "swirl-digits.npz").exists()
    assert (tmp_path / "swirl-digits-curve.png").exists()


@pytest.mark.parametrize("make, expected", [
    (lambda p: p / "missing.npz", "no such file"),
    (lambda p: (p / "junk.npz").write_text("not a zip") and p / "junk.npz", "not a readable"),
    (lambda p: np.savez(p / "noy.npz", X=np.zeros((4, 2))) or p / "noy.npz", "'y'"),
])
def test_train_bad_data_exits_2_with_a_message(tmp_path, capsys, make, expected):
    path = make(tmp_path)
    assert main(["train", "--task", "digits", "--data", str(path), "--epochs", "1",
                 "--out", str(tmp_path / "w.npz"), "--quiet"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "w.npz").exists()


def test_train_config_that_does_not_fit_the_data(tiny, tmp_path, capsys):
    data, _ = tiny
    narrow = tmp_path / "n_in.toml"
    Config().replace(**{**TINY, "sizes.n_in": 16}).save(narrow)
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(narrow),
                 "--quiet"]) == EXIT_ERROR
    assert "sizes.n_in = 16" in capsys.readouterr().err
    two = tmp_path / "classes.toml"
    Config().replace(**{**TINY, "sizes.classes": 2}).save(two)
    assert main(["train", "--task", "digits", "--data", str(data), "--config", str(two),
                 "--quiet"]) == EXIT_ERROR
    assert "sizes.classes = 2" in capsys.readouterr().err


def test_train_checks_output_directories_before_training(tiny, tmp_path, capsys):
    data, config = tiny
    for extra in (["--out", str(tmp_path / "no" / "w.npz")],
                  ["--plot", str(tmp_path / "no" / "c.png")]):
        assert main(["train", "--task", "digits", "--data", str(data), "--config",
                     str(config), "--quiet", *extra]) == EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith("error: cannot write") and "no directory" in err


def test_unwritable_output_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["config", "--out", str(tmp_path / "no" / "c.toml")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "c.toml" in err and "Traceback" not in err


def test_eval_missing_weights(tmp_path, capsys):
    assert main(["eval", "--weights", str(tmp_path / "nope.npz")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.npz" in err


def test_eval_data_with_other_channels(trained, tmp_path, capsys):
    other = _dataset(tmp_path / "wide.npz", features=12)
    assert main(["eval", "--weights", str(trained), "--data", str(other)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "X has 12 features" in err and "has 8" in err


# ---- entry points -----------------------------------------------------------------------
def test_python_dash_m_gen_runs():
    proc = subprocess.run([sys.executable, "-m", "gen", "build", "--board", "ice40",
                           "--check"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fits" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("lanes", [5, 64])
def test_verilog_refuses_lanes_the_host_link_cannot_carry(lanes, tmp_path, capsys):
    out = tmp_path / "chip.v"
    assert main(["verilog", "--lanes", str(lanes), "-o", str(out)]) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == (
        f"error: --lanes must be 1..4 for widths.weight = 8 (a host-link word holds 32 "
        f"bits), not {lanes}")
    assert not out.exists()
