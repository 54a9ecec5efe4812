"""The whole schema: the core tables plus every ``schema_*.py`` module of the store (energy, sites...)."""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa

import app.core.store as store_pkg
from app.core.store.schema import metadata


def full_metadata() -> sa.MetaData:
    for info in pkgutil.iter_modules(store_pkg.__path__):
        if info.name.startswith("schema_"):
            importlib.import_module(f"app.core.store.{info.name}")
    return metadata
