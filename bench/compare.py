"""The `compare` acceptance runs: the whole chip under Verilator beside the golden model,
20 digits test samples with learning off and 20 with it on, for the shipped default
config and three others that change the wiring, the dynamics and the learning rule, and
for the default config built as the UP5K learning chip (four logical cores on one).
Both start from weights the golden model learnt in one epoch of digits (`--epochs`), so
the readout fires and the classes differ (the initial readout weights are zero).

    python bench/compare.py [--samples 20] [--out bench/compare.json]

Prints one line per run and writes the reports (without the per-step rows) as JSON.
The Verilator builds are cached in sim_build/; a run takes minutes (loading 21k weight
words through the simulated UART is most of it).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
# long runs: an optimised model pays for its compile here (sim/harness.py sim_opt)
os.environ.setdefault("SWIRL_SIM_OPT", "-Os")

from gen.config import Config  # noqa: E402
from sim.compare import compare  # noqa: E402
from sim.data import load_task  # noqa: E402
from sim.train import TASK_OVERRIDES, train  # noqa: E402

CONFIGS = {
    "default": {},
    # another seed: another small-world wiring, initial weights, feedback hash and LFSRs
    "seed2": {"seed": 2},
    # the MNIST-1D learning settings (post term from the trace, count-like traces)
    "mnist1d_rule": {k: v for k, v in TASK_OVERRIDES["mnist1d"].items()
                     if not k.startswith("sizes.")},
    # two layers of three cores, refractory neurons, reset to zero, no readout bias, a
    # denser readout, recurrent weights frozen
    "two_layers": {"sizes.layers": 2, "sizes.cores": 3, "sizes.neurons": 32,
                   "dynamics.refractory": 2, "dynamics.reset_subtract": False,
                   "topology.readout_bias": False, "topology.readout_density": 0.8,
                   "learning.learn_recurrent": False},
    # the default config as the UP5K learning chip builds it: all four cores of the layer
    # time-share one physical core and one weight bank (gen/build.py share_for)
    "default_shared": {},
}
SHARE = {"default_shared": 4}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/compare.json"))
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args(argv)
    results = {}
    ok = True
    for name in args.configs:
        cfg = Config().replace(**CONFIGS[name]).validate()
        data = load_task("digits", levels=cfg.dynamics.enc_theta)
        trained = train(cfg, data, epochs=args.epochs, progress=False)
        weights = trained.net.weights
        for learn in (False, True):
            t0 = time.time()
            r = compare(cfg, task="digits", samples=args.samples, learn=learn,
                        weights=weights, share=SHARE.get(name, 1))
            r.pop("rows")
            r["seconds"] = round(time.time() - t0, 1)
            results[f"{name}/{'learn' if learn else 'infer'}"] = r
            ok &= r["bit_exact"]
            print(f"{name:13} learn={'on ' if learn else 'off'} bit_exact={r['bit_exact']} "
                  f"acc model {100 * r['accuracy']['model']:.0f}% chip "
                  f"{100 * r['accuracy']['chip']:.0f}%  cycles/sample "
                  f"{r['cycles_per_sample']:.0f}  events/cycle "
                  f"{r['synaptic_events_per_cycle']:.2f} "
                  f"({100 * r['weight_memory_utilisation']:.1f}% of the ceiling)  "
                  f"{r['seconds']:.0f} s", flush=True)
            args.out.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
