"""Design review at 1366 x 768 with the machine panel open: the candidates table shows at least three machines
below its header (it showed two), the 3D view above it still on screen; a splitter sits between them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D view needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_review import _tee  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui


def _whole_rows(table) -> int:  # type: ignore[no-untyped-def]
    height = table.viewport().height()
    return sum(1 for r in range(table.rowCount())
               if 0 <= table.rowViewportPosition(r) and table.rowViewportPosition(r) + table.rowHeight(r) <= height)


def test_review_table_shows_more_machines_at_1366x768(qloop, qapp, qtbot, tmp_path: Path) -> None:
    from app.ui.theme import apply_theme

    apply_theme(qapp)  # the theme's fonts, as the operator sees them
    part = _tee(tmp_path / "tee.stl")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            for i in range(5):
                await core.fleet.register(f"Prusa MK4 #{i + 1}", FDM, bring_up=True)
            await core.fleet.register("Shapeoko", MILL, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.fit_small_screen(1366, 768)
            win.show()
            try:
                review = win.review
                win.show_tab("design review")
                win.detail_dock.show()
                win.open_file(str(part))
                await until(lambda: review.pose is not None and review.table.rowCount() >= 6, timeout=60,
                            what="the part and its machines")
                await asyncio.sleep(0.3)  # the layout settles
                assert win.detail_dock.isVisible() and win.height() <= 768
                shown = _whole_rows(review.table)
                assert shown >= 3, (shown, review.table.viewport().height())
                assert review.part_view.plotter.height() >= 110, review.part_view.plotter.height()  # the part is still seen
                if os.environ.get("IMEWE_SHOTS"):  # a picture to look at
                    win.grab().save(str(Path(os.environ["IMEWE_SHOTS"]) / "design-review-rows-1366.png"))
            finally:
                win.close()

    qloop.run_until_complete(scenario())
