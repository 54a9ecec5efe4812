"""People: adding and changing users, signing in (with slow-down and lock-out), session tokens, API keys.

Passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, per-hash salt); API keys are long random
secrets, so a SHA-256 of them is enough to look them up and a stolen database does not give them away. Both are
shown once and never stored or logged in clear.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core import audit
from app.core.auth import repo, tokens
from app.core.auth.permissions import PERMISSIONS, Action, Role, parse_role, parse_scopes
from app.core.auth.principal import Actor, ActorLike, authorize
from app.core.auth.repo import ApiKey, User
from app.core.auth.secrets_file import signing_key
from app.core.clock import Clock
from app.core.domain.errors import AuthError, NotFoundError, PermissionDenied, ValidationError
from app.core.store.db import Store

log = logging.getLogger(__name__)

KEY_PREFIX = "imk_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KIOSK_ROLES = (Role.OPERATOR, Role.DESIGNER, Role.VIEWER)  # what [ui] kiosk_user may be (floor rights at most)


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    """Wrong passwords: the first ``free_tries`` cost nothing; each one after makes the next try wait twice as
    long (from ``first_delay_s`` up to ``max_delay_s``); after ``lock_after`` in a row the account is locked for
    ``lock_s`` (an admin unlocks it earlier: ``imewe users unlock NAME``)."""

    free_tries: int = 3
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    lock_after: int = 10
    lock_s: float = 900.0
    session_s: float = 12 * 3600.0
    min_password: int = 8


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_user_name(name: object) -> str:
    text = str(name or "").strip().lower()
    if not _NAME.match(text):
        raise ValidationError("a user name is 1-64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
                              "name")
    return text


class UserService:
    name = "users"

    def __init__(self, store: Store, clock: Clock, keys_dir: Path, policy: SignInPolicy | None = None) -> None:
        self._store = store
        self._clock = clock
        self._keys_dir = keys_dir
        self.policy = policy or SignInPolicy()
        self._hasher = PasswordHasher()
        self._key: bytes | None = None
        self._people = False  # once an admin exists it always will (admins are disabled, never deleted)

    # ------------------------------------------------------------ kernel service
    async def start(self) -> None:
        await self.people_exist()

    async def stop(self) -> None:
        return None

    def health(self) -> str:
        return "ok"

    # ------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = signing_key(self._keys_dir)
        return self._key

    async def _read(self, fn, *args):
        def run():
            with self._store.connect() as conn:
                return fn(conn, *args)

        return await self._store.run(run)

    async def _write(self, fn, *args):
        def run():
            with self._store.begin() as conn:
                return fn(conn, *args)

        return await self._store.run(run)

    def _check_password(self, password: object) -> str:
        if not isinstance(password, str) or len(password) < self.policy.min_password:
            raise ValidationError(f"a password has at least {self.policy.min_password} characters", "password")
        if len(password) > 1024:
            raise ValidationError("a password has at most 1024 characters", "password")
        return password

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _matches(self, stored: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    async def _user(self, name: str) -> User:
        user = await self._read(lambda c: repo.get_user(c, name=check_user_name(name)))
        if user is None:
            raise NotFoundError(f"no user {str(name)[:64]!r}")
        return user

    # ------------------------------------------------------------ the bootstrap rule
    async def people_exist(self) -> bool:
        """True once an admin exists: from then on every person signs in. Before, the site has one local
        operator (whoever runs Imewe on its home), as before people existed."""
        if not self._people:
            self._people = await self._read(repo.admin_exists)
        return self._people

    # ------------------------------------------------------------ people
    async def create_admin(self, name: str, password: str) -> User:
        """The first admin, with no one signed in (the first start). Refused once an admin exists."""
        return await self._add("first-start", check_user_name(name), self._check_password(password), Role.ADMIN,
                               first=True)

    async def add(self, actor: ActorLike, name: str, password: str, role: str | Role) -> User:
        who = authorize(actor, Action.USERS)
        return await self._add(who, check_user_name(name), self._check_password(password), parse_role(role))

    async def _add(self, who: str, name: str, password: str, role: Role, first: bool = False) -> User:
        user = User(str(uuid4()), name, role, True, await self._hash(password), self._now())

        def write(conn) -> User:
            if first and repo.admin_exists(conn):
                raise PermissionDenied("an admin exists already; an admin adds people: imewe users add")
            if repo.get_user(conn, name=name) is not None:
                raise ValidationError(f"a user named {name!r} exists already", "name")
            repo.insert_user(conn, user)
            audit.record(conn, self._clock.now(), who if not first else name, "user.add", f"user:{name}", None,
                         {"role": role.value})
            return user

        out = await self._write(write)
        if role is Role.ADMIN:
            self._people = True
        return out

    async def users(self, actor: ActorLike) -> list[User]:
        authorize(actor, Action.USERS)
        return await self._read(repo.list_users)

    async def set_role(self, actor: ActorLike, name: str, role: str | Role) -> User:
        who = authorize(actor, Action.USERS)
        user, new = await self._user(name), parse_role(role)

        def write(conn) -> User:
            if user.role is Role.ADMIN and new is not Role.ADMIN and user.active and repo.active_admins(conn) <= 1:
                raise ValidationError(f"{user.name} is the last admin; make another admin first", "role")
            repo.update_user(conn, user.id, role=new.value, token_version=user.token_version + 1)
            audit.record(conn, self._clock.now(), who, "user.role", f"user:{user.name}", {"role": user.role.value},
                         {"role": new.value})
            user.role = new
            return user

        out = await self._write(write)
        self._people = self._people or new is Role.ADMIN
        return out

    async def set_active(self, actor: ActorLike, name: str, active: bool) -> User:
        who = authorize(actor, Action.USERS)
        user = await self._user(name)

        def write(conn) -> User:
            if not active and user.role is Role.ADMIN and user.active and repo.active_admins(conn) <= 1:
                raise ValidationError(f"{user.name} is the last admin; make another admin first", "name")
            repo.update_user(conn, user.id, active=active, token_version=user.token_version + 1)
            audit.record(conn, self._clock.now(), who, "user.enable" if active else "user.disable",
                         f"user:{user.name}", {"active": user.active}, {"active": active})
            user.active = active
            return user

        return await self._write(write)

    async def set_password(self, actor: ActorLike, name: str, new_password: str,
                           old_password: str | None = None) -> None:
        """A person changes their own password with the old one; an admin sets anyone's."""
        user = await self._user(name)
        own = isinstance(actor, Actor) and actor.kind == "user" and actor.name == user.name
        if own and old_password is not None:
            await self._check_current(user, old_password)
            who = user.name
        else:
            who = authorize(actor, Action.USERS)
        hashed = await self._hash(self._check_password(new_password))

        def write(conn) -> None:
            repo.update_user(conn, user.id, password_hash=hashed, token_version=user.token_version + 1,
                             failed_logins=0, retry_at=None, locked_until=None)
            audit.record(conn, self._clock.now(), who, "user.password", f"user:{user.name}")

        await self._write(write)

    async def unlock(self, actor: ActorLike, name: str) -> None:
        who = authorize(actor, Action.USERS)
        user = await self._user(name)

        def write(conn) -> None:
            repo.update_user(conn, user.id, failed_logins=0, retry_at=None, locked_until=None)
            audit.record(conn, self._clock.now(), who, "user.unlock", f"user:{user.name}",
                         {"failed_logins": user.failed_logins}, {"failed_logins": 0})

        await self._write(write)

    async def _check_current(self, user: User, password: str) -> None:
        """A person's current password, asked before they change it: a wrong one counts as a wrong sign-in (the
        same slow-down and lock-out), so an open session cannot be used to guess it."""
        now = self._now()
        self._refuse_while_held(user, now)
        if not await self._matches(user.password_hash, str(password)):
            n = await self._write(self._failed, user, now)
            if n >= self.policy.lock_after:
                raise AuthError(self._locked_text(user.name, n))
            raise AuthError("the current password is wrong")

    def _refuse_while_held(self, user: User, now: float) -> None:
        if user.locked_until and user.locked_until > now:
            raise AuthError(f"{user.name} is locked after {user.failed_logins} wrong passwords until "
                            f"{_hhmm(user.locked_until)} UTC; an admin unlocks it: imewe users unlock {user.name}")
        if user.retry_at and user.retry_at > now:
            raise AuthError(f"too many wrong passwords; try again in {user.retry_at - now:.0f} s")

    def _locked_text(self, name: str, n: int) -> str:
        return (f"{name} is locked after {n} wrong passwords for {self.policy.lock_s / 60:.0f} min; an admin "
                f"unlocks it: imewe users unlock {name}")

    # ------------------------------------------------------------ signing in
    async def login(self, name: str, password: str, session_s: float | None = None) -> tuple[str, User]:
        """A signed session token for the person, or AuthError saying why (without telling whether the name
        exists: an unknown name and a wrong password read the same)."""
        now = self._now()
        try:
            name = check_user_name(name)
        except ValidationError as exc:
            raise AuthError("wrong user name or password") from exc
        user = await self._read(lambda c: repo.get_user(c, name=name))
        if user is None:
            await self._matches(_dummy_hash(), str(password))  # the same time as a real check
            raise AuthError("wrong user name or password")
        self._refuse_while_held(user, now)
        ok = user.active and await self._matches(user.password_hash, str(password))
        if not ok:
            n = await self._write(self._failed, user, now)
            if n >= self.policy.lock_after:
                raise AuthError(self._locked_text(user.name, n))
            if not user.active and await self._matches(user.password_hash, str(password)):
                raise AuthError(f"{user.name} is disabled; an admin enables it: imewe users enable {user.name}")
            raise AuthError("wrong user name or password")
        ttl = self.policy.session_s if session_s is None else max(1.0, min(float(session_s), 30 * 86400.0))
        token = tokens.sign(self._signing_key(), tokens.Claims(user.id, user.name, user.token_version, now,
                                                                now + ttl))

        def write(conn) -> None:
            repo.update_user(conn, user.id, failed_logins=0, retry_at=None, locked_until=None, last_login_at=now)
            audit.record(conn, self._clock.now(), user.name, "user.login", f"user:{user.name}")

        await self._write(write)
        if self._hasher.check_needs_rehash(user.password_hash):
            log.info("password hash of %s uses old parameters; it is renewed at the next password change",
                     user.name)
        return token, user

    async def kiosk_login(self, name: str) -> tuple[str, User]:
        """A session for a floor terminal's person without a password (``[ui] kiosk_user``; whoever may edit the
        site's config.toml chose it). Only roles with nothing beyond the floor's rights may be one: never an admin
        or an engineer, whose rights must not sit unattended behind an open screen."""
        user = await self._user(name)
        if user.role not in KIOSK_ROLES:
            raise PermissionDenied(f"{user.name} is an {user.role.value}: a kiosk stays signed in without a password, "
                                   f"so [ui] kiosk_user may only name an "
                                   f"{', '.join(r.value for r in KIOSK_ROLES[:-1])} or {KIOSK_ROLES[-1].value}")
        if not user.active:
            raise AuthError(f"{user.name} is disabled; an admin enables it: imewe users enable {user.name}")
        now = self._now()
        token = tokens.sign(self._signing_key(), tokens.Claims(user.id, user.name, user.token_version, now,
                                                                now + self.policy.session_s))

        def write(conn) -> None:
            repo.update_user(conn, user.id, last_login_at=now)
            audit.record(conn, self._clock.now(), user.name, "user.kiosk_login", f"user:{user.name}")

        await self._write(write)
        return token, user

    def session_end(self, token: str) -> float:
        """When a well-signed session token expires (epoch seconds); AuthError when it is not one or has."""
        return tokens.verify(self._signing_key(), token, self._now()).expires_at

    def _failed(self, conn, user: User, now: float) -> int:
        fresh = repo.get_user(conn, user_id=user.id) or user
        n = fresh.failed_logins + 1
        p = self.policy
        values: dict[str, float | int | None] = {"failed_logins": n}
        if n >= p.lock_after:
            values["locked_until"] = now + p.lock_s
            action = "user.locked"
        else:
            if n >= p.free_tries:
                values["retry_at"] = now + min(p.max_delay_s, p.first_delay_s * 2 ** (n - p.free_tries))
            action = "user.login_failed"
        repo.update_user(conn, user.id, **values)
        audit.record(conn, self._clock.now(), user.name, action, f"user:{user.name}", None, {"failed_logins": n})
        log.warning("wrong password for %s (%d in a row)", user.name, n)
        return n

    async def resolve(self, token: str) -> Actor:
        """The person (or API key) a bearer token stands for, with their role as it is now."""
        token = (token or "").strip()
        if token.startswith(KEY_PREFIX):
            return await self._resolve_key(token)
        claims = tokens.verify(self._signing_key(), token, self._now())
        user = await self._read(lambda c: repo.get_user(c, user_id=claims.user_id))
        if user is None or not user.active:
            raise AuthError("this person is no longer allowed in; ask an admin")
        if user.token_version != claims.version:
            raise AuthError("the session ended (password, role or access changed); sign in again: imewe login")
        return Actor(user.name, user.role)

    # ------------------------------------------------------------ API keys
    async def create_key(self, actor: ActorLike, name: str, scopes: object, expires_in_s: float | None,
                         user_name: str | None = None) -> tuple[str, ApiKey]:
        """A new key (its secret is returned once, here, and stored only as a hash). A person makes keys for
        themselves within their role; an admin for anyone."""
        label = str(name or "").strip()
        if not 1 <= len(label) <= 64 or not label.isprintable():
            raise ValidationError("a key's name is 1-64 printable characters", "name")
        owner_name = user_name or (actor.name if isinstance(actor, Actor) and actor.kind == "user" else None)
        if owner_name is None:
            raise ValidationError("say whose key it is: --user NAME", "user")
        if not (isinstance(actor, Actor) and actor.kind == "user" and actor.name == owner_name):
            authorize(actor, Action.USERS)
        owner = await self._user(owner_name)
        wanted = parse_scopes(scopes)
        extra = wanted - PERMISSIONS[owner.role]
        if extra:
            raise PermissionDenied(f"{owner.name} ({owner.role}) may not give a key "
                                   f"{', '.join(sorted(a.value for a in extra))}")
        if expires_in_s is not None and not 60 <= float(expires_in_s) <= 3 * 366 * 86400:
            raise ValidationError("a key expires between 1 minute and 3 years from now", "expires")
        now = self._now()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(str(uuid4()), owner.id, label, secret[:12], wanted, now,
                     None if expires_in_s is None else now + float(expires_in_s), None, None, owner.name)
        who = str(actor)

        def write(conn) -> None:
            repo.insert_key(conn, key, key_hash(secret))
            audit.record(conn, self._clock.now(), who, "apikey.create", f"user:{owner.name}", None,
                         {"key": key.id, "name": label, "scopes": sorted(s.value for s in wanted),
                          "expires_at": key.expires_at})

        await self._write(write)
        return secret, key

    async def keys(self, actor: ActorLike) -> list[ApiKey]:
        """An admin sees every key; a person sees their own."""
        if isinstance(actor, Actor) and not actor.may(Action.USERS):
            user = await self._user(actor.name)
            return await self._read(repo.list_keys, user.id)
        authorize(actor, Action.USERS)
        return await self._read(repo.list_keys)

    async def revoke_key(self, actor: ActorLike, ref: str) -> ApiKey:
        ref = str(ref or "").strip()
        mine = await self.keys(actor)
        found = [k for k in mine if k.id == ref or k.prefix == ref or (len(ref) >= 4 and k.id.startswith(ref))]
        if len(found) != 1:
            raise NotFoundError(f"no API key {ref[:40]!r}" if not found else f"{ref!r} matches several keys")
        key, now = found[0], self._now()

        def write(conn) -> None:
            repo.update_key(conn, key.id, revoked_at=now)
            audit.record(conn, self._clock.now(), str(actor), "apikey.revoke", f"user:{key.user_name}", None,
                         {"key": key.id, "name": key.name})

        await self._write(write)
        key.revoked_at = now
        return key

    async def _resolve_key(self, secret: str) -> Actor:
        if len(secret) > 200:
            raise AuthError("that is not an Imewe API key")
        now = self._now()

        def read(conn):
            key = repo.key_by_hash(conn, key_hash(secret))
            user = repo.get_user(conn, user_id=key.user_id) if key is not None else None
            if key is not None and (key.last_used_at is None or now - key.last_used_at > 60):
                repo.update_key(conn, key.id, last_used_at=now)
                conn.commit()
            return key, user

        key, user = await self._store.run(lambda: _with_conn(self._store, read))
        if key is None or user is None:
            raise AuthError("unknown API key")
        if key.revoked_at is not None:
            raise AuthError(f"the API key {key.prefix}... was revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthError(f"the API key {key.prefix}... has expired")
        if not user.active:
            raise AuthError("the API key's owner is disabled")
        return Actor(user.name, user.role, scopes=key.scopes, kind="key")


def _with_conn(store: Store, fn):
    with store.connect() as conn:
        return fn(conn)


def _hhmm(epoch_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M")


@functools.cache
def _dummy_hash() -> str:
    return PasswordHasher().hash("imewe: a name that does not exist")
