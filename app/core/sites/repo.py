"""Store access for site links. Functions take a Connection (one transaction) and hand out plain objects.

Exactly once is the database's job, on SQLite and on PostgreSQL alike: a message key is claimed by inserting it
(a primary key, ``ON CONFLICT DO NOTHING``), a job is locked (``SELECT ... FOR UPDATE``) before its open offloads
are counted, and versions and flags move by compare-and-set. Never read-then-insert: under PostgreSQL's
READ COMMITTED two transactions both read "not there yet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.store import schema as core_t
from app.core.store import schema_sites as t

ALLOWED, PENDING, REVOKED = "allowed", "pending", "revoked"
MAX_PENDING = 100  # unknown sites remembered for an admin to accept; more are only logged
MAX_PENDING_PER_ADDRESS = 5  # ... and at most this many from one network address (one host minting IDs)


@dataclass(slots=True)
class Peer:
    site_id: str
    name: str = ""
    address: str = ""
    state: str = ALLOWED
    cert_der: bytes | None = None
    added_at: float = 0.0
    updated_at: float = 0.0
    last_seen: float | None = None
    latency_ms: float | None = None
    attempts: int = 0
    last_attempt_at: float | None = None
    last_error: str = ""


@dataclass(slots=True)
class Offload:
    key: str
    direction: str  # "out" or "in"
    peer_id: str
    job_id: str | None
    name: str
    parts: list[int]
    state: str
    part_states: list[str] = field(default_factory=list)
    remote_job_id: str | None = None
    reason: str = ""
    version: int = 0
    cancel_requested: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    key: str
    type: str
    body: dict[str, Any]


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL spell it the same)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _upsert(conn: Connection, table: sa.Table, row: dict[str, Any], keys: list[str],
            where: Any = None) -> bool:
    """Insert the row, or update it in place when its key exists (and ``where`` holds). True if written."""
    ins = dialect_insert(conn, table).values(**row)
    changes = {k: ins.excluded[k] for k in row if k not in keys}
    # RETURNING, not rowcount: the PostgreSQL driver reports no row count for an INSERT ... ON CONFLICT.
    stmt = ins.on_conflict_do_update(index_elements=keys, set_=changes, where=where).returning(table.c[keys[0]])
    return conn.execute(stmt).first() is not None


# ---------------------------------------------------------------- peers
def _peer(r: Any) -> Peer:
    return Peer(r.site_id, r.name, r.address, r.state, r.cert_der, r.added_at, r.updated_at, r.last_seen,
                r.latency_ms, r.attempts, r.last_attempt_at, r.last_error)


def get_peer(conn: Connection, site_id: str) -> Peer | None:
    r = conn.execute(sa.select(t.site_peers).where(t.site_peers.c.site_id == site_id)).first()
    return None if r is None else _peer(r)


def list_peers(conn: Connection) -> list[Peer]:
    return [_peer(r) for r in conn.execute(sa.select(t.site_peers).order_by(t.site_peers.c.name,
                                                                              t.site_peers.c.site_id))]


def put_peer(conn: Connection, peer: Peer) -> None:
    _upsert(conn, t.site_peers, {k: getattr(peer, k) for k in Peer.__slots__}, ["site_id"])


def lock_peer(conn: Connection, site_id: str) -> None:
    """Hold the site's row until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite writes one at a time)."""
    conn.execute(sa.select(t.site_peers.c.site_id).where(t.site_peers.c.site_id == site_id).with_for_update())


def update_peer(conn: Connection, site_id: str, **values: Any) -> None:
    conn.execute(t.site_peers.update().where(t.site_peers.c.site_id == site_id).values(**values))


def record_attempt(conn: Connection, site_id: str, now: float, error: str, name: str = "",
                   address: str = "") -> Peer | None:
    """A refused site: counted on its row; an unknown one becomes pending while there is room, overall and for
    its network address. A pending site keeps the address it knocked from (host only) for the admin to see;
    it is not dialed, since the site listens on its own port."""
    peer = get_peer(conn, site_id)
    if peer is None:
        c = t.site_peers.c
        pending = conn.execute(sa.select(sa.func.count()).select_from(t.site_peers)
                               .where(c.state == PENDING)).scalar_one()
        same_host = conn.execute(sa.select(sa.func.count()).select_from(t.site_peers)
                                 .where(c.state == PENDING, c.address == address)).scalar_one() if address else 0
        if pending >= MAX_PENDING or same_host >= MAX_PENDING_PER_ADDRESS:
            return None
        peer = Peer(site_id, name[:200], address[:300], PENDING, None, now, now)
    peer.attempts += 1
    peer.last_attempt_at = now
    peer.last_error = error[:500]
    put_peer(conn, peer)
    return peer


# ---------------------------------------------------------------- outbox and inbox
def enqueue(conn: Connection, peer_id: str, key: str, type_: str, body: dict[str, Any], now: float) -> None:
    conn.execute(t.site_outbox.insert(), [{"peer_id": peer_id, "key": key, "type": type_, "body": body,
                                           "created_at": now, "attempts": 0}])


def pending_outbox(conn: Connection, peer_id: str, limit: int = 256) -> list[OutboxItem]:
    q = (sa.select(t.site_outbox.c.seq, t.site_outbox.c.key, t.site_outbox.c.type, t.site_outbox.c.body)
         .where(t.site_outbox.c.peer_id == peer_id, t.site_outbox.c.acked_at.is_(None))
         .order_by(t.site_outbox.c.seq).limit(limit))
    return [OutboxItem(r.seq, r.key, r.type, r.body) for r in conn.execute(q)]


def ack_outbox(conn: Connection, peer_id: str, keys: list[str], now: float) -> int:
    res = conn.execute(t.site_outbox.update()
                       .where(t.site_outbox.c.peer_id == peer_id, t.site_outbox.c.key.in_(keys),
                              t.site_outbox.c.acked_at.is_(None))
                       .values(acked_at=now))
    return res.rowcount


def outbox_counts(conn: Connection) -> dict[str, int]:
    q = (sa.select(t.site_outbox.c.peer_id, sa.func.count()).where(t.site_outbox.c.acked_at.is_(None))
         .group_by(t.site_outbox.c.peer_id))
    return {p: n for p, n in conn.execute(q)}


def inbox_claim(conn: Connection, peer_id: str, key: str, type_: str, now: float) -> bool:
    """Mark a message key as received. True for the first claim only, whoever else claims it at the same time
    (the second waits for the first to commit, then finds the key)."""
    ins = dialect_insert(conn, t.site_inbox).values(peer_id=peer_id, key=key, type=type_, received_at=now)
    stmt = ins.on_conflict_do_nothing(index_elements=["peer_id", "key"]).returning(t.site_inbox.c.key)
    return conn.execute(stmt).first() is not None


def inbox_seen(conn: Connection, peer_id: str, key: str) -> bool:
    q = sa.select(t.site_inbox.c.key).where(t.site_inbox.c.peer_id == peer_id, t.site_inbox.c.key == key)
    return conn.execute(q).first() is not None


# ---------------------------------------------------------------- offloads
def _offload(r: Any) -> Offload:
    return Offload(r.key, r.direction, r.peer_id, r.job_id, r.name, list(r.parts or []), r.state,
                   list(r.part_states or []), r.remote_job_id, r.reason, r.version, r.cancel_requested,
                   r.created_at, r.updated_at)


def add_offload(conn: Connection, o: Offload) -> None:
    conn.execute(t.site_offloads.insert(), [{k: getattr(o, k) for k in Offload.__slots__}])


def get_offload(conn: Connection, key: str) -> Offload | None:
    r = conn.execute(sa.select(t.site_offloads).where(t.site_offloads.c.key == key)).first()
    return None if r is None else _offload(r)


def offloads_for_job(conn: Connection, job_id: str) -> list[Offload]:
    q = sa.select(t.site_offloads).where(t.site_offloads.c.job_id == job_id).order_by(t.site_offloads.c.created_at)
    return [_offload(r) for r in conn.execute(q)]


def list_offloads(conn: Connection, direction: str | None = None, open_only: bool = False) -> list[Offload]:
    q = sa.select(t.site_offloads).order_by(t.site_offloads.c.created_at)
    if direction:
        q = q.where(t.site_offloads.c.direction == direction)
    if open_only:
        q = q.where(t.site_offloads.c.state.not_in(["COMPLETED", "CANCELLED", "REJECTED"]))
    return [_offload(r) for r in conn.execute(q)]


def update_offload(conn: Connection, key: str, **values: Any) -> None:
    conn.execute(t.site_offloads.update().where(t.site_offloads.c.key == key).values(**values))


def move_offload(conn: Connection, key: str, below_version: int, **values: Any) -> bool:
    """Compare-and-set: write ``values`` only if the stored version is below ``below_version``."""
    c = t.site_offloads.c
    res = conn.execute(t.site_offloads.update().where(c.key == key, c.version < below_version).values(**values))
    return res.rowcount == 1


def flag_cancel(conn: Connection, key: str, now: float) -> bool:
    """Set the cancel flag once: True only for the transaction that set it."""
    c = t.site_offloads.c
    res = conn.execute(t.site_offloads.update().where(c.key == key, c.cancel_requested.is_(False))
                       .values(cancel_requested=True, updated_at=now))
    return res.rowcount == 1


def job_states(conn: Connection, job_ids: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The state of each job and of its parts in order, in two queries whatever the number of jobs (the
    status sweeps run often; one query per job is too slow on a remote database)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for i in range(0, len(job_ids), 500):
        chunk = job_ids[i:i + 500]
        jc, pc = core_t.jobs.c, core_t.parts.c
        for jid, state in conn.execute(sa.select(jc.id, jc.state).where(jc.id.in_(chunk))):
            out[jid] = (state, [])
        q = sa.select(pc.job_id, pc.state).where(pc.job_id.in_(chunk)).order_by(pc.job_id, pc.idx)
        for jid, state in conn.execute(q):
            if jid in out:
                out[jid][1].append(state)
    return out


def lock_job(conn: Connection, job_id: str) -> str | None:
    """Lock our job's row until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite's write transaction
    already excludes other writers) and return its current state; None if there is no such job."""
    q = sa.select(core_t.jobs.c.state).where(core_t.jobs.c.id == job_id).with_for_update()
    return conn.execute(q).scalar_one_or_none()


# ---------------------------------------------------------------- shared items, comments, summaries
def put_shared(conn: Connection, peer_id: str, kind: str, item_id: str, name: str, version: int,
               body: dict[str, Any], now: float) -> bool:
    """Keep the newest version of a shared item; an older or equal one changes nothing."""
    row = {"peer_id": peer_id, "kind": kind, "item_id": item_id, "name": name, "version": version, "body": body,
           "received_at": now}
    return _upsert(conn, t.site_shared, row, ["peer_id", "kind", "item_id"],
                   where=t.site_shared.c.version < version)


def list_shared(conn: Connection, kind: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.site_shared).order_by(t.site_shared.c.kind, t.site_shared.c.name)
    if kind:
        q = q.where(t.site_shared.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(q)]


def add_comment(conn: Connection, key: str, offload_key: str, site_id: str, author: str, text: str,
                at: float) -> None:
    conn.execute(t.site_comments.insert(), [{"key": key, "offload_key": offload_key, "site_id": site_id,
                                             "author": author, "text": text, "at": at}])


def comments(conn: Connection, offload_key: str) -> list[dict[str, Any]]:
    q = sa.select(t.site_comments).where(t.site_comments.c.offload_key == offload_key).order_by(t.site_comments.c.at)
    return [dict(r._mapping) for r in conn.execute(q)]


def put_summary(conn: Connection, peer_id: str, body: dict[str, Any], now: float) -> None:
    _upsert(conn, t.site_summaries, {"peer_id": peer_id, "body": body, "received_at": now}, ["peer_id"])


def summaries(conn: Connection) -> dict[str, tuple[dict[str, Any], float]]:
    return {r.peer_id: (r.body, r.received_at) for r in conn.execute(sa.select(t.site_summaries))}
