"""``imewe part info`` through the real entry point."""

from __future__ import annotations

import json

import pytest

from app.cli.main import main

from .shared_data import MESHES, needs_shared


@needs_shared
@pytest.mark.parametrize("argv", [["part", "info", "{f}", "--json"], ["--json", "part", "info", "{f}"]])
def test_json_fields(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    f = str(MESHES / "teapot.stl")
    assert main([a.format(f=f) for a in argv]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("volume_mm3", "area_mm2", "bbox_mm", "watertight", "bodies", "estimates"):
        assert key in data
    assert data["bodies"] == 4 and data["watertight"] is False


@needs_shared
def test_text_output_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["part", "info", str(MESHES / "featuretype.STL")]) == 0
    out = capsys.readouterr().out
    assert "inch" in out and "estimate" in out
    assert main(["part", "info", str(MESHES / "empty.stl")]) == 2
    assert "no triangles" in capsys.readouterr().err
