"""The host-link fuzz corpus (sim/fuzz.py) at scale, against the whole chip under Verilator.

    python bench/fuzz.py [--frames 5000] [--seed 1] [--every 10] [--divisor 4] [--quiet]

The chip of tests/test_chip_link.py (tests/test_fuzz.py runs 520 cases of it in CI). Prints
the counts table (cases per category, replies by status, hangs, wrong replies, state
changes, the samples after the corpus against the golden model) and the wall time, and
exits 1 if anything failed, with the first failures. ``--every``: cases between two
read-backs of the whole state; ``--quiet``: listen a timeout's length after every case
for a reply nobody asked for, besides the sentinel; ``--divisor``: the UART's cycles a
bit (a build of its own unless 4: with 50, the 2 % baud offset is a cycle a bit).
Verilator's C++ is built at ``-O2`` here (``SWIRL_SIM_OPT``), unlike the tests' ``-O0``:
the build takes longer, the run is about 4 times faster.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("SWIRL_SIM_OPT", "-O2")

from gen.config import Config            # noqa: E402
from gen.topology import make_topology   # noqa: E402
from sim import fuzz                     # noqa: E402
from sim.model import Network            # noqa: E402
from test_chip_link import CONFIG        # noqa: E402


def network():
    cfg = Config().replace(**CONFIG).validate()
    return Network(cfg, make_topology(cfg))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--divisor", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="swirl-fuzz-") as tmp:
        report, _ = fuzz.fuzz_chip(network, pathlib.Path(tmp), frames=args.frames,
                                   seed=args.seed, every=args.every, divisor=args.divisor,
                                   quiet=args.quiet)
    seconds = time.perf_counter() - t0
    print(fuzz.format_counts(report))
    print(f"{report['totals']['cases']} cases, seed {args.seed}, read-back every {args.every}, divisor "
          f"{args.divisor or 'default'}{', quiet' if args.quiet else ''}: {seconds:.0f} s "
          f"wall (SWIRL_SIM_OPT={os.environ['SWIRL_SIM_OPT']})")
    for f in report["failures"][:20]:
        print("FAIL", f)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
