"""cocotb testbench that only clocks a design: each case runs ``case["cycles"]`` cycles
after a reset (gen/energy.py's tests measure a counter's toggles with the SAIF tracer)."""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

PERIOD_NS = 10


class IdleTB:
    def __init__(self, dut):
        self.dut = dut

    async def start(self):
        Clock(self.dut.clk, PERIOD_NS, unit="ns").start()
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0

    async def run_case(self, case) -> dict:
        await ClockCycles(self.dut.clk, int(case["cycles"]))
        return {"ok": True}


@cocotb.test()
async def idle(dut):
    """Clock the design for each case of $SWIRL_CASES."""
    from sim.harness import run_cases
    await run_cases(dut, lambda cases: IdleTB(dut))
