"""Reading numbers out of machines' JSON, which sends numbers, numeric strings, nulls and booleans alike."""

from __future__ import annotations


def number(value: object, default: float | None = None) -> float | None:
    """A finite number from a JSON value, or ``default`` for missing, null, non-numeric or non-finite values."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            return default
    else:
        return default
    return out if out == out and abs(out) != float("inf") else default
