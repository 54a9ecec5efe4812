"""Differential privacy for what leaves the site (telemetry summaries, model updates, locations).

Every call names its privacy loss ``epsilon`` and the ``sensitivity`` of what it protects: nothing has a hidden
default. The Laplace mechanism gives epsilon-DP for a value whose change by one individual (machine, job) is at
most ``sensitivity`` in L1. Geo-indistinguishability (Andrés et al., CCS 2013) adds planar Laplace noise to a
location: any two points ``d`` metres apart are ``epsilon_per_m * d`` indistinguishable.
A ``PrivacyBudget`` adds up the epsilons spent (sequential composition) and refuses to overspend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.domain.errors import ValidationError

EARTH_M_PER_DEG = 111_320.0


def _check(epsilon: float, sensitivity: float | None = None) -> None:
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValidationError(f"epsilon must be a positive number, not {epsilon!r}", "epsilon")
    if sensitivity is not None and not (sensitivity > 0 and math.isfinite(sensitivity)):
        raise ValidationError(f"sensitivity must be a positive number, not {sensitivity!r}", "sensitivity")


def laplace(value: float, *, sensitivity: float, epsilon: float, rng: np.random.Generator) -> float:
    """``value`` plus Laplace(0, sensitivity / epsilon) noise."""
    _check(epsilon, sensitivity)
    return float(value + rng.laplace(0.0, sensitivity / epsilon))


def laplace_array(values: np.ndarray, *, sensitivity: float, epsilon: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Noise for a vector whose L1 sensitivity (over all entries together) is ``sensitivity``."""
    _check(epsilon, sensitivity)
    v = np.asarray(values, dtype=np.float64)
    return v + rng.laplace(0.0, sensitivity / epsilon, size=v.shape)


def geo_noise(lat: float, lon: float, *, epsilon_per_m: float, rng: np.random.Generator) -> tuple[float, float]:
    """A location moved by planar Laplace noise: direction uniform, distance Gamma(2, 1/epsilon) metres."""
    _check(epsilon_per_m)
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise ValidationError("latitude must be within ±90 and longitude within ±180 degrees", "location")
    theta = rng.uniform(0.0, 2 * math.pi)
    r = rng.gamma(2.0, 1.0 / epsilon_per_m)
    dlat = r * math.cos(theta) / EARTH_M_PER_DEG
    dlon = r * math.sin(theta) / (EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 1e-6))
    new_lat = max(-90.0, min(90.0, lat + dlat))
    new_lon = (lon + dlon + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def epsilon_for_radius(radius_m: float, level: float = math.log(4)) -> float:
    """Per-metre epsilon that makes points within ``radius_m`` ``level``-indistinguishable (the paper's l/r)."""
    if radius_m <= 0:
        raise ValidationError("the protection radius is a positive number of metres", "radius")
    return level / radius_m


@dataclass
class PrivacyBudget:
    """The total epsilon one release (e.g. one day of summaries to a linked site) may spend."""

    total: float
    spent: float = 0.0
    log: list[tuple[str, float]] = field(default_factory=list)

    def spend(self, epsilon: float, what: str) -> None:
        _check(epsilon)
        if self.spent + epsilon > self.total + 1e-12:
            raise ValidationError(f"privacy budget exceeded: {what} needs epsilon {epsilon:g}, "
                                  f"{self.total - self.spent:g} of {self.total:g} is left", "epsilon")
        self.spent += epsilon
        self.log.append((what, epsilon))

    @property
    def left(self) -> float:
        return self.total - self.spent


def privatize_telemetry(record: Mapping[str, Any], *, epsilon: float, sensitivities: Mapping[str, float],
                        rng: np.random.Generator, budget: PrivacyBudget | None = None,
                        geo_epsilon_per_m: float | None = None) -> dict[str, Any]:
    """The spec's privatize_telemetry: Laplace noise on the listed metrics (each with its own sensitivity,
    epsilon split evenly between them), metrics without a stated sensitivity are dropped rather than leaked,
    and a ``location`` {"lat", "lon"} gets geo noise when ``geo_epsilon_per_m`` is given (else it is dropped)."""
    _check(epsilon)
    out = {k: v for k, v in record.items() if k not in ("metrics", "location", "alerts")}
    metrics = record.get("metrics") or {}
    noisy = [k for k in metrics if k in sensitivities]
    if noisy:
        share = epsilon / len(noisy)
        if budget is not None:
            budget.spend(epsilon, f"telemetry {record.get('telemetry_id', '')}".strip())
        out["metrics"] = {k: laplace(float(metrics[k]), sensitivity=float(sensitivities[k]), epsilon=share, rng=rng)
                          for k in noisy}
    else:
        out["metrics"] = {}
    loc = record.get("location")
    if loc is not None and geo_epsilon_per_m is not None:
        lat, lon = geo_noise(float(loc["lat"]), float(loc["lon"]), epsilon_per_m=geo_epsilon_per_m, rng=rng)
        out["location"] = {"lat": lat, "lon": lon}
    return out
