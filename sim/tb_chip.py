"""cocotb testbench of the whole chip (rtl/top.py ``SwirlChip``) under Verilator, driven
through its UART pins by the same host driver a board uses (sim/host.py ``Host``).

The driver is synchronous, the simulator is not: the job (:func:`run_job`) runs in a
worker thread on a :class:`CocotbTransport`, whose ``write`` queues bytes and whose
``read`` blocks until the simulation (this module's coroutines, in cocotb's thread) has
shifted them through the UART. Meanwhile a probe records, at the end of every step, the
hidden spikes, the input spikes and the readout
spikes: the per-step raster that sim/compare.py sets beside the golden model's.

Run through :func:`sim.compare.run_chip` (job in ``SWIRL_CASES``, results to
``SWIRL_RESULTS``, see sim/harness.py ``run``). A job of kind ``link``
(:func:`run_link_job`, tests/test_chip_link.py) sends raw bytes and line levels instead:
the framing, the bytes during a reply, line errors.
"""
from __future__ import annotations

import threading
import traceback

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

PERIOD_NS = 10


async def uart_byte(tx, divisor: int) -> int:
    """The next 8N1 byte on the chip's ``tx`` line, sampled mid-bit: waits for the start
    bit's falling edge and returns after the stop bit."""
    bit = divisor * PERIOD_NS
    await FallingEdge(tx)
    await Timer(bit // 2, unit="ns")
    byte = 0
    for i in range(8):
        await Timer(bit, unit="ns")
        byte |= int(tx.value) << i
    await Timer(bit, unit="ns")
    return byte


class CocotbTransport:
    """``sim.host.Transport`` over the simulated UART pins (8N1, ``divisor`` cycles a
    bit). ``read(n, timeout)`` waits at most ``timeout`` simulated cycles;
    :meth:`write_line` sends raw line levels (glitches, low stop bits, breaks)."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        self.lock = threading.Condition()
        self.out = []                   # host -> chip, not yet sent: bytes, (level, cycles)
        self.inbox = bytearray()        # chip -> host, not yet read
        self.want = None                # (bytes wanted, cycle deadline) of a blocked read
        self.cycles = 0                 # simulated cycles so far (the coroutine's clock)
        self.finished = False           # the worker returned
        self.arrived = Event()          # the receiver got a byte
        self.resets = []                # what the chip was doing at each reset

    # ---- the worker's side (sim.host.Transport) ----------------------------------------
    def write(self, data: bytes) -> None:
        with self.lock:
            self.out.extend(data)
            self.lock.notify_all()

    def write_line(self, segments) -> None:
        """Hold ``rx`` at ``level`` for ``cycles``, for each ``(level, cycles)``."""
        with self.lock:
            self.out.extend((int(level), int(cycles)) for level, cycles in segments)
            self.lock.notify_all()

    def reset(self, how: dict) -> None:
        """Queue a pulse on the chip's reset pin, after what is queued before it:
        ``how["learning"]`` (optional) times the learning unit starts work first (the
        probe's ``learning`` rises; at most ``how["limit"]`` cycles in all, the misses
        counted), then ``how["after"]`` cycles pass; the pin is held
        ``how.get("hold", 8)`` cycles. What the chip was doing then goes to
        :attr:`resets`."""
        with self.lock:
            self.out.append(dict(how))
            self.lock.notify_all()

    def levels(self, item) -> list:
        """``(level, cycles)`` of a queued item: a byte is 8N1, start bit first."""
        if isinstance(item, tuple):
            return [item]
        return [(b, self.divisor) for b in [0] + [(item >> i) & 1 for i in range(8)] + [1]]

    def read(self, n: int, timeout: float) -> bytes:
        with self.lock:
            self.want = (n, self.cycles + int(timeout))
            if self.want[1] <= self.cycles:
                self.want = (n, self.cycles + 1)
            self.lock.notify_all()
            while len(self.inbox) < n and self.want is not None:
                self.lock.wait()
            self.want = None
            data, self.inbox[:] = bytes(self.inbox[:n]), self.inbox[n:]
            return data

    # ---- the simulation's side ---------------------------------------------------------
    async def serve(self, dut) -> None:
        """Send queued bytes, wake a blocked read when its bytes came or its time ran out,
        and otherwise let the chip run; returns once the worker is finished."""
        await self.idle(dut)
        while True:
            with self.lock:
                if self.finished:
                    return
                item = self.out.pop(0) if self.out else None
                if item is None and self.want is None:
                    # the worker computes: wait for it without running the chip
                    self.lock.wait(timeout=0.05)
                    continue
            if isinstance(item, dict):
                await self._pulse_reset(dut, item)
                self._tick()
                continue
            if item is not None:
                await self.send(dut, item)
                self._tick()
                continue
            # a read waits: run until a byte arrives or its deadline
            with self.lock:
                left = self.want[1] - self.cycles if self.want is not None else 0
                if self.want is not None and (len(self.inbox) >= self.want[0] or left <= 0):
                    self.want = None
                    self.lock.notify_all()
                    continue
            self.arrived.clear()
            await First(self.arrived.wait(), Timer(max(left, 1) * PERIOD_NS, unit="ns"))
            self._tick()

    async def send(self, dut, item) -> None:
        """Shift one queued byte or line level into ``rx``."""
        for level, cycles in self.levels(item):
            dut.rx.value = level
            await Timer(cycles * PERIOD_NS, unit="ns")

    async def idle(self, dut) -> None:
        """The host side at rest."""
        dut.rx.value = 1

    async def _pulse_reset(self, dut, how: dict) -> None:
        # sampled every cycle: the reset lands a fixed number of cycles into a phase
        missed, left = 0, how.get("limit", 1_000_000)
        for _ in range(how.get("learning", 0)):
            was, began = int(dut.probe__learning.value), False
            while left > 0 and not began:
                await RisingEdge(dut.clk)
                left -= 1
                now = int(dut.probe__learning.value)
                began, was = bool(now and not was), now
            missed += not began
        await Timer(max(1, how["after"]) * PERIOD_NS, unit="ns")
        self.resets.append({"missed": missed, "learning": int(dut.probe__learning.value),
                            "steps_done": int(dut.probe__steps_done.value),
                            "cycle": int(get_sim_time("ns")) // PERIOD_NS})
        dut.rst.value = 1
        await Timer(how.get("hold", 8) * PERIOD_NS, unit="ns")
        dut.rst.value = 0

    def _tick(self) -> None:
        with self.lock:
            self.cycles = int(get_sim_time("ns")) // PERIOD_NS

    async def receive(self, dut) -> None:
        """Decode ``tx`` into the inbox, forever."""
        while True:
            byte = await uart_byte(dut.tx, self.divisor)
            with self.lock:
                self.inbox.append(byte)
            self.arrived.set()


class CocotbByteTransport(CocotbTransport):
    """The same over the host link's byte streams of a chip built without its UART
    (rtl/top.py ``SwirlChip(link="bytes")``): a byte a cycle when the link is ready.
    Inputs change just after a rising edge and ``ready``/``valid`` are read at the
    falling edge, so a transfer is the rising edge that follows a cycle with both high.
    Line levels (glitches, breaks) need the UART: they are refused. A byte is offered
    no sooner than :attr:`GAP` cycles after the last one received: the link listens again
    a cycle after its reply's last byte is taken (rtl/host.py ``T_END``), which a UART's
    stop bit always covers."""

    GAP = 2
    last_rx = -GAP          # the cycle the last byte from the chip was taken

    def levels(self, item) -> list:
        if isinstance(item, tuple):
            raise ValueError("line levels need the UART link (SwirlChip link='uart')")
        return [(item, 1)]

    async def idle(self, dut) -> None:
        dut.rx_bytes__valid.value = 0
        dut.tx_bytes__ready.value = 1

    async def send(self, dut, item) -> None:
        self.levels(item)
        # offered mid-cycle: no rising edge passes between offering and seeing ready
        await FallingEdge(dut.clk)
        while get_sim_time("ns") // PERIOD_NS < self.last_rx + self.GAP:
            await FallingEdge(dut.clk)
        dut.rx_bytes__payload.value = item
        dut.rx_bytes__valid.value = 1
        while not int(dut.rx_bytes__ready.value):
            await FallingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.rx_bytes__valid.value = 0

    async def receive(self, dut) -> None:
        while True:
            await RisingEdge(dut.tx_bytes__valid)
            while True:
                await FallingEdge(dut.clk)
                if not int(dut.tx_bytes__valid.value):
                    break
                with self.lock:
                    self.inbox.append(int(dut.tx_bytes__payload.value))
                self.last_rx = get_sim_time("ns") // PERIOD_NS
                self.arrived.set()


class StepProbe:
    """Per step: input spikes, hidden spikes (per logical core), readout spikes, as
    integers (bit ``i`` neuron ``i``), read from the chip's probe port (rtl/top.py
    ``ProbeSignature``) when its step counter moves on. A port renamed there fails here
    at once (cocotb has no handle of that name), never silently."""

    def __init__(self, dut, cores: int, share: int = 1, neurons: int = 1,
                 states: bool = False, classes: int = 1):
        self.steps_done, self.inputs, self.hidden_bits, self.readout = (
            getattr(dut, f"probe__{name}") for name in ("steps_done", "s_in", "s_h", "s_r"))
        self.cores, self.neurons = cores, neurons
        self.steps = []             # one dict per step, across all samples
        # with ``states``: every hidden neuron's current and membrane, from the physical
        # cores' o_state (the probe's state_*), as [[hidden index, i, v], ...] a step; the
        # readout's the same way (ro_*); the pre-synaptic traces the learning unit writes
        # back (trace_*) as [[trace address, value], ...]; the teacher's class traces
        self.dut, self.share, self.states, self.classes = dut, share, states, classes
        self.pending, self.pending_ro, self.pending_traces = {}, {}, {}
        if states:
            cocotb.start_soon(self.watch_states())

    async def watch_states(self) -> None:
        dut, N, share = self.dut, self.neurons, self.share
        P = len(dut.probe__state_valid)
        nb = len(dut.probe__state_neuron) // P
        cw, mw = len(dut.probe__state_current) // P, len(dut.probe__state_membrane) // P

        def field(sig, p, w, signed):
            v = (int(sig.value) >> (p * w)) & ((1 << w) - 1)
            return v - (1 << w) if signed and v >> (w - 1) else v
        while True:
            await RisingEdge(dut.clk)
            valid = int(dut.probe__state_valid.value)
            for p in range(P):
                if valid >> p & 1:
                    n = field(dut.probe__state_neuron, p, nb, False)
                    g = p * share + n // N              # the logical core (one layer's cores)
                    self.pending[g * N + n % N] = (field(dut.probe__state_current, p, cw, True),
                                                   field(dut.probe__state_membrane, p, mw, True))
            if int(dut.probe__ro_valid.value):
                self.pending_ro[int(dut.probe__ro_neuron.value)] = (
                    field(dut.probe__ro_current, 0, cw, True),
                    field(dut.probe__ro_membrane, 0, mw, True))
            if int(dut.probe__trace_valid.value):
                self.pending_traces[int(dut.probe__trace_addr.value)] = \
                    int(dut.probe__trace_data.value)

    def hidden(self) -> list:
        bits, mask = int(self.hidden_bits.value), (1 << self.neurons) - 1
        return [(bits >> (g * self.neurons)) & mask for g in range(self.cores)]

    async def watch(self) -> None:
        while True:
            await self.steps_done.value_change
            if int(self.steps_done.value) == 0:       # RUN cleared it
                continue
            step = {"s_in": int(self.inputs.value), "s_h": self.hidden(),
                    "s_r": int(self.readout.value)}
            if self.states:
                step["state"] = [[k, *v] for k, v in sorted(self.pending.items())]
                step["readout_state"] = [[k, *v] for k, v in sorted(self.pending_ro.items())]
                step["traces"] = [[a, x] for a, x in sorted(self.pending_traces.items())]
                flat, K = int(self.dut.probe__activity.value), self.classes
                tw = len(self.dut.probe__activity) // K
                step["activity"] = [(flat >> (k * tw)) & ((1 << tw) - 1) for k in range(K)]
                self.pending, self.pending_ro, self.pending_traces = {}, {}, {}
            self.steps.append(step)


def run_job(host, job: dict, probe: StepProbe) -> dict:
    """The host's side: load the image, run every sample, read what compare needs."""
    import numpy as np

    from sim.host import split_frames
    host.ping()
    with open(job["image"], "rb") as f:
        host.load_image(split_frames(f.read()))
    samples = np.load(job["samples"])
    u, labels = samples["u"], samples["labels"]
    out = {"info": host.ping(), "runs": []}
    for run in job["runs"]:
        if run.get("reset") is not None:
            out["runs"].append(reset_run(host, job, probe, u, labels, run["reset"]))
            continue
        if run.get("lfsr") is not None:
            host.set_lfsr_states(run["lfsr"])
        per_sample = []
        for i in range(len(u)):
            first = len(probe.steps)
            got = host.classify([int(x) for x in u[i]], job["classes"],
                                learn=run["learn"], label=int(labels[i]),
                                timeout=job["run_timeout"])
            got["steps_raster"] = probe.steps[first:]
            if run["learn"]:
                got["lfsr"] = host.lfsr_states(job["banks"])
            per_sample.append(got)
        weights = [host.read(0, b, 0, n) for b, n in enumerate(job["bank_words"])]
        # the inference chip has no LFSRs (a READ of them is refused: bad_address)
        lfsr = host.lfsr_states(job["banks"]) if out["info"]["learning"] else None
        out["runs"].append({"samples": per_sample, "weights": weights, "lfsr": lfsr})
    return out


def reset_run(host, job: dict, probe: StepProbe, u, labels, r: dict) -> dict:
    """Learn sample ``r["sample"]`` and reset the chip in the middle of it
    (:meth:`CocotbTransport.reset` with ``r["how"]``); then PING, read back every weight
    and LFSR state as the reset left them, and learn the next sample, as a run of one
    (``samples``, ``weights``, ``lfsr``) that sim/compare.py ``side_by_side`` takes
    beside a golden model started from what was read back."""
    from rtl.host_protocol import CMD_RUN
    from sim.host import frame
    t, i = host.t, r["sample"]
    host.load_input([int(x) for x in u[i]])
    t.write(frame(CMD_RUN, bytes([1, int(labels[i])])))      # no reply: it is cut short
    t.reset(r["how"])
    drained = t.read(1 << 30, r.get("drain", 20_000))      # what a cut reply left
    info = host.ping()
    banks = range(len(job["bank_words"]))
    state = {"info": info, **t.resets[-1], "drained": drained.hex(),
             "weights": [host.read(0, b, 0, n) for b, n in zip(banks, job["bank_words"])],
             "lfsr": host.lfsr_states(job["banks"])}
    first = len(probe.steps)
    got = host.classify([int(x) for x in u[i + 1]], job["classes"], learn=True,
                        label=int(labels[i + 1]), timeout=job["run_timeout"])
    got["steps_raster"] = probe.steps[first:]
    got["lfsr"] = host.lfsr_states(job["banks"])
    return {"reset": state, "samples": [got],
            "weights": [host.read(0, b, 0, n) for b, n in zip(banks, job["bank_words"])],
            "lfsr": host.lfsr_states(job["banks"])}


def run_link_job(transport: CocotbTransport, job: dict) -> dict:
    """Raw traffic: for each of ``job["exchanges"]``, send its items (a byte, or a line
    level ``[level, cycles]``) back to back and keep every byte the chip sends until
    ``listen`` cycles after the last (hex, one string an exchange)."""
    got = []
    for ex in job["exchanges"]:
        cycles = 0
        for item in ex["send"]:
            item = tuple(item) if isinstance(item, list) else item
            if isinstance(item, tuple):
                transport.write_line([item])
            else:
                transport.write(bytes([item]))
            cycles += sum(n for _, n in transport.levels(item))
        got.append(transport.read(1 << 30, cycles + ex["listen"]).hex())
    return {"replies": got}


class ChipTB:
    """Clock and reset of the chip; :meth:`run_case` runs one job: the host driver in a
    worker thread on the simulated UART, a probe recording every step."""

    def __init__(self, dut):
        self.dut = dut

    async def start(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        dut.rst.value = 1
        await self.transport().idle(dut)
        await Timer(5 * PERIOD_NS, unit="ns")
        dut.rst.value = 0

    def transport(self, job: dict | None = None) -> CocotbTransport:
        """The host side for this chip's ports: the UART's pins or the byte streams."""
        bytes_link = hasattr(self.dut, "rx_bytes__valid")
        divisor = (job or {}).get("divisor", 1)
        return CocotbByteTransport(divisor) if bytes_link else CocotbTransport(divisor)

    async def run_case(self, job) -> dict:
        from sim.host import Host
        dut = self.dut
        transport = self.transport(job)
        cocotb.start_soon(transport.receive(dut))
        if job.get("kind") == "link":
            def work():
                return run_link_job(transport, job)
        else:
            probe = StepProbe(dut, job["cores"], job.get("share", 1), job.get("neurons", 1),
                              states=job.get("states", False), classes=job["classes"])
            cocotb.start_soon(probe.watch())

            def work():
                return run_job(Host(transport, timeout=job["timeout"]), job, probe)
        result = {}

        def worker():
            try:
                result.update(ok=True, **work())
            except Exception:                       # reported, not raised in the thread
                result.update(ok=False, error=traceback.format_exc())
            finally:
                with transport.lock:
                    transport.finished = True
                    transport.lock.notify_all()

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        await transport.serve(dut)
        thread.join()
        return result


@cocotb.test()
async def chip(dut):
    """The job of $SWIRL_CASES (one case) on the chip."""
    from sim.harness import run_cases
    await run_cases(dut, lambda cases: ChipTB(dut))
