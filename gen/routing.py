"""Routing tables for the spike router (rtl/router.py), generated from the topology, and
the checks that refuse a topology the chosen router hardware cannot hold.

The router's memories (docs/router.md):

* the **index table**, one word per source address ``core << neuron_bits | neuron``
  (``neuron_bits = ceil(log2(neurons))``, so a topology with fewer neurons per core than
  the hardware still fits): ``(offset, count)`` into the entry table;
* the **entry table**, ``table_depth`` words of ``(dest, row)``: the destinations of each
  source, contiguous, in ``Topology.routing`` order (sorted).

:class:`RouterParams` holds the elaboration-time sizes; :func:`check_routing_fits` raises
:class:`gen.config.ConfigError`, naming the limit, for a topology whose table does not fit
or whose destinations do not exist, before anything is elaborated.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError
from .topology import Topology
from .util import index_width

__all__ = ["RouterParams", "check_routing_fits", "routing_tables", "source_address",
           "dest_rows", "expected_deliveries"]


@dataclass(frozen=True)
class RouterParams:
    """Elaboration-time sizes of a router.

    ``src_cores`` source cores of up to ``neurons`` neurons; ``dests`` destination ports;
    ``rows`` crossbar rows per destination (the row field holds ``0 .. rows-1``);
    ``table_depth`` entries in the entry table; ``fifo_depth`` entries per destination
    FIFO; ``counter_width`` bits per counter."""
    src_cores: int
    neurons: int
    dests: int
    rows: int
    table_depth: int
    fifo_depth: int = 2
    counter_width: int = 32

    def __post_init__(self):
        for name in ("src_cores", "neurons", "dests", "rows", "table_depth", "fifo_depth",
                     "counter_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"router {name} = {value!r} must be a positive integer")

    @property
    def neuron_bits(self) -> int:
        return index_width(self.neurons)

    @property
    def index_depth(self) -> int:
        return self.src_cores << self.neuron_bits

    @classmethod
    def from_topology(cls, topo: Topology, *, table_depth: int | None = None,
                      fifo_depth: int = 2, counter_width: int = 32) -> "RouterParams":
        """The smallest router for ``topo`` (a table exactly as deep as its entries unless
        ``table_depth`` is given); checked with :func:`check_routing_fits`."""
        s = topo.config.sizes
        entries = sum(len(v) for v in topo.routing.values())
        rows = max([c.n_rows for c in topo.cores] + [s.cores * s.neurons])
        params = cls(src_cores=s.layers * s.cores, neurons=s.neurons,
                     dests=s.layers * s.cores + 1, rows=rows,
                     table_depth=max(1, entries) if table_depth is None else table_depth,
                     fifo_depth=fifo_depth, counter_width=counter_width)
        check_routing_fits(topo, params)
        return params


def dest_rows(topo: Topology) -> list:
    """Rows of every destination of ``topo``: hidden cores, then the readout."""
    s = topo.config.sizes
    return [c.n_rows for c in topo.cores] + [s.cores * s.neurons]


def source_address(topo: Topology, neuron: int, params: RouterParams) -> int:
    """Index-table address of hidden neuron ``neuron``."""
    n = topo.config.sizes.neurons
    return (neuron // n) << params.neuron_bits | (neuron % n)


def check_routing_fits(topo: Topology, params: RouterParams) -> None:
    """Refuse ``topo`` if the router ``params`` cannot hold its routing table, or if a
    routing entry names a destination or row that does not exist."""
    s = topo.config.sizes
    n_src, n_dest = s.layers * s.cores, s.layers * s.cores + 1
    if n_src > params.src_cores:
        raise ConfigError(f"routing: {n_src} source cores (sizes.layers * sizes.cores) "
                          f"exceed the router's src_cores = {params.src_cores}")
    if s.neurons > params.neurons:
        raise ConfigError(f"routing: sizes.neurons = {s.neurons} exceeds the router's "
                          f"neurons = {params.neurons} per source core")
    if n_dest > params.dests:
        raise ConfigError(f"routing: {n_dest} destinations (hidden cores + readout) exceed "
                          f"the router's dests = {params.dests}")
    rows = dest_rows(topo)
    entries = 0
    for neuron, targets in sorted(topo.routing.items()):
        if not 0 <= neuron < s.hidden:
            raise ConfigError(f"routing: source neuron {neuron} does not exist "
                              f"(hidden neurons are 0..{s.hidden - 1})")
        for dest, row in targets:
            if not 0 <= dest < n_dest:
                raise ConfigError(f"routing: neuron {neuron} routes to destination {dest}, "
                                  f"which does not exist (destinations are 0..{n_dest - 1}: "
                                  f"hidden cores, then the readout {n_dest - 1})")
            if not 0 <= row < rows[dest]:
                raise ConfigError(f"routing: neuron {neuron} routes to row {row} of "
                                  f"destination {dest}, which has rows 0..{rows[dest] - 1}")
            if row >= params.rows:
                raise ConfigError(f"routing: neuron {neuron} routes to row {row}, beyond the "
                                  f"router's rows = {params.rows} (row field width)")
        entries += len(targets)
    if entries > params.table_depth:
        raise ConfigError(f"routing: the table has {entries} entries, more than the "
                          f"router's table_depth = {params.table_depth} "
                          f"(entry memory words)")


def routing_tables(topo: Topology, params: RouterParams) -> tuple[list, list]:
    """``(index, entries)`` to load into the router: ``index[address] = (offset, count)``
    for every index address (``(0, 0)`` where no neuron sits), ``entries[k] = (dest,
    row)``. Checks the topology first."""
    check_routing_fits(topo, params)
    index = [(0, 0)] * params.index_depth
    entries = []
    for neuron, targets in sorted(topo.routing.items()):
        index[source_address(topo, neuron, params)] = (len(entries), len(targets))
        entries.extend((int(d), int(r)) for d, r in targets)
    return index, entries


def expected_deliveries(topo: Topology, s_h) -> list:
    """The golden reference: per step, the sorted list of ``(dest, row)`` the router must
    deliver when the hidden neurons of ``s_h[t]`` (the golden model's recorded spikes)
    fire: every entry of ``topo.routing[j]`` for every ``j`` that spiked."""
    out = []
    for row in s_h:
        step = []
        for j, fired in enumerate(row):
            if fired:
                step.extend((int(d), int(r)) for d, r in topo.routing[j])
        out.append(sorted(step))
    return out
