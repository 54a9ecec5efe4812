"""Store access for site links. Functions take a Connection (one transaction) and hand out plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.store import schema_sites as t

ALLOWED, PENDING, REVOKED = "allowed", "pending", "revoked"
MAX_PENDING = 100  # unknown sites remembered for an admin to accept; more are only logged


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
    row = {k: getattr(peer, k) for k in Peer.__slots__}
    if get_peer(conn, peer.site_id) is None:
        conn.execute(t.site_peers.insert(), [row])
    else:
        row.pop("site_id")
        conn.execute(t.site_peers.update().where(t.site_peers.c.site_id == peer.site_id).values(**row))


def update_peer(conn: Connection, site_id: str, **values: Any) -> None:
    conn.execute(t.site_peers.update().where(t.site_peers.c.site_id == site_id).values(**values))


def record_attempt(conn: Connection, site_id: str, now: float, error: str, name: str = "") -> Peer | None:
    """A refused site: counted on its row; an unknown one becomes pending (while there is room)."""
    peer = get_peer(conn, site_id)
    if peer is None:
        pending = conn.execute(sa.select(sa.func.count()).select_from(t.site_peers)
                               .where(t.site_peers.c.state == PENDING)).scalar_one()
        if pending >= MAX_PENDING:
            return None
        peer = Peer(site_id, name[:200], "", PENDING, None, now, now)
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


def inbox_seen(conn: Connection, peer_id: str, key: str) -> bool:
    q = sa.select(t.site_inbox.c.key).where(t.site_inbox.c.peer_id == peer_id, t.site_inbox.c.key == key)
    return conn.execute(q).first() is not None


def inbox_add(conn: Connection, peer_id: str, key: str, type_: str, now: float) -> None:
    conn.execute(t.site_inbox.insert(), [{"peer_id": peer_id, "key": key, "type": type_, "received_at": now}])


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


# ---------------------------------------------------------------- shared items, comments, summaries
def put_shared(conn: Connection, peer_id: str, kind: str, item_id: str, name: str, version: int,
               body: dict[str, Any], now: float) -> bool:
    """Keep the newest version of a shared item; an older or equal one changes nothing."""
    c = t.site_shared.c
    where = (c.peer_id == peer_id, c.kind == kind, c.item_id == item_id)
    have = conn.execute(sa.select(c.version).where(*where)).first()
    if have is not None and have[0] >= version:
        return False
    row = {"name": name, "version": version, "body": body, "received_at": now}
    if have is None:
        conn.execute(t.site_shared.insert(), [{"peer_id": peer_id, "kind": kind, "item_id": item_id, **row}])
    else:
        conn.execute(t.site_shared.update().where(*where).values(**row))
    return True


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
    c = t.site_summaries.c
    if conn.execute(sa.select(c.peer_id).where(c.peer_id == peer_id)).first() is None:
        conn.execute(t.site_summaries.insert(), [{"peer_id": peer_id, "body": body, "received_at": now}])
    else:
        conn.execute(t.site_summaries.update().where(c.peer_id == peer_id).values(body=body, received_at=now))


def summaries(conn: Connection) -> dict[str, tuple[dict[str, Any], float]]:
    return {r.peer_id: (r.body, r.received_at) for r in conn.execute(sa.select(t.site_summaries))}
