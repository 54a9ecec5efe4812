"""Conversions between domain values and column values (UTC epoch seconds, UUID strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID


def ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; Imewe keeps UTC-aware times")
    return value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def sid(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def uid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)
