"""What a site tells its linked sites about itself: machines by process and state, free capacity windows,
energy state, open alerts, jobs by state. Every number passes through the privacy step before it leaves.

The scheduler and the energy manager plug in through small callables (``SummarySources``); without them the
summary says what the fleet and the store know.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.core.clock import Clock
from app.core.domain.entities import Node
from app.core.sites.dp import Noiser
from app.core.store import schema as t
from app.core.store.db import Store

# A free-capacity window: {"process": "fdm", "start": epoch_s, "end": epoch_s, "machines": n}
Window = dict[str, Any]
# Energy state: {"solar_w": float, "battery_pct": float, "price_per_kwh": float}; None when unknown.
Energy = dict[str, Any] | None
HORIZON = timedelta(hours=24)
ENERGY_SENSITIVITY = {"solar_w": 100.0, "battery_pct": 2.0, "grid_w": 100.0}


@dataclass(slots=True)
class SummarySources:
    nodes: Callable[[], list[Node]]
    capacity: Callable[[], list[Window]] | None = None  # from the scheduler's plan
    energy: Callable[[], Energy] | None = None  # from the energy manager
    alerts: Callable[[], Awaitable[int]] | None = None


class SummaryMaker:
    def __init__(self, store: Store, clock: Clock, sources: SummarySources, noiser: Noiser) -> None:
        self.store = store
        self.clock = clock
        self.sources = sources
        self.noiser = noiser

    async def make(self) -> dict[str, Any]:
        nodes = self.sources.nodes()
        machines: dict[str, dict[str, int]] = {}
        for n in nodes:
            by_state = machines.setdefault(n.capabilities.process.value, {})
            by_state[n.state.value] = by_state.get(n.state.value, 0) + 1
        capacity = self.sources.capacity() if self.sources.capacity else self._capacity_now(nodes)
        energy = self.sources.energy() if self.sources.energy else None
        alerts = await (self.sources.alerts() if self.sources.alerts else self._open_alerts())
        jobs = await self.store.run(self._jobs_by_state)
        nz = self.noiser
        return {
            "at": self.clock.now().timestamp(),
            "machines": {p: {s: nz.count(f"m:{p}:{s}", c) for s, c in st.items()} for p, st in machines.items()},
            "capacity": [{**w, "machines": nz.count(f"c:{w['process']}:{w['start']}", int(w["machines"]))}
                         for w in capacity][:500],
            "energy": None if energy is None else {
                k: (round(nz.value(f"e:{k}", float(v), ENERGY_SENSITIVITY[k]), 1)
                    if k in ENERGY_SENSITIVITY and isinstance(v, int | float) else v)
                for k, v in energy.items()},
            "alerts": nz.count("alerts", alerts),
            "jobs": {s: nz.count(f"j:{s}", c) for s, c in jobs.items()},
        }

    def _capacity_now(self, nodes: list[Node]) -> list[Window]:
        """Without a plan: machines free now, for the next day."""
        now = self.clock.now()
        free: dict[str, int] = {}
        for n in nodes:
            if n.state.available:
                free[n.capabilities.process.value] = free.get(n.capabilities.process.value, 0) + 1
        # Whole hours: the window (and so its noised value) stays the same between publications.
        start = int(now.timestamp()) // 3600 * 3600
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
