"""The chip without plasticity: hidden cores, spike router, readout, input encoder and
step sequencer (:class:`Engine`), behind the UART host link (:class:`SwirlChip`), on a
board (:class:`BoardTop`). docs/build.md describes the structure and the budgets.

One step ``t`` (docs/architecture.md section 4), run by the sequencer in :class:`Engine`:

1. ``ENC``: the integrate-and-fire encoder visits the ``n_in`` channels (2 cycles each;
   its words live in the readout's block RAM); each input spike is offered as row ``i``
   to every layer-0 core at once.
2. ``ROUTE``: the hidden spikes of step ``t-1`` (a shift register of ``neurons`` bits
   per core, written by the last sweep) go into the router, one scanner per core
   (``neurons`` cycles); then ``step_end``, and the router drains (``step_done``):
   every routed row is in its crossbar. The cores replay their own spikes of ``t-1``
   (local rows) by themselves. ``BIAS``: the readout's bias row.
3. ``UPDATE``: ``update`` to every core and to the readout; each finishes its pending
   events, sweeps its neurons, and pulses ``done``. Hidden spikes go into the shift
   registers, readout spikes into the class counts.
4.-6. **Plasticity hook** (not built yet): after every ``done`` and before ``t+1``, the
   sequencer is in state ``LEARN``, which today passes straight on. The plasticity unit
   takes that state: it gets the cores' ``o_state`` (``psi``), the class counts, the
   label, and the secondary port of every weight bank (:class:`WeightBank`, the same one
   the host uses between samples), and answers with a done strobe.

After step ``T-1`` the prediction is the class with the largest count (lowest index on
ties).

Weights: each hidden core's crossbar reads a :class:`WeightBank` (one SPRAM on the UP5K
at ``lanes = 16 // widths.weight``); the readout's weights sit in the upper part of the
last core's bank and are read in the cycles that core's crossbar leaves free (the UP5K
has four SPRAMs and the default has four hidden cores). The host reads and writes all
banks through the same secondary port between samples.
"""
from __future__ import annotations

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import io, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.routing import RouterParams
from gen.topology import Topology

from .core import NeuronCore
from .crossbar import NO_RW_CHECK, EventLayout, read_port
from .host import BusSignature, HostLink
from .learn import LearningUnit
from .lif import REF_WIDTH, LifFire, leak_integrate, saturate
from .memory import WeightMemory
from .router import Router, SkidBuffer
from .uart import UartRx, UartTx

__all__ = ["Engine", "SwirlChip", "BoardTop", "WeightBank", "ReadoutCore", "SPACES",
           "STATUS_REGS", "info_bytes", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 2
SPACES = {"weights": 0, "route_index": 1, "route_entry": 2, "input": 3, "counts": 4,
          "status": 5, "lfsr": 6, "rates": 7}
STATUS_REGS = ["prediction", "cycles", "router_events", "router_deliveries",
               "router_stalls", "steps", "modulator_events", "gated_steps", "rows_swept",
               "weight_writes"]


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


# ---- weight banks -------------------------------------------------------------------------
class WeightBank(wiring.Component):
    """One weight memory with two users: ``a`` (a crossbar) always wins; ``b`` (the
    readout, the host, the learning unit) gets the cycles ``a`` leaves free,
    signalled by ``b_grant``. Same contract as ``WeightMemory``: ``rdata`` is valid the
    cycle after a granted read."""

    def __init__(self, *, width: int, depth: int, backend: str = "auto", init=None):
        self._mem = WeightMemory(width=width, depth=depth, backend=backend, init=init)
        aw = range(max(depth, 2))
        super().__init__({
            "a_addr": In(aw), "a_re": In(1), "a_we": In(1), "a_wdata": In(width),
            "b_addr": In(aw), "b_re": In(1), "b_we": In(1), "b_wdata": In(width),
            "b_grant": Out(1), "rdata": Out(width),
        })

    @property
    def memory(self) -> WeightMemory:
        return self._mem

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self._mem
        a_on = self.a_re | self.a_we
        m.d.comb += [
            self.b_grant.eq(~a_on),
            mem.addr.eq(Mux(a_on, self.a_addr, self.b_addr)),
            mem.re.eq(Mux(a_on, self.a_re, self.b_re)),
            mem.we.eq(Mux(a_on, self.a_we, self.b_we)),
            mem.wdata.eq(Mux(a_on, self.a_wdata, self.b_wdata)),
            self.rdata.eq(mem.rdata),
        ]
        return m


# ---- readout --------------------------------------------------------------------------------
class ReadoutCore(wiring.Component):
    """The readout population: ``rows`` axons (last-layer hidden neurons, then the bias
    row), ``neurons = classes * per_class`` LIF neurons with ``theta_out`` /
    ``leak_shift_out``, and the class counts.

    Weights come through a shared-bank port (``m_*``, a read only when ``m_grant``): row
    ``r`` is words ``base + r*W .. + W-1``, ``W = ceil(neurons / lanes)``, the crossbar
    layout. State is one block RAM (one read and one write port) of ``width =
    max(current, membrane [+ 8 refractory bits])`` bits: currents at ``0 .. R-1``,
    membranes at ``R .. 2R-1``, and ``aux_words`` words from the next power of two above
    ``2R - 1`` on for another user
    (the encoder), reachable through ``aux_*`` while the readout is idle.

    Timing: an event takes ``W`` weight reads (each waits for a free bank cycle) and one
    current read-modify-write per neuron, ``R + 2W + 1`` cycles without contention; the sweep
    takes 4 cycles a neuron. ``update`` / ``clear`` / ``done`` / ``busy`` as for
    ``NeuronCore``; ``counts[k]`` are the class spike counts since ``clear``, ``spikes``
    the last sweep's spikes (bit ``i`` neuron ``i``, for the teacher)."""

    def __init__(self, config, *, rows: int, lanes: int, base: int, depth: int,
                 aux_words: int = 0, aux_width: int = 1):
        s, w, d = config.sizes, config.widths, config.dynamics
        self._cfg = config
        self._rows, self._lanes, self._base = rows, lanes, base
        self._neurons = s.readout
        self._W = -(-s.readout // lanes)
        self._count_width = max(1, (s.per_class * s.steps).bit_length())
        self._use_ref = d.refractory > 0
        self.width = max(w.current, w.membrane + (REF_WIDTH if self._use_ref else 0),
                         aux_width)
        # the aux words from a power of two on: their address is a concatenation, no
        # adder in front of the memory (the encoder's path into it was the longest)
        self.aux_base = 1 << (2 * s.readout - 1).bit_length()
        self.state_depth = self.aux_base + aux_words
        super().__init__({
            "i_event": In(stream.Signature(EventLayout(rows))),
            "m_addr": Out(range(max(depth, 2))), "m_re": Out(1), "m_grant": In(1),
            "m_rdata": In(lanes * w.weight),
            "aux_addr": In(range(max(aux_words, 2))), "aux_re": In(1), "aux_we": In(1),
            "aux_wdata": In(self.width), "aux_rdata": Out(self.width),
            "update": In(1), "clear": In(1), "busy": Out(1), "done": Out(1),
            "counts": Out(unsigned(self._count_width)).array(s.classes),
            "spikes": Out(s.readout),
        })

    @property
    def words_per_row(self) -> int:
        return self._W

    @property
    def depth(self) -> int:
        return self._rows * self._W

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        s, wd, dy = cfg.sizes, cfg.widths, cfg.dynamics
        R, W, lanes = self._neurons, self._W, self._lanes
        ww, cw, mw = wd.weight, wd.current, wd.membrane
        use_ref = self._use_ref
        m.submodules.state = st = memory.Memory(shape=self.width,
                                                depth=max(self.state_depth, 2), init=[],
                                                attrs=NO_RW_CHECK)
        wr = st.write_port()
        # no state reads the word written in the same cycle (a read-modify-write writes
        # neuron n-1 while reading n): no bypass (it was on the critical path: host decode
        # -> write enable -> read data) and no collision logic
        rd = read_port(m, st, wr, collisions=False, name="state")
        k = (self.aux_base - 1).bit_length()        # aux_base = 2**k
        aux = Cat(self.aux_addr, C(0, k - len(self.aux_addr)), C(1, 1)) \
            if len(self.aux_addr) <= k else self.aux_base + self.aux_addr
        m.d.comb += [rd.addr.eq(aux), rd.en.eq(self.aux_re),
                     wr.addr.eq(aux), wr.en.eq(self.aux_we),
                     wr.data.eq(self.aux_wdata), self.aux_rdata.eq(rd.data)]

        m.submodules.lif = lif = LifFire(membrane_width=mw)
        m.d.comb += [lif.params.theta.eq(dy.theta_out),
                     lif.params.leak_shift.eq(dy.leak_shift_out),
                     lif.params.psi_window.eq(0), lif.params.refractory.eq(dy.refractory),
                     lif.params.reset_subtract.eq(int(dy.reset_subtract))]

        addr = Signal.like(self.m_addr)      # next weight word
        row_q = Signal.like(self.i_event.payload.row)
        wreg = Signal(lanes * ww)            # the weight word being added
        lane = Signal(range(max(lanes, 2)))
        n = Signal(range(2 * R + 1))         # neuron (word, when clearing)
        wb_valid = Signal()                  # a current read last cycle: write it back
        wb_n = Signal(range(max(R, 2)))
        wb_w = Signal(signed(ww))
        wb2_valid = Signal()                 # ... its new value, written this cycle
        wb2_n = Signal.like(wb_n)
        wb2_data = Signal(signed(cw))
        cur_q = Signal(signed(cw))
        v_q = Signal(signed(mw))             # the membrane read, and its refractory count
        ref_q = Signal(REF_WIDTH)
        v_int = Signal(signed(mw))           # leaked and integrated (S_UPD -> S_FIRE)
        pending = Signal()
        cls = Signal(range(s.classes + 1))
        within = Signal(range(s.per_class + 1))
        with m.If(self.update):
            m.d.sync += pending.eq(1)
        m.d.sync += [self.done.eq(0), wb_valid.eq(0), wb2_valid.eq(wb_valid)]

        # write-back stage of the current read-modify-write (any state)
        # the sum is registered, then written (one long path less: the add and the
        # saturation no longer meet the write multiplexers). Reads never overtake it: a
        # neuron's current is read again only by the next event (cycles later) or the
        # sweep, which waits for both stages.
        with m.If(wb_valid):
            m.d.sync += [wb2_n.eq(wb_n),
                         wb2_data.eq(saturate(rd.data[:cw].as_signed() + wb_w, signed(cw)))]
        with m.If(wb2_valid):
            m.d.comb += [wr.addr.eq(wb2_n), wr.en.eq(1), wr.data.eq(wb2_data)]

        def on_clear():
            with m.If(self.clear):
                m.d.sync += [n.eq(0), pending.eq(0), wb_valid.eq(0), wb2_valid.eq(0)]
                m.d.sync += [c.eq(0) for c in self.counts]
                m.next = "CLEAR"

        with m.FSM(init="CLEAR") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.i_event.ready.eq(~pending)
                with m.If(self.i_event.valid & ~pending):
                    m.d.sync += [row_q.eq(self.i_event.payload.row), n.eq(0)]
                    m.next = "ADDR"
                with m.Elif(pending & ~self.update):
                    m.d.sync += [pending.eq(0), n.eq(0), cls.eq(0), within.eq(0)]
                    m.next = "S_CUR"
                on_clear()
            # accumulate one event: its first word's address (a cycle of its own: off the
            # path from the router's output), a weight word, then its lanes one neuron a
            # cycle
            with m.State("ADDR"):
                m.d.sync += addr.eq(self._base + row_q * W)
                m.next = "FETCH"
                on_clear()
            with m.State("FETCH"):
                m.d.comb += [self.m_addr.eq(addr), self.m_re.eq(self.m_grant)]
                with m.If(self.m_grant):
                    m.d.sync += addr.eq(addr + 1)
                    m.next = "LATCH"
                on_clear()
            with m.State("LATCH"):
                m.d.sync += [wreg.eq(self.m_rdata), lane.eq(0)]
                m.next = "LANES"
                on_clear()
            with m.State("LANES"):
                m.d.comb += [rd.addr.eq(n), rd.en.eq(1)]
                m.d.sync += [wb_valid.eq(1), wb_n.eq(n),
                             wb_w.eq(wreg.word_select(lane, ww).as_signed()),
                             n.eq(n + 1), lane.eq(lane + 1)]
                with m.If(n == R - 1):
                    m.next = "IDLE"
                with m.Elif(lane == lanes - 1):
                    m.next = "FETCH"
                on_clear()
            # sweep: 3 cycles a neuron (current, membrane, update)
            with m.State("S_CUR"):
                with m.If(~wb_valid & ~wb2_valid):
                    m.d.comb += [rd.addr.eq(n), rd.en.eq(1)]
                    m.next = "S_MEM"
                on_clear()
            with m.State("S_MEM"):
                m.d.sync += cur_q.eq(rd.data[:cw].as_signed())
                m.d.comb += [rd.addr.eq(R + n), rd.en.eq(1),
                             wr.addr.eq(n), wr.data.eq(0), wr.en.eq(1)]
                m.next = "S_UPD"
                on_clear()
            # 4 cycles a neuron: the LIF update is split in two halves (one was the
            # chip's longest path)
            with m.State("S_UPD"):
                m.d.sync += [v_q.eq(rd.data[:mw].as_signed()),
                             ref_q.eq(rd.data[mw:mw + REF_WIDTH] if use_ref else 0),
                             v_int.eq(leak_integrate(rd.data[:mw].as_signed(), cur_q,
                                                     dy.leak_shift_out, mw))]
                m.next = "S_FIRE"
                on_clear()
            with m.State("S_FIRE"):
                m.d.comb += [lif.v.eq(v_q), lif.ref.eq(ref_q), lif.v_int.eq(v_int),
                             wr.addr.eq(R + n), wr.en.eq(1),
                             wr.data.eq(Cat(lif.v_out, lif.ref_out) if use_ref
                                        else lif.v_out)]
                # this step's spikes, neuron i in bit i once the sweep is done
                m.d.sync += self.spikes.eq(Cat(self.spikes[1:], lif.spike))
                with m.If(lif.spike):
                    with m.Switch(cls):
                        for k in range(s.classes):
                            with m.Case(k):
                                m.d.sync += self.counts[k].eq(self.counts[k] + 1)
                with m.If(within == s.per_class - 1):
                    m.d.sync += [within.eq(0), cls.eq(cls + 1)]
                with m.Else():
                    m.d.sync += within.eq(within + 1)
                m.d.sync += n.eq(n + 1)
                with m.If(n == R - 1):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "S_CUR"
                on_clear()
            # zero currents and membranes, one word a cycle
            with m.State("CLEAR"):
                m.d.comb += [wr.addr.eq(n), wr.data.eq(0), wr.en.eq(1)]
                m.d.sync += n.eq(n + 1)
                with m.If(n == 2 * R - 1):
                    m.next = "IDLE"
                on_clear()
        m.d.comb += self.busy.eq(pending | ~fsm.ongoing("IDLE"))
        return m


# ---- the engine -------------------------------------------------------------------------------
class Engine(wiring.Component):
    """Cores + router + readout + encoder + sequencer, driven through ``bus``
    (rtl.host.BusSignature, flipped). Everything is sized from ``topo`` (its config).
    ``lanes``: weights per memory word (``16 // widths.weight`` fills one SPRAM word).

    ``share``: logical cores (the topology's) per physical ``NeuronCore``. With 2, cores
    ``2p`` and ``2p + 1`` of a layer time-share core ``p`` and its weight bank (their rows
    one after the other): half the cores' logic and block RAM, at half the weight-memory
    bandwidth. The host, the router, the learning unit and the golden model still see
    logical cores and banks; the engine maps them (``core_of``, ``row_base``,
    ``word_base``)."""

    def __init__(self, topo: Topology, *, lanes: int = 2, backend: str = "auto",
                 fifo_depth: int = 1, counter_width: int = 16, learning: bool = True,
                 weights=None, share: int = 1):
        cfg = topo.config
        s = cfg.sizes
        if not isinstance(share, int) or share < 1 or s.cores % share:
            raise ValueError(f"share = {share!r} must be a positive integer dividing "
                             f"sizes.cores = {s.cores} (the cores of a layer)")
        self.topo, self.config, self.lanes, self.share = topo, cfg, lanes, share
        # depth-1 FIFOs keep the full rate (rtl/router.py DestFifo); 16-bit counters are
        # per sample (cleared by RUN) and wrap past 65535
        self.router_params = RouterParams.from_topology(topo, fifo_depth=fifo_depth,
                                                        counter_width=counter_width)
        W = -(-s.neurons // lanes)
        self.n_hidden_cores = len(topo.cores)            # logical
        self.groups = [list(range(p, p + share))
                       for p in range(0, self.n_hidden_cores, share)]
        self.core_of, self.row_base, self.word_base = [], [], []
        for p, group in enumerate(self.groups):
            base = 0
            for g in group:
                self.core_of.append(p)
                self.row_base.append(base)
                self.word_base.append(base * W)
                base += topo.cores[g].n_rows
        self.bank_depths = [rows.n_rows * W for rows in topo.cores]    # logical banks
        self.cores = [NeuronCore.from_config(
            cfg, [topo.cores[g] for g in group] if share > 1 else topo.cores[group[0]],
            lanes=lanes, backend=backend, external_weights=True) for group in self.groups]
        self.readout_rows = s.cores * s.neurons + int(cfg.topology.readout_bias)
        self.readout_host = len(self.cores) - 1        # physical bank holding the readout
        self.word_width = lanes * cfg.widths.weight
        hd = self.cores[self.readout_host].crossbar.depth
        self.readout_base = hd
        ro_W = -(-s.readout // lanes)
        self.readout_depth = self.readout_rows * ro_W
        # ``weights`` (a sim.model.Network): initial bank contents, where the memory can
        # take them (block RAM; not SPRAM)
        inits = [None] * len(self.cores)
        if weights is not None:
            from sim.host import weight_words
            words = weight_words(weights, lanes)
            inits = [sum((words[g] for g in group), []) for group in self.groups]
            inits[self.readout_host] = inits[self.readout_host] + words[-1]
        self.banks = []
        for p, core in enumerate(self.cores):
            depth = core.crossbar.depth + (self.readout_depth if p == self.readout_host else 0)
            self.banks.append(WeightBank(width=self.word_width, depth=depth, backend=backend,
                                         init=inits[p]))
        self.readout = ReadoutCore(cfg, rows=self.readout_rows, lanes=lanes,
                                   base=self.readout_base, depth=self.banks[-1].memory.depth,
                                   aux_words=s.n_in, aux_width=2 * cfg.widths.encoder)
        self.router = Router(self.router_params)
        self.learner = LearningUnit(topo, lanes=lanes, readout_base=self.readout_base,
                                    depth=max(b.memory.depth for b in self.banks),
                                    counter_width=counter_width,
                                    bank_map=list(zip(self.core_of, self.word_base)),
                                    readout_host=self.readout_host) if learning else None
        super().__init__({"bus": In(BusSignature())})

    # what the host sees: words per (space, bank)
    def depths(self) -> dict:
        s, p = self.config.sizes, self.router_params
        return {
            SPACES["weights"]: self.bank_depths + [self.readout_depth],
            SPACES["route_index"]: [p.index_depth],
            SPACES["route_entry"]: [p.table_depth],
            SPACES["input"]: [s.n_in],
            SPACES["counts"]: [s.classes],
            SPACES["status"]: [len(STATUS_REGS)],
            **({SPACES["lfsr"]: [self.n_hidden_cores + 1], SPACES["rates"]: [2]}
               if self.learner else {}),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        s, wd, dy = cfg.sizes, cfg.widths, cfg.dynamics
        G, N = self.n_hidden_cores, s.neurons
        bus = self.bus
        lu = self.learner
        m.submodules.router = router = self.router
        m.submodules.readout = ro = self.readout
        for g, (core, bank) in enumerate(zip(self.cores, self.banks)):
            m.submodules[f"core{g}"] = core
            m.submodules[f"bank{g}"] = bank
            port = core.weights          # the crossbar's port onto the shared bank
            m.d.comb += [bank.a_addr.eq(port.addr), bank.a_re.eq(port.re),
                         bank.a_we.eq(port.we), bank.a_wdata.eq(port.wdata),
                         port.rdata.eq(bank.rdata)]
            p = core.params
            m.d.comb += [p.theta.eq(dy.theta), p.leak_shift.eq(dy.leak_shift),
                         p.psi_window.eq(cfg.learning.psi_window),
                         p.refractory.eq(dy.refractory),
                         p.reset_subtract.eq(int(dy.reset_subtract))]

        running = Signal()
        phase = Signal(3)          # 1 ENC, 2 ROUTE, other: neither
        PH_ENC, PH_ROUTE = 1, 2

        # ---- status registers ----------------------------------------------------------
        cycles = Signal(24)
        prediction = Signal(8)
        steps_done = Signal(range(s.steps + 1))
        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)

        # ---- readout weights through the last bank's secondary port -----------------
        hb = self.banks[self.readout_host]
        m.d.comb += ro.m_grant.eq(hb.b_grant), ro.m_rdata.eq(hb.rdata)

        # ---- host bus (between samples) ---------------------------------------------------
        P = len(self.banks)             # physical banks (G logical ones with share 1)
        host_rd_pending = Signal()
        host_rd_bank = Signal(range(P + 2))
        rdata = Signal(32)
        # the host's request and the answer, both registered: no path from the host
        # link's state machine through the bank multiplexers and back (each was the
        # critical path in turn). A request is latched, served (``ack``), and answered a
        # cycle later (``bus.ack``); the next one is latched after that.
        h_req, h_we, ack_q = Signal(), Signal(), Signal()
        h_space, h_bank = Signal(8), Signal(8)
        h_addr, h_wdata = Signal(16), Signal(32)
        h_waddr = Signal(range(max(b.memory.depth for b in self.banks) + 1))
        rdata_q = Signal(32)
        with m.If(bus.req & ~h_req & ~ack_q):
            m.d.sync += [h_req.eq(1), h_we.eq(bus.we), h_space.eq(bus.space),
                         h_bank.eq(bus.bank), h_addr.eq(bus.addr), h_wdata.eq(bus.wdata)]
            # a weight word's address in its physical bank, added here (it was on the
            # path into the SPRAM's address)
            m.d.sync += h_waddr.eq(bus.addr)
            with m.Switch(bus.bank):
                for g in range(G):
                    if self.word_base[g]:
                        with m.Case(g):
                            m.d.sync += h_waddr.eq(self.word_base[g] + bus.addr)
                with m.Case(G):
                    m.d.sync += h_waddr.eq(self.readout_base + bus.addr)
        m.d.comb += [bus.ack.eq(ack_q), bus.rdata.eq(rdata_q)]
        m.d.sync += host_rd_pending.eq(0)
        for g, bank in enumerate(self.banks):
            m.d.comb += [bank.b_addr.eq(h_waddr), bank.b_wdata.eq(h_wdata)]
        m.d.comb += hb.b_addr.eq(Mux(running, ro.m_addr, h_waddr))
        m.d.comb += hb.b_re.eq(running & ro.m_re)
        if lu is not None:
            # the plasticity sweep runs while the crossbars and the readout are idle
            with m.If(lu.mem_active):
                with m.Switch(lu.mem_bank):
                    for g, bank in enumerate(self.banks):
                        with m.Case(g):
                            m.d.comb += [bank.b_addr.eq(lu.mem.addr), bank.b_re.eq(lu.mem.re),
                                         bank.b_we.eq(lu.mem.we),
                                         bank.b_wdata.eq(lu.mem.wdata),
                                         lu.mem.rdata.eq(bank.rdata)]

        n_in_bits = _bits(max(s.n_in, 2))
        ew = wd.encoder
        # the encoder's words (intensity, accumulator) live in the readout's block RAM

        counts = ro.counts
        learn_stats = [lu.mod_events, lu.gated_steps, lu.rows_swept, lu.weight_writes] \
            if lu is not None else [0, 0, 0, 0]
        status_vals = Array([prediction, cycles, router.events, router.deliveries,
                             router.stalls, steps_done, *learn_stats])
        with m.If(host_rd_pending):
            with m.Switch(host_rd_bank):
                for p, bank in enumerate(self.banks):
                    with m.Case(p):
                        m.d.comb += rdata.eq(bank.rdata)
                with m.Case(P):   # readout words: in the last bank
                    m.d.comb += rdata.eq(hb.rdata)
        with m.If(h_space == SPACES["input"]):
            m.d.comb += rdata.eq(ro.aux_rdata[:ew])

        ack = Signal()
        m.d.sync += [ack_q.eq(ack), rdata_q.eq(rdata)]
        with m.If(ack):
            m.d.sync += h_req.eq(0)
        with m.If(h_req & ~running & ~host_rd_pending):
            with m.Switch(h_space):
                with m.Case(SPACES["weights"]):
                    with m.Switch(h_bank):
                        for g in range(G):       # logical bank g: its words in bank p
                            p, bank = self.core_of[g], self.banks[self.core_of[g]]
                            with m.Case(g):
                                m.d.comb += [bank.b_we.eq(h_we), bank.b_re.eq(~h_we)]
                                if self.word_base[g]:
                                    m.d.comb += bank.b_addr.eq(h_waddr)
                                with m.If(bank.b_grant):
                                    with m.If(h_we):
                                        m.d.comb += ack.eq(1)
                                    with m.Else():
                                        m.d.sync += [host_rd_pending.eq(1),
                                                     host_rd_bank.eq(p)]
                        with m.Case(G):
                            m.d.comb += [hb.b_addr.eq(h_waddr),
                                         hb.b_we.eq(h_we), hb.b_re.eq(~h_we)]
                            with m.If(hb.b_grant):
                                with m.If(h_we):
                                    m.d.comb += ack.eq(1)
                                with m.Else():
                                    m.d.sync += [host_rd_pending.eq(1), host_rd_bank.eq(P)]
                with m.Case(SPACES["route_index"]):
                    m.d.comb += [router.load_index.en.eq(h_we),
                                 router.load_index.addr.eq(h_addr),
                                 router.load_index.data.eq(h_wdata), ack.eq(1)]
                with m.Case(SPACES["route_entry"]):
                    m.d.comb += [router.load_entry.en.eq(h_we),
                                 router.load_entry.addr.eq(h_addr),
                                 router.load_entry.data.eq(h_wdata), ack.eq(1)]
                with m.Case(SPACES["input"]):
                    m.d.comb += [ro.aux_we.eq(h_we), ro.aux_addr.eq(h_addr),
                                 ro.aux_wdata.eq(h_wdata[:ew])]
                    with m.If(h_we):
                        m.d.comb += ack.eq(1)
                    with m.Else():
                        m.d.comb += ro.aux_re.eq(1)
                        m.d.sync += [host_rd_pending.eq(1), host_rd_bank.eq(P + 1)]
                with m.Case(SPACES["counts"]):
                    m.d.comb += [ack.eq(1), rdata.eq(Array(counts)[h_addr[:_bits(s.classes)]])]
                with m.Case(SPACES["status"]):
                    m.d.comb += [ack.eq(1), rdata.eq(status_vals[h_addr[:4]])]
                if lu is not None:
                    with m.Case(SPACES["lfsr"]):
                        m.d.comb += [ack.eq(1), lu.lfsr_sel.eq(h_addr),
                                     rdata.eq(lu.lfsr_state),
                                     lu.lfsr_load.en.eq(h_we), lu.lfsr_load.bank.eq(h_addr),
                                     lu.lfsr_load.data.eq(h_wdata)]
                    with m.Case(SPACES["rates"]):
                        m.d.comb += [ack.eq(1), lu.shift_we.eq(h_we), lu.shift_sel.eq(h_addr[0]),
                                     lu.shift_wdata.eq(h_wdata),
                                     rdata.eq(Mux(h_addr[0], lu.eta_readout_shift,
                                                  lu.eta_hidden_shift))]
                with m.Default():
                    m.d.comb += ack.eq(1)
        with m.If(host_rd_pending):
            m.d.comb += ack.eq(1)

        # ---- the step's neuron bits: each physical core's sweep writes every neuron's
        # spike (and psi) into a small block RAM, ``spikes<p>`` (word n: neuron n of the
        # core; shift registers of these bits took a logic cell each). In the next step's
        # ROUTE the scanner reads it one word a cycle and offers each spike to the router
        # (holding it until taken); in LEARN the learning unit reads it.
        s_in = Signal(s.n_in)           # the encoder's spikes of this step, shifted in
        SN = self.share * N             # neurons of a physical core
        nb = len(router.i[0].payload.neuron)
        cb = len(router.i[0].payload.core)
        scan_go = Signal()
        first_step = Signal()           # no spikes of a step before: nothing to scan
        lu_rel = Signal(range(max(SN, 2)))       # the learning unit's neuron, in its core
        lu_sel, lu_sel_q = Signal(range(max(P, 2))), Signal(range(max(P, 2)))
        if lu is not None:
            m.d.comb += [lu_rel.eq(lu.hidden_addr), lu_sel.eq(0)]
            for p in range(1, P):
                with m.If(lu.hidden_addr >= p * SN):
                    m.d.comb += [lu_rel.eq(lu.hidden_addr - p * SN), lu_sel.eq(p)]
            m.d.sync += lu_sel_q.eq(lu_sel)
        skids, scans, bits_out = [], [], []
        for p, core in enumerate(self.cores):
            m.d.comb += core.o_spike.ready.eq(1)
            m.submodules[f"spikes{p}"] = smem = memory.Memory(
                shape=2 if lu is not None else 1, depth=max(SN, 2), init=[],
                attrs=NO_RW_CHECK)          # written in the sweep, read after it
            wr = smem.write_port()
            rd = read_port(m, smem, wr, collisions=False, name=f"spikes{p}")
            m.d.comb += [wr.addr.eq(core.o_state.neuron), wr.en.eq(core.o_state.valid),
                         wr.data.eq(Cat(core.o_state.spike, core.o_state.psi)
                                    if lu is not None else core.o_state.spike)]
            bits_out.append(rd.data)
            # scanner: ``sp`` is the neuron whose word ``rd.data`` holds (once ``have``)
            sp = Signal(range(SN + 1), name=f"scan{p}")
            have = Signal(name=f"scan_have{p}")
            scans.append(sp)
            g0 = self.groups[p][0]
            m.submodules[f"scan_skid{p}"] = skid = SkidBuffer(
                len(router.i[g0].payload.as_value()))
            skids.append(skid)
            active = scan_go & (sp < SN)
            # logical core and neuron of sp
            lcore, lneuron = Signal(cb), Signal(nb)
            m.d.comb += [lcore.eq(g0), lneuron.eq(sp)]
            for i in range(1, self.share):
                with m.If(sp >= i * N):
                    m.d.comb += [lcore.eq(g0 + i), lneuron.eq(sp - i * N)]
            spike = rd.data[0]
            m.d.comb += [skid.i.valid.eq(active & have & spike),
                         skid.i.payload.eq(Cat(lneuron, lcore)),
                         router.i[g0].valid.eq(skid.o.valid),
                         router.i[g0].payload.eq(skid.o.payload),
                         skid.o.ready.eq(router.i[g0].ready)]
            for g in self.groups[p][1:]:          # one scanner a physical core
                m.d.comb += router.i[g].valid.eq(0)
            with m.If(phase == PH_ROUTE):
                with m.If(active & ~have):
                    m.d.comb += [rd.addr.eq(sp), rd.en.eq(1)]
                    m.d.sync += have.eq(1)
                with m.Elif(active & (~spike | skid.i.ready)):
                    m.d.comb += [rd.addr.eq(sp + 1), rd.en.eq(1)]
                    m.d.sync += sp.eq(sp + 1)
            with m.Else():
                m.d.comb += [rd.addr.eq(lu_rel), rd.en.eq(1)]
                m.d.sync += have.eq(0)
        if lu is not None:
            data_q = Array(bits_out)[lu_sel_q]
            m.d.comb += [lu.hidden_spike.eq(data_q[0]), lu.hidden_psi.eq(data_q[1])]
            # the input spikes: a chain the learning unit rotates (a full turn in a step)
            with m.If(lu.spike_rotate):
                m.d.sync += s_in.eq(Cat(s_in[1:], s_in[0]))
            m.d.comb += lu.spike_head.eq(s_in[0])
        # every spike is in the router (none waits in a skid buffer) before step_end
        scans_done = Cat(*(sc == SN for sc in scans), *(~sk.full for sk in skids)).all()

        # ---- cores' event inputs: encoder broadcast (ENC) or router (ROUTE) ---------
        enc_offer = Signal()
        enc_row = Signal(n_in_bits)
        enc_pend = Signal(G)
        layer0 = [g for g in range(G) if g < s.cores]
        # a shared core takes its logical cores' events one at a time (the first with one
        # waiting), each row moved to where that logical core's rows start. A register
        # slice per core (``ev_*``) cuts the path from the sequencer's state and the
        # router's outputs into the core's arbiter and crossbar (the longest path of the
        # shared chip); the sequencer waits for the slices to empty before ``update``.
        slices_empty = []
        for p, (core, group) in enumerate(zip(self.cores, self.groups)):
            ev_valid = Signal(name=f"ev_valid{p}")
            ev_row = Signal.like(core.i_event.payload.row, name=f"ev_row{p}")
            offer_valid = Signal(name=f"offer_valid{p}")
            offer_row = Signal.like(ev_row, name=f"offer_row{p}")
            offer_ready = Signal(name=f"offer_ready{p}")
            m.d.comb += [offer_ready.eq(~ev_valid | core.i_event.ready),
                         core.i_event.valid.eq(ev_valid), core.i_event.payload.row.eq(ev_row)]
            with m.If(offer_ready):
                m.d.sync += [ev_valid.eq(offer_valid), ev_row.eq(offer_row)]
            slices_empty.append(~ev_valid)
            with m.If(phase == PH_ENC):
                for g in reversed(group):
                    if g in layer0:
                        with m.If(enc_offer & enc_pend[g]):
                            m.d.comb += [offer_valid.eq(1),
                                         offer_row.eq(self.row_base[g] + enc_row)]
                for i, g in enumerate(group):
                    if g in layer0:
                        first = Cat(*(enc_pend[h] for h in group[:i] if h in layer0)) == 0
                        with m.If(offer_ready & first):
                            m.d.sync += enc_pend[g].eq(0)
            with m.Elif(phase == PH_ROUTE):
                for g in reversed(group):
                    o = router.o[g]
                    with m.If(o.valid):
                        m.d.comb += [offer_valid.eq(1),
                                     offer_row.eq(self.row_base[g] + o.payload.row)]
                for i, g in enumerate(group):
                    earlier = Cat(*(router.o[h].valid for h in group[:i])) == 0
                    m.d.comb += router.o[g].ready.eq(offer_ready & earlier)
        bias_offer = Signal()
        o_ro = router.o[G]
        with m.If(bias_offer):
            m.d.comb += [ro.i_event.valid.eq(1),
                         ro.i_event.payload.row.eq(self.readout_rows - 1)]
        with m.Elif(phase == PH_ROUTE):
            m.d.comb += [ro.i_event.valid.eq(o_ro.valid),
                         ro.i_event.payload.row.eq(o_ro.payload.row),
                         o_ro.ready.eq(ro.i_event.ready)]

        # ---- plasticity: phases 4-6 after every step's sweep (rtl/learn.py) ------------
        hold = Signal()                 # keep the cores' local replay off the weights
        for core in self.cores:
            m.d.comb += core.hold.eq(hold)
        if lu is not None:
            m.submodules.learner = lu
            m.d.comb += [lu.learn.eq(bus.learn), lu.label.eq(bus.label),
                         lu.spikes_r.eq(ro.spikes)]

        # ---- sequencer -------------------------------------------------------------------
        t = Signal(range(s.steps + 1))
        ch = Signal(range(s.n_in + 1))
        done_flags = Signal(P + 1)      # physical cores, then the readout
        all_done = Signal()
        m.d.comb += all_done.eq(done_flags.all())
        for p, core in enumerate(self.cores):
            with m.If(core.done):
                m.d.sync += done_flags[p].eq(1)
        with m.If(ro.done):
            m.d.sync += done_flags[P].eq(1)
        busy_any = Cat(*(c.busy for c in self.cores), ro.busy,
                       *([lu.busy] if lu is not None else [])).any()
        best = Signal(8)
        best_count = Signal.like(counts[0])
        k = Signal(range(s.classes + 1))
        enc_u = ro.aux_rdata[:ew]
        enc_acc = Mux(t == 0, 0, ro.aux_rdata[ew:2 * ew])
        enc_sum = Signal(ew + 1)        # registered (ENC_ADD): the read, the add, the
        enc_u_q = Signal(ew)            # compare and the write were one long path
        enc_fire = enc_sum >= dy.enc_theta
        m.d.comb += bus.run_done.eq(0)
        # RUN registered: no path from the host link's state machine into the clears of
        # the cores and the readout
        run_q = Signal()
        m.d.sync += run_q.eq(bus.run)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(run_q):
                    m.d.sync += [running.eq(1), cycles.eq(0), t.eq(0), steps_done.eq(0)]
                    m.d.comb += [ro.clear.eq(1), router.clear.eq(1)]
                    if lu is not None:
                        m.d.comb += [lu.clear.eq(1), lu.clear_counters.eq(1)]
                    for core in self.cores:
                        m.d.comb += core.clear.eq(1)
                    m.d.sync += first_step.eq(1)
                    m.next = "CLEARING"
            with m.State("CLEARING"):
                with m.If(~busy_any):
                    m.d.sync += [phase.eq(PH_ENC), ch.eq(0)]
                    m.next = "ENC_READ"
            # 1. encoder: read channel ch, add, then compare, write back, offer the spike
            with m.State("ENC_READ"):
                with m.If(ch == s.n_in):
                    m.d.sync += [phase.eq(PH_ROUTE), scan_go.eq(1), first_step.eq(0)]
                    m.d.sync += [sc.eq(Mux(first_step, SN, 0)) for sc in scans]
                    m.next = "ROUTE"
                with m.Else():
                    m.d.comb += [ro.aux_re.eq(1), ro.aux_addr.eq(ch)]
                    m.next = "ENC_ADD"
            with m.State("ENC_ADD"):
                m.d.sync += [enc_sum.eq(enc_u + enc_acc), enc_u_q.eq(enc_u)]
                m.next = "ENC_CALC"
            with m.State("ENC_CALC"):
                m.d.comb += [ro.aux_we.eq(1), ro.aux_addr.eq(ch),
                             ro.aux_wdata.eq(Cat(enc_u_q, Mux(enc_fire, enc_sum - dy.enc_theta,
                                                              enc_sum)[:ew]))]
                m.d.sync += s_in.eq(Cat(s_in[1:], enc_fire))      # channel ch, in order
                with m.If(enc_fire):
                    m.d.sync += [enc_row.eq(ch), enc_pend.eq(sum(1 << g for g in layer0))]
                    m.next = "ENC_OFFER"
                with m.Else():
                    m.d.sync += ch.eq(ch + 1)
                    m.next = "ENC_READ"
            with m.State("ENC_OFFER"):
                m.d.comb += enc_offer.eq(1)
                with m.If(enc_pend == 0):
                    m.d.sync += ch.eq(ch + 1)
                    m.next = "ENC_READ"
            # 2. routed spikes of step t-1, then the router's barrier
            with m.State("ROUTE"):
                with m.If(scans_done):
                    m.d.comb += router.step_end.eq(1)
                    m.d.sync += scan_go.eq(0)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(router.step_done):
                    m.d.sync += [phase.eq(0), bias_offer.eq(int(cfg.topology.readout_bias))]
                    m.next = "BIAS"
            # the readout's bias row: a source that spikes every step
            with m.State("BIAS"):
                with m.If(ro.i_event.ready):
                    m.d.sync += bias_offer.eq(0)
                with m.If((~bias_offer | ro.i_event.ready) & Cat(*slices_empty).all()):
                    m.next = "UPDATE"
            # 3. neurons
            with m.State("UPDATE"):
                m.d.sync += hold.eq(1)
                m.d.comb += ro.update.eq(1)
                for core in self.cores:
                    m.d.comb += core.update.eq(1)
                m.d.sync += done_flags.eq(0)
                m.next = "SWEEP"
            with m.State("SWEEP"):
                with m.If(all_done):
                    if lu is not None:
                        m.d.comb += lu.start.eq(1)
                        m.next = "LEARN"
                    else:
                        m.next = "NEXT"
            # 4.-6. teacher, plasticity sweep and traces (rtl/learn.py)
            if lu is not None:
                with m.State("LEARN"):
                    with m.If(lu.done):
                        m.next = "NEXT"
            with m.State("NEXT"):
                m.d.sync += [t.eq(t + 1), steps_done.eq(steps_done + 1), hold.eq(0)]
                with m.If(t == s.steps - 1):
                    m.d.sync += [k.eq(0), best.eq(0), best_count.eq(0)]
                    m.next = "PREDICT"
                with m.Else():
                    m.d.sync += [phase.eq(PH_ENC), ch.eq(0)]
                    m.next = "ENC_READ"
            with m.State("PREDICT"):
                with m.If(k == s.classes):
                    m.d.sync += [prediction.eq(best), running.eq(0)]
                    m.d.comb += bus.run_done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    cnt = Signal.like(counts[0])
                    m.d.comb += cnt.eq(Array(counts)[k[:_bits(s.classes)]])
                    with m.If((k == 0) | (cnt > best_count)):
                        m.d.sync += [best.eq(k), best_count.eq(cnt)]
                    m.d.sync += k.eq(k + 1)
        return m


def info_bytes(engine: Engine) -> bytes:
    """What PING returns: b"SWRL", protocol version, classes, n_in, hidden cores, lanes,
    steps (2 bytes, little endian), flags (bit 0: on-chip learning built in)."""
    s = engine.config.sizes
    return b"SWRL" + bytes([PROTOCOL_VERSION, s.classes, s.n_in & 0xFF,
                            engine.n_hidden_cores, engine.lanes]) + \
        s.steps.to_bytes(2, "little") + bytes([int(engine.learner is not None)])


class SwirlChip(wiring.Component):
    """UART receiver and transmitter, host link and engine: ``rx`` in, ``tx`` out."""

    def __init__(self, topo: Topology, *, divisor: int, lanes: int = 2,
                 backend: str = "auto", timeout: int | None = None, learning: bool = True,
                 weights=None, share: int = 1):
        self.engine = Engine(topo, lanes=lanes, backend=backend, learning=learning,
                             weights=weights, share=share)
        self.divisor = divisor
        self.host = HostLink(depths=self.engine.depths(), info=info_bytes(self.engine),
                             timeout=timeout if timeout is not None else divisor * 10 * 64)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        m.submodules.host = host = self.host
        m.submodules.uart_rx = rx = UartRx(self.divisor)
        m.submodules.uart_tx = tx = UartTx(self.divisor)
        wiring.connect(m, rx.o, host.i)
        wiring.connect(m, host.o, tx.i)
        wiring.connect(m, host.bus, engine.bus)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        return m


class BoardTop(wiring.Component):
    """The chip on a board: the UART resource's pins, the default clock."""

    def __init__(self, topo: Topology, *, clock_hz: float, baud: int = 115200,
                 lanes: int = 2, backend: str = "auto", learning: bool = True,
                 weights=None, share: int = 1):
        from .uart import divisor_for
        self.chip = SwirlChip(topo, divisor=divisor_for(clock_hz, baud), lanes=lanes,
                              backend=backend, learning=learning, weights=weights,
                              share=share)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.chip = chip = self.chip
        if platform is not None:
            uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
            m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
            m.d.comb += [chip.rx.eq(rx_buf.i), tx_buf.o.eq(chip.tx)]
        return m
