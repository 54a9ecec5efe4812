"""The desktop integration the package installs (issue 17): the .desktop entry passes desktop-file-validate, the
G-code MIME type builds into a real shared-mime-info database, every type the entry claims is one the Design review
opens, and the icon is a valid SVG."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.ui.review_panel import reviewable

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = ROOT / "installer/linux/imewe.desktop"
MIME_XML = ROOT / "installer/linux/imewe-gcode.xml"
ICON = ROOT / "resources/icons/imewe.svg"
NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
# what each type the entry claims stands for: a file of it must open in Design review
CLAIMED = {"model/stl": "part.stl", "application/sla": "part.stl", "model/3mf": "part.3mf", "model/obj": "part.obj",
           "text/x.gcode": "part.gcode"}


def _entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_is_valid_and_opens_part_files_in_imewe() -> None:
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate is not installed (apt: desktop-file-utils)")
    proc = subprocess.run([validate, str(DESKTOP)], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    entry = _entry()
    assert entry["Exec"] == "imewe open %f" and entry["Icon"] == ICON.stem
    types = [t for t in entry["MimeType"].split(";") if t]
    assert set(types) == set(CLAIMED)
    assert all(reviewable(name) for name in CLAIMED.values())


def test_gcode_mime_type_builds_and_claims_only_what_review_opens(tmp_path: Path) -> None:
    root = ET.parse(MIME_XML).getroot()
    assert root.tag == f"{NS}mime-info"
    (gcode,) = root.findall(f"{NS}mime-type")
    assert gcode.get("type") == "text/x.gcode"
    globs = [g.get("pattern") for g in gcode.findall(f"{NS}glob")]
    assert "*.gcode" in globs and all(reviewable("x" + g.removeprefix("*")) for g in globs)
    update = shutil.which("update-mime-database")
    if update is None:
        pytest.skip("update-mime-database is not installed (apt: shared-mime-info)")
    (tmp_path / "packages").mkdir()
    shutil.copy(MIME_XML, tmp_path / "packages")
    proc = subprocess.run([update, "-V", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    built = (tmp_path / "globs2").read_text(encoding="utf-8")
    for pattern in globs:
        assert f":text/x.gcode:{pattern}" in built


def test_icon_is_a_square_svg() -> None:
    root = ET.parse(ICON).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x, y, w, h = (float(v) for v in root.get("viewBox", "").split())
    assert w == h > 0
