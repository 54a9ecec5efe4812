"""The audit log's hash chain on a real SQLite file and a real PostgreSQL database: a record edited, removed or
inserted by hand is named by ``imewe audit verify``; records written before the chain existed are chained by the
migration; concurrent writers keep one chain."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from app.core import audit
from app.core.store.audit_chain import verify
from app.core.store.db import _make_engine, open_store

from .people_site import cli
from .test_store_migrations import SCRIPTS, _config


def _write(url: str, n: int, actor: str = "alice", migrate: bool = True) -> None:
    store = open_store(url, migrate=migrate)
    try:
        for i in range(n):
            with store.begin() as conn:
                audit.record(conn, datetime.now(UTC), actor, "job.priority", f"job:{i}", {"priority": i},
                             {"priority": i + 1, "nested": {"b": [1, 2.5], "a": None}})
    finally:
        store.close()


def _seq_ids(url: str) -> list[tuple[int, str]]:
    engine = _make_engine(url)
    try:
        with engine.connect() as conn:
            return [(r.seq, r.id) for r in conn.execute(sa.text("SELECT seq, id FROM audit_log ORDER BY seq"))]
    finally:
        engine.dispose()


def _sql(url: str, statement: str, **params) -> None:
    engine = _make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def _verify_cli(tmp_path: Path, url: str) -> tuple[int, dict, str]:
    rc, out, err = cli(tmp_path, "--db", url, "audit", "verify", "--json")
    rc2, _, err2 = cli(tmp_path, "--db", url, "audit", "verify")
    assert rc2 == rc and (rc == 0 or len(err2.strip().splitlines()) == 1)
    return rc, json.loads(out), err2


def test_an_intact_chain_verifies(tmp_path: Path, db_url: str) -> None:
    _write(db_url, 5)
    rc, report, _ = _verify_cli(tmp_path, db_url)
    assert rc == 0 and report["ok"] and report["records"] == 5


def test_a_record_edited_by_hand_is_named(tmp_path: Path, db_url: str) -> None:
    _write(db_url, 6)
    seq, rid = _seq_ids(db_url)[3]
    _sql(db_url, "UPDATE audit_log SET actor = 'mallory' WHERE seq = :s", s=seq)
    rc, report, err = _verify_cli(tmp_path, db_url)
    assert rc == 2 and not report["ok"] and report["broken_seq"] == seq and report["broken_id"] == rid
    assert f"record {seq} ({rid})" in err and "content was changed" in err


def test_a_record_removed_or_the_newest_removed_is_found(tmp_path: Path, db_url: str) -> None:
    _write(db_url, 5)
    rows = _seq_ids(db_url)
    _sql(db_url, "DELETE FROM audit_log WHERE seq = :s", s=rows[1][0])
    rc, report, _ = _verify_cli(tmp_path, db_url)
    assert rc == 2 and report["broken_seq"] == rows[2][0] and "removed" in report["reason"]
    _sql(db_url, "DELETE FROM audit_log WHERE seq >= :s", s=rows[1][0])  # cut the tail: only the head knows
    rc, report, _ = _verify_cli(tmp_path, db_url)
    assert rc == 2 and "newest records were removed" in report["reason"]


def test_the_migration_chains_records_written_before_it(tmp_path: Path, db_url: str) -> None:
    engine = _make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), SCRIPTS.get_revision("0008_people").down_revision)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(sa.text("INSERT INTO audit_log (id, actor, action, target, at, before, after) VALUES "
                                 "(:id, 'old', 'job.cancel', :t, :at, NULL, :after)"),
                         {"id": f"00000000-0000-0000-0000-00000000000{i}", "t": f"job:{i}", "at": 1.7e9 + i,
                          "after": json.dumps({"state": "CANCELLED"})})
    engine.dispose()
    _write(db_url, 2)  # open_store upgrades to the head, then two chained records follow the old ones
    rc, report, _ = _verify_cli(tmp_path, db_url)
    assert rc == 0 and report["records"] == 5


def test_concurrent_writers_keep_one_chain(db_url: str) -> None:
    open_store(db_url).close()  # migrate once: alembic's context is not for threads
    threads = [threading.Thread(target=_write, args=(db_url, 15, f"w{i}", False)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            report = verify(conn)
    finally:
        store.close()
    assert report.ok and report.records == 60, report.describe()


def test_reading_and_verifying_the_log_needs_the_audit_permission(db_url: str) -> None:
    from app.core.auth.permissions import Role
    from app.core.auth.principal import Actor
    from app.core.domain.errors import PermissionDenied

    store = open_store(db_url)
    try:
        for role, ok in ((Role.ENGINEER, True), (Role.OPERATOR, False)):
            actor = Actor("p", role)
            if ok:
                assert asyncio.run(audit.verify_log(store, actor)).ok
            else:
                try:
                    asyncio.run(audit.verify_log(store, actor))
                    raise AssertionError("an operator read the audit log")
                except PermissionDenied:
                    pass
    finally:
        store.close()
