"""When a job needs a person: at its start (loading a plate, clamping stock), its end (taking the part off), both
or neither. The planner keeps such work to the site's staffed hours."""

from __future__ import annotations

from typing import Any

from app.core.domain.errors import ValidationError

START, END = 1, 2  # bit flags of what an operation needs a person for
ATTEND = {"none": 0, "start": START, "end": END, "both": START | END}


def attend_flags(word: Any, where: str = "attend") -> int:
    """``"start"``, ``"end"``, ``"both"`` or ``"none"`` as the planner's flags; anything else: a clear error."""
    if isinstance(word, str) and word.strip().lower() in ATTEND:
        return ATTEND[word.strip().lower()]
    raise ValidationError(f"{where} must be one of {', '.join(ATTEND)}, not {word!r:.40}", "attend")
