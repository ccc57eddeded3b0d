"""gen/topology.py: the small-world wiring that the golden model and the RTL share."""
from collections import Counter

import numpy as np
import pytest

from gen.config import Config
from gen.topology import (KIND_HIDDEN, KIND_INPUT, make_topology, small_world_metrics,
                          ws_core_graph)

DEFAULT = Config()
TWO_LAYERS = Config().replace(**{"sizes.layers": 2, "sizes.cores": 5, "sizes.neurons": 16,
                                 "topology.ff_fan_in": 24, "topology.axons_per_edge": 6,
                                 "topology.ws_rewire": 0.5})
CONFIGS = [pytest.param(DEFAULT, id="default"), pytest.param(TWO_LAYERS, id="two-layers")]


def _same(a, b) -> bool:
    return (a.core_graph == b.core_graph and a.routing == b.routing
            and np.array_equal(a.readout_mask, b.readout_mask)
            and all(np.array_equal(x.source, y.source) and np.array_equal(x.kind, y.kind)
                    and (x.n_ff, x.n_local) == (y.n_ff, y.n_local)
                    for x, y in zip(a.cores, b.cores)))


def _routed_rows(topo) -> list:
    """Every (destination, row) that must have a routing entry, from the cores' rows."""
    expected = []
    for g, rows in enumerate(topo.cores):
        for r in range(rows.n_rows):
            local = rows.n_ff <= r < rows.n_ff + rows.n_local
            if rows.kind[r] == KIND_HIDDEN and not local:
                expected.append((g, r))
    expected += [(topo.readout_core, int(r)) for r in np.flatnonzero(topo.readout_mask.any(1))]
    return expected


# ---- determinism ------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS)
def test_same_seed_same_topology(cfg):
    assert _same(make_topology(cfg), make_topology(cfg))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_other_seed_other_topology(cfg):
    a = make_topology(cfg)
    b = make_topology(cfg.replace(seed=cfg.seed + 1))
    assert not _same(a, b)
    assert not np.array_equal(a.readout_mask, b.readout_mask)


def test_make_topology_validates_the_config():
    from gen.config import ConfigError
    with pytest.raises(ConfigError, match="topology.ws_neighbours"):
        make_topology(Config().replace(**{"topology.ws_neighbours": 3}))


# ---- Watts-Strogatz core graph ----------------------------------------------------------
@pytest.mark.parametrize("n, k", [(3, 2), (4, 2), (8, 4), (16, 6), (5, 0)])
@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("seed", range(5))
def test_ws_graph_is_simple_symmetric_and_keeps_its_edge_count(n, k, p, seed):
    edges = ws_core_graph(n, k, p, np.random.default_rng(seed))
    assert edges == sorted(edges)
    assert len(edges) == len(set(edges)), "duplicate edges"
    assert all(a != b for a, b in edges), "self loop"
    assert all(0 <= a < n and 0 <= b < n for a, b in edges)
    assert set(edges) == {(b, a) for a, b in edges}, "not used both ways"
    assert len(edges) == n * k, "rewiring lost or added edges"


@pytest.mark.parametrize("n, k", [(3, 2), (4, 2), (8, 4), (16, 6), (7, 2), (5, 0)])
def test_ws_graph_without_rewiring_is_the_ring_lattice(n, k):
    edges = ws_core_graph(n, k, 0.0, np.random.default_rng(0))
    for i in range(n):
        neighbours = {b for a, b in edges if a == i}
        assert len(neighbours) == k
        assert neighbours == {(i + s * off) % n for off in range(1, k // 2 + 1)
                              for s in (1, -1)}


def test_ws_graph_rewiring_adds_shortcuts():
    n, k = 16, 2
    lattice = set(ws_core_graph(n, k, 0.0, np.random.default_rng(0)))
    rewired = set(ws_core_graph(n, k, 1.0, np.random.default_rng(0)))
    assert rewired - lattice


# ---- crossbar rows ----------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS)
def test_every_core_has_feed_forward_local_and_long_range_rows(cfg):
    topo = make_topology(cfg)
    s, t = cfg.sizes, cfg.topology
    N, C = s.neurons, s.cores
    assert len(topo.cores) == s.layers * C
    assert len(topo.core_graph) == s.layers
    for g, rows in enumerate(topo.cores):
        layer, c = divmod(g, C)
        assert len(rows.kind) == len(rows.source) == rows.n_rows
        # feed-forward block
        ff = slice(0, rows.n_ff)
        if layer == 0:
            assert rows.n_ff == s.n_in
            assert np.all(rows.kind[ff] == KIND_INPUT)
            assert np.array_equal(rows.source[ff], np.arange(s.n_in))
        else:
            assert rows.n_ff == t.ff_fan_in
            assert np.all(rows.kind[ff] == KIND_HIDDEN)
        # local block: the core's own neurons, ascending
        loc = slice(rows.n_ff, rows.n_ff + rows.n_local)
        assert rows.n_local == N
        assert np.all(rows.kind[loc] == KIND_HIDDEN)
        assert np.array_equal(rows.source[loc], np.arange(g * N, (g + 1) * N))
        # long-range block: axons_per_edge distinct, ascending neurons per in-edge
        in_edges = [a for a, b in topo.core_graph[layer] if b == c]
        assert rows.n_long_range == len(in_edges) * t.axons_per_edge
        lr = rows.source[rows.n_ff + rows.n_local:]
        assert np.all(rows.kind[rows.n_ff + rows.n_local:] == KIND_HIDDEN)
        for i, a in enumerate(in_edges):
            block = lr[i * t.axons_per_edge:(i + 1) * t.axons_per_edge]
            src_core = layer * C + a
            assert np.all((block >= src_core * N) & (block < (src_core + 1) * N))
            assert np.all(np.diff(block) > 0)


def test_ff_rows_of_later_layers_come_from_the_previous_layer():
    cfg = TWO_LAYERS
    topo = make_topology(cfg)
    N, C = cfg.sizes.neurons, cfg.sizes.cores
    for g in range(C, 2 * C):
        rows = topo.cores[g]
        ff = rows.source[:rows.n_ff]
        assert len(ff) == cfg.topology.ff_fan_in
        assert np.all((ff >= 0) & (ff < C * N)), "feed-forward rows must come from layer 0"
        assert np.all(np.diff(ff) > 0), "distinct and ascending"
    for g in range(C):      # layer 0 hears only the input
        assert np.all(topo.cores[g].kind[:topo.cores[g].n_ff] == KIND_INPUT)
    # the readout hears the last layer
    assert topo.last_layer_offset == C * N
    assert topo.readout_mask.shape == (C * N, cfg.sizes.readout)
    # the dense masks agree with the rows
    hh = topo.hidden_mask()
    for g in range(C, 2 * C):
        for src in topo.cores[g].source[:topo.cores[g].n_ff]:
            assert hh[src, g * N:(g + 1) * N].all()
    assert not topo.input_mask()[:, C * N:].any()


def test_no_long_range_rows_without_neighbours():
    cfg = Config().replace(**{"topology.ws_neighbours": 0})
    topo = make_topology(cfg)
    assert all(edges == [] for edges in topo.core_graph)
    assert all(rows.n_long_range == 0 for rows in topo.cores)


# ---- routing ----------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS)
def test_routing_entries_point_to_existing_rows_that_name_their_source(cfg):
    topo = make_topology(cfg)
    s = cfg.sizes
    assert set(topo.routing) == set(range(s.hidden))
    for neuron, entries in topo.routing.items():
        assert entries == sorted(entries)
        for dest, row in entries:
            assert 0 <= dest <= topo.readout_core
            if dest == topo.readout_core:
                assert 0 <= row < topo.readout_mask.shape[0]
                assert topo.last_layer_offset + row == neuron
                assert topo.readout_mask[row].any()
            else:
                rows = topo.cores[dest]
                assert 0 <= row < rows.n_rows
                assert rows.kind[row] == KIND_HIDDEN
                assert rows.source[row] == neuron
                assert not rows.n_ff <= row < rows.n_ff + rows.n_local, "local rows are not routed"


@pytest.mark.parametrize("cfg", CONFIGS)
def test_every_routed_row_appears_exactly_once(cfg):
    topo = make_topology(cfg)
    seen = Counter((d, r) for entries in topo.routing.values() for d, r in entries)
    expected = _routed_rows(topo)
    assert len(expected) == len(set(expected))
    assert Counter(expected) == seen
    assert topo.synapse_counts()["routing_entries"] == len(expected)


# ---- readout ----------------------------------------------------------------------------
@pytest.mark.parametrize("density", [0.05, 0.5, 1.0])
def test_readout_mask_density_and_coverage(density):
    cfg = Config().replace(**{"topology.readout_density": density})
    mask = make_topology(cfg).readout_mask
    assert mask.dtype == bool
    assert mask.shape == (cfg.sizes.cores * cfg.sizes.neurons, cfg.sizes.readout)
    assert mask.any(axis=0).all(), "a readout neuron hears nothing"
    assert abs(mask.mean() - density) < 0.03


def test_every_readout_neuron_hears_someone_even_when_sparse():
    cfg = Config().replace(**{"sizes.cores": 2, "sizes.neurons": 2,
                              "topology.axons_per_edge": 2, "topology.ws_neighbours": 0,
                              "topology.readout_density": 0.01})
    for seed in range(20):
        mask = make_topology(cfg.replace(seed=seed)).readout_mask
        assert mask.any(axis=0).all()


def test_synapse_counts_agree_with_the_masks():
    topo = make_topology(DEFAULT)
    s = DEFAULT.sizes
    counts = topo.synapse_counts()
    assert counts["input"] == s.n_in * s.hidden            # dense input into layer 0
    assert counts["hidden"] == sum((rows.n_rows - rows.n_ff) * s.neurons
                                   for rows in topo.cores)
    assert counts["readout"] == int(topo.readout_mask.sum())
    assert (counts["hidden_neurons"], counts["readout_neurons"]) == (s.hidden, s.readout)


# ---- small world ------------------------------------------------------------------------
def test_default_topology_is_a_small_world():
    m = small_world_metrics(make_topology(DEFAULT))
    assert m["nodes"] == DEFAULT.sizes.hidden
    assert m["sigma"] > 1
    assert m["clustering"] > 1.5 * m["clustering_random"]
    assert m["path_length"] < 2 * m["path_length_random"]
