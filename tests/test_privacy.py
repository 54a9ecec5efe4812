"""The privacy mechanisms: the noise has the stated distribution and the epsilon-DP ratio holds empirically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.domain.errors import ValidationError
from app.core.privacy import (
    EARTH_M_PER_DEG,
    PrivacyBudget,
    epsilon_for_radius,
    geo_noise,
    laplace,
    laplace_array,
    privatize_telemetry,
)

N = 200_000


def test_laplace_has_the_stated_scale() -> None:
    rng = np.random.default_rng(1)
    out = laplace_array(np.full(N, 10.0), sensitivity=2.0, epsilon=0.5, rng=rng)
    b = 2.0 / 0.5
    assert out.mean() == pytest.approx(10.0, abs=0.05)
    assert out.var() == pytest.approx(2 * b * b, rel=0.03)
    assert np.median(np.abs(out - 10.0)) == pytest.approx(b * math.log(2), rel=0.03)


def test_neighbouring_values_are_epsilon_indistinguishable() -> None:
    """For values one sensitivity apart, the probability of any output bin differs by at most e^epsilon."""
    rng = np.random.default_rng(2)
    eps, sens = 1.0, 1.0
    a = laplace_array(np.zeros(N), sensitivity=sens, epsilon=eps, rng=rng)
    b = laplace_array(np.full(N, sens), sensitivity=sens, epsilon=eps, rng=rng)
    bins = np.linspace(-3, 4, 15)
    ha, _ = np.histogram(a, bins)
    hb, _ = np.histogram(b, bins)
    ratio = np.maximum(ha / hb, hb / ha)
    assert ratio.max() <= math.exp(eps) * 1.08
    assert ratio.max() >= math.exp(eps) * 0.9  # and the bound is tight: the noise is not larger than needed


def test_geo_noise_distance_and_direction() -> None:
    rng = np.random.default_rng(3)
    eps = epsilon_for_radius(200.0)  # ln 4 within 200 m
    lat0, lon0 = 52.52, 13.40
    pts = np.array([geo_noise(lat0, lon0, epsilon_per_m=eps, rng=rng) for _ in range(40_000)])
    dy = (pts[:, 0] - lat0) * EARTH_M_PER_DEG
    dx = (pts[:, 1] - lon0) * EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    r = np.hypot(dx, dy)
    assert r.mean() == pytest.approx(2 / eps, rel=0.03)  # planar Laplace: E[r] = 2 / epsilon
    assert abs(dx.mean()) < 5 and abs(dy.mean()) < 5  # no direction is favoured


def test_epsilon_and_sensitivity_are_required_and_checked() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValidationError, match="epsilon"):
        laplace(1.0, sensitivity=1.0, epsilon=0.0, rng=rng)
    with pytest.raises(ValidationError, match="sensitivity"):
        laplace(1.0, sensitivity=-1.0, epsilon=1.0, rng=rng)
    with pytest.raises(ValidationError, match="latitude"):
        geo_noise(91.0, 0.0, epsilon_per_m=0.01, rng=rng)
    with pytest.raises(TypeError):
        laplace(1.0, 1.0, 1.0, rng)  # type: ignore[misc]  # positional use is refused on purpose


def test_privatize_telemetry_spends_the_budget_and_drops_the_rest() -> None:
    rng = np.random.default_rng(4)
    budget = PrivacyBudget(total=1.0)
    rec = {"telemetry_id": "t1", "node_id": "n", "timestamp": "2026-06-21T00:00:00Z",
           "metrics": {"temperature": 45.2, "power_consumption": 1.5, "secret": 7.0},
           "location": {"lat": 52.5, "lon": 13.4}, "alerts": [{"type": "x"}]}
    out = privatize_telemetry(rec, epsilon=0.5, sensitivities={"temperature": 5.0, "power_consumption": 0.5},
                              rng=rng, budget=budget, geo_epsilon_per_m=0.01)
    assert set(out["metrics"]) == {"temperature", "power_consumption"} and "alerts" not in out
    assert out["metrics"]["temperature"] != 45.2 and out["location"] != rec["location"]
    assert budget.left == pytest.approx(0.5)
    privatize_telemetry(rec, epsilon=0.5, sensitivities={"temperature": 5.0}, rng=rng, budget=budget)
    with pytest.raises(ValidationError, match="budget exceeded"):
        privatize_telemetry(rec, epsilon=0.1, sensitivities={"temperature": 5.0}, rng=rng, budget=budget)
    assert "location" not in privatize_telemetry(rec, epsilon=0.1, sensitivities={}, rng=rng)
