# amaranth: UnusedElaboratable=no
"""Level 2 of docs/architecture.md section 4 for the learning blocks, in the Amaranth
simulator: the LFSR against sim.fixed.Lfsr, the hash against sim.fixed.oat32, the
centred feedback against the golden model's ``feedback_centered``, the teacher and
modulators against the model's learning run, the trace update against
``sim.model.trace_step``."""
import numpy as np
import pytest
from amaranth.hdl import Fragment, MemoryInstance, Shape

from gen.config import Config
from rtl.hash import FeedbackPost, Oat32
from rtl.lfsr import LfsrLanes
from rtl.plasticity import PlasticityUnit, TraceUpdate
from rtl.teach import Teacher
from sim.fixed import Lfsr, lfsr_seed, oat32
from sim.model import Network, trace_step

from amaranth_sim import simulate, strobe_until_done




@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_lfsr_lanes_match_model(lanes):
    """Advancing 0..lanes steps a cycle gives the model's sequence, lane p = p+1 steps."""
    dut = LfsrLanes(lanes)
    start = lfsr_seed(1234, 3)
    ref = Lfsr(start)
    rng = np.random.default_rng(lanes)
    counts = rng.integers(0, lanes + 1, 400).tolist()
    bad = []

    async def bench(ctx):
        ctx.set(dut.load, 1)
        ctx.set(dut.load_data, start)
        await ctx.tick()
        ctx.set(dut.load, 0)
        for n in counts:
            want = ref.draw(lanes).tolist()
            ref.pos = (ref.pos - lanes + n) % 65535     # consume only n of them
            got = [ctx.get(dut.lanes[p]) for p in range(lanes)]
            if got != want:
                bad.append((n, got, want))
            ctx.set(dut.count, n)
            await ctx.tick()
        if ctx.get(dut.state) != ref.state:
            bad.append(("final", ctx.get(dut.state), ref.state))

    simulate(dut, bench)
    assert not bad, bad[:3]


def test_oat32_matches_model():
    dut = Oat32(3)
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 256, (600, 3))
    seeds = rng.integers(0, 2**32, 600, dtype=np.uint64)
    keys[:4] = [[0, 0, 0], [255, 255, 255], [0, 255, 0], [1, 2, 3]]
    seeds[:4] = [0, 2**32 - 1, 0xFEED0000, 0x5EED0001]
    got = []

    async def bench(ctx):
        for seed, key in zip(seeds.tolist(), keys.tolist()):
            ctx.set(dut.seed, seed)
            for i, b in enumerate(key):
                ctx.set(dut.key[i], b)
            got.append(ctx.get(dut.hash))

    simulate(dut, bench, clock=False)
    want = [int(oat32(s, *k)) for s, k in zip(seeds.tolist(), keys.tolist())]
    assert got == want


@pytest.mark.parametrize("classes,hidden,seed", [(2, 5, 0), (3, 30, 99), (10, 300, 1),
                                                 (7, 600, 2**32 - 1)])
def test_feedback_post_matches_model(classes, hidden, seed):
    """Unit class signals give the model's centred feedback ``Bc[j, k]`` (for j past 255
    too: the second key byte), random ternary signals ``Bc[j] @ sig``; cycles = dut.latency."""
    cfg = Config().replace(**{"sizes.classes": classes, "seed": seed, "sizes.cores": 1,
                              "sizes.neurons": hidden, "topology.ws_neighbours": 0,
                              "topology.axons_per_edge": 0,
                              "widths.current": 24, "widths.teacher": 16})
    bc = Network(cfg).feedback_centered
    dut = FeedbackPost(classes=classes, hidden=hidden)
    rng = np.random.default_rng(classes)
    js = sorted(set(rng.integers(0, hidden, 24).tolist()) | {0, hidden - 1})
    sigs = [np.eye(classes, dtype=int)[k] for k in range(classes)] + \
        [rng.integers(-1, 2, classes) for _ in range(4)]
    bad = []

    async def bench(ctx):
        ctx.set(dut.seed, seed)
        for j in js:
            for sig in sigs:
                ctx.set(dut.j, j)
                for k, v in enumerate(sig.tolist()):
                    ctx.set(dut.sig[k], v)
                n = await strobe_until_done(ctx, dut.start, dut.done) - 1
                want = int(bc[j] @ sig)
                if ctx.get(dut.acc) != want or n != dut.latency - 1:
                    bad.append((j, sig.tolist(), ctx.get(dut.acc), want, n))

    simulate(dut, bench)
    assert not bad, bad[:3]


def _teacher_config(seed):
    rng = np.random.default_rng(seed)
    return Config().replace(**{
        "sizes.n_in": 8, "sizes.cores": 2, "sizes.neurons": 8, "sizes.classes": 4,
        "sizes.per_class": 3, "sizes.steps": 16, "topology.ws_neighbours": 0,
        "topology.axons_per_edge": 0,
        "dynamics.theta_out": int(rng.integers(4, 60)),
        "dynamics.mod_theta": int(rng.integers(1, 10)),
        "dynamics.mod_leak_shift": int(rng.integers(1, 4)),
        "dynamics.mod_drive": int(rng.integers(1, 10)),
        "learning.teacher_shift": int(rng.integers(1, 5)),
        "learning.teach_start": int(rng.integers(0, 8)),
        "learning.target": int(rng.integers(0, 14)), "learning.margin": int(rng.integers(0, 8)),
        "learning.push_down_all": bool(seed % 2), "seed": seed}).validate()


def _teacher_against_model(seed, flip_rule=False):
    """Run the Teacher beside the model's learning run of ``_teacher_config(seed)``
    (readout spikes from the model) and list every step where activity traces or
    modulator spikes differ, and any wrong cycle count; ``flip_rule`` builds the DUT with
    the other ``push_down_all`` (the fault the negative test injects). Returns (mismatches,
    the DUT's modulator events, the model's)."""
    cfg = _teacher_config(seed)
    s, w = cfg.sizes, cfg.widths
    net = Network(cfg)
    rng = np.random.default_rng(seed)
    net.weights.w_ro[:] = rng.integers(-40, 100, net.ro_mask.shape) * net.ro_mask
    u = rng.integers(0, 17, (5, s.n_in))
    labels = rng.integers(0, s.classes, 5)
    _, _, traces = net.run(u, labels, learn=True, record=True)
    dut = Teacher(classes=s.classes, per_class=s.per_class, teacher_width=w.teacher,
                  membrane_width=w.membrane)
    l, d = cfg.learning, cfg.dynamics
    params = {"teacher_shift": l.teacher_shift, "teach_start": l.teach_start,
              "target": l.target, "margin": l.margin,
              "push_down_all": int(l.push_down_all ^ flip_rule), "mod_theta": d.mod_theta,
              "mod_leak_shift": d.mod_leak_shift, "mod_drive": d.mod_drive}
    bad = []
    events = [0]

    async def bench(ctx):
        for k, v in params.items():
            ctx.set(getattr(dut.params, k), v)
        ctx.set(dut.learn, 1)
        for tr, label in zip(traces, labels):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            ctx.set(dut.label, int(label))
            for t in range(s.steps):
                ctx.set(dut.spikes, sum(int(v) << i for i, v in enumerate(tr["s_r"][0, t])))
                cycles = await strobe_until_done(ctx, dut.update, dut.done)
                if cycles != 4 * s.classes + 2:
                    bad.append((t, "done after", cycles, "cycles"))
                m = [(ctx.get(dut.m) >> i) & 1 for i in range(s.modulators)]
                a = [ctx.get(dut.activity[k]) for k in range(s.classes)]
                if m != tr["m"][0, t].tolist() or a != tr["teach"][0, t].tolist():
                    bad.append((t, m, tr["m"][0, t].tolist(), a, tr["teach"][0, t].tolist()))
        events[0] = ctx.get(dut.events)
        # learning off: a step changes nothing and raises no modulator spike
        ctx.set(dut.learn, 0)
        ctx.set(dut.spikes, (1 << s.readout) - 1)
        before = [ctx.get(dut.activity[k]) for k in range(s.classes)]
        ctx.set(dut.update, 1)
        await ctx.tick()
        ctx.set(dut.update, 0)
        if not ctx.get(dut.done):
            bad.append("learning off: no done the cycle after update")
        if ctx.get(dut.m) or before != [ctx.get(dut.activity[k]) for k in range(s.classes)]:
            bad.append("learning off changed the teacher")

    simulate(dut, bench)
    return bad, events[0], net.stats.modulator_events


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_teacher_matches_model(seed):
    """Activity traces, ternary errors and modulator spikes, every step, over samples of
    a learning run; odd seeds push down every close wrong class, even seeds only the
    strongest."""
    bad, dut_events, model_events = _teacher_against_model(seed)
    assert not bad, bad[:3]
    assert dut_events == model_events > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_teacher_comparison_catches_the_other_rule(seed):
    """Negative test: the Teacher built with the other push-down rule (every close wrong
    class against only the strongest) differs from the model on these samples."""
    bad, dut_events, model_events = _teacher_against_model(seed, flip_rule=True)
    assert bad or dut_events != model_events


def test_trace_update_matches_model():
    """Phase 6 for every (x, spike) at 5 bits, several shifts and increments."""
    width = 5
    dut = TraceUpdate(width)
    got, want = [], []

    async def bench(ctx):
        for shift in (1, 2, 4):
            for inc in (1, 7, 31):
                for x in range(32):
                    for spike in (0, 1):
                        ctx.set(dut.x, x)
                        ctx.set(dut.spike, spike)
                        ctx.set(dut.shift, shift)
                        ctx.set(dut.inc, inc)
                        got.append(ctx.get(dut.x_next))
                        want.append(int(trace_step(np.int64(x), spike, shift=shift, inc=inc,
                                                   width=width)))

    simulate(dut, bench, clock=False)
    assert got == want


def _memories(fragment):
    """``(depth, width)`` of every memory in an elaborated fragment, its subfragments'
    included (Amaranth 0.5 has no public accessor for a MemoryInstance's geometry)."""
    if isinstance(fragment, MemoryInstance):
        yield fragment._data.depth, Shape.cast(fragment._data.shape).width
    for sub, _name, _src_loc in fragment.subfragments:
        yield from _memories(sub)


@pytest.mark.parametrize("lanes, classes, max_cols",
                         [(1, 2, 1), (2, 10, 100), (3, 4, 20), (8, 10, 33), (8, 3, 8)])
def test_plasticity_unit_memory_shapes_are_what_it_builds(lanes, classes, max_cols):
    """``PlasticityUnit.memory_shapes`` (the build plan's estimate) lists exactly the
    memories the elaborated unit instantiates."""
    unit = PlasticityUnit(banks=3, classes=classes, per_class=2, hidden=40, max_rows=30,
                          max_cols=max_cols, lanes=lanes, weight_width=8, trace_width=8,
                          depth=500, trace_depth=50, mask_depth=60)
    built = sorted(_memories(Fragment.get(unit, None)))
    assert built == sorted(unit.memory_shapes)
