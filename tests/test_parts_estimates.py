"""Estimates before slicing: they move the right way with their inputs and say what they rest on."""

from __future__ import annotations

import pytest

from app.core.estimation import analyze_file, estimate_cnc, estimate_fdm, estimate_resin, estimates_for

from .shared_data import SHARED, needs_shared


def test_fdm_grams_follow_infill_and_material() -> None:
    light = estimate_fdm(100_000, 15_000, 50, infill=0.1)
    heavy = estimate_fdm(100_000, 15_000, 50, infill=0.8)
    assert heavy.material_g > light.material_g and heavy.time_s > light.time_s
    solid = estimate_fdm(100_000, 15_000, 50, infill=1.0)
    assert solid.material_g == pytest.approx(100.0 * 1.24)
    assert "20%" in estimate_fdm(1000, 600, 10).basis and "0.2 mm layers" in light.basis
    faster = estimate_fdm(100_000, 15_000, 50, speed_mm_s=120)
    assert faster.time_s < estimate_fdm(100_000, 15_000, 50).time_s


def test_resin_time_goes_by_height() -> None:
    tall = estimate_resin(1000, 100)
    wide = estimate_resin(100_000, 100)
    assert tall.time_s == wide.time_s and wide.material_g > tall.material_g
    assert "2000 layers" in tall.basis


def test_cnc_stock_and_time() -> None:
    e = estimate_cnc(8000, 2400, (20, 20, 20), material="aluminium", margin_mm=5)
    assert e.stock_mm == (30, 30, 30)
    assert e.removed_cm3 == pytest.approx((27000 - 8000) / 1000)
    assert e.time_s > 0 and "stock = bounding box + 5 mm" in e.basis
    assert estimate_cnc(8000, 2400, (20, 20, 20), material="pom").time_s < e.time_s


@needs_shared
def test_estimates_for_a_real_part() -> None:
    a = analyze_file(SHARED / "data" / "meshes" / "20mm-xyz-cube.stl")
    fdm, resin, cnc = estimates_for(a)
    assert 2 < fdm.material_g < 10  # a 20 mm cube at 20 % infill is a few grams
    assert resin.process == "sla" and cnc.process == "cnc_mill"
