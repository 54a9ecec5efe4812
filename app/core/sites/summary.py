"""What a site tells its linked sites about itself: machines by process and state, free capacity windows,
energy state, open alerts, jobs by state, and (when configured) roughly where it is. Every number passes through
the privacy ledger (``dp``) before it leaves: drawn once per period, charged to each linked site's daily budget.

The scheduler and the energy manager plug in through small callables (``SummarySources``); without them the
summary says what the fleet and the store know.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.core.clock import Clock
from app.core.domain.entities import Node
from app.core.learning.federated import CLIP
from app.core.sites import repo
from app.core.sites.dp import Group, PrivacyLedger
from app.core.store import schema as t
from app.core.store.db import Store

# A free-capacity window: {"process": "fdm", "start": epoch_s or ISO text, "end": ..., "machines": n}
Window = dict[str, Any]
# Energy state: {"solar_w": float, "battery_pct": float, "price_per_kwh": float}; None when unknown.
Energy = dict[str, Any] | None
HORIZON = timedelta(hours=24)
ENERGY_SENSITIVITY = {"solar_w": 100.0, "battery_pct": 2.0, "grid_w": 100.0}
# One machine (or job) moving from one state to another changes two counts by one each.
STATE_SENSITIVITY = 2.0


@dataclass(slots=True)
class SummarySources:
    nodes: Callable[[], list[Node]]
    capacity: Callable[[], list[Window]] | None = None  # from the scheduler's plan
    energy: Callable[[], Energy] | None = None  # from the energy manager
    alerts: Callable[[], Awaitable[int]] | None = None
    # per machine type: (completed jobs, sum of clipped log ratios, sum of squares), true values (issue 15)
    learning: Callable[[], Awaitable[dict[str, tuple[int, float, float]]]] | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """The site's true place and how far off the published one may be (``[sites] location``)."""

    lat: float
    lon: float
    radius_m: float


class SummaryMaker:
    def __init__(self, store: Store, clock: Clock, sources: SummarySources, ledger: PrivacyLedger,
                 location: Location | None = None, learning_ledger: PrivacyLedger | None = None,
                 learning_with: Callable[[str], bool] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.sources = sources
        self.ledger = ledger
        self.location = location
        # Learned correction statistics go only to the linked sites opted in for them, drawn once a day
        # (``learning_ledger``'s period), charged to the same daily budget as the rest of the summary.
        self.learning_ledger = learning_ledger
        self.learning_with = learning_with or (lambda _peer: False)

    async def make(self, peer_id: str) -> dict[str, Any]:
        """The summary ``peer_id`` may see now (its own budget decides what is fresh)."""
        nodes = self.sources.nodes()
        machines: dict[str, int] = {}
        for n in nodes:
            k = f"{n.capabilities.process.value}.{n.state.value}"
            machines[k] = machines.get(k, 0) + 1
        windows = {w["process"]: w for w in
                   (self.sources.capacity() if self.sources.capacity else self._capacity_now(nodes))}
        energy = self.sources.energy() if self.sources.energy else None
        alerts = await (self.sources.alerts() if self.sources.alerts else self._open_alerts())
        jobs = await self.store.run(self._jobs_by_state)
        groups = [Group("machines", {k: (c, STATE_SENSITIVITY) for k, c in machines.items()}),
                  Group("capacity", {p: (int(w["machines"]), 1.0) for p, w in windows.items()}),
                  Group("jobs", {s: (c, STATE_SENSITIVITY) for s, c in jobs.items()}),
                  Group("alerts", {"open": (alerts, 1.0)})]
        numeric = {k: v for k, v in (energy or {}).items() if k in ENERGY_SENSITIVITY and isinstance(v, int | float)}
        if numeric:
            groups.append(Group("energy", {k: (float(v), ENERGY_SENSITIVITY[k]) for k, v in numeric.items()},
                                count=False))
        now = self.clock.now().timestamp()
        learned = await self._learning_groups(peer_id)

        def publish() -> tuple[dict[str, dict[str, Any]], list[str], dict[str, float] | None, float]:
            with self.store.begin() as conn:
                repo.lock_peer(conn, peer_id)  # one publisher at a time per site: its budget cannot be overspent
                out, stale = {}, []
                for g in groups:
                    out[g.name], fresh = self.ledger.publish(conn, peer_id, g, now)
                    if not fresh:
                        stale.append(g.name)
                for g in learned:
                    assert self.learning_ledger is not None
                    out[g.name], fresh = self.learning_ledger.publish(conn, peer_id, g, now)
                    if not fresh:
                        stale.append(g.name)
                loc = self.location
                where = None if loc is None else self.ledger.location(conn, peer_id, loc.lat, loc.lon,
                                                                       loc.radius_m, now)
                return out, stale, where, self.ledger.budget(conn, peer_id, now).spent

        noisy, stale, where, spent = await self.store.run(publish)
        by_process: dict[str, dict[str, int]] = {}
        for k, c in noisy["machines"].items():
            process, _, state = k.partition(".")
            by_process.setdefault(process, {})[state] = c
        body: dict[str, Any] = {
            "at": now,
            "machines": by_process,
            "capacity": [{"process": p, "start": _hour(w["start"]), "end": _hour(w["end"]), "machines": c}
                         for p, c in sorted(noisy["capacity"].items()) if (w := windows.get(p))][:500],
            "energy": None if energy is None else {
                **{k: v for k, v in energy.items() if k not in ENERGY_SENSITIVITY},
                **noisy.get("energy", {})},
            "alerts": noisy["alerts"].get("open"),
            "jobs": noisy["jobs"],
            "privacy": {"epsilon_spent_today": round(spent, 3), "epsilon_per_day": self.ledger.budget_per_day,
                        "period_s": self.ledger.period_s, "exhausted": stale},
        }
        if where is not None:
            body["location"] = where
        if learned:
            n, sums, sq = (noisy.get(f"learning.{k}", {}) for k in ("n", "sum", "sq"))
            assert self.learning_ledger is not None
            body["learning"] = {"types": {t: {"n": n[t], "sum": sums[t], "sq": sq[t]}
                                          for t in sorted(n) if t in sums and t in sq},
                                "clip": CLIP, "period_s": self.learning_ledger.period_s}
        return body

    async def _learning_groups(self, peer_id: str) -> list[Group]:
        """The learned correction statistics as privacy groups, for a linked site opted in for them: per machine
        type a count (one job moves one type's count by 1), a sum of clipped log ratios (by at most CLIP) and a sum
        of their squares (by at most CLIP²); the types are disjoint, so each group costs epsilon once."""
        if self.sources.learning is None or self.learning_ledger is None or not self.learning_with(peer_id):
            return []
        stats = await self.sources.learning()
        if not stats:
            return []
        return [Group("learning.n", {t: (v[0], 1.0) for t, v in stats.items()}),
                Group("learning.sum", {t: (v[1], CLIP) for t, v in stats.items()}, count=False, disjoint=True,
                      digits=3),
                Group("learning.sq", {t: (v[2], CLIP * CLIP) for t, v in stats.items()}, count=False,
                      disjoint=True, digits=3)]

    def _capacity_now(self, nodes: list[Node]) -> list[Window]:
        """Without a plan: machines free now, for the next day."""
        now = self.clock.now()
        free: dict[str, int] = {}
        for n in nodes:
            if n.state.available:
                free[n.capabilities.process.value] = free.get(n.capabilities.process.value, 0) + 1
        start = int(now.timestamp())
        end = start + int(HORIZON.total_seconds())
        return [{"process": p, "start": start, "end": end, "machines": c} for p, c in sorted(free.items())]

    async def _open_alerts(self) -> int:
        def read() -> int:
            with self.store.connect() as conn:
                q = sa.select(sa.func.count()).select_from(t.alerts).where(t.alerts.c.acknowledged_at.is_(None))
                return int(conn.execute(q).scalar_one())

        return await self.store.run(read)

    def _jobs_by_state(self) -> dict[str, int]:
        with self.store.connect() as conn:
            q = sa.select(t.jobs.c.state, sa.func.count()).group_by(t.jobs.c.state)
            return {s: int(n) for s, n in conn.execute(q)}


def _hour(v: Any) -> int:
    """A window edge as epoch seconds on the whole hour: finer times would tell the plan minute by minute."""
    ts = datetime.fromisoformat(v).timestamp() if isinstance(v, str) else float(v)
    return int(ts) // 3600 * 3600
