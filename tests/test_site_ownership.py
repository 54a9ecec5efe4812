"""One owner per site, with real processes: ``imewe serve`` owns the site (a file lock on SQLite, an advisory lock
on PostgreSQL); CLI commands beside it read without touching running work and act through its control channel;
a second owner is refused; after kill -9 the next owner takes the lock and recovers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import build_store_core
from app.cli.main import main
from app.core.api.channel import channel_path, read_channel
from app.core.config import load_config

ROOT = Path(__file__).resolve().parents[1]
READS = (["jobs", "list"], ["nodes", "list"], ["kernel", "status"], ["sites", "id"], ["audit", "list"])


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), IMEWE_DISCOVERY="0")


def cli_process(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "--home", str(home), "--db", db, *args],
                          capture_output=True, text=True, env=_env(), timeout=60)


def cli(home: Path, db: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The CLI in this test's process (a process of its own beside the owner; much faster than a new one)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--home", str(home), "--db", db, *args])
    if check and rc != 0:
        raise AssertionError(f"imewe {' '.join(args)} exited {rc}: {err.getvalue()}")
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def cli_json(home: Path, db: str, *args: str) -> Any:
    return json.loads(cli(home, db, *args, "--json").stdout)


def serve(home: Path, db: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "app", "--home", str(home), "--db", db, "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = read_channel(home)
        if info is not None and info.pid == proc.pid:
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not open its control channel in 30 s")


def job_state(home: Path, db: str, job_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Read straight from the store, as fast as a test needs to poll."""
    async def read() -> tuple[str, list[dict[str, Any]]]:
        core = build_store_core(load_config(str(home), db))
        try:
            job = await core.jobs.get(__import__("uuid").UUID(job_id))
            return job.state.value, [{"state": p.state.value, "node": p.assigned_node} for p in job.parts]
        finally:
            core.store.close()

    return asyncio.run(read())


def wait_for(pred, timeout_s: float, what: str, step_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> tuple[Path, str]:
    home = tmp_path / "site"
    home.mkdir()
    # The default plan_budget_s (1 s): a round publishes its constructive plan at once and improves it after, so
    # a submission is planned well inside a second whatever the budget.
    (home / "config.toml").write_text('discovery = false\n[sites]\nport = 0\n', encoding="utf-8")
    return home, db_url


def test_one_owner_per_site(site: tuple[Path, str]) -> None:
    home, db = site
    node = cli_json(home, db, "nodes", "add", "p1", "--process", "fdm", "--volume", "250x210x210",
                    "--materials", "pla", "--loaded", "pla", "--driver", "sim")
    job = cli_json(home, db, "jobs", "submit", "--name", "bracket", "--process", "fdm", "--material", "pla",
                   "--size", "60x50x40")
    assert not channel_path(home).exists()  # no owner yet: the commands worked on the store
    owner = serve(home, db)
    try:
        wait_for(lambda: job_state(home, db, job["id"])[0] == "IN_PROGRESS", 30, "the job to start")

        # Read-only commands beside the owner: the running job and its machine are untouched.
        assert cli_process(home, db, "jobs", "list").returncode == 0
        for args in READS:
            cli(home, db, *args)
        state, parts = job_state(home, db, job["id"])
        assert (state, parts[0]["state"], str(parts[0]["node"])) == ("IN_PROGRESS", "IN_PROGRESS", node["id"])
        assert cli_json(home, db, "nodes", "show", "p1")["state"] == "EXECUTING"
        status = cli_json(home, db, "kernel", "status")
        assert status["owner"]["pid"] == owner.pid and status["services"]["production"]["status"] == "running"
        timeline = cli_json(home, db, "jobs", "timeline", job["id"])
        assert not any("interrupted" in c["reason"] for c in timeline)

        # A second owner is refused with one line naming the first.
        second = cli_process(home, db, "serve", "--for", "5")
        assert second.returncode == 2 and str(owner.pid) in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        window = cli(home, db, "open", "--headless", check=False)
        assert window.returncode == 2 and str(owner.pid) in window.stderr
        demo = cli(home, db, "demo", "--text", "--for", "1", check=False)
        assert demo.returncode == 2 and str(owner.pid) in demo.stderr

        # A job submitted from the CLI goes through the owner, which plans it at once.
        extra = cli_json(home, db, "jobs", "submit", "--name", "spacer", "--process", "fdm", "--material", "pla",
                         "--size", "20x20x5")
        wait_for(lambda: job_state(home, db, extra["id"])[0] != "VALIDATED", 10, "the owner to plan the job")
        # Measured on the owner's own clock (submission and plan times as it recorded them), not on this test's
        # polling, so a loaded machine does not blur it.
        planned = min(datetime.fromisoformat(c["at"]) for c in cli_json(home, db, "jobs", "timeline", extra["id"])
                      if c["to"] == "SCHEDULED")
        delay_s = (planned - datetime.fromisoformat(extra["submitted_at"])).total_seconds()
        assert 0 <= delay_s < 1.0
        assert job_state(home, db, job["id"])[0] == "IN_PROGRESS"
        # A machine added beside the running site is the owner's at once: connected, and given the waiting job.
        p2 = cli_json(home, db, "nodes", "add", "p2", "--process", "fdm", "--volume", "250x210x210",
                      "--materials", "pla", "--loaded", "pla", "--driver", "sim")
        wait_for(lambda: job_state(home, db, extra["id"])[1][0]["node"] is not None, 10, "p2 to take the job")
        assert str(job_state(home, db, extra["id"])[1][0]["node"]) == p2["id"]
        assert job_state(home, db, job["id"])[0] == "IN_PROGRESS"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)

    # The owner was killed: its work is in the store as it was; a read-only command changes nothing.
    cli(home, db, "jobs", "list")
    assert job_state(home, db, job["id"])[0] == "IN_PROGRESS"
    assert read_channel(home) is not None  # stale: its process is gone

    # The next owner takes the lock (the OS or the database released it) and recovers the interrupted work.
    again = serve(home, db)
    try:
        timeline = wait_for(lambda: [c for c in cli_json(home, db, "jobs", "timeline", job["id"])
                                     if "interrupted" in c["reason"]], 30, "crash recovery", step_s=0.2)
        assert timeline
        wait_for(lambda: job_state(home, db, job["id"])[0] == "IN_PROGRESS", 30, "the job to restart")
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(20) == 0
    assert not channel_path(home).exists()  # removed on a clean stop
