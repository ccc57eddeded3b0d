"""Learning acceptance figures: each task trained with and without hidden learning.

    python bench/learning.py [--epochs 10] [--tasks digits mnist1d]

Prints one row per run (test accuracy, the hidden-learning gain, gating and throughput)
and writes them as JSON to bench/learning.json. Takes about 15 minutes on 2 cores.
"""
import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from sim.data import load_task          # noqa: E402
from sim.train import task_config, train  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tasks", nargs="+", default=["digits", "mnist1d"])
    args = ap.parse_args(argv)
    rows = []
    for task in args.tasks:
        data = load_task(task)
        for hidden in (True, False):
            cfg = task_config(task, data.channels).replace(
                **{"learning.learn_hidden": hidden})
            t0 = time.perf_counter()
            summary = train(cfg, data, args.epochs, progress=True).summary()
            summary.update(task=task, seconds=time.perf_counter() - t0)
            rows.append(summary)
            print(f"{task:8} hidden={'on ' if hidden else 'off'} test "
                  f"{100 * summary['test_accuracy']:.1f}% (best "
                  f"{100 * summary['best_test_accuracy']:.1f}%) gated "
                  f"{100 * summary['gated_fraction']:.1f}% writes/sample "
                  f"{summary['weight_writes_per_sample']:.0f} "
                  f"{summary['samples_per_second']:.0f} samples/s", flush=True)
        on, off = rows[-2]["test_accuracy"], rows[-1]["test_accuracy"]
        print(f"{task:8} hidden learning adds {100 * (on - off):+.1f} points", flush=True)
    out = pathlib.Path(__file__).with_suffix(".json")
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
