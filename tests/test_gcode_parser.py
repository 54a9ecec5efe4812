"""Interpreting G-code: modes, units, arcs, retraction, limits, features and layers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from app.core.estimation.errors import GcodeFileError
from app.core.estimation.gcode_model import MoveKind
from app.core.estimation.gcode_parser import parse_gcode, parse_gcode_file
from app.core.estimation.gcode_planner import plan_time

from .shared_data import GCODE, needs_shared

PRUSA = GCODE / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode"


def _ends(text: str, **kw: str) -> np.ndarray:
    return parse_gcode(text.encode(), **kw).points[1:]


def test_absolute_and_relative_moves() -> None:
    pts = _ends("G90\nG1 X10 Y10 F600\nG91\nG1 X5\nG1 Y-3\nG90\nG1 X0\n")
    assert pts.tolist() == [[10, 10, 0], [15, 10, 0], [15, 7, 0], [0, 7, 0]]


def test_extruder_modes_and_g92() -> None:
    tp = parse_gcode(b"M82\nG1 X1 E1 F600\nG1 X2 E3\nG92 E0\nG1 X3 E1\nM83\nG1 X4 E0.5\nG1 E-0.8\n")
    assert tp.de.tolist() == pytest.approx([1, 2, 1, 0.5, -0.8])
    assert tp.kind.tolist() == [MoveKind.EXTRUDE] * 4 + [MoveKind.RETRACT]


def test_inch_units() -> None:
    tp = parse_gcode(b"G20\nG0 X1 Y2\nG21\nG0 X10\n", flavor="cnc")
    assert tp.points[1:].tolist() == [[25.4, 50.8, 0], [10, 50.8, 0]]
    assert tp.units_inch


def test_arcs_follow_the_circle() -> None:
    tp = parse_gcode(b"G1 X10 Y0 F600\nG3 X10 Y0 I-10 J0\n", flavor="cnc")
    circle = tp.points[2:]
    r = np.hypot(circle[:, 0], circle[:, 1])
    assert np.allclose(r, 10, atol=1e-9)
    length = np.linalg.norm(np.diff(tp.points[1:], axis=0), axis=1).sum()
    assert length == pytest.approx(2 * math.pi * 10, rel=1e-3)
    quarter = parse_gcode(b"G1 X10 Y0 F600\nG2 X0 Y-10 R10\n", flavor="cnc")
    mid = quarter.points[len(quarter.points) // 2 + 1]
    assert mid[0] > 0 and mid[1] < 0  # clockwise from +X goes through the fourth quadrant
    assert np.allclose(quarter.points[-1], [0, -10, 0])


def test_firmware_retraction_adds_filament_moves() -> None:
    base = b"M83\nG1 X10 E1 F1200\nG1 X20 F6000\nG1 X30 E1 F1200\n"
    with_fw = b"M207 S2 F1800\nM83\nG1 X10 E1 F1200\nG10\nG1 X20 F6000\nG11\nG1 X30 E1 F1200\n"
    a, b = parse_gcode(base), parse_gcode(with_fw)
    assert b.moves == a.moves + 2
    assert sorted(b.de.tolist()) == pytest.approx([-2, 1, 1, 2][:1] + [0, 1, 1, 2])
    assert plan_time(b).total_s > plan_time(a).total_s


@needs_shared
def test_limits_from_the_file() -> None:
    tp = parse_gcode_file(PRUSA)
    assert tp.limits.max_acc[:3] == (500, 500, 100)
    assert tp.limits.max_feed[2] == 10
    assert tp.limits.jerk[:2] == (8, 8)
    assert tp.limits.acc_retract == 1000


@needs_shared
def test_features_and_layers() -> None:
    prusa = parse_gcode_file(PRUSA)
    assert {"External perimeter", "Solid infill", "Skirt/Brim"} <= set(prusa.feature_names)
    printed = prusa.kind == MoveKind.EXTRUDE
    assert len(np.unique(prusa.layer[printed & (prusa.layer >= 0)])) == 334  # the prime line comes before layer 1
    cura = parse_gcode_file(GCODE / "octoprint_bp_case_cura14.gcode")
    assert len(np.unique(cura.layer[(cura.kind == MoveKind.EXTRUDE) & (cura.layer >= 0)])) == 70
    assert "WALL-OUTER" in cura.feature_names


@needs_shared
def test_cnc_files() -> None:
    tp = parse_gcode_file(GCODE / "grbl-sim_HelloWorld.nc")
    assert tp.flavor == "cnc" and tp.units_inch
    assert (tp.kind == MoveKind.CUT).sum() > 900 and (tp.kind == MoveKind.RAPID).any()
    assert np.abs(tp.points[:, 0]).max() == pytest.approx(3.0 * 25.4)
    shapeoko = parse_gcode_file(GCODE / "ugs_ShapeOko_Calibration_Pattern_01b.ngc")
    assert shapeoko.slicer["estimated_time_s"] == 17 * 60
    assert len(shapeoko.dwells) >= 1


def test_laser_flavour() -> None:
    tp = parse_gcode(b"G0 X0 Y0\nM4 S500\nG1 X10 F1000\nM5\nG1 X20\nG0 X0\n")
    assert tp.flavor == "laser"
    assert tp.kind.tolist() == [MoveKind.CUT, MoveKind.TRAVEL, MoveKind.RAPID]


@pytest.mark.parametrize(("data", "match"), [(b"", "empty"), (b"\x00\x01\x02" * 100, "not a text"),
                                              (b"; only comments\nM104 S200\n", "no motion")])
def test_bad_files(data: bytes, match: str) -> None:
    with pytest.raises(GcodeFileError, match=match):
        parse_gcode(data)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GcodeFileError, match="no such file"):
        parse_gcode_file(tmp_path / "nothing.gcode")


def test_klipper_macros_are_not_moves() -> None:
    text = (b"PRINT_START EXTRUDER=210 BED=60\nEXCLUDE_OBJECT_DEFINE NAME=cube CENTER=100,100\n"
            b"SET_VELOCITY_LIMIT ACCEL=3000\nG90\nM83\nG1 X10 Y10 F6000\nEXCLUDE_OBJECT_START NAME=cube\n"
            b"G1 X20 Y10 E1 F1800\nG1 X20 Y20 E1\nEXCLUDE_OBJECT_END NAME=cube\nEND_PRINT\n")
    tp = parse_gcode(text)
    assert tp.flavor == "printer"
    assert tp.points.tolist() == [[0, 0, 0], [10, 10, 0], [20, 10, 0], [20, 20, 0]]
    assert tp.de.tolist() == [0, 1, 1]


def test_reprapfirmware_feed_limits_are_per_minute() -> None:
    tp = parse_gcode(b"; gcode_flavor = reprapfirmware\nM203 X12000 Y12000 Z600 E3600\nG1 X10 E1 F600\n")
    assert tp.limits.max_feed == (200, 200, 10, 60)
