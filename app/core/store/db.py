"""Opening the store: engine, SQLite pragmas, migrations on start, and a single writer thread for async callers."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from app.core.domain.errors import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Store:
    """A database with the current schema. Sync access through ``begin``; async through ``run``.

    Every write goes through one worker thread so SQLite sees one writer and the event loop never blocks.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imewe-store")
        self._closed = False

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {_short(exc)}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {_short(exc)}") from exc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def size_bytes(self) -> int:
        if self.is_sqlite:
            db = self.engine.url.database or ""
            return sum(os.path.getsize(p) for p in (db, db + "-wal") if p and os.path.exists(p))
        with self.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())

    def integrity_ok(self) -> bool:
        if not self.is_sqlite:
            return True
        with self.connect() as conn:
            return conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"

    def close(self) -> None:
        """Wait for in-flight writes, then release the database."""
        if self._closed:
            return
        self._closed = True
        self._worker.shutdown(wait=True)
        # Closing the last connection checkpoints the WAL into the main file.
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open (and create, and migrate) the database at ``url``."""
    try:
        engine = _make_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (SQLAlchemyError, ModuleNotFoundError, ValueError) as exc:
        raise StoreError(f"cannot open the database {_hide(url)}: {_short(exc)}") from exc
    store = Store(engine)
    if migrate:
        try:
            upgrade(store)
        except SQLAlchemyError as exc:
            store.close()
            raise StoreError(f"cannot migrate the database {_hide(url)}: {_short(exc)}") from exc
    return store


def upgrade(store: Store) -> None:
    if _at_head(store):  # the usual case: no need to load alembic (half a second of a light command's start)
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")  # one head: a second one is a mistake to fix, not to run


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def script_heads() -> frozenset[str] | None:
    """The head revisions of our migration scripts, read from their text (None when a script cannot be read:
    then alembic itself decides)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in MIGRATIONS.glob("versions/*.py"):
        try:
            found = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (OSError, KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        downs.update([down] if isinstance(down, str) else (down or ()))
    return frozenset(revisions - downs) or None


def _at_head(store: Store) -> bool:
    heads = script_heads()
    if heads is None:
        return False
    try:
        with store.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return False
            current = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    except SQLAlchemyError:
        return False
    return current == heads


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            _private_file(Path(db_path))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True)


def _private_file(path: Path) -> None:
    """The SQLite file is created 0600 before SQLite opens it (its -wal and -shm copy the file's mode); an
    existing one of ours is made private too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    except OSError:
        return  # cannot create it here: SQLite will say so in its own words
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = p.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                p.chmod(0o600)
        except OSError:
            continue


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions start (transactional DDL, real BEGIN).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # FULL: an acknowledged write survives a crash of the process and of the machine.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _hide(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for the message
        return "<database>"
