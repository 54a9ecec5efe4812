"""The telemetry tables: raw samples (hot path through the DBAPI's executemany), rollups, retention.

Works on SQLite and PostgreSQL: the hot path adapts the placeholder style to the driver; everything else is
plain SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.store import schema as t
from app.core.store import schema_energy  # noqa: F401 - registers the time indexes 0002 adds
from app.core.telemetry.rollup import RollupRow

RawRow = tuple[str, str, float, float, str | None]  # node_id, metric, ts, value, job_id

_RAW_COLS = "node_id, metric, ts, value, job_id"


@dataclass(frozen=True, slots=True)
class PruneResult:
    raw_deleted: int
    rollups_deleted: int


def _placeholders(conn: Connection, n: int) -> str:
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


class TelemetryRepo:
    def insert_raw(self, conn: Connection, rows: Sequence[RawRow]) -> None:
        """Append raw samples in the caller's transaction. The DBAPI cursor's executemany skips SQLAlchemy's
        per-row parameter processing, which is most of the cost at thousands of rows a second."""
        if not rows:
            return
        sql = f"INSERT INTO telemetry_raw ({_RAW_COLS}) VALUES ({_placeholders(conn, 5)})"
        cur = conn.connection.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def merge_rollups(self, conn: Connection, rows: Sequence[RollupRow]) -> None:
        """Insert new minutes; merge into minutes already stored (late or re-imported samples)."""
        if not rows:
            return
        r = t.telemetry_rollup
        minutes = sorted({row.minute for row in rows})
        existing: dict[tuple[str, str, float], RollupRow] = {}
        for chunk in _chunks(minutes, 500):
            q = sa.select(r).where(r.c.minute.in_(chunk))
            for x in conn.execute(q):
                existing[(x.node_id, x.metric, x.minute)] = RollupRow(x.node_id, x.metric, x.minute, x.n, x.vmin,
                                                                      x.vmean, x.vmax)
        fresh: dict[tuple[str, str, float], RollupRow] = {}
        updates: dict[tuple[str, str, float], RollupRow] = {}
        for row in rows:
            k = row.key()
            if k in existing:
                updates[k] = (updates.get(k) or existing[k]).merged(row)
            elif k in fresh:
                fresh[k] = fresh[k].merged(row)
            else:
                fresh[k] = row
        if fresh:
            sql = ("INSERT INTO telemetry_rollup (node_id, metric, minute, n, vmin, vmean, vmax) "
                   f"VALUES ({_placeholders(conn, 7)})")
            cur = conn.connection.cursor()
            try:
                cur.executemany(sql, [(x.node_id, x.metric, x.minute, x.n, x.vmin, x.vmean, x.vmax)
                                      for x in fresh.values()])
            finally:
                cur.close()
        if updates:
            stmt = (r.update()
                    .where(r.c.node_id == sa.bindparam("k_node"), r.c.metric == sa.bindparam("k_metric"),
                           r.c.minute == sa.bindparam("k_minute"))
                    .values(n=sa.bindparam("n"), vmin=sa.bindparam("vmin"), vmean=sa.bindparam("vmean"),
                            vmax=sa.bindparam("vmax")))
            conn.execute(stmt, [{"k_node": x.node_id, "k_metric": x.metric, "k_minute": x.minute, "n": x.n,
                                 "vmin": x.vmin, "vmean": x.vmean, "vmax": x.vmax} for x in updates.values()])

    def raw(self, conn: Connection, node_id: str | None = None, metric: str | None = None,
            start: float | None = None, end: float | None = None) -> list[RawRow]:
        return list(self.iter_raw(conn, node_id, metric, start, end))

    def iter_raw(self, conn: Connection, node_id: str | None = None, metric: str | None = None,
                 start: float | None = None, end: float | None = None) -> Iterator[RawRow]:
        r = t.telemetry_raw
        q = sa.select(r.c.node_id, r.c.metric, r.c.ts, r.c.value, r.c.job_id)
        q = _window(q, r, node_id, metric, start, end).order_by(r.c.ts, r.c.node_id, r.c.metric)
        for x in conn.execution_options(yield_per=5000).execute(q):
            yield (x.node_id, x.metric, x.ts, x.value, x.job_id)

    def rollups(self, conn: Connection, node_id: str | None = None, metric: str | None = None,
                start: float | None = None, end: float | None = None) -> list[RollupRow]:
        r = t.telemetry_rollup
        q = _window(sa.select(r), r, node_id, metric, start, end, col=r.c.minute)
        q = q.order_by(r.c.minute, r.c.node_id, r.c.metric)
        return [RollupRow(x.node_id, x.metric, x.minute, x.n, x.vmin, x.vmean, x.vmax) for x in conn.execute(q)]

    def rollups_from_raw(self, conn: Connection, start: float | None = None,
                         end: float | None = None) -> list[RollupRow]:
        """The rollups recomputed by the database from the raw rows (to check the stored ones)."""
        r = t.telemetry_raw
        minute = (sa.func.floor(r.c.ts / 60.0) * 60.0) if conn.dialect.name != "sqlite" else (
            sa.cast(r.c.ts / 60.0, sa.Integer) * 60.0)  # ts > 0: truncation is floor; SQLite may lack floor()
        q = sa.select(r.c.node_id, r.c.metric, minute.label("minute"), sa.func.count(), sa.func.min(r.c.value),
                      sa.func.avg(r.c.value), sa.func.max(r.c.value))
        q = _window(q, r, None, None, start, end).group_by(r.c.node_id, r.c.metric, minute)
        return [RollupRow(x[0], x[1], float(x[2]), int(x[3]), float(x[4]), float(x[5]), float(x[6]))
                for x in conn.execute(q)]

    def count_raw(self, conn: Connection) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.telemetry_raw)).scalar_one())

    def count_rollups(self, conn: Connection) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.telemetry_rollup)).scalar_one())

    def time_range(self, conn: Connection) -> tuple[float | None, float | None]:
        r = t.telemetry_raw
        lo, hi = conn.execute(sa.select(sa.func.min(r.c.ts), sa.func.max(r.c.ts))).one()
        return lo, hi

    def prune(self, conn: Connection, raw_before: float, rollups_before: float | None = None) -> PruneResult:
        """Delete raw samples older than ``raw_before`` and rollups older than ``rollups_before``.
        Rollups are never deleted with the raw rows they summarise: that is what they are for."""
        raw_n = conn.execute(t.telemetry_raw.delete().where(t.telemetry_raw.c.ts < raw_before)).rowcount
        roll_n = 0
        if rollups_before is not None:
            roll_n = conn.execute(t.telemetry_rollup.delete().where(
                t.telemetry_rollup.c.minute < rollups_before)).rowcount
        return PruneResult(int(raw_n or 0), int(roll_n or 0))


def _window(q, table, node_id, metric, start, end, col=None):
    col = table.c.ts if col is None else col
    if node_id is not None:
        q = q.where(table.c.node_id == node_id)
    if metric is not None:
        q = q.where(table.c.metric == metric)
    if start is not None:
        q = q.where(col >= start)
    if end is not None:
        q = q.where(col < end)
    return q


def _chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
