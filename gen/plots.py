"""The figures the commands write (matplotlib's object API, no pyplot: no GUI backend,
no global state).

* :func:`curve`: ``train``'s figure: accuracy per epoch, the gated fraction per epoch,
  and the final weights' histogram per bank (each hidden core, the readout);
* :func:`raster`: one sample's spikes, model and chip side by side (inputs, hidden by
  core, readout by class, modulators), the first divergence and every differing spike
  marked; ``compare --plot`` writes it, ``run --plot`` the model's raster with the
  board's class counts beside the model's (the UART carries no per-step spikes);
* :func:`resources`: ``build``'s resource bars against the device's limits;
* :func:`sweep_params`, :func:`sweep_costs`: ``sweep``'s accuracy per searched field,
  and accuracy against the learning's cost (gated fraction, weight writes).

Each function writes a PNG and returns what it drew that a test can check without
looking at pixels (the divergence it marked, the bars' fractions).
"""
from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["curve", "bank_weights", "raster", "resources", "sweep_params", "sweep_costs",
           "POPULATIONS"]

# (raster key, label) in the order the raster stacks them, top to bottom
POPULATIONS = (("s_in", "input"), ("s_h", "hidden"), ("s_r", "readout"),
               ("m", "modulators"))

_DPI = 100


def _figure(**kw):
    from matplotlib.figure import Figure
    return Figure(layout="constrained", **kw)


# ---- train ------------------------------------------------------------------------------
def bank_weights(net) -> list:
    """``[(label, values)]``: the synaptic weights each weight bank holds, only where a
    synapse exists (the masks): hidden core ``g`` (its input and hidden rows into the
    core's neurons), then the readout (with its bias row)."""
    cfg = net.config
    N = cfg.sizes.neurons
    w = net.weights
    out = []
    for g in range(cfg.sizes.hidden // N):
        cols = slice(g * N, (g + 1) * N)
        vals = np.concatenate([w.w_in[:, cols][net.in_mask[:, cols]],
                               w.w_hh[:, cols][net.hh_mask[:, cols]]])
        out.append((f"core {g}", vals))
    out.append(("readout", w.w_ro[net.ro_mask]))
    return out


def curve(history: list, path: pathlib.Path, title: str, frozen=None, net=None) -> dict:
    """``train``'s figure: accuracy (train, test; with ``frozen`` also the readout-only
    twin's test accuracy), the gated fraction per epoch (``gated_fraction`` of each
    history entry: the fraction of steps on which a modulator event triggered learning)
    and, given the trained ``net``, the histogram of its final weights per bank.
    Returns ``{"epochs", "gated_fraction", "banks"}`` as drawn."""
    epochs = [h["epoch"] for h in history]
    gated = [h.get("gated_fraction") for h in history]
    has_gated = all(g is not None for g in gated) and bool(gated)
    banks = bank_weights(net) if net is not None else []
    ncols = 1 + has_gated + bool(banks)
    fig = _figure(figsize=(4.6 * ncols, 3.6))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    ax = axes[0]
    ax.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    ax.plot(epochs, [100 * h["test_accuracy"] for h in history], "s-", label="test")
    if frozen:
        ax.plot(epochs, [100 * h["test_accuracy"] for h in frozen], "^--",
                label="test, hidden frozen")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_xticks(epochs)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    i = 1
    if has_gated:
        ax = axes[i]
        i += 1
        ax.plot(epochs, [100 * g for g in gated], "o-", color="tab:purple",
                label="hidden learning on")
        if frozen and all(h.get("gated_fraction") is not None for h in frozen):
            ax.plot(epochs, [100 * h["gated_fraction"] for h in frozen], "^--",
                    color="tab:gray", label="hidden frozen")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_ylabel("steps with learning gated on (%)")
        ax.set_ylim(0, max(5.0, 110 * max(gated)))
        ax.set_xticks(epochs)
        ax.set_title("gated fraction (modulator events)")
        ax.grid(alpha=0.3)
    if banks:
        ax = axes[i]
        bits = net.config.widths.weight
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        width = max(1, (1 << bits) // 64)          # 64 bins over the weight range
        edges = np.arange(lo, hi + width + 1, width) - 0.5
        for label, vals in banks:
            ax.hist(vals, bins=edges, histtype="step", linewidth=1.3,
                    label=f"{label} ({len(vals):,})",
                    linestyle="--" if label == "readout" else "-")
        ax.set_yscale("log")
        ax.set_xlim(lo - 1, hi + 1)
        ax.set_xlabel(f"weight ({bits}-bit integer)")
        ax.set_ylabel(f"synapses per bin of {width}" if width > 1 else "synapses")
        ax.set_title("final weights per bank")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=_DPI)
    return {"epochs": epochs, "gated_fraction": gated if has_gated else None,
            "banks": [(label, len(v)) for label, v in banks]}


# ---- compare / run ------------------------------------------------------------------------
def raster(model: dict, chip: dict | None, cfg, path: pathlib.Path, *, sample: int = 0,
           divergence: dict | None = None, title: str | None = None,
           counts: dict | None = None) -> dict | None:
    """One sample's spike raster, the golden model (left) beside the chip (right).

    ``model``, ``chip``: ``{key: (steps, neurons) 0/1 array}`` with keys ``s_in``,
    ``s_h``, ``s_r`` and, optionally, ``m`` (modulators; the chip's probe port has none,
    so its panel says so). ``sim.compare`` builds both: ``model_raster`` from the
    golden model, ``chip_raster`` from tb_chip's per-step probe records. ``chip`` may be
    None (a board run with no per-step probe): the model is drawn alone.

    ``counts`` (``run --plot``: a board's UART carries each sample's class counts, not its
    spikes): ``{"model": [...], "chip": [...], "chip_label": str}``, drawn as bars per
    class under the raster, the classes whose counts differ in red.

    ``divergence``: the first differing spike as :func:`sim.compare.first_divergence`
    returns it; computed here from the two rasters when None. Returns the divergence it
    marked (None when the rasters agree). Every differing spike is marked with a red
    ring in both columns, the first one also with a red cross-hair and the title."""
    from sim.compare import first_divergence, spike_mismatches
    s = cfg.sizes
    N, K, P = s.neurons, s.classes, s.per_class
    if chip is not None and divergence is None:
        divergence = first_divergence(model, chip, cfg)
    bad = spike_mismatches(model, chip) if chip is not None else []
    keys = [(k, lab) for k, lab in POPULATIONS if k in model]
    # panel heights: a row a neuron, but the small populations tall enough for their
    # class labels and the hidden layer not taller than the rest together
    heights = [float(np.clip(np.asarray(model[k]).shape[1], 60, 200)) for k, _ in keys]
    cols = 2 if chip is not None else 1
    rows = len(keys) + (counts is not None)
    if counts is not None:
        heights.append(90.0)
    fig = _figure(figsize=(6.2 * cols, 1.6 + 0.026 * sum(heights)))
    grid = fig.add_gridspec(rows, cols, height_ratios=heights)
    T = np.asarray(model["s_h"]).shape[0]
    sides = [("golden model", model)] + ([("chip (Verilator, probe port)", chip)]
                                         if chip is not None else [])
    for c, (side, r) in enumerate(sides):
        last = max(i for i, (k, _) in enumerate(keys) if k in r)
        for row, (key, label) in enumerate(keys):
            ax = fig.add_subplot(grid[row, c])
            n = np.asarray(model[key]).shape[1]
            if key not in r:
                ax.text(0.5, 0.5, f"{label}: not on the chip's probe port",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            a = np.asarray(r[key])
            t, j = np.nonzero(a[:T])
            # a spike: a tick 0.8 of its neuron's row high (data units: rows stay
            # apart in the small populations), 1.8 rows in the large ones to be seen
            h = 0.4 if n <= 100 else 0.9
            ax.vlines(t, j - h, j + h, color="black", linewidth=2.0 if n <= 100 else 1.4)
            for m in bad:
                if m["key"] == key:
                    ax.scatter([m["step"]], [m["index"]], s=70, facecolors="none",
                               edgecolors="red", linewidths=1.3, zorder=5)
            if divergence is not None and divergence.get("key") == key:
                ax.axvline(divergence["step"], color="red", alpha=0.35, linewidth=1)
                ax.axhline(divergence["index"], color="red", alpha=0.35, linewidth=1)
            ax.set_xlim(-0.5, T - 0.5)
            ax.set_ylim(n - 0.5, -0.5)
            _population_axis(ax, key, label, n, N, K, P, first_column=c == 0)
            if row == 0:
                ax.set_title(side)
            if row == last:
                ax.set_xlabel("step")
            else:
                ax.tick_params(labelbottom=False)
    differ = _count_bars(fig.add_subplot(grid[len(keys), :]), counts) if counts else []
    head = title or f"sample {sample}"
    if chip is None and counts is not None:
        head += (": class counts DIFFER in class " + ", ".join(map(str, differ)) if differ
                 else ": the chip's class counts equal the model's")
        divergence = {"key": "counts", "classes": differ} if differ else None
    elif chip is None:
        head += ": model only (no per-step chip raster)"
    elif divergence is None:
        head += ": chip and model agree on every spike"
    else:
        head += (f": FIRST DIVERGENCE at step {divergence['step']}, {divergence['where']}"
                 f" (model {divergence['model']}, chip {divergence['chip']}); "
                 f"{len(bad)} spike{'s' if len(bad) != 1 else ''} differ (red rings)")
    import textwrap
    fig.suptitle(textwrap.fill(head, 62 * cols), color="red" if divergence is not None
                 else "black", fontsize="medium")   # wrapped: one column is narrow
    fig.savefig(path, dpi=_DPI)
    return divergence


def _count_bars(ax, counts: dict) -> list:
    """Class counts, the model's and the chip's side by side; returns the classes where
    they differ (their bars and labels red)."""
    model, chip = np.asarray(counts["model"]), np.asarray(counts["chip"])
    k = np.arange(len(model))
    differ = [int(c) for c in k[model != chip]]
    ax.bar(k - 0.2, model, 0.4, label="golden model", color="0.35")
    ax.bar(k + 0.2, chip, 0.4, label=counts.get("chip_label", "chip"),
           color=["red" if c in differ else "tab:blue" for c in k])
    ax.set_xticks(k)
    ax.set_xticklabels([f"class {c}" for c in k], fontsize="x-small")
    for c in differ:
        ax.get_xticklabels()[c].set_color("red")
    ax.set_ylabel("readout spikes", fontsize="small")
    # above the axes: inside, it hid the tallest bars
    ax.legend(fontsize="x-small", loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2,
              frameon=False)
    ax.grid(axis="y", alpha=0.2)
    return differ


def _population_axis(ax, key, label, n, N, K, P, first_column):
    """Y ticks and separators: cores for hidden, classes for readout and modulators."""
    ax.grid(axis="x", alpha=0.2)
    if key == "s_h" and n > N:
        groups = [(g * N, f"core {g}") for g in range(n // N)]
        size = N
    elif key == "s_r" and K * P == n:
        groups = [(k * P, f"class {k}") for k in range(K)]
        size = P
    elif key == "m" and n % K == 0 and n // K > 1:
        groups = [(k * (n // K), f"class {k}") for k in range(K)]
        size = n // K
    else:
        groups, size = [], n
    for start, _ in groups[1:]:
        ax.axhline(start - 0.5, color="tab:blue", alpha=0.4, linewidth=0.7)
    if groups and len(groups) <= 16:
        every = 1 if size >= 3 or len(groups) <= 6 else 2   # else every other class
        shown = groups[::every]
        ax.set_yticks([start + (size - 1) / 2 for start, _ in shown])
        ax.set_yticklabels([g for _, g in shown], fontsize="x-small")
    ax.set_ylabel(label if first_column else "", fontsize="small")
    if not first_column:
        ax.tick_params(labelleft=False)


# ---- build ----------------------------------------------------------------------------------
_RESOURCE_LABELS = {
    "luts": {"TRELLIS_COMB": "LUT4", "ICESTORM_LC": "logic cells (LUT4+FF)"},
    "ffs": {},
    "ebr": {"DP16KD": "block RAM (DP16KD)", "ICESTORM_RAM": "EBR (SB_RAM40_4K)"},
    "spram": {"ICESTORM_SPRAM": "SPRAM (SB_SPRAM256KA)"},
    "dsp": {"MULT18X18D": "multipliers (MULT18X18D)", "ICESTORM_DSP": "DSP (SB_MAC16)"},
}
_DEFAULT_LABELS = {"luts": "logic (LUT4)", "ffs": "flip-flops", "ebr": "block RAM",
                   "spram": "SPRAM", "dsp": "DSP / multipliers"}


def resources(report: dict, path: pathlib.Path) -> list:
    """``build``'s resource chart: for logic, flip-flops, block RAM, SPRAM and DSPs the
    bar of the fraction used (``report["resources"][k]["used"]``) against the device's
    limit (``report["limits"][k]``), labelled ``used / limit``; a resource the device
    does not have is drawn as "none on this device". Returns ``[(key, label, used,
    limit, fraction or None)]`` as drawn."""
    res, lim = report["resources"], report["limits"]
    rows = []
    for key in ("luts", "ffs", "ebr", "spram", "dsp"):
        if key not in res or key not in lim:
            raise ValueError(f"build report has no {key!r} in resources and limits")
        used, cap = int(res[key]["used"]), int(lim[key])
        label = _RESOURCE_LABELS[key].get(res[key].get("cell"), _DEFAULT_LABELS[key])
        rows.append((key, label, used, cap, used / cap if cap else None))
    fig = _figure(figsize=(7.5, 3.4))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    for yi, (key, label, used, cap, frac) in zip(y, rows):
        if frac is None:
            ax.text(1, yi, f"{used}: none on this device", va="center", fontsize="small",
                    color="0.4")
            continue
        color = "tab:red" if frac > 1 else ("tab:orange" if frac > 0.85 else "tab:green")
        ax.barh(yi, 100 * min(frac, 1.2), color=color, height=0.6)
        ax.text(min(100 * frac, 120) + 1.5, yi, f"{used:,} / {cap:,} ({100 * frac:.0f} %)",
                va="center", fontsize="small")
    ax.axvline(100, color="black", linewidth=1)
    ax.text(101, -0.55, "device limit", fontsize="x-small", va="bottom")
    ax.set_yticks(y)
    ax.set_yticklabels([label for _, label, *_ in rows])
    ax.set_xlim(0, 150)
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("used, % of the device (orange: over 85 %, red: over the limit)")
    fmax = report.get("fmax") or {}
    f = next(iter(fmax.values()), None)
    clock_hz = (report.get("clock") or {}).get("clock_hz")
    sub = []
    if f:
        sub.append(f"Fmax {f['achieved_mhz']:.2f} MHz")
    if clock_hz:
        sub.append(f"board clock {clock_hz / 1e6:.2f} MHz")
    ax.set_title(f"{report.get('board', '?')} ({report.get('device', '?')})"
                 + (": " + ", ".join(sub) if sub else ""), fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path, dpi=_DPI)
    return rows


# ---- sweep --------------------------------------------------------------------------------
_MARKERS = "osD^v<>"
_METRIC_LABELS = {"test_accuracy": "test accuracy (%)", "train_accuracy": "train accuracy (%)"}


def _positions(values: list):
    """x positions for a field's values: the numbers themselves, else (true/false,
    text) evenly spaced categories; ``(position of each value, ticks, labels)``."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct):
        return {v: v for v in distinct}, None, None
    pos = {v: i for i, v in enumerate(distinct)}
    return pos, list(pos.values()), [str(v).lower() if isinstance(v, bool) else str(v)
                                     for v in distinct]


def sweep_params(rows: list, fields: list, metric: str, path: pathlib.Path, *,
                 tasks: list, note: str = "") -> dict:
    """``sweep``'s accuracy per searched field: one panel per ``(field, column)``, every
    trial a point (hollow: stopped early by the scheduler, or unfinished), the mean over
    seeds (and the other searched fields) of the trials that ran to the end per value a
    line (a stopped trial's accuracy is an early epoch's: averaged in, it would drag
    down the values ASHA tried first), one colour per task; ``note`` (what the trials
    ran: epochs, samples) goes under the title. Returns ``{field: {task: [(value,
    mean)]}}`` as drawn."""
    fig = _figure(figsize=(max(5.6, 4.4 * len(fields)), 3.8))
    axes = fig.subplots(1, max(1, len(fields)), squeeze=False)[0]
    drawn = {}
    for ax, (field, col) in zip(axes, fields):
        pos, ticks, labels = _positions([r[col] for r in rows])
        drawn[field] = {}
        span = (max(pos.values()) - min(pos.values())) if pos else 0
        for i, task in enumerate(tasks):
            rs = [r for r in rows if r["task"] == task and r[metric] is not None]
            if not rs:
                continue
            color = f"C{i}"
            jitter = 0.015 * (span or 1) * (i - (len(tasks) - 1) / 2)
            done = [r for r in rs if r["status"] == "done"]
            early = [r for r in rs if r["status"] != "done"]
            if done:
                ax.scatter([pos[r[col]] + jitter for r in done],
                           [100 * r[metric] for r in done], color=color, alpha=0.55,
                           s=22, marker=_MARKERS[i % len(_MARKERS)], label=f"{task}: trials")
            if early:
                ax.scatter([pos[r[col]] + jitter for r in early],
                           [100 * r[metric] for r in early], facecolors="none",
                           edgecolors=color, s=28, marker=_MARKERS[i % len(_MARKERS)],
                           label=f"{task}: stopped early")
            means = []
            for v in sorted(pos, key=lambda v: pos[v]):
                vals = [r[metric] for r in done if r[col] == v]
                if vals:
                    means.append((v, sum(vals) / len(vals)))
            ax.plot([pos[v] + jitter for v, _ in means], [100 * m for _, m in means],
                    "-", color=color, linewidth=1.6, marker="_", markersize=14,
                    markeredgewidth=2, label=f"{task}: mean of finished")   # a bar: seen alone too
            drawn[field][task] = means
        if ticks is not None:
            ax.set_xticks(ticks)
            ax.set_xticklabels(labels)
        elif len(pos) <= 12 and all(isinstance(v, int) for v in pos):
            ax.set_xticks(sorted(pos.values()))     # each value of an integer field
        ax.set_xlabel(field)
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        ax.set_title(f"{metric.replace('_', ' ')} per {field.split('.')[-1]}",
                     fontsize="medium")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:                  # one legend for all panels, under them: off the data
        fig.legend(handles, labels, loc="outside lower center", fontsize="small",
                   ncol=min(len(handles), 3), frameon=False)
    n_seeds = len({r["seed"] for r in rows})
    fig.suptitle(f"sweep, {n_seeds} sample-order seed{'s' if n_seeds != 1 else ''}: points are "
                 "trials, lines the mean per value of the finished ones" +
                 (f"\n{note}" if note else ""),
                 fontsize="medium")
    fig.savefig(path, dpi=_DPI)
    return drawn


def sweep_costs(rows: list, metric: str, path: pathlib.Path, *, tasks: list,
                field: tuple | None = None, note: str = "") -> list:
    """``sweep``'s accuracy against the learning's cost: the fraction of steps with
    learning gated on, and weight writes per sample, every trial a point, one marker per
    task; the colour is the task's, or with one task and ``field`` (``(name, column)``,
    a searched field) the field's value. Returns the ``(task, gated, writes, accuracy)``
    drawn."""
    fig = _figure(figsize=(9.2, 3.8))
    axes = fig.subplots(1, 2)
    drawn = []
    by_value = field is not None and len(tasks) == 1
    if by_value:
        values = sorted({r[field[1]] for r in rows}, key=lambda v: (isinstance(v, str), v))
        colors = {v: f"C{i % 10}" for i, v in enumerate(values)}
    for i, task in enumerate(tasks):
        rs = [r for r in rows if r["task"] == task and r[metric] is not None
              and r["gated_fraction"] is not None]
        groups = ([(f"{field[0].split('.')[-1]} = {v}", colors[v],
                    [r for r in rs if r[field[1]] == v]) for v in values]
                  if by_value else [(task, f"C{i}", rs)])
        for label, color, grs in groups:
            if not grs:
                continue
            acc = [100 * r[metric] for r in grs]
            gated = [100 * r["gated_fraction"] for r in grs]
            writes = [r["weight_writes_per_sample"] for r in grs]
            kw = dict(color=color, marker=_MARKERS[i % len(_MARKERS)], alpha=0.75, s=28,
                      label=label)
            axes[0].scatter(gated, acc, **kw)
            axes[1].scatter(writes, acc, **kw)
            drawn += [(task, g, w, a) for g, w, a in zip(gated, writes, acc)]
    for ax, xlabel, title in (
            (axes[0], "steps with learning gated on (%)", "accuracy vs gated fraction"),
            (axes[1], "weight writes per sample", "accuracy vs weight writes")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        ax.set_title(title, fontsize="medium")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize="small",
                   ncol=min(len(handles), 4), frameon=False)
    fig.suptitle(f"sweep{' on ' + tasks[0] if by_value else ''}: every trial, its "
                 "learning cost averaged over the epochs it ran"
                 + (f"\n{note}" if note else ""), fontsize="medium")
    fig.savefig(path, dpi=_DPI)
    return drawn
