"""Plasticity-unit cycles on realistic traces (docs/plasticity.md, "Cycles"): each task
with the default config and its overrides, online learning on `--train` samples first,
then the cost of `--samples` more.

    python bench/sweep_cost.py [--tasks digits mnist1d] [--train 100] [--samples 50]
                               [--out bench/sweep_cost.json]

Counts with the cycle formula of sim.plasticity_cases.sweep_cycles (which the Verilator
tests check command for command), so nothing is simulated: seconds, not minutes. Prints
the table of docs/plasticity.md, a row per task (gated steps, modulator events and rows
visited; cycles per gated step, per event and per sample; the cycles without row
skipping and the saving), and writes the figures as JSON (`--out`).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sim.data import load_task  # noqa: E402
from sim.model import Network  # noqa: E402
from sim.plasticity_cases import (bank_learns, make_case, row_cycles,  # noqa: E402
                                  sweep_cycles, visited_rows)
from sim.plasticity_dut import PlasticityHardware  # noqa: E402
from sim.train import task_config  # noqa: E402


def sweep_cost(task: str, train: int = 100, samples: int = 50, seed: int = 0,
               lanes: int = 8) -> dict:
    """Cycles of the plasticity unit over ``samples`` training samples of ``task`` after
    ``train`` samples of online learning; also the cycles the sweep would take without
    skipping zero-trace rows (every row read and written, no per-row check cycle)."""
    data = load_task(task)
    cfg = task_config(task, data.channels)
    net = Network(cfg)
    hw = PlasticityHardware.for_config(
        cfg, lanes=lanes, max_rows=max(r.n_rows for r in net.topology.cores))
    rng = np.random.default_rng(seed)
    pre = rng.choice(len(data.x_train), train, replace=False)
    net.run(data.x_train[pre], data.y_train[pre], learn=True)
    net.stats.reset()
    pick = rng.choice(len(data.x_train), samples, replace=False)
    case = make_case(hw, net, data.x_train[pick], data.y_train[pick], learn=True,
                     cmd_fields=[])
    cycles = cycles_no_skip = gated = events = 0
    image = {}
    for step in (st for smp in case["samples"] for st in smp["steps"]):
        if "traces" not in step:
            continue
        image.update({int(a): v for a, v in step["traces"].items()})
        for b, n in zip(case["banks"], sweep_cycles(case, hw, image, step["gates"])):
            cycles += n
            if bank_learns(case, b):   # every row read and written, no check cycle
                n += row_cycles(b["words"]) * (b["rows"] - visited_rows(case, hw, image, b)) \
                    - b["rows"]
            cycles_no_skip += n
        gated += 1
        events += bin(step["m"]).count("1")
    return {"task": task, "samples": samples, "steps": samples * cfg.sizes.steps,
            "gated_steps": gated, "modulator_events": events,
            "rows_per_gated_step": net.stats.rows_swept / max(gated, 1),
            "rows_total": sum(b["rows"] for b in case["banks"]),
            "cycles": cycles, "cycles_no_skip": cycles_no_skip,
            "cycles_per_gated_step": cycles / max(gated, 1),
            "cycles_per_event": cycles / max(events, 1),
            "cycles_per_sample": cycles / samples,
            "saving": 1 - cycles / max(cycles_no_skip, 1)}


COLUMNS = ("task", "gated steps / sample", "events / gated step",
           "rows visited / gated step (of all)", "cycles / gated step",
           "cycles / modulator event", "cycles / sample", "without row skipping", "saving")


def table_row(r: dict) -> list:
    """One task's figures as docs/plasticity.md's table shows them."""
    gated = max(r["gated_steps"], 1)
    return [r["task"], f"{r['gated_steps'] / r['samples']:.2f} of {r['steps'] // r['samples']}",
            f"{r['modulator_events'] / gated:.2f}",
            f"{r['rows_per_gated_step']:.0f} of {r['rows_total']}",
            *(f"{r[k]:,.0f}" for k in ("cycles_per_gated_step", "cycles_per_event",
                                       "cycles_per_sample")),
            f"{r['cycles_no_skip'] / r['samples']:,.0f} / sample", f"{100 * r['saving']:.0f} %"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["digits", "mnist1d"])
    ap.add_argument("--train", type=int, default=100)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--out", type=pathlib.Path,
                    default=pathlib.Path(__file__).with_suffix(".json"))
    args = ap.parse_args(argv)
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    rows = []
    for task in args.tasks:
        rows.append(sweep_cost(task, args.train, args.samples, args.seed, args.lanes))
        print("| " + " | ".join(table_row(rows[-1])) + " |", flush=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
