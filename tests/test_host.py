"""Host link: UART, framing, CRC and error paths of rtl/host.py in the Amaranth simulator,
and the whole chip (rtl/top.py) driven by the sim/host.py driver through its UART pins,
against the golden model."""
import random
import struct

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from gen.config import Config
from gen.topology import make_topology
from rtl.host import (CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, STATUS, HostLink, crc8)
from rtl.uart import UartRx, UartTx, divisor_for
from sim.host import (Host, HostError, SimTransport, frame, load_commands, parse_reply,
                      read_frame, split_frames, weight_words, write_frame)
from sim.host import split_replies as replies

INFO = b"SWRLtest"
DEPTHS = {0: [16, 8], 3: [4], 5: [2], 6: [3], 7: [2]}
LIMITS = {3: (0, 4), 6: (1, 0xFFFF), 7: (0, 16)}     # input, lfsr, rates: (lowest, highest)
LABELS = 3
TIMEOUT = 60


def _crc_reference_check():
    # CRC-8/SMBUS check value (poly 0x07, init 0): "123456789" -> 0xF4
    assert crc8(b"123456789") == 0xF4


def test_crc8_check_value():
    _crc_reference_check()
    body = bytes([CMD_PING, 0, 0])
    assert crc8(body + bytes([crc8(body)])) == 0


def test_frame_and_parse():
    f = frame(CMD_WRITE, b"\x01\x02")
    assert f[:4] == bytes([0xA5, CMD_WRITE, 2, 0]) and crc8(f[1:]) == 0
    reply = bytes([0xA5, 0, CMD_READ, 4, 0, 1, 2, 3, 4])
    reply += bytes([crc8(reply[1:])])
    assert parse_reply(reply + b"junk") == (0, CMD_READ, b"\x01\x02\x03\x04", len(reply))
    with pytest.raises(HostError, match="CRC"):
        parse_reply(reply[:-1] + bytes([reply[-1] ^ 1]))
    with pytest.raises(IndexError):
        parse_reply(reply[:-2])


# ---- HostLink alone, a Python model of the bus ---------------------------------------------
def run_hostlink(chunks, *, max_cycles=20000, run_latency=7):
    """Feed byte ``chunks`` into a HostLink, each once the link has been silent for
    ``TIMEOUT * 2`` cycles after the one before (as a host waits for each reply: bytes
    that come while the link works on a frame are dropped); returns (reply bytes, bus
    memory, writes seen, runs seen)."""
    dut = HostLink(depths=DEPTHS, info=INFO, timeout=TIMEOUT, limits=LIMITS, labels=LABELS)
    mem = {}
    writes, runs = [], []
    out = bytearray()
    done = [False]
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def quiet(ctx):
        """Until no reply byte came for ``TIMEOUT * 2`` cycles."""
        seen, still = len(out), 0
        while still < TIMEOUT * 2:
            await ctx.tick()
            seen, still = len(out), (still + 1 if len(out) == seen else 0)

    async def feed(ctx):
        for chunk in chunks:
            for b in chunk:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, b)
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)
                if random.random() < 0.3:
                    await ctx.tick().repeat(random.randint(1, 5))
            await quiet(ctx)
        done[0] = True

    async def collect(ctx):
        ctx.set(dut.o.ready, 1)
        async for _, _, valid, ready, payload in ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload):
            if valid and ready:
                out.append(payload)
            ctx.set(dut.o.ready, int(random.random() < 0.7))

    async def bus(ctx):
        b, r = dut.bus.access, dut.bus.run
        countdown = None
        async for _, _, req, we, space, bank, addr, wdata, ack, run in ctx.tick().sample(
                b.req, b.we, b.space, b.bank, b.addr, b.wdata, b.ack, r.start):
            ctx.set(b.ack, 0)
            ctx.set(r.done, 0)
            if req and not ack:
                if we:
                    mem[(space, bank, addr)] = wdata
                    writes.append((space, bank, addr, wdata))
                ctx.set(b.rdata, mem.get((space, bank, addr), 0xDEAD0000 | addr))
                ctx.set(b.ack, 1)
            if run:
                countdown = run_latency
                runs.append((ctx.get(r.learn), ctx.get(r.label)))
            if countdown is not None:
                countdown -= 1
                if countdown == 0:
                    ctx.set(r.done, 1)
                    countdown = None

    sim.add_testbench(feed)
    sim.add_testbench(collect, background=True)
    sim.add_testbench(bus, background=True)
    sim.run_until(max_cycles * 1e-6)
    assert done[0], "feeding did not finish"
    return bytes(out), mem, writes, runs


def test_ping_write_read_run():
    random.seed(1)
    words = [0x11223344, 0xA5A5A5A5]
    chunks = [b"\x00\x17" + frame(CMD_PING),          # junk before a sync is skipped
              write_frame(0, 1, 2, words), read_frame(0, 1, 1, 4),
              frame(CMD_RUN, b"\x01\x02"), read_frame(5, 0, 0, 2)]
    out, mem, writes, runs = run_hostlink(chunks)
    r = replies(out)
    assert r[0] == (0, CMD_PING, INFO)
    assert r[1] == (0, CMD_WRITE, b"")
    assert writes == [(0, 1, 2 + k, w) for k, w in enumerate(words)]
    got = struct.unpack("<4I", r[2][2])
    assert r[2][:2] == (0, CMD_READ)
    assert got == (0xDEAD0001, *words, 0xDEAD0004)
    assert r[3] == (0, CMD_RUN, b"") and runs == [(1, 2)]
    assert r[4][0] == 0 and len(r[4][2]) == 8
    assert len(r) == 5


@pytest.mark.parametrize("name,bad,status", [
    ("crc", lambda f: f[:-1] + bytes([f[-1] ^ 0x40]), "bad_crc"),
    ("command", lambda f: frame(0x55, f[5:-1]), "bad_command"),
    ("write length", lambda f: frame(CMD_WRITE, f[5:-3]), "bad_length"),
    ("write three words", lambda f: write_frame(0, 0, 0, [1, 2, 3]), "bad_length"),
    ("write too long", lambda f: frame(CMD_WRITE, f[5:-1] + bytes(4 * 2)), "bad_length"),
    ("read length", lambda f: frame(CMD_READ, b"\0\0\0\0"), "bad_length"),
    ("ping length", lambda f: frame(CMD_PING, b"\0"), "bad_length"),
    ("run without label", lambda f: frame(CMD_RUN, b"\1"), "bad_length"),
    ("past the end", lambda f: write_frame(0, 1, 7, [1, 2]), "bad_address"),
    ("no such bank", lambda f: write_frame(0, 2, 0, [1]), "bad_address"),
    ("no such space", lambda f: write_frame(9, 0, 0, [1]), "bad_address"),
    ("read past the end", lambda f: read_frame(3, 0, 3, 2), "bad_address"),
])
def test_malformed_command_changes_nothing(name, bad, status):
    random.seed(hash(name) & 0xFFFF)
    good = write_frame(0, 0, 3, [7, 8])
    out, mem, writes, runs = run_hostlink([bad(good), good])
    r = replies(out)
    assert r[0][0] == STATUS[status], (name, r)
    assert r[0][2] == b""
    assert r[1] == (0, CMD_WRITE, b"")          # the link recovers: the next frame works
    assert writes == [(0, 0, 3, 7), (0, 0, 4, 8)]


def test_read_of_zero_words_is_bad_length():
    """A 5-byte READ with count 0 is a length error in every space, also one that does
    not exist (the doc's promise; the range stage answered bad_address)."""
    random.seed(5)
    spaces = [(s, b) for s, banks in DEPTHS.items() for b in range(len(banks))] + [(9, 0)]
    out, mem, writes, runs = run_hostlink([read_frame(s, b, 0, 0) for s, b in spaces] +
                                          [frame(CMD_PING)])
    assert replies(out) == [(STATUS["bad_length"], CMD_READ, b"")] * len(spaces) + \
        [(0, CMD_PING, INFO)]


def _run(learn, label):
    return frame(CMD_RUN, bytes([learn, label]))


BAD_VALUES = {
    "intensity above enc_theta": write_frame(3, 0, 0, [5]),
    "intensity 255": write_frame(3, 0, 2, [2, 255]),       # the first word is fine
    "intensity 256": write_frame(3, 0, 0, [0x100]),        # low byte 0
    "lfsr state 0": write_frame(6, 0, 1, [0x1234, 0]),
    "lfsr state past 16 bits": write_frame(6, 0, 0, [0x10001]),
    "rate shift 17": write_frame(7, 0, 0, [17]),
    "rate shift 32": write_frame(7, 0, 0, [3, 32]),        # low five bits 0
    "rate shift 2**24": write_frame(7, 0, 0, [1 << 24]),   # low three bytes 0
    "label = classes": _run(1, LABELS),
    "label 255": _run(1, 255),
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_out_of_range_value_changes_nothing(name):
    """A value the chip cannot hold gets bad_value, and no word of the frame is written:
    every word is checked before the first write."""
    random.seed(hash(name) & 0xFFFF)
    bad, good = BAD_VALUES[name], write_frame(0, 0, 3, [7, 8])
    out, mem, writes, runs = run_hostlink([bad, good])
    r = replies(out)
    assert r[0] == (STATUS["bad_value"], bad[1], b""), (name, r)
    assert r[1] == (0, CMD_WRITE, b"")
    assert writes == [(0, 0, 3, 7), (0, 0, 4, 8)] and runs == []


def test_values_at_their_limits_are_taken():
    random.seed(6)
    frames = [write_frame(3, 0, 2, [0, 4]), write_frame(6, 0, 1, [1, 0xFFFF]),
              write_frame(7, 0, 0, [16, 0]), _run(1, LABELS - 1),
              _run(0, 255),                   # no learning: the label is not used
              write_frame(0, 0, 0, [0xFFFFFFFF])]   # weights: the chip uses the low bits
    out, mem, writes, runs = run_hostlink(frames)
    assert [st for st, _, _ in replies(out)] == [0] * len(frames)
    assert writes == [(3, 0, 2, 0), (3, 0, 3, 4), (6, 0, 1, 1), (6, 0, 2, 0xFFFF),
                      (7, 0, 0, 16), (7, 0, 1, 0), (0, 0, 0, 0xFFFFFFFF)]
    assert runs == [(1, LABELS - 1), (0, 255)]


@pytest.mark.parametrize("given", [False, True], ids=["bits", "high half given"])
def test_bound_compares(given):
    """The host link's constant-bound compares (shared zero tests of the high bits, short
    compares below) are ``lo <= v <= hi`` for any bounds, also with the high half's test
    given (the chain then starts from it)."""
    from amaranth.hdl import Signal
    from rtl.host import _bound_cuts, _within, _zero_tests
    bounds = [(0, 4), (1, 0xFFFF), (0, 16), (3, 200), (0, 0), (5, 5), (0, 0xFFFFFFFF),
              (1, 1)] + ([] if given else [(256, 70000)])      # a cut past 16: no given
    m, v = Module(), Signal(32)
    cuts = [n for lo, hi in bounds for n in _bound_cuts(lo, hi)]
    zero = _zero_tests(v, cuts, given=(16, v[16:] == 0) if given else None)
    outs = [Signal(name=f"ok{i}") for i in range(len(bounds))]
    m.d.comb += [o.eq(_within(v, lo, hi, zero)) for o, (lo, hi) in zip(outs, bounds)]
    rng = random.Random(8)
    values = sorted({x + d for lo, hi in bounds for x in (lo, hi, 1 << hi.bit_length())
                     for d in (-1, 0, 1) if 0 <= x + d < 1 << 32} |
                    {rng.randrange(1 << k) for k in range(1, 33) for _ in range(3)})

    async def bench(ctx):
        for x in values:
            ctx.set(v, x)
            assert [ctx.get(o) for o in outs] == [int(lo <= x <= hi) for lo, hi in bounds], x

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("cut,cmd", [(1, 0), (2, CMD_READ), (6, CMD_READ)])
def test_timeout_reply_names_the_truncated_command(cut, cmd):
    """A timeout reply carries the truncated frame's command byte, or 0 when the frame
    ended before it (not the previous frame's)."""
    random.seed(cut)
    out, mem, writes, runs = run_hostlink([frame(CMD_PING), read_frame(3, 0, 0, 1)[:cut]])
    assert replies(out) == [(0, CMD_PING, INFO), (STATUS["timeout"], cmd, b"")]


def test_truncated_command_times_out():
    random.seed(3)
    good = write_frame(0, 0, 0, [5, 6])
    out, mem, writes, runs = run_hostlink([good[:9], good])
    r = replies(out)
    assert r[0][0] == STATUS["timeout"]
    assert r[1] == (0, CMD_WRITE, b"")
    assert writes == [(0, 0, 0, 5), (0, 0, 1, 6)]  # only the complete frame wrote


def test_bytes_during_a_reply_are_dropped():
    """Bytes that come between a frame's CRC byte and the end of its reply are dropped,
    a sync byte among them too: a host that does not wait gets no reply to them, and no
    phantom frame (a timeout reply later)."""
    random.seed(7)
    bad = frame(CMD_PING)[:-1] + b"\x00"
    out, mem, writes, runs = run_hostlink([bad + frame(CMD_PING), bad + b"\xA5",
                                           read_frame(0, 0, 0, 2) + write_frame(0, 0, 0, [1]),
                                           frame(CMD_PING)])
    assert [r[:2] for r in replies(out)] == [(STATUS["bad_crc"], CMD_PING),
                                             (STATUS["bad_crc"], CMD_PING),
                                             (0, CMD_READ), (0, CMD_PING)]
    assert writes == []


def test_overlong_payload_is_skipped_whole():
    random.seed(4)
    # a 300-byte payload, full of sync bytes, must not be taken for frames
    junk = frame(CMD_WRITE, bytes([0xA5]) * 300)
    out, mem, writes, runs = run_hostlink([junk, frame(CMD_PING)])
    r = replies(out)
    assert r[0][0] == STATUS["bad_length"]
    assert r[1] == (0, CMD_PING, INFO) and writes == []


class Unplugged:
    """A transport that must not be used: the driver refuses before it sends."""

    def write(self, data):
        raise AssertionError(f"sent {data.hex()}")


@pytest.mark.parametrize("call,message", [
    (lambda h: h.load_input([0, 4, 5]), r"input word 2 = 5 is out of range 0\.\.4 "
                                         r"\(input intensities, at most dynamics.enc_theta\)"),
    (lambda h: h.set_lfsr_states([7, 0]), r"lfsr word 1 = 0 is out of range 1\.\.65535"),
    (lambda h: h.set_learning_shifts(3, 32), r"rates word 1 = 32 is out of range 0\.\.16"),
    (lambda h: h.run(learn=True, label=2), r"label = 2 is out of range 0\.\.1 \(a class"),
    (lambda h: h.classify([0] * 6, 2, learn=True, label=7), r"label = 7 is out of range 0\.\.1"),
    (lambda h: h.run(label=256), r"label = 256 is out of range 0\.\.255"),
])
def test_driver_refuses_values_the_chip_would(call, message):
    """Host names the value and its limit (from PING: classes, enc_theta) and sends
    nothing; the chip would answer bad_value."""
    host = Host(Unplugged())
    host.info = {"classes": 2, "enc_theta": 4, "learning": True}
    with pytest.raises(HostError, match=message) as e:
        call(host)
    assert e.value.status == STATUS["bad_value"]


# ---- UART ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("divisor", [4, 5, 13])
def test_uart_loopback(divisor):
    random.seed(divisor)
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [random.randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55]
    got = []
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def send(ctx):
        for b in data:
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, b)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)

    async def recv(ctx):
        ctx.set(rx.o.ready, 1)
        async for _, _, valid, payload, ovr, fr in ctx.tick().sample(
                rx.o.valid, rx.o.payload, rx.overrun, rx.framing):
            assert not ovr and not fr
            if valid:
                got.append(payload)

    sim.add_testbench(send)
    sim.add_testbench(recv, background=True)
    sim.run_until((len(data) + 2) * 10 * divisor * 1e-6)
    assert got == data


@pytest.mark.parametrize("divisor", [4, 5, 13])
@pytest.mark.parametrize("offset", [-0.02, 0.02])
def test_uart_rx_takes_a_host_2_percent_off(divisor, offset):
    """Bytes back to back from a host whose bits are 2 % longer or shorter than the
    receiver's (the error rtl/uart.py ``divisor_for`` allows), edges between clock edges:
    every byte arrives, none with a framing error. At divisor 4, a receiver that sampled
    1 to 2 cycles past mid-bit (the synchroniser's lag not taken off) lost the stop bits
    of a fast host (sim/fuzz.py's baud-offset cases on the whole chip found it)."""
    rnd = random.Random(divisor)
    rx = UartRx(divisor)
    data = [rnd.randrange(256) for _ in range(30)] + [0x00, 0xFF, 0x55, 0xAA]
    got, framing = [], []
    bit = divisor * 1e-6 / (1 + offset)
    sim = Simulator(rx)
    sim.add_clock(1e-6)

    async def send(ctx):
        await ctx.delay(3.37e-6)                   # off the clock edges
        for b in data:
            for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                ctx.set(rx.rx, level)
                await ctx.delay(bit)

    async def recv(ctx):
        ctx.set(rx.o.ready, 1)
        async for _, _, valid, payload, fr in ctx.tick().sample(rx.o.valid, rx.o.payload,
                                                                 rx.framing):
            framing.append(fr)
            if valid:
                got.append(payload)

    sim.add_testbench(send)
    sim.add_testbench(recv, background=True)
    sim.run_until((len(data) + 2) * 10 * divisor * 1e-6)
    assert got == data and not any(framing)


def test_divisor_for():
    assert divisor_for(12e6, 115200) == 104
    with pytest.raises(ValueError, match="too fast"):
        divisor_for(12e6, 6_000_000)
    with pytest.raises(ValueError, match="off"):
        divisor_for(1e6, 230_000)


# ---- the whole chip, driver through the UART pins, against the golden model -------------------
def tiny_config(**kw):
    cfg = Config().replace(**{
        "sizes.n_in": 6, "sizes.cores": 3, "sizes.neurons": 4, "sizes.classes": 2,
        "sizes.per_class": 2, "sizes.steps": 6, "topology.ws_neighbours": 2,
        "topology.axons_per_edge": 2, "topology.readout_density": 0.6,
        "dynamics.theta": 24, "dynamics.theta_out": 20, "dynamics.enc_theta": 4,
        "learning.teach_start": 1, **kw})
    return cfg.validate()


TINY_CONFIGS = {
    "one_layer": {},
    # two layers (feed-forward rows through the router), refractory neurons, reset to
    # zero, no readout bias, odd sizes
    "two_layers": {"sizes.layers": 2, "sizes.n_in": 5, "sizes.classes": 3,
                   "sizes.per_class": 1, "topology.ff_fan_in": 5,
                   "dynamics.refractory": 2, "dynamics.reset_subtract": False,
                   "topology.readout_bias": False},
}


def random_network(cfg, topo, seed):
    """A golden-model network with random weights strong enough to make every
    population fire."""
    from sim.model import Network
    net = Network(cfg, topo)
    rng = np.random.default_rng(seed)
    w = net.weights
    w.w_in[:] = rng.integers(-8, 30, w.w_in.shape) * net.in_mask
    w.w_hh[:] = rng.integers(-12, 20, w.w_hh.shape) * net.hh_mask
    w.w_ro[:] = rng.integers(-10, 25, w.w_ro.shape) * net.ro_mask
    return net


@pytest.fixture(scope="module", params=sorted(TINY_CONFIGS))
def tiny_chip(request):
    from rtl.top import SwirlChip
    cfg = tiny_config(**TINY_CONFIGS[request.param])
    topo = make_topology(cfg)
    net = random_network(cfg, topo, seed=7)
    divisor = 4
    chip = SwirlChip(topo, divisor=divisor, lanes=2, backend="memory",
                     timeout=divisor * 10 * 8)
    transport = SimTransport(chip, divisor)
    host = Host(transport, timeout=200_000)
    yield cfg, net, host
    transport.close()


# one layer only: the two-layer chip (the same odd sizes, refractory, reset to zero) runs
# bit exact under Verilator in test_chip.py; here it took 150 s of pysim
@pytest.mark.parametrize("tiny_chip", ["one_layer"], indirect=True)
def test_chip_end_to_end(tiny_chip):
    cfg, net, host = tiny_chip
    info = host.ping()
    s = cfg.sizes
    assert info == {"version": 3, "classes": s.classes, "n_in": s.n_in,
                    "cores": s.layers * s.cores, "lanes": 2, "steps": s.steps, "learning": True,
                    "enc_theta": cfg.dynamics.enc_theta, "frames": s.frames}
    host.load_image(load_commands(net, lanes=2))
    # weights read back equal what was loaded, bank by bank (readout included)
    for b, words in enumerate(weight_words(net, 2)):
        assert host.read(0, b, 0, len(words)) == words, f"bank {b}"
    rng = np.random.default_rng(11)
    spikes = 0
    for sample in range(4):
        u = rng.integers(0, cfg.dynamics.enc_theta + 1, cfg.sizes.n_in)
        pred, counts, _ = net.run(u[None])
        got = host.classify(u, cfg.sizes.classes)
        assert got["counts"] == list(counts[0]), (sample, got, counts)
        assert got["prediction"] == int(pred[0])
        assert got["steps"] == cfg.sizes.steps
        spikes += sum(got["counts"])
        assert got["router_deliveries"] >= 0 and got["cycles"] > 0
    assert spikes > 0                               # the readout did fire
    # a bad frame gets an error reply and leaves the weights alone
    words = weight_words(net, 2)[0]
    bad = frame(CMD_WRITE, struct.pack("<BBHI", 0, 0, 0, 0x1234))
    with pytest.raises(HostError) as e:
        host.command(CMD_WRITE, raw=bad[:-1] + bytes([bad[-1] ^ 1]))
    assert e.value.status == STATUS["bad_crc"]
    assert host.read(0, 0, 0, 4) == words[:4]


def test_load_bin_round_trip(tiny_chip):
    cfg, net, host = tiny_chip
    frames = load_commands(net, lanes=2)
    assert split_frames(b"".join(frames)) == frames


def test_weights_as_initial_contents():
    """Weights given at elaboration are the banks' initial contents (block RAM, as on the
    ECP5): the chip classifies after loading only the routing tables."""
    from rtl.top import SwirlChip
    from sim.host import SPACES, route_words
    cfg = tiny_config()
    topo = make_topology(cfg)
    net = random_network(cfg, topo, seed=8)
    rng = np.random.default_rng(8)
    chip = SwirlChip(topo, divisor=4, lanes=2, backend="memory", timeout=320, weights=net)
    transport = SimTransport(chip, 4)
    host = Host(transport, timeout=200_000)
    index, entries = route_words(topo)
    host.write(SPACES["route_index"], 0, 0, index)
    host.write(SPACES["route_entry"], 0, 0, entries)
    for b, words in enumerate(weight_words(net, 2)):
        assert host.read(0, b, 0, len(words)) == words, f"bank {b}"
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, cfg.sizes.n_in)
    _, counts, _ = net.run(u[None])
    assert host.classify(u, cfg.sizes.classes)["counts"] == list(counts[0])
    transport.close()


def test_spram_takes_no_initial_contents():
    from rtl.memory import WeightMemory
    with pytest.raises(ValueError, match="SB_SPRAM256KA cannot take initial contents"):
        WeightMemory(width=16, depth=64, backend="spram", init=[1, 2, 3])
    with pytest.raises(ValueError, match="init has 5 words for a memory of 4"):
        WeightMemory(width=16, depth=4, backend="memory", init=[0] * 5)


# one layer only: two-layer learning is checked bit exact under Verilator, where it is
# ten times faster (tests/test_chip.py), and this test is about the host's rate writes
@pytest.mark.parametrize("tiny_chip", ["one_layer"], indirect=True)
def test_chip_learns_bit_exact_with_rates_set_by_the_host(tiny_chip):
    """Learning through the host driver (Amaranth simulator): every weight and LFSR state
    equals the golden model's, also after the host changed the learning-rate shifts as
    sim.train's decay does between epochs."""
    import copy
    from sim.fixed import lfsr_seed
    from sim.model import Network
    cfg, net0, host = tiny_chip
    net = Network(cfg, net0.topology, net0.weights.copy())
    host.load_image(load_commands(net, lanes=2))
    banks = len(net.topology.cores) + 1
    host.set_lfsr_states([lfsr_seed(cfg.seed, b) for b in range(banks)])
    rng = np.random.default_rng(12)
    lr = copy.deepcopy(cfg.learning)
    for sample in range(4):
        if sample == 2:        # the decay: both shifts one larger
            new = cfg.replace(**{"learning.eta_hidden_shift": lr.eta_hidden_shift + 1,
                                 "learning.eta_readout_shift": lr.eta_readout_shift + 1})
            net.config = new
            host.set_learning_shifts(new.learning.eta_hidden_shift,
                                     new.learning.eta_readout_shift)
            assert host.learning_shifts() == (new.learning.eta_hidden_shift,
                                              new.learning.eta_readout_shift)
        u = rng.integers(0, cfg.dynamics.enc_theta + 1, cfg.sizes.n_in)
        label = sample % cfg.sizes.classes
        before = net.stats.weight_writes
        _, counts, _ = net.run(u[None], [label], learn=True)
        got = host.classify(u, cfg.sizes.classes, learn=True, label=label)
        assert got["counts"] == list(counts[0]), sample
        assert got["weight_writes"] == net.stats.weight_writes - before, sample
    for b, words in enumerate(weight_words(net, 2)):
        assert host.read(0, b, 0, len(words)) == words, f"bank {b}"
    assert host.lfsr_states(banks) == [bk.lfsr.state for bk in net.banks] + \
        [net.readout_bank.lfsr.state]
    assert net.stats.weight_writes > 0
    with pytest.raises(HostError, match="rates word 0 = 17 is out of range 0..16"):
        host.set_learning_shifts(17, 3)
    host.set_learning_shifts(cfg.learning.eta_hidden_shift, cfg.learning.eta_readout_shift)


def test_pack_rows_keeps_words_of_64_bits_and_more():
    """The crossbar word packer works in Python ints: a word of 8 lanes x 8 bits (the
    plasticity bench's) or wider must not wrap into a negative int64."""
    import numpy as np

    from sim.host import pack_rows
    assert pack_rows(np.full((1, 8), -1), 8, 8) == [(1 << 64) - 1]
    assert pack_rows(np.full((1, 9), -2), 9, 8) == [sum(0xFE << (8 * p) for p in range(9))]
    assert pack_rows(np.array([[1, -1, 3]]), 2, 4) == [0xF1, 0x3]    # last word padded
