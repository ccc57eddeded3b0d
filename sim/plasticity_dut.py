"""The device under test of the plasticity testbench (sim/tb_plasticity.py): the teacher
and the plasticity unit (rtl/teach.py, rtl/plasticity.py) with memories of their own.

:class:`PlasticityBench` is a ``Teacher`` whose modulator spikes drive a
``PlasticityUnit``, with its own ``WeightMemory`` holding every bank (the real top level
shares the core's), a row-trace memory, a gate memory and the readout mask memory, all
loadable from ports. :class:`PlasticityHardware` holds its elaboration-time parameters:
one build serves every config of those sizes and widths.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.util import ceil_div
from rtl.memory import WeightMemory
from rtl.plasticity import LfsrLoadSignature, PlasticityParamsSignature, PlasticityUnit
from rtl.teach import Teacher, TeacherParamsSignature

__all__ = ["PlasticityHardware", "PlasticityBench"]


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
    sweep_lanes: int | None = None   # the sweep pipeline's lanes (default: lanes)

    @property
    def beats(self):
        """Cycles a weight word takes through the sweep lanes."""
        return self.lanes // (self.sweep_lanes or self.lanes)

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
        return (self.layers * self.cores * self.max_rows * ceil_div(self.neurons, self.lanes) +
                self.readout_rows * ceil_div(self.readout, self.lanes))

    @property
    def trace_depth(self):
        return self.layers * self.cores * self.max_rows + self.readout_rows

    @property
    def mask_depth(self):
        return self.readout_rows * ceil_div(self.readout, self.lanes)

    @classmethod
    def for_config(cls, config, *, lanes: int, max_rows: int) -> "PlasticityHardware":
        """The bench build for ``config``'s sizes and widths."""
        s, w = config.sizes, config.widths
        return cls(classes=s.classes, per_class=s.per_class, layers=s.layers, cores=s.cores,
                   neurons=s.neurons, lanes=lanes, weight=w.weight, trace=w.trace,
                   teacher=w.teacher, membrane=w.membrane, max_rows=max_rows)

    def component(self):
        return PlasticityBench(self)


class PlasticityBench(wiring.Component):
    """The teacher driving the plasticity unit, with every memory the unit reads or writes
    beside it, each loadable (and the weights readable) from ports."""

    def __init__(self, hw: PlasticityHardware):
        self._hw = hw
        self._unit = PlasticityUnit(
            banks=hw.banks, classes=hw.classes, per_class=hw.per_class, hidden=hw.hidden,
            max_rows=max(hw.max_rows, hw.readout_rows),
            max_cols=max(hw.neurons, hw.readout), lanes=hw.lanes, weight_width=hw.weight,
            trace_width=hw.trace, depth=hw.depth, trace_depth=hw.trace_depth,
            mask_depth=hw.mask_depth, sweep_lanes=hw.sweep_lanes)
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
