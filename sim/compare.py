"""The whole chip beside the golden model (``python -m gen compare``).

:func:`compare` runs the same samples through

* the golden model (sim/model.py), recording every step, and
* the whole chip (rtl/top.py ``SwirlChip``) under Verilator, loaded and driven through its
  UART by the host driver (sim/tb_chip.py),

and sets them side by side: per sample the predictions, class counts and learning
counters of both; per step and per population (input, each hidden core, readout) the
spike counts, and the first spike that differs; after the run every weight word and LFSR
state. ``bit_exact`` is true only when all of it agrees.

The figure of merit it also measures: synaptic events (a spike reaching a synapse) per
chip cycle, against the weight memories' ceiling (``banks * lanes`` weights read a cycle).
At any clock the fraction is the same, so it is reported as a fraction and, given an
Fmax, as events per second.
"""
from __future__ import annotations

import pathlib
import sys
import tempfile
import time

import numpy as np

from gen.config import HOST_WORD_BITS, Config, host_word_lanes  # (HOST_WORD_BITS re-exported)
from gen.topology import make_topology

from . import harness
from .host import load_commands, weight_words
from .model import Network, trace_step

__all__ = ["compare", "chip_build", "run_chip", "synaptic_events", "format_report",
           "side_by_side", "chip_raster", "model_raster", "first_divergence",
           "spike_mismatches",
           "DIVISOR", "LANES", "HOST_WORD_BITS", "check_lanes"]

DIVISOR = 4          # UART bit time in cycles under simulation (the smallest rtl/uart.py takes)
LANES = 2            # default weights a word: one SPRAM word of 8-bit weights


#: ``compare --link auto`` bypasses the UART above this many weight words: at DIVISOR a
#: word costs ~190 cycles each way on the UART, so ulx3s-deep's 201k words took over 70M
#: cycles to load and read back (hours under Verilator); the byte streams carry a byte a
#: cycle through the same host link (rtl/top.py ``SwirlChip(link="bytes")``)
UART_WORDS = 100_000
LINKS = ("auto", "uart", "bytes")


def link_for(net: Network, lanes: int, link: str = "auto") -> str:
    """The host link :func:`compare` simulates: ``link``, or for ``"auto"`` the UART
    unless the weights take more than :data:`UART_WORDS` words."""
    if link not in LINKS:
        raise ValueError(f"--link must be one of {', '.join(LINKS)}, not {link!r}")
    if link != "auto":
        return link
    words = sum(len(b) for b in weight_words(net, lanes))
    return "bytes" if words > UART_WORDS else "uart"


def check_lanes(config: Config, lanes: int) -> int:
    """``lanes`` if a weight word of that many weights travels on the host link, else a
    ValueError naming the limit (``compare`` loads and reads back every word)."""
    limit = host_word_lanes(config.widths.weight)
    if not isinstance(lanes, int) or not 1 <= lanes <= limit:
        raise ValueError(f"--lanes must be 1..{limit} for widths.weight = "
                         f"{config.widths.weight} (a host-link word holds {HOST_WORD_BITS} "
                         f"bits), not {lanes!r}")
    return lanes


def chip_build(topo, share: int = 1, lanes: int = LANES,
               trace: str | None = None, opt: str | None = None,
               learning: bool = True, divisor: int = DIVISOR,
               link: str = "uart", weight_stage: bool = False,
               sweep_lanes: int | None = None) -> harness.Build:
    """The chip's Verilator build for ``topo`` (cached in sim_build/ by Verilog text);
    ``share`` logical cores per physical core (rtl/top.py ``Engine``), ``lanes`` weights
    a memory word; ``trace="saif"``: with the SAIF tracer; ``opt``: the C++ optimisation
    (sim/harness.py build); ``learning`` False: the inference chip (``build --learning
    off``); ``divisor``: the UART's cycles a bit (bench/fuzz.py takes a longer bit, where
    2 % of it is more than a cycle); ``link``: ``"bytes"`` leaves the UART out (a byte a
    cycle on the host link's streams, :func:`link_for`); ``weight_stage``: the crossbars
    register their weight words (an ECP5 board's chip, gen/build.py ``weight_stage_for``);
    ``sweep_lanes``: the learning unit's sweep lanes (default ``lanes``; the UP5K's 2,
    gen/build.py ``sweep_lanes_for``)."""
    from rtl.top import SwirlChip
    chip = SwirlChip(topo, divisor=divisor, lanes=lanes, backend="memory", share=share,
                     learning=learning, link=link, weight_stage=weight_stage,
                     sweep_lanes=sweep_lanes)
    return harness.build(chip, "chip", trace=trace,
                         opt=opt or harness.sim_opt(harness.CHIP_OPT))


def run_chip(build: harness.Build, net: Network, u, labels, runs: list,
             work: pathlib.Path, share: int = 1, lanes: int = LANES,
             trace: str | None = None, states: bool = False,
             testbench: str = "sim.tb_chip") -> dict:
    """Load ``net`` into the simulated chip and run ``u`` once per entry of ``runs``
    (``{"learn": bool}``); returns what sim/tb_chip.py ``run_job`` read back. ``share``,
    ``lanes``: as the chip was built (:func:`chip_build`); ``trace="saif"`` (a build
    with it) writes ``work / "chip_run" / "dump.saif"``; ``testbench``: the cocotb module
    that runs the job (sim/tb_phases.py adds a phase log to sim/tb_chip.py's)."""
    cfg, topo = net.config, net.topology
    s = cfg.sizes
    work = pathlib.Path(work).resolve()      # the simulator runs elsewhere: paths absolute
    work.mkdir(parents=True, exist_ok=True)
    image = work / "load.bin"
    image.write_bytes(b"".join(load_commands(net, lanes)))
    np.savez(work / "samples.npz", u=np.asarray(u), labels=np.asarray(labels))
    banks = weight_words(net, lanes)
    # a sample's worst case: every step sweeps every weight of every bank, twice over
    words = sum(len(b) for b in banks)
    run_timeout = s.steps * (50 * words + 200_000)
    job = {"image": str(image), "samples": str(work / "samples.npz"), "runs": runs,
           "divisor": DIVISOR, "cores": len(topo.cores), "banks": len(topo.cores) + 1,
           "share": share, "neurons": s.neurons,
           "classes": s.classes, "bank_words": [len(b) for b in banks],
           "timeout": 400 * DIVISOR * 10, "run_timeout": run_timeout, "states": states}
    return harness.run(build, testbench, job, work / "chip_run", trace=trace)[0]


def state_divergence(trace: dict, chip_steps: list, config, learn: bool = False) -> dict | None:
    """The first value after a step that differs between the golden model's record of one
    sample (``trace``: ``Network.run(record=True)``) and the chip's probe (``chip_steps``:
    tb_chip's steps with ``state``, :func:`run_chip` with ``states``):
    ``{"step", "population", "core", "neuron", "field", "model", "chip"}``, or None when
    every value of every step is equal. Compared, each step: every hidden and readout
    neuron's current and membrane; when learning (the learning unit's phases 4-6 run only
    then), every pre-synaptic trace as written back (input, hidden, bias source: the
    model's ``trace_step`` of the step's record) and the teacher's class traces. A value
    the chip did not report in a step diverges with ``chip`` None. ``core`` is the hidden
    neuron's core, the readout neuron's class, the teacher trace's class (``neuron`` 0)."""
    s, ln, w = config.sizes, config.learning, config.widths
    T, N = s.steps, s.neurons

    def rows(key):
        return np.asarray(trace[key]).reshape(T, -1)
    kw = {"shift": ln.trace_shift, "inc": ln.trace_inc, "width": w.trace}
    after = [trace_step(rows("x_in"), rows("s_in"), **kw),
             trace_step(rows("x_h"), rows("s_h"), **kw),
             trace_step(rows("x_bias"), 1, **kw)]        # the bias source spikes every step
    traces = np.concatenate(after, axis=1)              # the trace memory's addresses
    # trace address -> (population, core, neuron): inputs, hidden neurons, the bias source
    sources = ([("input trace", None, i) for i in range(s.n_in)] +
               [("hidden trace", j // N, j % N) for j in range(s.hidden)] +
               [("bias trace", None, 0)])
    for t, step in enumerate(chip_steps):
        checks = [("hidden", step["state"], (("current", rows("i_h")),
                                             ("membrane", rows("v_h"))), N),
                  ("readout", step["readout_state"], (("current", rows("i_r")),
                                                      ("membrane", rows("v_r"))), s.per_class)]
        if learn:
            checks += [("traces", step["traces"], (("trace", traces),), None),
                       ("teacher", list(enumerate(step["activity"])),
                        (("class trace", rows("teach")),), 1)]
        for population, got_rows, fields, per in checks:
            got = {r[0]: r[1:] for r in got_rows}
            for j in range(fields[0][1].shape[1]):
                for f, (name, model) in enumerate(fields):
                    chip = got[j][f] if j in got else None
                    if chip != int(model[t, j]):
                        where = sources[j] if per is None else (population, j // per, j % per)
                        return {"step": t, "population": where[0], "core": where[1],
                                "neuron": where[2], "field": name, "model": int(model[t, j]),
                                "chip": chip}
    return None


def synaptic_events(net: Network, trace: dict) -> int:
    """Synapses reached by the spikes of one recorded sample (input, hidden, readout and
    the bias row), from the golden model's raster."""
    cfg, topo = net.config, net.topology
    s_in, s_h = np.asarray(trace["s_in"]), np.asarray(trace["s_h"])
    n_last = cfg.sizes.cores * cfg.sizes.neurons
    last = topo.last_layer_offset
    ev = int((s_in @ net.in_mask.astype(np.int64)).sum())
    prev = np.vstack([np.zeros((1, s_h.shape[1]), np.int64), s_h[:-1]])  # spikes of t-1
    ev += int((prev @ net.hh_mask.astype(np.int64)).sum())
    ro = net.ro_mask.astype(np.int64)
    ev += int((prev[:, last:last + n_last] @ ro[:n_last]).sum())
    if cfg.topology.readout_bias:
        ev += int(ro[n_last].sum()) * len(s_h)
    return ev


def _bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> i) & 1 for i in range(n)], np.int64)


def chip_raster(steps: list, cfg) -> dict:
    """The chip's raster of one sample: ``{"s_in", "s_h", "s_r"}``, each a (steps,
    neurons) 0/1 array, from the per-step probe records of sim/tb_chip.py
    (``steps_raster``: integers, bit ``i`` neuron ``i``, hidden per logical core). The
    probe port carries no modulator spikes."""
    s = cfg.sizes
    N = s.neurons
    return {
        "s_in": np.array([_bits(t["s_in"], s.n_in) for t in steps]).reshape(-1, s.n_in),
        "s_h": np.array([np.concatenate([_bits(v, N) for v in t["s_h"]]) for t in steps])
        .reshape(-1, s.hidden),
        "s_r": np.array([_bits(t["s_r"], s.readout) for t in steps]).reshape(-1, s.readout),
    }


_chip_raster = chip_raster          # the old private name


def model_raster(trace: dict, cfg) -> dict:
    """The golden model's raster of one sample from ``Network.run(..., record=True)``'s
    trace (of that one sample): ``s_in``, ``s_h``, ``s_r`` and ``m`` (modulators), each
    a (steps, neurons) array."""
    return {k: np.asarray(trace[k]).reshape(cfg.sizes.steps, -1)
            for k in ("s_in", "s_h", "s_r", "m")}


_POPULATION = (("s_in", "input"), ("s_h", "hidden"), ("s_r", "readout"))


def first_divergence(model: dict, chip: dict, cfg) -> dict | None:
    """The first spike (step-major; input, hidden, readout within a step) where the two
    rasters differ: ``{"step", "key", "population", "index", "core", "neuron", "model",
    "chip", "where"}`` (``core`` only for hidden; ``where`` the readable place), or None
    when they agree. A chip that ran another number of steps diverges at the first step
    one of them lacks (``key`` None)."""
    N = cfg.sizes.neurons
    T = cfg.sizes.steps
    if len(chip["s_h"]) != T:
        t = min(len(chip["s_h"]), T)
        return {"step": t, "key": None, "population": "steps", "index": None,
                "core": None, "neuron": None, "model": T, "chip": len(chip["s_h"]),
                "where": f"the chip ran {len(chip['s_h'])} steps, the model {T}"}
    for t in range(T):
        for key, pop in _POPULATION:
            bad = np.flatnonzero(np.asarray(model[key][t]) != np.asarray(chip[key][t]))
            if len(bad):
                j = int(bad[0])
                hidden = key == "s_h"
                where = f"{pop} core {j // N} neuron {j % N}" if hidden else \
                    f"{pop} neuron {j}"
                return {"step": t, "key": key, "population": pop, "index": j,
                        "core": j // N if hidden else None,
                        "neuron": j % N if hidden else j,
                        "model": int(model[key][t][j]), "chip": int(chip[key][t][j]),
                        "where": where}
    return None


def spike_mismatches(model: dict, chip: dict) -> list:
    """Every ``{"step", "key", "index"}`` where both rasters have the population and the
    step and differ."""
    out = []
    for key, _ in _POPULATION:
        if key not in model or key not in chip:
            continue
        a, b = np.asarray(model[key]), np.asarray(chip[key])
        T = min(len(a), len(b))
        for t, j in zip(*np.nonzero(a[:T] != b[:T])):
            out.append({"step": int(t), "key": key, "index": int(j)})
    return out


def _first_divergence(model: dict, chip: dict, net) -> str | None:
    """The first (step, population, neuron) whose spike differs, as text."""
    d = first_divergence(model, chip, net.config)
    if d is None:
        return None
    if d["key"] is None:
        return d["where"]
    return f"step {d['step']}, {d['where']}: model {d['model']}, chip {d['chip']}"


def _population_counts(raster: dict, cfg) -> list:
    """Per step: [input, core 0, core 1, ..., readout] spike counts."""
    N = cfg.sizes.neurons
    G = cfg.sizes.hidden // N
    out = []
    for t in range(len(raster["s_h"])):
        h = np.asarray(raster["s_h"][t]).reshape(G, N).sum(1)
        out.append([int(np.sum(raster["s_in"][t])), *map(int, h),
                    int(np.sum(raster["s_r"][t]))])
    return out


STATS = ("modulator_events", "gated_steps", "rows_swept", "weight_writes")


def compare(config: Config, *, task: str = "digits", samples: int = 20, learn: bool = False,
            weights=None, data=None, work: pathlib.Path | None = None,
            progress=None, share: int = 1, lanes: int = LANES, scaling=None,
            rasters: bool = False, states: bool = False, link: str = "auto",
            weight_stage: bool = False, sweep_lanes: int | None = None) -> dict:
    """Run ``samples`` test samples of ``task`` through the golden model and the
    simulated chip (module docstring); returns the report (see :func:`format_report`).
    ``weights``: a sim.model.Weights to start from (default: the config's initial ones).
    ``progress(stage, seconds)`` is called after each stage. ``share``: the chip's
    logical cores per physical core (the UP5K learning chip's 2, gen/build.py);
    ``lanes``: weights a memory word (a board's: gen.build.lanes_for); ``scaling``: a
    sim.data.Scaling for a user's ``data`` (the one saved with trained weights).
    ``rasters``: keep every sample's ``{"model", "chip"}`` rasters in
    ``report["rasters"]`` (numpy arrays, for gen.plots.raster; not JSON). ``states``: also
    compare every step's currents, membranes and traces (:func:`state_divergence`; the
    probe watched every cycle: a slower simulation). ``link``: the host link simulated,
    ``"uart"``, ``"bytes"`` or ``"auto"`` (:func:`link_for`); the report says which.
    ``weight_stage``, ``sweep_lanes``: as :func:`chip_build`."""
    from .data import check_fits, load_task
    say = progress or (lambda stage, seconds: None)
    config = config.validate()
    check_lanes(config, lanes)
    topo = make_topology(config)
    net = Network(config, topo, weights.copy() if weights is not None else None)
    ds = load_task(task, data, levels=config.dynamics.enc_theta, scaling=scaling)
    check_fits(config, ds)
    if not 1 <= samples <= len(ds.x_test):
        raise ValueError(f"--samples must be 1..{len(ds.x_test)} (the test set of {task!r}), "
                         f"not {samples}")
    u, labels = ds.x_test[:samples].astype(np.int64), ds.y_test[:samples].astype(np.int64)
    t0 = time.time()
    if share < 1 or config.sizes.cores % share:
        raise ValueError(f"--share must divide sizes.cores = {config.sizes.cores}, "
                         f"not {share}")
    link = link_for(net, lanes, link)
    b = chip_build(topo, share, lanes, link=link, weight_stage=weight_stage,
                   sweep_lanes=sweep_lanes)
    say("build", time.time() - t0)

    # the chip first, from the initial weights (the model changes them when learning)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="swirl-compare-") as tmp:
        chip = run_chip(b, net, u, labels, [{"learn": learn}],
                        pathlib.Path(work) if work else pathlib.Path(tmp), share, lanes,
                        states=states)
    say("chip", time.time() - t0)
    t0 = time.time()
    report = side_by_side(net, u, labels, learn, chip["runs"][0], task=task, share=share,
                          lanes=lanes, rasters=rasters)
    say("model", time.time() - t0)
    report["link"] = link
    report["weight_stage"] = weight_stage
    report["sweep_lanes"] = sweep_lanes or lanes
    return report


def side_by_side(net: Network, u, labels, learn: bool, run: dict, task: str = "",
                 share: int = 1, lanes: int = LANES, rasters: bool = False) -> dict:
    """Run the golden model ``net`` on the samples and set it beside the chip's ``run``
    (one entry of :func:`run_chip`'s ``runs``); ``net`` must hold the weights the chip
    started from, ``lanes`` as the chip was built. Returns the report; with ``rasters``
    also ``report["rasters"]``, a ``{"model", "chip"}`` pair of rasters a sample."""
    config, topo = net.config, net.topology
    samples = len(u)
    rows, model_rasters, traces = [], [], []
    for i in range(samples):
        before = dict(vars(net.stats))
        pred, counts, tr = net.run(u[i:i + 1], labels[i:i + 1] if learn else None,
                                   learn=learn, record=True)
        tr = tr[0] if learn else tr
        traces.append(tr)
        raster = model_raster(tr, config)
        model_rasters.append(raster)
        after = vars(net.stats)
        rows.append({"pred": int(pred[0]), "counts": [int(c) for c in counts[0]],
                     "stats": {k: after[k] - before[k] for k in STATS} if learn else None,
                     "lfsr": [bk.lfsr.state for bk in net.banks] +
                             [net.readout_bank.lfsr.state],
                     "synaptic_events": synaptic_events(net, raster)})
    report_rows, pairs = [], []
    first = None
    for i, (mrow, crow) in enumerate(zip(rows, run["samples"])):
        craster = chip_raster(crow["steps_raster"], config)
        pairs.append({"model": model_rasters[i], "chip": craster})
        div = _first_divergence(model_rasters[i], craster, net)
        if div is None and crow["steps_raster"] and "state" in crow["steps_raster"][0]:
            div = state_divergence(traces[i], crow["steps_raster"], config, learn)
        cstats = {k: crow[k] for k in STATS} if learn else None
        same = (div is None and mrow["pred"] == crow["prediction"] and
                mrow["counts"] == crow["counts"] and
                (not learn or (cstats == mrow["stats"] and crow["lfsr"] == mrow["lfsr"])))
        if not same and first is None:
            first = {"sample": i, "where": div or "counts, prediction, counters or LFSRs"}
        report_rows.append({
            "sample": i, "label": int(labels[i]), "model_pred": mrow["pred"],
            "chip_pred": crow["prediction"], "model_counts": mrow["counts"],
            "chip_counts": crow["counts"], "match": same, "divergence": div,
            "model_stats": mrow["stats"], "chip_stats": cstats,
            "cycles": crow["cycles"], "synaptic_events": mrow["synaptic_events"],
            "model_population_spikes": _population_counts(model_rasters[i], config),
            "chip_population_spikes": _population_counts(craster, config)})
    # weights and LFSRs after the run
    want = weight_words(net, lanes)
    weight_diff = [int(sum(a != c for a, c in zip(w, got)))
                   for w, got in zip(want, run["weights"])]
    lfsr_model = rows[-1]["lfsr"]
    # the inference chip has none to read (None), and nothing that steps them
    lfsr_same = run["lfsr"] == lfsr_model or (run["lfsr"] is None and not learn)
    bit_exact = all(r["match"] for r in report_rows) and not any(weight_diff) and lfsr_same
    if first is None and not bit_exact:
        first = {"sample": samples - 1, "where": "weights or LFSR states after the run"}
    cycles = sum(r["cycles"] for r in report_rows)
    events = sum(r["synaptic_events"] for r in report_rows)
    banks = len(topo.cores) // share      # physical banks: one word each a cycle
    extra = {"rasters": pairs} if rasters else {}
    return {
        "share": share, "lanes": lanes,
        "config_seed": config.seed, "task": task, "samples": samples, "learn": learn,
        "bit_exact": bit_exact, "first_divergence": first,
        "states_compared": bool(run["samples"] and run["samples"][0]["steps_raster"] and
                                "state" in run["samples"][0]["steps_raster"][0]),
        "accuracy": {"model": float(np.mean([r["model_pred"] == r["label"] for r in report_rows])),
                     "chip": float(np.mean([r["chip_pred"] == r["label"] for r in report_rows]))},
        "weight_words_differing": weight_diff, "lfsr_match": lfsr_same,
        "cycles_per_sample": cycles / samples,
        "synaptic_events_per_sample": events / samples,
        "synaptic_events_per_cycle": events / cycles if cycles else 0.0,
        "weight_ceiling_per_cycle": banks * lanes,
        "weight_memory_utilisation": events / cycles / (banks * lanes) if cycles else 0.0,
        "rows": report_rows, **extra,
    }


def format_report(r: dict, fmax_hz: float | None = None) -> str:
    """The readable side-by-side table."""
    link = {"uart": ", through the UART", "bytes": ", host link's byte streams (no UART)"}
    lines = [f"{r['task']}, {r['samples']} samples, learning {'on' if r['learn'] else 'off'}, "
             f"lanes {r['lanes']}{link.get(r.get('link'), '')}",
             f"{'#':>3} {'label':>5} {'model':>5} {'chip':>5}  {'counts (model | chip)':<32}"
             f" {'cycles':>8}  match"]
    for row in r["rows"]:
        counts = f"{row['model_counts']} | {row['chip_counts']}"
        lines.append(f"{row['sample']:>3} {row['label']:>5} {row['model_pred']:>5} "
                     f"{row['chip_pred']:>5}  {counts:<32} {row['cycles']:>8}  "
                     f"{'yes' if row['match'] else 'NO'}")
        if row["divergence"]:
            lines.append(f"      first divergence: {row['divergence']}")
        if row["model_stats"] is not None and row["model_stats"] != row["chip_stats"]:
            lines.append(f"      learning counters: model {row['model_stats']}, "
                         f"chip {row['chip_stats']}")
    first = r["rows"][0]
    pops = ["in"] + [f"c{g}" for g in range(len(first["model_population_spikes"][0]) - 2)] + \
        ["out"]
    lines.append("spikes per step and population, sample 0 (model | chip):")
    lines.append("  step " + " ".join(f"{p:>9}" for p in pops))
    for t, (ms, cs) in enumerate(zip(first["model_population_spikes"],
                                     first["chip_population_spikes"])):
        lines.append(f"  {t:>4} " + " ".join(f"{a:>4}|{b:<4}" for a, b in zip(ms, cs)))
    acc = r["accuracy"]
    lines.append(f"accuracy: model {100 * acc['model']:.1f}%, chip {100 * acc['chip']:.1f}%")
    lines.append(f"weights after the run: {sum(r['weight_words_differing'])} words differ "
                 f"(per bank {r['weight_words_differing']}); LFSR states "
                 f"{'match' if r['lfsr_match'] else 'DIFFER'}")
    lines.append(f"cycles per sample: {r['cycles_per_sample']:.0f}; synaptic events per "
                 f"sample: {r['synaptic_events_per_sample']:.0f}; "
                 f"{r['synaptic_events_per_cycle']:.2f} a cycle = "
                 f"{100 * r['weight_memory_utilisation']:.1f}% of the weight-memory ceiling "
                 f"({r['weight_ceiling_per_cycle']} a cycle)")
    if fmax_hz:
        lines.append(f"at {fmax_hz / 1e6:.1f} MHz: "
                     f"{r['synaptic_events_per_cycle'] * fmax_hz / 1e6:.1f} M synaptic "
                     f"events/s, {fmax_hz / r['cycles_per_sample']:.0f} samples/s")
    if r["first_divergence"]:
        d = r["first_divergence"]
        lines.append(f"first divergence: sample {d['sample']}: {d['where']}")
    lines.append(f"bit exact: {'yes' if r['bit_exact'] else 'NO'}" +
                 (" (every step's currents, membranes" +
                  (", traces and teacher traces" if r["learn"] else "") + " compared too)"
                  if r.get("states_compared") else ""))
    return "\n".join(lines)


if __name__ == "__main__":      # python -m sim.compare: the default config, 2 samples
    rep = compare(Config(), samples=2, progress=lambda st, sec: print(
        f"{st}: {sec:.1f} s", file=sys.stderr))
    print(format_report(rep))
