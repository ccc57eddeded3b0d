"""Run and train a chip over its UART beside the golden model (``python -m gen run``).

The host driver (sim/host.py ``Host`` over pyserial's ``SerialTransport``) PINGs the chip
and checks that it is built for the weights' config, loads the routing tables and every
weight, then streams the samples one by one: load the intensities, RUN, read the class
counts and the status (prediction, cycles). The golden model (sim/model.py) runs the same
samples in the same order, from the same weights: every sample's prediction and class
counts must be equal, the first that is not is a *fault* (the run stops there, exit 1).

With ``--learn`` the samples are taught on chip, epoch after epoch, in the order and with
the learning-rate decay of ``gen train`` (``sim.train.learning_rate_schedule``: the new
shifts are written between epochs). The LFSR states are set to the model's first, so the
stochastic rounding is the model's whatever the chip ran before. Afterwards every weight
word and LFSR state is read back and compared with the model's, and the weights read back
are saved (``--out``).

Throughput is measured twice: on the wire (wall time per sample, load to read back, what
the UART allows) and in chip cycles (the ``cycles`` status register, at ``--clock``).
"""
from __future__ import annotations

import json
import pathlib
import time

import numpy as np

__all__ = ["RunError", "run_on_chip", "format_run", "unpack_bank"]


class RunError(RuntimeError):
    """The chip does not answer, or is not the chip the weights need (exit 2)."""


def unpack_bank(words, n_rows: int, n_cols: int, lanes: int, width: int) -> np.ndarray:
    """The inverse of sim.host.pack_rows: crossbar words back to a signed
    ``(n_rows, n_cols)`` weight matrix (the padding lanes dropped)."""
    from gen.util import ceil_div
    wpr = ceil_div(n_cols, lanes)
    if len(words) != n_rows * wpr:
        raise ValueError(f"{len(words)} words for {n_rows} rows of {wpr} words")
    mask, sign = (1 << width) - 1, 1 << (width - 1)
    vals = np.array([[(int(w) >> (p * width)) & mask for p in range(lanes)] for w in words],
                    dtype=np.int64).reshape(n_rows, wpr * lanes)[:, :n_cols]
    return np.where(vals >= sign, vals - (1 << width), vals)


def _clock_hz(clock_mhz):
    if clock_mhz:
        return clock_mhz * 1e6
    try:
        return float(json.loads(pathlib.Path("build/report.json").read_text())
                     ["clock"]["clock_hz"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _dataset(args, net):
    """The task's data as ``eval`` takes it (gen/api.py): the weights' task and data by
    default, your data scaled as ``train`` scaled it (the scaling saved beside them)."""
    from gen.api import check_fits_data, dataset, read_meta, saved_scaling
    meta = read_meta(args.weights)
    task, data = args.task or meta.get("task"), args.data
    if data is None and args.task is None and meta.get("data"):
        data = pathlib.Path(meta["data"])
    if task is None and data is None:
        raise ValueError(f"{args.weights} does not say which task it was trained on; give "
                         "--task or --data")
    ds = dataset(task or "data", data, net.config, saved_scaling(args.weights))
    check_fits_data(net.config, ds)
    return task, data, ds


def _check_chip(info: dict, cfg, topo, learn: bool, port: str) -> None:
    """The chip's PING beside the config: refuse a chip built for another one."""
    s = cfg.sizes
    want = {"classes": s.classes, "n_in": s.n_in & 0xFF, "cores": len(topo.cores),
            "steps": s.steps, "enc_theta": cfg.dynamics.enc_theta, "frames": s.frames}
    names = {"classes": "sizes.classes", "n_in": "sizes.n_in", "cores": "hidden cores",
             "steps": "sizes.steps", "enc_theta": "dynamics.enc_theta",
             "frames": "sizes.frames"}
    if info.get("version", 0) < 3:
        raise RunError(f"the chip on {port} speaks host protocol version "
                       f"{info.get('version')}, this driver needs 3: rebuild it")
    for key, value in want.items():
        if info.get(key) != value:
            raise RunError(f"the chip on {port} has {names[key]} = {info.get(key)}, the "
                           f"weights' config {value}: build and program it for these "
                           f"weights (gen build --weights ..., gen program)")
    if learn and not info.get("learning"):
        raise RunError(f"the chip on {port} was built without on-chip learning (PING "
                       "flags bit 0 is 0): --learn needs `gen build --learning on`")


def run_on_chip(args) -> dict:
    """The whole run (module docstring) for the parsed ``gen run`` arguments; returns the
    report (``match`` false on a fault)."""
    from sim.host import (SPACES, Host, HostError, SerialTransport, load_commands,
                          weight_words)
    from sim.model import Network
    from sim.train import learning_rate_schedule, load_weights, save_weights

    net = load_weights(args.weights)
    cfg = net.config
    topo = net.topology
    task, data, ds = _dataset(args, net)
    if args.out is not None and not args.learn:
        raise ValueError("--out saves the weights read back after --learn; add --learn")
    if args.out is not None and not args.out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {args.out}: no directory {args.out.parent}")
    x_all, y_all = (ds.x_train, ds.y_train) if args.learn else (ds.x_test, ds.y_test)
    which = "training" if args.learn else "test"
    n = len(x_all) if args.samples is None else args.samples
    if not 1 <= n <= len(x_all):
        raise ValueError(f"--samples must be 1..{len(x_all)} (the {which} set of "
                         f"{ds.name!r}), not {n}")
    u, labels = x_all[:n].astype(np.int64), y_all[:n].astype(np.int64)
    total = n * (args.epochs if args.learn else 1)
    plot = args.plot
    plot_row = args.plot_sample
    if plot_row is not None and plot is None:
        raise ValueError("--plot-sample needs --plot FILE.png")
    if plot_row is not None and not 0 <= plot_row < total:
        raise ValueError(f"--plot-sample must be 0..{total - 1} (the samples this run "
                         f"sends), not {plot_row}")
    if plot is not None and not plot.parent.is_dir():
        raise FileNotFoundError(f"cannot write {plot}: no directory {plot.parent}")
    classes = cfg.sizes.classes
    bar = _progress(args.quiet)

    try:
        transport = SerialTransport(args.port, args.baud)
    except (OSError, ValueError) as e:      # serial.SerialException is an OSError
        raise RunError(f"cannot open --port {args.port}: {e}") from None
    host = Host(transport, timeout=args.timeout)
    doing = ["PING"]

    def fail(e):
        hint = (" (a simulated chip behind a pty, sim.pty_chip, takes seconds a sample: "
                "give it --timeout 300)" if str(args.port).startswith("/dev/pts/") else "")
        return RunError(f"{doing[0]}: {e} from the chip on {args.port} within --timeout "
                        f"{args.timeout:g} s; is the board programmed (gen program) and its "
                        f"UART at --baud {args.baud}?{hint}")

    t_start = time.perf_counter()
    try:
        info = host.ping()
        _check_chip(info, cfg, topo, args.learn, args.port)
        lanes = info["lanes"]
        image = load_commands(net, lanes)
        doing[0] = "loading the weights"
        t0 = time.perf_counter()
        with bar(len(image), "load", "frame") as b:
            for k in range(0, len(image), 64):
                host.load_image(image[k:k + 64])
                b.update(len(image[k:k + 64]))
        load_seconds = time.perf_counter() - t0
        if args.learn:
            doing[0] = "setting the LFSR states"
            host.set_lfsr_states([bk.lfsr.state for bk in net.banks] +
                                 [net.readout_bank.lfsr.state])

        if args.learn:
            rng = np.random.default_rng(args.seed)
            plan = [(e, rng.permutation(n)) for e in range(args.epochs)]
        else:
            plan = [(0, np.arange(n))]
            model_pred, model_counts, _ = net.run(u)
        rows, epochs, fault = [], [], None
        traces = {}                     # row -> the model's record of it (--plot)
        wire = 0.0
        for epoch, order in plan:
            if args.learn:
                ecfg = learning_rate_schedule(cfg, epoch)
                net.config = ecfg
                doing[0] = f"setting the learning rates of epoch {epoch + 1}"
                host.set_learning_shifts(ecfg.learning.eta_hidden_shift,
                                         ecfg.learning.eta_readout_shift)
            desc = f"epoch {epoch + 1}/{args.epochs}" if args.learn else "run"
            correct = 0
            with bar(len(order), desc, "sample") as b:
                for k, i in enumerate(order):
                    doing[0] = f"sample {len(rows)} ({which} sample {int(i)})"
                    t0 = time.perf_counter()
                    got = host.classify([int(x) for x in u[i]], classes, learn=args.learn,
                                        label=int(labels[i]))
                    wire += time.perf_counter() - t0
                    if args.learn:
                        # the model's record of a learning sample exists only as it runs:
                        # kept for the row --plot draws (by default the first, or a fault)
                        record = plot is not None and plot_row in (None, len(rows))
                        p, c, tr = net.run(u[i:i + 1], labels[i:i + 1], learn=True,
                                           record=record)
                        mp, mc = int(p[0]), [int(v) for v in c[0]]
                        if record:
                            traces = {r: t for r, t in traces.items() if r == 0}
                            traces[len(rows)] = tr[0]
                    else:
                        mp, mc = int(model_pred[i]), [int(v) for v in model_counts[i]]
                    row = {"sample": len(rows), "index": int(i), "epoch": epoch + 1,
                           "label": int(labels[i]), "chip_pred": int(got["prediction"]),
                           "model_pred": mp, "chip_counts": [int(v) for v in got["counts"]],
                           "model_counts": mc, "cycles": int(got["cycles"])}
                    rows.append(row)
                    correct += row["chip_pred"] == row["label"]
                    b.update(1)
                    if row["chip_pred"] != mp or row["chip_counts"] != mc:
                        fault = row
                        break
            epochs.append({"epoch": epoch + 1, "samples": k + 1,
                           "accuracy": correct / (k + 1)})
            if fault:
                break
        net.config = cfg
        weights = None
        if args.learn and fault is None:
            doing[0] = "reading the weights back"
            want = weight_words(net, lanes)
            got_words = [host.read(SPACES["weights"], g, 0, len(w)) for g, w in
                         enumerate(want)]
            got_lfsr = host.lfsr_states(len(want))
            model_lfsr = [bk.lfsr.state for bk in net.banks] + [net.readout_bank.lfsr.state]
            weights = {"words_differing": [int(sum(a != c for a, c in zip(w, g)))
                                           for w, g in zip(want, got_words)],
                       "lfsr_match": got_lfsr == model_lfsr}
            chip_net = Network(cfg, topo, net.weights.copy())
            for g, words in enumerate(got_words):
                shape = net.bank_weights(g).shape
                chip_net.set_bank_weights(g, unpack_bank(words, *shape, lanes,
                                                         cfg.widths.weight))
            if args.out is not None:
                meta = {"task": task, "data": str(data) if data else None,
                        "epochs": args.epochs, "seed": args.seed, "trained_on": "chip",
                        "port": args.port, "samples": n,
                        "scaling": ds.scaling.as_dict() if ds.scaling else None}
                save_weights(args.out, chip_net, meta=meta)
                weights["saved"] = str(args.out)
            from sim.model import predict
            weights["test_accuracy"] = float(np.mean(predict(chip_net, ds.x_test)
                                                     == ds.y_test))
    except HostError as e:
        raise fail(e) from None
    finally:
        transport.close()

    drawn = _plot(plot, plot_row, rows, fault, traces, net, u, args) if plot else None
    cycles = [r["cycles"] for r in rows]
    clock = _clock_hz(args.clock)
    mean_cycles = float(np.mean(cycles)) if cycles else 0.0
    match = fault is None and (weights is None or (not any(weights["words_differing"])
                                                   and weights["lfsr_match"]))
    return {
        "port": args.port, "task": task, "data": str(data) if data else None,
        "weights": str(args.weights), "chip": info, "lanes": lanes, "learn": args.learn,
        "epochs": epochs, "samples_run": len(rows), "samples_asked": n * len(plan),
        "match": match, "fault": fault,
        "accuracy": {"chip": float(np.mean([r["chip_pred"] == r["label"] for r in rows])),
                     "model": float(np.mean([r["model_pred"] == r["label"] for r in rows]))},
        "load_seconds": round(load_seconds, 3), "image_frames": len(image),
        "wire_seconds": round(wire, 3),
        "samples_per_second_wire": len(rows) / wire if wire else None,
        "cycles_per_sample": mean_cycles,
        "clock_hz": clock,
        "samples_per_second_chip": clock / mean_cycles if clock and mean_cycles else None,
        "after_learning": weights,
        "wall_seconds": round(time.perf_counter() - t_start, 3),
        "plot": drawn,
        "rows": rows,
    }


def _plot(path, row, rows, fault, traces, net, u, args) -> dict | None:
    """``run --plot``: the golden model's raster of one sample with the chip's class
    counts beside the model's (a board's UART carries no per-step spikes: the chip's
    side is what it reported). The row: ``--plot-sample``, else the fault, else the
    first; a run that stopped at a fault before ``--plot-sample`` draws the fault."""
    from sim.compare import model_raster
    from .plots import raster
    if not rows:
        return None
    if fault is not None and (row is None or row > fault["sample"]):
        row = fault["sample"]
    row = 0 if row is None else row
    r = rows[row]
    trace = traces.get(row)
    if trace is None:                    # inference: the weights did not change
        _, _, trace = net.run(u[r["index"]:r["index"] + 1], record=True)
    cfg = net.config
    marked = raster(model_raster(trace, cfg), None, cfg, path, sample=row,
                    title=f"sample {row} (index {r['index']}, label {r['label']}, epoch "
                          f"{r['epoch']}), learning {'on' if args.learn else 'off'}",
                    counts={"model": r["model_counts"], "chip": r["chip_counts"],
                            "chip_label": f"chip on {args.port}"})
    return {"file": str(path), "sample": row, "divergence": marked}


def _progress(quiet: bool):
    """``bar(total, desc, unit)``: a tqdm context on stderr (nothing with ``quiet``)."""
    import contextlib
    import sys

    @contextlib.contextmanager
    def bar(total, desc, unit):
        if quiet:
            class _Null:
                def update(self, k): pass
            yield _Null()
            return
        from tqdm import tqdm
        with tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr) as b:
            yield b
    return bar


def format_run(r: dict) -> str:
    """The readable report."""
    pct = lambda x: f"{100 * x:.1f}%"   # noqa: E731
    what = "trained on chip" if r["learn"] else "ran"
    lines = [f"{r['task'] or r['data']}: {what} {r['samples_run']} of {r['samples_asked']} "
             f"samples on {r['port']} (lanes {r['lanes']}), the golden model beside it"]
    if r["learn"]:
        for e in r["epochs"]:
            lines.append(f"  epoch {e['epoch']}: {e['samples']} samples, accuracy while "
                         f"learning {pct(e['accuracy'])}")
    lines.append(f"accuracy: chip {pct(r['accuracy']['chip'])}, golden model "
                 f"{pct(r['accuracy']['model'])}")
    if r["fault"]:
        f = r["fault"]
        lines.append(f"FAULT at sample {f['sample']} (epoch {f['epoch']}, index {f['index']}, "
                     f"label {f['label']}): chip predicted {f['chip_pred']} with counts "
                     f"{f['chip_counts']}, the golden model {f['model_pred']} with "
                     f"{f['model_counts']}")
    else:
        lines.append(f"predictions and class counts: all {r['samples_run']} equal to the "
                     "golden model's")
    w = r["after_learning"]
    if w is not None:
        lines.append(f"weights read back: {sum(w['words_differing'])} words differ from the "
                     f"golden model's (per bank {w['words_differing']}); LFSR states "
                     f"{'match' if w['lfsr_match'] else 'DIFFER'}; test accuracy of the "
                     f"weights read back {pct(w['test_accuracy'])} (golden model)")
        if "saved" in w:
            lines.append(f"  saved to {w['saved']}")
    sps = r["samples_per_second_wire"]
    lines.append(f"load: {r['image_frames']} frames in {r['load_seconds']:.1f} s; samples: "
                 f"{sps:.2f}/s on the wire" if sps else "")
    chip = f"{r['cycles_per_sample']:.0f} chip cycles a sample"
    if r["samples_per_second_chip"]:
        chip += (f" = {r['samples_per_second_chip']:.0f} samples/s at "
                 f"{r['clock_hz'] / 1e6:.2f} MHz")
    lines.append(chip)
    if r.get("plot"):
        lines.append(f"raster of sample {r['plot']['sample']}: {r['plot']['file']}")
    lines.append(f"match: {'yes' if r['match'] else 'NO'}")
    return "\n".join(ln for ln in lines if ln)
