"""cocotb testbench of the teacher, modulators and plasticity unit (rtl/teach.py,
rtl/plasticity.py) against the golden model, under Verilator. Run through
sim.harness.run (tests/test_rtl_plasticity.py) on a build of
:class:`sim.plasticity_dut.PlasticityBench`, with cases from
:func:`sim.plasticity_cases.make_case`.

Per case the testbench, step by step: feeds the readout spikes to the teacher and checks
``m`` and the activity traces against the model's; on a step where the RTL's modulators
spiked, loads the rows' pre traces and the gates and sends one sweep command per bank,
counting cycles. At the end it reads every weight word back and compares it, the LFSR
states and the counters with the model's final weights, LFSRs and ``net.stats``.
"""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from sim.harness import run_cases, uint


class PlasticityTB:
    """Drives :class:`sim.plasticity_dut.PlasticityBench` through one case after another
    (:meth:`run_case`), counting each sweep command's cycles."""

    def __init__(self, dut):
        self.dut = dut

    async def cycle(self, **values):
        """Wait for the falling edge, then drive ``values`` (held until changed)."""
        await FallingEdge(self.dut.clk)
        for k, v in values.items():
            getattr(self.dut, k).value = v

    async def start(self):
        Clock(self.dut.clk, 10, unit="ns").start()
        for name in ("t_update", "t_clear", "cmd__valid", "wload_en", "wread_re", "tload_en",
                     "gload_en", "mload_en", "lfsr_load__en", "rst"):
            getattr(self.dut, name).value = 0

    async def reset(self):
        await self.cycle(rst=1)
        await self.cycle(rst=0)

    async def load(self, prefix, items):
        for addr, data in items:
            await self.cycle(**{f"{prefix}_en": 1, f"{prefix}_addr": addr,
                                f"{prefix}_data": data})
        await self.cycle(**{f"{prefix}_en": 0})

    async def read_words(self, addrs):
        out = []
        prev = None
        for a in list(addrs) + [None]:
            if a is None:
                await self.cycle(wread_re=0)
            else:
                await self.cycle(wread_re=1, wread_addr=a)
            if prev is not None:
                out.append(uint(self.dut.wread_data))
            prev = a
        return out

    async def sweep(self, payload):
        """Send one command; returns the cycles from the falling edge where it is offered
        to the falling edge where ``done`` is seen (it is accepted at the rising edge in
        between: the command takes ``n - 1`` cycles, ``done`` included)."""
        await self.cycle(cmd__valid=1, cmd__payload=payload)
        t0 = get_sim_time("ns")
        await self.cycle(cmd__valid=0)
        if not uint(self.dut.done):
            await RisingEdge(self.dut.done)
            await FallingEdge(self.dut.clk)
        return round((get_sim_time("ns") - t0) / 10)

    async def run_case(self, case) -> dict:
        """One case; the result has the counters and the cycles per sweep when it passed."""
        self.stats = {}
        error = await self._check_case(case)
        return {"name": case["name"], "ok": error is None, "error": error, **self.stats}

    async def _check_case(self, case):
        """Run ``case``; the first difference from the model, or None."""
        d = self.dut
        await self.reset()
        for k, v in case["tparams"].items():
            getattr(d, f"tparams__{k}").value = v
        for k, v in case["pparams"].items():
            getattr(d, f"pparams__{k}").value = v
        await self.load("wload", case["init"])
        await self.load("mload", list(enumerate(case["mask"])))
        for b, state in enumerate(case["lfsr0"]):
            await self.cycle(lfsr_load__en=1, lfsr_load__bank=b, lfsr_load__data=state)
        await self.cycle(lfsr_load__en=0)
        fields = case["cmd_fields"]
        payloads = [sum(int(b[name]) << off for name, off, _ in fields)
                    for b in case["banks"]]
        traces, gates = {}, {}
        cycles = []          # per gated step: cycles per bank
        for si, sample in enumerate(case["samples"]):
            await self.cycle(t_clear=1, label=sample["label"])
            await self.cycle(t_clear=0)
            for t, step in enumerate(sample["steps"]):
                await self.cycle(spikes=step["spikes"], t_update=1)
                await self.cycle(t_update=0)
                while not uint(d.t_done):
                    await self.cycle()
                await self.cycle()
                got_m = uint(d.m)
                where = f"{case['name']}: sample {si}, step {t}"
                if got_m != step["m"]:
                    return f"{where}: modulator spikes RTL {got_m:#x}, model {step['m']:#x}"
                if step["activity"] is not None:
                    act = [uint(getattr(d, f"activity__{k}")) for k in range(case["classes"])]
                    if act != step["activity"]:
                        return f"{where}: teacher traces RTL {act}, model {step['activity']}"
                if "traces" not in step:
                    continue
                new_t = [(int(a), v) for a, v in step["traces"].items()
                         if traces.get(int(a)) != v]
                new_g = [(j, v) for j, v in enumerate(step["gates"]) if gates.get(j) != v]
                traces.update(new_t)
                gates.update(new_g)
                await self.load("tload", new_t)
                await self.load("gload", new_g)
                cycles.append([await self.sweep(p) for p in payloads])
        exp = case["expected"]
        addrs = [a for a, _ in exp["words"]]
        got = await self.read_words(addrs)
        for (a, want), have in zip(exp["words"], got):
            if want != have:
                return f"{case['name']}: weight word {a}: model {want:#x}, RTL {have:#x}"
        lfsr = []
        for b in range(len(case["banks"])):
            await self.cycle(lfsr_sel=b)
            await ReadOnly()
            lfsr.append(uint(d.lfsr_state))
        if lfsr != exp["lfsr"]:
            return f"{case['name']}: LFSR states RTL {lfsr}, model {exp['lfsr']}"
        await self.cycle()
        counters = {"rows_swept": uint(d.rows_swept), "weight_writes": uint(d.weight_writes),
                    "modulator_events": uint(d.mod_events)}
        for k, v in counters.items():
            if v != exp[k]:
                return f"{case['name']}: {k} RTL {v}, model {exp[k]}"
        self.stats = {**counters, "sweeps": uint(d.sweeps), "cycles": cycles}
        return None


@cocotb.test()
async def plasticity_matches_golden_model(dut):
    """Every case of $SWIRL_CASES, one after another on the same bench."""
    await run_cases(dut, lambda cases: PlasticityTB(dut))
