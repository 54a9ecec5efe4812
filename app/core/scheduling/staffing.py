"""Staffed hours: when someone is on the floor to start or take off work.

The site says per weekday when it is staffed (``[site.staffed]`` in the config, in the site's time zone). Work
that needs a person at its start (loading a plate, clamping stock) starts only in staffed hours; work that needs a
person at its end (taking a print off, a mill's part out) ends only in staffed hours. The machine may run through
closed hours in between. In the planner the calendar is a sorted list of staffed intervals ``[a, b]`` in plan
time; past the calendar's horizon the floor counts as staffed (the plan's far end is replanned long before).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.domain.attend import ATTEND, END, START, attend_flags
from app.core.domain.errors import ConfigError, ValidationError

__all__ = ["ATTEND", "END", "START", "StaffedHours", "attend_flags", "staffed_start"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 28


def _clock(text: str, what: str) -> int:
    """Minutes since midnight of "HH:MM" (24:00 allowed: the end of the day)."""
    try:
        hh, mm = text.strip().split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise ConfigError(f"{what}: {text!r:.20} is not a time like 07:30") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ConfigError(f"{what}: {text!r:.20} is not a time of day (00:00 .. 24:00)")
    return h * 60 + m


@dataclass(frozen=True, slots=True)
class StaffedHours:
    """Per weekday (0 Monday), the staffed spans in minutes since local midnight; an end past 1440 runs into the
    next day (a night shift, "22:00-06:00")."""

    week: tuple[tuple[tuple[int, int], ...], ...]
    zone: ZoneInfo
    attend: int = START | END  # what work needs unless its job says otherwise (job metadata "attend")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> StaffedHours | None:
        """None when the site gives no ``[site.staffed]`` table (someone is always there)."""
        if not section:
            return None
        tz_name = section.get("timezone", "UTC")
        try:
            zone = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"[site.staffed] timezone {tz_name!r:.40} is not a known time zone") from None
        try:
            attend = attend_flags(section.get("attend", "both"), "[site.staffed] attend")
        except ValidationError as exc:
            raise ConfigError(str(exc)) from None
        week = []
        for day in DAYS:
            raw = section.get(day, [])
            items = [raw] if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                raise ConfigError(f"[site.staffed] {day} must be \"HH:MM-HH:MM\" or a list of them")
            spans = []
            for item in items:
                if item.strip().lower() in ("", "closed"):
                    continue
                a_txt, sep, b_txt = item.partition("-")
                if not sep:
                    raise ConfigError(f"[site.staffed] {day}: {item!r:.20} is not a span like 07:00-17:00")
                a, b = _clock(a_txt, f"[site.staffed] {day}"), _clock(b_txt, f"[site.staffed] {day}")
                if b <= a:
                    b += 24 * 60  # overnight
                spans.append((a, b))
            week.append(tuple(sorted(spans)))
        return cls(tuple(week), zone, attend)

    def windows(self, origin: datetime, days: int = HORIZON_DAYS) -> list[tuple[datetime, datetime]]:
        """Staffed spans (UTC-aware datetimes, merged, sorted) from the day before ``origin`` for ``days`` days."""
        local0 = origin.astimezone(self.zone).date() - timedelta(days=1)
        raw: list[tuple[datetime, datetime]] = []
        for k in range(days + 2):
            d: date = local0 + timedelta(days=k)
            for a, b in self.week[d.weekday()]:
                midnight = datetime.combine(d, time(0), self.zone)
                raw.append((_wall(midnight, a).astimezone(UTC), _wall(midnight, b).astimezone(UTC)))
        raw.sort()
        out: list[tuple[datetime, datetime]] = []
        for a, b in raw:
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def is_staffed(self, at: datetime) -> bool:
        """Whether someone is on the floor at ``at``."""
        return any(a <= at < b for a, b in self.windows(at, 1))

    def needs(self, metadata: Mapping[str, Any]) -> int:
        """What a job with this metadata needs a person for: its own ``attend``, else the site's default."""
        word = metadata.get("attend")
        if word is None:
            return self.attend
        try:
            return attend_flags(word)
        except ValidationError:
            return self.attend

    def plan_windows(self, origin: datetime, days: int = HORIZON_DAYS) -> list[tuple[int, int]]:
        """The calendar in plan seconds from ``origin``: staffed [a, b], then everything past the horizon."""
        out = []
        for a, b in self.windows(origin, days):
            # inward to whole seconds: a plan second never lies outside the staffed span
            sa, sb = math.ceil((a - origin).total_seconds()), math.floor((b - origin).total_seconds())
            if sb >= max(sa, 0):
                out.append((max(sa, 0), sb))
        horizon = int(timedelta(days=days).total_seconds())
        out.append((max(horizon, out[-1][1] + 1) if out else 0, 1 << 60))
        return out

    def closed(self, origin: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """The unstaffed spans between ``origin`` and ``until`` (what the timeline shades)."""
        days = max(1, int((until - origin).total_seconds() // 86400) + 2)
        out = []
        cursor = origin
        for a, b in self.windows(origin, days):
            if b <= cursor:
                continue
            if a > cursor:
                out.append((cursor, min(a, until)))
            cursor = max(cursor, b)
            if cursor >= until:
                break
        if cursor < until:
            out.append((cursor, until))
        return [(a, b) for a, b in out if b > a]


def _wall(midnight: datetime, minutes: int) -> datetime:
    """Local wall-clock time ``minutes`` after ``midnight`` (a DST change keeps the clock reading, not the
    elapsed time: 07:00 is 07:00 on the day the clocks go forward)."""
    day = midnight.date() + timedelta(days=minutes // 1440)
    m = minutes % 1440
    return datetime.combine(day, time(m // 60, m % 60), midnight.tzinfo)


def staffed_start(windows: Sequence[tuple[int, int]], s: int, d: int, need: int, lead: int = 0) -> int:
    """The earliest start >= ``s`` of work lasting ``d`` (after a setup of ``lead`` just before it) such that,
    with ``need & START``, the setup and the start lie in one staffed span [a, b) and, with ``need & END``, its
    end lies in one [a, b]. ``windows`` sorted, disjoint, the last open-ended."""
    if not need or not windows:
        return s
    starts = [a for a, _ in windows]
    for _ in range(4 * len(windows) + 4):
        moved = False
        if need & START:
            i = bisect_right(starts, s - lead) - 1
            if i < 0 or s >= windows[i][1]:
                if i + 1 < len(windows):
                    s = windows[i + 1][0] + lead
                    moved = True
        if need & END:
            e = s + d
            i = bisect_right(starts, e) - 1
            if i < 0 or e > windows[i][1]:
                if i + 1 < len(windows):
                    s = windows[i + 1][0] - d
                    moved = True
        if not moved:
            return s
    return s
