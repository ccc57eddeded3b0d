"""Your own tabular data, as a new user brings it: SWIRL's on-chip rule against logistic
regression, with features scaled one by one (the default) and with one scale for all.

    python bench/tabular.py [--epochs 10] [--sets iris wide]

- iris: scikit-learn's 150 flowers, 4 features of similar scale, 3 classes;
- wide: make_classification (1,000 samples, 8 features, 5 informative, 3 classes,
  random_state 0) with feature j multiplied by 10^(-2 + 4j/7): four orders of magnitude.

Every row uses the same stratified 80/20 split (seed 0) as `train --data`. Logistic
regression gets standardised features (what anyone would do); SWIRL gets the shipped
default network with ``sizes.n_in`` set to the data's channels. Prints a table and
writes bench/tabular.json. Takes a few minutes on 2 cores.
"""
import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from gen import api                      # noqa: E402
from gen.config import Config            # noqa: E402
from sim.data import Scaling, stratified_split  # noqa: E402


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


def swirl(path: pathlib.Path, epochs: int, one_scale: bool) -> dict:
    ds = api.dataset(None, path)                       # scaled per feature
    if one_scale:                                      # the old way: the largest scale
        s = ds.scaling
        ds = api.dataset(None, path, scaling=Scaling([max(s.scale)] * len(s.scale),
                                                     s.on_off))
    cfg = Config().replace(**{"sizes.n_in": ds.channels}).validate()
    return api.train(path.stem, config=cfg, data=ds, epochs=epochs, progress=False).summary()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--sets", nargs="+", default=["iris", "wide"], choices=["iris", "wide"])
    args = ap.parse_args(argv)
    sets, rows = make_sets(), []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            x, y = sets[name]
            path = pathlib.Path(tmp) / f"{name}.npz"
            np.savez(path, X=x, y=y)
            row = {"set": name, "features": x.shape[1], "samples": len(y),
                   "logistic_regression": logistic_regression(x, y)}
            for key, one in (("per_feature", False), ("one_scale", True)):
                s = swirl(path, args.epochs, one)
                row[key] = s["test_accuracy"]
                row[key + "_best"] = s["best_test_accuracy"]
            rows.append(row)
            print(f"{name:5} {x.shape[1]} features: logistic regression "
                  f"{100 * row['logistic_regression']:.1f}%, SWIRL per feature "
                  f"{100 * row['per_feature']:.1f}% (best {100 * row['per_feature_best']:.1f}%), "
                  f"one scale {100 * row['one_scale']:.1f}% after {args.epochs} epochs",
                  flush=True)
    out = pathlib.Path(__file__).with_name("tabular.json")
    out.write_text(json.dumps({"epochs": args.epochs, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
