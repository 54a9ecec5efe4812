"""Issue 7: telemetry ingest into the store next to raw sqlite3 executemany of the same rows (same run, same
kind of file: WAL, synchronous=FULL, same table and index, same batch size), then a fleet of machines at 1 Hz
in simulated time through the whole telemetry service: samples lost, CPU per simulated second, memory.

    .venv/bin/python benchmarks/telemetry.py [--rows 300000] [--machines 1000] [--minutes 10] [--only ingest|fleet]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.bus import EventBus  # noqa: E402
from app.core.clock import ManualClock  # noqa: E402
from app.core.domain.entities import TelemetrySample  # noqa: E402
from app.core.events import TelemetryReceived  # noqa: E402
from app.core.store.db import open_store  # noqa: E402
from app.core.telemetry.repository import TelemetryRepo  # noqa: E402
from app.core.telemetry.service import TelemetryService  # noqa: E402
from app.core.telemetry.writer import BatchedWriter  # noqa: E402

METRICS = ("temperature", "target_temperature", "power_w", "vibration", "progress", "material_remaining")
T0 = datetime(2026, 6, 21, tzinfo=UTC)
BATCH = 6000  # one second of 1,000 machines x 6 metrics


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_rows(n: int, machines: int) -> list[tuple]:
    rng = random.Random(1)
    nodes = [str(uuid.UUID(int=i + 1)) for i in range(machines)]
    rows = []
    t = T0.timestamp()
    while len(rows) < n:
        for node in nodes:
            for m in METRICS:
                rows.append((node, m, t, rng.random() * 200, None))
        t += 1.0
    return rows[:n]


def raw_sqlite(path: Path, rows: list[tuple], batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE telemetry_raw (node_id VARCHAR(36) NOT NULL, metric VARCHAR(40) NOT NULL, "
                 "ts FLOAT NOT NULL, value FLOAT NOT NULL, job_id VARCHAR(36))")
    conn.execute("CREATE INDEX ix_telemetry_raw_node_metric_ts ON telemetry_raw (node_id, metric, ts)")
    conn.execute("CREATE INDEX ix_telemetry_raw_ts ON telemetry_raw (ts)")  # both indexes our table has
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO telemetry_raw (node_id, metric, ts, value, job_id) VALUES (?, ?, ?, ?, ?)",
                         rows[i:i + batch])
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return dt


def ours(path: Path, rows: list[tuple], batch: int) -> float:
    """The service's path: one ``add_sample`` per reading (six values), one flush per simulated second."""
    readings: list[tuple[str, float, dict[str, float]]] = []
    for node, metric, ts, value, _job in rows:
        if not readings or readings[-1][0] != node or readings[-1][1] != ts:
            readings.append((node, ts, {}))
        readings[-1][2][metric] = value
    store = open_store(f"sqlite:///{path}")
    w = BatchedWriter(store)
    per_flush = max(1, batch // len(METRICS))
    t0 = time.perf_counter()
    for i in range(0, len(readings), per_flush):
        for node, ts, metrics in readings[i:i + per_flush]:
            w.add_sample(node, ts, metrics)
        w.flush_sync()  # raw rows and the minutes they close, in one transaction
    w.flush_sync(final=True)
    dt = time.perf_counter() - t0
    with store.connect() as conn:
        assert TelemetryRepo().count_raw(conn) == len(rows)
    store.close()
    return dt


def ingest(n_rows: int, machines: int, rounds: int = 3) -> None:
    """Alternate the two, on fresh files, and keep each one's best: the disk is shared and fsync times jump."""
    rows = make_rows(n_rows, machines)
    raw_ts, our_ts = [], []
    with tempfile.TemporaryDirectory() as d:
        for r in range(rounds):
            raw_ts.append(raw_sqlite(Path(d) / f"raw{r}.sqlite3", rows, BATCH))
            our_ts.append(ours(Path(d) / f"ours{r}.sqlite3", rows, BATCH))
    raw_rate, our_rate = n_rows / min(raw_ts), n_rows / min(our_ts)
    print(f"ingest, {n_rows:,} rows in batches of {BATCH:,} (one per simulated second), best of {rounds} "
          "alternating runs:")
    print(f"  raw sqlite3 executemany      {raw_rate:>10,.0f} rows/s   (reference; all runs: "
          f"{', '.join(f'{n_rows / t:,.0f}' for t in raw_ts)})")
    print(f"  BatchedWriter + rollups      {our_rate:>10,.0f} rows/s   = {our_rate / raw_rate:.2f} x raw "
          f"(target >= 0.50) {'OK' if our_rate >= raw_rate / 2 else 'MISSED'}; all runs: "
          f"{', '.join(f'{n_rows / t:,.0f}' for t in our_ts)}")


async def fleet(machines: int, minutes: int) -> None:
    seconds = minutes * 60
    rng = random.Random(2)
    nodes = [uuid.UUID(int=10_000 + i) for i in range(machines)]
    with tempfile.TemporaryDirectory() as d:
        store = open_store(f"sqlite:///{Path(d) / 'fleet.sqlite3'}")
        clock = ManualClock(T0)
        bus = EventBus()
        svc = TelemetryService(store, bus, clock)
        await svc.start()
        bus.start()
        gen_cpu = 0.0
        rss: list[float] = []
        cpu0, wall0 = cpu_s(), time.perf_counter()
        for s in range(seconds):
            at = T0 + timedelta(seconds=s)
            clock.advance(1.0)
            g0 = cpu_s()
            batch = [TelemetrySample(n, at, {
                "temperature": 210.0 + rng.random(), "target_temperature": 210.0, "power_w": 150.0 + rng.random(),
                "vibration": 0.3 + 0.01 * rng.random(), "progress": s / seconds * 100,
                "material_remaining": 900.0 - s * 0.01}) for n in nodes]
            gen_cpu += cpu_s() - g0
            for sample in batch:
                bus.publish(TelemetryReceived(sample))
            await bus.drain(timeout=60)
            await svc.writer.flush()  # what the 1 s flush loop does in real time
            if s % 60 == 59:
                rss.append(rss_mb())
        await svc.stop()
        core_cpu = cpu_s() - cpu0 - gen_cpu
        wall = time.perf_counter() - wall0
        with store.connect() as conn:
            stored = TelemetryRepo().count_raw(conn)
            rollups = TelemetryRepo().count_rollups(conn)
        drops = sum(v["dropped"] for v in bus.stats().values()) + svc.writer.stats.dropped
        store.close()
    sent = seconds * machines * len(METRICS)
    share = core_cpu / seconds
    print(f"fleet, {machines:,} machines x {len(METRICS)} metrics at 1 Hz for {minutes} simulated minutes:")
    print(f"  samples sent {sent:,}, stored {stored:,}, dropped {drops}  -> "
          f"{'no sample lost' if stored == sent and not drops else 'LOST SAMPLES'}; {rollups:,} rollup rows "
          f"(expected {machines * len(METRICS) * minutes:,})")
    print(f"  core CPU {core_cpu:.1f} s for {seconds} simulated s = {share:.3f} of a core in real time "
          f"(target < 0.5) {'OK' if share < 0.5 else 'MISSED'}; sample generation excluded: {gen_cpu:.1f} s; "
          f"wall {wall:.1f} s")
    growth = rss[-1] - rss[0]
    print(f"  RSS per simulated minute (MB): {', '.join(f'{x:.0f}' for x in rss)}; growth after minute 1: "
          f"{growth:+.1f} MB ({growth / rss[0] * 100:+.1f} %)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--machines", type=int, default=1000)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--only", choices=("ingest", "fleet"), help="run one part")
    args = ap.parse_args()
    if args.only != "fleet":
        ingest(args.rows, args.machines)
    if args.only != "ingest":
        asyncio.run(fleet(args.machines, args.minutes))


if __name__ == "__main__":
    main()
