"""When the nightly training is due: the next ``hour``:00 in the site's time zone after a moment.

The site checks now and then (a minute of real time, less on a fast simulated clock) whether that moment has
passed since it last looked, so a coarse check never misses it and never runs it twice on one night."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo


def next_nightly(after: datetime, hour: int, zone: tzinfo | None = None) -> datetime | None:
    """The first ``hour``:00 (site's zone; None: this computer's) strictly after ``after``; None when off."""
    if hour < 0:
        return None
    local = after.astimezone(zone)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at = (local + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at


def poll_s(scale: float) -> float:
    """Real seconds between checks: a minute of wall time, but at least every ten simulated minutes."""
    if scale == float("inf"):
        return 0.5
    return max(0.5, min(60.0, 600.0 / max(scale, 1e-9)))
