"""What the bench studies (depth.py, robustness.py) share: one training run cached as one
JSON file, per-layer diagnostics of a trained network, and mean/std over seeds.

Runs are long (minutes each) and a study is dozens of them, so each finished run is
written at once and a rerun of the study skips it: a study can be stopped and resumed,
or extended with more seeds, without retraining what is done. The cache key is the
whole config (as TOML), the task, epochs, seed and training subset, so a changed
setting never reuses a stale result.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import sys
import time
from dataclasses import replace

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gen.config import Config, ConfigError  # noqa: E402
from sim.data import Dataset, load_task     # noqa: E402
from sim.train import task_config, train    # noqa: E402

__all__ = ["ROOT", "Config", "ConfigError", "base_config", "load_data", "seeded_config", "cached_run",
           "layer_diagnostics", "aggregate", "fmt_pm", "parse_sets"]


def base_config(name, parser) -> Config | None:
    """``--config``: a shipped preset's name or a TOML file, or None; a bad one is a
    parser error naming it."""
    if not name:
        return None
    from gen.config import load_config
    try:
        return load_config(name)
    except (ConfigError, FileNotFoundError) as e:
        parser.error(str(e))


def load_data(task: str, samples: int | None) -> Dataset:
    """The task's data; with ``samples``, a fixed random subset of the training split
    (the same for every run, so runs differ only in what the study varies). The test
    split is always whole."""
    data = load_task(task)
    if samples is None or samples >= len(data.x_train):
        return data
    idx = np.sort(np.random.default_rng(12345).choice(len(data.x_train), samples,
                                                      replace=False))
    return replace(data, x_train=data.x_train[idx], y_train=data.y_train[idx])


def seeded_config(task: str, data: Dataset, seed: int, base: Config | None = None,
                  **changes) -> Config:
    """The task's config (``sim.train.task_config``) with ``changes`` and ``seed`` as the
    network seed: topology, initial weights, feedback signs and LFSRs all change with
    it, not only the sample order (which ``cached_run`` also seeds with it)."""
    cfg = task_config(task, data.channels, base=base, classes=data.classes,
                      frames=data.frames)
    return cfg.replace(**{**changes, "seed": seed}).validate()


def _key(task, cfg: Config, epochs, seed, samples) -> str:
    text = json.dumps([task, cfg.to_toml(), epochs, seed, samples])
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def cached_run(out_dir: pathlib.Path, name: str, task: str, cfg: Config, data: Dataset,
               *, epochs: int, seed: int, samples: int | None, diagnose: bool = True,
               progress: bool = True) -> tuple[dict, bool]:
    """Train (or load the cached result of) one run; returns (summary, was_cached).
    The summary is ``TrainResult.summary()`` plus the run's identity, its wall time and,
    with ``diagnose``, per-layer diagnostics (:func:`layer_diagnostics`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = _key(task, cfg, epochs, seed, samples)
    path = out_dir / f"{name}-{key}.json"
    done = [path] if path.exists() else sorted(out_dir.glob(f"*-{key}.json"))
    if done:   # the same run under another name (e.g. the default in two studies)
        return json.loads(done[0].read_text()), True
    t0 = time.perf_counter()
    result = train(cfg, data, epochs, seed=seed, progress=progress)
    summary = result.summary()
    summary.update(name=name, task=task, seed=seed, epochs=epochs,
                   samples=len(data.x_train), seconds=time.perf_counter() - t0,
                   best_epoch=1 + int(np.argmax([h["test_accuracy"]
                                                 for h in result.history])),
                   config=cfg.to_toml())
    if diagnose:
        summary["layers"] = layer_diagnostics(result.net, data)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(path)               # a run is cached whole or not at all
    return summary, False


def layer_diagnostics(net, data: Dataset, samples: int = 200) -> list[dict]:
    """Per hidden layer, after training, on the first ``samples`` test samples with
    learning off: firing rate (spikes per neuron per step), silent neurons, the fraction
    of (neuron, step) pairs whose learning gate is open from ``teach_start`` on (psi, or
    the trace with ``post_from_trace``), the mean |centred feedback| of its neurons, and
    how far its incoming weights moved from their initial values (feed-forward rows:
    the input for layer 0, the previous layer otherwise; recurrent rows: its own layer)."""
    cfg = net.config
    s, l = cfg.sizes, cfg.learning
    per = s.cores * s.neurons
    _, _, tr = net.run(data.x_test[:samples], record=True)
    spikes, psi, x_h = tr["s_h"], tr["psi"], tr["x_h"]         # (B, T, H)
    w0 = net.initial_weights()
    w_abs = 1 << (cfg.widths.weight - 1)
    out = []
    for layer in range(s.layers):
        cols = slice(layer * per, (layer + 1) * per)
        if layer == 0:
            ff_new, ff_old, ff_mask = (net.weights.w_in[:, cols], w0.w_in[:, cols],
                                       net.in_mask[:, cols])
        else:
            rows = slice((layer - 1) * per, layer * per)
            ff_new, ff_old, ff_mask = (net.weights.w_hh[rows, cols], w0.w_hh[rows, cols],
                                       net.hh_mask[rows, cols])
        rec_new, rec_old, rec_mask = (net.weights.w_hh[cols, cols], w0.w_hh[cols, cols],
                                      net.hh_mask[cols, cols])
        gate = (x_h[:, l.teach_start:, cols] > 0) if l.post_from_trace \
            else psi[:, l.teach_start:, cols]
        entry = {
            "layer": layer,
            "rate": float(spikes[:, :, cols].mean()),
            "silent_fraction": float((spikes[:, :, cols].sum((0, 1)) == 0).mean()),
            "gate_open": float(gate.mean()),
            "feedback_abs": float(np.abs(net.feedback_centered[cols]).mean()),
        }
        for what, new, old, mask in (("ff", ff_new, ff_old, ff_mask),
                                     ("rec", rec_new, rec_old, rec_mask)):
            m = mask.astype(bool)
            entry[f"{what}_moved"] = float(np.abs(new - old)[m].mean()) if m.any() else 0.0
            entry[f"{what}_changed"] = float((new != old)[m].mean()) if m.any() else 0.0
            entry[f"{what}_abs"] = float(np.abs(new)[m].mean()) if m.any() else 0.0
            entry[f"{what}_saturated"] = float(((new <= -w_abs) | (new >= w_abs - 1))[m]
                                               .mean()) if m.any() else 0.0
        out.append(entry)
    return out


def aggregate(rows: list[dict], by: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    """Group ``rows`` by the ``by`` fields (in first-seen order) and give each metric's
    mean and sample standard deviation (0 for a single seed) and the seed count."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        g = dict(zip(by, key), n=len(members), seeds=[m["seed"] for m in members])
        for k in metrics:
            v = np.array([m[k] for m in members], float)
            g[k] = float(v.mean())
            g[k + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(g)
    return out


def fmt_pm(g: dict, key: str, scale: float = 100.0, digits: int = 1) -> str:
    """``mean +- std`` of an aggregated metric, e.g. ``96.1 +- 0.3``."""
    return f"{scale * g[key]:.{digits}f} +- {scale * g[key + '_std']:.{digits}f}"


def parse_sets(items: list[str] | None, parser) -> dict:
    """``--set section.field=value`` pairs as a ``Config.replace`` mapping (TOML-typed
    values: 12, 0.5, true); a bad one is an argparse error."""
    import tomllib
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set {item!r}: expected section.field=value")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value.strip()
    return out
