"""One config object for the whole generator: sizes, widths, dynamics, learning, seeds.

Every block (topology, golden model, RTL) reads its parameters from a :class:`Config`.
It loads and saves TOML, one table per section, and :meth:`Config.validate` refuses
what cannot work, naming the field, its value and the limit, before anything runs.
"""
from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass, field, fields

__all__ = ["Config", "ConfigError", "Sizes", "TopologyParams", "Widths", "Dynamics",
           "Learning", "default_config", "load_config", "presets"]


class ConfigError(ValueError):
    """A config field holds a value the design cannot implement."""


HOST_WORD_BITS = 32  # a memory word on the host link (docs/host-protocol.md: 4 bytes)


def host_word_lanes(weight_bits: int) -> int:
    """The most weights of ``weight_bits`` a host-link word carries: the widest weight
    word the host can load and read back (the limit of ``lanes``)."""
    return max(1, HOST_WORD_BITS // weight_bits)


@dataclass
class Sizes:
    """How many of everything."""
    n_in: int = 64           # input channels (digits: 64 pixels; MNIST-1D: 40 values x on/off)
    layers: int = 1          # hidden layers
    cores: int = 4           # cores per hidden layer
    neurons: int = 64        # neurons per core (N); each core is a dense N x N crossbar
    classes: int = 10        # K readout classes
    per_class: int = 4       # P readout neurons per class (population code)
    steps: int = 12          # T time steps per sample (digits: as accurate as 24, half the chip's cycles)
    frames: int = 1          # input frames a sample: a temporal presentation shows n_in intensities a frame, one frame after another
    frame_steps: int = 0     # steps each frame is shown (0: steps // frames); past the last frame the input is silent

    @property
    def sample_width(self) -> int:
        """Intensities in one sample: ``frames`` frames of ``n_in``, frame by frame."""
        return self.frames * self.n_in

    @property
    def hold(self) -> int:
        """Steps each frame is shown: frame ``t // hold`` at step ``t``."""
        return self.frame_steps or self.steps // self.frames

    @property
    def hidden(self) -> int:
        return self.layers * self.cores * self.neurons

    @property
    def readout(self) -> int:
        return self.classes * self.per_class

    @property
    def modulators(self) -> int:
        """One positive and one negative error modulator per class."""
        return 2 * self.classes


@dataclass
class TopologyParams:
    """The fixed sparse wiring between cores, generated once from the seed."""
    ws_neighbours: int = 2       # Watts-Strogatz ring lattice degree over the cores of a layer (even)
    ws_rewire: float = 0.25      # probability that a lattice edge is rewired to a random core
    axons_per_edge: int = 16     # source neurons a core sends along each core-to-core edge
    ff_fan_in: int = 64          # axons a core of layer l+1 takes from layer l (layers > 1)
    readout_density: float = 0.5  # fraction of (last hidden layer, readout) pairs connected
    readout_bias: bool = True    # an always-on bias row in the readout crossbar, learnt like any row


@dataclass
class Widths:
    """Bit widths of every stored or accumulated quantity (two's complement when signed)."""
    weight: int = 8          # signed synaptic weight
    membrane: int = 16       # signed membrane potential, saturating
    current: int = 18        # signed synaptic-current accumulator, saturating
    trace: int = 8           # unsigned presynaptic trace
    teacher: int = 12        # unsigned per-class activity trace of the teacher
    encoder: int = 8         # unsigned input-encoder accumulator


@dataclass
class Dynamics:
    """LIF dynamics of hidden, readout and modulator neurons and of the input encoder."""
    enc_theta: int = 16          # encoder threshold: an intensity of enc_theta spikes every step
    theta: int = 192             # hidden firing threshold
    leak_shift: int = 3          # hidden leak: v -= v >> leak_shift
    theta_out: int = 192         # readout firing threshold
    leak_shift_out: int = 3      # readout leak
    reset_subtract: bool = True  # True: v -= theta on a spike; False: v = 0
    refractory: int = 0          # steps a neuron ignores input after a spike
    mod_theta: int = 4           # modulator threshold
    mod_leak_shift: int = 1      # modulator leak
    mod_drive: int = 4           # current into a modulator while its error is active


@dataclass
class Learning:
    """Three-factor rule: pre trace x modulated post term x modulator events."""
    trace_shift: int = 2         # pre trace decay: x -= x >> trace_shift
    trace_inc: int = 64          # added to the pre trace on a spike (saturating)
    psi_window: int = 192        # hidden post term psi = 1 when |v - theta| < psi_window ...
    post_from_trace: bool = False  # ... or, when true, psi = 1 when the neuron's trace x > 0
    eta_hidden: int = 1          # hidden learning rate numerator
    eta_hidden_shift: int = 14   # ... and its power-of-two denominator
    eta_readout: int = 1         # readout learning rate numerator
    eta_readout_shift: int = 9   # ... and its power-of-two denominator
    teacher_shift: int = 2       # teacher activity trace decay: a -= a >> teacher_shift
    teach_start: int = 4         # first step at which the teacher may raise an error
    target: int = 6              # target activity of the correct population (trace units)
    margin: int = 4              # a wrong population within this of the label's is pushed down ...
    push_down_all: bool = True   # ... every such population, or (False) only the strongest
    decay_epochs: int = 3        # host halves both learning rates every this many epochs (0: never)
    learn_hidden: bool = True    # False freezes the hidden weights (readout-only ablation)
    learn_recurrent: bool = True  # False: hidden banks update only their input rows
    learn_readout: bool = True


@dataclass
class Config:
    sizes: Sizes = field(default_factory=Sizes)
    topology: TopologyParams = field(default_factory=TopologyParams)
    widths: Widths = field(default_factory=Widths)
    dynamics: Dynamics = field(default_factory=Dynamics)
    learning: Learning = field(default_factory=Learning)
    seed: int = 1                # one seed for topology, initial weights, feedback hash and LFSRs
    init_scale: int = 24         # std of the initial hidden input weights (weight units)
    init_rec_scale: int = 8      # std of the initial recurrent and long-range weights
    clock_mhz: float = 0.0       # the clock `build` aims for, MHz (0: the board's default; --clock wins)
    lanes: int = 0               # weights a memory word, the synapses a crossbar reads a cycle
    #                              (0: the board's, gen/build.py lanes_for; --lanes wins)

    # ---- TOML -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> "Config":
        sections = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in sections:
                raise ConfigError(f"{source}: unknown key {key!r}; known keys: "
                                  f"{', '.join(sorted(sections))}")
            f = sections[key]
            sub_cls = f.default_factory if f.default_factory is not dataclasses.MISSING else None
            if dataclasses.is_dataclass(sub_cls):
                if not isinstance(value, dict):
                    raise ConfigError(f"{source}: [{key}] must be a table, not {value!r}")
                known = {g.name: g for g in fields(sub_cls)}
                for sub_key in value:
                    if sub_key not in known:
                        raise ConfigError(f"{source}: unknown field {key}.{sub_key}; known: "
                                          f"{', '.join(sorted(known))}")
                kwargs[key] = sub_cls(**{k: _typed(f"{source}: {key}.{k}", v, known[k], sub_cls)
                                         for k, v in value.items()})
            else:
                kwargs[key] = _typed(f"{source}: {key}", value, f, cls)
        return cls(**kwargs)

    def to_toml(self) -> str:
        lines = []
        scalars = {k: v for k, v in self.to_dict().items() if not isinstance(v, dict)}
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml_value(v)}")
        for k, v in self.to_dict().items():
            if isinstance(v, dict):
                lines.append("")
                lines.append(f"[{k}]")
                for sk, sv in v.items():
                    lines.append(f"{sk} = {_toml_value(sv)}")
        return "\n".join(lines) + "\n"

    def save(self, path) -> None:
        pathlib.Path(path).write_text(self.to_toml())

    def replace(self, **changes) -> "Config":
        """A copy with dotted fields changed: ``cfg.replace(**{"sizes.n_in": 80})``."""
        data = self.to_dict()
        for dotted, value in changes.items():
            *head, last = dotted.split(".")
            d = data
            for h in head:
                d = d[h]
            d[last] = value
        return Config.from_dict(data)

    # ---- validation -----------------------------------------------------------------
    def validate(self) -> "Config":
        """Refuse what the hardware cannot implement; returns self so calls chain."""
        s, t, w, d, l = self.sizes, self.topology, self.widths, self.dynamics, self.learning

        def need(cond, name, value, limit):
            if not cond:
                raise ConfigError(f"{name} = {value!r} is out of range: {limit}")

        for name in ("n_in", "layers", "cores", "neurons", "classes", "per_class", "steps"):
            need(getattr(s, name) >= 1, f"sizes.{name}", getattr(s, name), "must be >= 1")
        need(s.classes >= 2, "sizes.classes", s.classes, "must be >= 2 to classify")
        need(s.steps <= 4096, "sizes.steps", s.steps, "must be <= 4096")
        need(1 <= s.frames <= s.steps, "sizes.frames", s.frames,
             f"must be 1..{s.steps} (sizes.steps: a frame takes a step at least)")
        need(0 <= s.frame_steps <= s.steps, "sizes.frame_steps", s.frame_steps,
             f"must be 0..{s.steps} (sizes.steps; 0: steps // frames)")
        need(s.frames * s.hold <= s.steps, "sizes.frames", s.frames,
             f"{s.frames} frames of {s.hold} steps (sizes.frame_steps) do not fit in "
             f"sizes.steps = {s.steps}")
        need(w.weight in range(2, 17), "widths.weight", w.weight, "must be 2..16 bits")
        need(w.membrane in range(4, 33), "widths.membrane", w.membrane, "must be 4..32 bits")
        need(w.current in range(4, 33), "widths.current", w.current, "must be 4..32 bits")
        need(w.trace in range(1, 17), "widths.trace", w.trace, "must be 1..16 bits")
        need(w.teacher in range(2, 33), "widths.teacher", w.teacher, "must be 2..32 bits")
        need(w.encoder in range(1, 17), "widths.encoder", w.encoder, "must be 1..16 bits")

        # shifts must stay inside their words
        for name, val, width in (("dynamics.leak_shift", d.leak_shift, w.membrane),
                                 ("dynamics.leak_shift_out", d.leak_shift_out, w.membrane),
                                 ("dynamics.mod_leak_shift", d.mod_leak_shift, w.membrane),
                                 ("learning.trace_shift", l.trace_shift, w.trace),
                                 ("learning.teacher_shift", l.teacher_shift, w.teacher)):
            need(1 <= val < width, name, val, f"must be 1..{width - 1} (a shift inside a "
                 f"{width}-bit word)")
        for name, val in (("learning.eta_hidden_shift", l.eta_hidden_shift),
                          ("learning.eta_readout_shift", l.eta_readout_shift)):
            need(0 <= val <= 16, name, val, "must be 0..16 (the LFSR gives 16 rounding bits)")
        for name, val in (("learning.eta_hidden", l.eta_hidden),
                          ("learning.eta_readout", l.eta_readout)):
            need(0 <= val <= 255, name, val, "must be 0..255 (an 8-bit multiplier)")

        need(0 <= l.teach_start < s.steps, "learning.teach_start", l.teach_start,
             f"must be 0..{s.steps - 1} (sizes.steps - 1)")
        need(0 <= l.decay_epochs <= 1000, "learning.decay_epochs", l.decay_epochs,
             "must be 0..1000")
        v_max = (1 << (w.membrane - 1)) - 1
        for name, val in (("dynamics.theta", d.theta), ("dynamics.theta_out", d.theta_out),
                          ("dynamics.mod_theta", d.mod_theta)):
            need(1 <= val <= v_max, name, val,
                 f"must be 1..{v_max} (widths.membrane = {w.membrane} bits, signed)")
        need(0 <= l.psi_window <= v_max, "learning.psi_window", l.psi_window, f"must be 0..{v_max}")
        need(0 <= d.mod_drive <= v_max, "dynamics.mod_drive", d.mod_drive, f"must be 0..{v_max}")
        need(0 <= d.refractory <= 255, "dynamics.refractory", d.refractory, "must be 0..255")
        need(1 <= d.enc_theta < (1 << w.encoder), "dynamics.enc_theta", d.enc_theta,
             f"must be 1..{(1 << w.encoder) - 1} (widths.encoder = {w.encoder} bits)")
        t_max = (1 << w.trace) - 1
        need(1 <= l.trace_inc <= t_max, "learning.trace_inc", l.trace_inc,
             f"must be 1..{t_max} (widths.trace = {w.trace} bits)")
        a_max = (1 << w.teacher) - 1
        need(0 <= l.target <= a_max, "learning.target", l.target, f"must be 0..{a_max}")
        need(0 <= l.margin <= a_max, "learning.margin", l.margin, f"must be 0..{a_max}")
        # the teacher trace saturates at a_max; its steady state must be representable
        peak = min(s.per_class << l.teacher_shift, s.per_class * s.steps)
        need(peak <= a_max, "widths.teacher", w.teacher,
             f"too narrow: a population firing every step reaches {peak} "
             f"(min(sizes.per_class << learning.teacher_shift, sizes.per_class * "
             f"sizes.steps)), limit {a_max}")

        # accumulator must hold the worst-case fan-in sum without wrapping inside a step
        fan_in = self.max_fan_in()
        w_abs = 1 << (w.weight - 1)
        c_max = (1 << (w.current - 1)) - 1
        need(fan_in * w_abs <= c_max, "widths.current", w.current,
             f"too narrow for a fan-in of {fan_in} axons of {w.weight}-bit weights: "
             f"worst case {fan_in * w_abs} > {c_max}")

        # topology
        need(t.ws_neighbours % 2 == 0 and t.ws_neighbours >= 0, "topology.ws_neighbours",
             t.ws_neighbours, "must be even and >= 0")
        need(t.ws_neighbours < s.cores or t.ws_neighbours == 0, "topology.ws_neighbours",
             t.ws_neighbours, f"must be < sizes.cores = {s.cores} (or 0 for no long-range edges)")
        need(0.0 <= t.ws_rewire <= 1.0, "topology.ws_rewire", t.ws_rewire, "must be 0..1")
        need(0 <= t.axons_per_edge <= s.neurons, "topology.axons_per_edge", t.axons_per_edge,
             f"must be 0..{s.neurons} (sizes.neurons)")
        need(1 <= t.ff_fan_in <= s.cores * s.neurons or s.layers == 1, "topology.ff_fan_in",
             t.ff_fan_in, f"must be 1..{s.cores * s.neurons} (neurons in a layer)")
        need(0.0 < t.readout_density <= 1.0, "topology.readout_density", t.readout_density,
             "must be in (0, 1]")
        need(0 <= self.seed < (1 << 32), "seed", self.seed, "must be 0..2**32-1")
        for name in ("init_scale", "init_rec_scale"):
            need(0 <= getattr(self, name) <= w_abs, name, getattr(self, name),
                 f"must be 0..{w_abs} (widths.weight = {w.weight} bits)")
        need(0.0 <= self.clock_mhz <= 1000.0, "clock_mhz", self.clock_mhz,
             "must be 0..1000 MHz (0: the board's default clock)")
        lanes_max = host_word_lanes(w.weight)
        need(0 <= self.lanes <= lanes_max, "lanes", self.lanes,
             f"must be 0..{lanes_max} (0: the board's; a host-link word of "
             f"{HOST_WORD_BITS} bits carries {lanes_max} weights of {w.weight} bits)")
        return self

    def max_fan_in(self) -> int:
        """Most axons any neuron can receive in one step (bounds the current accumulator)."""
        s, t = self.sizes, self.topology
        long_range = t.ws_neighbours * t.axons_per_edge
        first = s.n_in + s.neurons + long_range
        later = t.ff_fan_in + s.neurons + long_range if s.layers > 1 else 0
        readout = s.cores * s.neurons + int(t.readout_bias)
        return max(first, later, readout)


def _typed(name, value, f, owner):
    """Check a TOML value against the dataclass field's declared type."""
    default = f.default if f.default is not dataclasses.MISSING else None
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r} must be true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} = {value!r} must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {value!r} must be a number")
        value = float(value)
    return value


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def default_config() -> Config:
    """The shipped default (digits-sized, fits the iCE40 UP5K)."""
    return Config().validate()


PRESETS = pathlib.Path(__file__).resolve().parent / "presets"


def presets() -> dict[str, pathlib.Path]:
    """The shipped configs (gen/presets/NAME.toml), by name."""
    return {p.stem: p for p in sorted(PRESETS.glob("*.toml"))}


# Presets that were shipped and then retired, with what to use instead: the docs' dated
# sections still name them, and a user who copies such a command should learn why it
# stopped working and what replaced it, not only that no such file exists.
RETIRED_PRESETS = {
    "digits-fast": "retired on 2026-12-07, when its 12 steps a sample became the "
                   "default: leave out --config",
    "digits-accurate": "retired on 2026-12-07, being below the default on digits "
                       "(docs/learning.md); its settings are in docs/sweep.md",
}


def load_config(path=None) -> Config:
    """Load and validate a TOML config; ``None`` gives the shipped default. ``path`` may
    also name a shipped preset (``ulx3s-deep``): a file of that name wins. A retired
    preset's name is refused with what replaced it (``RETIRED_PRESETS``)."""
    if path is None:
        return default_config()
    from .util import read_named_toml
    if str(path) in RETIRED_PRESETS and not pathlib.Path(path).exists():
        raise ConfigError(f"the preset {str(path)!r} was {RETIRED_PRESETS[str(path)]}")
    data, path = read_named_toml(path, presets(), "config file", ConfigError,
                                 "shipped presets")
    return Config.from_dict(data, source=str(path)).validate()
