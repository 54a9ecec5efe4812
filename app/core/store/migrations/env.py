"""Alembic environment: runs on the connection the store hands in (migrations run on every start)."""

from __future__ import annotations

from alembic import context

from app.core.store.all_tables import full_metadata

config = context.config
target_metadata = full_metadata()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("Imewe runs migrations online only")
run_migrations_online()
