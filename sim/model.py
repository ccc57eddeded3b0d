"""Golden model: an independent, integer, bit-exact NumPy model of the SWIRL network.

It implements docs/architecture.md section by section and is the reference every RTL
block is checked against. It imports nothing from ``rtl``. All datapath arithmetic is on
int64 arrays with explicit widths and saturation. The one place floats appear is the
spike x weight products of phase 2 (:func:`spike_product`): BLAS sums integers in float32
or float64 only where :func:`exact_float_dtype` proves every intermediate is an exactly
representable integer, so the result is the int64 product, bit for bit. ``FAST = False``
selects the reference paths (int64 ``@`` and the bank-layout plasticity sweep).

Inference is vectorised over a batch of samples; learning is online, one sample at a
time, as the chip does it.

Each phase of a time step is a public pure function of arrays and config values
(:func:`encode_step`, :func:`deliver`, :func:`lif_step`, :func:`teacher_step`,
:func:`modulator_step`, :func:`sweep_bank`, :func:`trace_step`, ...), the reference for the
RTL block that implements it; :class:`Network` holds the state between them (weights,
LFSRs, statistics) and composes them step by step.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

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

    def reset(self) -> None:
        """Zero every count (a measurement that starts after some training)."""
        for f in fields(self):
            setattr(self, f.name, f.default)

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "gated_fraction": self.gated_steps / max(self.steps, 1),
            "modulator_events_per_sample": self.modulator_events / max(self.samples, 1),
            "rows_swept_per_sample": self.rows_swept / max(self.samples, 1),
            "weight_writes_per_sample": self.weight_writes / max(self.samples, 1),
        }


# ---- the phases of one time step (docs/architecture.md section 4) --------------------
# Pure functions of arrays and config values: the RTL blocks' unit tests check each one
# against the block that implements its phase.
def encode_step(acc, u, enc_theta: int):
    """Phase 1, the rate encoder: accumulate the intensities ``u``, spike where the
    accumulator reaches ``enc_theta``, subtract it there. Returns (acc, spikes)."""
    acc = acc + u
    spikes = (acc >= enc_theta).astype(I64)
    return acc - spikes * enc_theta, spikes


def frame_at(u, t: int, sizes, silent):
    """The intensities the encoder adds at step ``t``: frame ``t // sizes.hold`` of the
    sample ``u`` (B, frames * n_in), or ``silent`` once the frames are over."""
    f = t // sizes.hold
    if f >= sizes.frames:
        return silent
    return u[:, f * sizes.n_in:(f + 1) * sizes.n_in]


# The spike x weight products (phase 2) are most of the model's time. numpy's int64 ``@``
# has no BLAS; float32/float64 BLAS is exact on these integers within a bound, and at
# batch 1 (learning presents one sample at a time) summing the weight rows of the neurons
# that spiked beats any dense product.
FAST = True
"""Module-level switch: True uses :func:`spike_product`'s exact fast paths and the
row-gathering plasticity sweep; False the reference paths (int64 ``@`` products, every
bank copied out and back whole). Results are identical (tests/test_model_fast.py)."""

_FLOAT_MANTISSA = ((np.float32, 24), (np.float64, 53))


def exact_float_dtype(rows: int, max_a: int, max_b: int):
    """The narrowest float dtype in which ``a @ b`` is computed exactly, for integer
    matrices ``a`` (.., rows) and ``b`` (rows, ..) with ``|a| <= max_a``, ``|b| <= max_b``;
    None when neither is (then the product must be taken in int64).

    Why it is exact: each product ``a[i, k] * b[k, j]`` is an integer of magnitude at most
    ``max_a * max_b``, and every partial sum, in whatever order and blocking BLAS adds the
    terms (with or without fused multiply-adds), is an integer of magnitude at most
    ``rows * max_a * max_b``. A float with a p-bit significand holds every integer of
    magnitude <= 2**p exactly (p = 24 for float32, 53 for float64); an IEEE operation
    whose exact result is representable returns it unrounded. So when that bound is
    <= 2**p no step rounds, the float result is the integer sum, and converting it back
    to int64 is exact. (This assumes BLAS computes sums of products with ordinary
    multiplies and adds, as OpenBLAS and MKL do; none uses Strassen-like schemes.)
    For the model's spikes, ``max_a = 1`` and ``max_b = 2**(widths.weight - 1)``."""
    bound = int(rows) * int(max_a) * int(max_b)
    for dtype, p in _FLOAT_MANTISSA:
        if bound <= 1 << p:
            return dtype
    return None


def _max_abs(x) -> int:
    return int(np.abs(x).max(initial=0))


class FloatWeights:
    """Float copies of one :class:`Weights` for :func:`deliver`'s BLAS path, laid out as
    one matrix so that a step is one product: rows ``[inputs; hidden]``, columns
    ``[hidden | readout]`` (the readout block on the last layer's rows, zero elsewhere).

    A snapshot: valid only while the weights it was made from do not change. The model
    makes one per batch presented without learning (nothing writes weights then) and
    drops it after the batch; learning runs (batch 1) use the event-driven path on the
    live int64 weights instead, so no copy can go stale. ``dtype`` is None when
    :func:`exact_float_dtype` refuses (the int64 path is used then)."""

    def __init__(self, weights: Weights, last_layer_offset: int):
        n_in, n_h = weights.w_in.shape
        n_last = n_h - last_layer_offset
        n_r = weights.w_ro.shape[1]
        rows = n_in + n_h
        self.dtype = exact_float_dtype(
            rows, 1, max(_max_abs(weights.w_in), _max_abs(weights.w_hh),
                         _max_abs(weights.w_ro[:n_last])))
        self.n_h = n_h
        if self.dtype is None:
            self.w = None
            return
        w = np.zeros((rows, n_h + n_r), self.dtype)
        w[:n_in, :n_h] = weights.w_in
        w[n_in:, :n_h] = weights.w_hh
        w[n_in + last_layer_offset:, n_h:] = weights.w_ro[:n_last]
        self.w = w


def spike_product(s, w):
    """``s @ w`` in int64, exactly, for integer spikes ``s`` (B, rows) and integer weights
    ``w`` (rows, cols). With :data:`FAST`: at batch 1 with 0/1 spikes, the sum of the rows
    of ``w`` whose neuron spiked (event-driven, int64 throughout); at larger batches a
    float BLAS product where :func:`exact_float_dtype` allows; otherwise, and without
    :data:`FAST`, int64 ``@``."""
    if FAST:
        if len(s) == 1:
            idx = np.flatnonzero(s[0])
            if (s[0, idx] == 1).all():
                return w[idx].sum(0, keepdims=True)
        else:
            dtype = exact_float_dtype(s.shape[1], _max_abs(s), _max_abs(w))
            if dtype is not None:
                return (s.astype(dtype) @ w.astype(dtype)).astype(I64)
    return s @ w


def deliver(s_in, s_h_prev, weights: Weights, *, last_layer_offset: int,
            readout_bias: bool, current_width: int, floats: FloatWeights | None = None):
    """Phase 2, the crossbars (rtl/crossbar.py) and the readout's: hidden currents from
    this step's input spikes and the previous step's hidden spikes, readout currents from
    the last hidden layer's previous spikes (plus the bias row, which spikes every step).
    Returns (i_h, i_r), saturated to ``current_width``. ``floats``: a
    :class:`FloatWeights` snapshot of ``weights`` (batched inference), which turns the
    three products into one exact BLAS product; the products are exact either way
    (:func:`spike_product`)."""
    n_last = s_h_prev.shape[1] - last_layer_offset
    if FAST and floats is not None and floats.dtype is not None and len(s_in) > 1 \
            and _max_abs(s_in) <= 1 and _max_abs(s_h_prev) <= 1:
        # 0/1 spikes: the bound FloatWeights checked holds for this product
        s = np.concatenate([s_in, s_h_prev], axis=1).astype(floats.dtype)
        i = (s @ floats.w).astype(I64)
        i_h, i_r = i[:, :floats.n_h], i[:, floats.n_h:]
    else:
        i_h = spike_product(s_in, weights.w_in) + spike_product(s_h_prev, weights.w_hh)
        i_r = spike_product(s_h_prev[:, last_layer_offset:], weights.w_ro[:n_last])
    if readout_bias:
        i_r = i_r + weights.w_ro[n_last]
    return sat_signed(i_h, current_width), sat_signed(i_r, current_width)


def lif_step(v, ref, current, *, theta: int, leak_shift: int, psi_window: int,
             refractory: int, reset_subtract: bool, membrane_width: int):
    """Phase 3, one LIF update (rtl/lif.py ``LifUpdate``): leak, integrate, saturate,
    fire, reset, for neurons whose refractory counter is zero; the others hold ``v`` and
    count down. Returns (v, ref, spikes, psi), psi the boxcar pseudo-derivative."""
    active = ref == 0
    v_new = sat_signed(v - (v >> leak_shift) + current, membrane_width)
    v = np.where(active, v_new, v)
    psi = ((v >= theta - psi_window) & (v < theta + psi_window)).astype(I64) & active
    spikes = (v >= theta) & active
    v = np.where(spikes, v - theta, v) if reset_subtract else np.where(spikes, 0, v)
    ref = np.where(spikes, refractory, np.where(active, 0, ref - 1))
    return v, ref, spikes.astype(I64), psi


def class_counts(s_r, classes: int, per_class: int):
    """Readout spikes summed per class population, per sample: (B, R) -> (B, classes)."""
    return s_r.reshape(len(s_r), classes, per_class).sum(2)


def trace_step(x, spikes, *, shift: int, inc: int, width: int):
    """Phase 6, a presynaptic trace (rtl/plasticity.py ``TraceUpdate``): decay by
    ``x >> shift``, add ``inc`` on a spike, saturate to ``width`` unsigned bits."""
    return sat_unsigned(x - (x >> shift) + spikes * inc, width)


def teacher_step(activity, class_spikes, label: int, t: int, *, shift: int, width: int,
                 teach_start: int, target: int, margin: int, push_down_all: bool):
    """Phase 4, the population winner-take-all teacher (rtl/teach.py ``Teacher``): one
    sample's per-class activity traces, then the ternary error from step ``teach_start``
    on: push the label's class up while it is below ``target``, push a wrong class down
    while it is active and within ``margin`` of the label's: every such class with
    ``push_down_all``, else only the strongest wrong class (lowest index on ties).
    Returns (activity, error), error in {-1, 0, +1} per class."""
    activity = trace_step(activity, class_spikes, shift=shift, inc=1, width=width)
    error = np.zeros(len(activity), I64)
    if t < teach_start:
        return activity, error
    if activity[label] < target:
        error[label] = 1
    close = (activity > 0) & (activity + margin >= activity[label])
    close[label] = False
    if not push_down_all:
        others = activity.copy()
        others[label] = -1
        strongest = np.zeros_like(close)
        strongest[int(np.argmax(others))] = True
        close &= strongest
    error[close] = -1
    return activity, error


def modulator_step(v, error, *, drive: int, leak_shift: int, theta: int,
                   membrane_width: int):
    """Phase 4, the modulator population (rtl/teach.py ``Teacher``): LIF neurons without
    refractory period, reset by subtraction; modulator ``k`` is driven by a positive
    error of class ``k``, modulator ``classes + k`` by a negative one. Returns (v, m)."""
    current = np.concatenate([error > 0, error < 0]).astype(I64) * drive
    v, _, m, _ = lif_step(v, np.zeros_like(v), current, theta=theta, leak_shift=leak_shift,
                          psi_window=0, refractory=0, reset_subtract=True,
                          membrane_width=membrane_width)
    return v, m


def class_signal(m, classes: int):
    """Phase 5's per-class learning signal from the modulator spikes: +1, 0 or -1."""
    return m[:classes] - m[classes:]


def hidden_post(feedback_centered, signal, gate, eta: int):
    """Phase 5's hidden post term (rtl/hash.py ``FeedbackPost``): the class signal
    through the centred broadcast-alignment feedback, gated per neuron, times ``eta``."""
    return (feedback_centered @ signal) * gate * eta


def readout_post(signal, per_class: int, eta: int):
    """Phase 5's readout post term: each readout neuron takes its own class's signal."""
    return np.repeat(signal, per_class) * eta


def sweep_bank(weights, x_rows, post, *, shift: int, weight_width: int, lfsr: Lfsr,
               mask=None):
    """Phase 5 in one weight bank, as rtl/plasticity.py's ``PlasticityUnit`` sweeps it:
    the rows with a non-zero pre trace ``x_rows`` in row order, every column in order,
    each visit consuming one state of ``lfsr`` (the one state this function advances)
    whose low ``shift`` bits round ``x * post >> shift`` stochastically; weights saturate
    to ``weight_width``, and synapses outside ``mask`` (if given) keep their value.
    ``weights``: the bank's (rows, cols) matrix. Returns (new weights, rows visited,
    weights whose value changed)."""
    active = np.flatnonzero(x_rows)
    if len(active) == 0:
        return weights, 0, 0
    old = weights[active]
    new_rows = _sweep_rows(old, x_rows[active], post, shift=shift,
                           weight_width=weight_width, lfsr=lfsr,
                           mask=None if mask is None else mask[active])
    new = weights.copy()
    new[active] = new_rows
    return new, len(active), int((new_rows != old).sum())


def _sweep_rows(old, x_active, post, *, shift: int, weight_width: int, lfsr: Lfsr,
                mask=None):
    """The arithmetic of :func:`sweep_bank` on the visited rows ``old`` (in row order,
    pre traces ``x_active``, their ``mask`` rows): one LFSR state per visit, row-major."""
    r = lfsr.draw(len(old) * len(post)).reshape(len(old), len(post)) & ((1 << shift) - 1)
    dw = (x_active[:, None] * post[None, :] + r) >> shift
    new = sat_signed(old + dw, weight_width)
    if mask is not None:
        new = np.where(mask, new, old)
    return new


@dataclass
class _Bank:
    """One weight memory: a hidden core's crossbar, or the readout."""
    lfsr: Lfsr
    rows_kind: np.ndarray
    rows_src: np.ndarray
    cols: np.ndarray        # post neurons (global hidden index, or readout index)

    def __post_init__(self):
        self.in_rows = np.flatnonzero(self.rows_kind == KIND_INPUT)
        self.hid_rows = np.flatnonzero(self.rows_kind == KIND_HIDDEN)

    def pre_traces(self, x_in, x_h, hidden_rows: bool = True):
        """Each row's presynaptic trace, in row order (zero for the rows fed by hidden
        neurons when those do not learn)."""
        x_rows = np.zeros(len(self.rows_src), I64)
        x_rows[self.in_rows] = x_in[self.rows_src[self.in_rows]]
        if hidden_rows:
            x_rows[self.hid_rows] = x_h[self.rows_src[self.hid_rows]]
        return x_rows


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
        self.banks = [_Bank(Lfsr(lfsr_seed(self.config.seed, gc)), rows.kind, rows.source,
                            np.arange(gc * s.neurons, (gc + 1) * s.neurons))
                      for gc, rows in enumerate(topo.cores)]
        n_last = s.cores * s.neurons
        self.readout_bank = _Bank(Lfsr(lfsr_seed(self.config.seed, topo.readout_core)),
                                  np.full(n_last, KIND_HIDDEN, np.int8),
                                  np.arange(n_last) + topo.last_layer_offset,
                                  np.arange(s.readout))

    def bank_weights(self, g: int) -> np.ndarray:
        """Bank ``g``'s weights as its memory holds them: one row per crossbar row in row
        order, one column per post neuron (the readout bank, ``g = L*C``: ``w_ro``)."""
        if g == len(self.banks):
            return self.weights.w_ro.copy()
        bank, W = self.banks[g], self.weights
        out = np.empty((len(bank.rows_src), len(bank.cols)), I64)
        for rows, mat in ((bank.in_rows, W.w_in), (bank.hid_rows, W.w_hh)):
            out[rows] = mat[np.ix_(bank.rows_src[rows], bank.cols)]
        return out

    def set_bank_weights(self, g: int, values: np.ndarray) -> None:
        """Write bank ``g``'s weights back (the layout of :meth:`bank_weights`)."""
        if g == len(self.banks):
            self.weights.w_ro[:] = values
            return
        bank, W = self.banks[g], self.weights
        for rows, mat in ((bank.in_rows, W.w_in), (bank.hid_rows, W.w_hh)):
            mat[np.ix_(bank.rows_src[rows], bank.cols)] = values[rows]

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

        ``intensities``: int array (B, frames * n_in), each in 0..enc_theta. With ``learn`` the
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
        if u.shape[1] != s.sample_width:
            what = (f"sizes.n_in = {s.n_in}" if s.frames == 1 else
                    f"sizes.frames x sizes.n_in = {s.frames} x {s.n_in} = {s.sample_width}")
            raise ValueError(f"input has {u.shape[1]} intensities a sample but {what}")
        if not np.issubdtype(u.dtype, np.integer):
            raise ValueError(f"input intensities must be integers, not {u.dtype}")
        if u.min(initial=0) < 0 or u.max(initial=0) > d.enc_theta:
            raise ValueError(f"input intensities must be 0..{d.enc_theta} (dynamics.enc_theta),"
                             f" got {u.min()}..{u.max()}")

    def _present(self, u, label, learn, record):
        """One sample (or a batch without learning), step by step, phase by phase."""
        c = self.config
        s, d, l, w = c.sizes, c.dynamics, c.learning, c.widths
        st = self.new_state(len(u))
        tr = {k: [] for k in ("s_in", "s_h", "s_r", "m", "v_h", "v_r", "i_h", "i_r",
                              "psi", "x_h", "x_in", "x_bias", "writes", "teach")} \
            if record else None
        neuron = {"psi_window": l.psi_window, "refractory": d.refractory,
                  "reset_subtract": d.reset_subtract, "membrane_width": w.membrane}
        trace = {"shift": l.trace_shift, "inc": l.trace_inc, "width": w.trace}
        # a float snapshot of the weights for the batched BLAS path: only without
        # learning, when nothing writes the weights until it is dropped after this batch
        floats = FloatWeights(self.weights, self.topology.last_layer_offset) \
            if FAST and not learn and len(u) > 1 else None
        silent = np.zeros((len(u), s.n_in), I64)
        for t in range(s.steps):
            st["enc"], s_in = encode_step(st["enc"], frame_at(u, t, s, silent), d.enc_theta)
            i_h, i_r = deliver(s_in, st["s_h"], self.weights,
                               last_layer_offset=self.topology.last_layer_offset,
                               readout_bias=c.topology.readout_bias, current_width=w.current,
                               floats=floats)
            st["v_h"], st["ref_h"], s_h, psi = lif_step(
                st["v_h"], st["ref_h"], i_h, theta=d.theta, leak_shift=d.leak_shift, **neuron)
            st["v_r"], st["ref_r"], s_r, _ = lif_step(
                st["v_r"], st["ref_r"], i_r, theta=d.theta_out, leak_shift=d.leak_shift_out,
                **neuron)
            st["counts"] += class_counts(s_r, s.classes, s.per_class)
            writes = 0
            m = np.zeros((len(u), s.modulators), I64)
            if learn:
                m = self._teach(st, s_r, label, t)
                if m.any():
                    writes = self._plasticity(st["x_in"][0], st["x_h"][0],
                                              st["x_bias"][0], m[0], psi[0])
                self.stats.steps += 1
            if record:
                for k, v in (("s_in", s_in), ("s_h", s_h), ("s_r", s_r), ("m", m),
                             ("v_h", st["v_h"]), ("v_r", st["v_r"]), ("i_h", i_h),
                             ("i_r", i_r), ("psi", psi), ("x_h", st["x_h"]),
                             ("x_in", st["x_in"]), ("x_bias", st["x_bias"]),
                             ("writes", writes), ("teach", st["teach"])):
                    tr[k].append(np.array(v))
            st["x_in"] = trace_step(st["x_in"], s_in, **trace)
            st["x_h"] = trace_step(st["x_h"], s_h, **trace)
            st["x_bias"] = trace_step(st["x_bias"], 1, **trace)
            st["s_h"] = s_h
        if learn:
            self.stats.samples += 1
        preds = np.argmax(st["counts"], axis=1)
        if record:
            tr = {k: np.stack(v, axis=1) if k != "writes" else np.array(v)
                  for k, v in tr.items()}
        return preds, st["counts"], tr

    def _teach(self, st, s_r, label, t):
        """Phase 4 for the one sample being learnt; returns the modulator spikes (1, 2K)."""
        s, d, l, w = self.config.sizes, self.config.dynamics, self.config.learning, \
            self.config.widths
        activity, error = teacher_step(
            st["teach"][0], class_counts(s_r, s.classes, s.per_class)[0], label, t,
            shift=l.teacher_shift, width=w.teacher, teach_start=l.teach_start,
            target=l.target, margin=l.margin, push_down_all=l.push_down_all)
        v_m, m = modulator_step(st["v_m"][0], error, drive=d.mod_drive,
                                leak_shift=d.mod_leak_shift, theta=d.mod_theta,
                                membrane_width=w.membrane)
        st["teach"], st["v_m"] = activity[None], v_m[None]
        self.stats.modulator_events += int(m.sum())
        return m[None]

    def _plasticity(self, x_in, x_h, x_bias, m, psi):
        """Phase 5: every learning bank swept in bank order; returns the weights written."""
        c = self.config
        s, l, w = c.sizes, c.learning, c.widths
        signal = class_signal(m, s.classes)
        sweeps = []                     # (bank index, bank, pre traces, post, shift, mask)
        if l.learn_hidden:
            gate = (x_h > 0).astype(I64) if l.post_from_trace else psi
            post = hidden_post(self.feedback_centered, signal, gate, l.eta_hidden)
            sweeps += [(g, bank, bank.pre_traces(x_in, x_h, l.learn_recurrent),
                        post[bank.cols], l.eta_hidden_shift, None)
                       for g, bank in enumerate(self.banks)]
        if l.learn_readout:
            bank = self.readout_bank
            x_rows = bank.pre_traces(x_in, x_h)
            if c.topology.readout_bias:
                x_rows = np.append(x_rows, x_bias)
            sweeps.append((len(self.banks), bank, x_rows,
                           readout_post(signal, s.per_class, l.eta_readout),
                           l.eta_readout_shift, self.ro_mask))
        writes = 0
        for g, bank, x_rows, post, shift, mask in sweeps:
            if FAST:
                visited, written = self._sweep_active_rows(g, x_rows, post, shift, mask)
            else:
                new, visited, written = sweep_bank(self.bank_weights(g), x_rows, post,
                                                   shift=shift, weight_width=w.weight,
                                                   lfsr=bank.lfsr, mask=mask)
                if visited:
                    self.set_bank_weights(g, new)
            self.stats.rows_swept += visited
            writes += written
        self.stats.gated_steps += 1
        self.stats.weight_writes += writes
        return writes


    def _sweep_active_rows(self, g, x_rows, post, shift, mask):
        """:func:`sweep_bank` on bank ``g`` in place, touching only the rows it visits:
        the same LFSR draws, arithmetic and saturation (:func:`_sweep_rows`), but the
        visited rows are gathered from and scattered back to the global matrices instead
        of copying the whole bank out and back (``FAST``). Returns (rows visited,
        weights whose value changed)."""
        active = np.flatnonzero(x_rows)
        if len(active) == 0:
            return 0, 0
        W, width = self.weights, self.config.widths.weight
        if g == len(self.banks):            # the readout: bank rows are w_ro's rows
            old = W.w_ro[active]
            new = _sweep_rows(old, x_rows[active], post, shift=shift, weight_width=width,
                              lfsr=self.readout_bank.lfsr,
                              mask=None if mask is None else mask[active])
            W.w_ro[active] = new
            return len(active), int((new != old).sum())
        bank = self.banks[g]
        c0, c1 = int(bank.cols[0]), int(bank.cols[-1]) + 1   # a core's columns: a range
        is_in = bank.rows_kind[active] == KIND_INPUT
        src = bank.rows_src[active]
        old = np.empty((len(active), c1 - c0), I64)
        old[is_in] = W.w_in[src[is_in], c0:c1]
        old[~is_in] = W.w_hh[src[~is_in], c0:c1]
        new = _sweep_rows(old, x_rows[active], post, shift=shift, weight_width=width,
                          lfsr=bank.lfsr,
                          mask=None if mask is None else mask[active])
        W.w_in[src[is_in], c0:c1] = new[is_in]
        W.w_hh[src[~is_in], c0:c1] = new[~is_in]
        return len(active), int((new != old).sum())


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
