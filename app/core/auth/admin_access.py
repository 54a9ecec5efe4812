"""What the window's admin panel may do, as one object: people and API keys (the user service), the audit log
(read and verify), and the configuration's problems. Every call takes the signed-in person, and the services check
the permission table, so the panel enforces what the CLI and the API enforce."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core import audit
from app.core.auth.principal import LOCAL_OPERATOR, Actor
from app.core.auth.repo import ApiKey, User
from app.core.auth.service import UserService
from app.core.config import Config, check_config
from app.core.domain.entities import AuditEntry
from app.core.domain.errors import ConfigError, ValidationError
from app.core.store.audit_chain import ChainReport
from app.core.store.db import Store


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A person signed in at the window: their session token, who they are, and when the session ends."""

    token: str
    actor: Actor
    expires_at: float  # epoch seconds
    kiosk: bool = False  # signed in without a password as the site's [ui] kiosk_user


class AdminAccess:
    def __init__(self, users: UserService, store: Store, config: Config) -> None:
        self.users = users
        self._store = store
        self._config = config

    async def people_exist(self) -> bool:
        return await self.users.people_exist()

    async def sign_in(self, name: str, password: str) -> Actor:
        token, _ = await self.users.login(name, password)
        return await self.users.resolve(token)

    async def first_admin(self, name: str, password: str) -> Actor:
        await self.users.create_admin(name, password)
        return await self.sign_in(name, password)

    # ------------------------------------------------------------ the window's session
    async def open_session(self, name: str, password: str) -> SessionGrant:
        """Sign a person in at the window (the same slow-down and lock-out as everywhere)."""
        token, _ = await self.users.login(name, password)
        return await self._grant(token)

    async def first_admin_session(self, name: str, password: str) -> SessionGrant:
        await self.users.create_admin(name, password)
        return await self.open_session(name, password)

    async def resume(self, token: str) -> Actor:
        """The person a session stands for now (their role as it is now), or AuthError: expired, disabled, or
        ended by a new password or role."""
        return await self.users.resolve(token)

    async def change_password(self, actor: Actor, old: str, new: str) -> SessionGrant:
        """A person changes their own password with the current one. Every session of theirs ends (as anywhere);
        the window's goes on with a fresh one."""
        if actor.kind != "user":
            raise ValidationError("only a person signed in with their password changes it here", "password")
        await self.users.set_password(actor, actor.name, new, old_password=old)
        return await self.open_session(actor.name, new)

    def kiosk_user(self) -> str:
        """``[ui] kiosk_user``: the person a floor terminal keeps signed in ('' when this site asks who works)."""
        value = self._config.section("ui").get("kiosk_user", "")
        if not isinstance(value, str):
            raise ConfigError(f"[ui] kiosk_user in {self._config.paths.config_file} must be a person's name "
                              "in quotes")
        return value.strip()

    def kiosk_idle_s(self) -> float:
        """``[ui] kiosk_idle_s``: how long someone who switched in on a kiosk may leave it untouched (0: forever)."""
        return self._idle_seconds("kiosk_idle_s", 600.0)

    def idle_sign_out_s(self) -> float:
        """``[ui] idle_sign_out_s``: how long a person may leave a window without a kiosk person untouched before
        it signs them out (0: forever)."""
        return self._idle_seconds("idle_sign_out_s", 0.0)

    def _idle_seconds(self, key: str, default: float) -> float:
        value = self._config.section("ui").get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise ConfigError(f"[ui] {key} in {self._config.paths.config_file} is seconds, 0 or more")
        return float(value)

    async def kiosk_session(self) -> SessionGrant | None:
        """The kiosk person signed in without a password (None when no kiosk is configured); refused for an
        admin or an engineer."""
        name = self.kiosk_user()
        if not name:
            return None
        token, _ = await self.users.kiosk_login(name)
        grant = await self._grant(token)
        return SessionGrant(grant.token, grant.actor, grant.expires_at, kiosk=True)

    async def _grant(self, token: str) -> SessionGrant:
        return SessionGrant(token, await self.users.resolve(token), self.users.session_end(token))

    async def acting(self, actor: Actor | None) -> Actor | None:
        """The person to act as: the signed-in one, or, before any admin exists, the local operator."""
        if actor is not None:
            return actor
        return None if await self.users.people_exist() else LOCAL_OPERATOR

    async def list_users(self, actor: Actor) -> list[User]:
        return await self.users.users(actor)

    async def add_user(self, actor: Actor, name: str, password: str, role: str) -> User:
        return await self.users.add(actor, name, password, role)

    async def set_role(self, actor: Actor, name: str, role: str) -> User:
        return await self.users.set_role(actor, name, role)

    async def set_active(self, actor: Actor, name: str, active: bool) -> User:
        return await self.users.set_active(actor, name, active)

    async def unlock(self, actor: Actor, name: str) -> None:
        await self.users.unlock(actor, name)

    async def list_keys(self, actor: Actor) -> list[ApiKey]:
        return await self.users.keys(actor)

    async def create_key(self, actor: Actor, name: str, scopes: str, days: float,
                         user: str | None = None) -> tuple[str, ApiKey]:
        return await self.users.create_key(actor, name, scopes, days * 86400.0, user)

    async def revoke_key(self, actor: Actor, ref: str) -> ApiKey:
        return await self.users.revoke_key(actor, ref)

    async def audit_log(self, actor: Actor, limit: int = 200, target: str | None = None,
                        action: str | None = None, person: str | None = None) -> list[AuditEntry]:
        return await audit.read_log(self._store, actor, limit, target, action, person)

    async def verify_audit(self, actor: Actor) -> ChainReport:
        return await audit.verify_log(self._store, actor)

    def config_problems(self) -> list[str]:
        raw: dict[str, Any] = self._config.raw
        return check_config(raw)
