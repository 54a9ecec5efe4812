"""Domain values as plain JSON values (ids and paths as strings, times in ISO 8601, enums by value)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID | Path):
        return str(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, int):
        return int(value)  # numpy integers
    if isinstance(value, numbers.Real) and not isinstance(value, int):
        value = float(value)
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity: such a figure is absent
    return value
