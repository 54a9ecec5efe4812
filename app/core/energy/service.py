"""The energy service: measures machine power from telemetry, steps the site's dispatch, stores flows and
usage, and answers the dashboard, the CLI and the scheduler (``forecast``, ``segments``, ``power_cap_w``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.bus import EventBus, Overflow, Subscription
from app.core.clock import Clock
from app.core.domain.errors import StoreError
from app.core.energy.accounting import EnergyLedger, PartResolver, Usage
from app.core.energy.config import SiteEnergy
from app.core.energy.manager import EnergyManager, ForecastPoint, PlanForecast, StepRecord
from app.core.energy.repository import EnergyRepo, FlowRow, flow_row, week_days
from app.core.events import TelemetryReceived
from app.core.store.db import Store

log = logging.getLogger(__name__)


def power_w_of(metrics: dict[str, float]) -> float | None:
    """Drivers report ``power_w``; the spec's schema says ``power_consumption`` in kW."""
    p = metrics.get("power_w")
    if p is not None:
        return p
    kw = metrics.get("power_consumption")
    return None if kw is None else kw * 1000.0


class EnergyService:
    name = "energy"

    def __init__(self, store: Store, bus: EventBus, clock: Clock, site: SiteEnergy, *, step_s: float = 60.0,
                 part_of: PartResolver | None = None, history_steps: int = 8 * 24 * 60) -> None:
        self.store, self.bus, self.clock = store, bus, clock
        self.site = site
        self.step_s = step_s
        self.manager = EnergyManager(site)
        self.ledger = EnergyLedger(site.grid._tz, part_of)  # noqa: SLF001 - the grid owns the site's zone
        self.repo = EnergyRepo()
        self.history: deque[FlowRow] = deque(maxlen=history_steps)  # recent flows for the dashboard
        self._history_lock = threading.Lock()  # appended on the event loop, read on the UI thread
        self._last_tick: datetime | None = None
        self._sub: Subscription | None = None
        self._task: asyncio.Task | None = None
        self._errors = 0
        self._fixed_origin: datetime | None = None

    # ------------------------------------------------------------------ kernel service
    async def start(self) -> None:
        await self.store.run(self._restore)
        self._last_tick = self.clock.now()
        self._sub = self.bus.subscribe(TelemetryReceived, self._on_telemetry, name="energy", maxsize=500_000,
                                       overflow=Overflow.DROP_NEWEST)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="energy.tick")

    async def stop(self) -> None:
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
            self._sub = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(StoreError):
            await self.tick()

    def health(self) -> str:
        last = self.manager.last
        if last is not None and last.flows.unserved > 1e-6:
            return f"degraded: {last.flows.unserved:.1f} kW of load above what the sources can supply"
        return "ok" if not self._errors else f"degraded: {self._errors} failed writes"

    # ------------------------------------------------------------------ measuring and stepping
    def _on_telemetry(self, event: TelemetryReceived) -> None:
        s = event.sample
        p = power_w_of(s.metrics)
        if p is not None:
            self.ledger.add_sample(s.node_id, s.timestamp.timestamp(), p, s.job_id)

    def record(self, node_id: UUID, at: datetime, power_w: float, job_id: UUID | None = None) -> None:
        """Measured power without the bus (tests, imports, the simulator)."""
        self.ledger.add_sample(node_id, at.timestamp(), power_w, job_id)

    def step_sync(self, now: datetime) -> StepRecord | None:
        """One dispatch step up to ``now`` with the machine energy measured since the last one."""
        if self._last_tick is None:
            self._last_tick = now
            return None
        dt = (now - self._last_tick).total_seconds()
        if dt <= 0:
            return None
        machine_kwh = self.ledger.interval_kwh()
        rec = self.manager.step(now, machine_kwh / (dt / 3600.0), dt)
        load_kwh = rec.kwh
        cost_rate = rec.cost / load_kwh if load_kwh > 0 else 0.0
        co2_rate = rec.co2_g / load_kwh if load_kwh > 0 else 0.0
        day = self.ledger.day_of(self._last_tick.timestamp())
        self.ledger.close_interval(cost_rate, co2_rate, day, load_kwh, rec.cost, rec.co2_g)
        self.manager.expected_load_kw = 0.9 * self.manager.expected_load_kw + 0.1 * (machine_kwh / (dt / 3600))
        self._last_tick = now
        with self._history_lock:
            self.history.append(FlowRow(**flow_row(rec)))
        return rec

    async def tick(self, now: datetime | None = None) -> StepRecord | None:
        rec = self.step_sync(now or self.clock.now())
        if rec is not None:
            usage = self.ledger.take_usage()
            try:
                await self.store.run(self._persist, [flow_row(rec)], usage)
            except StoreError:
                self._errors += 1
                for key, u in usage.items():  # keep the priced usage for the next attempt
                    self.ledger._bump(key, u.kwh, u.cost, u.co2_g)  # noqa: SLF001 - same package
                raise
        return rec

    def _restore(self) -> None:
        """The battery keeps the charge it had when the site last stopped."""
        with self.store.connect() as conn:
            last = self.repo.last_flow(conn)
        if last is not None and last.soc is not None and self.site.battery is not None:
            self.site.battery.soc = min(max(last.soc, 0.0), 1.0)
        if last is not None:
            with self.store.connect() as conn:
                rows = self.repo.flows(conn, last.at - 8 * 86400)
            with self._history_lock:
                self.history.extend(rows)

    def _persist(self, flows: list[dict], usage: dict) -> None:
        with self.store.begin() as conn:
            self.repo.add_flows(conn, flows)
            self.repo.add_usage(conn, usage)

    async def _loop(self) -> None:
        while True:
            scale = self.clock.scale if self.clock.scale != float("inf") else 1e9
            await asyncio.sleep(max(0.2, self.step_s / scale))
            try:
                await self.tick()
            except StoreError as exc:
                log.error("energy step not stored: %s", exc)

    # ------------------------------------------------------------------ what others read
    def forecast(self, hours: int = 24, start: datetime | None = None) -> list[ForecastPoint]:
        start = (start or self.clock.now()).replace(minute=0, second=0, microsecond=0)
        return self.manager.forecast(start, hours)

    def plan_forecast(self, origin: datetime) -> PlanForecast:
        """The scheduler's EnergyForecast for a plan whose time zero is ``origin`` (pass the ``now`` given to
        build_problem): marginal price and carbon per hour, cached for the plan."""
        return PlanForecast(self.manager, origin)

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]:
        """EnergyForecast with plan time zero at ``set_plan_origin`` or, if never set, the current minute
        (for callers that hold one forecast object and plan from "now" every cycle)."""
        if self._fixed_origin is None:
            now = self.clock.now().replace(second=0, microsecond=0)
            if self.manager.origin != now:
                self.manager.origin = now
        return self.manager.segments(start_s, end_s)

    def set_plan_origin(self, origin: datetime | None) -> None:
        self._fixed_origin = origin
        if origin is not None:
            self.manager.origin = origin

    def power_cap_w(self) -> float | None:
        return self.manager.power_cap_w()

    def period(self, which: str, now: datetime | None = None) -> tuple[datetime, datetime, str, str]:
        """Start and end (UTC) and first/last local day of "day" (today) or "week" (this ISO week)."""
        now = now or self.clock.now()
        local = now.astimezone(self.ledger.tz)
        if which == "day":
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            first = last = start.date().isoformat()
            return start, start + timedelta(days=1), first, last
        if which != "week":
            raise ValueError("the period is 'day' or 'week'")
        first, last = week_days(local.date())
        start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=local.weekday())
        return start, start + timedelta(days=7), first, last

    def totals(self, which: str = "day", now: datetime | None = None) -> dict[str, float]:
        start, end, _f, _l = self.period(which, now)
        with self.store.connect() as conn:
            return self.repo.source_totals(conn, start.timestamp(), end.timestamp())

    def ranking(self, which: str = "day", now: datetime | None = None, kind: str = "node") -> list[tuple[str, Usage]]:
        _s, _e, first, last = self.period(which, now)
        with self.store.connect() as conn:
            usage = self.repo.usage(conn, kind, None, first, last)
        return sorted(usage.items(), key=lambda kv: -kv[1].kwh)

    def usage_of(self, kind: str, ref_id: UUID | str) -> Usage:
        """All-time kWh, cost and CO2 of one machine, job or part (e.g. for a job's detail view)."""
        with self.store.connect() as conn:
            return self.repo.usage(conn, kind, str(ref_id)).get(str(ref_id), Usage())

    def recent(self, since: datetime) -> list[FlowRow]:
        """Flows since ``since`` from memory (the last 8 days): cheap enough for the UI thread."""
        t = since.timestamp()
        with self._history_lock:
            return [r for r in self.history if r.at > t]

    def flows(self, since: datetime) -> list[FlowRow]:
        with self.store.connect() as conn:
            return self.repo.flows(conn, since.timestamp())

    def now_summary(self) -> dict[str, float]:
        """Solar power, battery charge and grid price now: the energy part of what linked sites are told."""
        st = self.status()
        return {"solar_w": (st.get("solar_kw") or 0.0) * 1000.0,
                "battery_pct": (st.get("battery_soc") or 0.0) * 100.0, "price_per_kwh": st.get("price") or 0.0}

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        s = self.site
        last = self.manager.last
        return {
            "at": now.isoformat(), "policy": s.policy.value, "power_cap_kw": s.grid_cap_kw,
            "base_load_kw": s.base_load_kw,
            "machine_load_kw": sum(self.ledger.power_w().values()) / 1000.0,
            "solar_kw": s.solar.power_kw(now) if s.solar else None,
            "battery_soc": s.battery.soc if s.battery else None,
            "price": s.grid.price(now), "carbon_g_per_kwh": s.grid.carbon(now),
            "available_kw": self.manager.available_kw(now),
            "last_step": None if last is None else {
                "load_kw": last.flows.load, "solar_kw": last.flows.solar, "battery_kw": last.flows.battery_net,
                "grid_kw": last.flows.grid, "fuel_kw": last.flows.fuel_to_load, "unserved_kw": last.flows.unserved},
        }
