"""The whole chip under Verilator behind a pseudo-terminal: a serial port for
``python -m gen run --port`` with no board (sim/tb_pty.py has the bridge).

    python -m sim.pty_chip --weights swirl-digits.npz      # prints /dev/pts/N, serves
    python -m gen run --port /dev/pts/N --weights swirl-digits.npz --samples 50

The chip is built (cached in sim_build/, as for ``gen compare``) for the weights' config,
or ``--config``'s, with ``--lanes`` weights a word (the host learns them from PING) and
``--share`` logical cores per physical one. It runs until Ctrl-C. :class:`PtyChip` does the
same from Python (the tests): ``with PtyChip(build) as chip: ... chip.port``.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import threading
import time

from . import harness
from .compare import DIVISOR, LANES, chip_build

__all__ = ["PtyChip", "main"]


class PtyChip:
    """A Verilator run of ``build`` (:func:`sim.compare.chip_build`) behind a pty, in a
    background thread; :attr:`port` is the pty's slave once :meth:`start` returns.
    :meth:`stop` ends the simulation and returns the bridge's counters. ``perturb``
    (``{"space", "bank", "addr", "word"}``, sim/tb_pty.py ``Perturb``): a broken memory
    word on the chip's side, for the tests that show a run catches it; ``mute_after``: the
    link goes dead after that many replies (a board that stops answering)."""

    def __init__(self, build: harness.Build, work: pathlib.Path | None = None,
                 divisor: int = DIVISOR, max_idle_s: float = 3600.0,
                 perturb: dict | None = None, mute_after: int | None = None,
                 settle_cycles: int = 0):
        self.build = build
        self._tmp = None
        if work is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="swirl-pty-")
            work = pathlib.Path(self._tmp.name)
        self.work = pathlib.Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.port_file = self.work / "port"
        self.stop_file = self.work / "stop"
        for f in (self.port_file, self.stop_file):
            f.unlink(missing_ok=True)
        self.job = {"divisor": divisor, "port_file": str(self.port_file),
                    "stop_file": str(self.stop_file), "max_idle_s": max_idle_s,
                    "perturb": perturb, "mute_after": mute_after,
                    "settle_cycles": settle_cycles}
        self.port = None
        self.result = None
        self.error = None
        self._thread = None

    def _run(self):
        try:
            self.result = harness.run(self.build, "sim.tb_pty", self.job,
                                      self.work / "sim")[0]
        except BaseException as e:            # reported by stop() and start()
            self.error = e

    def start(self, timeout: float = 120.0) -> str:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        t0 = time.monotonic()
        while not self.port_file.exists():
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the simulation ended before it opened a pty: "
                                   f"{self.error}; see {self.work / 'sim' / 'sim.log'}")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"no pty after {timeout:.0f} s; see "
                                   f"{self.work / 'sim' / 'sim.log'}")
            time.sleep(0.05)
        self.port = self.port_file.read_text().strip()
        return self.port

    def stop(self, timeout: float = 60.0) -> dict:
        self.stop_file.write_text("stop")
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result or {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()


def main(argv=None) -> int:
    from gen.config import load_config
    from gen.topology import make_topology
    p = argparse.ArgumentParser(prog="python -m sim.pty_chip", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=pathlib.Path, metavar="FILE.npz",
                   help="build the chip for these weights' config")
    p.add_argument("--config", type=pathlib.Path, metavar="FILE",
                   help="... or for this config (default: the shipped default)")
    p.add_argument("--lanes", type=int, default=LANES, help=f"default {LANES}")
    p.add_argument("--share", type=int, default=1, help="default 1")
    p.add_argument("--opt", default="-O2",
                   help="the model's C++ optimisation (default -O2: a run of hundreds of "
                        "samples; -O0 builds in half the time and runs 8x slower)")
    p.add_argument("--work", type=pathlib.Path, metavar="DIR",
                   help="keep the simulation's files (sim.log) in DIR")
    args = p.parse_args(argv)
    if args.weights is not None:
        from sim.train import load_weights
        cfg = load_weights(args.weights).config
    else:
        cfg = load_config(args.config)
    print("building the chip under Verilator (cached in sim_build/; the first build of a "
          "config takes minutes)", file=sys.stderr, flush=True)
    build = chip_build(make_topology(cfg), args.share, args.lanes, opt=args.opt)
    chip = PtyChip(build, args.work)
    port = chip.start()
    print(port, flush=True)
    print(f"the chip listens on {port}; Ctrl-C ends it", file=sys.stderr, flush=True)
    try:
        while chip._thread.is_alive():
            chip._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    stats = chip.stop()
    print(f"served {stats.get('commands', 0)} commands in {stats.get('cycles', 0)} cycles",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
