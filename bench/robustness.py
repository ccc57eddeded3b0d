"""Robustness studies (issue 14 item 5) on digits with the golden model: test accuracy
against weight width, steps per sample, hidden size, and over seeds, each point with
the fraction of steps gated and the weight writes per sample beside it (sparse updates
are the point).

    python bench/robustness.py [--studies width steps hidden seeds] [--seeds 1 2 3]
                               [--epochs 3] [--samples N] [--config PRESET]

Every study changes one thing in the digits config (``gen train --task digits``):

* ``width``: ``widths.weight`` 4, 5, 6, 8 bits, the network scaled with it so that the
  weight resolution is the only difference: thresholds, psi window and initial scales
  times 2^(w-8), both learning-rate shifts plus (8-w), at most 16 (an 8-bit weight of
  64 is a 4-bit weight of 4, and a step the same fraction of the range);
* ``steps``: ``sizes.steps`` 8, 12, 16, 24, 32;
* ``hidden``: ``sizes.neurons`` per core 16, 32, 64, 128 (4 cores: 64 to 512 hidden);
* ``seeds``: the default config over ``--seed-count`` seeds (network and sample order).

Runs are cached one JSON each in ``--out`` (build/bench/robustness/runs): rerunning
skips what is done. Writes ``robustness.json`` and ``robustness.png`` (a panel per
study) beside them.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from runs import (ROOT, ConfigError, aggregate, base_config, cached_run, fmt_pm, load_data,
                  seeded_config)

METRICS = ("test_accuracy", "best_test_accuracy", "gated_fraction",
           "weight_writes_per_sample", "seconds")
TASK = "digits"


def width_changes(bits: int, base) -> dict:
    """The default network at ``bits``-bit weights: every quantity measured in weight
    units scaled by 2^(bits-8), and the learning-rate shifts raised by 8-bits so that
    a weight step is the same fraction of the weight range (capped at 16, the LFSR's
    rounding bits: at 4 bits the hidden step is 4x, at 5 bits 2x the scaled default's;
    stochastic rounding keeps the expected step below one weight unit)."""
    k = 2.0 ** (bits - base.widths.weight)
    d, l = base.dynamics, base.learning
    drop = base.widths.weight - bits
    return {"widths.weight": bits,
            "dynamics.theta": max(1, round(d.theta * k)),
            "dynamics.theta_out": max(1, round(d.theta_out * k)),
            "learning.psi_window": max(1, round(l.psi_window * k)),
            "init_scale": max(1, round(base.init_scale * k)),
            "init_rec_scale": max(1, round(base.init_rec_scale * k)),
            "learning.eta_hidden_shift": min(16, l.eta_hidden_shift + drop),
            "learning.eta_readout_shift": min(16, l.eta_readout_shift + drop)}


def studies(base, seed_count: int) -> dict:
    """study -> (x-axis label, [(x value, config changes)])."""
    return {
        "width": ("weight width (bits)",
                  [(b, width_changes(b, base)) for b in (4, 5, 6, 8)]),
        "steps": ("steps per sample (sizes.steps)",
                  [(t, {"sizes.steps": t}) for t in (8, 12, 16, 24, 32)]),
        "hidden": ("hidden neurons (4 cores x sizes.neurons)",
                   [(4 * n, {"sizes.neurons": n}) for n in (16, 32, 64, 128)]),
        "seeds": ("seed", [(s, {}) for s in range(1, seed_count + 1)]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: python bench/robustness.py --studies width "
                                        "--seeds 1 2 --epochs 2 --samples 700")
    ap.add_argument("--studies", nargs="+", default=["width", "steps", "hidden", "seeds"],
                    choices=["width", "steps", "hidden", "seeds"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3],
                    help="seeds for every point of the width, steps and hidden studies")
    ap.add_argument("--seed-count", type=int, default=5,
                    help="the seeds study trains the default with seeds 1..N")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=None,
                    help="train on this many training samples (a fixed random subset; "
                         "default all); the test set is always whole")
    ap.add_argument("--config", default=None, help="a TOML config or preset as the base")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "build/bench/robustness")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")
    if any(s < 1 for s in args.seeds) or args.seed_count < 1:
        ap.error("seeds must be >= 1")
    if args.samples is not None and args.samples < 10:
        ap.error("--samples must be >= 10")
    data = load_data(TASK, args.samples)
    base = base_config(args.config, ap)
    default = seeded_config(TASK, data, 1, base)
    plan = []
    for study, (_, points) in studies(default, args.seed_count).items():
        if study not in args.studies:
            continue
        for x, changes in points:
            for seed in ([x] if study == "seeds" else args.seeds):
                plan.append((study, x, changes, seed))
    rows = []
    for i, (study, x, changes, seed) in enumerate(plan, 1):
        try:
            cfg = seeded_config(TASK, data, seed, base, **changes)
        except ConfigError as e:
            ap.error(f"study {study} at {x}: {e}")
        name = f"{TASK}-{study}-{x}-s{seed}"
        print(f"[{i}/{len(plan)}] {name}: {args.epochs} epochs on {len(data.x_train)} samples",
              flush=True)
        r, cached = cached_run(args.out / "runs", name, TASK, cfg, data, epochs=args.epochs,
                               seed=seed, samples=args.samples, diagnose=False,
                               progress=not args.no_progress)
        r.update(study=study, x=x)
        rows.append(r)
        print(f"    test {100 * r['test_accuracy']:.1f}% (best {100 * r['best_test_accuracy']:.1f}%)"
              f" gated {100 * r['gated_fraction']:.1f}% writes/sample "
              f"{r['weight_writes_per_sample']:.0f} {r['seconds']:.0f} s"
              f"{' (cached)' if cached else ''}", flush=True)
    table = aggregate(rows, ("study", "x"), METRICS)
    seeds_rows = [r for r in rows if r["study"] == "seeds"]
    if seeds_rows:      # the seeds study as one point: the spread over its seeds
        table += [dict(g, x="all") for g in aggregate(seeds_rows, ("study",), METRICS)]
    print(f"\n{'study':7} {'x':>5} {'seeds':>5} {'test % (last)':>14} {'best %':>13} "
          f"{'gated %':>12} {'writes/sample':>14} {'s/run':>6}")
    for g in table:
        print(f"{g['study']:7} {g['x']!s:>5} {g['n']:>5} {fmt_pm(g, 'test_accuracy'):>14} "
              f"{fmt_pm(g, 'best_test_accuracy'):>13} {fmt_pm(g, 'gated_fraction'):>12} "
              f"{fmt_pm(g, 'weight_writes_per_sample', 1, 0):>14} {g['seconds']:>6.0f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "robustness.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "table": table, "runs": rows},
        indent=1, default=str))
    plot(table, rows, args.out / "robustness.png", args, default)
    print(f"wrote {args.out}/robustness.json and .png")
    return 0


def plot(table, rows, path, args, default):
    """One column per study: test accuracy (mean, one std over seeds) on top, the
    gated fraction and the weight writes per sample below (the seeds study shows every
    seed, the mean dashed)."""
    from matplotlib.figure import Figure
    names = [s for s in ("width", "steps", "hidden", "seeds")
             if any(g["study"] == s for g in table)]
    labels = {k: v[0] for k, v in studies(default, args.seed_count).items()}
    fig = Figure(figsize=(4.2 * len(names), 8.0), layout="constrained")
    axes = fig.subplots(3, len(names), squeeze=False)
    rowspec = (("test_accuracy", 100, "test accuracy (%), last epoch", "C0"),
               ("gated_fraction", 100, "steps gated (%)", "C2"),
               ("weight_writes_per_sample", 1, "weight writes per sample", "C3"))
    for col, study in enumerate(names):
        gs = [g for g in table if g["study"] == study and g["x"] != "all"]
        x = [g["x"] for g in gs]
        for row, (key, scale, ylabel, color) in enumerate(rowspec):
            ax = axes[row, col]
            ax.errorbar(x, [scale * g[key] for g in gs],
                        yerr=[scale * g[key + "_std"] for g in gs], color=color,
                        marker="o", capsize=4, ls="none" if study == "seeds" else "-")
            if row:
                ax.set_ylim(0, 1.08 * ax.get_ylim()[1])
            if study == "seeds":
                mean = scale * sum(g[key] for g in gs) / len(gs)
                ax.axhline(mean, color=color, ls="--", lw=1)
            ax.set_xticks(x)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel)
        if study == "hidden":
            for ax in axes[:, col]:
                ax.set_xscale("log", base=2)
                ax.set_xticks(x, [str(v) for v in x])
        axes[-1, col].set_xlabel(labels[study])
        n = max(g["n"] for g in gs)
        axes[0, col].set_title(study + (f" ({n} seeds a point)" if study != "seeds" else
                                        f" ({len(gs)} seeds)"))
    fig.suptitle(f"digits, {args.epochs} epochs"
                 + (f", {args.samples} training samples" if args.samples else "")
                 + ": mean and one standard deviation over seeds")
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
