"""Small-world topology: locally dense cores linked by a sparse Watts-Strogatz core graph.

Generated once from the config and its seed; the golden model and the RTL generator both
consume the same :class:`Topology` object, so they cannot disagree about the wiring.

Numbering
- input channels ``0 .. n_in-1``;
- hidden neurons ``0 .. H-1``, global index ``(layer * cores + core) * neurons + n``;
- hidden cores ``0 .. layers*cores-1`` (``layer * cores + core``); the readout is the
  destination core ``READOUT = layers * cores`` in routing tables.

Each hidden core owns a crossbar whose rows (axons) come in three blocks, in this order:
feed-forward (the input channels for layer 0, ``ff_fan_in`` routed neurons of the layer
below otherwise), local (the core's own ``N`` neurons, not routed), long-range (routed
neurons of other cores of the same layer, one row per source neuron). The readout's rows
are the neurons of the last hidden layer; its mask says which readout neurons each row
reaches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import Config

__all__ = ["Topology", "make_topology", "KIND_INPUT", "KIND_HIDDEN", "ws_core_graph",
           "small_world_metrics"]

KIND_INPUT = 0
KIND_HIDDEN = 1


@dataclass
class CoreRows:
    """The axons (crossbar rows) of one hidden core, in row order."""
    kind: np.ndarray         # KIND_INPUT or KIND_HIDDEN per row
    source: np.ndarray       # input channel or global hidden neuron per row
    n_ff: int                # rows [0, n_ff) are feed-forward
    n_local: int             # rows [n_ff, n_ff + n_local) are the core's own neurons

    @property
    def n_rows(self) -> int:
        return len(self.source)

    @property
    def n_long_range(self) -> int:
        return self.n_rows - self.n_ff - self.n_local


@dataclass
class Topology:
    config: Config
    core_graph: list          # per layer: sorted list of directed core edges (src, dst), local ids
    cores: list               # CoreRows per global hidden core
    readout_mask: np.ndarray  # bool (neurons of last layer, readout neurons)
    routing: dict = field(default_factory=dict)  # hidden neuron -> [(dest core, row), ...]

    @property
    def readout_core(self) -> int:
        s = self.config.sizes
        return s.layers * s.cores

    @property
    def last_layer_offset(self) -> int:
        s = self.config.sizes
        return (s.layers - 1) * s.cores * s.neurons

    def core_of(self, neuron: int) -> int:
        return neuron // self.config.sizes.neurons

    def hidden_mask(self) -> np.ndarray:
        """Dense (H, H) bool: hidden pre -> hidden post connections (local and routed)."""
        s = self.config.sizes
        H, N = s.hidden, s.neurons
        mask = np.zeros((H, H), dtype=bool)
        for c, rows in enumerate(self.cores):
            pre = rows.source[rows.kind == KIND_HIDDEN]
            mask[np.ix_(pre, np.arange(c * N, (c + 1) * N))] = True
        return mask

    def input_mask(self) -> np.ndarray:
        """Dense (n_in, H) bool: input channel -> hidden neuron."""
        s = self.config.sizes
        mask = np.zeros((s.n_in, s.hidden), dtype=bool)
        N = s.neurons
        for c, rows in enumerate(self.cores):
            pre = rows.source[rows.kind == KIND_INPUT]
            mask[np.ix_(pre, np.arange(c * N, (c + 1) * N))] = True
        return mask

    def synapses(self) -> int:
        """Every synapse with a weight: input, hidden (recurrent and routed), readout and
        its bias row (the default config's 46,197)."""
        c = self.synapse_counts()
        return c["input"] + c["hidden"] + c["readout"] + c["readout_bias"]

    def synapse_counts(self) -> dict:
        s = self.config.sizes
        return {
            "input": int(self.input_mask().sum()),
            "hidden": int(self.hidden_mask().sum()),
            "readout": int(self.readout_mask.sum()),
            "readout_bias": s.readout if self.config.topology.readout_bias else 0,
            "routing_entries": sum(len(v) for v in self.routing.values()),
            "hidden_neurons": s.hidden,
            "readout_neurons": s.readout,
        }


def ws_core_graph(n: int, k: int, p: float, rng: np.random.Generator) -> list:
    """Watts-Strogatz over ``n`` cores: a ring where each core links to ``k/2`` neighbours
    on each side, each edge rewired with probability ``p`` to a random core (no self
    loops, no duplicates). Returns directed edges both ways, sorted."""
    edges = set()
    for i in range(n):
        for off in range(1, k // 2 + 1):
            edges.add(frozenset((i, (i + off) % n)))
    edges = sorted(tuple(sorted(e)) for e in edges if len(e) == 2)
    result = set(frozenset(e) for e in edges)
    for a, b in edges:
        if rng.random() < p:
            choices = [c for c in range(n) if c != a and frozenset((a, c)) not in result]
            if choices:
                result.discard(frozenset((a, b)))
                result.add(frozenset((a, int(rng.choice(choices)))))
    directed = set()
    for e in result:
        a, b = tuple(e)
        directed.add((a, b))
        directed.add((b, a))
    return sorted(directed)


def make_topology(config: Config) -> Topology:
    """Generate the wiring, deterministic in ``config.seed``."""
    config.validate()
    s, t = config.sizes, config.topology
    rng = np.random.default_rng([config.seed, 0x70])
    N, C = s.neurons, s.cores
    core_graph = []
    cores = []
    routing: dict[int, list] = {n: [] for n in range(s.hidden)}
    for layer in range(s.layers):
        edges = ws_core_graph(C, t.ws_neighbours, t.ws_rewire, rng)
        core_graph.append(edges)
        base = layer * C * N
        for c in range(C):
            gc = layer * C + c
            # feed-forward block
            if layer == 0:
                ff_kind = np.full(s.n_in, KIND_INPUT)
                ff_src = np.arange(s.n_in)
            else:
                prev = (layer - 1) * C * N
                ff_src = np.sort(rng.choice(C * N, size=t.ff_fan_in, replace=False)) + prev
                ff_kind = np.full(len(ff_src), KIND_HIDDEN)
            # local block
            loc_src = np.arange(base + c * N, base + (c + 1) * N)
            # long-range block: from every in-neighbour, axons_per_edge distinct sources
            lr_src = []
            for (a, b) in edges:
                if b != c:
                    continue
                picks = np.sort(rng.choice(N, size=t.axons_per_edge, replace=False))
                lr_src.extend(base + a * N + picks)
            lr_src = np.array(lr_src, dtype=np.int64)
            kind = np.concatenate([ff_kind, np.full(N, KIND_HIDDEN),
                                   np.full(len(lr_src), KIND_HIDDEN)]).astype(np.int8)
            source = np.concatenate([ff_src, loc_src, lr_src]).astype(np.int64)
            rows = CoreRows(kind=kind, source=source, n_ff=len(ff_src), n_local=N)
            cores.append(rows)
            # routing entries for every routed row (ff from a hidden layer, long-range)
            for r, (k, src) in enumerate(zip(kind, source)):
                if k == KIND_HIDDEN and not (rows.n_ff <= r < rows.n_ff + N):
                    routing[int(src)].append((gc, r))
    last = (s.layers - 1) * C * N
    readout_mask = rng.random((C * N, s.readout)) < t.readout_density
    # every readout neuron must hear at least one hidden neuron
    for j in np.flatnonzero(~readout_mask.any(axis=0)):
        readout_mask[rng.integers(C * N), j] = True
    for r in np.flatnonzero(readout_mask.any(axis=1)):
        routing[int(last + r)].append((s.layers * C, int(r)))

    routing = {n: sorted(v) for n, v in routing.items()}
    return Topology(config=config, core_graph=core_graph, cores=cores,
                    readout_mask=readout_mask, routing=routing)


def small_world_metrics(topo: Topology, seed: int = 0) -> dict:
    """Clustering coefficient and mean shortest path of the hidden neuron graph
    (undirected), against an Erdos-Renyi graph with the same nodes and edges.
    sigma = (C / C_rand) / (L / L_rand) > 1 is the usual small-world criterion."""
    adj = topo.hidden_mask()
    adj = adj | adj.T
    np.fill_diagonal(adj, False)
    n = adj.shape[0]
    m = int(adj.sum() // 2)
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(n, 1)
    pick = rng.choice(len(iu[0]), size=m, replace=False)
    rand = np.zeros_like(adj)
    rand[iu[0][pick], iu[1][pick]] = True
    rand = rand | rand.T
    c, l = _clustering(adj), _mean_path(adj)
    cr, lr = _clustering(rand), _mean_path(rand)
    sigma = (c / cr) / (l / lr) if cr > 0 and lr > 0 and l > 0 else float("nan")
    return {"nodes": n, "edges": m, "clustering": c, "path_length": l,
            "clustering_random": cr, "path_length_random": lr, "sigma": sigma}


def _clustering(adj: np.ndarray) -> float:
    a = adj.astype(np.float64)
    deg = a.sum(1)
    tri = np.einsum("ij,jk,ki->i", a, a, a) / 2
    pairs = deg * (deg - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ci = np.where(pairs > 0, tri / pairs, 0.0)
    return float(ci.mean())


def _mean_path(adj: np.ndarray) -> float:
    """Mean shortest path over connected pairs (BFS by boolean frontier products)."""
    n = adj.shape[0]
    a = adj.astype(np.int32)
    total, pairs = 0, 0
    reach = np.eye(n, dtype=bool)
    frontier = np.eye(n, dtype=bool)
    d = 0
    while frontier.any():
        d += 1
        nxt = (frontier.astype(np.int32) @ a) > 0
        nxt &= ~reach
        cnt = int(nxt.sum())
        total += d * cnt
        pairs += cnt
        reach |= nxt
        frontier = nxt
    return total / pairs if pairs else float("inf")
