"""Your own tabular data, as a new user brings it: SWIRL's on-chip rule against logistic
regression, with features scaled one by one (the default) and with one scale for all.

    python bench/tabular.py [--epochs 10] [--sets iris wide]

- iris: scikit-learn's 150 flowers, 4 features of similar scale, 3 classes;
- wide: make_classification (1,000 samples, 8 features, 5 informative, 3 classes,
  random_state 0) with feature j multiplied by 10^(-2 + 4j/7): four orders of magnitude.

Every row uses the same stratified 80/20 split (seed 0) as `train --data`. Logistic
regression gets standardised features (what anyone would do); SWIRL gets what `train
--data` gives with no config: the default network with ``sizes.n_in`` set to the data's
channels and the input rows' initial scale set for that many (sim.train.input_scale).
Prints a table and writes bench/tabular.json. Takes a few minutes on 2 cores.
"""
import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from gen import api                      # noqa: E402
from sim.data import Scaling, stratified_split  # noqa: E402
from sim.train import input_scale               # noqa: E402


def make_sets() -> dict:
    from sklearn.datasets import load_iris, make_classification
    x, y = load_iris(return_X_y=True)
    xw, yw = make_classification(n_samples=1000, n_features=8, n_informative=5,
                                 n_redundant=1, n_classes=3, random_state=0)
    return {"iris": (x, y), "wide": (xw * np.logspace(-2, 2, 8), yw)}


def logistic_regression(x, y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    tr, te = stratified_split(y, 0.2, 0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return float(model.fit(x[tr], y[tr]).score(x[te], y[te]))


def swirl(path: pathlib.Path, epochs: int, one_scale: bool, seed: int = 0) -> dict:
    ds = api.dataset(None, path)                       # scaled per feature
    if one_scale:                                      # the old way: the largest scale
        s = ds.scaling
        ds = api.dataset(None, path, scaling=Scaling([max(s.scale)] * len(s.scale),
                                                     s.on_off))
    # no config: what `train --data` gives a new user (sim.train.input_scale)
    return api.train(None, data=ds, epochs=epochs, seed=seed, progress=False).summary()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--sets", nargs="+", default=["iris", "wide"], choices=["iris", "wide"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                    help="sample-order seeds (`train --seed`) of the per-feature rows")
    args = ap.parse_args(argv)
    sets, rows = make_sets(), []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            x, y = sets[name]
            path = pathlib.Path(tmp) / f"{name}.npz"
            np.savez(path, X=x, y=y)
            row = {"set": name, "features": x.shape[1], "samples": len(y),
                   "logistic_regression": logistic_regression(x, y)}
            runs = [swirl(path, args.epochs, False, seed) for seed in args.seeds]
            last = np.array([r["test_accuracy"] for r in runs])
            best = np.array([r["best_test_accuracy"] for r in runs])
            row.update(per_feature=float(last.mean()), per_feature_std=float(last.std(ddof=1))
                       if len(last) > 1 else 0.0, per_feature_runs=last.tolist(),
                       per_feature_best=float(best.mean()),
                       init_scale=input_scale(api.dataset(None, path).channels),
                       one_scale=swirl(path, args.epochs, True)["test_accuracy"])
            rows.append(row)
            print(f"{name:5} {x.shape[1]} features: logistic regression "
                  f"{100 * row['logistic_regression']:.1f}%, SWIRL per feature "
                  f"{100 * row['per_feature']:.1f} +- {100 * row['per_feature_std']:.1f}% over "
                  f"seeds {args.seeds} (best epoch {100 * row['per_feature_best']:.1f}%), "
                  f"one scale {100 * row['one_scale']:.1f}% after {args.epochs} epochs",
                  flush=True)
    out = pathlib.Path(__file__).with_name("tabular.json")
    out.write_text(json.dumps({"epochs": args.epochs, "seeds": args.seeds, "rows": rows},
                              indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
