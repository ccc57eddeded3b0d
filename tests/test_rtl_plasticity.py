"""Level 3 of docs/architecture.md section 4 for phases 4 and 5: the teacher, modulators
and plasticity unit under Verilator (cocotb), bit-exact against the golden model.

Three hardware sets, each built once; every config (seeds, topology variants, dynamics,
learning parameters and switches, weights, samples) runs at run time in one simulation
per set. Per step the RTL's modulator spikes and teacher traces must equal the model's;
the RTL's own modulator spikes gate the sweeps; at the end every weight, every bank's
LFSR state and the gating statistics must equal the model's.
"""
import numpy as np
import pytest

from gen.config import Config
from sim.harness import run
from sim.model import Network
from sim.plasticity_cases import make_case, sweep_cycles
from sim.plasticity_dut import PlasticityHardware

pytestmark = pytest.mark.rtl

HARDWARE = {
    # two layers of three 5-neuron cores (feed-forward, long-range and local rows),
    # 3 classes x 2, 4-bit weights (saturation is easy), 5-bit traces, padded words, a
    # word through 2 sweep lanes in 2 beats
    "small": PlasticityHardware(classes=3, per_class=2, layers=2, cores=3, neurons=5,
                                lanes=4, weight=4, trace=5, teacher=8, membrane=8,
                                max_rows=32, sweep_lanes=2),
    # widest widths (16-bit weights, traces and membranes), one lane, one neuron a class,
    # two classes, one layer of two cores (no long-range edges)
    "wide": PlasticityHardware(classes=2, per_class=1, layers=1, cores=2, neurons=3,
                               lanes=1, weight=16, trace=16, teacher=12, membrane=16,
                               max_rows=16),
    # the shipped default sizes and widths (docs/architecture.md section 8), room for
    # MNIST-1D's 80 input rows; 8 weights a word (the UP5K's four SPRAMs) through 2 sweep
    # lanes in 4 beats
    "default": PlasticityHardware(classes=10, per_class=4, layers=1, cores=4, neurons=64,
                                  lanes=8, weight=8, trace=8, teacher=12, membrane=16,
                                  max_rows=192, sweep_lanes=2),
}
KINDS = {
    "small": ("random", "random", "saturate", "silent", "off", "post_from_trace",
              "no_recurrent", "readout_only", "hidden_only", "random", "saturate",
              "random"),
    "wide": ("random", "saturate", "post_from_trace", "no_recurrent", "off", "random"),
}


def small_case(hw, kind, seed, cmd_fields):
    rng = np.random.default_rng([seed, 55])
    steps = int(rng.integers(8, 17))
    theta = int(rng.integers(3, 25))
    ch = {
        "sizes.n_in": int(rng.integers(2, 11)), "sizes.layers": hw.layers,
        "sizes.cores": hw.cores, "sizes.neurons": hw.neurons, "sizes.classes": hw.classes,
        "sizes.per_class": hw.per_class, "sizes.steps": steps,
        "topology.ws_neighbours": 2 if hw.cores > 2 else 0,
        "topology.ws_rewire": float(rng.random()),
        "topology.axons_per_edge": int(rng.integers(0, hw.neurons + 1)),
        "topology.ff_fan_in": int(rng.integers(1, hw.cores * hw.neurons + 1)),
        "topology.readout_density": float(rng.uniform(0.3, 1.0)),
        "topology.readout_bias": bool(rng.integers(0, 4) > 0),
        "widths.weight": hw.weight, "widths.membrane": hw.membrane,
        "widths.current": max(12, hw.weight + 6),
        "widths.trace": hw.trace, "widths.teacher": hw.teacher,
        "dynamics.theta": theta, "dynamics.theta_out": int(rng.integers(4, 40)),
        "dynamics.leak_shift": int(rng.integers(1, 5)),
        "dynamics.leak_shift_out": int(rng.integers(1, 5)),
        "dynamics.refractory": int(rng.choice([0, 0, 1, 2])),
        "dynamics.reset_subtract": bool(rng.integers(0, 2)),
        "dynamics.mod_theta": int(rng.integers(1, 9)),
        "dynamics.mod_leak_shift": int(rng.integers(1, 4)),
        "dynamics.mod_drive": int(rng.integers(1, 9)),
        "learning.trace_shift": int(rng.integers(1, 5)),
        "learning.trace_inc": int(rng.integers(1, 32)),
        "learning.psi_window": int(rng.integers(0, theta + 1)),
        "learning.eta_hidden": int(rng.integers(1, 256)),
        "learning.eta_hidden_shift": int(rng.integers(4, 17)),
        "learning.eta_readout": int(rng.integers(1, 256)),
        "learning.eta_readout_shift": int(rng.integers(4, 17)),
        "learning.teacher_shift": int(rng.integers(1, 5)),
        "learning.teach_start": int(rng.integers(0, steps // 2)),
        "learning.target": int(rng.integers(1, 12)),
        "learning.margin": int(rng.integers(0, 6)),
        "seed": int(rng.integers(0, 2**32)),
        "init_scale": 8, "init_rec_scale": 6,
    }
    if kind == "saturate":
        ch.update({"learning.eta_hidden_shift": int(rng.integers(0, 3)),
                   "learning.eta_readout_shift": int(rng.integers(0, 3)),
                   "learning.trace_inc": 31})
    if kind == "post_from_trace":
        ch["learning.post_from_trace"] = True
    if kind == "no_recurrent":
        ch["learning.learn_recurrent"] = False
    if kind == "readout_only":
        ch["learning.learn_hidden"] = False
    if kind == "hidden_only":
        ch["learning.learn_readout"] = False
    cfg = Config().replace(**ch).validate()
    net = Network(cfg)
    lim = 1 << (hw.weight - 1)
    net.weights.w_ro[:] = rng.integers(-lim // 2, lim, net.ro_mask.shape) * net.ro_mask
    n = 2
    u = rng.integers(0, cfg.dynamics.enc_theta + 1, (n, cfg.sizes.n_in))
    if kind == "silent":
        u[:] = 0
    labels = rng.integers(0, hw.classes, n)
    init = net.weights.copy()
    case = make_case(hw, net, u, labels, learn=kind != "off",
                     name=f"{kind}(seed={seed}, T={steps})", cmd_fields=cmd_fields)
    return case, net, init


@pytest.fixture(scope="session")
def plast_build():
    from sim.harness import NO_SPLIT, build
    builds = {}

    def get(name):
        if name not in builds:
            comp = HARDWARE[name].component()
            builds[name] = (build(comp, f"plast_{name}", extra_args=NO_SPLIT),
                            comp.cmd_fields)
        return builds[name]
    return get


@pytest.mark.parametrize("name", sorted(KINDS))
def test_random_configs_match_golden_model(name, plast_build, tmp_path):
    b, fields = plast_build(name)
    hw = HARDWARE[name]
    made = [small_case(hw, kind, seed, fields) for seed, kind in enumerate(KINDS[name], 1)]
    cases = [c for c, _, _ in made]
    # the cases reach what the acceptance names
    both = [any((st["m"] & ((1 << hw.classes) - 1)) and (st["m"] >> hw.classes)
                for smp in c["samples"] for st in smp["steps"]) for c in cases]
    assert sum(both) >= 2, "too few steps with modulator events of both signs"
    lim = 1 << (hw.weight - 1)
    for (c, net, init), kind in zip(made, KINDS[name]):
        if kind == "saturate":
            w, w0 = net.weights, init
            hit = sum(int(((a == lim - 1) | (a == -lim)).sum() - ((b == lim - 1) |
                      (b == -lim)).sum()) for a, b in ((w.w_in, w0.w_in), (w.w_hh, w0.w_hh),
                                                       (w.w_ro, w0.w_ro)))
            assert hit > 0, f"{c['name']}: learning drove no weight into saturation"
        if kind == "off":
            assert c["expected"]["words"] == c["init"]
        if kind == "silent":
            assert c["expected"]["gated_steps"] > 0
    results = run(b, "sim.tb_plasticity", cases, tmp_path)
    assert [r["ok"] for r in results] == [True] * len(cases)
    check_cycles(hw, cases, results)


def expected_cycles(hw, case):
    """Per gated step (as the testbench sweeps them), the documented cycles per bank."""
    out, image = [], {}
    for smp in case["samples"]:
        for st in smp["steps"]:
            if "traces" in st:
                image.update({int(a): v for a, v in st["traces"].items()})
                out.append(sweep_cycles(case, hw, image, st["gates"]))
    return out


def check_cycles(hw, cases, results):
    for case, r in zip(cases, results):
        assert r["cycles"] == expected_cycles(hw, case), case["name"]


def default_cases(hw, cmd_fields):
    """Realistic traces at the shipped sizes: digits and MNIST-1D samples on networks
    trained online for a few samples first (so the readout fires and the teacher both
    pushes and pulls), learning off, and two variants of the learning switches."""
    from sim.data import load_digits, load_mnist1d
    from sim.train import task_config
    digits, m1d = load_digits(), load_mnist1d()
    out = []
    for name, data, task, changes, learn in (
            ("digits", digits, "digits", {}, True),
            ("mnist1d", m1d, "mnist1d", {}, True),
            ("digits_off", digits, "digits", {}, False),
            ("digits_variant", digits, "digits",
             {"seed": 7, "learning.post_from_trace": True, "learning.eta_hidden": 3,
              "learning.eta_hidden_shift": 9, "learning.eta_readout_shift": 4}, True),
            ("mnist1d_no_recurrent", m1d, "mnist1d",
             {"seed": 3, "learning.learn_recurrent": False, "learning.psi_window": 60,
              "learning.post_from_trace": False}, True)):
        cfg = task_config(task, data.x_train.shape[1])
        if changes:
            cfg = cfg.replace(**changes).validate()
        net = Network(cfg)
        rng = np.random.default_rng(len(out))
        pre = rng.choice(len(data.x_train), 20, replace=False)
        net.run(data.x_train[pre], data.y_train[pre], learn=True)
        net.stats.reset()
        pick = rng.choice(len(data.x_train), 2, replace=False)
        out.append(make_case(hw, net, data.x_train[pick], data.y_train[pick], learn=learn,
                             name=f"{name}(seed={cfg.seed})", cmd_fields=cmd_fields))
    return out


def test_default_matches_golden_model(plast_build, tmp_path):
    b, fields = plast_build("default")
    hw = HARDWARE["default"]
    cases = default_cases(hw, fields)
    results = run(b, "sim.tb_plasticity", cases, tmp_path)
    assert [r["ok"] for r in results] == [True] * len(cases)
    check_cycles(hw, cases, results)
