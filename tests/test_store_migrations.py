"""The migration history is one line, and a database at any earlier revision upgrades to the current schema
without losing rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.core.store.all_tables import full_metadata
from app.core.store.db import MIGRATIONS, _make_engine, open_store

SCRIPTS = ScriptDirectory(str(MIGRATIONS))
REVISIONS = [r.revision for r in reversed(list(SCRIPTS.walk_revisions()))]  # oldest first


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _upgrade(url: str, target: str) -> None:
    engine = _make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), target)
    finally:
        engine.dispose()


def test_the_history_has_one_head_and_every_revision_leads_to_it() -> None:
    assert SCRIPTS.get_heads() == [SCRIPTS.get_current_head()], f"several heads: {SCRIPTS.get_heads()}"
    head = SCRIPTS.get_current_head()
    for rev in REVISIONS:
        ancestors = {r.revision for r in SCRIPTS.iterate_revisions(head, "base")}
        assert rev in ancestors, f"{rev} does not lead to the head {head}"


@pytest.mark.parametrize("start", [None, *REVISIONS])
def test_upgrade_from_every_earlier_revision_reaches_the_schema(db_url: str, start: str | None) -> None:
    if start is not None:
        _upgrade(db_url, start)
        engine = _make_engine(db_url)
        with engine.begin() as conn:  # a row written before the upgrade must survive it
            conn.execute(sa.text("INSERT INTO roles (name, permissions) VALUES ('kept', '[]')"))
        engine.dispose()
    store = open_store(db_url)  # what every start does: upgrade to the head
    try:
        with store.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_heads() == (SCRIPTS.get_current_head(),)
            assert compare_metadata(ctx, full_metadata()) == []
            names = {r[0] for r in conn.execute(sa.text("SELECT name FROM roles"))}
        assert start is None or "kept" in names
    finally:
        store.close()
