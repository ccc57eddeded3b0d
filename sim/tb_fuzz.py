"""cocotb testbench of the whole chip (rtl/top.py ``SwirlChip``) under Verilator for the
host-link fuzz corpus (sim/fuzz.py, tests/test_fuzz.py, bench/fuzz.py): it plays line
levels into ``rx`` and records what the chip sends on ``tx``. It knows nothing of the
protocol's rules: the corpus says what to send and how long to wait, and the checks are
made outside, against docs/host-protocol.md (sim/fuzz.py ``check``).

Why its own driver and not sim/tb_chip.py's ``CocotbTransport.serve``: the corpus has
faults below the byte (a low stop bit, bits 2 % longer or shorter than the chip's), so the
host side here shifts bits itself, as ``(level, picoseconds)`` segments that sim/fuzz.py
``Line`` laid out with fractional bit times. The time of every edge is kept as an absolute
target and rounded once to the simulator's step, so a fractional bit time does not drift.
The receiver (the chip's ``tx`` decoded 8N1 at mid-bit) and the per-step probe are
sim/tb_chip.py's.

A job: ``{"divisor", "cores", "neurons", "exchanges": [...]}``; an exchange ``{"segments":
[[level, ps], ...], "replies": n, "deadline": cycles, "quiet": cycles, "probe": bool}``:
play the segments, then wait until ``n`` whole replies have come since the exchange began
or ``deadline`` cycles have passed after its last segment (then the exchange is a hang),
then listen ``quiet`` cycles more for bytes nobody asked for. The result per exchange:
every byte the chip sent (hex), whether the deadline ran out, the cycles waited, and with
``probe`` the steps the probe recorded.
"""
from __future__ import annotations

import cocotb
from cocotb.triggers import First, Timer
from cocotb.utils import get_sim_steps, get_sim_time

from sim.tb_chip import PERIOD_NS, ChipTB, CocotbTransport, StepProbe

PERIOD_PS = PERIOD_NS * 1000


def whole_replies(data: bytes) -> int:
    """How many complete reply frames (``A5 status cmd len_lo len_hi payload crc``) lead
    ``data``; a byte that is no sync where a reply should start ends the count (it is
    reported as it came, and the checks outside name it)."""
    n, i = 0, 0
    while i + 5 <= len(data) and data[i] == 0xA5:
        end = i + 5 + (data[i + 3] | data[i + 4] << 8) + 1
        if end > len(data):
            break
        n, i = n + 1, end
    return n


class FuzzTB(ChipTB):
    """Clock and reset from :class:`ChipTB`; :meth:`run_case` plays one job."""

    async def play(self, segments) -> None:
        """Hold ``rx`` at each segment's level for its time, edges at absolute times."""
        dut = self.dut
        target = round(get_sim_time("ps"))
        for level, ps in segments:
            dut.rx.value = int(level)
            target += ps
            steps = get_sim_steps(round(target - get_sim_time("ps")), "ps", round_mode="round")
            if steps > 0:
                await Timer(steps, "step")

    async def run_case(self, job) -> dict:
        dut = self.dut
        rx = CocotbTransport(job["divisor"])
        cocotb.start_soon(rx.receive(dut))
        probe = StepProbe(dut, job["cores"], 1, job["neurons"])
        cocotb.start_soon(probe.watch())
        dut.rx.value = 1
        out = []
        for ex in job["exchanges"]:
            first_byte, first_step = len(rx.inbox), len(probe.steps)
            await self.play(ex["segments"])
            start, hang = round(get_sim_time("ps")), False
            while whole_replies(bytes(rx.inbox[first_byte:])) < ex["replies"]:
                left = ex["deadline"] * PERIOD_PS - (round(get_sim_time("ps")) - start)
                if left <= 0:
                    hang = True
                    break
                rx.arrived.clear()
                await First(rx.arrived.wait(), Timer(left, "ps"))
            waited = (round(get_sim_time("ps")) - start) // PERIOD_PS
            if ex["quiet"]:
                await Timer(ex["quiet"] * PERIOD_NS, "ns")
            got = {"bytes": bytes(rx.inbox[first_byte:]).hex(), "hang": hang,
                   "waited": waited}
            if ex.get("probe"):
                got["steps"] = probe.steps[first_step:]
            out.append(got)
        return {"ok": True, "exchanges": out}


@cocotb.test()
async def fuzz(dut):
    """The jobs of $SWIRL_CASES on the chip, one after another in one simulation."""
    from sim.harness import run_cases
    await run_cases(dut, lambda cases: FuzzTB(dut))
