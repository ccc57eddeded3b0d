"""Our DP16KD behaviour (sim/cells.py), checked against an independent reference: small
Amaranth designs with ``lib.memory.Memory`` instances that yosys' ``synth_ecp5`` maps to
DP16KD at every data width it uses (1, 2, 4, 9, 18, and 36, the PDPW16KD form), with
non-zero init values, byte enables, transparent and non-transparent read ports, read
enables, a ROM, a port that reads and writes one address, read data reset in either
RESETMODE, and ports of different widths on one block. The netlist runs under Verilator
with sim/cells.py's models; the same design runs under Amaranth's own simulator; both see
the same random inputs and must agree on every output after every clock edge. A DP16KD
body with a wrong INITVAL pitch must make them disagree."""
from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import C, Cat, ClockDomain, ClockSignal, Module, unsigned
from amaranth.utils import exact_log2
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from sim import cells, harness

pytestmark = [pytest.mark.rtl, pytest.mark.synth]

#: name -> (width, depth, write port: its granularity, None for one write enable, "rom"
#: for none; read port: "plain", "transparent" (for the write port), "always" (no read
#: enable), "srst" / "arst" (an asynchronous read port and a register after it with a
#: synchronous / asynchronous reset, which yosys folds into the DP16KD's RST), "wideK" (K
#: read ports of K neighbouring words, which yosys merges into one port K times as wide:
#: a DP16KD reading at another width than it writes); one address for both ports; init
#: values)
MEMORIES = {
    "w18": (18, 1024, 9, "plain", False, True),
    "w9": (9, 2048, None, "transparent", False, True),
    "w4": (4, 4096, None, "always", False, True),
    "w2": (2, 8192, None, "plain", False, False),
    "w1": (1, 16384, None, "transparent", False, True),
    "w36": (36, 512, 9, "plain", False, True),
    "rw_new": (16, 1024, 8, "transparent", True, True),
    "rw_old": (12, 1024, None, "plain", True, True),
    "rom": (8, 2048, "rom", "plain", False, True),
    "srst": (18, 1024, None, "srst", False, True),
    "arst": (9, 2048, None, "arst", False, True),
    "wide2": (9, 2048, None, "wide2", False, True),
    "wide4": (4, 4096, None, "wide4", False, True),
}
CYCLES = 3000
SEED = 7


def _init(name, width, depth):
    rng = random.Random(f"{SEED}-{name}")
    return [rng.getrandbits(width) for _ in range(depth)]


class MemoryZoo(wiring.Component):
    """One memory of :data:`MEMORIES` each, its ports the top level's."""

    def __init__(self):
        members = {}
        for name, (width, depth, gran, read, shared, _) in MEMORIES.items():
            if shared:
                members[f"{name}_addr"] = In(range(depth))
            else:
                members[f"{name}_raddr"] = In(range(depth))
            if gran != "rom":
                if not shared:
                    members[f"{name}_waddr"] = In(range(depth))
                members[f"{name}_wdata"] = In(width)
                members[f"{name}_we"] = In(width // gran if gran else 1)
            if read in ("srst", "arst"):
                members[f"{name}_rst"] = In(1)
            elif read != "always":
                members[f"{name}_re"] = In(1)
            k = int(read[4:]) if read.startswith("wide") else 1
            if k > 1:
                members[f"{name}_raddr"] = In(range(depth // k))
            members[f"{name}_rdata"] = Out(width * k)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for name, (width, depth, gran, read, shared, init) in MEMORIES.items():
            mem = Memory(shape=unsigned(width), depth=depth,
                         init=_init(name, width, depth) if init else [])
            m.submodules[name] = mem
            port = lambda field: getattr(self, f"{name}_{field}")  # noqa: E731
            if gran != "rom":
                wp = mem.write_port(granularity=gran)
                m.d.comb += [wp.addr.eq(port("addr" if shared else "waddr")),
                             wp.data.eq(port("wdata")), wp.en.eq(port("we"))]
            if read in ("srst", "arst"):
                rp = mem.read_port(domain="comb")
                if read == "srst":
                    with m.If(port("rst")):
                        m.d.sync += port("rdata").eq(0)
                    with m.Else():
                        m.d.sync += port("rdata").eq(rp.data)
                else:
                    m.domains.arst = cd = ClockDomain("arst", async_reset=True, local=True)
                    m.d.comb += [cd.clk.eq(ClockSignal("sync")), cd.rst.eq(port("rst"))]
                    m.d.arst += port("rdata").eq(rp.data)
                m.d.comb += rp.addr.eq(port("raddr"))
                continue
            if read.startswith("wide"):
                k = int(read[4:])
                for i in range(k):
                    rp = mem.read_port()
                    m.d.comb += [rp.addr.eq(Cat(C(i, exact_log2(k)), port("raddr"))),
                                 rp.en.eq(port("re")),
                                 port("rdata")[i * width:(i + 1) * width].eq(rp.data)]
                continue
            rp = mem.read_port(transparent_for=(wp,) if read == "transparent" else ())
            m.d.comb += [rp.addr.eq(port("addr" if shared else "raddr")),
                         port("rdata").eq(rp.data)]
            if read != "always":
                m.d.comb += rp.en.eq(port("re"))
        return m


def stimulus(design, cycles=CYCLES, seed=SEED):
    """``(inputs, values)``: random inputs a cycle; addresses often from a few hot ones
    (read after write, a read and a write of one address on one edge), else anywhere
    (the init values)."""
    rng = random.Random(seed)
    names = sorted(n for n, m in design.signature.members.items() if m.flow == wiring.In)
    hot = {}
    rows = []
    for _ in range(cycles):
        row = []
        for n in names:
            sig = getattr(design, n)
            mem = n.rsplit("_", 1)[0]
            if n.endswith("addr"):
                depth = MEMORIES[mem][1]
                spots = hot.setdefault(mem, [0, 1, depth - 1, depth // 2]
                                       + [rng.randrange(depth) for _ in range(4)])
                row.append((rng.choice(spots) if rng.random() < 0.5 else rng.randrange(depth))
                           % (1 << len(sig)))    # a wide read port's words are fewer
            elif n.endswith("we"):
                row.append(rng.getrandbits(len(sig)) if rng.random() < 0.4 else 0)
            elif n.endswith("re"):
                row.append(int(rng.random() < 0.7))
            elif n.endswith("rst"):
                row.append(int(rng.random() < 0.1))
            else:
                row.append(rng.getrandbits(len(sig)))
        rows.append(row)
    return names, rows


def reference_trace(design, inputs, outputs, rows):
    """The outputs after every edge under Amaranth's own simulator (amaranth.sim)."""
    trace = []

    async def bench(ctx):
        ins = [getattr(design, n) for n in inputs]
        outs = [getattr(design, n) for n in outputs]
        for row in rows:
            for sig, v in zip(ins, row):
                ctx.set(sig, v)
            await ctx.tick()
            trace.append([ctx.get(s) for s in outs])

    sim = Simulator(design)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return trace


def synthesise(design) -> str:
    """The design's ``synth_ecp5`` netlist, by the yosys the ULX3S build uses (cached in
    sim_build/ by the RTLIL text and the yosys)."""
    from gen.build import find_tools
    yosys = find_tools("trellis")["YOSYS"]
    il = rtlil.convert(design, name="top")
    script = "read_rtlil design.il\nsynth_ecp5 -top top\nwrite_verilog -noattr design.v\n"
    key = hashlib.sha256(json.dumps([il, script, yosys]).encode()).hexdigest()[:12]
    cached = harness.SIM_BUILD / f"cells-ecp5-{key}.v"
    if not cached.exists():
        with tempfile.TemporaryDirectory(prefix="swirl-cells-") as tmp:
            out = Path(tmp)
            (out / "design.il").write_text(il)
            (out / "synth.ys").write_text(script)
            r = subprocess.run([yosys, "-q", "-l", "synth.log", "synth.ys"], cwd=out,
                               capture_output=True, text=True)
            assert r.returncode == 0, (out / "synth.log").read_text()[-3000:]
            harness.SIM_BUILD.mkdir(exist_ok=True)
            cached.write_text((out / "design.v").read_text())
    return cached.read_text()


def dp16kd_instances(netlist: str) -> list[dict]:
    """Every DP16KD of the netlist: its parameters and connections, by name."""
    return [dict(re.findall(r"\.(\w+)\(([^()]*)\)", params + conns))
            for params, conns in re.findall(r"^\s*DP16KD\s*#\((.*?)\)\s*\S+\s*\((.*?)\);",
                                            netlist, re.S | re.M)]


def build(netlist: str, name: str):
    defined = set(re.findall(r"^module\s+\\?(\S+?)\s*[(#;]", netlist, re.M))
    models = cells.library("ecp5").models_for(netlist, defined)
    return harness.build_verilog({"design.v": netlist, "cells.v": models}, name,
                                 extra_args=("-Wno-PINMISSING", "-Wno-MULTIDRIVEN",
                                             "-Wno-TIMESCALEMOD", "-Wno-UNOPTFLAT",
                                             "-Wno-ASSIGNIN"))


def first_difference(inputs, rows, outputs, expected, got):
    for t, (e, g) in enumerate(zip(expected, got)):
        for n, a, b in zip(outputs, e, g):
            if a != b:
                return (f"cycle {t}, {n}: reference {a:#x}, netlist {b:#x} "
                        f"(inputs {dict(zip(inputs, rows[t]))})")
    return None if len(expected) == len(got) else "traces differ in length"


@pytest.fixture(scope="module")
def zoo():
    """The design, its netlist (checked to hold what the test is about), its inputs and
    the reference's outputs."""
    design = MemoryZoo()
    netlist = synthesise(design)
    inputs, rows = stimulus(design)
    outputs = sorted(n for n, m in design.signature.members.items() if m.flow == wiring.Out)
    expected = reference_trace(MemoryZoo(), inputs, outputs, rows)
    return netlist, inputs, outputs, rows, expected


def run_netlist(b, inputs, outputs, rows, test_dir):
    (r,) = harness.run(b, "sim.tb_cells", [{"inputs": inputs, "outputs": outputs,
                                            "cycles": rows}], test_dir)
    return r["trace"]


def test_yosys_maps_every_memory_to_dp16kd(zoo):
    """The premise: the memories are DP16KD (not LUTs), at every data width and
    read-during-write mode yosys uses, written at one width and read at another, some
    start with non-zero words, and a read reset is driven in either RESETMODE."""
    netlist = zoo[0]
    dps = dp16kd_instances(netlist)
    assert len(dps) >= len(MEMORIES), len(dps)
    def w(d, p):
        return int(d[f"DATA_WIDTH_{p}"].split("'d")[-1])
    widths = {w(d, p) for d in dps for p in "AB"}
    assert widths >= {1, 2, 4, 9, 18, 36}, widths
    mixed = {(w(d, "A"), w(d, "B")) for d in dps if not re.fullmatch(r"1'h0\s*", d["WEA"])}
    assert {(9, 18), (4, 18)} <= mixed, mixed      # written narrow, read wide
    modes = {d.get(f"WRITEMODE_{p}", "").strip('"') for d in dps for p in "AB"}
    assert {"WRITETHROUGH", "READBEFOREWRITE"} <= modes, modes
    assert any(re.search(r"'h0*[1-9a-f]", v) for d in dps for k, v in d.items()
               if k.startswith("INITVAL_"))
    resets = {d["RESETMODE"].strip('"') for d in dps for p in "AB"
              if not re.fullmatch(r"1'h0\s*", d[f"RST{p}"])}
    assert resets == {"SYNC", "ASYNC"}, resets
    assert "TRELLIS_DPR16X4" not in netlist


def test_dp16kd_model_agrees_with_amaranth(zoo, tmp_path):
    """Every output after every edge, the netlist with our DP16KD against Amaranth's
    simulation of the design."""
    netlist, inputs, outputs, rows, expected = zoo
    got = run_netlist(build(netlist, "cells-ecp5"), inputs, outputs, rows, tmp_path)
    assert first_difference(inputs, rows, outputs, expected, got) is None


def test_a_wrong_dp16kd_body_is_caught(zoo, tmp_path, monkeypatch):
    """The comparison can fail: a DP16KD with its INITVAL words 18 bits apart instead of
    in 20-bit slots reads wrong init values."""
    netlist, inputs, outputs, rows, expected = zoo
    monkeypatch.setitem(cells.BODIES, "DP16KD", cells._dp16kd(init_slot=18))
    got = run_netlist(build(netlist, "cells-ecp5-wrong"), inputs, outputs, rows, tmp_path)
    assert first_difference(inputs, rows, outputs, expected, got) is not None
