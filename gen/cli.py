"""The SWIRL command line: ``python -m gen <command>`` (or ``swirl <command>``).

Commands
- ``config``: print or write the config as TOML (the shipped default without --config);
- ``topology``: generate the small-world wiring and report synapses, core graph and
  small-world metrics;
- ``train``: train the golden model online on a benchmark, save weights and a learning
  curve;
- ``eval``: score saved weights on a benchmark's test set;
- ``build``: check a config against a board, then synthesise it into a bitstream with
  a report;
- ``verilog``: the chip's Verilog alone;
- ``compare``: the whole chip under Verilator, through its host link, beside the golden
  model on the same samples.

:func:`get_parser` builds the parser, :func:`main` runs one command and returns the exit
status: 0 on success, 1 when a tool fails, 2 for a bad argument, config, data or file
(one ``error:`` line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys

from boards import BOARDS, known_boards
from sim.data import TASKS, DataError, load_task

from .config import Config, ConfigError, load_config, presets

__all__ = ["get_parser", "main", "run_main", "EXIT_OK", "EXIT_ERROR"]

EXIT_OK = 0
EXIT_ERROR = 2              # bad argument, config, data or file

# What a user can get wrong; everything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, DataError, ValueError, OSError)


# ---- parser ---------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be > 0")
    return value


def _command(subparsers, name: str, help: str, example: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".",
        epilog="Example:\n  " + example,
        formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=pathlib.Path, metavar="FILE",
                   help="TOML config, or a shipped preset's name ("
                        f"{', '.join(presets())}; default: the shipped default, see "
                        "`config`)")


def _add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout instead of text")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gen",
        description="SWIRL: generate FPGA hardware for a learning small-world spiking "
                    "network, and train its bit-exact golden model.",
        epilog="Examples:\n"
               "  python -m gen config --out my.toml\n"
               "  python -m gen train --task digits --epochs 5\n"
               "  python -m gen build --board ice40 --config my.toml\n\n"
               "Run `python -m gen COMMAND --help` for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = _command(sub, "config", "print or write the config as TOML",
                 "python -m gen config --out swirl.toml   # edit it, then pass --config")
    _add_config_option(p)
    p.add_argument("--out", type=pathlib.Path, metavar="FILE",
                   help="write the TOML to FILE instead of stdout")
    p.set_defaults(func=cmd_config)

    p = _command(sub, "topology", "generate the small-world wiring and report on it",
                 "python -m gen topology --config swirl.toml --json")
    _add_config_option(p)
    _add_json_option(p)
    p.set_defaults(func=cmd_topology)

    p = _command(sub, "train", "train the golden model online on a benchmark",
                 "python -m gen train --task digits --epochs 5 --out digits.npz\n"
                 "  python -m gen train --task digits --data mine.npz   "
                 "# X, y (X_test, y_test) arrays")
    p.add_argument("--task", required=True, choices=TASKS,
                   help="benchmark (with --data: only a label)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data: an .npz with X and y (optional X_test, y_test)")
    _add_config_option(p)
    p.add_argument("--epochs", type=_positive_int, default=10, help="passes (default: 10)")
    p.add_argument("--seed", type=int, default=0,
                   help="sample order seed (default: 0; the network's seed is in the config)")
    p.add_argument("--out", type=pathlib.Path, metavar="FILE.npz",
                   help="weights file (default: swirl-<task>.npz)")
    p.add_argument("--plot", type=pathlib.Path, metavar="FILE.png",
                   help="learning curve (default: <out stem>-curve.png next to --out)")
    p.add_argument("--freeze-hidden", action="store_true",
                   help="learn the readout only (learning.learn_hidden = false)")
    p.add_argument("--ablation", action="store_true",
                   help="also train the same network with the hidden weights frozen and "
                        "report both (what hidden learning adds); doubles the time")
    _add_json_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.set_defaults(func=cmd_train)

    p = _command(sub, "eval", "score saved weights on a benchmark's test set",
                 "python -m gen eval --weights swirl-digits.npz --task digits")
    p.add_argument("--weights", type=pathlib.Path, required=True, metavar="FILE.npz",
                   help="weights written by `train`")
    p.add_argument("--task", choices=TASKS,
                   help="benchmark (default: the one the weights were trained on)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data, as for `train`")
    _add_json_option(p)
    p.set_defaults(func=cmd_eval)

    p = _command(sub, "build", "check a config against a board and build its bitstream",
                 "python -m gen build --board ice40 --weights swirl-digits.npz --out build/")
    p.add_argument("--board", required=True, choices=sorted(BOARDS),
                   help=f"target board: {known_boards()}")
    _add_config_option(p)
    p.add_argument("--weights", type=pathlib.Path, metavar="FILE.npz",
                   help="trained weights to preload (their config is used); written as "
                        "load.bin, the host-link stream that loads them")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("build"), metavar="DIR",
                   help="output directory (default: build)")
    p.add_argument("--check", action="store_true",
                   help="stop after the fit check (no elaboration or synthesis)")
    p.add_argument("--learning", choices=("auto", "on", "off"), default="auto",
                   help="build the on-chip learning unit (auto: the board's default, on "
                        "for every board; off: the inference chip, on the UP5K with a "
                        "physical core per logical one)")
    p.add_argument("--clock", type=_positive_float, metavar="MHZ",
                   help="the clock to run at: the board's PLL makes the fastest it can at "
                        "or below this, and nextpnr checks the design against it (default: "
                        + ", ".join(f"{k} {v.clock_hz / 1e6:.2f}" for k, v in
                                    sorted(BOARDS.items())) + " MHz)")
    _add_json_option(p)
    p.set_defaults(func=cmd_build)

    p = _command(sub, "energy", "estimate a built chip's power and energy (Verilator "
                 "activity x sourced coefficients; an estimate, not a measurement)",
                 "python -m gen energy --build build/   # after `build --out build/`")
    p.add_argument("--build", type=pathlib.Path, default=pathlib.Path("build"), metavar="DIR",
                   help="the build's output directory, with its report.json (default: "
                        "build); energy.json and activity.json are written there and the "
                        "estimate is added to report.json and summary.txt")
    _add_config_option(p)
    p.add_argument("--weights", type=pathlib.Path, metavar="FILE.npz",
                   help="trained weights to run the activity with (their config is used)")
    p.add_argument("--samples", type=_positive_int, default=2, metavar="N",
                   help="digits test samples the activity is measured on (default: 2; "
                        "runs of 1 and 1 + N samples are simulated, the difference counts)")
    p.add_argument("--activity", type=pathlib.Path, metavar="FILE.json",
                   help="reuse a measured activity.json instead of simulating")
    p.add_argument("--coefficients", type=pathlib.Path, metavar="FILE.json",
                   help="per-resource coefficients with sources (default: the shipped "
                        "iCE40 UP5K table of gen/energy.py; other devices need one)")
    _add_json_option(p)
    p.set_defaults(func=cmd_energy)

    p = _command(sub, "verilog", "write the chip's Verilog (generic memories, no board)",
                 "python -m gen verilog --config swirl.toml -o swirl.v")
    _add_config_option(p)
    p.add_argument("-o", "--out", type=pathlib.Path, required=True, metavar="FILE.v",
                   help="Verilog file to write")
    p.add_argument("--lanes", type=_positive_int, default=2,
                   help="weights per memory word (default: 2)")
    p.add_argument("--learning", choices=("on", "off"), default="on",
                   help="include the on-chip learning unit (default: on)")
    p.set_defaults(func=cmd_verilog)

    p = _command(sub, "compare", "run the whole chip under Verilator beside the golden model",
                 "python -m gen compare --task digits --samples 20 --learn")
    _add_config_option(p)
    p.add_argument("--task", choices=TASKS, default="digits",
                   help="benchmark whose test samples to run (default: digits)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data, as for `train`")
    p.add_argument("--samples", type=_positive_int, default=20,
                   help="test samples to run (default: 20)")
    p.add_argument("--learn", action="store_true",
                   help="learn on every sample (on chip and in the model), then compare "
                        "every weight")
    p.add_argument("--weights", type=pathlib.Path, metavar="FILE.npz",
                   help="start from trained weights (their config is used)")
    p.add_argument("--fmax", type=float, metavar="MHZ",
                   help="clock for events/s and samples/s (default: the Fmax in "
                        "build/report.json, if there is one)")
    p.add_argument("--share", type=_positive_int, default=1, metavar="S",
                   help="logical cores per physical core, as the chip is built (the UP5K "
                        "learning chip: sizes.cores; default: 1)")
    lanes = p.add_mutually_exclusive_group()
    lanes.add_argument("--board", choices=sorted(BOARDS),
                       help="simulate the weight words as this board builds them (its "
                            "lanes: 16 // widths.weight on the UP5K boards, else 2): "
                            f"{known_boards()}")
    lanes.add_argument("--lanes", type=_positive_int, metavar="L",
                       help="weights per memory word, 1 .. 32 // widths.weight (default: "
                            "2)")
    p.add_argument("--work", type=pathlib.Path, metavar="DIR",
                   help="keep the simulation's files (image, samples, sim.log) in DIR")
    p.add_argument("--plot", type=pathlib.Path, metavar="FILE.png",
                   help="write a spike raster of one sample, model beside chip, the first "
                        "divergence marked (gen/plots.py raster)")
    p.add_argument("--plot-sample", type=int, default=None, metavar="K",
                   help="the sample --plot draws (default: the first that diverges, else "
                        "0)")
    _add_json_option(p)
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:         # e.g. `python -m gen topology | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as e:
        print(f"error: {_message(e)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_main() -> None:
    """Entry point of the ``swirl`` console script."""
    sys.exit(main())


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


# ---- helpers --------------------------------------------------------------------------
def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "tolist"):      # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, pathlib.Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _load_data(task, data, config: Config | None = None):
    """The dataset, quantised to the encoder's range of ``config`` (default config
    when None)."""
    levels = (config or Config()).dynamics.enc_theta
    return load_task(task, data, levels=levels)


def _check_fits(config: Config, ds) -> None:
    s = config.sizes
    if ds.channels != s.n_in:
        raise ConfigError(f"sizes.n_in = {s.n_in} but the data {ds.name!r} has "
                          f"{ds.channels} input channels")
    if ds.classes > s.classes:
        raise ConfigError(f"sizes.classes = {s.classes} but the data {ds.name!r} has "
                          f"{ds.classes} classes")


def _read_meta(path: pathlib.Path) -> dict:
    """The ``meta`` JSON that ``train`` stored next to the weights ({} if none)."""
    import numpy as np
    try:
        with np.load(path) as f:
            return json.loads(str(f["meta"])) if "meta" in f else {}
    except (OSError, ValueError):
        return {}   # load_weights reports unreadable files with a better message


def _config_and_weights(args):
    """``(config, network or None)`` from ``--config`` and ``--weights``: trained weights
    bring their own config, and a different ``--config`` beside them is refused."""
    cfg = load_config(args.config)
    if args.weights is None:
        return cfg, None
    from sim.train import load_weights
    net = load_weights(args.weights)
    if args.config is not None and net.config.to_dict() != cfg.to_dict():
        raise ConfigError(f"{args.weights} was trained with another config than "
                          f"{args.config}; drop --config to use the weights' own")
    return net.config, net


# ---- commands -------------------------------------------------------------------------
def cmd_config(args) -> int:
    text = load_config(args.config).to_toml()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_topology(args) -> int:
    from .topology import make_topology, small_world_metrics
    cfg = load_config(args.config)
    topo = make_topology(cfg)
    report = {
        "synapse_counts": topo.synapse_counts(),
        "core_graph": [[list(e) for e in edges] for edges in topo.core_graph],
        "core_rows": [{"core": g, "feed_forward": rows.n_ff, "local": rows.n_local,
                       "long_range": rows.n_long_range} for g, rows in enumerate(topo.cores)],
        "small_world": small_world_metrics(topo),
    }
    if args.json:
        _print_json(report)
        return EXIT_OK
    print("synapses:")
    for k, v in report["synapse_counts"].items():
        print(f"  {k:16} {v}")
    print(f"core graph (Watts-Strogatz, k = {cfg.topology.ws_neighbours}, "
          f"p = {cfg.topology.ws_rewire}, seed = {cfg.seed}), directed edges per layer:")
    for layer, edges in enumerate(topo.core_graph):
        print(f"  layer {layer}: " + (", ".join(f"{a}->{b}" for a, b in edges) or "none"))
    print("crossbar rows per core (feed-forward + local + long-range):")
    for r in report["core_rows"]:
        print(f"  core {r['core']}: {r['feed_forward']} + {r['local']} + {r['long_range']}")
    m = report["small_world"]
    print(f"small world over {m['nodes']} hidden neurons, {m['edges']} undirected edges:")
    print(f"  clustering   {m['clustering']:.3f} (random graph {m['clustering_random']:.3f})")
    print(f"  path length  {m['path_length']:.3f} (random graph {m['path_length_random']:.3f})")
    print(f"  sigma        {m['sigma']:.2f} (> 1: small world)")
    return EXIT_OK


def cmd_train(args) -> int:
    from sim import train as tr
    base = load_config(args.config) if args.config else None
    ds = _load_data(args.task, args.data, base)
    cfg = tr.task_config(args.task, ds.channels, base=base, classes=ds.classes)
    if args.freeze_hidden and args.ablation:
        raise ValueError("--ablation already trains a frozen-hidden twin; drop "
                         "--freeze-hidden")
    if args.freeze_hidden:
        cfg = cfg.replace(**{"learning.learn_hidden": False}).validate()
    _check_fits(cfg, ds)
    out = args.out or pathlib.Path(f"swirl-{args.task}.npz")
    plot = args.plot or out.with_name(out.stem + "-curve.png")
    for path in (out, plot):        # fail now, not after a long training run
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: no directory {path.parent}")
    log = sys.stderr if args.json else sys.stdout

    def on_epoch(h):
        if not args.quiet:
            print(f"epoch {h['epoch']}: train {_pct(h['train_accuracy'])} "
                  f"test {_pct(h['test_accuracy'])}", file=log, flush=True)

    res = tr.train(cfg, ds, args.epochs, args.seed, progress=not args.quiet,
                   on_epoch=on_epoch)
    meta = {"task": args.task, "data": str(args.data) if args.data else None,
            "epochs": args.epochs, "seed": args.seed, "test_accuracy": res.test_accuracy}
    tr.save_weights(out, res.net, meta=meta)
    frozen = None
    if args.ablation:
        if not args.quiet:
            print("ablation: the same network with the hidden weights frozen", file=log)
        frozen = tr.train(cfg.replace(**{"learning.learn_hidden": False}), ds, args.epochs,
                          args.seed, progress=not args.quiet, on_epoch=on_epoch)
    from .plots import curve
    curve(res.history, plot, title=f"SWIRL on {ds.name}",
          frozen=frozen.history if frozen else None, net=res.net)
    summary = {"task": args.task, "data": meta["data"], **res.summary(),
               "weights": str(out), "plot": str(plot)}
    if frozen is not None:
        summary["readout_only"] = frozen.summary()
        summary["hidden_learning_gain"] = res.test_accuracy - frozen.test_accuracy
    if args.json:
        _print_json(summary)
        return EXIT_OK
    print(f"{ds.name}: test {_pct(summary['test_accuracy'])} "
          f"(best {_pct(summary['best_test_accuracy'])}), "
          f"train {_pct(summary['train_accuracy'])} after {summary['epochs']} "
          f"epoch{'s' if summary['epochs'] != 1 else ''}")
    print(f"  learning gated on {_pct(summary['gated_fraction'])} of steps, "
          f"{summary['weight_writes_per_sample']:.0f} weight writes per sample, "
          f"{summary['samples_per_second']:.1f} samples/s (golden model)")
    if frozen is not None:
        print(f"  readout only (hidden frozen): test {_pct(frozen.test_accuracy)}; hidden "
              f"learning adds {100 * summary['hidden_learning_gain']:+.1f} points")
    print(f"  weights: {out}")
    print(f"  learning curve: {plot}")
    return EXIT_OK


def cmd_eval(args) -> int:
    from sim import train as tr
    net = tr.load_weights(args.weights)
    meta = _read_meta(args.weights)
    task = args.task or meta.get("task")
    data = args.data
    if data is None and args.task is None and meta.get("data"):
        data = pathlib.Path(meta["data"])
    if task is None and data is None:
        raise ValueError(f"{args.weights} does not say which task it was trained on; "
                         f"give --task or --data")
    ds = _load_data(task, data, net.config)
    _check_fits(net.config, ds)
    result = {"task": task, "data": str(data) if data else None,
              "weights": str(args.weights), **tr.evaluate(net, ds)}
    if args.json:
        _print_json(result)
    else:
        print(f"{ds.name}: test accuracy {_pct(result['test_accuracy'])} "
              f"on {result['samples']} samples ({args.weights})")
    return EXIT_OK


def cmd_build(args) -> int:
    from boards import get_board
    from . import build as b
    board = get_board(args.board)
    cfg, net = _config_and_weights(args)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    learning = {"auto": None, "on": True, "off": False}[args.learning]
    clock_hz = args.clock * 1e6 if args.clock else None
    if args.check:
        from .topology import make_topology
        clock = board.clock(clock_hz)
        topo = make_topology(cfg)
        plan = b.plan_build(cfg, board, topo, learning)
        b.check_fits(cfg, board, plan)
        s = cfg.sizes
        result = {"board": board.name, "fits": True, "plan": plan, "clock": clock.as_dict(),
                  "neurons": {"input_channels": s.n_in, "hidden": s.hidden,
                              "readout": s.readout, "modulators": s.modulators},
                  "synapses": topo.synapse_counts()}
        if args.json:
            _print_json(result)
        else:
            n_banks = len(plan["weight_banks"])
            print(f"{board.name}: fits ({'with' if plan['learning'] else 'without'} "
                  f"on-chip learning, {len(topo.cores)} hidden cores on {n_banks} physical "
                  f"{'core' if n_banks == 1 else 'cores'} and weight "
                  f"{'bank' if n_banks == 1 else 'banks'}, {plan['spram']} SPRAM, "
                  f"~{plan['ebr_estimate_total']} EBR of {board.limits.ebr}, "
                  f"lanes {plan['lanes']}; clock {clock.describe()})")
        return EXIT_OK
    try:
        report = b.run_build(cfg, board, args.out, weights=net, log=log, learning=learning,
                             clock_hz=clock_hz)
    except b.BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(report)
    else:
        sys.stdout.write(b.summary_text(report))
        print(f"bitstream {args.out / report['bitstream']}, report {args.out / 'report.json'}")
    return EXIT_OK


def _report_fmax_hz(path: pathlib.Path = pathlib.Path("build") / "report.json"):
    try:
        report = json.loads(path.read_text())
        clocks = report.get("fmax") or {}
        return min(v["achieved_mhz"] for v in clocks.values()) * 1e6 if clocks else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _compare_lanes(args, cfg: Config) -> int:
    """The lanes ``compare`` simulates: ``--lanes``, the board's (``--board``), else
    sim.compare.LANES (2); refused before anything is built if the host link cannot
    carry that word."""
    from sim.compare import LANES, check_lanes
    if args.board is not None:
        from boards import get_board
        from .build import lanes_for
        return check_lanes(cfg, lanes_for(cfg, get_board(args.board)))
    return check_lanes(cfg, LANES if args.lanes is None else args.lanes)


def cmd_compare(args) -> int:
    import time
    from sim.compare import compare, format_report
    cfg, net = _config_and_weights(args)
    weights = net.weights if net is not None else None
    lanes = _compare_lanes(args, cfg)
    start = time.time()

    def progress(stage, seconds):
        what = {"build": "Verilator build of the chip (cached in sim_build/)",
                "chip": "chip: load, run and read back through the UART",
                "model": "golden model"}[stage]
        print(f"[{time.time() - start:6.1f} s] {what}: {seconds:.1f} s", file=sys.stderr,
              flush=True)
    if args.plot_sample is not None and args.plot is None:
        raise ValueError("--plot-sample needs --plot FILE.png")
    if args.plot_sample is not None and not 0 <= args.plot_sample < args.samples:
        raise ValueError(f"--plot-sample must be 0..{args.samples - 1} (--samples "
                         f"{args.samples}), not {args.plot_sample}")
    if args.plot is not None and not args.plot.parent.is_dir():
        raise FileNotFoundError(f"cannot write {args.plot}: no directory {args.plot.parent}")
    print(f"compare: {args.samples} {args.task} samples, learning "
          f"{'on' if args.learn else 'off'}, lanes {lanes}; the first Verilator build of a "
          "config takes minutes", file=sys.stderr, flush=True)
    report = compare(cfg, task=args.task, samples=args.samples, learn=args.learn,
                     weights=weights, data=args.data, work=args.work, progress=progress,
                     share=args.share, lanes=lanes, rasters=args.plot is not None)
    if args.plot is not None:
        _plot_compare(report, cfg, args.plot, args.plot_sample)
    fmax = args.fmax * 1e6 if args.fmax else _report_fmax_hz()
    if fmax:
        report["fmax_mhz"] = fmax / 1e6
        report["synaptic_events_per_second"] = report["synaptic_events_per_cycle"] * fmax
        report["samples_per_second"] = fmax / report["cycles_per_sample"]
    if args.json:
        _print_json(report)
    else:
        print(format_report(report, fmax))
    return EXIT_OK if report["bit_exact"] else 1


def _plot_compare(report: dict, cfg: Config, path: pathlib.Path, sample) -> None:
    """``compare --plot``: the raster of ``sample`` (default: the first sample that
    diverges, else 0); the report keeps where it is and what it marked."""
    from .plots import raster
    pairs = report.pop("rasters")
    if sample is None:
        sample = next((r["sample"] for r in report["rows"] if not r["match"]), 0)
    pair = pairs[sample]
    div = raster(pair["model"], pair["chip"], cfg, path, sample=sample,
                 title=f"{report['task']} sample {sample} (label "
                       f"{report['rows'][sample]['label']}), learning "
                       f"{'on' if report['learn'] else 'off'}")
    report["plot"] = {"file": str(path), "sample": sample, "divergence": div}
    print(f"raster of sample {sample}: {path}", file=sys.stderr)


def cmd_energy(args) -> int:
    from boards import get_board

    from . import energy as en
    from .build import summary_text
    from .topology import make_topology
    path = args.build / "report.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no build report {path}: run `python -m gen build --out "
                                f"{args.build}` first") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    coeffs = en.coefficients_for(report, args.coefficients)   # refuse before simulating
    if args.activity is not None:
        activity = json.loads(args.activity.read_text())
    else:
        cfg, net = _config_and_weights(args)
        if make_topology(cfg).synapse_counts() != report.get("synapses"):
            raise ConfigError(f"{path} was built from another config than the one given "
                              "(its synapse counts differ); give the build's --config")
        activity = en.measure_activity(
            cfg, get_board(report["board"]), args.build, weights=net,
            samples=(1, 1 + args.samples), learning=report["plan"]["learning"],
            progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        (args.build / "activity.json").write_text(json.dumps(activity, indent=2,
                                                             default=_json_default))
    est = en.estimate(report, activity, coeffs)
    (args.build / "energy.json").write_text(json.dumps(est, indent=2, default=_json_default))
    report["energy"] = est
    path.write_text(json.dumps(report, indent=2, default=_json_default))
    (args.build / "summary.txt").write_text(summary_text(report) + en.format_estimate(est))
    if args.json:
        _print_json(est)
    else:
        sys.stdout.write(en.format_estimate(est))
        print(f"estimate: {args.build / 'energy.json'} (and report.json, summary.txt)")
    return EXIT_OK


def cmd_verilog(args) -> int:
    from .build import emit_verilog
    cfg = load_config(args.config)
    args.out.write_text(emit_verilog(cfg, lanes=args.lanes, learning=args.learning == "on"))
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK
