"""The chip as ``build`` makes it, and yosys' netlist of it, learning on digits samples
beside the golden model (issue 13 items 1 and 2, the default config; CI runs a small one:
tests/test_asbuilt.py).

    python bench/asbuilt.py                                  # ice40 + ulx3s netlists, 3 samples
    python bench/asbuilt.py --boards ice40 --kinds rtl netlist --samples 5
    python bench/asbuilt.py --baud 115200                    # the boards' own divisor (slow)

For each board and kind (sim/asbuilt.py: ``rtl``, the board top with its PLL, I/O cells
and memory primitives; ``netlist``, yosys' synthesised netlist with the cells' models of
sim/cells.py), the weights' config is built, put behind a pseudo-terminal
(sim/pty_chip.py) and driven by ``python -m gen run --learn`` as a board would be: every
prediction and class count is checked against the golden model as the samples go, and
every weight word and LFSR state read back at the end. Prints one row per chip and a
JSON file (``--out``).

The UART runs at ``--baud`` (default 2,000,000: divisor 15 at the iCEBreaker's 30 MHz, 25
at the ULX3S's 50 MHz): loading the default chip's 21k weight words at 115,200 baud takes
about 400 M clock cycles, hours for a netlist under Verilator; the rest of the chip is as
built. ``--baud 115200`` gives the boards' own divisors.
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


def run_one(cfg, weights: pathlib.Path, board: str, kind: str, args) -> dict:
    """Build one chip and learn ``args.samples`` digits samples on it through gen run."""
    from sim.asbuilt import asbuilt_build
    from sim.pty_chip import PtyChip
    t0 = time.time()
    a = asbuilt_build(cfg, board, kind=kind, baud=args.baud,
                      log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    built = time.time() - t0
    print(f"  built in {built:.0f} s: divisor {a.divisor}, lanes {a.lanes}, share {a.share}, "
          f"{sum(a.cells.values())} cells", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="swirl-asbuilt-") as tmp, \
            PtyChip(a.build, pathlib.Path(tmp) / "pty", divisor=a.divisor,
                    settle_cycles=a.settle_cycles) as chip:
        t1 = time.time()
        r = subprocess.run([sys.executable, "-m", "gen", "run", "--port", chip.port,
                            "--weights", str(weights), "--task", args.task, "--learn",
                            "--epochs", "1", "--samples", str(args.samples), "--seed", "0",
                            "--timeout", str(args.timeout), "--out",
                            str(pathlib.Path(tmp) / "w.npz"), "--json", "--quiet"],
                           cwd=REPO, capture_output=True, text=True)
        wall = time.time() - t1
    row = {"board": board, "kind": kind, "divisor": a.divisor, "clock_hz": a.clock_hz,
           "lanes": a.lanes, "share": a.share, "learning": a.learning, "cells": a.cells,
           "build_seconds": round(built), "run_seconds": round(wall), "exit": r.returncode}
    if r.returncode not in (0, 1):
        row["error"] = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "?"
        return row
    report = json.loads(r.stdout)
    after = report.get("after_learning") or {}
    row.update(samples=report["samples_run"], match=report["match"],
               words_differing=after.get("words_differing"),
               lfsr_match=after.get("lfsr_match"),
               cycles_per_sample=report.get("cycles_per_sample"))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=pathlib.Path,
                   default=REPO / "tests" / "data" / "swirl-digits.npz",
                   help="the weights (and their config) to start from (default: "
                        "tests/data/swirl-digits.npz, the default config trained on digits)")
    p.add_argument("--task", default="digits", help="the samples (default: digits)")
    p.add_argument("--boards", nargs="+", default=["ice40", "ulx3s"],
                   help="boards (default: ice40 ulx3s)")
    p.add_argument("--kinds", nargs="+", default=["netlist"], choices=["rtl", "netlist"],
                   help="as built (rtl) and/or the synthesised netlist (default: netlist)")
    p.add_argument("--samples", type=int, default=3,
                   help="training samples to learn on each chip (default: 3)")
    p.add_argument("--baud", type=int, default=2_000_000,
                   help="the UART's baud rate (default: 2000000; 115200 is the boards' own, "
                        "hours for the default netlist)")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds for each reply (default: 1800)")
    p.add_argument("--out", type=pathlib.Path, default=REPO / "bench" / "asbuilt.json",
                   help="where the rows go as JSON (default: bench/asbuilt.json)")
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error(f"--samples must be at least 1, not {args.samples}")
    if not args.weights.exists():
        p.error(f"--weights {args.weights}: no such file")
    from boards import BOARDS
    unknown = [b for b in args.boards if b not in BOARDS]
    if unknown:
        p.error(f"--boards: unknown {', '.join(unknown)} (known: {', '.join(sorted(BOARDS))})")
    from sim.train import load_weights
    cfg = load_weights(args.weights).config
    rows = []
    for board in args.boards:
        for kind in args.kinds:
            print(f"{board} {kind}: building (yosys, then Verilator; cached in sim_build/)",
                  file=sys.stderr, flush=True)
            try:
                rows.append(run_one(cfg, args.weights, board, kind, args))
            except (RuntimeError, ValueError) as e:
                rows.append({"board": board, "kind": kind, "error": str(e).splitlines()[0]})
            r = rows[-1]
            print(f"{board:6} {kind:8} " + (
                f"error: {r['error']}" if "error" in r else
                f"divisor {r['divisor']}, {r['samples']} samples learnt, "
                f"{'BIT EXACT' if r['match'] else 'NOT BIT EXACT'} (weight words differing "
                f"{r['words_differing']}, LFSRs {'match' if r['lfsr_match'] else 'DIFFER'}), "
                f"{r['cycles_per_sample']:.0f} cycles a sample; build {r['build_seconds']} s, "
                f"run {r['run_seconds']} s"), flush=True)
    args.out.write_text(json.dumps({"weights": str(args.weights), "baud": args.baud,
                                    "rows": rows}, indent=1))
    print(f"rows: {args.out}", file=sys.stderr)
    return 0 if all(r.get("match") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
