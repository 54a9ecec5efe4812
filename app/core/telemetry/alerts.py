"""Alerts people can trust: deduplicated, rate-limited, stored with an audit entry, published on the bus.

Dedup: while an alert of the same type for the same source is open (not acknowledged) and younger than
``dedup_s``, the same condition firing again is counted, not raised. Rate limit: at most ``rate_limit``
alerts per source in ``rate_window_s``; critical alerts are never rate-limited (only deduplicated).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.core import audit
from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Alert
from app.core.domain.enums import Severity
from app.core.domain.errors import NotFoundError
from app.core.events import AlertAcknowledged, AlertRaised
from app.core.store.convert import ts as to_ts
from app.core.store.db import Store
from app.core.store.repositories import AlertRepo

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AlertStats:
    raised: int = 0
    deduplicated: int = 0
    rate_limited: int = 0
    acknowledged: int = 0


class AlertService:
    def __init__(self, store: Store, bus: EventBus, clock: Clock, *, dedup_s: float = 3600.0,
                 rate_limit: int = 10, rate_window_s: float = 60.0) -> None:
        self.store, self.bus, self.clock = store, bus, clock
        self.dedup_s, self.rate_limit, self.rate_window_s = dedup_s, rate_limit, rate_window_s
        self.repo = AlertRepo()
        self.stats = AlertStats()
        self._open: dict[tuple[str, str], Alert] = {}  # (source, type[/key]) -> the open alert
        self._recent: dict[str, deque[float]] = {}  # source -> raise times

    async def raise_alert(self, source: str, type_: str, severity: Severity, message: str, *,
                          node_id: UUID | None = None, at: datetime | None = None, key: str = "") -> Alert | None:
        """Raise unless it is a duplicate or over the rate limit; returns the stored alert or None.
        ``key`` separates conditions of one type on one source (e.g. which material is low)."""
        at = at or self.clock.now()
        t = at.timestamp()
        dkey = (source, f"{type_}/{key}" if key else type_)
        prev = self._open.get(dkey)
        if prev is not None and not prev.acknowledged and t - prev.raised_at.timestamp() < self.dedup_s \
                and prev.severity.rank >= severity.rank:
            self.stats.deduplicated += 1
            return None
        times = self._recent.setdefault(source, deque())
        while times and t - times[0] >= self.rate_window_s:
            times.popleft()
        if severity is not Severity.CRITICAL and len(times) >= self.rate_limit:
            self.stats.rate_limited += 1
            log.info("alert %s from %s rate-limited", type_, source)
            return None
        times.append(t)
        alert = Alert(source=source, type=type_, severity=severity, message=message, raised_at=at, node_id=node_id)
        self._open[dkey] = alert
        await self.store.run(self._persist, alert)
        self.stats.raised += 1
        log.warning("alert %s %s from %s: %s", severity.value, type_, source, message)
        self.bus.publish(AlertRaised(alert))
        return alert

    async def acknowledge(self, alert_id: UUID, by: str) -> bool:
        """Mark an alert seen; a later occurrence of the same condition raises a new one."""
        at = self.clock.now()
        ok = await self.store.run(self._persist_ack, alert_id, at, by)
        if not ok:
            raise NotFoundError(f"no open alert {alert_id}")
        for key, a in list(self._open.items()):
            if a.id == alert_id:
                a.acknowledged_at, a.acknowledged_by = at, by
                del self._open[key]
        self.stats.acknowledged += 1
        self.bus.publish(AlertAcknowledged(alert_id, by))
        return True

    def open_alerts(self) -> list[Alert]:
        return [a for a in self._open.values() if not a.acknowledged]

    def list(self, open_only: bool = False, limit: int = 500) -> list[Alert]:
        with self.store.connect() as conn:
            return self.repo.list(conn, open_only=open_only, limit=limit)

    async def load_open(self) -> None:
        """On start: stored open alerts keep deduplicating what is still going on."""
        def read() -> list[Alert]:
            with self.store.connect() as conn:
                return self.repo.list(conn, open_only=True, limit=5000)

        for a in reversed(await self.store.run(read)):
            self._open[(a.source, a.type)] = a

    def _persist(self, alert: Alert) -> None:
        with self.store.begin() as conn:
            self.repo.add(conn, alert)
            audit.record(conn, alert.raised_at, "telemetry", "alert.raise",
                         f"node:{alert.node_id}" if alert.node_id else alert.source,
                         after={"alert_id": str(alert.id), "type": alert.type, "severity": alert.severity.value,
                                "message": alert.message})

    def _persist_ack(self, alert_id: UUID, at: datetime, by: str) -> bool:
        with self.store.begin() as conn:
            ok = self.repo.acknowledge(conn, alert_id, to_ts(at) or 0.0, by)
            if ok:
                audit.record(conn, at, by, "alert.acknowledge", f"alert:{alert_id}")
            return ok
