# amaranth: UnusedElaboratable=no
"""Level 2 of docs/architecture.md section 4: the small RTL pieces in the Amaranth
simulator, against the golden model (LIF update) or plain integer arithmetic (saturation,
memory, crossbar sums)."""
import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal, signed, unsigned

from rtl.crossbar import Crossbar
from rtl.lif import LifUpdate, saturate
from rtl.memory import WeightMemory
from sim.fixed import sat_signed, sat_unsigned
from sim.harness import pack_rows
from sim.model import lif_step

from amaranth_sim import simulate




SAT_SHAPES = [(signed(7), signed(4)), (signed(7), unsigned(3)), (signed(4), signed(4)),
              (signed(4), signed(6)), (signed(4), unsigned(3)), (signed(4), unsigned(6)),
              (signed(2), unsigned(1)), (unsigned(5), signed(3)), (unsigned(5), signed(6)),
              (unsigned(5), signed(5)), (unsigned(5), unsigned(2)), (unsigned(5), unsigned(5)),
              (unsigned(3), unsigned(6)), (signed(1), signed(1)), (signed(5), signed(1))]


@pytest.mark.parametrize("src,shape", SAT_SHAPES)
def test_saturate_exhaustive(src, shape):
    """Every value of ``src`` into ``shape`` (narrower, equal, wider; any signedness)."""
    m = Module()
    x = Signal(src)
    y = Signal(shape)
    out = saturate(x, shape)
    assert out.shape() == shape
    m.d.comb += y.eq(out)
    sat = sat_signed if shape.signed else sat_unsigned
    values = (range(-(1 << src.width - 1), 1 << src.width - 1) if src.signed
              else range(1 << src.width))
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(x, v)
            got.append(ctx.get(y))

    simulate(m, bench, clock=False)
    assert got == [int(sat(v, shape.width)) for v in values]


# (membrane, current) widths; parameter sets (theta, leak_shift, psi_window, refractory,
# reset_subtract); every (v, i) pair for the narrow widths, random ones for the wide
LIF_CASES = [
    ((4, 4), [(1, 1, 0, 0, True), (7, 3, 7, 2, False), (4, 2, 3, 0, True),
              (3, 1, 1, 255, False), (5, 2, 6, 1, True)]),
    ((16, 18), [(192, 3, 192, 0, True), (32767, 15, 32767, 3, False), (1, 1, 0, 0, True)]),
    ((32, 32), [(2**31 - 1, 31, 2**31 - 1, 255, True), (1000, 1, 7, 0, False)]),
]


@pytest.mark.parametrize("widths,param_sets", LIF_CASES, ids=["narrowest", "default", "widest"])
def test_lif_update_matches_model(widths, param_sets):
    mb, cb = widths
    rng = np.random.default_rng(7)
    if mb <= 6:
        vs, cs = np.meshgrid(np.arange(-(1 << mb - 1), 1 << mb - 1),
                             np.arange(-(1 << cb - 1), 1 << cb - 1))
        vs, cs = vs.ravel(), cs.ravel()
    else:
        lim_v, lim_c = 1 << mb - 1, 1 << cb - 1
        vs = np.concatenate([[-lim_v, lim_v - 1, 0, -1], rng.integers(-lim_v, lim_v, 300)])
        cs = np.concatenate([[-lim_c, lim_c - 1, 0, 1], rng.integers(-lim_c, lim_c, 300)])
    refs = np.array([0, 0, 1, 2])[rng.integers(0, 4, len(vs))]
    dut = LifUpdate(membrane_width=mb, current_width=cb)
    for theta, leak, window, refractory, subtract in param_sets:
        v, ref, spikes, psi = lif_step(vs, refs, cs, theta=theta, leak_shift=leak,
                                       psi_window=window, refractory=refractory,
                                       reset_subtract=subtract, membrane_width=mb)
        expect = np.stack([v, ref, spikes, psi], 1).tolist()
        got = []

        async def bench(ctx):
            p = dut.params
            for port, value in ((p.theta, theta), (p.leak_shift, leak), (p.psi_window, window),
                                (p.refractory, refractory), (p.reset_subtract, subtract)):
                ctx.set(port, value)
            for v, c, r in zip(vs.tolist(), cs.tolist(), refs.tolist()):
                ctx.set(dut.v, v)
                ctx.set(dut.i, c)
                ctx.set(dut.ref, r)
                got.append([ctx.get(dut.v_out), ctx.get(dut.ref_out), ctx.get(dut.spike),
                            ctx.get(dut.psi)])

        simulate(dut, bench, clock=False)
        bad = next((k for k in range(len(vs)) if got[k] != expect[k]), None)
        assert bad is None, (f"theta={theta} leak={leak} window={window} ref={refractory} "
                             f"subtract={subtract}: v={vs[bad]} i={cs[bad]} ref={refs[bad]}: "
                             f"rtl (v, ref, spike, psi) = {got[bad]}, model = {expect[bad]}")


@pytest.mark.parametrize("width, depth", [(12, 1), (12, 5), (12, 40), (32, 1200)])
def test_weight_memory_latency_and_hold(width, depth):
    """Write every word, read them in a random order: each the cycle after its read, and
    held while idle. 32-bit words 1,200 deep are three memories of 512, 512 and 176
    words behind a multiplexer (rtl/memory.py ``WIDE_CHUNK``)."""
    dut = WeightMemory(width=width, depth=depth, backend="memory")
    rng = np.random.default_rng(depth)
    words = rng.integers(0, 1 << width, depth).tolist()

    async def bench(ctx):
        for a, w in enumerate(words):
            ctx.set(dut.addr, a)
            ctx.set(dut.wdata, w)
            ctx.set(dut.we, 1)
            await ctx.tick()
        ctx.set(dut.we, 0)
        for a in rng.permutation(depth).tolist():
            ctx.set(dut.addr, a)
            ctx.set(dut.re, 1)
            await ctx.tick()
            ctx.set(dut.re, 0)
            assert ctx.get(dut.rdata) == words[a]       # one cycle after the read
            ctx.set(dut.addr, (a + 1) % depth)
            await ctx.tick().repeat(2)
            assert ctx.get(dut.rdata) == words[a]       # held while idle

    simulate(dut, bench)


async def _load_and_zero(ctx, dut, w, lanes, ww):
    """Load a crossbar's weights through ``load`` and zero its current words (the lane
    memories are not reset)."""
    for a, word in enumerate(pack_rows(w, lanes, ww)):
        ctx.set(dut.load.en, 1)
        ctx.set(dut.load.addr, a)
        ctx.set(dut.load.data, word)
        await ctx.tick()
    ctx.set(dut.load.en, 0)
    for k in range(dut.words_per_row):
        for p in range(lanes):
            ctx.set(dut.cur.we[p], 1)
            ctx.set(dut.cur.waddr[p], k)
            ctx.set(dut.cur.wdata[p], 0)
        await ctx.tick()
    for p in range(lanes):
        ctx.set(dut.cur.we[p], 0)


async def _read_currents(ctx, dut, lanes, width) -> list:
    """Every current, column order, as signed ``width``-bit values (the crossbar idle)."""
    out = []
    for k in range(dut.words_per_row):
        for p in range(lanes):
            ctx.set(dut.cur.addr[p], k)
            ctx.set(dut.cur.en[p], 1)
        await ctx.tick()
        for p in range(lanes):
            lane = ctx.get(dut.cur.data[p]) & ((1 << width) - 1)
            out.append(lane - (1 << width) if lane >> (width - 1) else lane)
    return out


@pytest.mark.parametrize("weight_stage", [False, True], ids=["direct", "weight_stage"])
@pytest.mark.parametrize("n_rows,n_cols,lanes,ww,cw", [
    (5, 7, 3, 4, 7), (3, 2, 4, 8, 12), (6, 16, 1, 5, 10), (4, 9, 9, 16, 32)])
def test_crossbar_accumulates(n_rows, n_cols, lanes, ww, cw, weight_stage):
    """Random back-to-back and spaced events; the buffer equals the saturated row sums
    (with and without the register after the weight read: at one word a row, (3, 2, 4),
    back-to-back events read the current word the previous one writes)."""
    dut = Crossbar(n_rows=n_rows, n_cols=n_cols, weight_width=ww, current_width=cw,
                   lanes=lanes, backend="memory", weight_stage=weight_stage)
    rng = np.random.default_rng(n_rows * n_cols)
    lim = 1 << ww - 1
    w = rng.integers(-lim, lim, (n_rows, n_cols))
    w[0] = lim - 1
    w[1 % n_rows] = -lim
    events = rng.integers(0, n_rows, 12).tolist() + [0] * 3
    expect = sat_signed(w[events].sum(0), cw).tolist()
    got = []

    async def bench(ctx):
        await _load_and_zero(ctx, dut, w, lanes, ww)
        for e, row in enumerate(events):
            ctx.set(dut.i_event.valid, 1)
            ctx.set(dut.i_event.payload, {"row": row})
            await ctx.tick().until(dut.i_event.ready)
            ctx.set(dut.i_event.valid, 0)
            if e % 4 == 3:
                await ctx.tick().repeat(e % 3 + 1)
        await ctx.tick().until(dut.idle)
        got.extend(await _read_currents(ctx, dut, lanes, cw))

    simulate(dut, bench)
    assert got[:n_cols] == expect


@pytest.mark.parametrize("weight_stage", [False, True], ids=["direct", "weight_stage"])
@pytest.mark.parametrize("n_rows,n_cols,lanes,ww,cw", [(6, 5, 2, 4, 12), (3, 4, 4, 8, 10)])
def test_crossbar_distinct_rows_exact(n_rows, n_cols, lanes, ww, cw, weight_stage):
    """``distinct_rows``: every row once, weights at both limits; the currents are stored
    in just the bits the worst case needs and equal the plain row sums."""
    dut = Crossbar(n_rows=n_rows, n_cols=n_cols, weight_width=ww, current_width=cw,
                   lanes=lanes, backend="memory", distinct_rows=True,
                   weight_stage=weight_stage)
    lim = 1 << ww - 1
    aw = dut.acc_width
    # the worst case fits ``aw`` bits, not one bit fewer
    assert dut.exact and aw <= cw
    assert -(1 << aw - 1) <= -n_rows * lim and n_rows * (lim - 1) < 1 << aw - 1
    assert -(1 << aw - 2) > -n_rows * lim
    rng = np.random.default_rng(n_rows)
    w = rng.choice([-lim, lim - 1], size=(n_rows, n_cols))
    w[:, 0] = -lim                                  # column 0: the negative worst case
    w[:, -1] = lim - 1                              # the last: the positive one
    events = rng.permutation(n_rows).tolist()
    expect = w.sum(0).tolist()
    got = []

    async def bench(ctx):
        await _load_and_zero(ctx, dut, w, lanes, ww)
        for row in events:
            ctx.set(dut.i_event.valid, 1)
            ctx.set(dut.i_event.payload, {"row": row})
            await ctx.tick().until(dut.i_event.ready)
        ctx.set(dut.i_event.valid, 0)
        await ctx.tick().until(dut.idle)
        got.extend(await _read_currents(ctx, dut, lanes, aw))

    simulate(dut, bench)
    assert got[:n_cols] == expect


def test_core_from_config_takes_rows_and_widths():
    from gen.config import default_config
    from gen.topology import make_topology
    from rtl.core import NeuronCore
    cfg = default_config()
    rows = make_topology(cfg).cores[1]
    core = NeuronCore.from_config(cfg, rows, lanes=8)
    assert core.neurons == cfg.sizes.neurons
    assert core.crossbar.n_rows == rows.n_rows
    assert core.crossbar.words_per_row == 8 and core.crossbar.word_width == 64
    assert core.crossbar.depth == rows.n_rows * 8
    Fragment.get(core, None)                    # elaborates, with its submodules


def test_chip_core_memories():
    """The default cores as rtl/top.py builds them (two lanes): three SB_RAM40_4K each
    (two lane memories of currents and membranes, the spike stack), 16-bit currents."""
    from gen.build import ebr_blocks
    from gen.config import default_config
    from gen.topology import make_topology
    from rtl.core import NeuronCore
    cfg = default_config()
    for rows in make_topology(cfg).cores:
        core = NeuronCore.from_config(cfg, rows, lanes=2, external_weights=True)
        assert core.crossbar.acc_width == 16 and core.crossbar.exact
        assert sum(ebr_blocks(d, w) for d, w in core.memory_shapes) == 3
        Fragment.get(core, None)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="need 8 SB_SPRAM256KA blocks; an iCE40 UP5K has 4"):
        WeightMemory(width=64, depth=16385, backend="spram")
    with pytest.raises(ValueError, match="backend must be one of"):
        WeightMemory(width=8, depth=4, backend="bram")
    with pytest.raises(TypeError, match="lanes must be a positive integer, not 0"):
        Crossbar(n_rows=2, n_cols=2, weight_width=8, current_width=12, lanes=0)
