import os
import pathlib
import subprocess
import sys
import tempfile

# tests import the scalar reference next to them
sys.path.insert(0, str(pathlib.Path(__file__).parent))

REPO = pathlib.Path(__file__).resolve().parent.parent

# The two real builds (tests/test_build.py, marked synth) take minutes each and use one
# core (the yowasp tools are single-threaded); the rest of the suite is serial pytest.
# So each build starts as `python -m gen build` in the background as soon as collection
# has selected its test, and runs beside the other tests; its fixture waits for it.
BACKGROUND_BUILDS = {"test_default_ice40_build": "ice40", "test_default_ulx3s_build": "ulx3s"}
_builds: dict = {}


def pytest_collection_modifyitems(session, config, items):
    """The tests that wait for a background build run last, so the builds overlap the
    rest of the suite."""
    items.sort(key=lambda item: getattr(item, "originalname", None) in BACKGROUND_BUILDS)


def pytest_collection_finish(session):
    wanted = {BACKGROUND_BUILDS[item.originalname] for item in session.items
              if getattr(item, "originalname", None) in BACKGROUND_BUILDS}
    for board in sorted(wanted):
        out = pathlib.Path(tempfile.mkdtemp(prefix=f"swirl-build-{board}-"))
        log = open(out / "build.out", "w")
        proc = subprocess.Popen([sys.executable, "-m", "gen", "build", "--board", board,
                                 "--out", str(out / "build")], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ})
        _builds[board] = (proc, out, log)


def background_build(board: str):
    """``(out, seconds)`` of the board's background build once it has ended; raises
    with the build's own output if it failed."""
    import time
    proc, out, log = _builds[board]
    t0 = time.monotonic()
    code = proc.wait()
    log.close()
    text = (out / "build.out").read_text()
    assert code == 0, f"`python -m gen build --board {board}` failed ({code}):\n{text[-3000:]}"
    return out / "build", time.monotonic() - t0


def pytest_sessionfinish(session, exitstatus):
    import shutil
    for proc, out, log in _builds.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        if exitstatus == 0:
            shutil.rmtree(out, ignore_errors=True)     # kept for a look when tests fail
