"""Raw samples and rollups in a real database: rollups equal the raw data, pruning keeps rollups,
export and import in the spec's telemetry schema."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.domain.errors import ValidationError
from app.core.store.db import open_store
from app.core.telemetry.repository import TelemetryRepo
from app.core.telemetry.transfer import export_telemetry, import_telemetry
from app.core.telemetry.writer import BatchedWriter
from tests.test_telemetry_support import T0, register_nodes, samples

NODES = [str(uuid.UUID(int=i + 1)) for i in range(3)]
T0S = T0.timestamp()


def _compare(store) -> None:
    repo = TelemetryRepo()
    with store.connect() as conn:
        stored = {r.key(): r for r in repo.rollups(conn)}
        recomputed = {r.key(): r for r in repo.rollups_from_raw(conn)}
    assert stored.keys() == recomputed.keys()
    for k, a in stored.items():
        b = recomputed[k]
        assert (a.n, a.vmin, a.vmax) == (b.n, b.vmin, b.vmax), k
        assert math.isclose(a.vmean, b.vmean, rel_tol=1e-9, abs_tol=1e-9), k


sample_st = st.tuples(st.sampled_from(NODES), st.sampled_from(["temperature", "power_w"]),
                      st.floats(0, 400, allow_nan=False), st.floats(-1e4, 1e4, allow_nan=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(sample_st, max_size=120), cuts=st.lists(st.integers(0, 120), max_size=4))
def test_rollups_equal_the_raw_data(tmp_path: Path, data, cuts) -> None:
    """Samples arrive in batches, late and out of order; every stored rollup equals the database's own
    GROUP BY of the raw rows it summarises."""
    store = open_store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        with store.begin() as conn:
            conn.exec_driver_sql("DELETE FROM telemetry_raw")
            conn.exec_driver_sql("DELETE FROM telemetry_rollup")
        w = BatchedWriter(store, rollup_grace_s=0.0)
        bounds = sorted({0, len(data), *[c for c in cuts if c <= len(data)]})
        for a, b in zip(bounds, bounds[1:], strict=False):
            for node, metric, dt, value in data[a:b]:
                w.add(node, metric, T0S + dt, value)
            w.flush_sync()  # closes minutes behind the newest sample; later samples merge into them
        w.flush_sync(final=True)
        with store.connect() as conn:
            assert TelemetryRepo().count_raw(conn) == len(data)
        _compare(store)
    finally:
        store.close()


def test_rollups_on_every_backend(db_url: str) -> None:
    store = open_store(db_url)
    try:
        w = BatchedWriter(store)
        for s in samples([uuid.UUID(n) for n in NODES], 300):
            w.add_sample(str(s.node_id), s.timestamp.timestamp(), s.metrics)
            if w.pending > 1000:
                w.flush_sync()
        w.flush_sync(final=True)
        _compare(store)
        with store.connect() as conn:
            assert TelemetryRepo().count_rollups(conn) == 3 * 6 * 5
    finally:
        store.close()


def test_pruning_keeps_rollups(db_url: str) -> None:
    store = open_store(db_url)
    repo = TelemetryRepo()
    try:
        w = BatchedWriter(store)
        for s in samples([uuid.UUID(NODES[0])], 600):
            w.add_sample(NODES[0], s.timestamp.timestamp(), s.metrics)
        w.flush_sync(final=True)
        with store.connect() as conn:
            before = repo.rollups(conn)
        with store.begin() as conn:
            res = repo.prune(conn, raw_before=T0S + 300)
        assert res.raw_deleted == 300 * 6 and res.rollups_deleted == 0
        with store.connect() as conn:
            assert repo.count_raw(conn) == 300 * 6
            assert repo.rollups(conn) == before
            assert min(r[2] for r in repo.raw(conn)) >= T0S + 300
        with store.begin() as conn:
            res = repo.prune(conn, raw_before=T0S + 600, rollups_before=T0S + 120)
        with store.connect() as conn:
            assert res.rollups_deleted == 2 * 6 and repo.count_rollups(conn) == 8 * 6
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_export_then_import_gives_the_same_data(tmp_path: Path, fmt: str) -> None:
    src = open_store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    dst = open_store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    repo = TelemetryRepo()
    try:
        w = BatchedWriter(src)
        job = str(uuid.uuid4())
        for s in samples([uuid.UUID(n) for n in NODES[:2]], 90):
            w.add_sample(str(s.node_id), s.timestamp.timestamp(), s.metrics, job)
        w.flush_sync(final=True)
        out = tmp_path / f"t.{fmt}"
        res = export_telemetry(src, out)
        assert res.samples == 2 * 90 * 6
        if fmt == "json":
            recs = json.loads(out.read_text())
            assert len(recs) == 2 * 90 and res.records == 180
            first = recs[0]
            assert set(first) == {"telemetry_id", "node_id", "job_id", "timestamp", "metrics", "alerts"}
            assert first["timestamp"].endswith("Z") and first["job_id"] == job
            assert set(first["metrics"]) == {"temperature", "target_temperature", "power_w", "vibration",
                                             "progress", "material_remaining"}
        register_nodes(dst, NODES[:2])
        back = import_telemetry(dst, out)
        assert back.samples == res.samples
        with src.connect() as a, dst.connect() as b:
            assert sorted(repo.raw(a)) == sorted(repo.raw(b))
            assert repo.rollups(a) == repo.rollups(b)
    finally:
        src.close()
        dst.close()


def test_import_rejects_bad_records_and_changes_nothing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    register_nodes(store, NODES[:1])
    try:
        good = {"node_id": NODES[0], "timestamp": "2026-06-21T00:00:00Z", "metrics": {"temperature": 20.5}}
        cases = [
            (dict(good, timestamp="2026-06-21T00:00:00"), "time zone"),
            (dict(good, node_id="printer-1"), "not a UUID"),
            (dict(good, metrics={"temperature": "hot"}), "finite number"),
            (dict(good, metrics={}), "non-empty"),
        ]
        for bad, words in cases:
            p = tmp_path / "bad.json"
            p.write_text(json.dumps([good, bad]))
            with pytest.raises(ValidationError, match=words) as err:
                import_telemetry(store, p)
            assert "record 2" in str(err.value)
        with store.connect() as conn:
            assert TelemetryRepo().count_raw(conn) == 0
        with pytest.raises(ValidationError, match="unknown telemetry format"):
            txt = tmp_path / "t.txt"
            txt.write_text("x")
            import_telemetry(store, txt)
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError:
            with pytest.raises(ValidationError, match="pyarrow"):
                export_telemetry(store, tmp_path / "x.parquet")
    finally:
        store.close()


def test_import_and_export_on_every_backend(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    register_nodes(store, NODES[:1])
    try:
        src = tmp_path / "in.jsonl"
        src.write_text("\n".join(json.dumps({
            "node_id": NODES[0], "timestamp": f"2026-06-21T00:0{i // 60}:{i % 60:02d}Z",
            "metrics": {"temperature": 20.0 + i, "progress": i / 100},
            "alerts": [{"type": "temperature_high", "severity": "warning", "message": "hot"}] if i == 5 else [],
        }) for i in range(90)))
        res = import_telemetry(store, src)
        assert (res.samples, res.records, res.alerts) == (180, 90, 1)
        out = tmp_path / "out.json"
        back = export_telemetry(store, out)
        assert (back.samples, back.records, back.alerts) == (180, 90, 1)
        recs = json.loads(out.read_text())
        assert recs[5]["alerts"] == [{"type": "temperature_high", "severity": "warning", "message": "hot"}]
        _compare(store)
    finally:
        store.close()


def test_service_retention_in_slices_keeps_rollups(tmp_path: Path) -> None:
    import asyncio

    from app.core.bus import EventBus
    from app.core.clock import ManualClock
    from app.core.telemetry.service import TelemetryService, TelemetrySettings

    store = open_store(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    repo = TelemetryRepo()
    try:
        with store.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"ix_telemetry_raw_ts", "ix_telemetry_rollup_minute"} <= names
        svc = TelemetryService(store, EventBus(), ManualClock(T0), TelemetrySettings(raw_keep_s=3600.0))
        for s in samples([uuid.UUID(NODES[0])], 2 * 3600, seed=3):
            svc.writer.add_sample(NODES[0], s.timestamp.timestamp(), s.metrics)
        svc.writer.flush_sync(final=True)
        res = asyncio.run(svc.prune(now=T0S + 2 * 3600))
        assert res.raw_deleted == 3600 * 6 and res.rollups_deleted == 0
        with store.connect() as conn:
            assert repo.count_raw(conn) == 3600 * 6 and repo.count_rollups(conn) == 120 * 6
    finally:
        store.close()
