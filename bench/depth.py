"""Depth study (issue 14 item 1): 1, 2 and 3 hidden layers, hidden learning on and
readout only, over seeds, on digits and MNIST-1D (all at once, or as a sequence:
mnist1d-temporal), with the golden model.

    python bench/depth.py [--tasks digits mnist1d] [--depths 1 2 3] [--seeds 1 2 3]
                          [--epochs 5] [--samples N] [--config PRESET] [--set k=v ...]

Each run is cached as one JSON file in ``--out`` (default build/bench/depth/runs): a
rerun skips what is done, so the study can be stopped, resumed or given more seeds.
A seed is the network's (``seed``: topology, initial weights, feedback, LFSRs) and the
sample order's. Prints the table (mean +- sample std over seeds of the last and best
epoch's test accuracy, gated fraction, weight writes per sample, seconds per run) and
per-layer diagnostics, and writes ``depth.json`` and ``depth.png`` beside the runs.
One run of digits at depth 3 takes about 40 s an epoch on one core.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from runs import (ROOT, ConfigError, aggregate, base_config, cached_run, fmt_pm, load_data,
                  parse_sets, seeded_config)

METRICS = ("test_accuracy", "best_test_accuracy", "gated_fraction",
           "weight_writes_per_sample", "seconds")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: python bench/depth.py --tasks digits "
                                        "--depths 1 2 --seeds 1 2 3 --epochs 3")
    ap.add_argument("--tasks", nargs="+", default=["digits", "mnist1d"],
                    choices=["digits", "mnist1d", "mnist1d-temporal"])
    ap.add_argument("--depths", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=None,
                    help="train on this many training samples (a fixed random subset; "
                         "default all); the test set is always whole")
    ap.add_argument("--hidden", nargs="+", default=["on", "off"], choices=["on", "off"],
                    help="hidden learning on and/or off (readout only, --freeze-hidden)")
    ap.add_argument("--config", default=None,
                    help="a TOML config or preset name as the base (default: the task's "
                         "config of `gen train --task`)")
    ap.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                    help="change a config field for every run (repeatable)")
    ap.add_argument("--tag", default="",
                    help="a name for this variant in the run files and the figure")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "build/bench/depth")
    ap.add_argument("--plot-with", type=pathlib.Path, default=None, metavar="DEPTH.json",
                    help="also draw another variant's table (dashed), e.g. the default's "
                         "beside a preset's")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    for name in ("depths", "seeds"):
        if any(v < 1 for v in getattr(args, name)):
            ap.error(f"--{name} must be >= 1")
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")
    if args.samples is not None and args.samples < 10:
        ap.error("--samples must be >= 10")
    if args.plot_with is not None and not args.plot_with.is_file():
        ap.error(f"--plot-with {str(args.plot_with)!r} does not exist")
    args.changes = parse_sets(args.set, ap)
    return ap, args


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    base = base_config(args.config, ap)
    plan = [(task, depth, hidden, seed) for seed in args.seeds for task in args.tasks
            for depth in args.depths for hidden in args.hidden]
    runs_dir = args.out / "runs"
    data = {t: load_data(t, args.samples) for t in args.tasks}
    rows = []
    for i, (task, depth, hidden, seed) in enumerate(plan, 1):
        changes = {**args.changes, "sizes.layers": depth,
                   "learning.learn_hidden": hidden == "on"}
        d = data[task]
        try:
            cfg = seeded_config(task, d, seed, base, **changes)
        except (ConfigError, KeyError) as e:
            ap.error(f"{task} depth {depth}: {e}")
        name = f"{task}-L{depth}-{hidden}-s{seed}" + (f"-{args.tag}" if args.tag else "")
        print(f"[{i}/{len(plan)}] {name}: {args.epochs} epochs on {len(d.x_train)} samples",
              flush=True)
        r, cached = cached_run(runs_dir, name, task, cfg, d, epochs=args.epochs, seed=seed,
                               samples=args.samples, progress=not args.no_progress)
        r.update(depth=depth, hidden=hidden)
        rows.append(r)
        layers = " ".join(f"L{x['layer']}:{x['rate']:.2f}/{100 * x['gate_open']:.0f}%"
                          for x in r["layers"])
        print(f"    test {100 * r['test_accuracy']:.1f}% (best {100 * r['best_test_accuracy']:.1f}% "
              f"at epoch {r['best_epoch']}) gated {100 * r['gated_fraction']:.1f}% "
              f"writes/sample {r['weight_writes_per_sample']:.0f} {r['seconds']:.0f} s"
              f"{' (cached)' if cached else ''}; rate/gate per layer {layers}", flush=True)
    table = aggregate(rows, ("task", "depth", "hidden"), METRICS)
    print_table(table, args)
    print_layers(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "depth" + (f"-{args.tag}" if args.tag else "")
    (args.out / f"{stem}.json").write_text(json.dumps(
        {"args": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
         "table": table, "runs": rows}, indent=1, default=str))
    other = None
    if args.plot_with is not None:
        d = json.loads(args.plot_with.read_text())
        other = (d["args"].get("tag") or "default", d["table"])
    plot(table, args.out / f"{stem}.png", args, other)
    print(f"wrote {args.out / stem}.json and .png")
    return 0


def print_table(table, args):
    print(f"\n{'task':8} {'depth':>5} {'hidden':6} {'seeds':>5} {'test % (last)':>14} "
          f"{'best %':>13} {'gated %':>12} {'writes/sample':>14} {'s/run':>6}")
    for g in table:
        print(f"{g['task']:8} {g['depth']:>5} {g['hidden']:6} {g['n']:>5} "
              f"{fmt_pm(g, 'test_accuracy'):>14} {fmt_pm(g, 'best_test_accuracy'):>13} "
              f"{fmt_pm(g, 'gated_fraction'):>12} "
              f"{fmt_pm(g, 'weight_writes_per_sample', 1, 0):>14} {g['seconds']:>6.0f}")


def print_layers(rows):
    """Per-layer diagnostics averaged over seeds (hidden learning on only)."""
    print(f"\n{'task':8} {'depth':>5} {'layer':>5} {'rate':>6} {'silent':>7} {'gate':>6} "
          f"{'|Bc|':>5} {'ff moved':>9} {'ff chg':>7} {'rec moved':>9} {'ff sat':>7}")
    seen = {}
    for r in rows:
        if r["hidden"] == "on":
            for x in r["layers"]:
                seen.setdefault((r["task"], r["depth"], x["layer"]), []).append(x)
    for (task, depth, layer), xs in seen.items():
        def m(k):
            return sum(x[k] for x in xs) / len(xs)
        print(f"{task:8} {depth:>5} {layer:>5} {m('rate'):>6.3f} {m('silent_fraction'):>7.2f} "
              f"{m('gate_open'):>6.3f} {m('feedback_abs'):>5.1f} {m('ff_moved'):>9.2f} "
              f"{m('ff_changed'):>7.2f} {m('rec_moved'):>9.2f} {m('ff_saturated'):>7.3f}")


def plot(table, path, args, other=None):
    """Per task: test accuracy against depth (mean, error bars one std over seeds),
    hidden learning on beside readout only; below, the gated fraction and the weight
    writes per sample, the cost of that learning. ``other``: (name, table) of another
    variant, drawn dashed."""
    from matplotlib.figure import Figure
    tasks = list(dict.fromkeys(g["task"] for g in table))
    fig = Figure(figsize=(max(6.4, 5.2 * len(tasks)), 8.4), layout="constrained")
    axes = fig.subplots(3, len(tasks), squeeze=False, sharex=True)
    styles = {"on": ("C0", "o", "hidden learning on"),
              "off": ("C1", "s", "readout only (--freeze-hidden)")}
    name = args.tag or "default"
    variants = [(name, table, "-")] + ([(other[0], other[1], "--")] if other else [])
    for col, task in enumerate(tasks):
        for vname, vtable, ls in variants:
            for hidden, (color, marker, label) in styles.items():
                gs = sorted((g for g in vtable if g["task"] == task and g["hidden"] == hidden),
                            key=lambda g: g["depth"])
                if not gs:
                    continue
                x = [g["depth"] for g in gs]
                for row, (key, scale) in enumerate((("test_accuracy", 100),
                                                    ("gated_fraction", 100),
                                                    ("weight_writes_per_sample", 1))):
                    axes[row, col].errorbar(
                        x, [scale * g[key] for g in gs],
                        yerr=[scale * g[key + "_std"] for g in gs], color=color,
                        marker=marker, ls=ls, capsize=4,
                        mfc="none" if ls == "--" else color,
                        label=f"{label}, {vname}" if other else label)
        n = max((g["n"] for g in table if g["task"] == task), default=0)
        axes[0, col].set_title(f"{task}: {args.epochs} epochs, {n} seed{'s' * (n != 1)}"
                               + (f", {args.samples} training samples" if args.samples else ""))
        for ax in axes[1:, col]:
            ax.set_ylim(bottom=0)
        axes[0, col].set_ylabel("test accuracy (%), last epoch")
        axes[1, col].set_ylabel("steps gated (%)")
        axes[2, col].set_ylabel("weight writes per sample")
        axes[2, col].set_xlabel("hidden layers (sizes.layers)")
        axes[2, col].set_xticks(sorted({g["depth"] for g in table}))
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
        axes[0, col].legend(loc="best", fontsize=8)
    fig.suptitle("Depth" + (f" ({args.tag})" if args.tag else "")
                 + ": mean and one std over seeds")
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
