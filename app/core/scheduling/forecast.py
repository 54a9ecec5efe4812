"""The energy forecast the scheduler plans against. The energy service plugs in the real one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class EnergyForecast(Protocol):
    """Price and carbon over the planning horizon, in plan time (seconds from the plan origin).

    ``segments`` returns the piecewise-constant curve as ``(start_s, end_s, price_per_kwh, gco2_per_kwh)``
    covering at least ``[start_s, end_s)``; the scheduler never asks outside the horizon it plans.
    """

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]: ...


@dataclass(frozen=True, slots=True)
class FlatForecast:
    """One price and carbon intensity all the time: energy then only costs, it never moves work."""

    price_per_kwh: float = 0.25
    gco2_per_kwh: float = 300.0

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]:
        return [(start_s, end_s, self.price_per_kwh, self.gco2_per_kwh)]


@dataclass(frozen=True, slots=True)
class PeriodicForecast:
    """A repeating curve (e.g. a day of 24 hourly prices): handy for tests, the demo and solar sites."""

    period_s: float
    prices: tuple[float, ...]
    carbon: tuple[float, ...] = ()

    def segments(self, start_s: float, end_s: float) -> list[tuple[float, float, float, float]]:
        n = len(self.prices)
        step = self.period_s / n
        out: list[tuple[float, float, float, float]] = []
        k = int(start_s // step)
        while k * step < end_s:
            i = k % n
            c = self.carbon[i] if self.carbon else 0.0
            out.append((max(k * step, start_s), min((k + 1) * step, end_s), self.prices[i], c))
            k += 1
        return out


def energy_cost(forecast: EnergyForecast, start_s: float, end_s: float, power_w: float) -> tuple[float, float]:
    """Cost and grams of CO2 of drawing ``power_w`` over ``[start_s, end_s)``."""
    if power_w <= 0 or end_s <= start_s:
        return 0.0, 0.0
    cost = co2 = 0.0
    for a, b, price, carbon in forecast.segments(start_s, end_s):
        kwh = power_w * (min(b, end_s) - max(a, start_s)) / 3.6e6
        if kwh > 0:
            cost += kwh * price
            co2 += kwh * carbon
    return cost, co2
