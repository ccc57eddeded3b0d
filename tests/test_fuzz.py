"""A host link that survives abuse (issue 13, item 6): the seeded fuzz corpus of
sim/fuzz.py, 520 malformed frames and line faults in 15 categories, against the whole
chip under Verilator (sim/tb_fuzz.py), on the chip of tests/test_chip_link.py (one
Verilator build for both). Every reply must be the one docs/host-protocol.md gives, none
may be missing (a hang), every read-back of the whole state must equal the snapshot taken
after loading (itself the golden model's), and a sample run after the corpus, with
learning off and on, must still match the golden model bit for bit. The counts are
printed (``pytest -s``) and kept as the test's properties.

The checks are shown to fail: a read-back with one weight word changed, a case whose
expected status is wrong, a reply that never came, and a sample that learnt one weight
differently must each be reported, from the same run."""
from __future__ import annotations

import copy
import json

import pytest

from gen.config import Config
from gen.topology import make_topology
from rtl.address_map import SPACES
from rtl.host_protocol import CMD_PING, CMD_READ, CMD_RUN, CMD_WRITE, STATUS, crc8
from sim import fuzz
from sim.compare import DIVISOR, LANES
from sim.host import frame, read_frame, write_frame
from sim.model import Network

from test_chip_link import CONFIG

pytestmark = pytest.mark.rtl

FRAMES, SEED, EVERY = 520, 1, 104
LABEL = 1


def network():
    cfg = Config().replace(**CONFIG).validate()
    return Network(cfg, make_topology(cfg))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The corpus on the chip once; ``(report, (cases, u, plan, results))``."""
    return fuzz.fuzz_chip(network, tmp_path_factory.mktemp("fuzz"), frames=FRAMES,
                          seed=SEED, every=EVERY, label=LABEL)


def checked(cases, u, plan, results) -> dict:
    """:func:`sim.fuzz.check` on a fresh golden model (check runs it and it learns)."""
    return fuzz.check(network(), LANES, DIVISOR, cases, u, LABEL, plan, results)


def test_the_corpus_covers_every_category():
    """At least 500 cases, every category, LFSR state 0 and out-of-range labels among
    them, the same for the same seed, and each expected reply a documented status."""
    t = fuzz.Target.of(network(), LANES, DIVISOR)
    cases = fuzz.corpus(t, FRAMES, SEED)
    assert len(cases) >= 500 and len(fuzz.corpus(t, 777, 2)) == 777
    assert {c.category for c in cases} == set(fuzz.CATEGORIES)
    assert sum(c.name == "lfsr zero" for c in cases) >= 5
    assert sum(c.name.startswith("label out of range") for c in cases) >= 5
    assert all(s in STATUS.values() for c in cases for s, _ in c.expect)
    again = fuzz.corpus(t, FRAMES, SEED)
    assert [(c.name, c.line, c.expect) for c in again] == [(c.name, c.line, c.expect)
                                                           for c in cases]


def test_the_reference_follows_the_document():
    """sim/fuzz.py ``decode`` on frames whose answers docs/host-protocol.md spells out."""
    t = fuzz.Target.of(network(), LANES, DIVISOR)
    theta, classes = t.limits[SPACES["input"]][1], t.classes
    ping = frame(CMD_PING)
    cases = [
        (ping, [(0, CMD_PING)]),
        (ping[:-1] + bytes([ping[-1] ^ 1]), [(STATUS["bad_crc"], CMD_PING)]),
        (b"\xA5", [(STATUS["timeout"], 0)]),
        (ping[:3], [(STATUS["timeout"], CMD_PING)]),
        (b"\x00\x13\xff" + ping, [(0, CMD_PING)]),                     # skipped
        (frame(CMD_PING, b"\x00"), [(STATUS["bad_length"], CMD_PING)]),
        (frame(0x33), [(STATUS["bad_command"], 0x33)]),
        (frame(0x33, b"\x00"), [(STATUS["bad_command"], 0x33)]),       # command first
        (read_frame(SPACES["input"], 0, 0, 0), [(STATUS["bad_length"], CMD_READ)]),
        (read_frame(SPACES["input"], 0, 1, t.depths[SPACES["input"]][0]),
         [(STATUS["bad_address"], CMD_READ)]),
        (read_frame(8, 0, 0, 1), [(STATUS["bad_address"], CMD_READ)]),
        (write_frame(SPACES["input"], 0, 0, [theta + 1]), [(STATUS["bad_value"], CMD_WRITE)]),
        (write_frame(SPACES["lfsr"], 0, 0, [1, 0]), [(STATUS["bad_value"], CMD_WRITE)]),
        (write_frame(SPACES["lfsr"], 0, 99, [0]), [(STATUS["bad_address"], CMD_WRITE)]),
        (frame(CMD_RUN, bytes([1, classes])), [(STATUS["bad_value"], CMD_RUN)]),
        (frame(CMD_RUN, bytes([0, classes])), [(0, CMD_RUN)]),         # no learning
        (frame(CMD_WRITE, bytes(20)), [(STATUS["bad_length"], CMD_WRITE)]),
    ]
    for stream, want in cases:
        assert fuzz.decode(stream, t) == want, stream.hex()
    with pytest.raises(fuzz.Ambiguous):
        fuzz.decode(ping + ping, t)


def test_line_timing():
    """The host's bits are laid out at fractional times: 2 % off over a byte is 0.8
    cycles at the simulated divisor, kept, not rounded away bit by bit."""
    fast = fuzz.Line(DIVISOR).byte(0x55, baud=0.02)
    slow = fuzz.Line(DIVISOR).byte(0x55, baud=-0.02)
    bit = DIVISOR * fuzz.PERIOD_PS
    assert sum(ps for _, ps in fast.segments) == round(10 * bit / 1.02)
    assert sum(ps for _, ps in slow.segments) == round(10 * bit / 0.98)
    low = fuzz.Line(DIVISOR).byte(0xFF, stop=0).segments
    assert low == [[0, bit], [1, 8 * bit], [0, bit], [1, bit]]


def test_the_chip_survives_the_corpus(run, record_property):
    """The whole corpus: the documented reply to every case, no hang, no state change,
    and the samples after it the golden model's, bit for bit."""
    report = run[0]
    table = fuzz.format_counts(report)
    print("\n" + table)
    record_property("fuzz_counts", json.dumps({"totals": report["totals"],
                                               "named": report["named"]}))
    tot = report["totals"]
    assert tot["cases"] == FRAMES
    assert report["failures"] == [], "\n".join(report["failures"][:20])
    assert tot["hangs"] == 0 and tot["state_changes"] == 0 and tot["wrong"] == 0
    assert tot["error_replies"] > 400
    assert tot["read_backs"] == FRAMES // EVERY + 1
    assert report["samples"] == {"before": True, "after": True, "learn": True}


def _reframe(hexdata: str, change) -> str:
    """A recorded reply with its payload changed by ``change`` and its CRC made right."""
    data = bytearray(bytes.fromhex(hexdata))
    n = data[3] | data[4] << 8
    payload = bytearray(data[5:5 + n])
    change(payload)
    body = bytes(data[1:5]) + bytes(payload)
    return (bytes([0xA5]) + body + bytes([crc8(body)])).hex()


def test_a_changed_weight_is_caught(run):
    """One weight word different in one read-back of the corpus: a state change."""
    cases, u, plan, results = run[1]
    results = copy.deepcopy(results)
    k = next(i for i, p in enumerate(plan) if p["kind"] == "snapshot" and p["after"] >= 0
             and p["read"][0] == SPACES["weights"])

    def flip(payload):
        payload[0] ^= 1
    results[k]["bytes"] = _reframe(results[k]["bytes"], flip)
    report = checked(cases, u, plan, results)
    assert report["totals"]["state_changes"] == 1
    assert any("state changed" in f for f in report["failures"])


def test_a_wrong_expectation_is_reported(run):
    """A case whose expected status is not the one the chip gave is counted wrong."""
    cases, u, plan, results = run[1]
    cases = copy.deepcopy(cases)
    i = next(i for i, c in enumerate(cases) if c.category == "bad_value")
    cases[i].expect = [(STATUS["bad_address"], cases[i].expect[0][1])]
    report = checked(cases, u, plan, results)
    assert report["totals"]["wrong"] == 1
    assert report["categories"]["bad_value"]["wrong"] == 1


def test_a_missing_reply_is_a_hang(run):
    """A case that got no reply by its deadline (as sim/tb_fuzz.py records it) counts as a
    hang and a wrong reply."""
    cases, u, plan, results = run[1]
    results = copy.deepcopy(results)
    k = next(i for i, p in enumerate(plan) if p["kind"] == "case"
             and cases[p["case"]].category == "truncated")
    results[k].update(bytes="", hang=True)
    report = checked(cases, u, plan, results)
    assert report["totals"]["hangs"] == 1 and report["totals"]["wrong"] == 1


def test_a_sample_unlike_the_model_is_caught(run):
    """One weight learnt differently by the last sample: not bit exact."""
    cases, u, plan, results = run[1]
    results = copy.deepcopy(results)
    k = next(i for i, p in enumerate(plan) if p["kind"] == "sample_read"
             and p["sample"] == "learn" and p["read"][0] == SPACES["weights"])

    def flip(payload):
        payload[4] ^= 1
    results[k]["bytes"] = _reframe(results[k]["bytes"], flip)
    report = checked(cases, u, plan, results)
    assert report["samples"] == {"before": True, "after": True, "learn": False}
