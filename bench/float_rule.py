"""How far the on-chip rule's *kind* of learning goes without spikes or integers.

A float ReLU network of one hidden layer, trained online on digits as the chip learns:
the readout by the chip's teacher (a ternary error: the label's class up, every wrong
class within ``margin`` of it down, nothing when the label leads by the margin), the
hidden layer by centred broadcast alignment of that error (a fixed random feedback
matrix ``B``, ``Bc = K*B - sum_k B``: docs/learning.md, "Centred feedback") gated by
the ReLU's derivative, rates halved every 3 epochs. With ``--hidden off`` the hidden
layer keeps its random weights (the readout-only ablation).

This is a ceiling study for issue 14's digits target, not a model of the chip: it says
what the rule family reaches when spikes, 8-bit weights, stochastic rounding and the
modulator population are taken away (docs/learning.md, "The rule in float").

    python bench/float_rule.py                       # 256, 512, 1024 hidden; ~10 s
    python bench/float_rule.py --hidden-sizes 512 --epochs 20 --seeds 1 2 3 4 5
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sim.data import load_task  # noqa: E402

CLASSES = 10


def ternary_error(scores: np.ndarray, label: int, margin: float) -> np.ndarray:
    """The chip teacher's error in float: +1 for the label and -1 for every wrong class
    whose score is within ``margin`` of the label's; zero when the label leads."""
    e = np.zeros(len(scores))
    close = scores + margin >= scores[label]
    close[label] = False
    if close.any():
        e[label], e[close] = 1.0, -1.0
    return e


def train(x, y, x_test, y_test, *, hidden: int, seed: int, epochs: int, eta_hidden: float,
          eta_readout: float, margin: float, learn_hidden: bool) -> float:
    """One online run; returns the test accuracy (%) after the last epoch."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / np.sqrt(x.shape[1]), (hidden, x.shape[1]))
    b1 = np.zeros(hidden)
    w2, b2 = np.zeros((CLASSES, hidden)), np.zeros(CLASSES)
    b = rng.choice([-1.0, 1.0], (hidden, CLASSES))
    bc = (CLASSES * b - b.sum(1, keepdims=True)) / np.sqrt(hidden)
    for epoch in range(epochs):
        rate = 0.5 ** (epoch // 3)
        for i in rng.permutation(len(x)):
            a = w1 @ x[i] + b1
            h = np.maximum(a, 0)
            e = ternary_error(w2 @ h + b2, y[i], margin)
            if not e.any():
                continue
            w2 += rate * eta_readout * np.outer(e, h)
            b2 += rate * eta_readout * e
            if learn_hidden:
                d = (bc @ e) * (a > 0)
                w1 += rate * eta_hidden * np.outer(d, x[i])
                b1 += rate * eta_hidden * d
    scores = np.maximum(x_test @ w1.T + b1, 0) @ w2.T + b2
    return 100 * float(np.mean(np.argmax(scores, 1) == y_test))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--eta-hidden", type=float, default=0.01)
    ap.add_argument("--eta-readout", type=float, default=0.01)
    ap.add_argument("--margin", type=float, default=1.0)
    ap.add_argument("--hidden", choices=["on", "off"], nargs="+", default=["on", "off"],
                    help="hidden learning on (broadcast alignment) and/or off (readout only)")
    args = ap.parse_args(argv)
    for name, v in (("--epochs", args.epochs), ("--hidden-sizes", min(args.hidden_sizes))):
        if v < 1:
            ap.error(f"{name} = {v} must be >= 1")
    data = load_task("digits")
    x, x_test = data.x_train / 16.0, data.x_test / 16.0     # intensities 0..16 -> 0..1
    print(f"digits, float ReLU network, online, {args.epochs} epochs, seeds {args.seeds}, "
          f"eta {args.eta_hidden} / {args.eta_readout}, margin {args.margin}")
    print(f"{'hidden':>7} {'learning':>9} {'test % per seed':>24} {'mean +- std':>14} {'s':>5}")
    for hidden in args.hidden_sizes:
        for mode in args.hidden:
            t0 = time.perf_counter()
            acc = [train(x, data.y_train, x_test, data.y_test, hidden=hidden, seed=s,
                         epochs=args.epochs, eta_hidden=args.eta_hidden,
                         eta_readout=args.eta_readout, margin=args.margin,
                         learn_hidden=mode == "on") for s in args.seeds]
            spread = np.std(acc, ddof=1) if len(acc) > 1 else 0.0
            per_seed = ", ".join(f"{a:.1f}" for a in acc)
            print(f"{hidden:>7} {('BA' if mode == 'on' else 'readout'):>9} {per_seed:>24} "
                  f"{np.mean(acc):>7.1f} +- {spread:.1f} {time.perf_counter() - t0:>5.0f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
