"""Shared fixtures: real SQLite files, a real PostgreSQL server (when IMEWE_TEST_PG_URL is set), shared data."""

from __future__ import annotations

import gc
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .shared_data import HAVE_SHARED, REASON, SHARED

ROOT = Path(__file__).resolve().parents[1]

try:  # as the application does before its window: modules imported on worker threads under Qt stay safe
    from app.viz.qt_threads import allow_imports_in_threads, collect_due

    allow_imports_in_threads()
except ImportError:  # no Qt here: the widget tests skip

    def collect_due() -> None:
        gc.collect(0)
PG_URL = os.environ.get("IMEWE_TEST_PG_URL")


@pytest.fixture(scope="session", autouse=True)
def _garbage_collected_on_the_main_thread() -> Iterator[None]:
    """As in the application, no garbage collection on a worker thread for the whole run: a window test's Qt
    objects that become garbage only after its event loop is gone would otherwise be freed by whichever thread
    allocates next (a store worker of a later test), leaving a dangling timer that crashed Qt's event processing
    a few tests later. Collected after every test instead, on this thread."""
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    yield
    collect_due()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared corpus; a test that asks for it skips, with one line saying why, in a clone without it."""
    if not HAVE_SHARED:
        pytest.skip(REASON)
    return SHARED


def pytest_report_header(config: pytest.Config) -> str:
    return f"shared corpus: {SHARED}" if HAVE_SHARED else f"shared corpus: absent ({REASON})"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real user data folder or database."""
    monkeypatch.setenv("IMEWE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IMEWE_DB_URL", raising=False)
    monkeypatch.setenv("IMEWE_DISCOVERY", "0")


LOOPBACK_SITE = '[sites]\nhost = "127.0.0.1"\nport = 0\n'


@pytest.fixture
def loopback_home() -> Callable[[Path], Path]:
    """A home whose site links listen on 127.0.0.1, on any free port: for tests that run a whole site in another
    process (``imewe open``, ``imewe demo``), which would otherwise listen on the LAN on the default port."""
    def make(home: Path) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(LOOPBACK_SITE, encoding="utf-8")
        return home

    return make


def _pg_database() -> Iterator[str]:
    import sqlalchemy as sa

    name = f"imewe_t_{uuid.uuid4().hex[:12]}"
    admin_url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin, name: str) -> None:
    """Drop a test database. PostgreSQL's autovacuum may be working on it just then, as the bootstrap superuser,
    whose backend our role may not terminate ('must be a member of the role whose process is being terminated'):
    wait for it a few seconds, then leave the database behind with a warning rather than fail the test."""
    import sqlalchemy as sa

    for attempt in range(20):
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except sa.exc.ProgrammingError as exc:
            if "must be a member of the role" not in str(exc):
                raise
            if attempt == 19:
                warnings.warn(f"test database {name} left behind: {exc.orig}", stacklevel=1)
                return
            time.sleep(0.5)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'imewe.sqlite3'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("IMEWE_TEST_PG_URL is not set in CI: PostgreSQL tests must run")
        pytest.skip("IMEWE_TEST_PG_URL not set (./dev test starts PostgreSQL and sets it)")
    yield from _pg_database()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Widget tests run last: once a QApplication exists, pytest-qt processes Qt events after every test, and
    leftovers of a closed window must not meet the plain asyncio tests that follow."""
    items.sort(key=lambda item: Path(str(item.fspath)).name.startswith(("test_ui_", "test_viz_")))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Like ``db_url`` for tests that need several databases of one kind (two linked sites): each call gives a
    new, empty database on a real SQLite file or on the real PostgreSQL server."""
    if request.param == "postgres" and not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("IMEWE_TEST_PG_URL is not set in CI: PostgreSQL tests must run")
        pytest.skip("IMEWE_TEST_PG_URL not set (./dev test starts PostgreSQL and sets it)")
    made: list[Iterator[str]] = []
    count = [0]

    def new() -> str:
        count[0] += 1
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'db{count[0]}' / 'imewe.sqlite3'}"
        gen = _pg_database()
        made.append(gen)
        return next(gen)

    yield new
    for gen in made:
        next(gen, None)  # drops the database
