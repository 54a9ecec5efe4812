"""Versioned catalogue rows (templates, playbooks): a change to an item makes a new version; old ones are kept.

Synchronous functions for ``Store.run``; they hand back plain dicts, never rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.domain.errors import NotFoundError
from app.core.store.schema import playbooks, templates

_BODY = {"templates": "parts", "playbooks": "steps"}  # the JSON column holding an item's definition


def _table(kind: str) -> sa.Table:
    return {"templates": templates, "playbooks": playbooks}[kind]


def _item(kind: str, row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "version": row.version,
            "definition": getattr(row, _BODY[kind])}


def save(conn: Connection, kind: str, name: str, description: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Store ``definition`` as the next version of ``name``; the same definition again keeps the latest."""
    table = _table(kind)
    latest = conn.execute(sa.select(table).where(table.c.name == name).order_by(table.c.version.desc())
                          .limit(1)).first()
    if latest is not None and getattr(latest, _BODY[kind]) == definition and latest.description == description:
        return _item(kind, latest) | {"unchanged": True}
    version = 1 if latest is None else latest.version + 1
    row = {"id": str(uuid.uuid4()), "name": name, "description": description, "version": version,
           _BODY[kind]: definition}
    conn.execute(table.insert().values(**row))
    return {"id": row["id"], "name": name, "description": description, "version": version,
            "definition": definition, "unchanged": False}


def get(conn: Connection, kind: str, name: str, version: int | None = None) -> dict[str, Any]:
    table = _table(kind)
    q = sa.select(table).where(table.c.name == name)
    q = q.where(table.c.version == version) if version else q.order_by(table.c.version.desc()).limit(1)
    row = conn.execute(q).first()
    if row is None:
        what = kind[:-1]
        raise NotFoundError(f"no {what} {name!r}" + (f" version {version}" if version else "")
                            + f" (see: imewe {kind} list)")
    return _item(kind, row)


def latest_all(conn: Connection, kind: str) -> list[dict[str, Any]]:
    """The latest version of every item, by name, with how many versions it has."""
    table = _table(kind)
    top = sa.select(table.c.name, sa.func.max(table.c.version).label("v")).group_by(table.c.name).subquery()
    rows = conn.execute(sa.select(table).join(top, sa.and_(table.c.name == top.c.name, table.c.version == top.c.v))
                        .order_by(table.c.name)).all()
    return [_item(kind, r) for r in rows]


def all_versions(conn: Connection, kind: str) -> list[dict[str, Any]]:
    """Every version of every item, by name then version (what an export carries)."""
    table = _table(kind)
    return [_item(kind, r) for r in conn.execute(sa.select(table).order_by(table.c.name, table.c.version))]
