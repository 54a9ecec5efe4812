"""The machine panel at 1366 x 768 with the theme, on a real X server (xvfb-run, QT_QPA_PLATFORM=xcb): every tab
title is shown whole in the panel's width (no scroll arrows, no "Mainten…"), and a resin printer's material left
reads in grams, the unit every driver reports ``material_remaining`` in (it said ml)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until, window_at_1366  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
SLA = {"process": "sla", "build_volume_mm": [145, 145, 185], "materials": ["resin-standard"],
       "loaded_material": "resin-standard", "max_power_w": 250}


def _themed() -> None:
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance())  # the theme's fonts, as the operator sees them


def test_machine_panel_tabs_all_visible_at_1366(qloop, qtbot, tmp_path: Path) -> None:
    _themed()

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("Ender-3 V2", FDM, bring_up=True)
            async with window_at_1366(core, qtbot, small_screen=True) as win:
                win.open_machine(core.fleet.get(node.id))
                tabs = win.detail.tabs
                bar = tabs.tabBar()
                await until(lambda: bar.isVisible(), what="the panel")
                await asyncio.sleep(0.3)  # the dock's width applied after the first layout
                assert win.width() <= 1366 and win.detail_dock.width() <= 480, win.detail_dock.width()
                metrics = bar.fontMetrics()
                corner = tabs.cornerWidget()
                for i in range(tabs.count()):
                    rect = bar.tabRect(i)
                    title = tabs.tabText(i).replace("&&", "&")
                    assert rect.width() >= metrics.horizontalAdvance(title), title  # not cut to "Mainten…"
                    assert rect.right() <= bar.width(), (title, rect, bar.width())  # not behind the arrows
                    assert bar.mapTo(tabs, rect.topRight()).x() < corner.geometry().left(), title
                assert tabs.tabToolTip(2).startswith("Maintenance and history")

    qloop.run_until_complete(scenario())


def test_resin_left_reads_in_grams(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("Form 3", SLA, bring_up=True)
            await core.fleet.update_live(node.id, material_levels={"resin-standard": 842.0})
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                win.open_machine(core.fleet.get(node.id))
                text = await until(lambda: "Material left: resin-standard" in win.detail.caps.toPlainText()
                                   and win.detail.caps.toPlainText(), what="the material left")
                assert "Material left: resin-standard 842 g" in text, text
                assert " ml" not in text
            finally:
                win.close()

    qloop.run_until_complete(scenario())
