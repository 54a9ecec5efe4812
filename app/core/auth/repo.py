"""Rows of the users and api_keys tables as plain objects (the rest of the app never sees ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.auth.permissions import Action, Role
from app.core.store import schema as t
from app.core.store.schema_people import api_keys


@dataclass(slots=True)
class User:
    id: str
    name: str
    role: Role
    active: bool
    password_hash: str
    created_at: float | None = None
    failed_logins: int = 0
    retry_at: float | None = None
    locked_until: float | None = None
    last_login_at: float | None = None
    token_version: int = 0
    display_name: str = ""


@dataclass(slots=True)
class ApiKey:
    id: str
    user_id: str
    name: str
    prefix: str
    scopes: frozenset[Action]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    user_name: str = ""


def _user(r: Any) -> User:
    try:
        role = Role(r.role)
    except ValueError:
        role = Role.VIEWER  # a row written by something else: the least it may do
    return User(r.id, r.username, role, bool(r.active), r.password_hash or "", r.created_at, int(r.failed_logins),
                r.retry_at, r.locked_until, r.last_login_at, int(r.token_version), r.display_name or "")


def get_user(conn: Connection, *, name: str | None = None, user_id: str | None = None) -> User | None:
    q = sa.select(t.users)
    q = q.where(t.users.c.username == name) if name is not None else q.where(t.users.c.id == user_id)
    r = conn.execute(q).first()
    return _user(r) if r is not None else None


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(sa.select(t.users).order_by(t.users.c.username))]


def admin_exists(conn: Connection) -> bool:
    return conn.execute(sa.select(t.users.c.id).where(t.users.c.role == Role.ADMIN.value).limit(1)).first() \
        is not None


def active_admins(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.users).where(
        t.users.c.role == Role.ADMIN.value, t.users.c.active.is_(True))).scalar_one())


def insert_user(conn: Connection, u: User) -> None:
    conn.execute(t.users.insert(), [{
        "id": u.id, "username": u.name, "role": u.role.value, "display_name": u.display_name,
        "password_hash": u.password_hash, "active": u.active, "created_at": u.created_at, "failed_logins": 0,
        "token_version": 0}])


def update_user(conn: Connection, user_id: str, **values: Any) -> None:
    conn.execute(t.users.update().where(t.users.c.id == user_id).values(**values))


def _key(r: Any) -> ApiKey:
    scopes = frozenset(Action(s) for s in (r.scopes or []) if s in Action.__members__.values())
    return ApiKey(r.id, r.user_id, r.name, r.prefix, scopes, r.created_at, r.expires_at, r.revoked_at,
                  r.last_used_at, getattr(r, "username", ""))


def insert_key(conn: Connection, k: ApiKey, key_hash: str) -> None:
    conn.execute(api_keys.insert(), [{
        "id": k.id, "user_id": k.user_id, "name": k.name, "prefix": k.prefix, "key_hash": key_hash,
        "scopes": sorted(s.value for s in k.scopes), "created_at": k.created_at, "expires_at": k.expires_at}])


def _keys_query() -> sa.Select:
    return sa.select(api_keys, t.users.c.username).join(t.users, t.users.c.id == api_keys.c.user_id)


def key_by_hash(conn: Connection, key_hash: str) -> ApiKey | None:
    r = conn.execute(_keys_query().where(api_keys.c.key_hash == key_hash)).first()
    return _key(r) if r is not None else None


def list_keys(conn: Connection, user_id: str | None = None) -> list[ApiKey]:
    q = _keys_query().order_by(api_keys.c.created_at)
    if user_id is not None:
        q = q.where(api_keys.c.user_id == user_id)
    return [_key(r) for r in conn.execute(q)]


def update_key(conn: Connection, key_id: str, **values: Any) -> None:
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**values))
