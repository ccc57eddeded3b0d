"""An ESTIMATE of the chip's power and energy: ``python -m gen energy --build DIR``.

Nothing here is measured on a board. The estimate is

* static and clock power from published measurements of the iCE40 UP5K itself
  (:data:`ICE40_UP5K`, each figure with its source and how it was derived), and
* dynamic power from toggle rates measured in a Verilator run of the chip the build
  made (same config, ``share``, ``lanes`` and learning), times per-resource energy
  coefficients, each with its source, or marked an assumption where no published
  figure was found.

The activity run (:func:`measure_activity`): the chip under Verilator with the SAIF
tracer (sim/harness.py ``trace="saif"``), driven through its UART by the host driver
exactly as ``compare`` does, twice, with ``n1`` and ``n2`` samples. Loading the weights
and reading them back are the same in both runs, so the difference of the two SAIF files
is the activity of the ``n2 - n1`` extra samples alone. From it:

* the registers' toggle rate (toggles a bit a cycle), over every register the Verilog
  declares (memories excluded), applied to the build's flip-flops and logic cells;
* each memory's read and write enables' duty (the fraction of cycles a port is used):
  weight banks are SPRAM on the UP5K, the others EBR;
* the learning unit's ``busy`` duty: its lane multipliers are the SB_MAC16 DSPs.

The side-by-side check of ``compare`` runs on the second run too, so the activity comes
from a run that is bit exact against the golden model (``activity["bit_exact"]``).

docs/energy.md has the coefficient table with sources and the uncertainty.
"""
from __future__ import annotations

import json
import math
import pathlib
import re

__all__ = [
    "COMPARISONS",
    "ICE40_UP5K",
    "activity_delta",
    "coefficients_for",
    "combine_activity",
    "estimate",
    "format_estimate",
    "measure_activity",
    "parse_saif",
    "verilog_roles",
]

# ---- coefficients --------------------------------------------------------------------------
# tinyvision-ai-inc/ice40_power (README, "Results"): core and PLL rail currents of an
# iCE40 UP5K on Lattice's iCE40 UltraPlus breakout board, measured with a Joulescope
# JS110, designs built with icestorm; VCC = 1.219 V.
_TV = "tinyvision-ai-inc/ice40_power README, Results table (UP5K, Joulescope JS110)"
_VCC = 1.219
_UA = 1e-6

ICE40_UP5K = {
    "vcc_v": {"value": _VCC, "unit": "V", "factor": 1.0,
              "source": _TV + ": the core rail's voltage in every row"},
    "static_w": {
        "value": 85.6 * _UA * _VCC, "unit": "W", "factor": 1.5,
        "source": _TV + ": 'Blank design' row, core 85.6 uA. The data sheet "
                  "(FPGA-DS-02008) gives a typical static core current too; its table was "
                  "not retrievable in this session, so the measured figure is used"},
    "pll_w": {
        "value": 138.9 * _UA * _VCC, "unit": "W", "factor": 1.5,
        "source": _TV + ": 'PLL (12MHz in, 32MHz output)' row, PLL rail 138.9 uA "
                  "(boards whose clock goes through a PLL)"},
    "clock_a_per_hz": {
        "value": (2029 - 1419) / 16 * _UA / 1e6, "unit": "A/Hz", "factor": 1.5,
        "source": _TV + ": core current of the PLL rows, 1419 uA at 16 MHz and 2029 uA "
                  "at 32 MHz: 38.1 uA/MHz for the clock network of a near-empty design "
                  "(a 28-bit counter). The HFOSC rows give 42.8 uA/MHz (6..48 MHz), an "
                  "external 12 MHz clock 43.5 uA/MHz against the halted clock"},
    "ff_j_per_cycle": {
        "value": (641.3 - 613.5) / (228 - 32) / 12e6 * _UA * _VCC, "unit": "J", "factor": 2.0,
        "source": _TV + ": 28-bit counters at 12 MHz, 32 LCs 613.5 uA, 228 LCs 641.3 uA: "
                  "0.0118 uA/MHz a counter logic cell (a flip-flop and its carry LUT, "
                  "about 0.07 toggles a cycle): a flip-flop's clock load, 14 fJ a cycle"},
    "lut_j_per_toggle": {
        "value": (996 - 645) / (208 - 28) / 12e6 * _UA * _VCC / 0.5, "unit": "J",
        "factor": 2.0,
        "source": _TV + ": 'HFOSC (12 MHz) + Math (no DSP)' 996 uA with 208 LCs against "
                  "the counter alone, 645 uA with 28 LCs: 0.163 uA/MHz a logic cell of an "
                  "8x8 multiplier fed by counters; ASSUMED 0.5 toggles a cycle a cell "
                  "there (unmeasured: the factor of 2 covers 0.25..1), so 0.40 pJ a "
                  "toggle, routing included"},
    "dsp_j_per_busy_cycle": {
        "value": ((882 - 645) - (72 - 28) * 0.0118 * 12) / 12e6 * _UA * _VCC, "unit": "J",
        "factor": 2.0,
        "source": _TV + ": 'Math (1 DSP)' 882 uA with 72 LCs against the counter alone "
                  "(645 uA, 28 LCs), less the 44 extra cells' clock load: 231 uA at 12 MHz "
                  "for one SB_MAC16 multiplying new operands every cycle, 23 pJ a cycle; "
                  "charged for the cycles the learning unit (its lane multipliers) is busy"},
    "ebr_j_per_access": {
        "value": 2e-12, "unit": "J", "factor": 3.0,
        "source": "ASSUMPTION: no published per-access energy of the iCE40 SB_RAM40_4K "
                  "was found; 2 pJ for a 16-bit access of a 4-kbit 40 nm SRAM block, "
                  "uncertain by a factor of 3"},
    "spram_j_per_access": {
        "value": 10e-12, "unit": "J", "factor": 3.0,
        "source": "ASSUMPTION: no published per-access energy of the UP5K SB_SPRAM256KA "
                  "was found; 10 pJ for a 16-bit access of a 256-kbit 40 nm SRAM macro, "
                  "uncertain by a factor of 3"},
}

# Published measured figures, for scale (docs/energy.md says what each is and is not).
COMPARISONS = [
    {"what": "iCE40 UP5K, a 24-bit counter (28 LCs) on the 48 MHz HFOSC, core rail",
     "figure": "2184 uA at 1.219 V = 2.66 mW", "kind": "measured, same device",
     "source": _TV},
    {"what": "iCE40 UP5K, the same counter on a 10 kHz clock (LFOSC), all rails",
     "figure": "151 uW", "kind": "measured, same device", "source": _TV + ", Observations"},
    {"what": "IBM TrueNorth (28 nm ASIC)", "figure": "26 pJ per synaptic event",
     "kind": "measured, ASIC",
     "source": "Merolla et al., Science 345(6197), 2014"},
    {"what": "Intel Loihi (14 nm ASIC)", "figure": "23.6 pJ per synaptic spike operation",
     "kind": "measured, ASIC (figure as recalled, not re-checked in this session)",
     "source": "Davies et al., IEEE Micro 38(1), 2018, Table 1"},
    {"what": "Spiker, 400 LIF neurons on a Xilinx Artix-7 (MNIST)",
     "figure": "13 mJ per image (average)", "kind": "reported, small FPGA, not UP5K",
     "source": "Carpegna, Savino, Di Carlo, arXiv:2201.06993 (2022), abstract"},
    {"what": "an SNN on the iCE40 UP5K with measured power",
     "figure": "none found", "kind": "-",
     "source": "searched in this session; no published measured figure found that could "
               "be cited with certainty"},
]


def coefficients_for(report: dict, path: pathlib.Path | None = None) -> dict:
    """The coefficient table for the build's device: ``path`` (JSON, the same shape as
    :data:`ICE40_UP5K`) if given, else the shipped UP5K table; any other device without
    a file is refused (no sourced ECP5 coefficients are shipped)."""
    if path is not None:
        try:
            table = json.loads(pathlib.Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON ({e})") from None
        missing = sorted(set(ICE40_UP5K) - set(table))
        if missing:
            raise ValueError(f"{path}: coefficients missing: {', '.join(missing)}")
        return table
    device = report.get("device", "")
    if "UP5K" not in device.upper():
        raise ValueError(f"no sourced power coefficients for {device or 'this device'} "
                         "(only the iCE40 UP5K ships, docs/energy.md); give "
                         "--coefficients FILE.json with each figure and its source")
    return ICE40_UP5K


# ---- SAIF and Verilog ---------------------------------------------------------------------
_NET = re.compile(r"^\s*\((.+?) \(T0 (\d+)\) \(T1 (\d+)\) \(TZ \d+\) \(TX \d+\) "
                  r"\(TB \d+\) \(TC (\d+)\)\)\s*$")
_BIT = re.compile(r"\\\[\d+\\\]$")


def parse_saif(path) -> dict:
    """``{"duration": ps, "nets": {(instance path, net): {"bits", "t1", "tc"}}}`` from a
    Verilator SAIF file (bits summed per net: ``t1`` the summed time at 1, ``tc`` the
    summed toggle count). The instance path joins the INSTANCE names with ``/``."""
    duration, stack, depth = None, [], 0
    nets = {}
    with open(path) as f:
        for line in f:
            m = _NET.match(line)
            if m:
                name = _BIT.sub("", m.group(1)).replace("\\", "")
                key = ("/".join(n for n, _ in stack), name)
                e = nets.setdefault(key, {"bits": 0, "t1": 0, "tc": 0})
                e["bits"] += 1
                e["t1"] += int(m.group(3))
                e["tc"] += int(m.group(4))
                continue
            s = line.strip()
            if s.startswith("(DURATION"):
                duration = int(s.split()[1].rstrip(")"))
            if s.startswith("(INSTANCE"):
                stack.append((s.split(None, 1)[1].strip(), depth))
            depth += line.count("(") - line.count(")")
            while stack and depth <= stack[-1][1]:
                stack.pop()
    if duration is None:
        raise ValueError(f"{path}: no DURATION: not a SAIF file")
    return {"duration": duration, "nets": nets}


def _unescape(name: str) -> str:
    return name.strip().lstrip("\\").strip()


def verilog_roles(text: str, top: str = "top") -> dict:
    """From Amaranth's Verilog of the chip: ``{"registers": {(instance path, name)},
    "memories": {instance path: {"name", "reads": [enable], "writes": [enable]}}}``.
    Amaranth names a module by its hierarchy (``swirl.engine.bank0.mem``), which is the
    SAIF instance path once the top is renamed (``top/engine/bank0/mem``). Every
    nonblocking assignment is in a ``posedge clk`` block: its left side is a register,
    unless it writes a memory array (a write port) or reads one (the read port's
    output register, part of the block RAM)."""
    regs, mems = set(), {}
    parts = re.split(r"^module (\S+)", text, flags=re.MULTILINE)
    for name, body in zip(parts[1::2], parts[2::2]):
        names = _unescape(name).split(".")
        path = "/".join([top] + names[1:])
        arrays = set(re.findall(r"^\s*reg\s+(?:\[[^\]]*\]\s*)?(\\?\S+)\s*\[", body, re.MULTILINE))
        arrays = {_unescape(a) for a in arrays}
        lines = body.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\s*(\\\S+ |[^\s\[]+)\s*(\[[^\]]*\])?\s*<=\s*(.*);", line)
            if not m:
                continue
            lhs, rhs = _unescape(m.group(1)), m.group(3)
            guard = re.match(r"^\s*if \((\\\S+ |[^\s)]+)\s*\)", lines[i - 1]) if i else None
            enable = _unescape(guard.group(1)) if guard else None
            read = [a for a in arrays if re.search(rf"(?<![\w$]){re.escape(a)}\[", rhs)]
            if lhs in arrays or read:
                entry = mems.setdefault(path, {"name": lhs if lhs in arrays else read[0],
                                               "reads": [], "writes": []})
                entry["writes" if lhs in arrays else "reads"].append(enable)
            else:
                regs.add((path, lhs))
    return {"registers": regs, "memories": mems}


def _group(path: str) -> str:
    """The top-level block a SAIF instance belongs to: engine/core0 -> core, ..."""
    parts = path.split("/")
    name = parts[2] if len(parts) > 2 and parts[1] == "engine" else \
        (parts[1] if len(parts) > 1 else parts[0])
    return re.sub(r"\d+$", "", name)


def activity_delta(a: dict, b: dict, roles: dict, cycle_ps: int) -> dict:
    """The activity of run ``b`` less run ``a`` (two SAIFs of the same build): the
    registers' toggles a bit a cycle, each memory's port duty, the learning unit's
    busy duty, and the register toggles a cycle by block."""
    cycles = (b["duration"] - a["duration"]) / cycle_ps
    if cycles <= 0:
        raise ValueError("the second activity run is not longer than the first")
    regs = roles["registers"]

    def delta(key, field):
        return b["nets"].get(key, {}).get(field, 0) - a["nets"].get(key, {}).get(field, 0)
    reg_bits = sum(b["nets"][k]["bits"] for k in regs if k in b["nets"])
    reg_toggles = sum(delta(k, "tc") for k in regs if k in b["nets"])
    by_block = {}
    for k in regs:
        if k in b["nets"]:
            g = by_block.setdefault(_group(k[0]), {"bits": 0, "toggles_per_cycle": 0.0})
            g["bits"] += b["nets"][k]["bits"]
            g["toggles_per_cycle"] += delta(k, "tc") / cycles
    mems = {}
    for path, m in roles["memories"].items():
        duty, how = {}, {}
        for kind in ("reads", "writes"):
            ens = [en for en in m[kind] if en]
            if kind == "reads" and not ens:
                # an asynchronous read (``assign data = mem[addr]``, the address from
                # outside): its enable is the module's read-enable input if it has one
                ens = _read_enables(b["nets"], path, m["writes"])
                how[kind] = f"enable inputs {ens}" if ens else \
                    "no enable found: assumed every cycle (an upper bound)"
            else:
                how[kind] = f"guards {ens}" if ens else "none"
            duty[kind] = sum(delta((path, en), "t1") for en in ens) / (cycles * cycle_ps) \
                if ens or kind == "writes" else 1.0
        mems[path] = {"kind": "weights" if "/bank" in path else "state", **duty,
                      "enables": how}
    busy = [k for k in b["nets"] if k[0].endswith("learner/unit") and k[1] == "busy"]
    learn_busy = delta(busy[0], "t1") / (cycles * cycle_ps) if busy else 0.0
    return {"cycles": cycles, "register_bits": reg_bits,
            "register_toggles_per_cycle": reg_toggles / cycles,
            "toggle_rate": reg_toggles / cycles / reg_bits if reg_bits else 0.0,
            "memories": mems, "learning_busy": learn_busy,
            "blocks": {k: {"bits": v["bits"],
                           "toggles_per_cycle": round(v["toggles_per_cycle"], 2)}
                       for k, v in sorted(by_block.items())}}


def _read_enables(nets: dict, path: str, writes: list) -> list:
    """The nets of instance ``path`` that look like a read port's enable (``re``,
    ``*__re``, ``*__en`` that is not a write enable)."""
    out = []
    for p, name in nets:
        if p != path or name in writes:
            continue
        if name == "re" or name.endswith("__re") or (
                name.endswith("__en") and not re.search(r"w[re_]|load", name)):
            out.append(name)
    return sorted(out)


# ---- the activity run ------------------------------------------------------------------
def measure_activity(config, board, work: pathlib.Path, *, weights=None,
                     samples: tuple = (1, 3), learning: bool | None = None,
                     task: str = "digits", progress=None) -> dict:
    """Run the chip ``build`` makes for ``board`` under Verilator with the SAIF tracer,
    with ``samples[0]`` and ``samples[1]`` test samples of ``task`` (learning on if the
    chip learns), and return the activity of the extra samples (module docstring).
    ``weights``: a sim.model.Network to start from (default: the config's initial
    weights)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from sim.compare import chip_build, run_chip
    from sim.model import Network

    from .build import chip_options
    from .topology import make_topology
    say = progress or (lambda msg: None)
    n1, n2 = samples
    if not 1 <= n1 < n2:
        raise ValueError(f"activity samples must be 1 <= n1 < n2, not {samples}")
    learning = board.learning if learning is None else learning
    topo = make_topology(config)
    opts = chip_options(config, board, learning)
    share, lanes = opts["share"], opts["lanes"]
    base = weights.weights.copy() if weights is not None else None
    u, labels, task = _samples(config, task, n2)
    t0 = time.time()
    b = chip_build(topo, trace="saif", opt="-O2", **opts)   # millions of cycles
    say(f"Verilator build with the SAIF tracer: {time.time() - t0:.0f} s ({b.directory})")
    roles = verilog_roles((b.directory / "chip.v").read_text())

    def one(n):
        t0 = time.time()
        net = Network(config, topo, base.copy() if base is not None else None)
        d = pathlib.Path(work) / f"activity-{n}"
        got = run_chip(b, net, u[:n], labels[:n], [{"learn": learning}], d, share, lanes,
                       trace="saif")
        say(f"activity run with {n} samples: {time.time() - t0:.0f} s")
        return parse_saif(d / "chip_run" / "dump.saif"), got
    # the two runs are independent simulations: one a core
    with ThreadPoolExecutor(2) as pool:
        (saif1, _), (saif2, got2) = pool.map(one, (n1, n2))
    return combine_activity(saif1, saif2, got2, roles, config, weights, u, labels,
                            learning=learning, share=share, lanes=lanes, task=task,
                            samples=(n1, n2))


def _samples(config, task: str, n: int):
    """``n`` test samples of ``task`` (intensities, labels, what they are); a config
    whose input width is not the task's gets seeded uniform random intensities, as the
    build's performance model does."""
    import numpy as np

    from sim.data import load_task
    s = config.sizes
    ds = load_task(task, None, levels=config.dynamics.enc_theta)
    if (ds.channels, ds.frames) == (s.n_in, s.frames) and ds.classes <= s.classes \
            and len(ds.x_test) >= n:
        return ds.x_test[:n].astype(np.int64), ds.y_test[:n].astype(np.int64), task
    rng = np.random.default_rng(0)
    return (rng.integers(0, config.dynamics.enc_theta + 1, size=(n, s.sample_width)),
            rng.integers(0, s.classes, size=n), "uniform random intensities")


def combine_activity(saif1: dict, saif2: dict, run2: dict, roles: dict, config, weights,
                     u, labels, *, learning: bool, share: int, lanes: int, task: str,
                     samples: tuple) -> dict:
    """The activity of the ``samples[1] - samples[0]`` extra samples from the two runs'
    SAIFs, with the second run (``run2``: what :func:`sim.compare.run_chip` returned)
    checked side by side against the golden model."""
    import numpy as np

    from sim.compare import DIVISOR, side_by_side
    from sim.model import Network
    from sim.tb_chip import PERIOD_NS

    from .topology import make_topology
    n1, n2 = samples
    act = activity_delta(saif1, saif2, roles, PERIOD_NS * 1000)
    base = weights.weights.copy() if weights is not None else None
    net = Network(config, make_topology(config), base)
    rep = side_by_side(net, u[:n2], labels[:n2], learning, run2["runs"][0], task=task,
                       share=share, lanes=lanes)
    extra = rep["rows"][n1:]
    act.update({
        "samples": [n1, n2], "task": task, "learning": learning, "share": share,
        "lanes": lanes, "bit_exact": rep["bit_exact"],
        "cycles_per_sample": float(np.mean([r["cycles"] for r in extra])),
        "synaptic_events_per_sample": float(np.mean([r["synaptic_events"] for r in extra])),
        "window_cycles_per_sample": act["cycles"] / (n2 - n1),
        "uart_bit_cycles_in_simulation": DIVISOR,
    })
    return act


# ---- the estimate ----------------------------------------------------------------------------
def estimate(report: dict, activity: dict, coeffs: dict | None = None,
             baud: int = 115200) -> dict:
    """Power at the board's clock and energy per inference and per synaptic event, from
    the build ``report`` (resources, clock, LC packing), the measured ``activity`` and
    the ``coeffs`` table (default: :func:`coefficients_for` the report). Every figure is
    an estimate; ``low``/``high`` apply each term's uncertainty factor."""
    c = coeffs or coefficients_for(report)
    v = {k: float(e["value"]) for k, e in c.items()}
    f = float(report["clock"]["clock_hz"])
    res = report["resources"]
    pk = report.get("lc_packing") or {}
    luts = (pk.get("lut4_only", 0) + pk.get("lut4_and_dff", 0)) if pk else res["luts"]["used"]
    ffs = res["ffs"]["used"]
    # the measured window is the extra samples' compute plus their host-link traffic
    # (at 4 cycles a bit in simulation): charge all of its toggles and accesses to the
    # compute cycles, so that a sample's energy counts every one of them
    r = max(1.0, activity.get("window_cycles_per_sample", activity["cycles_per_sample"]) /
            activity["cycles_per_sample"])
    a = activity["toggle_rate"] * r
    busy_frac = activity["learning_busy"] * r
    mem = activity["memories"]
    spram_board = res.get("spram", {}).get("used", 0) > 0
    acc = {"ebr": 0.0, "spram": 0.0}
    for m in mem.values():
        kind = "spram" if m["kind"] == "weights" and spram_board else "ebr"
        # a port is used at most once a cycle (and "assumed every cycle" stays 1)
        acc[kind] += min(1.0, m["reads"] * r) + min(1.0, m["writes"] * r)
    pll = bool((report.get("clock") or {}).get("pll"))
    terms = {   # name -> (watts, coefficient key(s) for the uncertainty, what)
        "static": (v["static_w"], ["static_w"], "leakage, configured device"),
        "pll": (v["pll_w"] if pll else 0.0, ["pll_w"], "PLL rail" if pll else "no PLL"),
        "clock_network": (v["clock_a_per_hz"] * f * v["vcc_v"], ["clock_a_per_hz"],
                          f"global clock at {f / 1e6:.2f} MHz"),
        "flip_flops": (ffs * f * v["ff_j_per_cycle"], ["ff_j_per_cycle"],
                       f"{ffs} FFs' clock load"),
        "logic": (luts * a * f * v["lut_j_per_toggle"], ["lut_j_per_toggle"],
                  f"{luts} LUT4s x {a:.4f} toggles a cycle (the registers' measured rate)"),
        "dsp": (res["dsp"]["used"] * busy_frac * f * v["dsp_j_per_busy_cycle"],
                ["dsp_j_per_busy_cycle"], f"{res['dsp']['used']} DSPs x {busy_frac:.3f} busy"),
        "ebr": (acc["ebr"] * f * v["ebr_j_per_access"], ["ebr_j_per_access"],
                f"{acc['ebr']:.3f} EBR accesses a cycle (measured)"),
        "spram": (acc["spram"] * f * v["spram_j_per_access"], ["spram_j_per_access"],
                  f"{acc['spram']:.3f} SPRAM accesses a cycle (measured)"),
    }
    total = sum(w for w, _, _ in terms.values())
    low = sum(w / c[k[0]].get("factor", 1.0) for w, k, _ in terms.values())
    high = sum(w * c[k[0]].get("factor", 1.0) for w, k, _ in terms.values())
    idle = sum(terms[k][0] for k in ("static", "pll", "clock_network", "flip_flops"))
    cyc = activity["cycles_per_sample"]
    t_sample = cyc / f
    events = activity["synaptic_events_per_sample"]
    # the host link at the real baud: the sample in (frames x n_in bytes), RUN, status
    # and counts
    n = report["neurons"]
    uart_bytes = n["input_channels"] * n.get("input_frames", 1) + 64
    t_uart = uart_bytes * 10 / baud
    e_inf = total * t_sample
    return {
        "label": "ESTIMATE (not measured): see docs/energy.md for the sources and the "
                 "uncertainty",
        "clock_hz": f, "toggle_rate": a, "learning": activity["learning"],
        "window_over_compute": r,
        "power_w": total, "power_low_w": low, "power_high_w": high,
        "idle_power_w": idle,
        "terms_w": {k: {"watts": w, "what": what} for k, (w, _, what) in terms.items()},
        "cycles_per_sample": cyc, "seconds_per_sample": t_sample,
        "energy_per_inference_j": e_inf,
        "energy_per_inference_low_j": low * t_sample,
        "energy_per_inference_high_j": high * t_sample,
        "energy_per_inference_with_host_link_j": e_inf + idle * t_uart,
        "host_link_seconds": t_uart, "host_link_baud": baud,
        "synaptic_events_per_sample": events,
        "energy_per_synaptic_event_j": e_inf / events if events else math.nan,
        "energy_per_synaptic_event_low_j": low * t_sample / events if events else math.nan,
        "energy_per_synaptic_event_high_j": high * t_sample / events if events else math.nan,
        "activity": {k: activity[k] for k in (
            "samples", "task", "bit_exact", "share", "lanes", "cycles", "register_bits",
            "register_toggles_per_cycle", "learning_busy", "blocks") if k in activity},
        "coefficients": {k: {"value": e["value"], "unit": e["unit"],
                             "factor": e.get("factor", 1.0), "source": e["source"]}
                         for k, e in c.items()},
        "published_for_scale": COMPARISONS,
    }


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x / 1e-15:.3g} f{unit}"


def format_estimate(e: dict) -> str:
    """The summary lines (also appended to the build's summary.txt)."""
    lines = [f"energy    {e['label']}",
             (f"  power   {_si(e['power_w'], 'W')} at {e['clock_hz'] / 1e6:.2f} MHz "
             f"(range {_si(e['power_low_w'], 'W')} .. {_si(e['power_high_w'], 'W')}; idle "
             f"clock {_si(e['idle_power_w'], 'W')}); registers toggle "
             f"{e['toggle_rate']:.4f} a bit a cycle (Verilator, "
             f"{'bit exact' if e['activity'].get('bit_exact') else 'NOT bit exact'})")]
    lines.append("  terms   " + ", ".join(f"{k} {_si(t['watts'], 'W')}"
                                          for k, t in e["terms_w"].items() if t["watts"]))
    lines.append(f"  per inference {_si(e['energy_per_inference_j'], 'J')} "
                 f"(range {_si(e['energy_per_inference_low_j'], 'J')} .. "
                 f"{_si(e['energy_per_inference_high_j'], 'J')}; "
                 f"{e['cycles_per_sample']:.0f} cycles, learning "
                 f"{'on' if e['learning'] else 'off'}); with the host link at "
                 f"{e['host_link_baud']} baud {_si(e['energy_per_inference_with_host_link_j'], 'J')}")
    lines.append(f"  per synaptic event {_si(e['energy_per_synaptic_event_j'], 'J')} "
                 f"(range {_si(e['energy_per_synaptic_event_low_j'], 'J')} .. "
                 f"{_si(e['energy_per_synaptic_event_high_j'], 'J')}; "
                 f"{e['synaptic_events_per_sample']:.0f} events a sample)")
    lines.append("  for scale (published, measured): " + "; ".join(
        f"{p['what']}: {p['figure']}" for p in e["published_for_scale"][:4]))
    return "\n".join(lines) + "\n"
