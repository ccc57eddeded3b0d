"""Soak: a long learning run through the whole chip under Verilator, bit exact to the end
(issue 13 item 5).

    python bench/soak.py                      # 1,000 digits training samples, learning on
    python bench/soak.py --samples 200 --weights W.npz

The chip is the weights' config built as ``sim.pty_chip`` builds it (``-O2``), behind a
pseudo-terminal; ``python -m gen run --learn`` streams the samples through pyserial and
the host driver, checks every sample's prediction and class counts against the golden
model as it goes (the first difference ends the run), then reads back every weight word
and LFSR state and compares them with the model's. Prints the run's report and a summary
line; exit 0 only if the whole run was bit exact.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=pathlib.Path,
                   default=REPO / "tests" / "data" / "swirl-digits.npz",
                   help="the weights to start from (default: tests/data/swirl-digits.npz)")
    p.add_argument("--samples", type=int, default=1000,
                   help="training samples to learn on chip (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="sample order (default: 0)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds for each reply (default: 600: a loaded machine)")
    args = p.parse_args(argv)

    from sim.compare import chip_build
    from sim.pty_chip import PtyChip
    from sim.train import load_weights
    t0 = time.time()
    build = chip_build(load_weights(args.weights).topology, opt="-O2")
    print(f"build: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="swirl-soak-") as tmp, \
            PtyChip(build, pathlib.Path(tmp) / "pty") as chip:
        out = pathlib.Path(tmp) / "soak.npz"
        t1 = time.time()
        r = subprocess.run([sys.executable, "-m", "gen", "run", "--port", chip.port,
                            "--weights", str(args.weights), "--learn", "--epochs", "1",
                            "--samples", str(args.samples), "--seed", str(args.seed),
                            "--timeout", str(args.timeout), "--out", str(out), "--json"],
                           cwd=REPO, capture_output=True, text=True)
        wall = time.time() - t1
    if r.returncode not in (0, 1):
        print(r.stderr, file=sys.stderr)
        return r.returncode
    report = json.loads(r.stdout)
    w = report["after_learning"] or {}
    print(json.dumps({k: report[k] for k in ("samples_run", "samples_asked", "match",
                                             "accuracy", "load_seconds", "wire_seconds",
                                             "cycles_per_sample", "wall_seconds")}, indent=1))
    cycles = report["cycles_per_sample"] * report["samples_run"]
    print(f"soak: {report['samples_run']} of {report['samples_asked']} samples learnt on "
          f"chip, {cycles / 1e6:.0f} M chip cycles, {wall:.0f} s wall; every prediction and "
          f"count {'equal' if report['fault'] is None else 'NOT equal'}; weight words "
          f"differing {w.get('words_differing')}, LFSRs "
          f"{'match' if w.get('lfsr_match') else 'DIFFER'}; "
          f"{'BIT EXACT' if report['match'] else 'NOT BIT EXACT'}")
    return 0 if report["match"] else 1


if __name__ == "__main__":
    sys.exit(main())
