"""The node agent's update guard: starts a newly installed version, waits for it to come up healthy, and rolls back
to the version before when it does not.

A running agent that accepted an update replaces itself (``os.execv``, same process id, so systemd or whoever
started it still holds it) with this guard, which knows only the standard library: it cannot be broken by the new
version. The guard starts the new version as its child from its own folder, and waits up to ``timeout_s`` for the
child to write its health file (it does so once it serves and its machine is connected). If the child exits or
stays silent, it is stopped and the previous version is started instead; either way the outcome is written where
the agent reports it to the control room (``node-<name>-update.json``). The guard then stays as the agent's
parent: it passes SIGTERM and SIGINT on and exits with the child's code; a child that exits with ``RESTART_CODE``
asks for the next update (its state file says which).

    python -m app.devices.agent_guard STATE_FILE
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESTART_CODE = 75  # EX_TEMPFAIL: "start me again as the state file says"
GUARDED_ENV = "IMEWE_NODE_GUARDED"
VERSION_DIR_ENV = "IMEWE_NODE_VERSION_DIR"
HEALTH_ENV = "IMEWE_NODE_HEALTH_FILE"


def _spawn(state: dict[str, Any], side: dict[str, Any]) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(state.get("env") or {})
    env[GUARDED_ENV] = "1"
    env[HEALTH_ENV] = state["health_file"]
    if side.get("dir"):  # an installed version: its own folder first on the path, and as the working folder
        env["PYTHONPATH"] = side["dir"]
        env[VERSION_DIR_ENV] = side["dir"]
        cwd = side["dir"]
    else:  # the version the agent was installed with
        env.pop(VERSION_DIR_ENV, None)
        if side.get("pythonpath"):
            env["PYTHONPATH"] = side["pythonpath"]
        else:
            env.pop("PYTHONPATH", None)
        cwd = side.get("cwd") or os.getcwd()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state["health_file"])
    return subprocess.Popen([sys.executable, *state["argv"]], env=env, cwd=cwd)


def _healthy(proc: subprocess.Popen, health_file: str, timeout_s: float) -> str:
    """"" when the child came up; else why not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return f"it exited with code {code} while starting"
        try:
            if json.loads(Path(health_file).read_text()).get("pid") == proc.pid:
                return ""
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return f"it did not come up healthy within {timeout_s:.0f} s"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _record(state: dict[str, Any], outcome: str, message: str) -> None:
    result = {"version": state["trial"]["version"], "from": state["previous"]["version"], "outcome": outcome,
              "message": message, "at": datetime.now(UTC).isoformat()}
    path = Path(state["result_file"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    print(f"node agent update to {result['version']}: {outcome}{': ' + message if message else ''}", flush=True)


def _start(state: dict[str, Any]) -> subprocess.Popen:
    """The trial version if it comes up healthy in time, else the previous one."""
    proc = _spawn(state, state["trial"])
    why = _healthy(proc, state["health_file"], float(state.get("timeout_s", 60)))
    if not why:
        _record(state, "updated", "")
        current = Path(state["current_file"])
        current.write_text(json.dumps(state["trial"]))
        return proc
    _stop(proc)
    _record(state, "rolled back", f"version {state['trial']['version']} failed: {why}; "
                                  f"back on {state['previous']['version']}")
    with contextlib.suppress(FileNotFoundError):
        if state["previous"].get("dir"):
            Path(state["current_file"]).write_text(json.dumps(state["previous"]))
        else:
            os.unlink(state["current_file"])
    return _spawn(state, state["previous"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m app.devices.agent_guard STATE_FILE", file=sys.stderr)
        return 2
    state_file = Path(argv[0])
    child: subprocess.Popen | None = None

    def forward(signum: int, _frame: Any) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        state = json.loads(state_file.read_text())
        child = _start(state)
        code = child.wait()
        if code != RESTART_CODE:
            return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
