"""gen/config.py: defaults, TOML round trip, and every refusal of Config.validate."""
import inspect
import re
import tomllib

import pytest

from gen.config import Config, ConfigError, default_config, load_config

# (extra changes that make the case reachable, dotted field, bad value, expected text)
# One row per `need(...)` in Config.validate, both ends of every range where it has two.
STEPS = Config().sizes.steps
INVALID = [
    *[({}, f"sizes.{n}", 0, "must be >= 1")
      for n in ("n_in", "layers", "cores", "neurons", "classes", "per_class", "steps")],
    ({}, "sizes.classes", 1, "must be >= 2"),
    ({}, "sizes.steps", 4097, "<= 4096"),
    ({}, "sizes.frames", 0, f"must be 1..{STEPS}"),
    ({}, "sizes.frames", STEPS + 1, f"must be 1..{STEPS}"),
    ({}, "sizes.frame_steps", -1, f"must be 0..{STEPS}"),
    ({}, "sizes.frame_steps", STEPS + 1, f"must be 0..{STEPS}"),
    ({"sizes.frame_steps": 5}, "sizes.frames", 5, "5 frames of 5 steps"),
    ({}, "widths.weight", 1, "2..16 bits"),
    ({}, "widths.weight", 17, "2..16 bits"),
    ({}, "widths.membrane", 3, "4..32 bits"),
    ({}, "widths.membrane", 33, "4..32 bits"),
    ({}, "widths.current", 3, "4..32 bits"),
    ({}, "widths.current", 33, "4..32 bits"),
    ({}, "widths.trace", 0, "1..16 bits"),
    ({}, "widths.trace", 17, "1..16 bits"),
    ({}, "widths.teacher", 1, "2..32 bits"),
    ({}, "widths.teacher", 33, "2..32 bits"),
    ({}, "widths.encoder", 0, "1..16 bits"),
    ({}, "widths.encoder", 17, "1..16 bits"),
    # shifts inside their words (membrane 16, trace 8, teacher 12 bits by default)
    ({}, "dynamics.leak_shift", 0, "must be 1..15"),
    ({}, "dynamics.leak_shift", 16, "must be 1..15"),
    ({}, "dynamics.leak_shift_out", 0, "must be 1..15"),
    ({}, "dynamics.leak_shift_out", 16, "must be 1..15"),
    ({}, "dynamics.mod_leak_shift", 0, "must be 1..15"),
    ({}, "dynamics.mod_leak_shift", 16, "must be 1..15"),
    ({}, "learning.trace_shift", 0, "must be 1..7"),
    ({}, "learning.trace_shift", 8, "must be 1..7"),
    ({}, "learning.teacher_shift", 0, "must be 1..11"),
    ({}, "learning.teacher_shift", 12, "must be 1..11"),
    ({}, "learning.eta_hidden_shift", -1, "0..16"),
    ({}, "learning.eta_hidden_shift", 17, "0..16"),
    ({}, "learning.eta_readout_shift", -1, "0..16"),
    ({}, "learning.eta_readout_shift", 17, "0..16"),
    ({}, "learning.eta_hidden", -1, "0..255"),
    ({}, "learning.eta_hidden", 256, "0..255"),
    ({}, "learning.eta_readout", -1, "0..255"),
    ({}, "learning.eta_readout", 256, "0..255"),
    ({}, "learning.teach_start", -1, f"0..{STEPS - 1}"),
    ({}, "learning.teach_start", STEPS, f"0..{STEPS - 1}"),
    ({}, "learning.decay_epochs", -1, "0..1000"),
    ({}, "learning.decay_epochs", 1001, "0..1000"),
    ({}, "dynamics.theta", 0, "1..32767"),
    ({}, "dynamics.theta", 32768, "1..32767"),
    ({}, "dynamics.theta_out", 0, "1..32767"),
    ({}, "dynamics.theta_out", 32768, "1..32767"),
    ({}, "dynamics.mod_theta", 0, "1..32767"),
    ({}, "dynamics.mod_theta", 32768, "1..32767"),
    ({}, "learning.psi_window", -1, "0..32767"),
    ({}, "learning.psi_window", 32768, "0..32767"),
    ({}, "dynamics.mod_drive", -1, "0..32767"),
    ({}, "dynamics.mod_drive", 32768, "0..32767"),
    ({}, "dynamics.refractory", -1, "0..255"),
    ({}, "dynamics.refractory", 256, "0..255"),
    ({}, "dynamics.enc_theta", 0, "1..255"),
    ({}, "dynamics.enc_theta", 256, "1..255"),
    ({}, "learning.trace_inc", 0, "1..255"),
    ({}, "learning.trace_inc", 256, "1..255"),
    ({}, "learning.target", -1, "0..4095"),
    ({}, "learning.target", 4096, "0..4095"),
    ({}, "learning.margin", -1, "0..4095"),
    ({}, "learning.margin", 4096, "0..4095"),
    # teacher trace of a population firing every step: per_class << teacher_shift
    ({"learning.target": 8, "learning.margin": 2}, "widths.teacher", 4, "too narrow"),
    # worst-case fan-in: the readout hears all 4 * 64 hidden neurons, 256 * 128 > 2**14 - 1
    ({}, "widths.current", 15, "too narrow for a fan-in of 257"),
    ({}, "topology.ws_neighbours", 3, "must be even"),
    ({}, "topology.ws_neighbours", -2, "must be even"),
    ({}, "topology.ws_neighbours", 4, "must be < sizes.cores = 4"),
    ({}, "topology.ws_rewire", -0.1, "0..1"),
    ({}, "topology.ws_rewire", 1.5, "0..1"),
    ({}, "topology.axons_per_edge", -1, "0..64"),
    ({}, "topology.axons_per_edge", 65, "0..64"),
    ({"sizes.layers": 2}, "topology.ff_fan_in", 0, "1..256"),
    ({"sizes.layers": 2}, "topology.ff_fan_in", 257, "1..256"),
    ({}, "topology.readout_density", 0.0, "(0, 1]"),
    ({}, "topology.readout_density", 1.5, "(0, 1]"),
    ({}, "seed", -1, "0..2**32-1"),
    ({}, "seed", 1 << 32, "0..2**32-1"),
    ({}, "init_scale", -1, "0..128"),
    ({}, "init_scale", 129, "0..128"),
    ({}, "init_rec_scale", -1, "0..128"),
    ({}, "init_rec_scale", 129, "0..128"),
    ({}, "clock_mhz", -1.0, "0..1000 MHz"),
    ({}, "clock_mhz", 2000.0, "0..1000 MHz"),
    ({}, "lanes", -1, "0..4"),
    ({}, "lanes", 5, "0..4"),
]


def test_default_config_validates():
    cfg = default_config()
    assert cfg.to_dict() == Config().to_dict()
    assert cfg.validate() is cfg
    assert load_config(None).to_dict() == cfg.to_dict()


@pytest.mark.parametrize("extra, field, value, text", INVALID,
                         ids=[f"{f}={v!r}" for _, f, v, _ in INVALID])
def test_validate_refuses_naming_field_value_and_limit(extra, field, value, text):
    Config().replace(**extra).validate()          # the case is reachable: only `field` is bad
    cfg = Config().replace(**{**extra, field: value})
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    msg = str(e.value)
    assert msg.startswith(f"{field} = {value!r} "), msg
    assert text in msg, msg


def test_every_named_field_of_validate_has_a_refusal_case():
    """A new check in Config.validate needs a row in INVALID."""
    src = inspect.getsource(Config.validate)
    named = set(re.findall(r'"((?:sizes|topology|widths|dynamics|learning)\.\w+|seed)"', src))
    named |= set(re.findall(r'"(init_\w+|clock_mhz|lanes)"', src))
    tested = {f for _, f, _, _ in INVALID}
    assert named, "the pattern no longer finds the field names in Config.validate"
    assert named <= tested, f"no refusal case for {sorted(named - tested)}"


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("changes", [
    {},
    {"topology.ws_rewire": 0.1, "learning.learn_hidden": False,
     "dynamics.reset_subtract": False, "sizes.layers": 2, "seed": 12345},
])
def test_toml_round_trip(tmp_path, changes):
    cfg = Config().replace(**changes).validate()
    text = cfg.to_toml()
    assert Config.from_dict(tomllib.loads(text)).to_dict() == cfg.to_dict()
    path = tmp_path / "c.toml"
    cfg.save(path)
    assert load_config(path).to_dict() == cfg.to_dict()


def test_partial_toml_keeps_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("seed = 7\n[sizes]\nneurons = 32\n")
    cfg = load_config(path)
    assert (cfg.seed, cfg.sizes.neurons) == (7, 32)
    assert cfg.sizes.cores == Config().sizes.cores
    assert cfg.to_dict()["learning"] == Config().to_dict()["learning"]


def test_replace_returns_a_copy():
    cfg = Config()
    new = cfg.replace(**{"sizes.n_in": 80, "seed": 3})
    assert (new.sizes.n_in, new.seed) == (80, 3)
    assert (cfg.sizes.n_in, cfg.seed) == (64, 1)


@pytest.mark.parametrize("toml, names", [
    ("bogus = 1\n", ["'bogus'", "unknown key"]),
    ("[bogus]\nx = 1\n", ["'bogus'", "unknown key"]),
    ("[sizes]\nbogus = 1\n", ["sizes.bogus", "unknown field"]),
    ("[learning]\nlearn_hiden = false\n", ["learning.learn_hiden"]),
    ("sizes = 3\n", ["[sizes]", "must be a table"]),
    ('[sizes]\nneurons = "64"\n', ["sizes.neurons", "'64'", "must be an integer"]),
    ("[sizes]\nneurons = 6.5\n", ["sizes.neurons", "6.5", "must be an integer"]),
    ("[sizes]\nneurons = true\n", ["sizes.neurons", "True", "must be an integer"]),
    ("[learning]\nlearn_hidden = 1\n", ["learning.learn_hidden", "true or false"]),
    ('[topology]\nws_rewire = "x"\n', ["topology.ws_rewire", "must be a number"]),
    ("[topology]\nws_rewire = true\n", ["topology.ws_rewire", "must be a number"]),
    ('seed = "1"\n', ["seed", "must be an integer"]),
    ("[seed]\nx = 1\n", ["seed", "must be an integer"]),
])
def test_unknown_keys_and_wrong_types_are_refused(tmp_path, toml, names):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    for name in names:
        assert name in str(e.value), str(e.value)


def test_integer_given_for_float_field_is_accepted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[topology]\nws_rewire = 1\nreadout_density = 1\n")
    cfg = load_config(path)
    assert cfg.topology.ws_rewire == 1.0 and isinstance(cfg.topology.ws_rewire, float)


def test_load_config_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as e:
        load_config(path)
    assert "nope.toml" in str(e.value)


def test_load_config_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[sizes\nneurons = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as e:
        load_config(path)
    assert "broken.toml" in str(e.value)


def test_load_config_validates(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[widths]\nweight = 20\n")
    with pytest.raises(ConfigError, match=r"widths\.weight = 20 .*2\.\.16 bits"):
        load_config(path)
