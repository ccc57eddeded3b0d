"""Sweeps: search config fields x seeds x tasks, each trial a ``train`` run, on Ray Tune
(``python -m gen sweep``, docs/sweep.md).

Ray Tune does the distributed part: its search spaces (grid, choice, randint, uniform),
its schedulers (ASHA stops a trial that trails at an epoch rung), its experiment
storage (``--resume`` continues an interrupted sweep) and its clusters (``--address``).
This module only turns a TOML spec into a Tune experiment, runs each trial through
:func:`gen.api.train` unchanged (a trial's accuracies are bit for bit those of ``train``
with the same config and seed), and writes the results: results.csv / results.json
(one row per trial), plots, and the best config per task as a TOML file.

The spec is checked before Ray starts: a wrong field, space or value is one
:class:`SpecError` (a ``ConfigError``: the CLI's one ``error:`` line).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import pathlib
import time

from sim.data import TASKS

from .config import Config, ConfigError, load_config

__all__ = ["Spec", "SpecError", "load_spec", "sweep", "sweep_dataset", "trial_config",
           "sweep_specs", "SPACES", "METRICS", "EXPERIMENT"]

SWEEPS = pathlib.Path(__file__).resolve().parent / "sweeps"   # shipped specs (package data)
SPACES = ("grid", "choice", "randint", "uniform")
METRICS = ("test_accuracy", "train_accuracy")
SCHEDULERS = ("fifo", "asha")
EXPERIMENT = "swirl-sweep"          # the Tune experiment's directory under <out>/ray/
SPEC_KEYS = ("task", "config", "epochs", "seeds", "samples", "num_samples",
             "max_concurrent", "set", "search", "scheduler")
SCHEDULER_KEYS = ("name", "metric", "grace_period", "reduction_factor")


class SpecError(ConfigError):
    """A sweep spec asks for something that cannot run; the message names the key."""


@dataclasses.dataclass
class Spec:
    """A parsed, checked sweep spec (see gen/sweeps/default.toml for the format)."""
    tasks: list
    epochs: int = 3
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    samples: int | None = None          # first N training samples (None: all)
    num_samples: int = 1                # Tune's draws of the random spaces per grid point
    max_concurrent: int | None = None   # trials at once (None: one per CPU)
    config: str | None = None           # base config (path or preset; None: the task's)
    set: dict = dataclasses.field(default_factory=dict)      # fixed config changes
    search: dict = dataclasses.field(default_factory=dict)   # field -> {kind: values}
    scheduler: dict = dataclasses.field(default_factory=lambda: {"name": "fifo"})
    source: str = "spec"

    @property
    def metric(self) -> str:
        return self.scheduler.get("metric", "test_accuracy")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def trials(self) -> int:
        """How many trials the spec makes (Tune's grid x num_samples)."""
        grids = [len(s["grid"]) for s in self.search.values() if "grid" in s]
        return len(self.tasks) * len(self.seeds) * math.prod(grids) * self.num_samples


# ---- the spec -------------------------------------------------------------------------
def sweep_specs() -> dict[str, pathlib.Path]:
    """The shipped sweep specs (gen/sweeps/NAME.toml), by name."""
    return {p.stem: p for p in sorted(SWEEPS.glob("*.toml"))}


def load_spec(path=None) -> Spec:
    """Read and check a sweep spec: a TOML path, a shipped spec's name, or None for the
    shipped default (gen/sweeps/default.toml)."""
    from .util import read_named_toml
    data, path = read_named_toml(path if path is not None else sweep_specs()["default"],
                                 sweep_specs(), "sweep spec", SpecError)
    return parse_spec(data, source=str(path))


def parse_spec(data: dict, source: str = "spec") -> Spec:
    """A :class:`Spec` from the TOML's dict; every field, space and value checked
    against the config each task will run with."""
    def bad(msg):
        raise SpecError(f"{source}: {msg}")

    for key in data:
        if key not in SPEC_KEYS:
            bad(f"unknown key {key!r}; known keys: {', '.join(SPEC_KEYS)}")
    tasks = data.get("task", "digits")
    tasks = [tasks] if isinstance(tasks, str) else tasks
    if not isinstance(tasks, list) or not tasks:
        bad(f"task = {data.get('task')!r} must be a task name or a non-empty list of them")
    for t in tasks:
        if t not in TASKS:
            bad(f"task = {t!r} is not a benchmark; known: {', '.join(TASKS)}")
    if len(set(tasks)) != len(tasks):
        bad(f"task = {tasks!r} names a task twice")
    spec = Spec(tasks=list(tasks), source=source)
    spec.epochs = _int(data, "epochs", 3, 1, source)
    spec.num_samples = _int(data, "num_samples", 1, 1, source)
    if data.get("samples") is not None:
        spec.samples = _int(data, "samples", None, 1, source)
    if data.get("max_concurrent") is not None:
        spec.max_concurrent = _int(data, "max_concurrent", None, 1, source)
    seeds = data.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        bad(f"seeds = {seeds!r} must be a non-empty list of integers >= 0 (train's "
            "sample-order seeds; the network's seed is the config field \"seed\")")
    if len(set(seeds)) != len(seeds):
        bad(f"seeds = {seeds!r} names a seed twice")
    spec.seeds = list(seeds)
    if data.get("config") is not None:
        if not isinstance(data["config"], str):
            bad(f"config = {data['config']!r} must be a TOML path or a preset name")
        spec.config = data["config"]
    for table in ("set", "search", "scheduler"):
        if not isinstance(data.get(table, {}), dict):
            bad(f"[{table}] must be a table, not {data[table]!r}")
    spec.set = dict(data.get("set", {}))
    spec.search = {k: dict(v) if isinstance(v, dict) else v
                   for k, v in data.get("search", {}).items()}
    spec.scheduler = _scheduler(dict(data.get("scheduler", {})), spec, source)

    fields = _config_fields()
    for name in list(spec.set) + list(spec.search):
        if name not in fields:
            bad(f"unknown config field {name!r}; fields are section.field, e.g. "
                "learning.eta_hidden_shift (see `python -m gen config`)")
    for name in spec.search:
        if name in spec.set:
            bad(f"{name!r} is both in [set] and in [search]")
        spec.search[name] = _space(name, spec.search[name], fields[name], source)
    for task in spec.tasks:        # every value must be one the config accepts
        base = base_config(spec, task)
        for name, space in spec.search.items():
            for value in _values_to_check(space):
                try:
                    trial_config(base, {name: value}, fields)
                except ConfigError as e:
                    bad(f"[search] {name!r} value {value!r} is refused for task {task}: "
                        f"{_strip_source(e)}")
    return spec


def _int(data, key, default, lo, source):
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise SpecError(f"{source}: {key} = {v!r} must be an integer >= {lo}")
    return v


def _scheduler(s: dict, spec: Spec, source: str) -> dict:
    for key in s:
        if key not in SCHEDULER_KEYS:
            raise SpecError(f"{source}: unknown key [scheduler] {key!r}; known: "
                            f"{', '.join(SCHEDULER_KEYS)}")
    name = s.setdefault("name", "fifo")
    if name not in SCHEDULERS:
        raise SpecError(f"{source}: [scheduler] name = {name!r} is not one of "
                        f"{', '.join(SCHEDULERS)}")
    metric = s.setdefault("metric", "test_accuracy")
    if metric not in METRICS:
        raise SpecError(f"{source}: [scheduler] metric = {metric!r} is not one of "
                        f"{', '.join(METRICS)}")
    if name == "asha":
        if len(spec.tasks) > 1:
            raise SpecError(f"{source}: [scheduler] name = \"asha\" with several tasks "
                            f"({', '.join(spec.tasks)}): ASHA ranks all trials at a rung "
                            "together and would stop the harder task's; sweep one task "
                            "at a time with asha, or use fifo")
        s.setdefault("grace_period", 1)
        s.setdefault("reduction_factor", 2)
        g, r = s["grace_period"], s["reduction_factor"]
        if isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= spec.epochs:
            raise SpecError(f"{source}: [scheduler] grace_period = {g!r} must be an "
                            f"integer 1..{spec.epochs} (epochs)")
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 1:
            raise SpecError(f"{source}: [scheduler] reduction_factor = {r!r} must be a "
                            "number > 1")
    elif len(s) > 2:
        extra = sorted(set(s) - {"name", "metric"})
        raise SpecError(f"{source}: [scheduler] {', '.join(extra)} only apply to "
                        "name = \"asha\"")
    return s


def _config_fields() -> dict:
    """Every config field by dotted name, with its default (for its type)."""
    out = {}
    for key, value in Config().to_dict().items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _space(name, space, default, source) -> dict:
    """Check one ``[search]`` entry: ``{grid|choice = [..]}``, ``{randint|uniform =
    [lo, hi]}`` (both ends included)."""
    def bad(msg):
        raise SpecError(f"{source}: [search] {name!r} {msg}")

    if not isinstance(space, dict) or len(space) != 1:
        bad(f"= {space!r} must be one of {{grid = [...]}}, {{choice = [...]}}, "
            "{randint = [lo, hi]}, {uniform = [lo, hi]}")
    (kind, values), = space.items()
    if kind not in SPACES:
        bad(f"has space {kind!r}; known spaces: {', '.join(SPACES)}")
    if not isinstance(values, list) or not values:
        bad(f"{kind} = {values!r} must be a non-empty list")
    if kind in ("randint", "uniform"):
        if isinstance(default, bool):
            bad(f"is true/false: use grid or choice, not {kind}")
        if (len(values) != 2 or not all(isinstance(v, (int, float)) and
                                        not isinstance(v, bool) for v in values)
                or not values[0] < values[1]):
            bad(f"{kind} = {values!r} must be [lo, hi] with lo < hi")
        if kind == "randint" and not all(isinstance(v, int) for v in values):
            bad(f"randint = {values!r} must be integers")
    elif len(set(map(repr, values))) != len(values):
        bad(f"{kind} = {values!r} names a value twice")
    return {kind: list(values)}


def _values_to_check(space: dict) -> list:
    (kind, values), = space.items()
    return values          # grid / choice: every value; randint / uniform: both ends


def _strip_source(e: Exception) -> str:
    msg = str(e)
    return msg.split(": ", 1)[1] if msg.startswith("config: ") else msg


def base_config(spec: Spec, task: str) -> Config:
    """The config a task's trials start from: the spec's ``config`` (or the task's
    shipped settings, as ``train --task`` uses) with ``[set]`` applied."""
    from sim import train as tr
    base = load_config(spec.config) if spec.config is not None else None
    channels, classes, frames = _task_shape(task)
    cfg = tr.task_config(task, channels, base=base, classes=classes, frames=frames)
    try:
        return trial_config(cfg, spec.set)
    except ConfigError as e:
        raise SpecError(f"{spec.source}: [set] is refused for task {task}: "
                        f"{_strip_source(e)}") from None


@functools.lru_cache(maxsize=None)
def _task_shape(task: str) -> tuple:
    """A benchmark's (channels, classes, frames), loaded once (MNIST-1D takes seconds)."""
    from .api import dataset
    ds = dataset(task)
    return ds.channels, ds.classes, ds.frames


def trial_config(base: Config, params: dict, fields: dict | None = None) -> Config:
    """``base`` with ``params`` (dotted field -> value) applied and validated; a float
    for an integer field is rounded (a ``uniform`` space over an int)."""
    fields = fields or _config_fields()
    changes = {}
    for name, value in params.items():
        default = fields[name]
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            value = int(round(value))
        changes[name] = value
    return base.replace(**changes).validate() if changes else base.validate()


def sweep_dataset(task: str, config: Config, samples: int | None = None):
    """The task's data for ``config``, its training split cut to the first ``samples``
    (a quick sweep); the test split whole."""
    from .api import dataset
    ds = dataset(task, None, config)
    if samples is not None and samples < len(ds.x_train):
        ds = dataclasses.replace(ds, x_train=ds.x_train[:samples],
                                 y_train=ds.y_train[:samples])
    return ds


# ---- one trial (runs in a Ray worker) ----------------------------------------------------
def _trial(params: dict, *, bases: dict, epochs: int, samples):
    """A Tune function trainable: one ``train`` run, reported to Tune after every epoch
    (so ASHA can stop it), with the run's totals so far."""
    from ray import tune
    from . import api
    task, seed = params["task"], params["seed"]
    cfg = trial_config(Config.from_dict(bases[task]).validate(), params.get("params", {}))
    ds = sweep_dataset(task, cfg, samples)
    history = []

    def on_epoch(h):
        history.append(h)
        n = len(history)
        tune.report({
            "epoch": h["epoch"], "test_accuracy": h["test_accuracy"],
            "train_accuracy": h["train_accuracy"],
            "best_test_accuracy": max(e["test_accuracy"] for e in history),
            # over the epochs run so far (equal epochs: the run's totals, as `train`'s)
            "gated_fraction": sum(e["gated_fraction"] for e in history) / n,
            "weight_writes_per_sample":
                sum(e["weight_writes_per_sample"] for e in history) / n,
            "modulator_events_per_sample":
                sum(e["modulator_events_per_sample"] for e in history) / n,
            "applied": json.dumps(_applied(cfg, params.get("params", {})))})
    api.train(task, config=cfg, data=ds, epochs=epochs, seed=seed, progress=False,
              on_epoch=on_epoch)


def _applied(cfg: Config, params: dict) -> dict:
    """The values a trial ran with (after rounding), by field."""
    d = cfg.to_dict()
    out = {}
    for name in params:
        v = d
        for part in name.split("."):
            v = v[part]
        out[name] = v
    return out


# ---- the sweep ---------------------------------------------------------------------------
def _param_space(spec: Spec) -> dict:
    from ray import tune
    kinds = {"grid": lambda v: tune.grid_search(v), "choice": lambda v: tune.choice(v),
             "randint": lambda v: tune.randint(v[0], v[1] + 1),   # Tune's hi is exclusive
             "uniform": lambda v: tune.uniform(v[0], v[1])}
    space = {name: kinds[k](v) for name, s in spec.search.items() for k, v in s.items()}
    return {"task": tune.grid_search(spec.tasks), "seed": tune.grid_search(spec.seeds),
            "params": space}


def _scheduler_of(spec: Spec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    s = spec.scheduler
    if s["name"] == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=spec.epochs,
                             grace_period=s["grace_period"],
                             reduction_factor=s["reduction_factor"])
    return FIFOScheduler()


class _Progress:
    """A tqdm bar over trials and one line per finished trial (Ray's own reporter prints
    a table per result: too much for a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.bar = total, enabled, None

    def __getstate__(self):        # Tune pickles its callbacks with the experiment
        return {**self.__dict__, "bar": None}

    def start(self):
        if self.enabled and self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc="trials", unit="trial")

    def trial_done(self, trial, error=None):
        if not self.enabled:
            return
        self.start()
        r = trial.last_result or {}
        p = trial.config.get("params", {})
        what = ", ".join(f"{k.split('.')[-1]}={_show(v)}" for k, v in p.items())
        if error is not None:
            line = f"error: {error}"
        else:
            line = (f"test {100 * r.get('test_accuracy', float('nan')):.1f}% after "
                    f"{r.get('training_iteration', 0)} epochs")
        self.bar.write(f"{trial.config['task']} seed {trial.config['seed']}"
                       f"{' ' + what if what else ''}: {line}")
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _callback(progress: _Progress):
    from ray.tune import Callback

    class ProgressCallback(Callback):
        def __init__(self, progress):
            self.progress = progress

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.progress.trial_done(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.progress.trial_done(trial, error="the trial failed (see results.csv)")

    return ProgressCallback(progress)


def _check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse an ``--address`` nothing listens on: ``ray.init`` would retry for
    minutes, one warning every few seconds."""
    import socket
    if address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--address {address!r} must be HOST:PORT (the head node's GCS "
                         "port, 6379 by default), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"--address {address}: no Ray cluster answers there "
                              f"({e.strerror or e}); start one with `ray start --head`, "
                              "or drop --address for a local Ray") from None


def _start_ray(address: str | None, cpus: int | None):
    """Join the cluster at ``address``, or start a local Ray on this machine's cores;
    ``(ray, started)``: a Ray already running in this process is reused and left on."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no network: no usage stats
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")   # the new reporter prints a box per trial
    import logging
    import ray
    if ray.is_initialized():
        return ray, False
    quiet = dict(include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=True)
    if address is not None:
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as e:
            hint = ("" if os.environ.get("RAY_AUTH_MODE") else
                    "; a cluster with token authentication (`ray start`'s default) "
                    "also needs RAY_AUTH_MODE=token here, with its token in "
                    "~/.ray/auth_token or RAY_AUTH_TOKEN")
            raise ConnectionError(f"--address {address}: {e}{hint}") from None
    else:
        ray.init(num_cpus=cpus or os.cpu_count() or 1, **quiet)
    return ray, True


def sweep(spec=None, out="sweep", *, address: str | None = None, resume: bool = False,
          cpus: int | None = None, progress: bool = True) -> dict:
    """Run a sweep (``python -m gen sweep``): ``spec`` a :class:`Spec`, a TOML path, a
    shipped spec's name or None (the shipped default). Writes results.csv,
    results.json, the plots and best-<task>.toml into ``out``; the Tune experiment
    lives in ``out``/ray/ and ``resume`` continues it (the spec then comes from
    ``out``/spec.json). Returns ``{"rows", "best", "files", "seconds", "interrupted"}``;
    an interrupted sweep (Ctrl-C: Tune saves its state and returns) writes what it has,
    its unfinished trials marked, and sets ``interrupted``."""
    out = pathlib.Path(out).resolve()
    stored = out / "spec.json"
    if resume:
        if not (out / "ray" / EXPERIMENT).is_dir() or not stored.exists():
            raise FileNotFoundError(f"nothing to resume in {out}: no sweep was started "
                                    "there (run without --resume first)")
        try:
            saved = Spec(**json.loads(stored.read_text()))
        except (ValueError, TypeError) as e:
            raise SpecError(f"{stored}: not a sweep's stored spec ({e})") from None
        if spec is not None:
            given = spec if isinstance(spec, Spec) else load_spec(spec)
            if {**given.to_dict(), "source": ""} != {**saved.to_dict(), "source": ""}:
                raise SpecError(f"{given.source} differs from the spec of the sweep in "
                                f"{out}; drop --spec to resume it, or use another --out")
        spec = saved
    else:
        spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory")
    if cpus is not None and address is not None:
        raise ValueError("--cpus is for a local Ray; a cluster at --address has its own")
    bases = {t: base_config(spec, t).to_dict() for t in spec.tasks}
    if address is not None:
        _check_address(address)        # before anything in --out is replaced
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        import shutil
        shutil.rmtree(out / "ray" / EXPERIMENT, ignore_errors=True)   # a fresh start
        stored.write_text(json.dumps(spec.to_dict(), indent=2))

    ray, started = _start_ray(address, cpus)
    from ray import tune
    t0 = time.time()
    bar = _Progress(spec.trials(), progress)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trial, bases=bases, epochs=spec.epochs,
                                 samples=spec.samples), {"cpu": 1})
        path = str(out / "ray" / EXPERIMENT)
        if resume:
            tuner = tune.Tuner.restore(path, trainable=trainable, restart_errored=True)
        else:
            tuner = tune.Tuner(
                trainable, param_space=_param_space(spec),
                tune_config=tune.TuneConfig(
                    metric=spec.metric, mode="max", scheduler=_scheduler_of(spec),
                    num_samples=spec.num_samples,
                    max_concurrent_trials=spec.max_concurrent),
                run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(out / "ray"),
                                          verbose=0, callbacks=[_callback(bar)]))
        if not resume:      # a restored Tuner brings its own (pickled) callback
            bar.start()
        grid = tuner.fit()
    finally:
        bar.close()
        if started:
            ray.shutdown()
    rows = _rows(grid, spec)
    best = best_per_task(rows, spec)
    files = write_results(rows, best, spec, out)
    return {"rows": rows, "best": best, "files": files, "seconds": time.time() - t0,
            "spec": spec, "out": out,
            "interrupted": len(rows) < spec.trials()      # some not even started
                           or any(r["status"] == "unfinished" for r in rows)}


def _column(name: str) -> str:
    """A searched field's column: its dotted name (``config.seed`` for the network
    seed, beside the trial's sample-order ``seed``)."""
    return "config.seed" if name == "seed" else name


def _rows(grid, spec: Spec) -> list:
    """One row per trial. A trial's Tune status (the Result has none) tells a trial the
    scheduler stopped from one an interrupted sweep left unfinished."""
    trials = getattr(getattr(grid, "_experiment_analysis", None), "trials", None)
    trials = trials if trials and len(trials) == len(grid) else [None] * len(grid)
    rows = []
    for r, trial in zip(grid, trials):
        tune_status = getattr(trial, "status", None)
        m, c = r.metrics or {}, r.config or getattr(trial, "config", None) or {}
        applied = json.loads(m["applied"]) if m.get("applied") else c.get("params", {})
        run = m.get("training_iteration", 0) or 0
        if r.error or tune_status == "ERROR":
            status = "error"
        elif tune_status not in (None, "TERMINATED") or not run or not m.get("done"):
            status = "unfinished"    # pending or running when the sweep was interrupted
            # (Tune marks both a finished trial and one its scheduler stopped done)
        else:
            status = "done" if run >= spec.epochs else "stopped early"
        row = {"task": c.get("task"), "seed": c.get("seed"),
               **{_column(k): applied.get(k) for k in spec.search},
               "test_accuracy": m.get("test_accuracy"),
               "best_test_accuracy": m.get("best_test_accuracy"),
               "train_accuracy": m.get("train_accuracy"),
               "epochs": run, "status": status,
               "gated_fraction": m.get("gated_fraction"),
               "weight_writes_per_sample": m.get("weight_writes_per_sample"),
               "modulator_events_per_sample": m.get("modulator_events_per_sample"),
               "wall_seconds": m.get("time_total_s"),
               "trial_id": m.get("trial_id") or (r.path or "").rsplit("/", 1)[-1],
               "error": str(r.error).strip().splitlines()[-1] if r.error else None}
        rows.append(row)
    key = lambda row: (spec.tasks.index(row["task"]) if row["task"] in spec.tasks else 99,
                       [_order(row[_column(k)]) for k in spec.search], _order(row["seed"]))
    return sorted(rows, key=key)


def _order(v):
    """Sorts numbers by value, then text, then missing values."""
    if isinstance(v, (int, float)):
        return (0, v, "")
    return (1, 0, str(v)) if v is not None else (2, 0, "")


def point_fields(spec: Spec) -> list:
    """The searched fields that make a point: all but the network seed (the config field
    ``seed``), which, searched, is a seed like the sample order's: a point's runs over
    it are averaged, so a spec can ask for a mean over network seeds."""
    return [k for k in spec.search if k != "seed"]


def best_per_task(rows: list, spec: Spec) -> dict:
    """Per task, every searched point's ``metric`` over its seeds (mean, std, n), best
    first: ``{task: [{"params", "mean", "std", "seeds", "network_seeds", "epochs", ...},
    ...]}`` (``network_seeds``: the config's ``seed`` of each run)."""
    out = {}
    metric = spec.metric
    fields = point_fields(spec)
    for task in spec.tasks:
        groups = {}
        for row in rows:
            if (row["task"] != task or row["status"] in ("error", "unfinished")
                    or row[metric] is None):
                continue
            params = tuple((k, row[_column(k)]) for k in fields)
            groups.setdefault(params, []).append(row)
        points = []
        for params, rs in groups.items():
            vals = [r[metric] for r in rs]
            mean = sum(vals) / len(vals)
            std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 \
                if len(vals) > 1 else 0.0
            points.append({"params": dict(params), "mean": mean, "std": std,
                           "min": min(vals), "max": max(vals),
                           "seeds": [r["seed"] for r in rs],
                           "network_seeds": [r.get(_column("seed")) for r in rs],
                           "epochs": min(r["epochs"] for r in rs),
                           "complete": all(r["status"] == "done" for r in rs),
                           "gated_fraction": _mean(r["gated_fraction"] for r in rs),
                           "weight_writes_per_sample":
                               _mean(r["weight_writes_per_sample"] for r in rs)})
        # a point that ran every epoch beats one ASHA stopped; then the mean
        points.sort(key=lambda p: (not p["complete"], -p["mean"]))
        out[task] = points
    return out


def _mean(values):
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def write_results(rows: list, best: dict, spec: Spec, out: pathlib.Path) -> dict:
    """results.csv, results.json, the plots and best-<task>.toml; returns the paths."""
    from .plots import sweep_costs, sweep_params
    files = {"csv": out / "results.csv", "json": out / "results.json"}
    columns = list(rows[0]) if rows else ["task", "seed"]
    with open(files["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    files["json"].write_text(json.dumps({"spec": spec.to_dict(), "metric": spec.metric,
                                         "rows": rows, "best": best}, indent=2))
    ok = [r for r in rows if r["status"] not in ("error", "unfinished")]
    note = (f"{', '.join(spec.tasks)}: {spec.epochs} epochs"
            + (f" on the first {spec.samples} training samples" if spec.samples else "")
            + (f", {spec.scheduler['name'].upper()} (hollow: stopped early)"
               if spec.scheduler["name"] == "asha" else ""))
    if spec.search:
        files["params_plot"] = out / "accuracy-per-parameter.png"
        sweep_params(ok, [(k, _column(k)) for k in spec.search], spec.metric,
                     files["params_plot"], tasks=spec.tasks, note=note)
    files["costs_plot"] = out / "accuracy-vs-cost.png"
    first = next(iter(point_fields(spec)), None)
    sweep_costs(ok, spec.metric, files["costs_plot"], tasks=spec.tasks,
                field=(first, _column(first)) if first else None, note=note)
    for task, points in best.items():
        if not points:
            continue
        p = points[0]
        cfg = trial_config(Config.from_dict(base_config(spec, task).to_dict()), p["params"])
        path = out / f"best-{task}.toml"
        where = (f"{spec.epochs} epochs" + (f" on the first {spec.samples} training "
                                            "samples" if spec.samples else ""))
        over = (f"network seeds {', '.join(map(str, p['network_seeds']))}"
                if "seed" in spec.search else f"seeds {', '.join(map(str, p['seeds']))}")
        path.write_text(
            f"# `python -m gen sweep` best config for {task}: {spec.metric} "
            f"{100 * p['mean']:.1f}% +- {100 * p['std']:.1f} (mean +- std over "
            f"{over}; {where})\n"
            + "".join(f"# searched: {k} = {v!r}\n" for k, v in p["params"].items())
            + f"# use: python -m gen train --task {task} --config {path.name}\n"
            + cfg.to_toml())
        files[f"best_{task}"] = path
    return files


def _show(v) -> str:
    """A searched value for the eye: floats (a uniform draw) to 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def format_summary(result: dict) -> str:
    """The table ``sweep`` prints: per task, each searched point's metric over seeds,
    best first, and how to train with the best."""
    spec, best = result["spec"], result["best"]
    rows = result["rows"]
    lines = [f"{len(rows)} trials in {result['seconds']:.0f} s "
             f"({sum(r['status'] == 'stopped early' for r in rows)} stopped early, "
             f"{sum(r['status'] == 'error' for r in rows)} failed"
             + (f", {spec.trials() - len(rows) + sum(r['status'] == 'unfinished' for r in rows)}"
                " unfinished" if result.get("interrupted") else "")
             + f"); {spec.metric}, mean +- std over seeds:"]
    fields = point_fields(spec)
    for task, points in best.items():
        lines.append(f"{task}:")
        head = "  " + "".join(f"{f:>28}" for f in fields) + \
            f"{'accuracy':>18}{'seeds':>7}{'epochs':>7}{'gated':>8}{'writes/smp':>11}"
        lines.append(head)
        for i, p in enumerate(points[:15]):
            acc = f"{100 * p['mean']:.1f}% +- {100 * p['std']:.1f}"
            g = p["gated_fraction"]
            w = p["weight_writes_per_sample"]
            lines.append(("* " if i == 0 else "  ")
                         + "".join(f"{_show(p['params'][f]):>28}" for f in fields)
                         + f"{acc:>18}{len(p['seeds']):>7}{p['epochs']:>7}"
                         + (f"{100 * g:>7.1f}%" if g is not None else f"{'n/a':>8}")
                         + (f"{w:>11.0f}" if w is not None else f"{'n/a':>11}"))
        if len(points) > 15:
            lines.append(f"  ... {len(points) - 15} more in results.csv")
        if f"best_{task}" in result["files"]:
            path = result["files"][f"best_{task}"]
            lines.append(f"  best: python -m gen train --task {task} --config {path}")
        else:
            lines.append("  no trial finished")
    files = result["files"]
    lines.append("results: " + ", ".join(str(files[k]) for k in
                                         ("csv", "json", "params_plot", "costs_plot")
                                         if k in files))
    if result.get("interrupted"):
        lines.append(f"interrupted: `python -m gen sweep --resume --out {result['out']}` "
                     "runs the unfinished trials")
    return "\n".join(lines)
