"""Audit: who did what, when, with the state before and after. Written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.entities import AuditEntry
from app.core.store.audit_chain import ChainReport, verify
from app.core.store.db import Store
from app.core.store.repositories import AuditRepo

_repo = AuditRepo()


def record(
    conn: Connection, at: datetime, actor: str, action: str, target: str,
    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, at=at, before=before, after=after)
    _repo.add(conn, entry)
    return entry


async def read_log(store: Store, actor: ActorLike, limit: int = 100, target: str | None = None,
                   action_prefix: str | None = None, person: str | None = None) -> list[AuditEntry]:
    """The newest audit entries, for a person allowed to read the audit log."""
    authorize(actor, Action.AUDIT)

    def read() -> list[AuditEntry]:
        with store.connect() as conn:
            return _repo.list(conn, max(1, min(int(limit), 10_000)), target, action_prefix, person)

    return await store.run(read)


async def verify_log(store: Store, actor: ActorLike) -> ChainReport:
    """Walk the hash chain; the report names the first record changed, removed or inserted by hand."""
    authorize(actor, Action.AUDIT)

    def check() -> ChainReport:
        with store.connect() as conn:
            return verify(conn)

    return await store.run(check)
