"""The time planner: analytic cases, the vectorised scans, and PrusaSlicer's own estimate."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.estimation.gcode_analysis import analyze_gcode
from app.core.estimation.gcode_parser import parse_gcode
from app.core.estimation.gcode_planner import _minplus_scan, plan_time

from .shared_data import GCODE, needs_shared

LIMITS = b"M201 X1000 Y1000 Z100 E5000\nM203 X500 Y500 Z10 E60\nM204 P1000 R1000 T1000\nM205 X8 Y8 Z0.4 E5\n"


def test_single_move_trapezoid() -> None:
    tp = parse_gcode(LIMITS + b"G1 X100 F6000\n")
    # Enters and leaves at the jerk speed (8 mm/s), accelerates at 1000 mm/s2 to 100 mm/s.
    ramp = 2 * (100 - 8) / 1000
    ramp_len = 2 * (100**2 - 8**2) / 2000
    assert plan_time(tp).total_s == pytest.approx(ramp + (100 - ramp_len) / 100, rel=1e-9)


def test_axis_feed_limit_and_dwell() -> None:
    tp = parse_gcode(LIMITS + b"G1 Z50 F6000\nG4 P1500\n")
    plan = plan_time(tp)
    assert plan.dwell_s == pytest.approx(1.5)
    assert plan.total_s > 50 / 10 + 1.5  # Z is capped at 10 mm/s


def test_straight_line_pieces_keep_speed() -> None:
    one = parse_gcode(LIMITS + b"G1 X100 F6000\n")
    many = parse_gcode(LIMITS + b"".join(b"G1 X%d F6000\n" % x for x in range(1, 101)))
    assert plan_time(many, "exact").total_s == pytest.approx(plan_time(one).total_s, rel=1e-6)
    # PrusaSlicer's pass order lets the block after a short ramp start too fast: a little optimistic.
    assert plan_time(one).total_s * 0.97 < plan_time(many).total_s <= plan_time(many, "exact").total_s


def test_sharp_corners_cost_time() -> None:
    zigzag = b"".join(b"G1 X%d Y%d F6000\n" % (x * 5, (x % 2) * 5) for x in range(1, 41))
    straight = b"".join(b"G1 X%d Y0 F6000\n" % (x * 5) for x in range(1, 41))
    assert plan_time(parse_gcode(LIMITS + zigzag)).total_s > 1.5 * plan_time(parse_gcode(LIMITS + straight)).total_s


def test_minplus_scan_equals_the_loop() -> None:
    rng = np.random.default_rng(5)
    add = rng.uniform(0, 50, 5000)
    add[rng.random(5000) < 0.2] = np.inf
    cap = rng.uniform(0, 400, 5000)
    x, want = np.inf, []
    for a, c in zip(add, cap, strict=True):
        x = min(x + a, c)
        want.append(x)
    assert np.allclose(_minplus_scan(add, cap), want)


@needs_shared
def test_prusaslicer_estimate_within_two_percent() -> None:
    a = analyze_gcode(GCODE / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode")
    assert a.slicer_time_s == 4000
    assert abs(a.slicer_difference) < 0.02
    assert a.filament_mm == pytest.approx(2996.07, rel=0.01)
    assert a.filament_g == pytest.approx(8.94, rel=0.02)
    assert a.layers == 334
    assert sum(a.feature_time_s.values()) + a.dwell_s == pytest.approx(a.estimated_time_s)
    assert a.feature_time_s["External perimeter"] > a.feature_time_s["Solid infill"]
