"""The battery, the grid (time-of-use tariff and hourly carbon intensity) and the fuel cell."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(slots=True)
class Battery:
    capacity_kwh: float
    soc: float = 0.5  # state of charge, 0..1
    max_charge_kw: float = 5.0
    max_discharge_kw: float = 5.0
    round_trip_efficiency: float = 0.9
    min_soc: float = 0.1  # reserve kept for outages
    max_soc: float = 1.0

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0 or not 0 < self.round_trip_efficiency <= 1:
            raise ValueError("a battery needs a positive capacity and an efficiency in (0, 1]")
        if not 0 <= self.min_soc < self.max_soc <= 1 or not 0 <= self.soc <= 1:
            raise ValueError("battery states of charge are fractions with min_soc < max_soc")

    @property
    def _eta(self) -> float:
        # Losses split evenly between charging and discharging.
        return math.sqrt(self.round_trip_efficiency)

    @property
    def stored_kwh(self) -> float:
        return self.soc * self.capacity_kwh

    def max_charge_now(self, dt_h: float) -> float:
        """kW the battery can take for ``dt_h`` hours (measured at its terminals)."""
        room = max(0.0, (self.max_soc - self.soc) * self.capacity_kwh) / self._eta
        return min(self.max_charge_kw, room / dt_h) if dt_h > 0 else 0.0

    def max_discharge_now(self, dt_h: float) -> float:
        avail = max(0.0, (self.soc - self.min_soc) * self.capacity_kwh) * self._eta
        return min(self.max_discharge_kw, avail / dt_h) if dt_h > 0 else 0.0

    def charge(self, kw: float, dt_h: float) -> float:
        kw = max(0.0, min(kw, self.max_charge_now(dt_h)))
        self.soc = min(self.max_soc, self.soc + kw * dt_h * self._eta / self.capacity_kwh)
        return kw

    def discharge(self, kw: float, dt_h: float) -> float:
        kw = max(0.0, min(kw, self.max_discharge_now(dt_h)))
        self.soc = max(self.min_soc, self.soc - kw * dt_h / self._eta / self.capacity_kwh)
        return kw


@dataclass(slots=True)
class Grid:
    """Prices by local hour from a time-of-use table of (from_hour, to_hour, price) and carbon by local hour."""

    tariff: Sequence[tuple[float, float, float]] = ((0, 24, 0.25),)
    carbon_g_per_kwh: Sequence[float] = (300.0,)  # 1 value or 24 hourly values
    import_limit_kw: float | None = None  # the connection's rating
    timezone: str = "UTC"
    _tz: ZoneInfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._tz = ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        covered = sorted((float(a), float(b)) for a, b, _ in self.tariff)
        if not covered or covered[0][0] > 0 or max(b for _, b in covered) < 24:
            raise ValueError("the time-of-use tariff must cover every hour from 0 to 24")
        if len(self.carbon_g_per_kwh) not in (1, 24):
            raise ValueError("grid carbon intensity is one number or 24 hourly numbers")

    def _hour(self, when: datetime) -> float:
        local = when.astimezone(self._tz)
        return local.hour + local.minute / 60.0 + local.second / 3600.0

    def price(self, when: datetime) -> float:
        h = self._hour(when)
        for a, b, p in self.tariff:
            if a <= h < b:
                return float(p)
        return float(self.tariff[-1][2])

    def carbon(self, when: datetime) -> float:
        c = self.carbon_g_per_kwh
        return float(c[0] if len(c) == 1 else c[int(self._hour(when)) % 24])


@dataclass(slots=True)
class FuelCell:
    capacity_kw: float
    cost_per_kwh: float = 0.30
    carbon_g_per_kwh: float = 250.0  # grey hydrogen / natural gas reformer by default

    def __post_init__(self) -> None:
        if self.capacity_kw < 0 or self.cost_per_kwh < 0:
            raise ValueError("fuel cell capacity and cost cannot be negative")
