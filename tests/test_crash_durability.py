"""Kill -9 in the middle of 1,000 job submissions: every acknowledged one is there and whole."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from .helpers import run_with_core

ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import asyncio, sys
from app.bootstrap import build_core
from app.core.config import load_config

async def main(home):
    core = build_core(load_config(home))
    await core.kernel.boot()
    await core.fleet.register("P1", {"process": "fdm", "build_volume_mm": [250, 210, 210]}, bring_up=True)
    for i in range(1000):
        job = await core.jobs.submit({"name": f"job {i}", "parts": [
            {"name": f"p{i}-{k}", "process": "fdm", "material": "pla", "size": [10, 10, 10]} for k in range(3)]})
        print("ACK", job.id, flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_kill_9_mid_submission_loses_nothing_acknowledged(tmp_path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    acked: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while len(acked) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("ACK "):
            acked.append(line.split()[1])
    proc.send_signal(signal.SIGKILL)
    # Lines already in the pipe were acknowledged too.
    rest = proc.stdout.read()
    acked += [ln.split()[1] for ln in rest.splitlines() if ln.startswith("ACK ")]
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 150, "the writer never got going"

    db = home / "imewe.sqlite3"
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        part_counts = dict(raw.execute("SELECT job_id, count(*) FROM parts GROUP BY job_id").fetchall())
        job_ids = {r[0] for r in raw.execute("SELECT id FROM jobs")}
        audited = {r[0][4:] for r in raw.execute("SELECT target FROM audit_log WHERE action='job.submit'")}
    assert set(acked) <= job_ids
    assert len(job_ids) < 1000, "the kill came too late to prove anything"
    # None is half-written: every stored job has all three parts and its audit entry.
    assert all(part_counts.get(j) == 3 for j in job_ids)
    assert audited == job_ids

    async def reopen(core):
        return len(await core.jobs.list(limit=5000)), core.store.integrity_ok()

    n, ok = run_with_core(home, f"sqlite:///{db}", reopen)
    assert n == len(job_ids) and ok
