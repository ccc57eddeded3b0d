"""cocotb testbench: the weight memory's two backends side by side (rtl/memory.py).

``MemoryPair`` feeds the same port into a ``WeightMemory`` on the SPRAM backend (yosys'
SB_SPRAM256KA model) and one on the generic ``lib.memory.Memory`` backend. The testbench
drives a random mix of reads, writes and idle cycles (the access contract of
rtl/memory.py) and checks, the cycle after every read, that both return the word last
written there. Writes cover every bank and column; reads only hit written words (an
unwritten SPRAM word is undefined).
"""
import json
import os
import random

import cocotb
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from rtl.memory import WeightMemory


class MemoryPair(wiring.Component):
    def __init__(self, width, depth):
        self._width, self._depth = width, depth
        super().__init__({
            "addr": In(range(depth)), "re": In(1), "we": In(1), "wdata": In(width),
            "rdata_spram": Out(width), "rdata_memory": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        for backend in ("spram", "memory"):
            mem = WeightMemory(width=self._width, depth=self._depth, backend=backend)
            m.submodules[backend] = mem
            m.d.comb += [mem.addr.eq(self.addr), mem.re.eq(self.re), mem.we.eq(self.we),
                         mem.wdata.eq(self.wdata),
                         getattr(self, f"rdata_{backend}").eq(mem.rdata)]
        return m


@cocotb.test()
async def backends_agree(dut):
    with open(os.environ["SWIRL_CASES"]) as f:
        (case,) = json.load(f)
    width, depth, cycles = case["width"], case["depth"], case["cycles"]
    rng = random.Random(case["seed"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 0
    written = {}
    pending = None            # (addr, word) read in the previous cycle
    checked = 0
    # addresses at both ends of every bank, plus random ones
    hot = sorted({a for b in range(0, depth, 16384) for a in (b, b + 1, min(b + 16383,
                  depth - 1))} | {depth - 1})
    for _ in range(cycles):
        await FallingEdge(dut.clk)
        op = rng.choice(("read", "read", "write", "idle")) if written else "write"
        addr = rng.choice(hot) if rng.random() < 0.3 else rng.randrange(depth)
        if op == "read":
            addr = rng.choice(sorted(written)) if addr not in written else addr
        word = rng.getrandbits(width)
        dut.addr.value = addr
        dut.wdata.value = word
        dut.we.value = int(op == "write")
        dut.re.value = int(op == "read" or (op == "write" and rng.random() < 0.5))
        await ReadOnly()
        if pending is not None:
            a, expect = pending
            for port in (dut.rdata_spram, dut.rdata_memory):
                got = port.value.to_unsigned()  # a LogicArray: width > 1
                assert got == expect, f"{port._name} @ {a}: {got:#x} != {expect:#x}"
            checked += 1
        pending = (addr, written[addr]) if op == "read" else None
        if op == "write":
            written[addr] = word
    assert checked > cycles // 4
    with open(os.environ["SWIRL_RESULTS"], "w") as f:
        json.dump([{"ok": True, "error": None, "reads_checked": checked}], f)
