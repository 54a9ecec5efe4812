"""One owner per site: the process that drives the site's machines, makes its plan and recovers from a crash.

The owner is the first process to take the site's lock, and holds it for its whole life. On SQLite the lock is an
OS file lock on a file in the home (``run/owner.lock``); on PostgreSQL it is a session-level advisory lock on a
connection kept open for the purpose. Either way the operating system or the database server releases it when
the process dies, however it dies, so a crash never leaves a site without a possible owner.

Every other process on the site (the CLI, a second window) is a client: it talks to the owner through the
control channel, or works on the store without starting production when no owner runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.core.domain.errors import ImeweError, StoreError

log = logging.getLogger(__name__)

LOCK_NAME = "imewe.site-owner"
# PostgreSQL advisory locks take a signed 64-bit key; derive it from a fixed name so every Imewe process agrees.
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
_APP_NAME_PREFIX = "imewe owner "


class SiteBusyError(ImeweError):
    """The site already has an owner; ``owner`` says who, as far as can be known."""

    def __init__(self, owner: OwnerIdentity | None, where: str) -> None:
        who = owner.describe() if owner else "another process"
        super().__init__(f"this site is already run by {who} ({where}); stop it first, or use the CLI, "
                         "which talks to it")
        self.owner = owner


@dataclass(frozen=True, slots=True)
class OwnerIdentity:
    pid: int
    command: str = ""
    host: str = ""

    def describe(self) -> str:
        what = f"'imewe {self.command}' " if self.command else ""
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"{what}process {self.pid}{where}"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "command": self.command, "host": self.host})

    @classmethod
    def from_json(cls, text: str) -> OwnerIdentity | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data.get("command") or ""), str(data.get("host") or ""))
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def me(cls, command: str) -> OwnerIdentity:
        return cls(os.getpid(), command, socket.gethostname())


class SiteLock(Protocol):
    @property
    def held(self) -> bool: ...

    def acquire(self) -> None:
        """Take the lock now or raise SiteBusyError naming the owner; never waits."""

    def release(self) -> None: ...

    def owner(self) -> OwnerIdentity | None:
        """Who holds the lock (None when nobody does, or it cannot be told)."""


class FileSiteLock:
    """An exclusive OS lock on ``run/owner.lock`` in the home; the file also says who holds it."""

    def __init__(self, home: Path, command: str) -> None:
        self.path = home / "run" / "owner.lock"
        self._command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise SiteBusyError(self.owner(), f"lock {self.path}")
        os.ftruncate(fd, 0)
        os.write(fd, OwnerIdentity.me(self._command).to_json().encode())
        os.fsync(fd)
        self._fd = fd
        log.info("this process owns the site (lock %s)", self.path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor drops the lock

    def owner(self) -> OwnerIdentity | None:
        if self._fd is not None:
            return OwnerIdentity.me(self._command)
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return None
        return OwnerIdentity.from_json(text) if text.strip() else None


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock on the first byte does the same job
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class PgSiteLock:
    """A session-level ``pg_try_advisory_lock`` on a connection of its own, held open while the process lives.

    The connection's application name carries the owner's pid, so a refused process can name the owner."""

    def __init__(self, db_url: str, command: str) -> None:
        self._url = db_url
        self._command = command
        self._engine: Any = None
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def _connect(self) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        url = self._url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        try:
            if self._engine is None:
                self._engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            return self._engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot reach the database to take the site's lock: {exc.__class__.__name__}") from exc

    def acquire(self) -> None:
        if self._conn is not None:
            return
        me = OwnerIdentity.me(self._command)
        conn = self._connect()
        try:
            app_name = f"{_APP_NAME_PREFIX}{me.pid} {me.command or '-'} {me.host}"[:63]  # PostgreSQL's limit
            conn.exec_driver_sql("SELECT set_config('application_name', %(n)s, false)", {"n": app_name})
            got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": PG_LOCK_KEY}).scalar()
        except Exception:
            conn.close()
            raise
        if not got:
            owner = self._owner_on(conn)
            conn.close()
            raise SiteBusyError(owner, "advisory lock in the database")
        self._conn = conn
        log.info("this process owns the site (advisory lock %d)", PG_LOCK_KEY)

    def alive(self) -> bool:
        """Whether the session holding the lock still answers (so the lock is still ours)."""
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means the session, and the lock with it, is gone
            return False

    def reacquire(self) -> None:
        """After a lost session: drop it and take the lock again (SiteBusyError if someone else has it now)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.acquire()

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": PG_LOCK_KEY})
            except Exception:  # noqa: BLE001 - closing the session below releases it anyway
                log.debug("advisory unlock failed; closing the session releases it", exc_info=True)
            finally:
                conn.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def owner(self) -> OwnerIdentity | None:
        if self._conn is not None:
            return OwnerIdentity.me(self._command)
        conn = self._connect()
        try:
            return self._owner_on(conn)
        finally:
            conn.close()

    @staticmethod
    def _owner_on(conn: Any) -> OwnerIdentity | None:
        # pg_locks splits a bigint advisory key into classid (high 32 bits) and objid (low 32 bits).
        key = PG_LOCK_KEY & 0xFFFF_FFFF_FFFF_FFFF
        row = conn.exec_driver_sql(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %(hi)s AND l.objid = %(lo)s "
            "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"hi": key >> 32, "lo": key & 0xFFFF_FFFF}).first()
        if row is None or not str(row[0]).startswith(_APP_NAME_PREFIX):
            return None
        fields = str(row[0])[len(_APP_NAME_PREFIX):].split(" ", 2)
        try:
            return OwnerIdentity(int(fields[0]), fields[1].strip("-") if len(fields) > 1 else "",
                                 fields[2] if len(fields) > 2 else "")
        except ValueError:
            return None


def site_lock(home: Path, db_url: str, command: str) -> SiteLock:
    """The lock for a site: in the database for PostgreSQL (several homes may share it), on the home otherwise."""
    if db_url.startswith("postgresql"):
        return PgSiteLock(db_url, command)
    return FileSiteLock(home, command)


class Ownership:
    """The kernel service that takes the site's lock first, before anything that acts as the owner starts, and
    keeps checking it: a PostgreSQL session can be cut (a server restart, a network drop), and its advisory lock
    goes with it. A lost lock is taken again at once when it is free; if another process took it meanwhile, this
    one is no longer the owner: ``on_lost`` is called (the site process stops) and health says so."""

    name = "ownership"

    def __init__(self, lock: SiteLock, *, check_every_s: float = 5.0,
                 on_lost: Callable[[str], None] | None = None) -> None:
        self.lock = lock
        self.lost = ""
        self.on_lost = on_lost
        self._check_every_s = check_every_s
        self._task: asyncio.Task | None = None

    @property
    def held(self) -> bool:
        return self.lock.held

    async def start(self) -> None:
        self.lock.acquire()
        if isinstance(self.lock, PgSiteLock):
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="ownership-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.lock.release()

    def health(self) -> str:
        if self.lost:
            return f"lost: {self.lost}"
        return "ok" if self.lock.held else "not held"

    async def _watch(self) -> None:
        lock = self.lock
        if not isinstance(lock, PgSiteLock):  # an OS file lock cannot be lost while the process lives
            return
        while True:
            await asyncio.sleep(self._check_every_s)
            if await asyncio.to_thread(lock.alive):
                continue
            log.warning("the database session holding the site's lock was lost; taking the lock again")
            try:
                await asyncio.to_thread(lock.reacquire)
                log.info("the site's lock is held again")
            except SiteBusyError as exc:
                self.lost = str(exc)
                log.error("this process no longer owns the site: %s", exc)
                if self.on_lost is not None:
                    self.on_lost(self.lost)
                return
            except ImeweError as exc:  # the database is still away: try again at the next check
                log.warning("cannot take the site's lock again yet: %s", exc)
