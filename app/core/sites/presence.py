"""Who is looking at a shared offer or order right now, at the other site: short-lived notes in memory, never
stored. The site where someone views an item tells the sites it shares the item with (a ``presence`` message on a
live link, again every ``REPEAT_S`` while they look, and once more when they stop); a note not repeated within
``TTL_S`` is forgotten, so a closed window or a cut link clears itself."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

REPEAT_S = 20.0
TTL_S = 45.0
MAX_SUBJECTS = 1000
MAX_VIEWERS = 50  # per subject


class Presence:
    def __init__(self, send: Callable[[str, dict[str, Any]], Awaitable[bool]]) -> None:
        self._send = send  # (site id, body) -> sent on a live link?
        self._seen: dict[str, dict[tuple[str, str], float]] = {}  # subject -> (site id, who) -> monotonic

    def seen(self, peer: str, body: dict[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        subject, who = body["subject"], body["who"].strip()[:100] or "someone"
        if not body["viewing"]:
            self._seen.get(subject, {}).pop((peer, who), None)
            return
        if subject not in self._seen and len(self._seen) >= MAX_SUBJECTS:
            self._prune(now)
            if len(self._seen) >= MAX_SUBJECTS:
                return
        viewers = self._seen.setdefault(subject, {})
        if (peer, who) in viewers or len(viewers) < MAX_VIEWERS:
            viewers[(peer, who)] = now

    def viewers(self, subject: str, now: float | None = None) -> list[tuple[str, str, float]]:
        """(site id, who, seconds since last heard) of everyone looking at ``subject`` at linked sites."""
        now = time.monotonic() if now is None else now
        live = {k: t for k, t in self._seen.get(subject, {}).items() if now - t <= TTL_S}
        if live:
            self._seen[subject] = live
        else:
            self._seen.pop(subject, None)
        return sorted((sid, who, round(now - t, 1)) for (sid, who), t in live.items())

    def _prune(self, now: float) -> None:
        for subject in list(self._seen):
            self.viewers(subject, now)

    async def announce(self, subject: str, site_ids: list[str], who: str, viewing: bool) -> int:
        """Tell the sites sharing ``subject`` that ``who`` looks at it here (or stopped); how many were told."""
        body = {"subject": subject, "who": (who or "someone")[:100], "viewing": viewing}
        n = 0
        for sid in site_ids:
            n += bool(await self._send(sid, body))
        return n
