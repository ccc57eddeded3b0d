"""Scaling study (issue 12 item 5): how the chip's size, speed and resources grow with
neurons per core, cores, layers, lanes and activity, and how well the performance model
(gen/build.py ``performance``) predicts the simulated chip.

    python bench/scaling.py [--board ice40] [--axes neurons cores layers lanes activity]
                            [--samples 10] [--no-build] [--out DIR]

One axis at a time around the default config (4 cores x 64 neurons, one layer, the
board's lanes): ``neurons`` per core 16/32/64/128, ``cores`` 3/4/8, ``layers`` 1/2/3,
``lanes`` 1/2/4 (weights a memory word: the synapses a crossbar reads a cycle),
``activity`` through the hidden threshold ``dynamics.theta`` 96/192/384 (lower fires
more). For each point:

* the model: cycles per step and per sample from the golden model's activity on the
  first ``--samples`` digits test samples;
* the simulation: the whole chip as ``build`` plans it for ``--board`` (its lanes and
  share, learning unit built, learning off) under Verilator on the same samples through
  its UART, bit exact against the golden model (asserted), cycles per sample measured by
  the chip; synaptic events per cycle against the weight memories' ceiling (physical
  banks x lanes a cycle);
* the build (unless ``--no-build``): ``python -m gen build`` for ``--board``: logic
  cells or LUT4, block RAM, SPRAM, DSP, Fmax; a point that does not fit says why.

Each stage of each point is cached as JSON in ``--out`` (default build/bench/scaling; the
model is computed afresh on every run, so a cached simulation meets the current model), so
the study resumes where it stopped. Prints the table, writes ``scaling.json``,
``scaling.csv`` and ``scaling.png``. A build takes 2-4 minutes on the iCE40, a
simulation 1-3.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gen.config import Config, ConfigError  # noqa: E402

#: axis -> (the config field it sets, or None for the lanes, its values)
AXES = {
    "neurons": ("sizes.neurons", [16, 32, 64, 128]),
    "cores": ("sizes.cores", [3, 4, 8]),     # > ws_neighbours (2)
    "layers": ("sizes.layers", [1, 2, 3]),
    "lanes": (None, [1, 2, 4]),
    "activity": ("dynamics.theta", [96, 192, 384]),
}
STAGES = ("sim", "build")


def parse_args(argv):
    from boards import BOARDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: python bench/scaling.py --axes neurons "
                                        "--no-build")
    ap.add_argument("--board", default="ice40", choices=sorted(BOARDS))
    ap.add_argument("--axes", nargs="+", default=list(AXES), choices=list(AXES))
    ap.add_argument("--samples", type=int, default=10,
                    help="digits test samples the model and the chip run (default 10)")
    ap.add_argument("--no-build", action="store_true",
                    help="model and simulation only (no synthesis, place and route)")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES,
                    help="what to compute (default both); the table takes what is cached, "
                         "so two processes, one a stage, use both cores")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "build/bench/scaling")
    ap.add_argument("--plot", type=pathlib.Path, default=None, metavar="FILE.png",
                    help="the figure (default OUT/scaling.png)")
    args = ap.parse_args(argv)
    if args.samples < 1:
        ap.error(f"--samples must be at least 1, not {args.samples}")
    return args


def points(axes, board):
    """``(axis, value, config, lanes)`` for each point, the default point once per axis
    (it is cached, so it is simulated and built once)."""
    from gen.build import lanes_for
    base = Config()
    default_lanes = lanes_for(base, board)
    out = []
    for axis in axes:
        field, values = AXES[axis]
        for v in values:
            cfg = base if field is None else base.replace(**{field: v})
            out.append((axis, v, cfg.validate(), v if field is None else default_lanes))
    return out


def _key(stage, board, cfg: Config, lanes, samples) -> str:
    from gen.build import weight_stage_for
    # the ECP5 chip as built registers its crossbars' weight words (from 2026-12-07):
    # its points are keyed apart from those simulated before
    stage_mark = ["weight_stage"] if weight_stage_for(board) else []
    text = json.dumps([stage, board.name, cfg.to_toml(), lanes,
                       samples if stage == "sim" else None] + stage_mark)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def cached(out: pathlib.Path, stage, board, cfg, lanes, samples, work):
    """The stage's result for a point: from ``out`` or computed by ``work()`` and
    written there at once; ``work`` None: the cached result or None."""
    path = out / f"{stage}-{_key(stage, board, cfg, lanes, samples)}.json"
    if path.exists():
        return json.loads(path.read_text()), True
    if work is None:
        return None, False
    t0 = time.monotonic()
    result = work()
    result["seconds"] = round(time.monotonic() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result, False


def simulate(cfg: Config, board, lanes: int, samples: int, work: pathlib.Path) -> dict:
    """The model's prediction (:func:`model_of`) and the simulated chip's measurement of
    one point."""
    from gen.build import plan_build
    from gen.topology import make_topology
    from sim.compare import compare
    topo = make_topology(cfg)
    plan = plan_build(cfg, board, topo, learning=True, lanes=lanes)
    r = compare(cfg, samples=samples, learn=False, share=plan["share"], lanes=lanes,
                work=work, weight_stage=plan["weight_stage"], sweep_lanes=plan["sweep_lanes"])
    if not r["bit_exact"]:
        raise AssertionError(f"the chip is not bit exact: {r['first_divergence']}")
    return {"share": plan["share"], "lanes": lanes, "banks": len(plan["weight_banks"]),
            "hidden": cfg.sizes.hidden, "synapses": topo.synapses(),
            **model_of(cfg, board, lanes, samples, topo, plan),
            "sim": {k: r[k] for k in ("cycles_per_sample", "synaptic_events_per_sample",
                                      "synaptic_events_per_cycle",
                                      "weight_ceiling_per_cycle",
                                      "weight_memory_utilisation")},
            "bit_exact": r["bit_exact"]}


def model_of(cfg: Config, board, lanes: int, samples: int, topo=None, plan=None) -> dict:
    """The performance model's prediction for one point (gen/build.py ``performance``):
    ``{"model", "activity"}``; ``topo`` and ``plan`` if the caller has them."""
    from gen.build import performance, plan_build
    from gen.topology import make_topology
    topo = topo or make_topology(cfg)
    plan = plan or plan_build(cfg, board, topo, learning=True, lanes=lanes)
    model = performance(cfg, topo, plan, None, samples=samples)
    return {"model": {k: model[k] for k in ("cycles_per_step", "cycles_per_sample",
                                            "phases_per_step",
                                            "weight_ceiling_synapses_per_cycle")},
            "activity": model["activity"]}


def synthesise(cfg: Config, board, lanes: int, out: pathlib.Path) -> dict:
    """Resources and Fmax of one point's build, or why it does not fit."""
    from gen.build import BuildError, run_build
    done = out / "report.json"          # a finished build whose summary was not written
    try:
        report = json.loads(done.read_text()) if done.exists() else \
            run_build(cfg, board, out, lanes=lanes, log=lambda msg: None)
    except (BuildError, ConfigError) as e:
        lines = str(e).splitlines()       # the stage, and the tool's own error if it gave one
        errors = [ln.strip() for ln in lines if ln.strip().startswith("ERROR:")]
        why = lines[0].split("; log ")[0] + (f": {errors[0]}" if errors else "")
        return {"fits": False, "why": why[:300]}
    res = report["resources"]
    clk = next(iter(report["fmax"].values()), {})
    return {"fits": True,
            **{k: res[k]["used"] for k in ("luts", "ebr", "spram", "dsp")},
            "luts_available": res["luts"]["available"],
            "fmax_mhz": clk.get("achieved_mhz"),
            "clock_mhz": round(report["clock"]["clock_hz"] / 1e6, 2),
            "met": report["timing"]["met"]}


def row_of(axis, value, sim, build) -> dict:
    m, s = sim["model"], sim["sim"]
    err = 100 * (m["cycles_per_sample"] - s["cycles_per_sample"]) / s["cycles_per_sample"]
    row = {"axis": axis, "value": value, "hidden": sim["hidden"], "synapses": sim["synapses"],
           "lanes": sim["lanes"], "share": sim["share"], "banks": sim["banks"],
           "hidden_spikes_per_step": round(sum(sim["activity"]["hidden_spikes_per_core"]), 2),
           "model_cycles_per_sample": m["cycles_per_sample"],
           "sim_cycles_per_sample": round(s["cycles_per_sample"]),
           "model_error_pct": round(err, 1),
           "events_per_cycle": round(s["synaptic_events_per_cycle"], 3),
           "ceiling_per_cycle": s["weight_ceiling_per_cycle"],
           "utilisation": round(s["weight_memory_utilisation"], 3)}
    if build is not None:
        row.update({k: build.get(k) for k in ("fits", "luts", "luts_available", "ebr",
                                              "spram", "dsp", "fmax_mhz", "clock_mhz", "met")})
        if build.get("fits") and build.get("fmax_mhz"):
            row["samples_per_s_at_fmax"] = round(build["fmax_mhz"] * 1e6
                                                 / s["cycles_per_sample"], 1)
        if not build.get("fits"):
            row["why"] = build.get("why")
    return row


def table(rows) -> str:
    cols = ["axis", "value", "hidden", "synapses", "lanes", "share", "spikes/step",
            "model cyc/sample", "sim cyc/sample", "error", "events/cycle", "ceiling",
            "LC or LUT4", "EBR", "SPRAM", "DSP", "Fmax MHz", "samples/s at Fmax"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r["axis"], r["value"], r["hidden"], f"{r['synapses']:,}", r["lanes"],
                 r["share"], r["hidden_spikes_per_step"], f"{r['model_cycles_per_sample']:,}",
                 f"{r['sim_cycles_per_sample']:,}", f"{r['model_error_pct']:+.1f}%",
                 r["events_per_cycle"], r["ceiling_per_cycle"]]
        if r.get("fits"):
            cells += [f"{r['luts']:,} of {r['luts_available']:,}", r["ebr"], r["spram"],
                      r["dsp"], r["fmax_mhz"], r.get("samples_per_s_at_fmax", "")]
        elif "fits" in r:
            cells += [f"does not fit: {r['why']}", "", "", "", "", ""]
        else:
            cells += [""] * 6
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def plot(rows, axes, path: pathlib.Path, board_name: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("cycles a sample:\nmodel (o), simulated (x)", "cycles"),
              ("synaptic events a cycle\nand the ceiling (--)", "events")]
    if any(r.get("fits") for r in rows):
        panels += [("logic (% of the board's)", "luts"),
                   ("Fmax (MHz), the board\nclock (--)", "fmax")]
    fig, grid = plt.subplots(len(panels), len(axes),
                             figsize=(max(6.0, 3.0 * len(axes)), 2.6 * len(panels) + 0.8),
                             squeeze=False)
    for j, axis in enumerate(axes):
        rs = [r for r in rows if r["axis"] == axis]
        x = [str(r["value"]) for r in rs]
        for i, (title, what) in enumerate(panels):
            ax = grid[i][j]
            if what == "cycles":
                ax.plot(x, [r["model_cycles_per_sample"] for r in rs], "o-", label="model")
                ax.plot(x, [r["sim_cycles_per_sample"] for r in rs], "x--", label="simulated")
                for xi, r in zip(x, rs):
                    ax.annotate(f"{r['model_error_pct']:+.0f}%",
                                (xi, r["sim_cycles_per_sample"]), fontsize=7,
                                textcoords="offset points", xytext=(4, -10))
                ax.set_yscale("log")
            elif what == "events":
                ax.plot(x, [r["events_per_cycle"] for r in rs], "o-")
                ax.plot(x, [r["ceiling_per_cycle"] for r in rs], "k--", lw=1)
            elif what == "luts":
                ys = [100 * r["luts"] / r["luts_available"] if r.get("fits") else None
                      for r in rs]
                ax.bar(x, [y or 0 for y in ys], color=["C0" if y else "lightgrey" for y in ys])
                for xi, y in zip(x, ys):
                    if y is None:
                        ax.annotate("no fit" if any("fits" in r for r in rs) else "",
                                    (xi, 2), ha="center", fontsize=7, rotation=90)
                ax.axhline(100, color="k", lw=1, ls="--")
            else:     # one scale for every axis, and the clock the board runs
                built = [r for r in rows if r.get("fits")]
                ax.plot(x, [r.get("fmax_mhz") if r.get("fits") else None for r in rs], "o-")
                ax.set_ylim(0.8 * min(r["fmax_mhz"] for r in built),
                            1.1 * max(r["fmax_mhz"] for r in built))
                ax.axhline(built[0]["clock_mhz"], color="k", lw=1, ls="--")
            if i == 0:
                ax.set_title(f"{axis}", fontsize=10)
            if j == 0:
                ax.set_ylabel(title, fontsize=8)
            if i == len(panels) - 1:
                ax.set_xlabel(AXES[axis][0] or "lanes (weights a word)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(f"SWIRL scaling on {board_name}: one axis at a time around the default\n"
                 f"(digits test samples, inference, the learning chip as the board builds it)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    from boards import get_board
    args = parse_args(argv)
    board = get_board(args.board)
    todo = points(args.axes, board)
    out = args.out / board.name
    rows, errors = [], []
    stages = [st for st in args.stages if not (st == "build" and args.no_build)]
    for n, (axis, value, cfg, lanes) in enumerate(todo, 1):
        label = f"[{n}/{len(todo)}] {axis} = {value}"
        work = out / "work" / _key("sim", board, cfg, lanes, args.samples)
        try:
            sim, hit = cached(out, "sim", board, cfg, lanes, args.samples,
                              (lambda: simulate(cfg, board, lanes, args.samples, work))
                              if "sim" in stages else None)
        except (ConfigError, ValueError) as e:
            errors.append(f"{label}: {e}")
            print(f"{label}: skipped: {e}", file=sys.stderr, flush=True)
            continue
        if sim is not None:
            # the model is cheap: computed afresh, so a cached simulation meets the
            # current model (the cache keeps the model of the run that simulated)
            sim = {**sim, **model_of(cfg, board, lanes, args.samples)}
            print(f"{label}: simulated {'(cached)' if hit else 'in %s s' % sim['seconds']}: "
                  f"{sim['sim']['cycles_per_sample']:.0f} cycles a sample, model "
                  f"{sim['model']['cycles_per_sample']}", file=sys.stderr, flush=True)
        build_dir = out / "builds" / _key("build", board, cfg, lanes, None)
        build, hit = cached(out, "build", board, cfg, lanes, None,
                            (lambda: synthesise(cfg, board, lanes, build_dir))
                            if "build" in stages else None)
        if build is not None:
            what = (f"{build['luts']} LCs, Fmax {build['fmax_mhz']} MHz" if build["fits"]
                    else f"does not fit: {build['why']}")
            print(f"{label}: built {'(cached)' if hit else 'in %s s' % build['seconds']}: "
                  f"{what}", file=sys.stderr, flush=True)
        if sim is not None:
            rows.append(row_of(axis, value, sim, build))
    if not rows:
        print("no point simulated yet (--stages sim makes them)", file=sys.stderr)
        return 1 if errors else 0
    print(table(rows))
    errs = [abs(r["model_error_pct"]) for r in rows]
    if errs:
        print(f"\nmodel error over {len(rows)} points: max {max(errs):.1f}%, mean "
              f"{sum(errs) / len(errs):.1f}%")
    (out / "scaling.json").write_text(json.dumps({"board": board.name, "samples": args.samples,
                                                  "rows": rows, "errors": errors}, indent=1))
    with open(out / "scaling.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        w.writerows(rows)
    png = args.plot or out / "scaling.png"
    plot(rows, [a for a in args.axes if any(r["axis"] == a for r in rows)], png, board.name)
    print(f"wrote {out / 'scaling.json'}, {out / 'scaling.csv'}, {png}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
