"""NIR interchange: the learned SWIRL network as a Neuromorphic Intermediate
Representation graph (the ``nir`` package, 1.0), and back.

Export (:func:`to_nir`, :func:`write_nir`) writes what a NIR consumer can simulate:

- ``input``: the encoder's spikes, ``n_in`` channels (the rate encoder itself stays
  outside the graph: NIR's ``IF`` resets to ``v_reset``, SWIRL's encoder subtracts its
  threshold, so the encoder's spike trains are the graph's input);
- ``w_in`` (``Linear``, hidden layer 0 x ``n_in``): the dense input rows;
- ``hidden_l`` (``LIF``, ``cores * neurons``) per layer, with ``rec_l`` (``Linear``,
  a self loop: the local crossbars and the long-range rows of that layer; absent synapses
  are zeros) and, for ``l > 0``, ``ff_l`` (``Linear``, the routed feed-forward rows);
- ``w_ro`` (``Affine``: the readout rows, the bias row as the bias; ``Linear`` without
  ``topology.readout_bias``), ``readout`` (``LIF``, ``classes * per_class``), ``output``.

The integer LIF maps to NIR's ``tau dv/dt = (v_leak - v) + r I`` discretised by forward
Euler with ``dt`` (:data:`DT`, snnTorch's convention): ``tau = dt * 2**leak_shift``,
``r = 2**leak_shift`` (so ``dt/tau * r = 1``: a weight adds itself to ``v``),
``v_leak = 0``, ``v_threshold = theta - 1/2`` (NIR fires on ``v > v_threshold``; on
SWIRL's integer membranes that is ``v >= theta``), ``v_reset = 0``. The Euler step is then
``v <- (1 - 2**-s) v + I``; SWIRL computes ``v - (v >> s) = ceil((1 - 2**-s) v)``.

What NIR cannot hold, and is kept only in the graph's ``metadata`` (so that
:func:`from_nir` restores it): the fixed-point rounding (the ceiling above, the
saturation of ``widths.membrane`` / ``widths.current``, integer weights of
``widths.weight`` bits), the subtractive reset (``dynamics.reset_subtract``: NIR neurons
reset to ``v_reset``), the refractory count, the one-step delay of every routed hop
(``ff_l`` and ``w_ro`` deliver the previous step's spikes; NIR edges carry no delay),
the encoder, the population-code readout (prediction = class with the most spikes over
its ``per_class`` neurons, lowest index on ties), and all of the learning: traces,
teacher, modulators, the broadcast-alignment feedback hash, the LFSRs and the
three-factor rule. The whole config travels as TOML in ``metadata["swirl_config"]``.

Import (:func:`from_nir`, :func:`read_nir`) maps a graph of that shape, SWIRL's own or a
foreign one (snnTorch's ``export_to_nir`` of ``Linear -> RLeaky/Leaky -> Linear ->
Leaky``, for example), to a :class:`~gen.config.Config` and
:class:`~sim.model.Weights`, and refuses anything else with a :class:`NirError` that
names the node and the limit. See docs/nir.md.
"""
from __future__ import annotations

import math
import pathlib
import tomllib

import numpy as np

from .config import Config, ConfigError

__all__ = ["DT", "FORMAT", "NirError", "to_nir", "write_nir", "from_nir", "read_nir",
           "network_differences"]

DT = 1e-4
"""Seconds per SWIRL time step in exported graphs. NIR has no time step; snnTorch's
``import_from_nir`` and ``export_to_nir`` assume 1e-4 s, so SWIRL uses the same."""

FORMAT = "swirl-nir/1"


class NirError(ConfigError):
    """A NIR graph SWIRL cannot represent (or a file that is not a NIR graph)."""


def _nir():
    try:
        import nir
    except ImportError as e:   # pragma: no cover - nir is a dependency
        raise NirError(f"the nir package is needed for NIR files: pip install nir ({e})")
    return nir


# ---- export ---------------------------------------------------------------------------
def _lif(nir, n: int, theta: int, leak_shift: int, config: Config, role: str):
    """A SWIRL integer LIF population as nir.LIF (module docstring for the mapping)."""
    d, w = config.dynamics, config.widths
    one = np.ones(n)
    scale = float(2 ** leak_shift)
    return nir.LIF(
        tau=one * DT * scale, r=one * scale, v_leak=np.zeros(n),
        v_threshold=one * (theta - 0.5), v_reset=np.zeros(n),
        metadata={"swirl_role": role, "swirl_theta": int(theta),
                  "swirl_leak_shift": int(leak_shift),
                  "swirl_leak": f"v <- v - (v >> {leak_shift}) + I = "
                                f"ceil((1 - 2**-{leak_shift}) v) + I",
                  "swirl_reset": "subtract" if d.reset_subtract else "zero",
                  "swirl_refractory": int(d.refractory),
                  "swirl_membrane_bits": int(w.membrane),
                  "swirl_current_bits": int(w.current)})


def to_nir(net):
    """The network ``net`` (a :class:`sim.model.Network`) as a ``nir.NIRGraph``."""
    nir = _nir()
    c = net.config
    s, d = c.sizes, c.dynamics
    W = net.weights
    n_layer = s.cores * s.neurons
    f = lambda a: np.asarray(a, np.float64)          # noqa: E731  NIR arrays are float

    def layer(l):
        return slice(l * n_layer, (l + 1) * n_layer)

    nodes = {"input": nir.Input(input_type={"input": np.array([s.n_in])})}
    edges = []
    nodes["w_in"] = nir.Linear(weight=f(W.w_in[:, layer(0)].T),
                               metadata={"swirl_role": "input rows (dense)",
                                         "swirl_weight_bits": c.widths.weight})
    edges.append(("input", "w_in"))
    for l in range(s.layers):
        h = f"hidden_{l}"
        nodes[h] = _lif(nir, n_layer, d.theta, d.leak_shift, c, f"hidden layer {l}")
        nodes[f"rec_{l}"] = nir.Linear(
            weight=f(W.w_hh[layer(l), layer(l)].T),
            metadata={"swirl_role": "local crossbars and long-range rows; zeros where "
                                    "the topology has no synapse; delivers the previous "
                                    "step's spikes",
                      "swirl_synapses": int(net.hh_mask[layer(l), layer(l)].sum())})
        edges += [(h, f"rec_{l}"), (f"rec_{l}", h)]
        if l == 0:
            edges.append(("w_in", h))
        else:
            nodes[f"ff_{l}"] = nir.Linear(
                weight=f(W.w_hh[layer(l - 1), layer(l)].T),
                metadata={"swirl_role": "routed feed-forward rows (SWIRL: one step of "
                                        "delay)",
                          "swirl_synapses": int(net.hh_mask[layer(l - 1), layer(l)].sum())})
            edges += [(f"hidden_{l - 1}", f"ff_{l}"), (f"ff_{l}", h)]
    n_last = n_layer
    ro_meta = {"swirl_role": "readout rows (routed, SWIRL: one step of delay); zeros "
                             "outside the readout mask",
               "swirl_synapses": int(net.ro_mask[:n_last].sum())}
    if c.topology.readout_bias:
        nodes["w_ro"] = nir.Affine(weight=f(W.w_ro[:n_last].T), bias=f(W.w_ro[n_last]),
                                   metadata={**ro_meta, "swirl_bias": "the bias row (a "
                                             "source that spikes every step)"})
    else:
        nodes["w_ro"] = nir.Linear(weight=f(W.w_ro[:n_last].T), metadata=ro_meta)
    nodes["readout"] = _lif(nir, s.readout, d.theta_out, d.leak_shift_out, c, "readout")
    nodes["output"] = nir.Output(output_type={"output": np.array([s.readout])})
    edges += [(f"hidden_{s.layers - 1}", "w_ro"), ("w_ro", "readout"),
              ("readout", "output")]
    meta = {
        "format": FORMAT,
        "swirl_config": c.to_toml(),
        "dt": DT,
        "steps_per_sample": int(s.steps),
        "input": "spikes of SWIRL's rate encoder (enc += u; spike when enc >= "
                 "enc_theta; enc -= enc_theta), one vector per step",
        "prediction": f"argmax over {s.classes} classes of the spike count of readout "
                      f"neurons k*{s.per_class} .. k*{s.per_class}+{s.per_class - 1} "
                      "over the sample's steps, lowest index on ties",
        "routed_delay_steps": 1,
        "not_in_nir": "fixed-point rounding (leak = ceil((1-2**-s) v), saturation to "
                      "widths.membrane and widths.current, integer weights); subtractive "
                      "reset; refractory count; the one-step delay of routed hops (ff_l, "
                      "w_ro); the encoder; the population-code readout; the learning "
                      "rule (traces, teacher, modulators, feedback hash, LFSRs)",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_nir(net, path) -> None:
    _nir().write(str(path), to_nir(net))


# ---- import ---------------------------------------------------------------------------
def _text(v):
    """h5py gives strings back as bytes (or 0-d arrays of them)."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return v.decode("utf8") if isinstance(v, bytes) else v


def _flatten(nir, graph, prefix=""):
    """Nodes and edges of ``graph`` with every sub-graph inlined (snnTorch writes an
    RLeaky as a sub-graph ``input -> lif <-> w_rec -> output``): returns (nodes, edges)
    with dotted names."""
    nodes, edges, inner = {}, [], {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(nir, node, full + ".")
            ins = [k for k, v in sub_nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in sub_nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NirError(f"node {full!r}: a sub-graph with {len(ins)} inputs and "
                               f"{len(outs)} outputs; SWIRL takes sub-graphs with one of each")
            inner[full] = (ins[0], outs[0])
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + _text(a), prefix + _text(b)
        if a in inner:
            a = inner[a][1]
        if b in inner:
            b = inner[b][0]
        edges.append((a, b))
    # splice out the sub-graphs' Input/Output pass-through nodes
    for sub_in, sub_out in inner.values():
        for through in (sub_in, sub_out):
            pre = [a for a, b in edges if b == through]
            post = [b for a, b in edges if a == through]
            edges = [e for e in edges if through not in e] + \
                [(a, b) for a in pre for b in post]
            del nodes[through]
    return nodes, edges


def _uniform(name, node, field, value):
    a = np.asarray(value, np.float64).ravel()
    if a.size == 0:
        raise NirError(f"node {name!r}: {field} is empty")
    if not np.allclose(a, a[0], rtol=1e-9, atol=0):
        raise NirError(f"node {name!r}: {field} differs between neurons "
                       f"({a.min():g} .. {a.max():g}); SWIRL has one {field} per "
                       "population")
    return float(a[0])


def _neuron(nir, name, node, dt, membrane_bits):
    """A LIF node's population parameters: (size, leak shift, input gain, threshold as
    a float, carried metadata)."""
    if isinstance(node, nir.CubaLIF):
        raise NirError(f"node {name!r}: a CubaLIF (tau_syn = "
                       f"{_uniform(name, node, 'tau_syn', node.tau_syn):g} s): SWIRL's "
                       "synaptic current is recomputed every step, with no synaptic "
                       "filter; only LIF populations map to SWIRL's neurons")
    if not isinstance(node, nir.LIF):
        raise NirError(f"node {name!r}: a {type(node).__name__} where SWIRL needs a LIF "
                       "population")
    n = int(np.asarray(node.v_threshold).size)
    tau = _uniform(name, node, "tau", node.tau)
    r = _uniform(name, node, "r", node.r)
    v_leak = _uniform(name, node, "v_leak", node.v_leak)
    v_reset = _uniform(name, node, "v_reset", node.v_reset)
    thr = _uniform(name, node, "v_threshold", node.v_threshold)
    if v_leak != 0:
        raise NirError(f"node {name!r}: v_leak = {v_leak:g}; SWIRL's membranes leak "
                       "towards 0 (limit: v_leak = 0)")
    if v_reset != 0:
        raise NirError(f"node {name!r}: v_reset = {v_reset:g}; SWIRL resets to 0 or "
                       "subtracts the threshold (limit: v_reset = 0)")
    if not tau > 0:
        raise NirError(f"node {name!r}: tau = {tau:g} must be > 0")
    ratio = tau / dt
    shift = round(math.log2(ratio)) if ratio > 0 else 0
    if not (1 <= shift < membrane_bits) or not math.isclose(ratio, 2.0 ** shift,
                                                            rel_tol=1e-6):
        near = ", ".join(f"{1 - 2.0 ** -k:g} (tau = {2 ** k} dt, leak_shift {k})"
                         for k in (math.floor(math.log2(max(ratio, 1))),
                                   math.ceil(math.log2(max(ratio, 2))))
                         if 1 <= k < membrane_bits)
        raise NirError(f"node {name!r}: tau = {tau:g} s is {ratio:g} dt (dt = {dt:g} s): a "
                       f"decay of {1 - 1 / ratio:g} per step; SWIRL's leak is a shift, a "
                       f"decay of 1 - 2**-s with s = 1..{membrane_bits - 1} (nearest: "
                       f"{near or 'none'})")
    meta = {k: _text(v) for k, v in (node.metadata or {}).items()}
    return n, shift, r * dt / tau, thr, meta


def _projection(nir, name, node):
    """(weight (out, in), bias or None) of a Linear / Affine node."""
    if isinstance(node, nir.Affine):
        return np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64)
    if isinstance(node, nir.Linear):
        return np.asarray(node.weight, np.float64), None
    raise NirError(f"node {name!r}: a {type(node).__name__} where SWIRL needs a projection "
                   "(Linear or Affine)")


def _structure(nir, graph):
    """The graph as SWIRL's chain: returns a dict with the input size, the hidden
    populations in layer order with their projections, and the readout."""
    nodes, edges = _flatten(nir, graph)
    allowed = (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.LIF, nir.CubaLIF)
    for name, node in nodes.items():
        if not isinstance(node, allowed):
            raise NirError(f"node {name!r}: a {type(node).__name__}; SWIRL maps only "
                           "Input, Linear, Affine, LIF and Output nodes (limit: dense "
                           "projections between LIF populations)")
    pre = {k: [a for a, b in edges if b == k] for k in nodes}
    post = {k: [b for a, b in edges if a == k] for k in nodes}
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"graph: {len(inputs)} Input and {len(outputs)} Output nodes; SWIRL "
                       "has one input (the encoder's channels) and one output (the readout)")
    pops = [k for k, v in nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF))]
    projs = {}                       # projection name -> (source, target)
    for k, v in nodes.items():
        if isinstance(v, (nir.Linear, nir.Affine)):
            if len(pre[k]) != 1 or len(post[k]) != 1:
                raise NirError(f"node {k!r}: a projection with {len(pre[k])} sources and "
                               f"{len(post[k])} targets; SWIRL's projections link one "
                               "population (or the input) to one population")
            src, dst = pre[k][0], post[k][0]
            if src not in pops + inputs or dst not in pops:
                raise NirError(f"node {k!r}: projects {src!r} -> {dst!r}; SWIRL's "
                               "projections go from the input or a LIF population to a LIF "
                               "population")
            projs[k] = (src, dst)
    for k in pops:
        bad = [p for p in pre[k] if p not in projs]
        if bad:
            raise NirError(f"node {k!r}: fed directly by {bad[0]!r}; SWIRL's populations are "
                           "fed through Linear/Affine projections only")
    (inp,), (out,) = inputs, outputs
    if len(pre[out]) != 1 or pre[out][0] not in pops:
        raise NirError(f"node {out!r}: the output must be fed by one LIF population (the "
                       "readout)")
    readout = pre[out][0]
    first = [projs[p][1] for p in post[inp] if p in projs]
    if len(post[inp]) != 1 or len(first) != 1:
        raise NirError(f"node {inp!r}: the input must feed one projection into the first "
                       "hidden layer (SWIRL's input rows reach layer 0 only)")
    if first[0] == readout:
        raise NirError(f"node {readout!r}: the input projects straight into the readout; "
                       "SWIRL needs at least one hidden LIF layer in between")
    chain = [first[0]]
    while True:
        here = chain[-1]
        nxt = sorted({projs[p][1] for p in post[here] if p in projs} - {here})
        if nxt == [readout]:
            break
        if len(nxt) != 1 or nxt[0] in chain:
            raise NirError(f"node {here!r}: projects to {nxt or 'nothing'}; SWIRL's hidden "
                           "layers form a chain, each feeding the next one and the last "
                           "one the readout")
        chain.append(nxt[0])
    extra = set(pops) - set(chain) - {readout}
    if extra:
        raise NirError(f"node {sorted(extra)[0]!r}: a LIF population off SWIRL's chain "
                       "input -> hidden layers -> readout")
    layers = []
    for l, h in enumerate(chain):
        into = {}
        for p in pre[h]:
            src = projs[p][0]
            kind = "input" if src == inp else "rec" if src == h else \
                "ff" if l > 0 and src == chain[l - 1] else None
            if kind is None:
                raise NirError(f"node {p!r}: projects {src!r} -> {h!r}; hidden layer {l} "
                               f"takes {'the input' if l == 0 else repr(chain[l - 1])} and "
                               "its own spikes only")
            if kind in into:
                raise NirError(f"node {p!r}: a second {kind} projection into {h!r}")
            into[kind] = p
        if "rec" not in into:
            raise NirError(f"node {h!r}: no recurrent projection ({h!r} -> Linear -> {h!r}); "
                           "SWIRL's hidden cores are recurrent (every local crossbar exists)")
        layers.append((h, into))
    ro_in = [projs[p] for p in pre[readout]]
    if len(ro_in) != 1 or ro_in[0][0] != chain[-1]:
        raise NirError(f"node {readout!r}: the readout must be fed by one projection from "
                       f"the last hidden layer {chain[-1]!r} (no recurrence in the readout)")
    return {"nodes": nodes, "input": inp, "layers": layers, "readout": readout,
            "w_ro": pre[readout][0]}


def _meta(graph) -> dict:
    return {k: _text(v) for k, v in (getattr(graph, "metadata", None) or {}).items()}


def from_nir(graph, classes: int | None = None, dt: float | None = None):
    """A NIR graph as SWIRL's ``(config, weights, notes)``; notes: a list of strings on
    what was scaled or assumed. Graphs that SWIRL exported (``metadata["format"]``)
    carry their config: every node must agree with it, bit for bit. Foreign graphs get a
    config built from their structure (one core per layer, ``classes`` classes of
    ``readout / classes`` neurons, default ``classes`` = readout size) and their float
    weights scaled per population to ``widths.weight`` bits."""
    nir = _nir()
    from sim.model import Network, Weights
    meta = _meta(graph)
    st = _structure(nir, graph)
    nodes = st["nodes"]
    own = meta.get("format") == FORMAT and "swirl_config" in meta
    base = None
    if own:
        base = Config.from_dict(tomllib.loads(meta["swirl_config"]),
                                source="metadata swirl_config").validate()
    dt = float(dt if dt is not None else meta.get("dt", DT))
    membrane_bits = base.widths.membrane if base else 16
    hidden = [_neuron(nir, h, nodes[h], dt, membrane_bits) for h, _ in st["layers"]]
    ro = _neuron(nir, st["readout"], nodes[st["readout"]], dt, membrane_bits)
    sizes = {hh[0] for hh in hidden}
    if len(sizes) != 1:
        raise NirError(f"node {st['layers'][1][0]!r}: hidden layers of "
                       f"{sorted(sizes)} neurons; SWIRL's layers all have cores * neurons "
                       "neurons")
    n_layer = hidden[0][0]
    n_in = int(np.asarray(nodes[st["input"]].input_type["input"]).prod())
    notes = []

    def weights_of(name, shape):
        w, b = _projection(nir, name, nodes[name])
        if w.shape != shape:
            raise NirError(f"node {name!r}: weight of shape {w.shape}, expected {shape}")
        return w, b

    # raw float weights per population, in SWIRL's (pre, post) orientation
    w_in, b_in = weights_of(st["layers"][0][1]["input"], (n_layer, n_in))
    recs, ffs = [], []
    for l, (h, into) in enumerate(st["layers"]):
        w, b = weights_of(into["rec"], (n_layer, n_layer))
        recs.append(w.T)
        for nm, bias in ((into["rec"], b),) + (((into["ff"], None),) if l else ()):
            if bias is not None and np.any(bias != 0):
                raise NirError(f"node {nm!r}: a non-zero bias into hidden layer {l}; SWIRL's "
                               "hidden neurons have no bias (only the readout has a bias row)")
        if l:
            w, b = weights_of(into["ff"], (n_layer, n_layer))
            if b is not None and np.any(b != 0):
                raise NirError(f"node {into['ff']!r}: a non-zero bias into hidden layer {l}; "
                               "SWIRL's hidden neurons have no bias")
            ffs.append(w.T)
    if b_in is not None and np.any(b_in != 0):
        raise NirError(f"node {st['layers'][0][1]['input']!r}: a non-zero bias into hidden "
                       "layer 0; SWIRL's hidden neurons have no bias (only the readout has "
                       "a bias row)")
    w_ro, b_ro = weights_of(st["w_ro"], (ro[0], n_layer))
    w_ro = w_ro.T
    has_bias = b_ro is not None and (own and base.topology.readout_bias or
                                     not own and np.any(b_ro != 0))
    L = len(hidden)
    if own:
        cfg = base
        s = cfg.sizes
        checks = [("sizes.n_in", s.n_in, n_in), ("hidden layers", s.layers, L),
                  ("neurons per layer", s.cores * s.neurons, n_layer),
                  ("readout neurons", s.readout, ro[0])]
        for what, want, got in checks:
            if want != got:
                raise NirError(f"graph: {got} {what}, but the config it carries says {want}")
        for (h, _), (_, shift, gain, thr, _m) in zip(st["layers"], hidden):
            _agree(h, cfg.dynamics.leak_shift, cfg.dynamics.theta, shift, gain, thr)
        _agree(st["readout"], cfg.dynamics.leak_shift_out, cfg.dynamics.theta_out,
               ro[1], ro[2], ro[3])
        if cfg.topology.readout_bias != (b_ro is not None):
            raise NirError(f"node {st['w_ro']!r}: "
                           f"{'an Affine' if b_ro is not None else 'a Linear'} readout "
                           f"projection, but topology.readout_bias = "
                           f"{str(cfg.topology.readout_bias).lower()} in the carried config")
        scales = [1.0] * (L + 1)
    else:
        cfg, scales = _foreign_config(n_in, L, n_layer, ro[0], classes, hidden, ro,
                                      has_bias, [w_in] + recs + ffs, w_ro, b_ro, notes)
    # integer weights
    wb = cfg.widths.weight
    lim = 1 << (wb - 1)
    gains = [hh[2] * k for hh, k in zip(hidden, scales[:L])] + [ro[2] * scales[L]]

    def integer(name, w, gain):
        x = w * gain
        q = np.rint(x)
        if own and not np.allclose(x, q, rtol=0, atol=1e-6):
            i = np.unravel_index(np.argmax(np.abs(x - q)), x.shape)
            raise NirError(f"node {name!r}: weight {x[i]:g} at {i} is not an integer; "
                           f"SWIRL's weights are {wb}-bit integers")
        if q.min(initial=0) < -lim or q.max(initial=0) > lim - 1:
            raise NirError(f"node {name!r}: weights {q.min():g} .. {q.max():g} exceed the "
                           f"{wb}-bit weight range {-lim} .. {lim - 1} (widths.weight)")
        return q.astype(np.int64)

    s = cfg.sizes
    H = s.hidden
    W_in = np.zeros((n_in, H), np.int64)
    W_hh = np.zeros((H, H), np.int64)
    W_in[:, :n_layer] = integer(st["layers"][0][1]["input"], w_in.T, gains[0])
    for l in range(L):
        blk = slice(l * n_layer, (l + 1) * n_layer)
        W_hh[blk, blk] = integer(st["layers"][l][1]["rec"], recs[l], gains[l])
        if l:
            prev = slice((l - 1) * n_layer, l * n_layer)
            W_hh[prev, blk] = integer(st["layers"][l][1]["ff"], ffs[l - 1], gains[l])
    n_rows = n_layer + int(cfg.topology.readout_bias)
    W_ro = np.zeros((n_rows, s.readout), np.int64)
    W_ro[:n_layer] = integer(st["w_ro"], w_ro, gains[L])
    if cfg.topology.readout_bias:
        W_ro[n_layer] = integer(st["w_ro"] + " (bias)", b_ro[None, :], gains[L])[0]
    weights = Weights(W_in, W_hh, W_ro)
    net = Network(cfg, weights=weights)
    for label, arr, mask, node in (
            ("w_in", W_in, net.in_mask, st["layers"][0][1]["input"]),
            ("w_hh", W_hh, net.hh_mask, None), ("w_ro", W_ro, net.ro_mask, st["w_ro"])):
        outside = (arr != 0) & ~mask
        if outside.any():
            i, j = np.argwhere(outside)[0]
            if node is None:
                li, lj = i // n_layer, j // n_layer
                node = st["layers"][lj][1]["rec" if li == lj else "ff"]
            raise NirError(f"node {node!r}: a weight of {arr[i, j]} from pre {i} to post "
                           f"{j} where the topology of the config has no synapse "
                           f"({int(outside.sum())} such weights; the synapses SWIRL wires: "
                           f"{int(mask.sum())} of {mask.size})")
    return cfg, weights, notes


def _agree(name, leak_shift, theta, shift, gain, thr):
    """A SWIRL-exported population must match the config it carries, bit for bit."""
    if shift != leak_shift:
        raise NirError(f"node {name!r}: tau gives leak_shift {shift}, but the config it "
                       f"carries says {leak_shift}")
    if not math.isclose(gain, 1.0, rel_tol=1e-9):
        raise NirError(f"node {name!r}: r * dt / tau = {gain:g}; SWIRL's export has 1 "
                       "(a weight adds itself to the membrane)")
    if thr != theta - 0.5:
        raise NirError(f"node {name!r}: v_threshold = {thr:g}, but the config it carries "
                       f"says theta = {theta} (v_threshold = {theta - 0.5:g})")


def _foreign_config(n_in, L, n_layer, n_ro, classes, hidden, ro, has_bias, hidden_ws,
                    w_ro, b_ro, notes):
    """A config for a graph SWIRL did not write, and the weight scale per population."""
    classes = classes or n_ro
    if classes < 2 or n_ro % classes:
        raise NirError(f"graph: {n_ro} readout neurons cannot be {classes} classes of equal "
                       "populations (give --classes K with K dividing the readout size, "
                       "K >= 2)")
    wb, membrane = 8, 16
    w_max = (1 << (wb - 1)) - 1
    v_max = (1 << (membrane - 1)) - 1
    scales, thetas = [], []
    populations = [(f"hidden layer {l}", hidden[l],
                    [hidden_ws[0]] * (l == 0) + [hidden_ws[1 + l]] +
                    ([hidden_ws[1 + L + l - 1]] if l else [])) for l in range(L)]
    populations.append(("readout", ro, [w_ro] + ([b_ro[None, :]] if has_bias else [])))
    for what, (_n, _s, gain, thr, _m), ws in populations:
        eff = max(float(np.abs(w).max(initial=0)) for w in ws) * gain
        integral = all(np.allclose(w * gain, np.rint(w * gain), rtol=0, atol=1e-9)
                       for w in ws)
        k = 1.0 if integral and eff <= w_max else (w_max / eff if eff > 0 else 1.0)
        theta = math.floor(thr * k) + 1
        if not 1 <= theta <= v_max:
            raise NirError(f"{what}: threshold {thr:g} scaled by {k:g} is {theta}, outside "
                           f"1 .. {v_max} (widths.membrane = {membrane} bits)")
        if k != 1.0:
            err = max(float(np.abs(w * gain * k - np.rint(w * gain * k)).max(initial=0))
                      for w in ws)
            notes.append(f"{what}: float weights scaled by {k:.6g} to {wb}-bit integers "
                         f"(largest rounding {err:.3f} of a weight unit), threshold "
                         f"{thr:g} -> {theta}")
        scales.append(k)
        thetas.append(theta)
    if len(set(thetas[:L])) != 1 or len({h[1] for h in hidden}) != 1:
        raise NirError("graph: hidden layers with different thresholds or leaks after "
                       "scaling; SWIRL has one theta and leak_shift for all hidden layers")
    fan_in = max(n_in + n_layer, 2 * n_layer, n_layer + int(has_bias))
    current = max(18, (fan_in * (1 << (wb - 1))).bit_length() + 1)
    if current > 32:
        raise NirError(f"graph: a fan-in of {fan_in} needs a {current}-bit current "
                       "accumulator (limit: widths.current <= 32)")
    cfg = Config().replace(**{
        "sizes.n_in": n_in, "sizes.layers": L, "sizes.cores": 1, "sizes.neurons": n_layer,
        "sizes.classes": classes, "sizes.per_class": n_ro // classes,
        "topology.ws_neighbours": 0, "topology.axons_per_edge": 0,
        "topology.ff_fan_in": n_layer, "topology.readout_density": 1.0,
        "topology.readout_bias": bool(has_bias),
        "widths.weight": wb, "widths.membrane": membrane, "widths.current": current,
        "dynamics.theta": thetas[0], "dynamics.leak_shift": hidden[0][1],
        "dynamics.theta_out": thetas[L], "dynamics.leak_shift_out": ro[1],
        "dynamics.reset_subtract": False,
        "learning.psi_window": min(Config().learning.psi_window, thetas[0]),
    })
    try:
        cfg.validate()
    except ConfigError as e:
        raise NirError(f"graph: the config it maps to is refused: {e}") from None
    notes.append(f"one core of {n_layer} neurons per layer (dense recurrence), "
                 f"{classes} classes x {n_ro // classes} readout neurons, reset to zero "
                 "(NIR's v_reset), SWIRL's one-step delay on routed hops added")
    return cfg, scales


def read_nir(path, classes: int | None = None, dt: float | None = None):
    """:func:`from_nir` of a ``.nir`` file."""
    nir = _nir()
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NIR file {str(path)!r} does not exist")
    try:
        graph = nir.read(str(path))
    except (OSError, KeyError, ValueError, AssertionError, TypeError) as e:
        raise NirError(f"{path}: not a readable NIR graph ({type(e).__name__}: {e})") \
            from None
    return from_nir(graph, classes=classes, dt=dt)


def network_differences(a, b) -> list[str]:
    """What differs between two networks (config fields, weights): [] when equal."""
    out = []
    da, db = a.config.to_dict(), b.config.to_dict()
    for sec in da:
        if isinstance(da[sec], dict):
            out += [f"{sec}.{k}: {v!r} != {db[sec].get(k)!r}"
                    for k, v in da[sec].items() if db[sec].get(k) != v]
        elif da[sec] != db.get(sec):
            out.append(f"{sec}: {da[sec]!r} != {db.get(sec)!r}")
    for name, x in a.weights.as_dict().items():
        y = b.weights.as_dict()[name]
        if x.shape != y.shape:
            out.append(f"{name}: shape {x.shape} != {y.shape}")
        elif (x != y).any():
            i = tuple(int(v) for v in np.argwhere(x != y)[0])
            out.append(f"{name}: {int((x != y).sum())} weights differ, first at {i}: "
                       f"{x[i]} != {y[i]}")
    return out
