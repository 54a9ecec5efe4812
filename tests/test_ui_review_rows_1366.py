"""Design review at 1366 x 768 with the machine panel open: the candidates table shows at least three machines
below its header (it showed two) and the 3D view is at least 300 px high (it was 120: the part's size and pose
lines sat under it; they are in the Part tab beside it now), with no label, button or the machine's name cut."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D view needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from PySide6.QtWidgets import QComboBox, QLabel, QPushButton  # noqa: E402

from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_review import _tee  # noqa: E402
from tests.test_ui_review_screenshot import _printer_gcode  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, until, window_at_1366  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui


def _whole_rows(table) -> int:  # type: ignore[no-untyped-def]
    height = table.viewport().height()
    return sum(1 for r in range(table.rowCount())
               if 0 <= table.rowViewportPosition(r) and table.rowViewportPosition(r) + table.rowHeight(r) <= height)


MIN_VIEW_PX = 300


def _cut(root) -> list[str]:  # type: ignore[no-untyped-def]
    """The visible labels, buttons and combo boxes of ``root`` whose text does not fit them (the file's name may be
    cut: its tooltip has the path)."""
    out = []
    for w in root.findChildren(QLabel):
        if not w.isVisible() or not w.text() or w.objectName() == "title":
            continue
        need = w.heightForWidth(w.width()) if w.wordWrap() else w.sizeHint().height()
        if w.height() < need or (not w.wordWrap() and w.width() < w.sizeHint().width()):
            out.append(f"label {w.text()!r} {w.width()}x{w.height()}")
    for w in root.findChildren(QPushButton):
        if w.isVisible() and w.text() and w.width() < w.fontMetrics().horizontalAdvance(w.text()) + 8:
            out.append(f"button {w.text()!r} {w.width()}")
    for w in root.findChildren(QComboBox):
        if w.isVisible() and w.width() < w.fontMetrics().horizontalAdvance(w.currentText()) + 24:
            out.append(f"combo {w.currentText()!r} {w.width()}")
    return out


def test_review_table_shows_more_machines_at_1366x768(qloop, qapp, qtbot, tmp_path: Path) -> None:
    from app.ui.theme import apply_theme

    apply_theme(qapp)  # the theme's fonts, as the operator sees them
    part = _tee(tmp_path / "tee.stl")
    gcode = _printer_gcode(tmp_path / "vase.gcode")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            for i in range(5):
                await core.fleet.register(f"Prusa MK4 #{i + 1}", FDM, bring_up=True)
            await core.fleet.register("Shapeoko", MILL, bring_up=True)
            async with window_at_1366(core, qtbot, small_screen=True) as win:
                review = win.review
                win.show_tab("design review")
                win.detail_dock.show()
                win.open_file(str(part))
                await until(lambda: review.pose is not None and review.table.rowCount() >= 6, timeout=60,
                            what="the part and its machines")
                await asyncio.sleep(0.3)  # the layout settles
                if os.environ.get("IMEWE_SHOTS"):  # a picture to look at
                    win.grab().save(str(Path(os.environ["IMEWE_SHOTS"]) / "design-review-rows-1366.png"))
                assert win.detail_dock.isVisible() and win.height() <= 768
                shown = _whole_rows(review.table)
                assert shown >= 3, (shown, review.table.viewport().height())
                view = review.part_view.plotter
                assert view.height() >= MIN_VIEW_PX, view.height()  # the part is seen, not a strip
                assert review.side.currentWidget() is review.part_scroll and review.part_view.info.isVisible()
                assert "mm" in review.part_view.info.text() and "mm" in review.pose_label.text()  # units beside it
                assert not _cut(review), _cut(review)
                assert not review.part_scroll.verticalScrollBar().isVisible()  # the Part tab reads without scrolling

                review.note_btn.setChecked(True)  # a note is typed in the Notes tab: it comes to the front
                assert review.side.currentWidget() is review.notes_box
                review.note_btn.setChecked(False)
                assert not _cut(review), _cut(review)

                win.open_file(str(gcode))  # a toolpath: the same room for the view, its facts beside it
                await until(lambda: review.rows and review._facts and review._facts.kind == "gcode", timeout=60,
                            what="the toolpath")
                await asyncio.sleep(0.3)
                if os.environ.get("IMEWE_SHOTS"):
                    win.grab().save(str(Path(os.environ["IMEWE_SHOTS"]) / "design-review-gcode-1366.png"))
                assert review.toolpath_view.plotter.height() >= MIN_VIEW_PX, review.toolpath_view.plotter.height()
                assert not review.toolpath_view.info.isHidden() and review.part_view.info.isHidden()  # its facts, not the last part's
                assert _whole_rows(review.table) >= 3
                assert review.toolpath_view.legend.isVisible()  # its colour key beside it, whichever tab is shown
                review.side.setCurrentWidget(review.part_scroll)
                await asyncio.sleep(0.1)
                assert not _cut(review), _cut(review)
                assert not review.part_scroll.verticalScrollBar().isVisible()

    qloop.run_until_complete(scenario())
