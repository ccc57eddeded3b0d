"""Run one async testbench on an Amaranth design in the built-in simulator."""
from amaranth.sim import Simulator


def simulate(dut, bench, clock=True):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
