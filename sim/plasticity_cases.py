"""Test cases of the plasticity testbench (sim/tb_plasticity.py), built from golden-model
runs on the pytest side, and the cycle formula the testbench's counts are checked with.

Per case (a config, weights, samples; :func:`make_case`) the testbench gets, step by
step, the readout spikes to feed the teacher and the model's modulator spikes and teacher
traces to check; on a step where the modulators spiked, the rows' pre traces and the
gates to load (the model's ``x_in``, ``x_h``, bias trace, ``psi``); at the end, the
model's final weight words, LFSR states and ``net.stats`` counters.
"""
from __future__ import annotations

import numpy as np

from gen.topology import KIND_HIDDEN
from gen.util import ceil_div
from rtl.hash import feedback_latency
from rtl.sweep_pipeline import word_schedule

from .harness import pack_rows
from .plasticity_dut import PlasticityHardware

__all__ = ["bank_layout", "weight_image", "row_traces", "make_case", "row_cycles",
           "bank_learns", "visited_rows", "sweep_cycles"]


def bank_layout(net, hw: PlasticityHardware) -> list:
    """Per bank: base word, trace base, rows, cols, words, j0, readout flag."""
    s = net.config.sizes
    banks, base, tbase = [], 0, 0
    for g, rows in enumerate(net.topology.cores):
        if rows.n_rows > hw.max_rows:
            raise ValueError(f"core {g} has {rows.n_rows} rows > max_rows {hw.max_rows}")
        words = ceil_div(s.neurons, hw.lanes)
        banks.append({"bank": g, "readout": 0, "base": base, "rows": rows.n_rows,
                      "cols": s.neurons, "words": words, "j0": g * s.neurons,
                      "trace_base": tbase})
        base += hw.max_rows * words
        tbase += hw.max_rows
    banks.append({"bank": len(net.topology.cores), "readout": 1, "base": base,
                  "rows": len(net.ro_mask), "cols": s.readout,
                  "words": ceil_div(s.readout, hw.lanes), "j0": 0, "trace_base": tbase})
    return banks


def weight_image(net, hw: PlasticityHardware, banks) -> dict:
    """{word address: word} of every bank."""
    image = {}
    for b in banks:
        words = pack_rows(net.bank_weights(b["bank"]), hw.lanes, hw.weight)
        image.update({b["base"] + i: w for i, w in enumerate(words)})
    return image


def row_traces(net, hw: PlasticityHardware, banks, x_in, x_h, x_bias) -> dict:
    """Trace-memory words (x | hidden << trace) of every bank row."""
    out = {}
    for b in banks[:-1]:
        rows = net.topology.cores[b["bank"]]
        for i, (kind, src) in enumerate(zip(rows.kind, rows.source)):
            x = x_h[src] if kind == KIND_HIDDEN else x_in[src]
            out[b["trace_base"] + i] = int(x) | (int(kind == KIND_HIDDEN) << hw.trace)
    ro = banks[-1]
    last = net.topology.last_layer_offset
    n_last = net.config.sizes.cores * net.config.sizes.neurons
    for i in range(n_last):
        out[ro["trace_base"] + i] = int(x_h[last + i])
    if net.config.topology.readout_bias:
        out[ro["trace_base"] + n_last] = int(x_bias)
    return out


def _as_bits(values) -> int:
    """0/1 values as one integer, value ``i`` in bit ``i`` (a port's layout)."""
    return sum(int(v) << i for i, v in enumerate(values))


def _lfsr_states(net) -> list:
    return [int(b.lfsr.state) for b in net.banks] + [int(net.readout_bank.lfsr.state)]


def make_case(hw: PlasticityHardware, net, u, labels, *, learn=True, name="case",
              cmd_fields=None) -> dict:
    """Run ``net`` (golden model) on samples ``u`` with ``labels`` and record what the
    testbench needs. ``net`` is modified (trained)."""
    cfg = net.config
    s, l, d = cfg.sizes, cfg.learning, cfg.dynamics
    assert (s.classes, s.per_class, s.layers, s.cores, s.neurons) == \
        (hw.classes, hw.per_class, hw.layers, hw.cores, hw.neurons)
    banks = bank_layout(net, hw)
    init = weight_image(net, hw, banks)
    mask = pack_rows(net.ro_mask.astype(np.int64), hw.lanes, 1)
    lfsr0 = _lfsr_states(net)
    samples = []
    for b in range(len(u)):
        _, _, tr = net.run(u[b:b + 1], [labels[b]] if learn else None, learn=learn,
                           record=True)
        tr = tr[0] if learn else tr
        tr = {k: v[0] if v.ndim > 1 else v for k, v in tr.items()}
        steps = []
        for t in range(s.steps):
            step = {"spikes": _as_bits(tr["s_r"][t]), "m": _as_bits(tr["m"][t]),
                    "activity": [int(v) for v in tr["teach"][t]] if learn else None}
            if tr["m"][t].any() or not learn:
                step["traces"] = row_traces(net, hw, banks, tr["x_in"][t], tr["x_h"][t],
                                            tr["x_bias"][t][0])
                step["gates"] = [int(p) | (int(x > 0) << 1)
                                 for p, x in zip(tr["psi"][t], tr["x_h"][t])]
            steps.append(step)
        samples.append({"label": int(labels[b]) if labels is not None else 0,
                        "steps": steps})
    final = weight_image(net, hw, banks)
    st = net.stats
    return {
        "name": name, "learn": int(learn), "lanes": hw.lanes, "trace_width": hw.trace,
        "classes": s.classes, "banks": banks, "cmd_fields": cmd_fields,
        "tparams": {"teacher_shift": l.teacher_shift, "teach_start": l.teach_start,
                    "target": l.target, "margin": l.margin,
                    "push_down_all": int(l.push_down_all), "mod_theta": d.mod_theta,
                    "mod_leak_shift": d.mod_leak_shift, "mod_drive": d.mod_drive},
        "pparams": {"seed": cfg.seed, "learn": int(learn),
                    "learn_hidden": int(l.learn_hidden),
                    "learn_readout": int(l.learn_readout),
                    "learn_recurrent": int(l.learn_recurrent),
                    "post_from_trace": int(l.post_from_trace),
                    "eta_hidden": l.eta_hidden, "eta_hidden_shift": l.eta_hidden_shift,
                    "eta_readout": l.eta_readout, "eta_readout_shift": l.eta_readout_shift},
        "init": sorted(init.items()), "mask": mask, "mask_base": 0, "lfsr0": lfsr0,
        "samples": samples,
        "expected": {"words": sorted(final.items()), "lfsr": _lfsr_states(net),
                     "rows_swept": st.rows_swept, "weight_writes": st.weight_writes,
                     "modulator_events": st.modulator_events,
                     "gated_steps": st.gated_steps},
    }


# ---- cycles (docs/plasticity.md) -------------------------------------------------------
def row_cycles(words: int, beats: int = 1) -> int:
    """Cycles of a visited row's read-modify-write (rtl.plasticity ``RMW``) of words
    that take ``beats`` cycles through the sweep lanes: a read every ``period`` cycles,
    the last word written ``latency`` cycles after its read (``word_schedule``)."""
    period, latency = word_schedule(beats)
    return period * (words - 1) + latency + 1


def bank_learns(case, bank) -> bool:
    """Whether ``bank`` sweeps at all under the case's learning switches."""
    pp = case["pparams"]
    return bool(pp["learn"] and (pp["learn_readout"] if bank["readout"] else
                                 pp["learn_hidden"]))


def visited_rows(case, hw: PlasticityHardware, trace_image: dict, bank) -> int:
    """Rows of ``bank`` the sweep reads and writes: those with a non-zero pre trace in
    the trace memory ``trace_image``, except a hidden bank's hidden-fed rows without
    ``learn_recurrent``; none in a bank that does not learn."""
    if not bank_learns(case, bank):
        return 0
    skip_hidden = not bank["readout"] and not case["pparams"]["learn_recurrent"]
    n = 0
    for r in range(bank["rows"]):
        word = trace_image[bank["trace_base"] + r]
        x, hidden = word & ((1 << hw.trace) - 1), word >> hw.trace
        n += x != 0 and not (hidden and skip_hidden)
    return n


def sweep_cycles(case, hw: PlasticityHardware, trace_image: dict, gates: list) -> list:
    """Expected cycles of each bank's command in one gated step, as the testbench counts
    them (docs/plasticity.md): ``2`` when the bank does not learn, else
    ``2 + cols + (4K + 3) * gated_cols + rows + (2 * words + 4) * visited_rows``
    (``4K + 3``: the latency of rtl.hash.FeedbackPost, four cycles a class and two for the
    last class's final mix; ``2 * words + 4``: a read every other cycle, each word
    written back ``WB_LATENCY = 5`` cycles after its read, :func:`row_cycles`; with
    ``hw.beats`` > 1 the row's cycles are :func:`row_cycles` of them)."""
    gate_bit = 1 if case["pparams"]["post_from_trace"] else 0
    out = []
    for b in case["banks"]:
        if not bank_learns(case, b):
            out.append(2)
            continue
        gated = 0 if b["readout"] else \
            sum((gates[b["j0"] + c] >> gate_bit) & 1 for c in range(b["cols"]))
        out.append(2 + b["cols"] + feedback_latency(case["classes"]) * gated + b["rows"] +
                   row_cycles(b["words"], hw.beats) * visited_rows(case, hw, trace_image, b))
    return out
