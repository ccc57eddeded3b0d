"""cocotb testbench for bench/phases.py: sim/tb_chip.py's job on a chip built with its
internal signals public, recording every change of the sequencer's state and phase
(rtl/sequencer.py) and the router's stall counter, so that the cycles of each phase of
each step can be counted. Measurement only: the chip is the one ``compare`` simulates."""
from __future__ import annotations

import cocotb
from cocotb.triggers import First
from cocotb.utils import get_sim_time

from sim.tb_chip import PERIOD_NS, ChipTB


class PhaseTB(ChipTB):
    """:class:`sim.tb_chip.ChipTB` with a recorder of ``engine.sequencer``'s ``fsm_state``
    and ``phase`` and ``engine.router``'s ``stalls`` (sampled at every change of state)."""

    def __init__(self, dut):
        super().__init__(dut)
        self.log = []

    async def record(self):
        seq, router = self.dut.engine.sequencer, self.dut.engine.router
        while True:
            await First(seq.fsm_state.value_change, seq.phase.value_change)
            self.log.append([int(get_sim_time("ns")) // PERIOD_NS, int(seq.fsm_state.value),
                             int(seq.phase.value), int(router.stalls.value)])

    async def run_case(self, job) -> dict:
        cocotb.start_soon(self.record())
        result = await super().run_case(job)
        result["phase_log"] = self.log
        return result


@cocotb.test()
async def phases(dut):
    """The job of $SWIRL_CASES on the chip, with the phase log."""
    from sim.harness import run_cases
    await run_cases(dut, lambda cases: PhaseTB(dut))
