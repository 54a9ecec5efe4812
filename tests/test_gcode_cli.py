"""``imewe gcode info`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.main import main

from .shared_data import GCODE, needs_shared


@needs_shared
def test_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gcode", "info", str(GCODE / "octoprint_bp_case_cura14.gcode"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("estimated_time_s", "filament_mm", "filament_g", "layers", "feature_time_s"):
        assert key in data
    assert data["layers"] == 70 and data["filament_mm"] > 1000 and data["estimated_time_s"] > 600


@needs_shared
def test_text_and_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["gcode", "info", str(GCODE / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode")]) == 0
    assert "slicer says 1h 06m 40s" in capsys.readouterr().out
    bad = tmp_path / "x.gcode"
    bad.write_bytes(b"")
    assert main(["gcode", "info", str(bad)]) == 2
    assert "empty" in capsys.readouterr().err
