"""Audit: who did what, when, with the state before and after. Written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from app.core.domain.entities import AuditEntry
from app.core.store.repositories import AuditRepo

_repo = AuditRepo()


def record(
    conn: Connection, at: datetime, actor: str, action: str, target: str,
    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, at=at, before=before, after=after)
    _repo.add(conn, entry)
    return entry
