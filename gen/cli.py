"""The SWIRL command line: ``python -m gen <command>`` (or ``swirl <command>``).

Commands
- ``config``: print or write the config as TOML (the shipped default without --config);
- ``topology``: generate the small-world wiring and report synapses, core graph and
  small-world metrics;
- ``train``: train the golden model online on a benchmark, save weights and a learning
  curve;
- ``sweep``: search config fields x seeds x tasks, each trial a ``train`` run, on Ray
  Tune (gen/sweep.py); the best config per task as a TOML file;
- ``eval``: score saved weights on a benchmark's test set;
- ``build``: check a config against a board, then synthesise it into a bitstream with
  a report;
- ``verilog``: the chip's Verilog alone;
- ``compare``: the whole chip under Verilator, through its host link, beside the golden
  model on the same samples;
- ``export`` / ``import``: the network as a NIR graph and back (gen/nir_io.py);
- ``program``: load a built bitstream into a board (gen/board.py);
- ``run``: stream samples through a chip over its UART beside the golden model, and train
  it on chip (gen/run.py).

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
from sim.data import TASKS, DataError

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
    p.add_argument("--task", choices=TASKS,
                   help="benchmark (not needed with --data; there only a label)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data: an .npz with X (samples x features, or samples x "
                        "frames x features: a sequence) and y (optional X_test, y_test)")
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

    p = _command(sub, "sweep", "search config fields x seeds x tasks on Ray Tune, each "
                 "trial a `train` run (docs/sweep.md)",
                 "python -m gen sweep   # the shipped default: digits, 3 learning rates x 2 "
                 "seeds\n"
                 "  python -m gen sweep --spec my-sweep.toml --out sweep/ --resume")
    p.add_argument("--spec", type=pathlib.Path, metavar="FILE.toml",
                   help="the sweep: tasks, epochs, seeds, [search] fields and their Ray "
                        "Tune spaces, [scheduler] (default: the shipped gen/sweeps/"
                        "default.toml)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("sweep"), metavar="DIR",
                   help="results.csv, results.json, plots, best-<task>.toml and the Ray "
                        "Tune experiment (ray/) (default: sweep)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted sweep in --out (its stored spec; "
                        "finished trials are kept)")
    p.add_argument("--address", metavar="HOST:PORT",
                   help="join an existing Ray cluster (default: a local Ray on this "
                        "machine's cores)")
    p.add_argument("--cpus", type=_positive_int, metavar="N",
                   help=f"CPUs of the local Ray, one trial each (default: all, here "
                        f"{os.cpu_count()})")
    _add_json_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or trial lines")
    p.set_defaults(func=cmd_sweep)

    p = _command(sub, "eval", "score saved weights on a benchmark's test set",
                 "python -m gen eval --weights swirl-digits.npz --task digits")
    p.add_argument("--weights", type=pathlib.Path, required=True, metavar="FILE.npz",
                   help="weights written by `train`")
    p.add_argument("--task", choices=TASKS,
                   help="benchmark (default: the one the weights were trained on)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data, as for `train`")
    p.add_argument("--learning-samples", type=int, default=200, metavar="N",
                   help="with --json: training samples a copy of the network learns "
                        "from to measure the learning cost (default: 200; 0: skip)")
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
                        "the config's clock_mhz, else "
                        + ", ".join(f"{k} {v.clock_hz / 1e6:.2f}" for k, v in
                                    sorted(BOARDS.items())) + " MHz)")
    p.add_argument("--lanes", type=_positive_int, metavar="L",
                   help="weights a memory word, the synapses each crossbar reads a cycle "
                        "(default: the config's lanes, else 16 // widths.weight on the UP5K "
                        "boards, else 4 on the ULX3S (fewer past 8-bit weights); at most "
                        "what a host-link word carries)")
    p.add_argument("--seeds", type=_positive_int, metavar="N",
                   help="placements to try (nextpnr's default seed, then --seed 2, 3, ...) "
                        "until one meets the clock; the best is kept (default: 3)")
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

    from sim.compare import UART_WORDS
    p = _command(sub, "compare", "run the whole chip under Verilator beside the golden model",
                 "python -m gen compare --task digits --samples 20 --learn")
    _add_config_option(p)
    p.add_argument("--task", choices=TASKS, default="digits",
                   help="benchmark whose test samples to run, with its own settings (as "
                        "`train --task`) unless --config or --weights says (default: digits)")
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
    p.add_argument("--share", type=_positive_int, metavar="S",
                   help="logical cores per physical core, as the chip is built (default: "
                        "the --board's learning chip's, sizes.cores on the UP5K; else 1)")
    lanes = p.add_mutually_exclusive_group()
    lanes.add_argument("--board", choices=sorted(BOARDS),
                       help="simulate the learning chip as this board builds it (its "
                            "lanes: the config's, else 16 // widths.weight on the UP5K "
                            "boards, else 4 (fewer past 8-bit weights); its "
                            "share: sizes.cores on the UP5K boards, else 1): "
                            f"{known_boards()}")
    lanes.add_argument("--lanes", type=_positive_int, metavar="L",
                       help="weights per memory word, 1 .. 32 // widths.weight (default: "
                            "the config's lanes, else 2)")
    p.add_argument("--link", choices=("auto", "uart", "bytes"), default="auto",
                   help="the host link simulated: the UART, or its byte streams without it "
                        "(a byte a cycle: a large preset's weights load in seconds); auto: "
                        f"the UART up to {UART_WORDS:,} weight words (default: auto)")
    p.add_argument("--work", type=pathlib.Path, metavar="DIR",
                   help="keep the simulation's files (image, samples, sim.log) in DIR")
    p.add_argument("--states", action="store_true",
                   help="also compare every neuron's current and membrane and every trace "
                        "after every step, naming the first that differs (slower)")
    p.add_argument("--plot", type=pathlib.Path, metavar="FILE.png",
                   help="write a spike raster of one sample, model beside chip, the first "
                        "divergence marked (gen/plots.py raster)")
    p.add_argument("--plot-sample", type=int, default=None, metavar="K",
                   help="the sample --plot draws (default: the first that diverges, else "
                        "0)")
    _add_json_option(p)
    p.set_defaults(func=cmd_compare)

    p = _command(sub, "export", "write the learned network as a NIR graph (docs/nir.md)",
                 "python -m gen export --weights swirl-digits.npz --nir swirl-digits.nir")
    p.add_argument("--weights", type=pathlib.Path, metavar="FILE.npz",
                   help="weights written by `train` (their config is used; default: the "
                        "config's initial weights)")
    _add_config_option(p)
    p.add_argument("--nir", type=pathlib.Path, required=True, metavar="FILE.nir",
                   help="NIR (HDF5) file to write")
    p.set_defaults(func=cmd_export)

    p = _command(sub, "import", "map a NIR graph that fits SWIRL to a config and weights",
                 "python -m gen import net.nir --out net.toml --weights net.npz")
    p.add_argument("nir", type=pathlib.Path, metavar="FILE.nir", help="NIR graph to read")
    p.add_argument("--out", type=pathlib.Path, required=True, metavar="FILE.toml",
                   help="config to write")
    p.add_argument("--weights", type=pathlib.Path, required=True, metavar="FILE.npz",
                   help="weights to write (as `train` writes them)")
    p.add_argument("--classes", type=_positive_int, metavar="K",
                   help="a foreign graph's readout as K classes of equal populations "
                        "(default: one neuron per class)")
    p.add_argument("--dt", type=_positive_float, metavar="SECONDS",
                   help="the graph's time step (default: its metadata's, else 1e-4, "
                        "snnTorch's)")
    _add_json_option(p)
    p.set_defaults(func=cmd_import)

    p = _command(sub, "program", "load a built bitstream into a board",
                 "python -m gen program --board ice40 --out build/   # after `build`")
    p.add_argument("--board", required=True, choices=sorted(BOARDS),
                   help=f"the board: {known_boards()}")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("build"), metavar="DIR",
                   help="the build directory holding the bitstream (default: build)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--flash", dest="mode", action="store_const", const="flash",
                       help="write the SPI flash: kept at power off (default on the iCE40 "
                            "boards)")
    where.add_argument("--sram", dest="mode", action="store_const", const="sram",
                       help="load the FPGA's SRAM: gone at power off (default on the "
                            "ULX3S; the iCEBreaker needs its jumpers moved for it)")
    _add_json_option(p)
    p.set_defaults(func=cmd_program)

    p = _command(sub, "run", "stream samples through a chip on its UART beside the golden "
                 "model, and train it on chip",
                 "python -m gen run --port /dev/ttyUSB1 --weights swirl-digits.npz "
                 "--samples 50\n"
                 "  python -m gen run --port /dev/ttyUSB1 --weights w.npz --learn --epochs 2 "
                 "--out w2.npz")
    p.add_argument("--port", required=True, metavar="DEVICE",
                   help="the chip's serial port (/dev/ttyUSB1, /dev/pts/N, COM3)")
    p.add_argument("--weights", type=pathlib.Path, required=True, metavar="FILE.npz",
                   help="weights written by `train` (their config must be the chip's)")
    p.add_argument("--task", choices=TASKS,
                   help="benchmark (default: the one the weights were trained on)")
    p.add_argument("--data", type=pathlib.Path, metavar="FILE.npz",
                   help="your own data, as for `train`")
    p.add_argument("--samples", type=_positive_int, metavar="N",
                   help="samples to run: the first N of the test set, or with --learn of "
                        "the training set (default: all)")
    p.add_argument("--learn", action="store_true",
                   help="train on chip: --epochs passes over the training samples in "
                        "`train`'s order and learning-rate decay, weights read back")
    p.add_argument("--epochs", type=_positive_int, default=1, help="with --learn (default: 1)")
    p.add_argument("--seed", type=int, default=0,
                   help="sample order seed, as for `train` (default: 0)")
    p.add_argument("--out", type=pathlib.Path, metavar="FILE.npz",
                   help="with --learn: the weights read back from the chip")
    p.add_argument("--baud", type=_positive_int, default=115200,
                   help="the UART's baud rate, as built (default: 115200)")
    p.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                   help="seconds to wait for each reply (default: 10)")
    p.add_argument("--clock", type=_positive_float, metavar="MHZ",
                   help="the chip's clock, for samples/s from its cycle counts (default: "
                        "build/report.json's, if there is one)")
    p.add_argument("--plot", type=pathlib.Path, metavar="FILE.png",
                   help="the golden model's spike raster of one sample with the chip's "
                        "class counts beside the model's (gen/plots.py raster)")
    p.add_argument("--plot-sample", type=int, default=None, metavar="K",
                   help="the sample --plot draws, counted over the run (default: the fault "
                        "if there is one, else the first)")
    _add_json_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
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


def _config_and_weights(args):
    from .api import weights_and_config
    return weights_and_config(args.config, args.weights)


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
    from . import api
    if args.task is None and args.data is None:
        raise ValueError("give --task (a benchmark: " + ", ".join(TASKS) + ") or --data "
                         "FILE.npz (your own X, y)")
    if args.freeze_hidden and args.ablation:
        raise ValueError("--ablation already trains a frozen-hidden twin; drop "
                         "--freeze-hidden")
    out = args.out or pathlib.Path(f"swirl-{args.task or args.data.stem}.npz")
    plot = args.plot or out.with_name(out.stem + "-curve.png")
    for path in (out, plot):        # fail now, not after a long training run
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: no directory {path.parent}")
    log = sys.stderr if args.json else sys.stdout

    def on_epoch(h):
        if not args.quiet:
            print(f"epoch {h['epoch']}: train {_pct(h['train_accuracy'])} "
                  f"test {_pct(h['test_accuracy'])}", file=log, flush=True)

    res = api.train(args.task, config=args.config, data=args.data, epochs=args.epochs,
                    seed=args.seed, freeze_hidden=args.freeze_hidden,
                    progress=not args.quiet, on_epoch=on_epoch)
    ds, cfg = res.dataset, res.net.config
    meta = {"task": args.task, "data": str(args.data) if args.data else None,
            "epochs": args.epochs, "seed": args.seed, "test_accuracy": res.test_accuracy,
            "scaling": ds.scaling.as_dict() if ds.scaling else None}
    api.save_weights(out, res.net, meta=meta)
    frozen = None
    if args.ablation:
        if not args.quiet:
            print("ablation: the same network with the hidden weights frozen", file=log)
        frozen = api.train(args.task, config=cfg, data=ds, epochs=args.epochs,
                           seed=args.seed, freeze_hidden=True, progress=not args.quiet,
                           on_epoch=on_epoch)
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


def cmd_sweep(args) -> int:
    from .sweep import format_summary, sweep
    result = sweep(args.spec, args.out, address=args.address, resume=args.resume,
                   cpus=args.cpus, progress=not (args.quiet or args.json))
    if args.json:
        _print_json({"rows": result["rows"], "best": result["best"],
                     "files": result["files"], "seconds": result["seconds"],
                     "interrupted": result["interrupted"]})
    else:
        print(format_summary(result))
    return 130 if result["interrupted"] else EXIT_OK


def cmd_eval(args) -> int:
    from .api import evaluate
    result = {"weights": str(args.weights),
              **evaluate(args.weights, args.task, args.data, metrics=args.json,
                         learning_samples=args.learning_samples)}
    if args.json:                   # with NeuroBench's metrics (docs/metrics.md)
        _print_json(result)
    else:
        print(f"{result['dataset']}: test accuracy {_pct(result['test_accuracy'])} "
              f"on {result['samples']} samples ({args.weights})")
    return EXIT_OK


def cmd_build(args) -> int:
    from boards import get_board
    from . import api
    from . import build as b
    board = get_board(args.board)
    cfg, net = _config_and_weights(args)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    learning = {"auto": None, "on": True, "off": False}[args.learning]
    if args.check:
        result = api.check(args.board, cfg, learning=learning, clock_mhz=args.clock,
                           lanes=args.lanes)
        if args.json:
            _print_json(result)
        else:
            plan, s = result["plan"], cfg.sizes
            n_banks = len(plan["weight_banks"])
            print(f"{board.name}: fits ({'with' if plan['learning'] else 'without'} "
                  f"on-chip learning, {s.layers * s.cores} hidden cores on {n_banks} physical "
                  f"{'core' if n_banks == 1 else 'cores'} and weight "
                  f"{'bank' if n_banks == 1 else 'banks'}, {plan['spram']} SPRAM, "
                  f"~{plan['ebr_estimate_total']} EBR of {board.limits.ebr}, "
                  f"{b.describe_lanes(plan)}; clock {result['clock']['description']})")
        return EXIT_OK
    try:
        report = api.build(args.board, cfg, args.out, weights=net, log=log,
                           learning=learning, clock_mhz=args.clock, lanes=args.lanes,
                           seeds=args.seeds)
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


def cmd_compare(args) -> int:
    import time
    from sim.compare import format_report
    from . import api
    cfg, net = _config_and_weights(args)
    if args.config is None and args.weights is None and args.data is None:
        cfg = api.task_config_of(args.task)     # the benchmark's own settings, as `train`
    lanes = api.compare_lanes(cfg, args.board, args.lanes)
    share = api.compare_share(cfg, args.board, args.share)
    datapath = api.compare_datapath(cfg, lanes, args.board)
    weight_stage, sweep_lanes = datapath["weight_stage"], datapath["sweep_lanes"]
    start = time.time()

    def progress(stage, seconds):
        what = {"build": "Verilator build of the chip (cached in sim_build/)",
                "chip": "chip: load, run and read back through the host link",
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
          f"{'on' if args.learn else 'off'}, lanes {lanes}, share {share}"
          f"{', weight stage' if weight_stage else ''}"
          f"{f', sweep lanes {sweep_lanes}' if sweep_lanes != lanes else ''}; the first "
          "Verilator build of a "
          "config takes minutes", file=sys.stderr, flush=True)
    report = api.compare(cfg, weights=net, task=args.task, data=args.data,
                         samples=args.samples, learn=args.learn, lanes=lanes,
                         share=share, work=args.work, progress=progress,
                         rasters=args.plot is not None, states=args.states,
                         link=args.link, weight_stage=weight_stage,
                         sweep_lanes=sweep_lanes)
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
    from sim.compare import check_lanes
    from .build import emit_verilog
    cfg = load_config(args.config)
    check_lanes(cfg, args.lanes)          # a word wider than the host link cannot load
    args.out.write_text(emit_verilog(cfg, lanes=args.lanes, learning=args.learning == "on"))
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args) -> int:
    from sim.model import Network
    from .nir_io import write_nir
    cfg, net = _config_and_weights(args)
    net = net if net is not None else Network(cfg)
    if not args.nir.parent.is_dir():
        raise FileNotFoundError(f"cannot write {args.nir}: no directory {args.nir.parent}")
    write_nir(net, args.nir)
    print(f"wrote {args.nir}", file=sys.stderr)
    return EXIT_OK


def cmd_import(args) -> int:
    from sim.model import Network
    from sim.train import save_weights
    from .nir_io import read_nir
    cfg, weights, notes = read_nir(args.nir, classes=args.classes, dt=args.dt)
    for path in (args.out, args.weights):
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: no directory {path.parent}")
    cfg.save(args.out)
    save_weights(args.weights, Network(cfg, weights=weights),
                 meta={"imported_from": str(args.nir), "notes": notes})
    if args.json:
        _print_json({"nir": str(args.nir), "config": str(args.out),
                     "weights": str(args.weights), "notes": notes,
                     "sizes": cfg.to_dict()["sizes"]})
    else:
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
        print(f"wrote {args.out} and {args.weights}", file=sys.stderr)
    return EXIT_OK


def cmd_program(args) -> int:
    from boards import get_board
    from .board import ProgramError, program
    board = get_board(args.board)
    try:
        report = program(board, args.out, args.mode)
    except ProgramError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR if e.user else 1
    if args.json:
        _print_json(report)
    else:
        print(f"programmed {report['description']} ({report['mode']}) with "
              f"{report['bitstream']} in {report['seconds']:.1f} s: {report['tool']} "
              f"({report['tool_kind']}, {report['tool_path']})")
    return EXIT_OK


def cmd_run(args) -> int:
    from .run import RunError, format_run, run_on_chip
    try:
        report = run_on_chip(args)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        _print_json(report)
    else:
        print(format_run(report))
    if not report["match"]:
        f = report["fault"]
        print("fault: " + (f"sample {f['sample']}: chip predicted {f['chip_pred']} "
                           f"{f['chip_counts']}, golden model {f['model_pred']} "
                           f"{f['model_counts']}" if f else "the weights or LFSR states "
                           "read back differ from the golden model's"), file=sys.stderr)
    return EXIT_OK if report["match"] else 1
