"""Throughput of the chip and the golden model beside a peer simulator (issue 12 items 6
and 7).

For the default config (or ``--config``, a file or a shipped preset) and digits samples,
with weights the golden model learnt in one epoch (so that every layer fires as it does
after training):

* the chip, as each board of ``--boards`` builds it (the learning chip: gen/build.py
  ``lanes_for`` and ``share_for``): cycles per sample and synaptic events from a
  Verilator run of the whole chip (sim/compare.py: load through the UART, ``--chip-samples``
  test samples with learning off, then the same samples with learning on, each checked
  bit exact against the golden model), at the clock the board runs: a build report's
  (``--build-report``, ``clock.clock_hz`` of report.json from ``python -m gen build``),
  else the clock ``build`` would plan (gen/build.py ``build_clock``: the config's
  ``clock_mhz``, else the board's default). The row says which;
* the golden model (sim/model.py), its fast paths (``sim.model.FAST``) and its reference
  int64 paths: batched inference, batch-1 inference, and online learning (one sample at
  a time, as the chip learns); the fast and reference runs are checked to agree;
* Brian2 (the peer) running a LIF network of the same size on the same wiring, weights
  and input spike trains (the golden model's rate encoder): cpp_standalone and the
  cython runtime without plasticity, and with pair STDP on every synapse as the training
  peer (Brian2 has no SWIRL rule; STDP is its standard online-learning load, an update
  per spike on each of the spiking neuron's synapses).

    python bench/throughput.py [--config PRESET] [--samples 200]
                               [--peers cpp cpp_stdp [cython cython_stdp]]
                               [--boards ice40 [ulx3s]] [--chip-samples 5]
                               [--build-report DIR_OR_report.json ...]
                               [--out bench/throughput.json]

Samples/s and synaptic events/s (a spike reaching a synapse, sim.compare.synaptic_events)
are per second of CPU time (the process's own, and for cpp_standalone its binary's), so a
second job on the machine does not skew them; wall times are printed beside. The chip's
are per second of chip time, cycles / clock (its cpu s and wall s columns), computing
only: sending a sample and reading its counts over the UART are not in the cycles. BLAS runs
single-threaded (threadpoolctl), as Brian2's binary does. Brian2's compile and code
generation are excluded from the timed call (the first run compiles: ~45 s per
cpp_standalone build on a loaded 2-core machine, ~1.5 min per cython network until
Brian2's cache holds it). A chip run takes minutes (~11 min for the UP5K chip and one
sample off + one on, most of it loading ~21k weight words through the simulated UART),
plus the Verilator build the first time (~2 min, cached in sim_build/). Results and the
command that made them: bench/throughput.md.

Brian2 is optional (``pip install -e .[peers]``). Where it does not import with this
environment's numpy (Brian2 2.9.0, the last for Python 3.11, uses ``ndarray.ptp``, gone
in numpy 2.4), the script makes its own venv, .venv-peers/, with PEER_PINS. Without
Brian2 (or with ``--peers`` empty) it prints why and reports the model rows only.

The table is a list of :class:`Row`; a row measured elsewhere (the chip's, from its clock
and cycles per sample) is one more ``Row`` with ``peer`` naming the row it is compared to:
inference rows against Brian2 cpp_standalone without learning, learning rows against
cpp_standalone with STDP (the cython rows where cpp_standalone was not run). "vs peer" is
the ratio of samples/s, "ev vs peer" of synaptic events/s (the Brian2 network's float
dynamics spike a little differently, so the two ratios differ).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".venv-peers"
PEER_PINS = ["brian2==2.9.0", "numpy>=2,<2.4"]
PEER_KINDS = ("cpp", "cython", "cython_stdp", "cpp_stdp")
PEER_TITLES = {
    "cpp": "Brian2 cpp_standalone, LIF, no learning",
    "cython": "Brian2 cython runtime, LIF, no learning",
    "cython_stdp": "Brian2 cython runtime, LIF + STDP on every synapse",
    "cpp_stdp": "Brian2 cpp_standalone, LIF + STDP on every synapse",
}


@dataclass
class Row:
    name: str
    samples: int
    cpu_s: float          # CPU seconds of the measured part (the chip's: chip seconds)
    wall_s: float
    events: int | None    # synaptic events in those samples
    peer: str | None = None        # the row this one's ratio is taken against
    reference: str | None = None   # the model's reference-path row (old vs new)
    note: str = ""
    detail: dict = field(default_factory=dict)   # more for the JSON (the chip's run)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.cpu_s if self.cpu_s else float("nan")

    @property
    def events_per_s(self) -> float | None:
        return self.events / self.cpu_s if self.events is not None and self.cpu_s else None


def ratios(rows: list[Row], row: Row) -> dict:
    """``row`` over its peer (samples/s, events/s) and over its reference row (samples/s);
    None where there is no such row (or no event count)."""
    by_name = {r.name: r for r in rows}
    peer, ref = by_name.get(row.peer or ""), by_name.get(row.reference or "")
    return {
        "vs_peer_samples": row.samples_per_s / peer.samples_per_s if peer else None,
        "vs_peer_events": row.events_per_s / peer.events_per_s
        if peer and row.events_per_s and peer.events_per_s else None,
        "vs_reference_samples": row.samples_per_s / ref.samples_per_s if ref else None}


def format_table(rows: list[Row]) -> str:
    head = (f"{'row':48} {'samples':>7} {'cpu s':>8} {'wall s':>8} {'samples/s':>10} "
            f"{'events/s':>10} {'vs peer':>9} {'ev vs peer':>10} {'vs ref':>8}  peer")
    lines = [head, "-" * len(head)]

    def x(v, width):
        return f"{v:{width - 1}.2f}x" if v is not None else f"{'-':>{width}}"
    for r in rows:
        q = ratios(rows, r)
        ev = f"{r.events_per_s / 1e6:8.2f} M" if r.events_per_s is not None else "       - "
        lines.append(f"{r.name:48} {r.samples:7d} {r.cpu_s:8.3g} {r.wall_s:8.3g} "
                     f"{r.samples_per_s:10.1f} {ev:>10} {x(q['vs_peer_samples'], 9)} "
                     f"{x(q['vs_peer_events'], 10)} {x(q['vs_reference_samples'], 8)}  "
                     f"{r.peer or ''}")
        if r.note:
            lines.append(f"{'':4}{r.note}")
    return "\n".join(lines)


def _timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


# ---- the golden model --------------------------------------------------------------
def model_rows(cfg, weights, data, samples: int, batch: int, reps: int):
    import numpy as np

    import sim.model as M
    from sim.compare import synaptic_events
    from sim.model import Network, predict

    topo = Network(cfg).topology
    x_inf, x_tr, y_tr = data.x_test[:samples], data.x_train[:samples], data.y_train[:samples]

    def fresh():
        return Network(cfg, topo, weights.copy())

    # synaptic events from recorded (untimed) runs: the model is deterministic, so the
    # timed runs below reach the same synapses
    net = fresh()
    _, _, tr = net.run(x_inf, record=True)
    ev_inf = sum(synaptic_events(net, {k: tr[k][b] for k in ("s_in", "s_h")})
                 for b in range(len(x_inf)))
    net = fresh()
    _, _, trs = net.run(x_tr, y_tr, learn=True, record=True)
    ev_tr = sum(synaptic_events(net, {k: t[k][0] for k in ("s_in", "s_h")}) for t in trs)

    rows, outputs = [], {}
    b1 = min(samples, max(20, samples // 4))     # batch 1 is slow on the reference path
    for fast, tag in ((True, "fast"), (False, "reference int64")):
        M.FAST = fast
        try:
            for kind, n, ev, fn in (
                    ("infer batched", samples, ev_inf,
                     lambda: predict(fresh(), x_inf, batch=batch)),
                    ("infer batch 1", b1, None,
                     lambda: predict(fresh(), x_inf[:b1], batch=1)),
                    ("train online", samples, ev_tr, lambda: _train(fresh(), x_tr, y_tr))):
                best = None
                for _ in range(reps):
                    out, cpu, wall = _timed(fn)
                    if best is None or cpu < best[1]:
                        best = (out, cpu, wall)
                outputs[(kind, tag)] = best[0]
                name = f"model {tag}: {kind}" + (f" (batch {batch})" if kind ==
                                                 "infer batched" else "")
                rows.append(Row(name, n, best[1], best[2], ev, note=""))
        finally:
            M.FAST = True
    # the fast paths are bit exact: same predictions, same weights after learning
    same = all(np.array_equal(outputs[(k, "fast")][0], outputs[(k, "reference int64")][0])
               for k in ("infer batched", "infer batch 1", "train online"))
    wf, wr = outputs[("train online", "fast")][1], outputs[("train online", "reference int64")][1]
    same &= all(np.array_equal(a, b) for a, b in zip(wf, wr))
    for r in rows:
        if r.name.startswith("model fast"):
            r.reference = r.name.replace("model fast", "model reference int64")
    return rows, same, tr["s_in"], trs


def _train(net, x, y):
    p, _, _ = net.run(x, y, learn=True)
    return p, (net.weights.w_in, net.weights.w_hh, net.weights.w_ro)


# ---- the chip ----------------------------------------------------------------------
def sim_env() -> None:
    """Verilator settings for the whole-chip runs: the model optimised (``-Os``, as
    bench/compare.py: the runs are long; sim/harness.py keeps its construction-time
    files at ``-O0``)."""
    os.environ.setdefault("SWIRL_SIM_OPT", "-Os")


def load_build_reports(paths) -> dict:
    """``{board name: (path, report)}`` from ``--build-report`` arguments (a build
    directory or its report.json)."""
    from boards import BOARDS
    reports = {}
    for given in paths:
        path = given / "report.json" if given.is_dir() else given
        try:
            report = json.loads(path.read_text())
            board = report["board"]
            report["clock"]["clock_hz"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit(f"--build-report {given}: not a report.json written by "
                             f"'python -m gen build' ({type(e).__name__}: {e})") from None
        if board not in BOARDS:
            raise SystemExit(f"--build-report {path}: board {board!r} is not one of "
                             f"{sorted(BOARDS)}")
        if board in reports:
            raise SystemExit(f"--build-report: two reports for board {board!r} "
                             f"({reports[board][0]} and {path})")
        reports[board] = (path, report)
    return reports


def board_clock(board, topo, lanes: int, share: int, found) -> tuple[float, str]:
    """The clock ``board`` runs the chip at and where it came from: the build report
    ``found`` (``(path, report)`` or None), checked to be of this chip, else the clock
    ``gen build`` would plan (gen/build.py ``build_clock``)."""
    if found is None:
        from gen.build import build_clock
        plan = build_clock(topo.config, board)
        target = topo.config.clock_mhz or board.clock_hz / 1e6
        return plan.f_out, (f"planned, no build report: rtl/clock.py plan_clock for "
                            f"a {target:g} MHz target on {board.name}: {plan.describe()}")
    path, report = found
    plan = report.get("plan", {})
    if (plan.get("lanes"), plan.get("share")) != (lanes, share):
        raise SystemExit(f"--build-report {path}: built with lanes {plan.get('lanes')}, "
                         f"share {plan.get('share')}, but the {board.name} learning chip "
                         f"simulated here has lanes {lanes}, share {share} (a build with "
                         f"--learning off?)")
    if report.get("synapses") != topo.synapse_counts():
        raise SystemExit(f"--build-report {path}: its synapse counts {report.get('synapses')}"
                         f" are not this config's {topo.synapse_counts()} (built "
                         f"with another --config?)")
    clock_hz = float(report["clock"]["clock_hz"])
    timing = report.get("timing") or {}
    verdict = {True: "timing met", False: "timing NOT met: the board would not run "
               "reliably at this clock", None: "timing unknown"}[timing.get("met")]
    fmax = (f", Fmax {timing['worst_achieved_mhz']:.2f} MHz"
            if "worst_achieved_mhz" in timing else "")
    return clock_hz, f"build report {path}: {verdict}{fmax}"


def chip_rows(cfg, weights, data, board_name: str, samples: int, found) -> list[Row]:
    """The chip's rows for ``board_name``: one Verilator run of the whole chip (built as
    the board builds it) that loads ``weights`` once, then runs ``samples`` test samples
    with learning off and again with learning on (from the LFSR states it started with),
    each set beside the golden model (sim.compare.side_by_side)."""
    from boards import get_board
    from gen.build import chip_options
    from gen.topology import make_topology
    from sim.compare import check_lanes, chip_build, link_for, run_chip, side_by_side
    from sim.model import Network

    board = get_board(board_name)
    topo = make_topology(cfg)
    opts = chip_options(cfg, board)
    lanes, share = check_lanes(cfg, opts["lanes"]), opts["share"]
    clock_hz, source = board_clock(board, topo, lanes, share, found)
    u, labels = data.x_test[:samples].astype("int64"), data.y_test[:samples].astype("int64")

    def fresh():
        return Network(cfg, topo, weights.copy())
    lfsr = [bk.lfsr.state for bk in fresh().banks] + [fresh().readout_bank.lfsr.state]
    link = link_for(fresh(), lanes)
    print(f"chip {board.name}: Verilator build (lanes {lanes}, share {share}, host link "
          f"{link}; cached in sim_build/) ...", flush=True)
    t0 = time.perf_counter()
    build = chip_build(topo, link=link, **opts)
    build_s = time.perf_counter() - t0
    print(f"chip {board.name}: built in {build_s:.0f} s; loading and running {samples} "
          f"samples with learning off, then on ...", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"swirl_chip_{board.name}_") as work:
        chip = run_chip(build, fresh(), u, labels,
                        [{"learn": False, "lfsr": lfsr}, {"learn": True, "lfsr": lfsr}],
                        pathlib.Path(work), share, lanes)
    run_s = time.perf_counter() - t0
    print(f"chip {board.name}: Verilator run {run_s:.0f} s", flush=True)
    rows = []
    for run, learn in zip(chip["runs"], (False, True)):
        rep = side_by_side(fresh(), u, labels, learn, run, task="digits", share=share,
                           lanes=lanes)
        cycles = rep["cycles_per_sample"] * samples
        chip_s = cycles / clock_hz
        kind = "train online" if learn else "infer"
        rows.append(Row(
            f"chip {board.name} @ {clock_hz / 1e6:g} MHz: {kind}", samples, chip_s, chip_s,
            round(rep["synaptic_events_per_sample"] * samples),
            note=(f"{board.description}, learning chip, lanes {lanes}, share {share}; "
                  f"clock {source}; {rep['cycles_per_sample']:.0f} cycles/sample, "
                  f"{rep['synaptic_events_per_cycle']:.2f} events/cycle "
                  f"({100 * rep['weight_memory_utilisation']:.1f}% of the weight-memory "
                  f"ceiling); bit exact vs the golden model: "
                  f"{'yes' if rep['bit_exact'] else 'NO'}; Verilator: build {build_s:.0f} s, "
                  f"run {run_s:.0f} s (one load through the {link}, {samples} samples "
                  f"off + {samples} on)"),
            detail={"board": board.name, "clock_hz": clock_hz, "clock_source": source,
                    "lanes": lanes, "share": share, "learn": learn, "link": link,
                    "cycles_per_sample": rep["cycles_per_sample"],
                    "synaptic_events_per_cycle": rep["synaptic_events_per_cycle"],
                    "weight_memory_utilisation": rep["weight_memory_utilisation"],
                    "bit_exact": rep["bit_exact"], "first_divergence": rep["first_divergence"],
                    "verilator_build_s": round(build_s, 1),
                    "verilator_run_s": round(run_s, 1),
                    "sim_opt": os.environ.get("SWIRL_SIM_OPT")}))
    return rows


# ---- the peer ----------------------------------------------------------------------
def peer_network(cfg, weights, s_in_infer, s_in_train, path: pathlib.Path) -> None:
    """The network and spike trains, for the peer worker (numpy arrays only)."""
    import numpy as np

    from sim.model import Network
    net = Network(cfg, weights=weights)
    s, d = cfg.sizes, cfg.dynamics
    w = weights
    n_last = s.cores * s.neurons
    off = net.topology.last_layer_offset
    in_i, in_j = np.nonzero(net.in_mask)
    hh_i, hh_j = np.nonzero(net.hh_mask)
    ro_i, ro_j = np.nonzero(net.ro_mask[:n_last])
    bias = w.w_ro[n_last] if cfg.topology.readout_bias else np.zeros(s.readout, np.int64)

    def trains(s_in):                  # (B, T, n_in) -> indices, steps of one long run
        b, t, i = np.nonzero(s_in)
        return i, b * s.steps + t

    ii, ti = trains(s_in_infer)
    it, tt = trains(s_in_train)
    np.savez(path, n_in=s.n_in, hidden=s.hidden, readout=s.readout, steps=s.steps,
             theta=d.theta, theta_out=d.theta_out, leak_shift=d.leak_shift,
             leak_shift_out=d.leak_shift_out, wmax=(1 << (cfg.widths.weight - 1)) - 1,
             in_i=in_i, in_j=in_j, in_w=w.w_in[in_i, in_j],
             hh_i=hh_i, hh_j=hh_j, hh_w=w.w_hh[hh_i, hh_j],
             ro_i=ro_i + off, ro_j=ro_j, ro_w=w.w_ro[ro_i, ro_j], bias=bias,
             infer_i=ii, infer_t=ti, infer_samples=len(s_in_infer),
             train_i=it, train_t=tt, train_samples=len(s_in_train))


def peer_worker(kind: str, net_path: str, workdir: str) -> dict:
    """Runs inside the peer's interpreter: numpy and brian2 only."""
    import numpy as np
    import brian2 as b2

    f = dict(np.load(net_path))
    stdp = kind.endswith("_stdp")
    cpp = kind.startswith("cpp")
    phase = "train" if stdp else "infer"
    samples, T = int(f[f"{phase}_samples"]), int(f["steps"])
    dt = 1 * b2.ms
    if cpp:
        b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    else:
        b2.prefs.codegen.target = "cython"    # Brian2's own cache: compiled once per machine
    b2.defaultclock.dt = dt
    # SWIRL's leak v -= v >> s is a decay by (1 - 2**-s) a step: tau = -dt / ln(1 - 2**-s)
    import math
    tau_h = -dt / math.log(1 - 2.0 ** -int(f["leak_shift"]))
    tau_r = -dt / math.log(1 - 2.0 ** -int(f["leak_shift_out"]))
    inp = b2.SpikeGeneratorGroup(int(f["n_in"]), f[f"{phase}_i"], f[f"{phase}_t"] * dt)
    hid = b2.NeuronGroup(int(f["hidden"]), "dv/dt = -v / tau_h : 1", threshold="v >= theta",
                         reset="v -= theta", method="exact",
                         namespace={"tau_h": tau_h, "theta": float(f["theta"])})
    out = b2.NeuronGroup(int(f["readout"]), "dv/dt = -v / tau_r + b / dt_step : 1\nb : 1",
                         threshold="v >= theta", reset="v -= theta", method="exact",
                         namespace={"tau_r": tau_r, "theta": float(f["theta_out"]),
                                    "dt_step": dt})
    out.b = f["bias"].astype(float)
    for g in (hid, out):               # each sample starts from rest, as in SWIRL
        g.run_regularly("v = 0", dt=T * dt)
    if stdp:
        model = """w : 1
                   dapre/dt = -apre / (4 * ms) : 1 (event-driven)
                   dapost/dt = -apost / (4 * ms) : 1 (event-driven)"""
        on_pre = "v_post += w\napre += 1.0\nw = clip(w - 0.5 * apost, -wmax, wmax)"
        on_post = "apost += 1.0\nw = clip(w + 0.5 * apre, -wmax, wmax)"
    else:
        model, on_pre, on_post = "w : 1", "v_post += w", None
    ns = {"wmax": float(f["wmax"])}
    syn = []
    for src, dst, key, delay in ((inp, hid, "in", None), (hid, hid, "hh", dt),
                                 (hid, out, "ro", dt)):
        S = b2.Synapses(src, dst, model, on_pre=on_pre, on_post=on_post, namespace=ns,
                        delay=delay)
        S.connect(i=f[f"{key}_i"], j=f[f"{key}_j"])
        S.w = f[f"{key}_w"].astype(float)
        syn.append(S)
    mons = [b2.SpikeMonitor(g, record=False) for g in (inp, hid, out)]
    net = b2.Network(inp, hid, out, *syn, *mons)
    duration = samples * T * dt
    if cpp:
        net.run(duration)
        t0 = time.perf_counter()
        b2.device.build(directory=workdir, compile=True, run=False, with_output=False)
        compile_s = time.perf_counter() - t0
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        b2.device.run(directory=workdir, with_output=False)
        wall = time.perf_counter() - w0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        loop = b2.device._last_run_time
    else:
        net.store("start")
        t0 = time.perf_counter()
        net.run(T * dt)                # first run: code generation and cython compile
        compile_s = time.perf_counter() - t0
        net.restore("start")
        c0, w0 = time.process_time(), time.perf_counter()
        net.run(duration)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        loop = b2.device._last_run_time
    counts = [np.asarray(m.count[:]) for m in mons]
    fan = [np.bincount(f[f"{k}_i"], minlength=n) for k, n in
           (("in", int(f["n_in"])), ("hh", int(f["hidden"])), ("ro", int(f["hidden"])))]
    events = int(counts[0] @ fan[0] + counts[1] @ fan[1] + counts[1] @ fan[2])
    return {"kind": kind, "samples": samples, "cpu_s": cpu, "wall_s": wall, "loop_s": loop,
            "compile_s": compile_s, "events": events,
            "spikes": [int(c.sum()) for c in counts], "brian2": b2.__version__}


def peer_python(make_venv: bool) -> tuple[str | None, str]:
    """An interpreter in which brian2 imports, and how it was found."""
    probe = [sys.executable, "-c", "import brian2"]
    r = subprocess.run(probe, capture_output=True, text=True)
    if r.returncode == 0:
        return sys.executable, "this environment"
    why = (r.stderr.strip().splitlines() or ["?"])[-1]
    venv_py = PEER_VENV / "bin" / "python"
    if venv_py.exists() and subprocess.run([str(venv_py), "-c", "import brian2"],
                                           capture_output=True).returncode == 0:
        return str(venv_py), f"{PEER_VENV} (brian2 here: {why})"
    if not make_venv:
        return None, f"brian2 does not import here ({why}) and {PEER_VENV} is missing"
    print(f"brian2 does not import here ({why}); making {PEER_VENV} with "
          f"{' '.join(PEER_PINS)} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(venv_py), "-m", "pip", "install", "-q", *PEER_PINS], check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        return None, f"could not make {PEER_VENV}: {e}"
    return str(venv_py), f"{PEER_VENV} (made now)"


def peer_rows(python: str, kinds, net_path: pathlib.Path, timeout: int) -> list[Row]:
    rows = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"swirl_brian2_{kind}_") as work:
            cmd = [python, str(pathlib.Path(__file__).resolve()), "--peer-worker", kind,
                   "--peer-net", str(net_path), "--peer-dir", work]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
            except subprocess.TimeoutExpired:
                print(f"peer {kind}: timed out after {timeout} s", flush=True)
                continue
            if r.returncode != 0:
                print(f"peer {kind} failed:\n{r.stderr[-2000:]}", flush=True)
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(Row(f"{PEER_TITLES[kind]}", res["samples"], res["cpu_s"],
                        res["wall_s"], res["events"],
                        note=f"brian2 {res['brian2']}; loop {res['loop_s']:.2f} s wall, "
                             f"compile {res['compile_s']:.0f} s excluded; spikes in/hidden/"
                             f"readout {res['spikes']}"))
        print(f"peer {kind}: {res['samples'] / res['cpu_s']:.0f} samples/s", flush=True)
    return rows


# the peer each kind of row is compared to: the first of these that was run
PEER_FOR = {"infer": ("cpp", "cython"), "train": ("cpp_stdp", "cython_stdp")}


def assign_peers(rows: list[Row]) -> None:
    names = {r.name for r in rows}
    for r in rows:
        if r.name.startswith(("model", "chip")):
            kind = "train" if "train" in r.name else "infer"
            r.peer = next((PEER_TITLES[k] for k in PEER_FOR[kind] if PEER_TITLES[k] in names),
                          None)


def _chip_samples(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a TOML config or a shipped preset's name (default: "
                                      "the default config)")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256, help="batched inference's batch")
    ap.add_argument("--reps", type=int, default=2, help="best of this many timed runs")
    ap.add_argument("--epochs", type=int, default=1, help="training epochs for the weights")
    ap.add_argument("--peers", nargs="*", default=["cpp", "cpp_stdp"], choices=PEER_KINDS)
    ap.add_argument("--no-venv", action="store_true",
                    help=f"do not make {PEER_VENV.name}/ when brian2 does not import")
    ap.add_argument("--peer-timeout", type=int, default=900)
    ap.add_argument("--boards", nargs="*", default=["ice40"], metavar="BOARD",
                    help="simulate the learning chip as these boards build it (none: no "
                         "chip rows)")
    ap.add_argument("--chip-samples", type=_chip_samples, default=5,
                    help="digits test samples through the simulated chip, with learning "
                         "off and again on (Verilator on the whole chip is slow)")
    ap.add_argument("--build-report", type=pathlib.Path, nargs="*", default=[],
                    metavar="DIR_OR_report.json",
                    help="the clock of each board from its 'python -m gen build' report "
                         "(default: the clock rtl/clock.py plans for the board)")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "bench" / "throughput.json")
    ap.add_argument("--peer-worker", choices=PEER_KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--peer-net", help=argparse.SUPPRESS)
    ap.add_argument("--peer-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer_worker:
        print(json.dumps(peer_worker(args.peer_worker, args.peer_net, args.peer_dir)))
        return 0
    sys.path.insert(0, str(ROOT))      # below: the project (the peer worker has brian2 only)
    from boards import UnknownBoard, get_board
    for name in args.boards:
        try:
            get_board(name)
        except UnknownBoard as e:
            raise SystemExit(f"--boards: {e}") from None
    reports = load_build_reports(args.build_report)
    unused = sorted(set(reports) - set(args.boards))
    if unused:
        raise SystemExit(f"--build-report for {unused} but --boards is {args.boards}")

    from threadpoolctl import threadpool_limits

    from gen.config import ConfigError, load_config
    from sim.data import load_task
    from sim.train import train

    threadpool_limits(1)
    try:
        cfg = load_config(args.config).validate()
    except (ConfigError, OSError) as e:
        raise SystemExit(f"--config: {e}") from None
    data = load_task("digits", levels=cfg.dynamics.enc_theta)
    if args.boards and args.chip_samples > len(data.x_test):
        raise SystemExit(f"--chip-samples must be 1..{len(data.x_test)} (the digits test "
                         f"set), not {args.chip_samples}")
    print(f"training {args.epochs} epoch(s) for realistic activity ...", flush=True)
    trained = train(cfg, data, epochs=args.epochs, progress=False)
    weights = trained.net.weights
    print(f"test accuracy {100 * trained.test_accuracy:.1f}%; timing the model on "
          f"{args.samples} digits samples ...", flush=True)
    rows, same, s_in_inf, trs = model_rows(cfg, weights, data, args.samples, args.batch,
                                           args.reps)
    print(f"fast paths == reference paths (predictions, weights after learning): "
          f"{'yes' if same else 'NO'}", flush=True)

    chip = []
    if args.boards:
        sim_env()
        for name in args.boards:
            t0 = time.perf_counter()
            chip += chip_rows(cfg, weights, data, name, args.chip_samples, reports.get(name))
            print(f"chip {name}: {time.perf_counter() - t0:.0f} s in all", flush=True)
    chip_exact = all(r.detail["bit_exact"] for r in chip)

    peer_note = ""
    if args.peers:
        python, how = peer_python(not args.no_venv)
        if python is None:
            peer_note = f"no Brian2 peer: {how}"
            print(peer_note, "(pip install -e .[peers]); reporting the model rows only")
        else:
            print(f"Brian2 from {how}", flush=True)
            import numpy as np
            with tempfile.TemporaryDirectory() as tmp:
                net_path = pathlib.Path(tmp) / "peer_net.npz"
                peer_network(cfg, weights, s_in_inf,
                             np.stack([t["s_in"][0] for t in trs]), net_path)
                rows += peer_rows(python, args.peers, net_path, args.peer_timeout)
    rows = chip + rows
    assign_peers(rows)
    print()
    print(format_table(rows))
    print("\n(model and Brian2 rows: samples/s and events/s per CPU second; chip rows: per "
          "second of chip time, cycles / clock, computing only (no UART I/O). 'vs peer': "
          "samples/s over the peer row's, 'ev vs peer': events/s over the peer row's; "
          "'vs ref': the fast model over its reference int64 path. The Brian2 network is "
          "the same size, wiring, weights and input spikes with float LIF dynamics, no "
          "SWIRL learning rule: its training rows run pair STDP instead.)")
    args.out.write_text(json.dumps({"config": args.config or "default", "task": "digits",
                                    "samples": args.samples, "bit_exact": same,
                                    "chip_samples": args.chip_samples if chip else 0,
                                    "chip_bit_exact": chip_exact,
                                    "peer_note": peer_note,
                                    "rows": [{**asdict(r), "samples_per_s": r.samples_per_s,
                                              "events_per_s": r.events_per_s,
                                              **ratios(rows, r)}
                                             for r in rows]}, indent=2))
    return 0 if same and chip_exact else 1


if __name__ == "__main__":
    sys.exit(main())
