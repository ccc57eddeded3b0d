"""cocotb testbench of tests/test_cells.py: drives a design's inputs cycle by cycle and
records its outputs after every rising edge, nothing else (the comparison with the
reference is the test's).

A case: ``inputs`` and ``outputs`` (port names), ``cycles`` (one list of input values a
cycle, in ``inputs`` order). Inputs change on the falling edge, outputs are read once
the rising edge has settled; the result's ``trace`` is one list of output values a cycle.
All inputs are 0 before the clock starts, so the first edge writes nothing.
"""
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.harness import run_cases, uint


class CellsTB:
    def __init__(self, dut):
        self.dut = dut

    async def start(self):
        self.dut.rst.value = 0
        for name in self.inputs_of_all:
            getattr(self.dut, name).value = 0
        Clock(self.dut.clk, 10, unit="ns").start(start_high=False)

    async def run_case(self, case):
        dut, trace = self.dut, []
        ins = [getattr(dut, n) for n in case["inputs"]]
        outs = [getattr(dut, n) for n in case["outputs"]]
        for values in case["cycles"]:
            await FallingEdge(dut.clk)
            for port, v in zip(ins, values):
                port.value = v
            await RisingEdge(dut.clk)
            await ReadOnly()
            trace.append([uint(p) for p in outs])
        return {"ok": True, "error": None, "trace": trace}


@cocotb.test()
async def drive(dut):
    def make_tb(cases):
        tb = CellsTB(dut)
        tb.inputs_of_all = sorted({n for c in cases for n in c["inputs"]})
        return tb
    await run_cases(dut, make_tb)
