"""Persistence: SQLAlchemy 2.0 Core tables, Alembic migrations run on open, repositories that hand out domain objects."""

from app.core.store.db import Store, open_store

__all__ = ["Store", "open_store"]
