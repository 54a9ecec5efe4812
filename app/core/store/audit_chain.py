"""The audit log's hash chain: each record carries the hash of the one before, so a record edited, removed or
inserted by hand afterwards breaks the chain at that record, and ``imewe audit verify`` names it.

hash = SHA-256(prev_hash + canonical JSON of the record's content) with the content as the database gives it back
(id, actor, action, target, time, before, after). The first record's prev_hash is GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.store import schema as t
from app.core.store.schema_people import audit_chain_head

GENESIS = "0" * 64
HEAD_ID = 1


def canonical(value: Any) -> Any:
    """What a JSON column gives back for ``value`` (tuples as lists, keys as text), so the hash computed when
    writing equals the one recomputed from the stored row."""
    return None if value is None else json.loads(json.dumps(value))


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    content = [row["id"], row["actor"], row["action"], row["target"], repr(float(row["at"])),
               canonical(row.get("before")), canonical(row.get("after"))]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def _lock_head(conn: Connection) -> tuple[str, int]:
    q = sa.select(audit_chain_head.c.hash, audit_chain_head.c.seq).where(audit_chain_head.c.id == HEAD_ID)
    row = conn.execute(q.with_for_update()).first()
    if row is None:
        conn.execute(audit_chain_head.insert(), [{"id": HEAD_ID, "hash": GENESIS, "seq": 0}])
        row = conn.execute(q.with_for_update()).first()
    return str(row.hash), int(row.seq)


def append(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """Insert one audit row, chained to the newest, inside the caller's transaction."""
    prev, _ = _lock_head(conn)
    row = dict(row, prev_hash=prev, hash=record_hash(prev, row))
    seq = conn.execute(t.audit_log.insert().values(**row).returning(t.audit_log.c.seq)).scalar_one()
    conn.execute(audit_chain_head.update().where(audit_chain_head.c.id == HEAD_ID).values(hash=row["hash"], seq=seq))
    return row


@dataclass(frozen=True, slots=True)
class ChainReport:
    records: int
    ok: bool
    broken_seq: int | None = None
    broken_id: str | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.records} records"
        return f"audit chain broken at record {self.broken_seq} ({self.broken_id}): {self.reason}"


def _rows(conn: Connection, batch: int = 5000) -> Iterable[Any]:
    last = -1
    while True:
        c = t.audit_log.c  # named columns: the migration runs this before any later column exists
        rows = conn.execute(sa.select(c.seq, c.id, c.actor, c.action, c.target, c.at, c.before, c.after,
                                      c.prev_hash, c.hash).where(c.seq > last)
                            .order_by(c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(conn: Connection) -> ChainReport:
    """Walk the log oldest first; the first record whose link or content does not match is named."""
    prev, count, last_seq = GENESIS, 0, 0
    for r in _rows(conn):
        count += 1
        if r.prev_hash != prev:
            why = "the record before it was removed or changed" if r.prev_hash else "it carries no chain link"
            return ChainReport(count, False, r.seq, r.id, why)
        if record_hash(prev, r._asdict()) != r.hash:
            return ChainReport(count, False, r.seq, r.id, "its content was changed after it was written")
        prev, last_seq = r.hash, r.seq
    head = conn.execute(sa.select(audit_chain_head).where(audit_chain_head.c.id == HEAD_ID)).first()
    if head is not None and (head.hash != prev or head.seq != last_seq):
        return ChainReport(count, False, head.seq, None, "the newest records were removed (the chain head names "
                                                         "a record that is not there)")
    return ChainReport(count, True)


def rechain(conn: Connection) -> int:
    """Chain every record in order (the migration does this once for records written before the chain)."""
    prev, seq, n = GENESIS, 0, 0
    for r in list(_rows(conn)):
        h = record_hash(prev, r._asdict())
        conn.execute(t.audit_log.update().where(t.audit_log.c.seq == r.seq).values(prev_hash=prev, hash=h))
        prev, seq, n = h, r.seq, n + 1
    conn.execute(audit_chain_head.delete())
    conn.execute(audit_chain_head.insert(), [{"id": HEAD_ID, "hash": prev, "seq": seq}])
    return n
