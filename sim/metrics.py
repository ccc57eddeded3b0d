"""NeuroBench's metrics for the golden model, and the learning cost NeuroBench has no
metric for.

The ``neurobench`` package (2.3.0) measures PyTorch models through hooks on their
``torch.nn`` layers and snnTorch neurons, and its install pulls torch, torchaudio,
snnTorch, tonic and numba; the golden model is NumPy integers, with nothing to hook. So
this module implements NeuroBench 2.3.0's definitions on the golden model's own
recorded spikes and weights, each function naming the NeuroBench source it follows
(``neurobench/metrics/...`` in the 2.3.0 wheel; docs/metrics.md has the figures):

- :func:`synaptic_operations`: ``workload/synaptic_operations.py`` with
  ``utils/layers/macs.py`` (``stateless_layer_macs``): per sample, the sum over every
  step and every connection layer of binarised inputs times binarised weights (an
  operation is a spike meeting a non-zero weight; biases excluded): ``Effective_ACs``
  (spiking inputs: accumulates, not multiply-accumulates), ``Effective_MACs`` (0 here)
  and ``Dense`` (every input and every weight of the dense layers, zeros included);
- :func:`activation_sparsity`: ``workload/activation_sparsity.py``: 1 - non-zero
  activations / all activations, over the spiking neuron layers' outputs (hidden and
  readout), every step, every sample;
- :func:`connection_sparsity`: ``static/connection_sparsity.py``: zero weights / all
  weights of the connection layers (the dense matrices of the NIR graph, gen/nir_io.py:
  ``w_in``, ``rec_l``, ``ff_l``, ``w_ro``), rounded to 4 decimals as NeuroBench does;
- :func:`footprint`: ``static/footprint.py``: parameters times their element size, with
  SWIRL's element (``widths.weight`` bits) and SWIRL's storage (the weight banks as the
  chip holds them), beside the dense float32 count a PyTorch port would report.

:func:`learning_cost` is not NeuroBench's: weight writes, modulator events and rows
swept per sample and the gated share of steps, with learning on, from
:class:`sim.model.Stats`.
"""
from __future__ import annotations

import math

import numpy as np

from .model import Network

__all__ = ["synaptic_operations", "activation_sparsity", "connection_sparsity",
           "footprint", "learning_cost", "neurobench_metrics", "SOURCE"]

SOURCE = ("NeuroBench 2.3.0 definitions (neurobench/metrics/workload/synaptic_operations.py"
          " + utils/layers/macs.py, workload/activation_sparsity.py, "
          "static/connection_sparsity.py, static/footprint.py), implemented on the golden "
          "model in sim/metrics.py")


def _layers(net: Network):
    """The connection layers as NeuroBench would see the NIR graph's Linear/Affine
    nodes: (name, weight (pre, post), pre spikes key, pre slice, delivered with delay)."""
    s = net.config.sizes
    n = s.cores * s.neurons
    W = net.weights
    out = [("w_in", W.w_in[:, :n], "s_in", slice(None), False)]
    for l in range(s.layers):
        blk = slice(l * n, (l + 1) * n)
        out.append((f"rec_{l}", W.w_hh[blk, blk], "s_h", blk, True))
        if l:
            prev = slice((l - 1) * n, l * n)
            out.append((f"ff_{l}", W.w_hh[prev, blk], "s_h", prev, True))
    last = slice((s.layers - 1) * n, s.layers * n)
    out.append(("w_ro", W.w_ro[:n], "s_h", last, True))
    return out


def _record(net: Network, intensities, batch: int = 128):
    """Spikes of every population for the samples (learning off), batched."""
    keys = ("s_in", "s_h", "s_r")
    parts = {k: [] for k in keys}
    for i in range(0, len(intensities), batch):
        _, _, tr = net.run(intensities[i:i + batch], record=True)
        for k in keys:
            parts[k].append(tr[k])
    return {k: np.concatenate(v) for k, v in parts.items()}


def synaptic_operations(net: Network, spikes: dict) -> dict:
    """NeuroBench's SynapticOperations per sample (module docstring). SWIRL delivers the
    hidden spikes of step t - 1 at step t, so a hidden spike of the last step is never
    delivered and costs nothing; per layer too."""
    B, T = spikes["s_in"].shape[:2]
    per_layer, eff, dense = {}, 0, 0
    for name, w, key, rows, delayed in _layers(net):
        x = spikes[key][:, :, rows]
        if delayed:
            x = x[:, :-1]
        ops = int(x.reshape(-1, x.shape[-1]).astype(np.int64).sum(0) @
                  (w != 0).sum(1).astype(np.int64))
        per_layer[name] = ops / B
        eff += ops
        dense += T * w.size * B
    return {"Effective_MACs": 0.0, "Effective_ACs": eff / B, "Dense": dense / B,
            "Effective_ACs_per_layer": per_layer}


def activation_sparsity(spikes: dict) -> dict:
    """NeuroBench's ActivationSparsity over the hidden and readout populations, and each
    alone (the input encoder's spikes are not a neuron layer's output)."""
    h, r = spikes["s_h"], spikes["s_r"]
    total = h.size + r.size
    return {"activation_sparsity": 1 - (int(h.sum()) + int(r.sum())) / total,
            "hidden": 1 - int(h.sum()) / h.size, "readout": 1 - int(r.sum()) / r.size,
            "input_spike_sparsity": 1 - int(spikes["s_in"].sum()) / spikes["s_in"].size}


def connection_sparsity(net: Network) -> dict:
    """NeuroBench's ConnectionSparsity of the NIR graph's dense layers (zeros: synapses
    the topology does not wire, and wired synapses whose learnt weight is 0), and the
    share of the dense layers' entries that the topology does not wire at all."""
    s = net.config.sizes
    n = s.cores * s.neurons
    zeros = sum(int((w == 0).sum()) for _, w, *_ in _layers(net))
    total = sum(w.size for _, w, *_ in _layers(net))
    wired = int(net.in_mask[:, :n].sum()) + int(net.hh_mask.sum()) + \
        int(net.ro_mask[:n].sum())
    return {"connection_sparsity": round(zeros / total, 4),
            "structural_sparsity": round(1 - wired / total, 4),
            "weights_dense": total, "synapses_wired": wired}


def footprint(net: Network) -> dict:
    """NeuroBench's Footprint (parameters x element size): SWIRL's weight banks as the
    chip stores them (every hidden core's crossbar rows x ``neurons`` columns, the
    readout's rows x readout columns, ``widths.weight`` bits each, in bytes), and, for
    comparison, the dense float32 parameters of the NIR graph as a PyTorch port would
    hold them (its Linear weights and the readout bias; no neuron parameters)."""
    c = net.config
    s = c.sizes
    stored = sum(len(rows.source) * s.neurons for rows in net.topology.cores) + \
        net.weights.w_ro.size
    per = math.ceil(c.widths.weight / 8)
    dense = sum(w.size for _, w, *_ in _layers(net)) + \
        (s.readout if c.topology.readout_bias else 0)
    return {"footprint_bytes": stored * per, "weights_stored": stored,
            "footprint_dense_float32_bytes": 4 * dense}


def learning_cost(net: Network, intensities, labels) -> dict:
    """What NeuroBench has no metric for: the cost of learning on chip, measured by
    presenting ``intensities`` with learning on to a copy of ``net`` (``net`` itself is
    not changed): weight writes (weights whose value changed), rows swept by the
    plasticity sweeps and modulator events, per sample, and the share of steps on which
    learning was gated on."""
    twin = Network(net.config, net.topology, net.weights.copy())
    twin.run(np.asarray(intensities), np.asarray(labels), learn=True)
    st = twin.stats
    return {"samples": st.samples,
            "weight_writes_per_sample": st.weight_writes / max(st.samples, 1),
            "modulator_events_per_sample": st.modulator_events / max(st.samples, 1),
            "rows_swept_per_sample": st.rows_swept / max(st.samples, 1),
            "gated_fraction": st.gated_steps / max(st.steps, 1)}


def neurobench_metrics(net: Network, x_test, x_train=None, y_train=None,
                       learning_samples: int = 200) -> dict:
    """Everything above for ``net`` on a test set (inference, learning off), and the
    learning cost on the first ``learning_samples`` training samples (skipped without
    them, or with ``learning_samples = 0``)."""
    spikes = _record(net, np.asarray(x_test))
    out = {"source": SOURCE, "samples": int(len(x_test)),
           "synaptic_operations": synaptic_operations(net, spikes),
           "activation_sparsity": activation_sparsity(spikes),
           "connection_sparsity": connection_sparsity(net),
           "footprint": footprint(net)}
    if x_train is not None and learning_samples:
        k = min(learning_samples, len(x_train))
        out["learning_cost"] = {"not_in_neurobench": True,
                                **learning_cost(net, x_train[:k], y_train[:k])}
    return out
