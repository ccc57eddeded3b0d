"""SWIRL's flows as Python functions: what the ``python -m gen`` commands do, without
the command line (``import swirl`` re-exports them; docs/api.md walks through them).

Each function takes the objects a script holds (a :class:`~gen.config.Config`, a
:class:`~sim.model.Network`, a board name) or the paths the CLI takes, and returns plain
data (dicts, dataclasses); errors are the exceptions the CLI turns into one ``error:``
line: :class:`~gen.config.ConfigError`, :class:`~sim.data.DataError`, ``ValueError``
and ``OSError`` for what a user got wrong, :class:`~gen.build.BuildError` for a tool
that failed. The CLI (gen/cli.py) adds only arguments, printing and files.
"""
from __future__ import annotations

import json
import pathlib

from sim.data import Dataset, Scaling, check_fits, load_task
from sim.train import load_weights, save_weights

from .config import Config, ConfigError, load_config

__all__ = ["config_of", "save_weights", "load_weights", "dataset", "check_fits_data", "train", "evaluate", "read_meta",
           "weights_and_config", "saved_scaling", "check", "build", "compare", "compare_lanes", "connect"]


def config_of(config=None) -> Config:
    """``config`` as a validated Config: a Config, a TOML path, a preset name, or None
    (the shipped default)."""
    return config.validate() if isinstance(config, Config) else load_config(config)


def dataset(task: str | None = "digits", data=None, config: Config | None = None,
            scaling: Scaling | dict | None = None) -> Dataset:
    """The benchmark ``task`` (or your ``data`` .npz), quantised to the encoder's range
    of ``config`` (the default config when None); your data scaled by ``scaling`` (the
    one saved beside trained weights: :func:`saved_scaling`), else per feature from its
    training split."""
    levels = (config or Config()).dynamics.enc_theta
    if isinstance(scaling, dict):
        scaling = Scaling.from_dict(scaling)
    return load_task(task, data, levels=levels, scaling=scaling)


def saved_scaling(weights) -> Scaling | None:
    """The data scaling ``train`` stored beside ``weights`` (a path), if any."""
    if weights is None or not isinstance(weights, (str, pathlib.Path)):
        return getattr(weights, "scaling", None)
    d = read_meta(weights).get("scaling")
    return Scaling.from_dict(d) if d else None


check_fits_data = check_fits
"""Refuse data whose channels, frames or classes the config cannot hold
(:func:`sim.data.check_fits`)."""


def train(task: str = "digits", *, config=None, data=None, epochs: int = 10, seed: int = 0,
          freeze_hidden: bool = False, progress: bool = True, on_epoch=None):
    """Train the golden model online with the on-chip rule (``python -m gen train``).

    ``config``: None for the task's shipped settings, else a Config / path / preset
    whose ``sizes.n_in`` matches the data. ``data``: an .npz path or a
    :class:`~sim.data.Dataset` instead of the benchmark. Returns a
    :class:`sim.train.TrainResult` (``.net`` the trained network, ``.history`` per
    epoch, ``.summary()``, ``.dataset`` the data it ran on)."""
    from sim import train as tr
    base = None if config is None else config_of(config)
    ds = data if isinstance(data, Dataset) else dataset(task, data, base)
    own = task if ds.scaling is None else None      # a user's data: not a benchmark's settings
    cfg = tr.task_config(own, ds.channels, base=base, classes=ds.classes, frames=ds.frames)
    if freeze_hidden:
        cfg = cfg.replace(**{"learning.learn_hidden": False}).validate()
    check_fits_data(cfg, ds)
    return tr.train(cfg, ds, epochs, seed, progress=progress, on_epoch=on_epoch)


def read_meta(path) -> dict:
    """The ``meta`` JSON that ``train`` stored next to the weights ({} if none)."""
    import numpy as np
    try:
        with np.load(path) as f:
            return json.loads(str(f["meta"])) if "meta" in f else {}
    except (OSError, ValueError):
        return {}   # load_weights reports unreadable files with a better message


def _network(weights):
    from sim.model import Network
    return weights if isinstance(weights, Network) else load_weights(weights)


def evaluate(weights, task: str | None = None, data=None, *, metrics: bool = False,
             learning_samples: int = 200) -> dict:
    """Score ``weights`` (a Network or a weights .npz) on a test set: the task it was
    trained on unless ``task`` or ``data`` says otherwise. Returns test_accuracy,
    samples and the confusion matrix; with ``metrics``, also ``neurobench``:
    NeuroBench's metrics and the learning cost measured on ``learning_samples``
    training samples (sim/metrics.py, docs/metrics.md)."""
    from sim import train as tr
    net = _network(weights)
    meta = {} if net is weights else read_meta(weights)
    if task is None and data is None:
        task = meta.get("task")
        if meta.get("data"):
            data = pathlib.Path(meta["data"])
    if task is None and data is None:
        raise ValueError(f"{weights} does not say which task it was trained on; "
                         f"give --task or --data")
    ds = dataset(task, data, net.config, saved_scaling(weights))
    check_fits_data(net.config, ds)
    result = {"task": task, "data": str(data) if data else None, "dataset": ds.name,
              **tr.evaluate(net, ds)}
    if metrics:
        from sim.metrics import neurobench_metrics
        result["neurobench"] = neurobench_metrics(net, ds.x_test, ds.x_train, ds.y_train,
                                                  max(learning_samples, 0))
    return result


def task_config_of(task: str) -> Config:
    """The config ``train --task`` uses for a benchmark with no ``--config``: the default
    with the task's settings and its data's shape (sim/train.py ``TASK_OVERRIDES``)."""
    from sim import train as tr
    ds = dataset(task)
    return tr.task_config(task, ds.channels, classes=ds.classes, frames=ds.frames)


def weights_and_config(config=None, weights=None):
    """``(config, network or None)``: trained ``weights`` bring their own config, and a
    different ``config`` beside them is refused."""
    cfg = config_of(config)
    if weights is None:
        return cfg, None
    net = _network(weights)
    if config is not None and net.config.to_dict() != cfg.to_dict():
        raise ConfigError(f"{weights} was trained with another config than "
                          f"{config}; drop --config to use the weights' own")
    return net.config, net


def _clock_hz(clock_mhz):
    return None if clock_mhz is None else float(clock_mhz) * 1e6


def check(board: str = "ice40", config=None, *, learning: bool | None = None,
          clock_mhz: float | None = None, lanes: int | None = None) -> dict:
    """The fit check of ``build --check``: the build plan (memories, lanes, share),
    the clock the board's PLL makes, neuron and synapse counts. Raises
    :class:`gen.build.DoesNotFit` (naming the resource and the limit) when it does not
    fit."""
    from boards import get_board
    from . import build as b
    from .topology import make_topology
    brd, cfg = get_board(board), config_of(config)
    clock = b.build_clock(cfg, brd, _clock_hz(clock_mhz))
    topo = make_topology(cfg)
    plan = b.plan_build(cfg, brd, topo, learning, lanes)
    b.check_fits(cfg, brd, plan)
    s = cfg.sizes
    return {"board": brd.name, "fits": True, "plan": plan, "clock": clock.as_dict(),
            "neurons": {"input_channels": s.n_in, "hidden": s.hidden,
                        "readout": s.readout, "modulators": s.modulators},
            "synapses": topo.synapse_counts()}


def build(board: str = "ice40", config=None, out="build", *, weights=None,
          learning: bool | None = None, clock_mhz: float | None = None,
          lanes: int | None = None, seeds: int | None = None, log=None) -> dict:
    """Synthesise, place and route into a bitstream in ``out`` (``python -m gen
    build``); returns the report (also written as ``out``/report.json). ``weights``
    (a Network or .npz) are preloaded and bring their config. ``lanes``: weights a
    memory word (default: the board's). ``seeds``: placements to try until one meets
    the clock (default gen.build.PNR_SEEDS). ``log(msg)`` hears each stage."""
    from boards import get_board
    from . import build as b
    cfg, net = weights_and_config(config, weights)
    return b.run_build(cfg, get_board(board), pathlib.Path(out), weights=net,
                       log=log or (lambda msg: None), learning=learning,
                       clock_hz=_clock_hz(clock_mhz), lanes=lanes,
                       seeds=b.PNR_SEEDS if seeds is None else seeds)


def compare(config=None, *, weights=None, task: str = "digits", data=None, samples: int = 20,
            learn: bool = False, board: str | None = None, lanes: int | None = None,
            share: int = 1, work=None, progress=None, rasters: bool = False,
            states: bool = False, link: str = "auto",
            weight_stage: bool | None = None, sweep_lanes: int | None = None) -> dict:
    """Run the whole chip under Verilator through its UART beside the golden model
    (``python -m gen compare``); returns the report, ``report["bit_exact"]`` the
    verdict. ``board`` simulates its weight words (its lanes); ``lanes`` sets them
    directly (default sim.compare.LANES); ``rasters`` keeps every sample's rasters
    (for gen.plots.raster); ``states`` also compares every step's currents, membranes
    and traces (sim.compare.state_divergence); ``link``: ``"auto"`` (the UART unless the
    weights take over sim.compare.UART_WORDS words), ``"uart"`` or ``"bytes"``;
    ``weight_stage``: the crossbars register their weight words (default: as ``board``
    builds them); ``sweep_lanes``: the learning unit's (default: as ``board`` builds
    them); both :func:`compare_datapath`."""
    from sim.compare import compare as run_compare
    cfg, net = weights_and_config(config, weights)
    lanes = compare_lanes(cfg, board, lanes)
    datapath = compare_datapath(cfg, lanes, board)
    if weight_stage is None:
        weight_stage = datapath["weight_stage"]
    if sweep_lanes is None:
        sweep_lanes = datapath["sweep_lanes"]
    return run_compare(cfg, task=task, samples=samples, learn=learn,
                       weights=net.weights if net is not None else None, data=data,
                       work=work, progress=progress, share=share, lanes=lanes,
                       scaling=saved_scaling(weights), rasters=rasters, states=states,
                       link=link, weight_stage=weight_stage, sweep_lanes=sweep_lanes)


def compare_lanes(config: Config, board: str | None = None, lanes: int | None = None) -> int:
    """The lanes :func:`compare` simulates: ``lanes``, the ``board``'s, the config's
    ``lanes``, else sim.compare.LANES (2); refused before anything is built if the host
    link cannot carry that word."""
    from sim.compare import LANES, check_lanes
    if board is not None and lanes is not None:
        raise ValueError("give board or lanes, not both")
    if board is not None:
        from boards import get_board
        from .build import lanes_for
        return check_lanes(config, lanes_for(config, get_board(board)))
    return check_lanes(config, lanes if lanes is not None else config.lanes or LANES)


def compare_datapath(config: Config, lanes: int, board: str | None = None) -> dict:
    """``{"weight_stage", "sweep_lanes"}`` of the chip :func:`compare` simulates with
    words of ``lanes``: as the ``board``'s learning chip is built (gen/build.py
    ``chip_options``); without a board, no weight stage and every lane swept."""
    if board is None:
        return {"weight_stage": False, "sweep_lanes": lanes}
    from boards import get_board
    from .build import chip_options
    opts = chip_options(config, get_board(board), learning=True, lanes=lanes)
    return {"weight_stage": opts["weight_stage"], "sweep_lanes": opts["sweep_lanes"]}


def compare_share(config: Config, board: str | None = None, share: int | None = None) -> int:
    """The logical cores a physical core :func:`compare` simulates: ``share``, else the
    ``board``'s learning chip's (gen/build.py ``share_for``: all of a layer's cores on
    one on the UP5K), else 1."""
    if share is not None:
        return share
    if board is not None:
        from boards import get_board
        from .build import share_for
        return share_for(config, get_board(board), learning=True)
    return 1


def connect(port: str, *, baud: int = 115200, timeout: float = 2.0):
    """A :class:`sim.host.Host` on a board's serial ``port`` that has answered PING
    (``host.info``: classes, inputs, cores, lanes, steps, learning)."""
    from sim.host import Host, SerialTransport
    host = Host(SerialTransport(port, baud), timeout=timeout)
    host.ping()
    return host
