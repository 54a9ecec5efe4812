"""The node agent's update guard with real processes: a version that hangs without coming up is stopped at the
timeout and the previous one started (a rollback); SIGTERM reaches the running version and its exit code is the
guard's. The 'versions' here are two tiny programs standing in for the agent, so the timeout is the only wait."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
with open(os.environ["IMEWE_NODE_HEALTH_FILE"], "w") as fh:
    json.dump({"pid": os.getpid(), "version": os.path.basename(os.getcwd())}, fh)
print("up from", os.path.basename(os.getcwd()), flush=True)
time.sleep(600)
"""


def test_a_version_that_never_comes_up_is_rolled_back_at_the_timeout(tmp_path: Path) -> None:
    new, old = tmp_path / "v2", tmp_path / "v1"
    for d in (new, old):
        d.mkdir()
        (d / "agent_stub.py").write_text(PROGRAM)
    (tmp_path / "run").mkdir()
    state = {"trial": {"dir": str(new), "version": "2"}, "previous": {"dir": str(old), "version": "1"},
             "argv": ["agent_stub.py"], "env": {}, "timeout_s": 2,
             "health_file": str(tmp_path / "run" / "health.json"), "result_file": str(tmp_path / "update.json"),
             "current_file": str(tmp_path / "current.json")}
    # the new version hangs before it serves
    (new / "agent_stub.py").write_text("import time\ntime.sleep(600)\n")
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        guard = subprocess.Popen([sys.executable, "-m", "app.devices.agent_guard", str(state_file)], cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while "up from v1" not in log.read_text():
            assert time.monotonic() - t0 < 30, log.read_text()
            assert guard.poll() is None, log.read_text()
            time.sleep(0.1)
        took = time.monotonic() - t0
        result = json.loads((tmp_path / "update.json").read_text())
        current = json.loads((tmp_path / "current.json").read_text())
        guard.send_signal(signal.SIGTERM)
        code = guard.wait(10)
    finally:
        if guard.poll() is None:
            guard.kill()
    assert 2 <= took < 20
    assert result["outcome"] == "rolled back" and "within 2 s" in result["message"] and result["version"] == "2"
    assert current == {"dir": str(old), "version": "1"}
    assert code == 7  # SIGTERM went to the running version; its exit code is the guard's
