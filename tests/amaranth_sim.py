"""Run one async testbench on an Amaranth design in the built-in simulator."""
from amaranth.sim import Simulator


async def strobe_until_done(ctx, strobe, done) -> int:
    """Pulse ``strobe`` for one cycle and wait for ``done``: the cycles from the strobe's
    edge to the one where ``done`` is seen (1: done the cycle after)."""
    ctx.set(strobe, 1)
    await ctx.tick()
    ctx.set(strobe, 0)
    cycles = 1
    while not ctx.get(done):
        await ctx.tick()
        cycles += 1
    return cycles


def simulate(dut, bench, clock=True):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
