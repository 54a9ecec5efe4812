"""The site's energy manager: steps the dispatch policy, keeps totals, and publishes the 24 h forecast.

It implements the scheduler's ``EnergyForecast`` protocol: ``segments`` gives the marginal price and carbon
of one more kWh in plan time, so the scheduler moves flexible work into sunny and cheap hours.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core.energy.config import SiteEnergy
from app.core.energy.policy import Conditions, Flows, dispatch


@dataclass(slots=True)
class StepRecord:
    at: datetime  # end of the step
    dt_s: float
    flows: Flows
    soc: float | None
    price: float
    carbon: float
    cost: float
    co2_g: float

    @property
    def kwh(self) -> float:
        return self.flows.load * self.dt_s / 3600.0


@dataclass(slots=True)
class SiteTotals:
    load_kwh: float = 0.0
    solar_kwh: float = 0.0  # to load and to battery
    solar_to_load_kwh: float = 0.0
    battery_to_load_kwh: float = 0.0
    battery_charged_kwh: float = 0.0
    grid_kwh: float = 0.0
    grid_to_load_kwh: float = 0.0
    fuel_kwh: float = 0.0
    curtailed_kwh: float = 0.0
    unserved_kwh: float = 0.0
    cost: float = 0.0
    co2_g: float = 0.0

    def add(self, f: Flows, dt_h: float, cost: float, co2: float) -> None:
        self.load_kwh += f.load * dt_h
        self.solar_kwh += f.solar * dt_h
        self.solar_to_load_kwh += f.solar_to_load * dt_h
        self.battery_to_load_kwh += f.battery_to_load * dt_h
        self.battery_charged_kwh += (f.solar_to_battery + f.grid_to_battery) * dt_h
        self.grid_kwh += f.grid * dt_h
        self.grid_to_load_kwh += f.grid_to_load * dt_h
        self.fuel_kwh += f.fuel_to_load * dt_h
        self.curtailed_kwh += f.solar_curtailed * dt_h
        self.unserved_kwh += f.unserved * dt_h
        self.cost += cost
        self.co2_g += co2

    @property
    def supplied_to_load_kwh(self) -> float:
        return self.solar_to_load_kwh + self.battery_to_load_kwh + self.grid_to_load_kwh + self.fuel_kwh


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    at: datetime
    solar_kw: float
    price: float
    carbon: float
    available_kw: float  # what the site could supply at most (cap-limited grid + solar + storage + fuel cell)
    soc: float | None  # expected battery state of charge at the start of the hour
    marginal_price: float  # price of one more kWh (own solar when there is a surplus)
    marginal_carbon: float


@dataclass
class EnergyManager:
    site: SiteEnergy
    totals: SiteTotals = field(default_factory=SiteTotals)
    origin: datetime | None = None  # plan time zero for the scheduler's segments
    expected_load_kw: float = 0.0  # machine load the forecast assumes (updated from the measured average)
    last: StepRecord | None = None
    _plan: PlanForecast | None = field(default=None, repr=False)
    _plan_key: tuple[datetime, float] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ live
    def cheap(self, when: datetime) -> bool:
        return self.site.grid.price(when) <= min(p for _, _, p in self.site.grid.tariff) + 1e-9

    def step(self, at: datetime, load_kw: float, dt_s: float) -> StepRecord:
        """Dispatch ``load_kw`` (average machine load over the step ending at ``at``) plus the base load."""
        if dt_s <= 0:
            raise ValueError("an energy step lasts a positive time")
        s = self.site
        mid = at - timedelta(seconds=dt_s / 2)
        dt_h = dt_s / 3600.0
        solar = s.solar.power_kw(mid) if s.solar else 0.0
        price, carbon = s.grid.price(mid), s.grid.carbon(mid)
        cond = Conditions(load_kw + s.base_load_kw, solar, bool(s.solar and s.solar.is_daylight(mid)), price,
                          self.cheap(mid), s.grid_cap_kw)
        f = dispatch(s.policy, cond, s.battery, s.fuel_cell, dt_h)
        cost = f.grid * dt_h * price
        co2 = f.grid * dt_h * carbon
        if s.fuel_cell is not None:
            cost += f.fuel_to_load * dt_h * s.fuel_cell.cost_per_kwh
            co2 += f.fuel_to_load * dt_h * s.fuel_cell.carbon_g_per_kwh
        self.totals.add(f, dt_h, cost, co2)
        self.last = StepRecord(at, dt_s, f, s.battery.soc if s.battery else None, price, carbon, cost, co2)
        return self.last

    def power_cap_w(self) -> float | None:
        """The cap the scheduler's plans must respect: the site cap less the base load."""
        cap = self.site.grid_cap_kw
        return None if cap is None else max(0.0, (cap - self.site.base_load_kw) * 1000.0)

    def available_kw(self, when: datetime) -> float:
        s = self.site
        grid = s.grid_cap_kw if s.grid_cap_kw is not None else float("inf")
        solar = s.solar.power_kw(when) if s.solar else 0.0
        batt = s.battery.max_discharge_now(1.0) if s.battery else 0.0
        fuel = s.fuel_cell.capacity_kw if s.fuel_cell else 0.0
        return grid + solar + batt + fuel

    # ------------------------------------------------------------------ forecast
    def forecast(self, start: datetime, hours: int = 24, step_s: float = 3600.0,
                 load_kw: float | None = None) -> list[ForecastPoint]:
        """Hour by hour from ``start``: a dry run of the policy on copies of the storage."""
        s = self.site
        shadow = copy.deepcopy(s)
        load = (self.expected_load_kw if load_kw is None else load_kw) + s.base_load_kw
        out = []
        n = int(hours * 3600 / step_s)
        for k in range(n):
            t0 = start + timedelta(seconds=k * step_s)
            mid = t0 + timedelta(seconds=step_s / 2)
            solar = s.solar.power_kw(mid) if s.solar else 0.0
            price, carbon = s.grid.price(mid), s.grid.carbon(mid)
            grid = s.grid_cap_kw if s.grid_cap_kw is not None else float("inf")
            avail = (grid + solar + (shadow.battery.max_discharge_now(step_s / 3600) if shadow.battery else 0.0)
                     + (s.fuel_cell.capacity_kw if s.fuel_cell else 0.0))
            soc = shadow.battery.soc if shadow.battery else None
            if solar > load:
                mp, mc = s.solar_price, s.solar_carbon
            elif s.fuel_cell is not None and s.fuel_cell.cost_per_kwh < price:
                mp, mc = s.fuel_cell.cost_per_kwh, s.fuel_cell.carbon_g_per_kwh
            else:
                mp, mc = price, carbon
            out.append(ForecastPoint(t0, solar, price, carbon, avail, soc, mp, mc))
            cond = Conditions(load, solar, bool(s.solar and s.solar.is_daylight(mid)), price, self.cheap(mid),
                              s.grid_cap_kw)
            dispatch(s.policy, cond, shadow.battery, shadow.fuel_cell, step_s / 3600)
        return out

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]:
        """The scheduler's EnergyForecast: hourly (start, end, price, gCO2) in seconds from ``origin``."""
        if self.origin is None:
            raise RuntimeError("set the energy manager's origin to the plan's time zero first")
        key = (self.origin, self.expected_load_kw)
        if self._plan is None or self._plan_key != key:
            self._plan, self._plan_key = PlanForecast(self, self.origin), key
        return self._plan.segments(start_s, end_s)


class PlanForecast:
    """The forecast in one plan's time (seconds from ``origin``), computed once per hour range and cached:
    the scheduler asks many times per plan."""

    def __init__(self, manager: EnergyManager, origin: datetime) -> None:
        self.manager = manager
        self.origin = origin
        self._hours: dict[int, tuple[float, float]] = {}

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]:
        if end_s <= start_s:
            return []
        first = int(start_s // 3600)
        last = int(-(-end_s // 3600))
        if first not in self._hours or (last - 1) not in self._hours:
            lo = min(first, 0, *self._hours) if self._hours else min(first, 0)
            hi = max(last, 48, *(h + 1 for h in self._hours)) if self._hours else max(last, 48)
            pts = self.manager.forecast(self.origin + timedelta(hours=lo), hours=hi - lo)
            self._hours = {lo + i: (p.marginal_price, p.marginal_carbon) for i, p in enumerate(pts)}
        out = []
        for h in range(first, last):
            price, carbon = self._hours[h]
            out.append((max(h * 3600.0, start_s), min((h + 1) * 3600.0, end_s), price, carbon))
        return out
