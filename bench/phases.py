"""Where a step's cycles go on the simulated chip: the cycles of each phase of each step
(encoder, route: scan and drain, bias, update: sweep and learning) measured under
Verilator, beside gen/build.py ``performance``'s model of the same phases.

    python bench/phases.py [--config ulx3s-deep] [--samples 10] [--share 1] [--lanes 2]

The chip is the one ``gen compare`` simulates (learning built, learning off), built with
its internal signals public (a separate Verilator build: ``--public-flat-rw``) so that the
testbench (sim/tb_phases.py) can watch the sequencer's state; the chip's own cycle
counter gives the cycles a sample, as in ``compare``. Prints per phase the mean cycles a
step, measured and modelled (gen/perfmodel.py on the golden model's spikes of the same
samples; the chip is bit exact, so they are the chip's), and writes the per-step table
as JSON (``--out``/NAME/phases.json). ``--set sizes.layers=2`` changes config fields.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def segment(log, steps: int):
    """Per step: cycles in encode (phase 1), scan (phase 2 in the sequencer's ROUTE
    state), drain (the rest of phase 2: DRAIN), and the rest (phase 0 up to the next
    step: bias, update, sweeps, learning unit, next; None after a sample's last step,
    where the host's turn follows), and the router's stalls in the step. ``log``:
    [cycle, state, phase, stalls] at every change."""
    rows = []
    starts = [k for k in range(1, len(log)) if log[k][2] == 1 and log[k - 1][2] != 1]
    for n, (a, b) in enumerate(zip(starts, starts[1:] + [None])):
        seg = log[a:b]
        t0 = seg[0][0]
        enc_end = next(r[0] for r in seg if r[2] == 2)
        route_state = next(r[1] for r in seg if r[2] == 2)
        drain_start = next(r[0] for r in seg if r[2] == 2 and r[1] != route_state)
        other = next(r[0] for r in seg if r[0] > enc_end and r[2] == 0)
        last = (n + 1) % steps == 0 or b is None
        rows.append({"encode": enc_end - t0, "scan": drain_start - enc_end,
                     "drain": other - drain_start,
                     "rest": None if last else log[b][0] - other,
                     "stalls": None if last else log[b][3] - seg[0][3]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="ulx3s-deep")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--share", type=int, default=1)
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="config fields to change (sizes.layers=2 ...)")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "build/bench/phases")
    ap.add_argument("--reuse", action="store_true",
                    help="analyse the last simulation of this point again (no simulation)")
    args = ap.parse_args(argv)

    from gen.config import load_config
    from gen.topology import make_topology
    from rtl.top import SwirlChip
    from sim import harness
    from sim.compare import DIVISOR, link_for, run_chip
    from sim.data import load_task
    from sim.model import Network
    from runs import parse_sets
    cfg = load_config(None if args.config == "default" else args.config)
    cfg = cfg.replace(**parse_sets(args.set, ap)).validate()
    topo = make_topology(cfg)
    net = Network(cfg, topo)
    ds = load_task("digits", None, levels=cfg.dynamics.enc_theta)
    u = ds.x_test[:args.samples].astype(np.int64)
    labels = ds.y_test[:args.samples].astype(np.int64)
    name = args.config + "".join(f"_{s}" for s in args.set) + f"_s{args.share}_l{args.lanes}"
    work = (args.out / name).resolve()
    results = work / "chip_run" / "results.json"
    if args.reuse and results.exists():
        job_out = json.loads(results.read_text())[0]
    else:
        link = link_for(net, args.lanes)
        chip = SwirlChip(topo, divisor=DIVISOR, lanes=args.lanes, backend="memory",
                         share=args.share, learning=True, link=link)
        b = harness.build(chip, "chip-public", extra_args=("--public-flat-rw",),
                          opt=harness.sim_opt(harness.CHIP_OPT))
        job_out = run_chip(b, net, u, labels, [{"learn": False}], work, args.share,
                           args.lanes, testbench="sim.tb_phases")
    log = job_out["phase_log"]
    samples = job_out["runs"][0]["samples"]
    steps = segment(log, cfg.sizes.steps)
    steps = steps[:cfg.sizes.steps * args.samples]
    cycles = [s["cycles"] for s in samples]
    out = {"config": name, "cycles": cycles, "steps": steps}
    work.mkdir(parents=True, exist_ok=True)
    (work / "phases.json").write_text(json.dumps(out))
    # the model of the same steps (gen/perfmodel.py, as gen/build.py performance runs it)
    from gen.perfmodel import StepModel
    from gen.util import ceil_div
    plan = {"words_per_row": ceil_div(cfg.sizes.neurons, args.lanes),
            "readout_words_per_row": ceil_div(cfg.sizes.readout, args.lanes),
            "lanes": args.lanes, "share": args.share, "learning": True}
    model = StepModel(cfg, topo, plan)
    _, _, rec = net.run(u, record=True)
    phases = model.run(np.asarray(rec["s_in"]).swapaxes(0, 1),
                       np.asarray(rec["s_h"]).swapaxes(0, 1))      # (steps, samples, 3)
    modelled = phases.swapaxes(0, 1).reshape(-1, 3)                 # sample-major, as steps
    predicted = phases.sum((0, 2)) + model.overhead
    for row, m in zip(steps, modelled):
        row["model"] = [float(x) for x in m]
    out["model_cycles"] = [float(x) for x in predicted]
    (work / "phases.json").write_text(json.dumps(out))
    print(f"cycles a sample: measured {np.mean(cycles):.0f} ({min(cycles)}..{max(cycles)}), "
          f"model {np.mean(predicted):.0f}")
    print(f"{'a step':>24} {'measured':>9} {'model':>9}")
    for k, (name, keys) in enumerate((("encoder", ("encode",)),
                                      ("route (scan + drain)", ("scan", "drain")),
                                      ("update (to next step)", ("rest",)))):
        rows = [r for r in steps if all(r[x] is not None for x in keys)]
        got = np.mean([sum(r[x] for x in keys) for r in rows])
        print(f"{name:>24} {got:9.1f} {np.mean([r['model'][k] for r in rows]):9.1f}")
    for k in ("scan", "drain"):
        print(f"{k:>24} {np.mean([r[k] for r in steps]):9.1f}")
    stalls = [r["stalls"] for r in steps if r["stalls"] is not None]
    print(f"{'router stalls':>24} {np.mean(stalls):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
