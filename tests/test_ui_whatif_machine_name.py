"""The What if tab at 1366 x 768: the machine box shows the whole machine name ("Bambu X1 Carbon bay 3"), not the
"Bambu X" the box was sized to before the machines came in; the chosen name is in its tooltip too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.ui.main_window import ControlRoom
from app.ui.whatif_panel import DOWN, WhatIfPanel
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
LONG = "Bambu X1 Carbon bay 3"


def test_whatif_machine_box_shows_the_whole_name(qloop, qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance())  # the theme's fonts, as the operator sees them

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            await core.fleet.register(LONG, FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.fit_small_screen(1366, 768)
            win.show()
            panel: WhatIfPanel = win.panels["what if"]
            win.tabs.setCurrentWidget(panel)
            try:
                panel.kind.setCurrentText(DOWN)
                await until(lambda: panel.machine.count() == 2, what="the machines")
                panel.machine.setCurrentIndex(panel.machine.findText(LONG))
                await asyncio.sleep(0.2)  # the layout settles
                box = panel.machine
                text_width = box.fontMetrics().horizontalAdvance(LONG)
                # the text area is the box less its arrow; the box must hold the whole name with it
                assert box.width() >= text_width + 20, (box.width(), text_width)
                assert box.isVisible() and box.toolTip() == LONG
            finally:
                win.close()

    qloop.run_until_complete(scenario())
