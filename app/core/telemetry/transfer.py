"""Moving telemetry in and out of the store: export on request (before pruning, or to share) and import.

Import is one transaction: a bad record anywhere leaves the store as it was, and the error names the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from app.core.domain.entities import Alert
from app.core.domain.enums import Severity
from app.core.domain.errors import ValidationError
from app.core.store import schema as t
from app.core.store.convert import dt
from app.core.store.db import Store
from app.core.store.repositories import AlertRepo
from app.core.telemetry import archive
from app.core.telemetry.repository import RawRow, TelemetryRepo
from app.core.telemetry.rollup import RollupAccumulator

_BATCH = 5000


@dataclass(frozen=True, slots=True)
class TransferResult:
    path: str
    format: str
    samples: int  # values (one metric of one reading)
    records: int = 0  # schema records, for JSON
    alerts: int = 0


def export_telemetry(store: Store, path: Path, fmt: str | None = None, *, start: float | None = None,
                     end: float | None = None, node_id: str | None = None, rollups: bool = False) -> TransferResult:
    fmt = archive.format_of(path, fmt)
    repo = TelemetryRepo()
    path.parent.mkdir(parents=True, exist_ok=True)
    with store.connect() as conn:
        if rollups:
            if fmt != "csv":
                raise ValidationError("rollups export to csv only", "format")
            with path.open("w", newline="", encoding="utf-8") as out:
                n = archive.write_rollups_csv(out, repo.rollups(conn, node_id, None, start, end))
            return TransferResult(str(path), fmt, n)
        rows = repo.iter_raw(conn, node_id, None, start, end)
        if fmt == "parquet":
            return TransferResult(str(path), fmt, archive.write_parquet(path, rows))
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as out:
                return TransferResult(str(path), fmt, archive.write_csv(out, rows))
        alerts = _alerts_by_instant(conn, start, end, node_id)
        counted = _Counted(rows)
        with path.open("w", encoding="utf-8") as out:
            n = archive.write_json(out, archive.records(counted, alerts), lines=fmt == "jsonl")
        return TransferResult(str(path), fmt, counted.n, n, sum(len(v) for v in alerts.values()))


def import_telemetry(store: Store, path: Path, fmt: str | None = None, *, now_s: float | None = None
                     ) -> TransferResult:
    """Readings of machines this site knows, dated from 2000 to ``now_s`` (plus an hour of clock slack)."""
    if not path.is_file():
        raise ValidationError(f"{path} does not exist or is not a file", "path")
    fmt = archive.format_of(path, fmt)
    if fmt == "parquet":
        raise ValidationError("import reads json, jsonl or csv", "format")
    repo = TelemetryRepo()
    acc = RollupAccumulator()
    n = recs = n_alerts = 0
    with store.begin() as conn:
        rules = archive.ImportRules(frozenset(conn.execute(sa.select(t.nodes.c.id)).scalars()), now_s)
        batch: list[RawRow] = []

        def push(rows: list[RawRow]) -> None:
            nonlocal n
            batch.extend(rows)
            for node, metric, ts, value, _job in rows:
                acc.add(node, metric, ts, value)
            n += len(rows)
            if len(batch) >= _BATCH:
                repo.insert_raw(conn, batch)
                batch.clear()

        if fmt == "csv":
            chunk: list[RawRow] = []
            for row in archive.read_csv(path, rules):
                chunk.append(row)
                if len(chunk) >= _BATCH:
                    push(chunk)
                    chunk = []
            push(chunk)
        else:
            alert_repo = AlertRepo()
            for rows, alerts in archive.read_json(path, rules):
                push(rows)
                recs += 1
                for a in alerts:
                    alert_repo.add(conn, _alert(a, path))
                    n_alerts += 1
        repo.insert_raw(conn, batch)
        repo.merge_rollups(conn, acc.drain())
    return TransferResult(str(path), fmt, n, recs, n_alerts)


class _Counted:
    def __init__(self, rows: Any) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self):
        for r in self.rows:
            self.n += 1
            yield r


def _alerts_by_instant(conn, start: float | None, end: float | None,
                       node_id: str | None) -> dict[tuple[str, float], list[dict[str, Any]]]:
    """Alerts attached to the newest sample of their machine at or before the moment they were raised."""
    a = t.alerts
    q = sa.select(a.c.node_id, a.c.type, a.c.severity, a.c.message, a.c.raised_at).where(a.c.node_id.is_not(None))
    if start is not None:
        q = q.where(a.c.raised_at >= start)
    if end is not None:
        q = q.where(a.c.raised_at < end)
    if node_id is not None:
        q = q.where(a.c.node_id == node_id)
    out: dict[tuple[str, float], list[dict[str, Any]]] = {}
    r = t.telemetry_raw
    for node, type_, sev, msg, at in conn.execute(q):
        ts = conn.execute(sa.select(sa.func.max(r.c.ts)).where(r.c.node_id == node, r.c.ts <= at)).scalar()
        if ts is not None:
            out.setdefault((node, ts), []).append({"type": type_, "severity": sev, "message": msg})
    return out


def _alert(a: dict[str, Any], path: Path) -> Alert:
    try:
        sev = Severity(str(a.get("severity", "warning")).lower())
    except ValueError as exc:
        raise ValidationError(f"{path.name}: alert severity {a.get('severity')!r} is not info, warning or "
                              "critical", "alerts") from exc
    at: datetime | None = dt(a["ts"])
    assert at is not None
    node = UUID(a["node_id"])
    return Alert(source=str(node), type=str(a.get("type") or "imported")[:64], severity=sev,
                 message=str(a.get("message") or ""), raised_at=at, node_id=node)
