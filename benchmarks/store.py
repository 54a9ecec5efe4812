"""Issue 2: job submissions and telemetry rows per second through our store, each next to raw sqlite3 in the
same run (the floor), on the same kind of file (WAL, synchronous=FULL).

    .venv/bin/python benchmarks/store.py [--jobs 2000] [--rows 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_core  # noqa: E402
from app.core.config import load_config  # noqa: E402
from app.core.store import open_store  # noqa: E402
from app.core.telemetry.repository import TelemetryRepo  # noqa: E402

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"]}


def spec(i: int) -> dict:
    return {"name": f"job {i}", "priority": 5, "parts": [
        {"name": f"p{i}-{k}", "process": "fdm", "material": "pla", "size": [20, 20, 10]} for k in range(2)]}


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def raw_jobs(path: Path, n: int, per_job_commit: bool) -> float:
    """The same rows our submission writes (job, 2 parts, 6 state changes, 1 audit entry) with plain sqlite3."""
    conn = raw_connect(path)
    conn.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT, priority INT, state TEXT, submitted_at REAL, meta TEXT);
        CREATE TABLE parts (id TEXT PRIMARY KEY, job_id TEXT REFERENCES jobs(id), idx INT, name TEXT, process TEXT,
                            material TEXT, x REAL, y REAL, z REAL, quantity INT, state TEXT);
        CREATE TABLE changes (seq INTEGER PRIMARY KEY, obj_id TEXT, frm TEXT, too TEXT, at REAL);
        CREATE TABLE audit (seq INTEGER PRIMARY KEY, id TEXT, action TEXT, target TEXT, at REAL, after TEXT);
    """)
    rows = []
    for i in range(n):
        jid = str(uuid.uuid4())
        pids = [str(uuid.uuid4()) for _ in range(2)]
        rows.append(((jid, f"job {i}", 5, "VALIDATED", time.time(), "{}"),
                     [(p, jid, k, f"p{i}-{k}", "fdm", "pla", 20, 20, 10, 1, "VALIDATED") for k, p in enumerate(pids)],
                     [(o, None, "SUBMITTED", time.time()) for o in (jid, *pids)]
                     + [(o, "SUBMITTED", "VALIDATED", time.time()) for o in (jid, *pids)],
                     (str(uuid.uuid4()), "job.submit", f"job:{jid}", time.time(), json.dumps({"parts": 2}))))
    t0 = time.perf_counter()
    if per_job_commit:
        for job, parts, changes, audit in rows:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?)", job)
            conn.executemany("INSERT INTO parts VALUES (?,?,?,?,?,?,?,?,?,?,?)", parts)
            conn.executemany("INSERT INTO changes (obj_id, frm, too, at) VALUES (?,?,?,?)", changes)
            conn.execute("INSERT INTO audit (id, action, target, at, after) VALUES (?,?,?,?,?)", audit)
            conn.execute("COMMIT")
    else:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?)", [r[0] for r in rows])
        conn.executemany("INSERT INTO parts VALUES (?,?,?,?,?,?,?,?,?,?,?)", [p for r in rows for p in r[1]])
        conn.executemany("INSERT INTO changes (obj_id, frm, too, at) VALUES (?,?,?,?)", [c for r in rows for c in r[2]])
        conn.executemany("INSERT INTO audit (id, action, target, at, after) VALUES (?,?,?,?,?)", [r[3] for r in rows])
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


def our_jobs(home: Path, n: int, batch: bool) -> float:
    async def go() -> float:
        core = build_core(load_config(str(home)))
        await core.kernel.boot()
        await core.fleet.register("P1", FDM, bring_up=True)
        specs = [spec(i) for i in range(n)]
        t0 = time.perf_counter()
        if batch:
            await core.jobs.submit_batch(specs)
        else:
            for s in specs:
                await core.jobs.submit(s)
        dt = time.perf_counter() - t0
        await core.kernel.shutdown()
        return n / dt

    return asyncio.run(go())


def telemetry_rows(n: int) -> list[tuple]:
    nodes = [str(uuid.uuid4()) for _ in range(100)]
    metrics = ["temperature", "target_temperature", "power_w", "vibration", "progress", "material_remaining"]
    t = 1.78e9
    return [(nodes[i % 100], metrics[(i // 100) % 6], t + i / 600, float(i % 997), None) for i in range(n)]


def raw_telemetry(path: Path, rows: list[tuple], batch: int) -> float:
    conn = raw_connect(path)
    conn.execute("CREATE TABLE telemetry_raw (node_id TEXT NOT NULL, metric TEXT NOT NULL, ts REAL NOT NULL, "
                 "value REAL NOT NULL, job_id TEXT)")
    conn.execute("CREATE INDEX ix ON telemetry_raw (node_id, metric, ts)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO telemetry_raw (node_id, metric, ts, value, job_id) VALUES (?,?,?,?,?)",
                         rows[i:i + batch])
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return len(rows) / dt


def our_telemetry(path: Path, rows: list[tuple], batch: int) -> float:
    store = open_store(f"sqlite:///{path}")
    repo = TelemetryRepo()
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        with store.begin() as conn:
            repo.insert_raw(conn, rows[i:i + batch])
    dt = time.perf_counter() - t0
    store.close()
    return len(rows) / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=5000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        raw_one = raw_jobs(tmp / "raw1.sqlite", a.jobs, per_job_commit=True)
        ours_one = our_jobs(tmp / "ours1", a.jobs, batch=False)
        raw_bulk = raw_jobs(tmp / "raw2.sqlite", a.jobs, per_job_commit=False)
        ours_bulk = our_jobs(tmp / "ours2", a.jobs, batch=True)
        rows = telemetry_rows(a.rows)
        raw_t = raw_telemetry(tmp / "raw3.sqlite", rows, a.batch)
        ours_t = our_telemetry(tmp / "ours3.sqlite", rows, a.batch)
    print(f"job submissions, one transaction each ({a.jobs} jobs x 2 parts, synchronous=FULL):")
    print(f"  ours {ours_one:9.0f}/s   raw sqlite3 same rows {raw_one:9.0f}/s   ratio {ours_one / raw_one:.2f}")
    print(f"job submissions, one batch ({a.jobs} jobs, all or nothing):")
    print(f"  ours {ours_bulk:9.0f}/s   raw sqlite3 executemany {raw_bulk:9.0f}/s   ratio {ours_bulk / raw_bulk:.2f}")
    print(f"telemetry rows ({a.rows} rows, batches of {a.batch}):")
    print(f"  ours {ours_t:9.0f}/s   raw sqlite3 executemany {raw_t:9.0f}/s   ratio {ours_t / raw_t:.2f}"
          f"   (target >= 0.50: {'met' if ours_t / raw_t >= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
