"""A SWIRL network exported to NIR, run in a NIR-consuming peer simulator: snnTorch's
neurons under nirtorch's NIR interpreter (float32 PyTorch), beside the golden model on
the same samples.

The peer gets the graph :func:`gen.nir_io.to_nir` writes, read back from the file, and
nothing else: no SWIRL code runs inside it (:func:`snntorch_run` says why it calls
nirtorch with snnTorch's node mapping rather than ``import_from_nir`` itself). Its input
is the rate encoder's spike trains (the graph's ``input``; :func:`encoder_spikes`),
computed here exactly as the golden model's phase 1, with one silent step in front: the
peer delivers every edge within the step, SWIRL's readout hears the hidden layer one
step late (a routed hop), and for a one-layer network one leading silent step lines the
two up exactly (the peer's readout at step t + 1 then sees the hidden spikes of SWIRL's
step t, and its step 0 the bias alone, as SWIRL's step 0). What remains (docs/nir.md) is
the reset, since snnTorch resets to zero (NIR's ``v_reset``) where SWIRL's default
subtracts the threshold, and rounding: SWIRL's integer leak ``v - (v >> s)`` is
``ceil((1 - 2**-s) v)``, the peer's is ``(1 - 2**-s) v`` in float32.

Needs the ``nir-peer`` extra (``pip install -e '.[nir-peer]'``: torch, snntorch,
nirtorch). ``python -m sim.nir_peer --weights W.npz`` prints the agreement.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import sys

import numpy as np

from .model import I64, class_counts, encode_step, predict

__all__ = ["encoder_spikes", "snntorch_run", "peer_predictions", "agreement"]


def encoder_spikes(config, intensities) -> np.ndarray:
    """The rate encoder's spikes (B, steps, n_in), phase 1 of docs/architecture.md."""
    u = np.atleast_2d(np.asarray(intensities)).astype(I64)
    acc = np.zeros_like(u)
    out = []
    for _ in range(config.sizes.steps):
        acc, s = encode_step(acc, u, config.dynamics.enc_theta)
        out.append(s)
    return np.stack(out, axis=1)


def snntorch_run(graph, spikes: np.ndarray) -> np.ndarray:
    """Run ``graph`` (a nir.NIRGraph) on ``spikes`` (B, T, n_in) with snnTorch's neurons
    under nirtorch's NIR interpreter; returns the output node's spikes (B, T, n_out).

    This is the path of ``snntorch.import_nir.import_from_nir`` (its node mapping,
    ``_nir_to_snntorch_module``, into ``nirtorch.nir_to_torch``) without its first step,
    ``_replace_rnn_subgraph_with_nirgraph``: in snnTorch 1.0.0 with nirtorch 2.6 that
    rewrite wires the recurrent sub-graph's input into the recurrent weights (it computes
    ``W_rec (input + s(t-1))`` instead of ``input + W_rec s(t-1)``; docs/nir.md), and
    nirtorch runs the graph's own cycle correctly: a Linear on the cycle feeds its
    previous step's output back. snnTorch prints while it maps; that is swallowed."""
    import nir
    import nirtorch
    from snntorch.import_nir import _nir_to_snntorch_module
    mapper = lambda node: _nir_to_snntorch_module(node, init_hidden=True)  # noqa: E731
    node_map = {nir.Affine: mapper, nir.Linear: mapper, nir.LIF: mapper,
                nir.CubaLIF: mapper}
    with contextlib.redirect_stdout(io.StringIO()):
        module = nirtorch.nir_to_torch(graph, node_map)
    return _step_through(module, spikes)


def _step_through(module, spikes: np.ndarray) -> np.ndarray:
    """Run a stateful torch module step by step over ``spikes`` (batch, steps, inputs)."""
    import torch
    x = torch.from_numpy(np.asarray(spikes, np.float32))
    out, state = [], None
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, state = module(x[:, t], state)
            out.append(y.numpy())
    return np.stack(out, axis=1)


def snntorch_import_run(graph, spikes: np.ndarray) -> np.ndarray:
    """The same through ``import_from_nir`` as shipped (its RNN rewrite included), to
    show what that rewrite does (docs/nir.md)."""
    from snntorch.import_nir import import_from_nir
    with contextlib.redirect_stdout(io.StringIO()):
        module = import_from_nir(graph)
    return _step_through(module, spikes)


def peer_predictions(net, intensities, batch: int = 512) -> np.ndarray:
    """Predictions of the peer on the graph of ``net`` written to and read from a NIR
    file (the population-code argmax of the graph's metadata, lowest index on ties)."""
    import tempfile

    import nir

    from gen.nir_io import write_nir
    s = net.config.sizes
    if s.layers != 1:
        raise ValueError(f"sizes.layers = {s.layers}: one leading silent step lines up one "
                         "routed hop only; deeper graphs need nir.Delay nodes, which "
                         "snnTorch does not map (docs/nir.md)")
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "net.nir"
        write_nir(net, path)
        graph = nir.read(str(path))
    preds = []
    u = np.atleast_2d(np.asarray(intensities))
    for i in range(0, len(u), batch):
        spikes = encoder_spikes(net.config, u[i:i + batch])
        spikes = np.concatenate([np.zeros_like(spikes[:, :1]), spikes[:, :-1]], axis=1)
        out = snntorch_run(graph, spikes)
        counts = class_counts(out.sum(1).astype(I64), s.classes, s.per_class)
        preds.append(np.argmax(counts, axis=1))
    return np.concatenate(preds)


def agreement(net, intensities, labels=None) -> dict:
    """The share of samples on which the peer predicts what the golden model predicts,
    and both accuracies when ``labels`` are given."""
    ours = predict(net, np.asarray(intensities))
    peer = peer_predictions(net, intensities)
    out = {"samples": int(len(ours)), "agreement": float(np.mean(ours == peer)),
           "disagreeing": int(np.sum(ours != peer))}
    if labels is not None:
        out["golden_accuracy"] = float(np.mean(ours == labels))
        out["peer_accuracy"] = float(np.mean(peer == labels))
    return out


def main(argv=None) -> int:
    from sim.data import load_task
    from sim.train import load_weights
    p = argparse.ArgumentParser(prog="python -m sim.nir_peer",
                                description="agreement of snnTorch on the exported NIR "
                                            "graph with the golden model")
    p.add_argument("--weights", type=pathlib.Path, required=True)
    p.add_argument("--task", default="digits")
    a = p.parse_args(argv)
    net = load_weights(a.weights)
    ds = load_task(a.task, None, levels=net.config.dynamics.enc_theta)
    report = {"weights": str(a.weights), "task": a.task,
              "reset_subtract": net.config.dynamics.reset_subtract,
              **agreement(net, ds.x_test, ds.y_test)}
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
