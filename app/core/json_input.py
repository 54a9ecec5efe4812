"""JSON that comes from outside (job specs, batches, capabilities, telemetry files): plain, finite, shallow.

``json.loads`` alone lets three things through that later code trips on: NaN and Infinity (not JSON, but Python
reads them, and 1e400 becomes infinity), and nesting deep enough to exhaust the interpreter's stack
(RecursionError, which no caller expects). Each is a one-line ``ValidationError`` here instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from app.core.domain.errors import ValidationError

MAX_DEPTH = 64  # a job spec is 4 deep; nothing we read needs more


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes, where: str, max_depth: int = MAX_DEPTH) -> Any:
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except ValueError as exc:  # from _finite / _constant, or bytes that are not UTF-8
        raise ValidationError(f"{where}: not valid JSON ({str(exc)[:120]})") from exc
    except RecursionError as exc:
        raise ValidationError(f"{where}: nested deeper than {max_depth} levels") from exc
    _check_depth(data, where, max_depth)
    return data


def _check_depth(data: Any, where: str, max_depth: int) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise ValidationError(f"{where}: nested deeper than {max_depth} levels")
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def read_json_file(path: Path, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """A whole JSON file, refused with one line when missing, too big, not UTF-8 text or not plain JSON."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValidationError(f"{path} is larger than {max_bytes / 1e6:g} MB")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ValidationError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise ValidationError(f"{path} is a folder, not a JSON file") from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path} is not a readable JSON file (not UTF-8 text at byte {exc.start})") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_json(text, str(path), max_depth)
