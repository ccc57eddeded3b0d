"""cocotb testbench of the teacher, modulators and plasticity unit (rtl/teach.py,
rtl/plasticity.py) against the golden model, under Verilator. Run through
sim.harness.run (tests/test_rtl_plasticity.py).

:class:`PlasticityBench` is the device under test: a ``Teacher`` whose modulator spikes
drive a ``PlasticityUnit``, with its own ``WeightMemory`` holding every bank (the real top
level shares the core's), a row-trace memory, a gate memory and the readout mask memory,
all loadable from ports. Per case (a config, weights, samples; built by :func:`make_case`
from a golden-model run) the testbench, step by step: feeds the readout spikes to the
teacher and checks ``m`` and the activity traces against the model's; on a step where
the RTL's modulators spiked, loads the rows' pre traces and the gates (the model's
``x_in``, ``x_h``, bias trace, ``psi``) and sends one sweep command per bank, counting
cycles. At the end it reads every weight word back and compares it, the LFSR states and
the counters with the model's final weights, LFSRs and ``net.stats``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, Mux
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.hash import feedback_latency
from rtl.memory import WeightMemory
from rtl.plasticity import WB_LATENCY, LfsrLoadSignature, PlasticityParamsSignature, PlasticityUnit
from rtl.teach import Teacher, TeacherParamsSignature


def _wpr(cols, lanes):
    return -(-cols // lanes)


@dataclass(frozen=True)
class PlasticityHardware:
    """Elaboration-time parameters of a bench build; topology variants (``n_in``,
    long-range edges, readout density and bias), seeds, dynamics and learning parameters
    are run time."""
    classes: int
    per_class: int
    layers: int
    cores: int
    neurons: int
    lanes: int
    weight: int
    trace: int
    teacher: int
    membrane: int
    max_rows: int          # rows of a hidden bank, at most

    @property
    def banks(self):
        return self.layers * self.cores + 1

    @property
    def hidden(self):
        return self.layers * self.cores * self.neurons

    @property
    def readout(self):
        return self.classes * self.per_class

    @property
    def readout_rows(self):          # last layer's neurons + the bias row
        return self.cores * self.neurons + 1

    @property
    def depth(self):
        return (self.layers * self.cores * self.max_rows * _wpr(self.neurons, self.lanes) +
                self.readout_rows * _wpr(self.readout, self.lanes))

    @property
    def trace_depth(self):
        return self.layers * self.cores * self.max_rows + self.readout_rows

    @property
    def mask_depth(self):
        return self.readout_rows * _wpr(self.readout, self.lanes)

    def component(self):
        return PlasticityBench(self)


class PlasticityBench(wiring.Component):
    def __init__(self, hw: PlasticityHardware):
        self._hw = hw
        self._unit = PlasticityUnit(
            banks=hw.banks, classes=hw.classes, per_class=hw.per_class, hidden=hw.hidden,
            max_rows=max(hw.max_rows, hw.readout_rows),
            max_cols=max(hw.neurons, hw.readout), lanes=hw.lanes, weight_width=hw.weight,
            trace_width=hw.trace, depth=hw.depth, trace_depth=hw.trace_depth,
            mask_depth=hw.mask_depth)
        ww = hw.lanes * hw.weight
        super().__init__({
            "tparams": In(TeacherParamsSignature(hw.teacher, hw.membrane)),
            "pparams": In(PlasticityParamsSignature()),
            "spikes": In(hw.readout), "label": In(range(hw.classes)),
            "t_update": In(1), "t_clear": In(1),
            "m": Out(2 * hw.classes), "activity": Out(hw.teacher).array(hw.classes),
            "t_done": Out(1),
            "mod_events": Out(32),
            "cmd": In(stream.Signature(self._unit.cmd_layout)),
            "busy": Out(1), "done": Out(1),
            "wload_en": In(1), "wload_addr": In(range(hw.depth)), "wload_data": In(ww),
            "wread_re": In(1), "wread_addr": In(range(hw.depth)), "wread_data": Out(ww),
            "tload_en": In(1), "tload_addr": In(range(hw.trace_depth)),
            "tload_data": In(hw.trace + 1),
            "gload_en": In(1), "gload_addr": In(range(hw.hidden)), "gload_data": In(2),
            "mload_en": In(1), "mload_addr": In(range(hw.mask_depth)),
            "mload_data": In(hw.lanes),
            "lfsr_load": In(LfsrLoadSignature(hw.banks)),
            "lfsr_sel": In(range(hw.banks)), "lfsr_state": Out(16),
            "rows_swept": Out(32), "weight_writes": Out(32), "sweeps": Out(32),
        })

    @property
    def cmd_fields(self):
        """(name, offset, width) of the command payload's fields."""
        return [(name, f.offset, f.width) for name, f in self._unit.cmd_layout]

    def elaborate(self, platform):
        m = Module()
        hw = self._hw
        m.submodules.teacher = teacher = Teacher(
            classes=hw.classes, per_class=hw.per_class, teacher_width=hw.teacher,
            membrane_width=hw.membrane)
        m.submodules.unit = unit = self._unit
        wiring.connect(m, wiring.flipped(self.tparams), teacher.params)
        wiring.connect(m, wiring.flipped(self.pparams), unit.params)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, wiring.flipped(self.lfsr_load), unit.lfsr_load)
        m.d.comb += [
            teacher.spikes.eq(self.spikes), teacher.label.eq(self.label),
            teacher.learn.eq(self.pparams.learn), teacher.update.eq(self.t_update),
            teacher.clear.eq(self.t_clear), self.m.eq(teacher.m), self.t_done.eq(teacher.done),
            self.mod_events.eq(teacher.events),
            unit.m.eq(teacher.m), self.busy.eq(unit.busy), self.done.eq(unit.done),
            unit.lfsr_sel.eq(self.lfsr_sel), self.lfsr_state.eq(unit.lfsr_state),
            self.rows_swept.eq(unit.rows_swept), self.weight_writes.eq(unit.weight_writes),
            self.sweeps.eq(unit.sweeps),
        ]
        m.d.comb += [self.activity[k].eq(teacher.activity[k]) for k in range(hw.classes)]

        m.submodules.weights = wmem = WeightMemory(width=hw.lanes * hw.weight,
                                                   depth=hw.depth, backend="memory")
        m.d.comb += [
            wmem.addr.eq(Mux(unit.busy, unit.mem.addr,
                             Mux(self.wload_en, self.wload_addr, self.wread_addr))),
            wmem.re.eq(unit.mem.re | self.wread_re),
            wmem.we.eq(unit.mem.we | self.wload_en),
            wmem.wdata.eq(Mux(unit.busy, unit.mem.wdata, self.wload_data)),
            unit.mem.rdata.eq(wmem.rdata), self.wread_data.eq(wmem.rdata),
        ]
        for name, shape, depth, port, load in (
                ("traces", hw.trace + 1, hw.trace_depth, unit.trace, "tload"),
                ("gates", 2, hw.hidden, unit.gate, "gload"),
                ("mask", hw.lanes, hw.mask_depth, unit.mask, "mload")):
            m.submodules[name] = mem = memory.Memory(shape=shape, depth=depth, init=[])
            wp, rp = mem.write_port(), mem.read_port()
            m.d.comb += [wp.en.eq(getattr(self, f"{load}_en")),
                         wp.addr.eq(getattr(self, f"{load}_addr")),
                         wp.data.eq(getattr(self, f"{load}_data")),
                         rp.addr.eq(port.addr)]
            if name == "traces":
                m.d.comb += [port.x.eq(rp.data[:hw.trace]), port.hidden.eq(rp.data[hw.trace])]
            elif name == "gates":
                m.d.comb += [port.psi.eq(rp.data[0]), port.xpos.eq(rp.data[1])]
            else:
                m.d.comb += port.data.eq(rp.data)
        return m


# ---- case construction (pytest side, golden model) -------------------------------------
def pack(values, lanes, width):
    """Words of ``lanes`` fields of ``width`` bits (the crossbar layout), last padded."""
    from sim.harness import pack_rows
    return pack_rows(np.atleast_2d(values), lanes, width)


def bank_layout(net, hw: PlasticityHardware):
    """Per bank: base word, trace base, rows, cols, words, j0, readout flag."""
    s = net.config.sizes
    banks, base, tbase = [], 0, 0
    for g, rows in enumerate(net.topology.cores):
        if rows.n_rows > hw.max_rows:
            raise ValueError(f"core {g} has {rows.n_rows} rows > max_rows {hw.max_rows}")
        words = _wpr(s.neurons, hw.lanes)
        banks.append({"bank": g, "readout": 0, "base": base, "rows": rows.n_rows,
                      "cols": s.neurons, "words": words, "j0": g * s.neurons,
                      "trace_base": tbase})
        base += hw.max_rows * words
        tbase += hw.max_rows
    n_ro = len(net.ro_mask)
    banks.append({"bank": len(net.topology.cores), "readout": 1, "base": base,
                  "rows": n_ro, "cols": s.readout, "words": _wpr(s.readout, hw.lanes),
                  "j0": 0, "trace_base": tbase})
    return banks


def bank_weights(net, g):
    """Bank ``g``'s weights in row order (readout: ``w_ro``)."""
    from gen.topology import KIND_INPUT
    s, W = net.config.sizes, net.weights
    if g == len(net.topology.cores):
        return W.w_ro
    rows = net.topology.cores[g]
    cols = np.arange(g * s.neurons, (g + 1) * s.neurons)
    return np.array([W.w_in[src, cols] if kind == KIND_INPUT else W.w_hh[src, cols]
                     for kind, src in zip(rows.kind, rows.source)], dtype=np.int64)


def weight_image(net, hw, banks):
    """{word address: word} of every bank."""
    image = {}
    for b in banks:
        words = pack(bank_weights(net, b["bank"]), hw.lanes, hw.weight)
        image.update({b["base"] + i: w for i, w in enumerate(words)})
    return image


def row_traces(net, hw, banks, x_in, x_h, x_bias):
    """Trace-memory words (x | hidden << trace) of every bank row."""
    from gen.topology import KIND_HIDDEN
    out = {}
    for b in banks[:-1]:
        rows = net.topology.cores[b["bank"]]
        for i, (kind, src) in enumerate(zip(rows.kind, rows.source)):
            x = x_h[src] if kind == KIND_HIDDEN else x_in[src]
            out[b["trace_base"] + i] = int(x) | (int(kind == KIND_HIDDEN) << hw.trace)
    ro = banks[-1]
    last = net.topology.last_layer_offset
    n_last = net.config.sizes.cores * net.config.sizes.neurons
    for i in range(n_last):
        out[ro["trace_base"] + i] = int(x_h[last + i])
    if net.config.topology.readout_bias:
        out[ro["trace_base"] + n_last] = int(x_bias)
    return out


def make_case(hw: PlasticityHardware, net, u, labels, *, learn=True, name="case",
              cmd_fields=None) -> dict:
    """Run ``net`` (golden model) on samples ``u`` with ``labels`` and record what the
    testbench needs. ``net`` is modified (trained)."""
    cfg = net.config
    s, l, d = cfg.sizes, cfg.learning, cfg.dynamics
    assert (s.classes, s.per_class, s.layers, s.cores, s.neurons) == \
        (hw.classes, hw.per_class, hw.layers, hw.cores, hw.neurons)
    banks = bank_layout(net, hw)
    init = weight_image(net, hw, banks)
    mask = pack(net.ro_mask.astype(np.int64), hw.lanes, 1)
    lfsr0 = [int(b.lfsr.state) for b in net.banks] + [int(net.readout_bank.lfsr.state)]
    samples = []
    for b in range(len(u)):
        _, _, tr = net.run(u[b:b + 1], [labels[b]] if learn else None, learn=learn,
                           record=True)
        tr = tr[0] if learn else tr
        tr = {k: v[0] if v.ndim > 1 else v for k, v in tr.items()}
        steps = []
        for t in range(s.steps):
            step = {"spikes": int(sum(int(v) << i for i, v in enumerate(tr["s_r"][t]))),
                    "m": int(sum(int(v) << i for i, v in enumerate(tr["m"][t]))),
                    "activity": [int(v) for v in tr["teach"][t]] if learn else None}
            if tr["m"][t].any() or not learn:
                step["traces"] = row_traces(net, hw, banks, tr["x_in"][t], tr["x_h"][t],
                                            tr["x_bias"][t][0])
                step["gates"] = [int(p) | (int(x > 0) << 1)
                                 for p, x in zip(tr["psi"][t], tr["x_h"][t])]
            steps.append(step)
        samples.append({"label": int(labels[b]) if labels is not None else 0,
                        "steps": steps})
    final = weight_image(net, hw, banks)
    st = net.stats
    return {
        "name": name, "learn": int(learn), "lanes": hw.lanes, "trace_width": hw.trace,
        "classes": s.classes, "banks": banks, "cmd_fields": cmd_fields,
        "tparams": {"teacher_shift": l.teacher_shift, "teach_start": l.teach_start,
                    "target": l.target, "margin": l.margin, "mod_theta": d.mod_theta,
                    "mod_leak_shift": d.mod_leak_shift, "mod_drive": d.mod_drive},
        "pparams": {"seed": cfg.seed, "learn": int(learn),
                    "learn_hidden": int(l.learn_hidden),
                    "learn_readout": int(l.learn_readout),
                    "learn_recurrent": int(l.learn_recurrent),
                    "post_from_trace": int(l.post_from_trace),
                    "eta_hidden": l.eta_hidden, "eta_hidden_shift": l.eta_hidden_shift,
                    "eta_readout": l.eta_readout, "eta_readout_shift": l.eta_readout_shift},
        "init": sorted(init.items()), "mask": mask, "mask_base": 0, "lfsr0": lfsr0,
        "samples": samples,
        "expected": {"words": sorted(final.items()),
                     "lfsr": [int(b.lfsr.state) for b in net.banks] +
                             [int(net.readout_bank.lfsr.state)],
                     "rows_swept": st.rows_swept, "weight_writes": st.weight_writes,
                     "modulator_events": st.modulator_events,
                     "gated_steps": st.gated_steps},
    }


def row_cycles(words: int) -> int:
    """Cycles of a visited row's read-modify-write (rtl.plasticity ``RMW``): reads every
    other cycle, the last word written ``WB_LATENCY`` cycles after its read."""
    return 2 * (words - 1) + WB_LATENCY + 1


def sweep_cycles(case, hw: PlasticityHardware, trace_image: dict, gates: list) -> list:
    """Expected cycles of each bank's command in one gated step, as the testbench counts
    them (docs/plasticity.md): ``2`` when the bank does not learn, else
    ``2 + cols + (4K + 3) * gated_cols + rows + (2 * words + 4) * visited_rows``
    (``4K + 3``: the latency of rtl.hash.FeedbackPost, four cycles a class and two for the
    last class's final mix; ``2 * words + 4``: a read every other cycle, each word
    written back ``WB_LATENCY = 5`` cycles after its read, :func:`row_cycles`)."""
    pp = case["pparams"]
    K = case["classes"]
    out = []
    for b in case["banks"]:
        on = pp["learn"] and (pp["learn_readout"] if b["readout"] else pp["learn_hidden"])
        if not on:
            out.append(2)
            continue
        visited = 0
        for r in range(b["rows"]):
            v = trace_image[b["trace_base"] + r]
            x, hidden = v & ((1 << hw.trace) - 1), v >> hw.trace
            if not b["readout"] and hidden and not pp["learn_recurrent"]:
                x = 0
            visited += x != 0
        gated = 0
        if not b["readout"]:
            bit = 1 if pp["post_from_trace"] else 0
            gated = sum((gates[b["j0"] + c] >> bit) & 1 for c in range(b["cols"]))
        out.append(2 + b["cols"] + feedback_latency(K) * gated + b["rows"] +
                   row_cycles(b["words"]) * visited)
    return out


# ---- cocotb side ---------------------------------------------------------------------
try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
    from cocotb.utils import get_sim_time
except ImportError:           # the pytest side only needs the bench and make_case
    cocotb = None


def _u(handle):
    v = handle.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


class PlasticityTB:
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
                out.append(_u(self.dut.wread_data))
            prev = a
        return out

    async def sweep(self, payload):
        """Send one command; returns the cycles from the falling edge where it is offered
        to the falling edge where ``done`` is seen (it is accepted at the rising edge in
        between: the command takes ``n - 1`` cycles, ``done`` included)."""
        await self.cycle(cmd__valid=1, cmd__payload=payload)
        t0 = get_sim_time("ns")
        await self.cycle(cmd__valid=0)
        if not _u(self.dut.done):
            await RisingEdge(self.dut.done)
            await FallingEdge(self.dut.clk)
        return round((get_sim_time("ns") - t0) / 10)

    async def run_case(self, case):
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
                while not _u(d.t_done):
                    await self.cycle()
                await self.cycle()
                got_m = _u(d.m)
                where = f"{case['name']}: sample {si}, step {t}"
                if got_m != step["m"]:
                    return f"{where}: modulator spikes RTL {got_m:#x}, model {step['m']:#x}"
                if step["activity"] is not None:
                    act = [_u(getattr(d, f"activity__{k}")) for k in range(case["classes"])]
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
            lfsr.append(_u(d.lfsr_state))
        if lfsr != exp["lfsr"]:
            return f"{case['name']}: LFSR states RTL {lfsr}, model {exp['lfsr']}"
        await self.cycle()
        counters = {"rows_swept": _u(d.rows_swept), "weight_writes": _u(d.weight_writes),
                    "modulator_events": _u(d.mod_events)}
        for k, v in counters.items():
            if v != exp[k]:
                return f"{case['name']}: {k} RTL {v}, model {exp[k]}"
        self.stats = {**counters, "sweeps": _u(d.sweeps), "cycles": cycles}
        return None


if cocotb is not None:
    @cocotb.test()
    async def plasticity_matches_golden_model(dut):
        with open(os.environ["SWIRL_CASES"]) as f:
            cases = json.load(f)
        tb = PlasticityTB(dut)
        await tb.start()
        results = []
        for case in cases:
            tb.stats = {}
            error = await tb.run_case(case)
            results.append({"name": case["name"], "ok": error is None, "error": error,
                            **tb.stats})
            dut._log.info("%s: %s", case["name"], "ok" if error is None else error)
        with open(os.environ["SWIRL_RESULTS"], "w") as f:
            json.dump(results, f)
        failures = [r["error"] for r in results if not r["ok"]]
        assert not failures, "\n".join(failures)


# ---- cost on realistic traces (docs/plasticity.md) -------------------------------------
def sweep_cost(task: str, train: int = 100, samples: int = 50, seed: int = 0) -> dict:
    """Cycles of the plasticity unit (the formula of :func:`sweep_cycles`, which the
    Verilator tests check cycle for cycle) over ``samples`` training samples of ``task``
    after ``train`` samples of online learning, with the default config and the task's
    overrides; also the cycles the sweep would take without skipping zero-trace rows."""
    from sim.data import load_digits, load_mnist1d
    from sim.model import Network
    from sim.train import task_config
    data = load_digits() if task == "digits" else load_mnist1d()
    cfg = task_config(task, data.x_train.shape[1])
    s = cfg.sizes
    hw = PlasticityHardware(classes=s.classes, per_class=s.per_class, layers=s.layers,
                            cores=s.cores, neurons=s.neurons, lanes=8,
                            weight=cfg.widths.weight, trace=cfg.widths.trace,
                            teacher=cfg.widths.teacher, membrane=cfg.widths.membrane,
                            max_rows=max(r.n_rows for r in make_topology_rows(cfg)))
    net = Network(cfg)
    rng = np.random.default_rng(seed)
    pre = rng.choice(len(data.x_train), train, replace=False)
    net.run(data.x_train[pre], data.y_train[pre], learn=True)
    net.stats.reset()
    pick = rng.choice(len(data.x_train), samples, replace=False)
    case = make_case(hw, net, data.x_train[pick], data.y_train[pick], learn=True,
                     cmd_fields=[])
    skip = full = gated = events = 0
    rows_total = sum(b["rows"] for b in case["banks"])
    image = {}
    for smp in case["samples"]:
        for st in smp["steps"]:
            if "traces" not in st:
                continue
            image.update({int(a): v for a, v in st["traces"].items()})
            cyc = sweep_cycles(case, hw, image, st["gates"])
            skip += sum(cyc)
            # without skipping: every row read and written, no per-row check cycle
            visited_cost = sum(row_cycles(b["words"]) * _visited(case, hw, image, b)
                               for b in case["banks"])
            full += sum(cyc) - visited_cost - rows_total + \
                sum(row_cycles(b["words"]) * b["rows"] for b in case["banks"])
            gated += 1
            events += bin(st["m"]).count("1")
    st = net.stats
    return {"task": task, "samples": samples, "steps": samples * s.steps,
            "gated_steps": gated, "modulator_events": events,
            "rows_per_gated_step": st.rows_swept / max(gated, 1), "rows_total": rows_total,
            "cycles": skip, "cycles_no_skip": full,
            "cycles_per_gated_step": skip / max(gated, 1),
            "cycles_per_event": skip / max(events, 1),
            "cycles_per_sample": skip / samples,
            "saving": 1 - skip / max(full, 1)}


def _visited(case, hw, image, b):
    pp = case["pparams"]
    if not pp["learn"] or not (pp["learn_readout"] if b["readout"] else pp["learn_hidden"]):
        return 0
    n = 0
    for r in range(b["rows"]):
        v = image[b["trace_base"] + r]
        x, hidden = v & ((1 << hw.trace) - 1), v >> hw.trace
        n += x != 0 and not (not b["readout"] and hidden and not pp["learn_recurrent"])
    return n


def make_topology_rows(cfg):
    from gen.topology import make_topology
    return make_topology(cfg).cores


if __name__ == "__main__":
    for task in ("digits", "mnist1d"):
        print(json.dumps(sweep_cost(task)))
