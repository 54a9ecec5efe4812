"""The README's Design review pictures, made by the program at 1366 x 768 under Xvfb: a printed part with two
notes, a printer's G-code, and a flat CNC job from the top. Each picture is checked (the view drew something,
the notes are listed, one of them on the CNC job's toolpath); with IMEWE_SCREENSHOTS=<folder> they are also saved there:

    IMEWE_SCREENSHOTS=resources/screenshots QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \\
        .venv/bin/python -m pytest -q tests/test_ui_review_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from app.ui.main_window import ControlRoom  # noqa: E402
from app.ui.runner import save_screenshot  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_screenshot import _pixels  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, until, window_at_1366  # noqa: E402

from .shared_data import MESHES  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
SLA = {"process": "sla", "build_volume_mm": [143, 89, 175], "materials": ["resin-standard"],
       "loaded_material": "resin-standard", "max_power_w": 120}
BIG_FDM = dict(FDM, build_volume_mm=[350, 350, 400], max_power_w=600)


def _bracket(path: Path) -> Path:
    """An L bracket with a hole and a shelf that overhangs as drawn."""
    base = trimesh.creation.box((80, 40, 6))
    base.apply_translation((0, 0, 3))
    wall = trimesh.creation.box((6, 40, 50))
    wall.apply_translation((-37, 0, 25))
    shelf = trimesh.creation.box((30, 40, 5))
    shelf.apply_translation((-19, 0, 47.5))
    trimesh.util.concatenate([base, wall, shelf]).export(path)
    return path


def _printer_gcode(path: Path) -> Path:
    lines = ["G21", "G90", "M82", "M104 S210", "G28"]
    e = 0.0
    for layer in range(40):
        z = 0.2 * (layer + 1)
        lines.append(f"G1 Z{z:.2f} F600")
        r = 25 + 5 * np.sin(layer / 6)
        for kind, scale in ((";TYPE:WALL-OUTER", 1.0), (";TYPE:WALL-INNER", 0.93)):
            lines.append(kind)
            for k in range(49):
                a = 2 * np.pi * k / 48
                e += 0.05
                lines.append(f"G1 X{100 + r * scale * np.cos(a):.2f} Y{100 + r * scale * np.sin(a):.2f} E{e:.3f} "
                             f"F{1800 if scale == 1.0 else 3000}")
        lines.append(";TYPE:FILL")
        for k in range(-4, 5):
            e += 0.3
            lines.append(f"G0 X{100 + 5 * k:.1f} Y{100 - r * 0.8:.1f}")
            lines.append(f"G1 X{100 + 5 * k:.1f} Y{100 + r * 0.8:.1f} E{e:.3f} F4200")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cnc_gcode(path: Path) -> Path:
    """A 6 x 1.2 inch plate (G20) with two pockets, cut at one depth."""
    lines = ["G20 G90", "M3 S12000", "G0 Z0.2", "G0 X0 Y0", "G1 Z-0.06 F20", "G1 X6 F40", "G1 Y1.2", "G1 X0",
             "G1 Y0", "G0 Z0.2"]
    for cx in (1.5, 4.5):
        lines += [f"G0 X{cx - 0.4} Y0.3", "G1 Z-0.06 F20"]
        for k in range(5):
            y = 0.3 + 0.15 * k
            lines += [f"G1 X{cx + 0.4} Y{y:.2f} F40", f"G1 X{cx - 0.4} Y{y + 0.075:.3f}"]
        lines.append("G0 Z0.2")
    lines.append("M5")
    path.write_text("\n".join(lines) + "\n")
    return path


async def _grab(win: ControlRoom, path: Path) -> np.ndarray:
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    QTimer.singleShot(0, lambda: done.set_result(save_screenshot(win, path)))
    return _pixels(await done)


def test_design_review_pictures(qloop, qapp, qtbot, tmp_path: Path) -> None:
    from app.ui.theme import apply_theme

    apply_theme(qapp)  # as the application looks
    out = Path(os.environ.get("IMEWE_SCREENSHOTS") or tmp_path)
    real = MESHES / "bp_case.stl"  # a real enclosure part when the shared corpus is here
    part = real if real.is_file() else _bracket(tmp_path / "bracket.stl")
    printer = _printer_gcode(tmp_path / "vase.gcode")
    cnc = _cnc_gcode(tmp_path / "plate.nc")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            for name, caps in (("Prusa MK4 #1", FDM), ("Prusa MK4 #2", FDM), ("Voron 350", BIG_FDM),
                               ("Form 3", SLA), ("Shapeoko", MILL)):
                await core.fleet.register(name, caps, bring_up=True)
            async with window_at_1366(core, qtbot) as win:
                win.detail_dock.hide()  # the review gets the width; the machine panel is one key away (Ctrl+D)
                review = win.review
                win.show_tab("design review")
                empty = await _grab(win, out / "design-review-empty.png")
                assert empty.shape[1] >= 1300
                win.open_file(str(part))
                await until(lambda: review.pose is not None and review.rows and review.key, timeout=60,
                            what="the part analysed")
                view = review.part_view
                await until(lambda: np.allclose(view.rotation, review.pose.matrix), what="the part turned")
                pts = view.scene.part.all_triangles().reshape(-1, 3)
                world = np.array([view.world_point(tuple(p)) for p in pts[:: max(1, len(pts) // 2000)]])
                top = pts[:: max(1, len(pts) // 2000)][np.argsort(world[:, 2])[-1]]  # the highest corner
                side = pts[:: max(1, len(pts) // 2000)][np.argsort(world[:, 0] - world[:, 1])[-1]]  # the front right
                for corner, text, author in ((top, "Wall too thin here: 1.2 mm, make it 2", "ana"),
                                             (side, "Add a 0.5 mm chamfer on this edge", "bo")):
                    review.note_btn.setChecked(True)
                    x, y = view.display_point(tuple(float(v) for v in corner))
                    hit = next((pt for dx, dy in ((0, 0), (-2, 2), (2, 2), (-4, 4), (4, 4), (0, 6))
                                for pt in [view.pick_at(x + dx, y + dy)] if pt is not None), None)
                    assert hit is not None
                    review.author.setText(author)
                    review.note_text.setText(text)
                    review.save_note()
                    n = len(review.notes)
                    await until(lambda n=n: len(review.notes) == n + 1 or review.pending_point is None,
                                what="the note saved")
                await until(lambda: len(review.notes) == 2, what="two notes")
                await asyncio.sleep(0.5)
                px = await _grab(win, out / "design-review.png")
                assert review.note_table.rowCount() == 2
                assert (px != px[0, 0]).any(axis=2).mean() > 0.2
                win.open_file(str(printer))
                await until(lambda: review.rows and review._facts and review._facts.kind == "gcode", timeout=60,
                            what="the toolpath")
                await asyncio.sleep(0.5)
                await _grab(win, out / "design-review-gcode.png")
                win.open_file(str(cnc))
                await until(lambda: review.rows and review._facts.flavor != "printer", timeout=60, what="the CNC job")
                tv = review.toolpath_view
                assert tv.view_preset == "top"
                await until(lambda: bool(review.key), what="the G-code file's key")
                review.note_btn.setChecked(True)  # a note on the plate's far edge, picked on the toolpath
                assert tv.pick_at(*tv.display_point((76.2, 30.48, -1.524))) is not None
                review.author.setText("bo")
                review.note_text.setText("Deburr this edge after cutting")
                review.save_note()
                await until(lambda: len(review.notes) == 1 and tv.marker_count == 1, what="the toolpath note")
                await asyncio.sleep(0.5)
                await _grab(win, out / "design-review-cnc.png")

    qloop.run_until_complete(scenario())
