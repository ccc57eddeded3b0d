"""Golden model: an independent, integer, bit-exact NumPy model of the SWIRL network.

It implements docs/architecture.md section by section and is the reference every RTL
block is checked against. It imports nothing from ``rtl``. All datapath arithmetic is on
int64 arrays with explicit widths and saturation; there are no floats in it.

Inference is vectorised over a batch of samples; learning is online, one sample at a
time, as the chip does it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gen.config import Config
from gen.topology import KIND_HIDDEN, KIND_INPUT, Topology, make_topology

from .fixed import Lfsr, feedback_signs, lfsr_seed, sat_signed, sat_unsigned

I64 = np.int64


@dataclass
class Weights:
    """All learnable weights, as dense masked matrices over global indices."""
    w_in: np.ndarray    # (n_in, H) input -> hidden (layer 0 cores only)
    w_hh: np.ndarray    # (H, H) hidden -> hidden (local crossbars, long-range, feed-forward)
    w_ro: np.ndarray    # (H_last [+ 1 bias row], R) last hidden layer -> readout

    def copy(self) -> "Weights":
        return Weights(self.w_in.copy(), self.w_hh.copy(), self.w_ro.copy())

    def as_dict(self) -> dict:
        return {"w_in": self.w_in, "w_hh": self.w_hh, "w_ro": self.w_ro}


@dataclass
class Stats:
    """Learning statistics accumulated over samples."""
    samples: int = 0
    steps: int = 0
    gated_steps: int = 0
    modulator_events: int = 0
    rows_swept: int = 0
    weight_writes: int = 0

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "gated_fraction": self.gated_steps / max(self.steps, 1),
            "modulator_events_per_sample": self.modulator_events / max(self.samples, 1),
            "rows_swept_per_sample": self.rows_swept / max(self.samples, 1),
            "weight_writes_per_sample": self.weight_writes / max(self.samples, 1),
        }


@dataclass
class _Bank:
    """One weight memory: a hidden core's crossbar, or the readout."""
    lfsr: Lfsr
    rows_kind: np.ndarray
    rows_src: np.ndarray
    cols: np.ndarray        # post neurons (global hidden index, or readout index)
    in_rows: np.ndarray = field(default=None)   # row positions fed by input channels
    hid_rows: np.ndarray = field(default=None)  # row positions fed by hidden neurons


class Network:
    """The whole network: topology, weights, and the per-bank LFSRs."""

    def __init__(self, config: Config, topology: Topology | None = None,
                 weights: Weights | None = None):
        self.config = config.validate()
        self.topology = topology if topology is not None else make_topology(config)
        s = config.sizes
        self.in_mask = self.topology.input_mask()
        self.hh_mask = self.topology.hidden_mask()
        self.ro_mask = self.topology.readout_mask
        if config.topology.readout_bias:   # the bias row reaches every readout neuron
            self.ro_mask = np.vstack([self.ro_mask, np.ones((1, s.readout), bool)])
        self.weights = weights if weights is not None else self.initial_weights()
        self.feedback = feedback_signs(config.seed, s.hidden, s.classes)
        # centred: K*B[j,k] - sum_k B[j,k], so a neuron's signals sum to zero over classes
        self.feedback_centered = s.classes * self.feedback - \
            self.feedback.sum(1, keepdims=True)
        self.reset_lfsrs()
        self.stats = Stats()

    # ---- set-up ---------------------------------------------------------------------
    def initial_weights(self) -> Weights:
        c, s = self.config, self.config.sizes
        rng = np.random.default_rng([c.seed, 0x77])
        wb = c.widths.weight

        def draw(shape, std, mask):
            w = np.rint(rng.normal(0.0, std, size=shape)).astype(I64) if std else \
                np.zeros(shape, I64)
            return sat_signed(w, wb) * mask

        return Weights(
            w_in=draw((s.n_in, s.hidden), c.init_scale, self.in_mask),
            w_hh=draw((s.hidden, s.hidden), c.init_rec_scale, self.hh_mask),
            w_ro=np.zeros(self.ro_mask.shape, I64),
        )

    def reset_lfsrs(self) -> None:
        """Banks 0..L*C-1 are the hidden cores, bank L*C the readout."""
        s, topo = self.config.sizes, self.topology
        self.banks = []
        for gc, rows in enumerate(topo.cores):
            bank = _Bank(Lfsr(lfsr_seed(self.config.seed, gc)), rows.kind, rows.source,
                         np.arange(gc * s.neurons, (gc + 1) * s.neurons))
            bank.in_rows = np.flatnonzero(rows.kind == KIND_INPUT)
            bank.hid_rows = np.flatnonzero(rows.kind == KIND_HIDDEN)
            self.banks.append(bank)
        n_last = s.cores * s.neurons
        self.readout_bank = _Bank(Lfsr(lfsr_seed(self.config.seed, topo.readout_core)),
                                  np.full(n_last, KIND_HIDDEN, np.int8),
                                  np.arange(n_last) + topo.last_layer_offset,
                                  np.arange(s.readout))

    # ---- one sample ---------------------------------------------------------------
    def new_state(self, batch: int) -> dict:
        s, B = self.config.sizes, batch
        z = lambda *shape: np.zeros((B, *shape), I64)  # noqa: E731
        return {
            "enc": z(s.n_in), "v_h": z(s.hidden), "v_r": z(s.readout), "v_m": z(s.modulators),
            "ref_h": z(s.hidden), "ref_r": z(s.readout),
            "x_in": z(s.n_in), "x_h": z(s.hidden), "teach": z(s.classes),
            "s_h": z(s.hidden), "counts": z(s.classes), "x_bias": z(1),
        }

    def run(self, intensities: np.ndarray, labels=None, learn: bool = False,
            record: bool = False):
        """Present samples for ``sizes.steps`` steps each.

        ``intensities``: int array (B, n_in), each in 0..enc_theta. With ``learn`` the
        samples are presented one after another with online learning (``labels``
        required); without, all at once as a batch. Returns (predictions, class counts,
        trace dict or None).
        """
        u = np.asarray(intensities)
        if u.ndim == 1:
            u = u[None, :]
        self._check_input(u)
        u = u.astype(I64)
        if not learn:
            return self._present(u, None, False, record)
        if labels is None:
            raise ValueError("learning needs labels")
        labels = np.atleast_1d(np.asarray(labels))
        if len(labels) != len(u):
            raise ValueError(f"{len(labels)} labels for {len(u)} samples")
        if labels.min() < 0 or labels.max() >= self.config.sizes.classes:
            raise ValueError(f"labels must be 0..{self.config.sizes.classes - 1} "
                             f"(sizes.classes = {self.config.sizes.classes}), got "
                             f"{labels.min()}..{labels.max()}")
        preds, counts, traces = [], [], []
        for b in range(len(u)):
            p, c, tr = self._present(u[b:b + 1], int(labels[b]), True, record)
            preds.append(p[0])
            counts.append(c[0])
            traces.append(tr)
        return np.array(preds), np.stack(counts), (traces if record else None)

    def _check_input(self, u):
        s, d = self.config.sizes, self.config.dynamics
        if u.shape[1] != s.n_in:
            raise ValueError(f"input has {u.shape[1]} channels but sizes.n_in = {s.n_in}")
        if not np.issubdtype(u.dtype, np.integer):
            raise ValueError(f"input intensities must be integers, not {u.dtype}")
        if u.min(initial=0) < 0 or u.max(initial=0) > d.enc_theta:
            raise ValueError(f"input intensities must be 0..{d.enc_theta} (dynamics.enc_theta),"
                             f" got {u.min()}..{u.max()}")

    def _present(self, u, label, learn, record):
        c = self.config
        s, d, w = c.sizes, c.dynamics, c.widths
        W = self.weights
        st = self.new_state(len(u))
        last = self.topology.last_layer_offset
        n_last = s.cores * s.neurons
        bias = c.topology.readout_bias
        tr = {k: [] for k in ("s_in", "s_h", "s_r", "m", "v_h", "v_r", "i_h", "i_r",
                              "psi", "x_h", "x_in", "x_bias", "writes", "teach")} \
            if record else None
        for t in range(s.steps):
            # 1. encoder
            st["enc"] = st["enc"] + u
            s_in = (st["enc"] >= d.enc_theta).astype(I64)
            st["enc"] -= s_in * d.enc_theta
            # 2. delivery: input spikes of t, neuron spikes of t-1
            i_h = sat_signed(s_in @ W.w_in + st["s_h"] @ W.w_hh, w.current)
            i_r = st["s_h"][:, last:] @ W.w_ro[:n_last]
            if bias:   # the bias row spikes every step
                i_r = i_r + W.w_ro[n_last]
            i_r = sat_signed(i_r, w.current)
            # 3. neurons
            s_h, psi = self._lif(st, "v_h", "ref_h", i_h, d.theta, d.leak_shift)
            s_r, _ = self._lif(st, "v_r", "ref_r", i_r, d.theta_out, d.leak_shift_out)
            st["counts"] += s_r.reshape(len(u), s.classes, s.per_class).sum(2)
            writes = 0
            m = np.zeros((len(u), s.modulators), I64)
            if learn:
                # 4. teacher and modulators
                m = self._teach(st, s_r, label, t)
                # 5. gated plasticity
                if m.any():
                    writes = self._plasticity(st, m[0], psi[0])
                self.stats.steps += 1
            if record:
                for k, v in (("s_in", s_in), ("s_h", s_h), ("s_r", s_r), ("m", m),
                             ("v_h", st["v_h"]), ("v_r", st["v_r"]), ("i_h", i_h),
                             ("i_r", i_r), ("psi", psi), ("x_h", st["x_h"]),
                             ("x_in", st["x_in"]), ("x_bias", st["x_bias"]),
                             ("writes", writes), ("teach", st["teach"])):
                    tr[k].append(np.array(v))
            # 6. traces
            st["x_in"] = self._trace(st["x_in"], s_in)
            st["x_h"] = self._trace(st["x_h"], s_h)
            st["x_bias"] = self._trace(st["x_bias"], 1)
            st["s_h"] = s_h
        if learn:
            self.stats.samples += 1
        preds = np.argmax(st["counts"], axis=1)
        if record:
            tr = {k: np.stack(v, axis=1) if k != "writes" else np.array(v)
                  for k, v in tr.items()}
        return preds, st["counts"], tr

    def _lif(self, st, v_key, ref_key, current, theta, leak_shift):
        """Leak, integrate, saturate, fire; returns (spikes, psi)."""
        d, w, l = self.config.dynamics, self.config.widths, self.config.learning
        v, ref = st[v_key], st[ref_key]
        active = ref == 0
        v_new = sat_signed(v - (v >> leak_shift) + current, w.membrane)
        v = np.where(active, v_new, v)
        psi = ((v >= theta - l.psi_window) & (v < theta + l.psi_window)).astype(I64) & active
        spk = (v >= theta) & active
        if d.reset_subtract:
            v = np.where(spk, v - theta, v)
        else:
            v = np.where(spk, 0, v)
        st[ref_key] = np.where(spk, d.refractory, np.where(active, 0, ref - 1))
        st[v_key] = v
        return spk.astype(I64), psi

    def _trace(self, x, spikes):
        l, w = self.config.learning, self.config.widths
        return sat_unsigned(x - (x >> l.trace_shift) + spikes * l.trace_inc, w.trace)

    def _teach(self, st, s_r, label, t):
        """Population winner-take-all teacher -> ternary error -> modulator LIF spikes."""
        s, d, l, w = self.config.sizes, self.config.dynamics, self.config.learning, \
            self.config.widths
        counts = s_r.reshape(1, s.classes, s.per_class).sum(2)
        a = sat_unsigned(st["teach"] - (st["teach"] >> l.teacher_shift) + counts, w.teacher)
        st["teach"] = a
        err = np.zeros(s.classes, I64)
        a0 = a[0]
        if t < l.teach_start:
            pass
        elif a0[label] < l.target:
            err[label] = 1
        others = a0.copy()
        others[label] = -1
        k = int(np.argmax(others))
        if t >= l.teach_start and a0[k] > 0 and a0[k] + l.margin >= a0[label]:
            err[k] = -1
        drive = np.concatenate([(err > 0), (err < 0)]).astype(I64) * d.mod_drive
        v = st["v_m"]
        v = sat_signed(v - (v >> d.mod_leak_shift) + drive[None, :], w.membrane)
        m = (v >= d.mod_theta).astype(I64)
        st["v_m"] = v - m * d.mod_theta
        self.stats.modulator_events += int(m.sum())
        return m

    def _plasticity(self, st, m, psi):
        """Modulator-gated three-factor update of every bank; returns weights written."""
        s, l, w = self.config.sizes, self.config.learning, self.config.widths
        self.stats.gated_steps += 1
        signal = m[:s.classes] - m[s.classes:]           # per class: +1, 0 or -1 (or both)
        writes = 0
        W = self.weights
        x_in, x_h = st["x_in"][0], st["x_h"][0]
        if l.learn_hidden:
            if l.post_from_trace:   # post term: the neuron spiked recently (trace > 0)
                psi = (x_h > 0).astype(I64)
            post = (self.feedback_centered @ signal) * psi * l.eta_hidden
            for bank in self.banks:
                x_rows = np.zeros(len(bank.rows_src), I64)
                x_rows[bank.in_rows] = x_in[bank.rows_src[bank.in_rows]]
                if l.learn_recurrent:
                    x_rows[bank.hid_rows] = x_h[bank.rows_src[bank.hid_rows]]
                dw, active = self._sweep(bank, x_rows, post[bank.cols], l.eta_hidden_shift)
                if dw is None:
                    continue
                rows = np.flatnonzero(active)
                for sel, mat in ((np.isin(rows, bank.in_rows), W.w_in),
                                 (np.isin(rows, bank.hid_rows), W.w_hh)):
                    src = bank.rows_src[rows[sel]]
                    old = mat[np.ix_(src, bank.cols)]
                    new = sat_signed(old + dw[sel], w.weight)
                    writes += int((new != old).sum())
                    mat[np.ix_(src, bank.cols)] = new
        if l.learn_readout:
            post = np.repeat(signal, s.per_class) * l.eta_readout
            bank = self.readout_bank
            x_rows = x_h[bank.rows_src]
            if self.config.topology.readout_bias:
                x_rows = np.append(x_rows, st["x_bias"][0])
            dw, active = self._sweep(bank, x_rows, post, l.eta_readout_shift)
            if dw is not None:
                rows = np.flatnonzero(active)
                old = W.w_ro[rows]
                new = np.where(self.ro_mask[rows], sat_signed(old + dw, w.weight), old)
                writes += int((new != old).sum())
                W.w_ro[rows] = new
        self.stats.weight_writes += writes
        return writes

    def _sweep(self, bank, x_rows, post, shift):
        """Visit rows with a non-zero pre trace in row order, every column in order; each
        visit consumes one LFSR state whose low ``shift`` bits round stochastically."""
        active = x_rows != 0
        n_rows = int(active.sum())
        self.stats.rows_swept += n_rows
        if n_rows == 0:
            return None, active
        n_cols = len(post)
        r = bank.lfsr.draw(n_rows * n_cols).reshape(n_rows, n_cols) & ((1 << shift) - 1)
        prod = x_rows[active][:, None] * post[None, :]
        return (prod + r) >> shift, active


def predict(net: Network, intensities: np.ndarray, batch: int = 256) -> np.ndarray:
    """Inference over many samples, vectorised in batches."""
    out = []
    for i in range(0, len(intensities), batch):
        p, _, _ = net.run(intensities[i:i + batch])
        out.append(p)
    return np.concatenate(out) if out else np.zeros(0, I64)


def save_trace(path, net: Network, intensities, labels=None, learn: bool = False) -> dict:
    """Run samples with recording on and write the per-step trace to ``.npz``: for each
    sample ``k`` the arrays ``k/s_in``, ``k/s_h``, ``k/s_r``, ``k/m`` (spikes, step-major),
    ``k/v_h``, ``k/v_r`` (membranes after phase 3), ``k/i_h``, ``k/i_r`` (currents),
    ``k/psi``, ``k/x_in``, ``k/x_h`` (traces before phase 6), ``k/teach``, ``k/writes``
    (weights written per step), plus the final weights. Later issues compare RTL runs
    against these files."""
    u = np.atleast_2d(np.asarray(intensities))
    preds, counts, traces = net.run(u, labels, learn=learn, record=True)
    if not learn:   # one batched trace: split it per sample
        traces = [{k: (v[b] if v.ndim > 1 else v) for k, v in traces.items()}
                  for b in range(len(u))]
    else:
        traces = [{k: (v[0] if v.ndim > 1 else v) for k, v in tr.items()} for tr in traces]
    arrays = {f"{b}/{k}": v for b, tr in enumerate(traces) for k, v in tr.items()}
    arrays.update({f"final/{k}": v for k, v in net.weights.as_dict().items()})
    arrays["predictions"] = preds
    arrays["counts"] = counts
    np.savez_compressed(path, **arrays)
    return arrays
