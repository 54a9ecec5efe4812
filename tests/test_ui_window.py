"""The window's frame: shortcuts reach their actions, the About box names versions, the status bar tells the
site, kernel health and demo time scale."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app import __version__
from app.ui.about import about_text, versions
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def test_shortcuts_about_and_status_bar(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            win.activateWindow()
            win.windowHandle().requestActivate()
            try:
                # shortcuts act in the active window, as on the operator's screen
                await until(lambda: win.isActiveWindow(), what="the window to become active")
                QTest.keyClick(win, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
                assert win.tabs.currentWidget() is win.timeline
                QTest.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
                await until(lambda: win.jobs.dialog is not None and win.jobs.dialog.isVisible(), what="the dialog")
                win.jobs.dialog.reject()
                QTest.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
                assert win.tabs.currentWidget() is win.fleet and win.fleet.search.hasFocus()

                v = versions()
                assert v["Imewe"] == __version__ and v["Qt"] and v["pyqtgraph"] != "not installed"
                text = about_text(win.ports.site)
                assert core.config.site_name in text and str(core.config.paths.home) in text
                assert str(core.config.paths.logs) in text  # where support finds the log

                win.status.refresh()
                assert win.status.site.text() == f"Site: {core.config.site_name}"
                assert win.status.health.text() == "Kernel: OK"
                assert win.status.machines.text() == "Machines: 1 online / 1"
                await until(lambda: win.status.jobs.text().startswith("Running jobs: 0"), what="the job count")
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_extra_tabs_are_built_when_first_shown(qloop, qtbot, tmp_path: Path) -> None:
    """Issue 17: the first frame does not wait for the energy, sites, review, what-if and admin panels; each is
    built when its tab is first shown (Ctrl+5 here) or asked for, in its own place, once."""
    from app.ui.energy_panel import EnergyPanel
    from app.ui.review_panel import ReviewPanel

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            win.activateWindow()
            win.windowHandle().requestActivate()
            try:
                titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
                assert titles[4:] == [spec.title for spec in ControlRoom.EXTRA_TABS] and titles[4] == "Energy"
                assert all(win.panels.built(name) is None for name in win.panels)  # nothing built yet
                await until(lambda: win.isActiveWindow(), what="the window to become active")
                QTest.keyClick(win, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
                energy = win.tabs.currentWidget()
                assert isinstance(energy, EnergyPanel) and energy.isVisible()
                assert win.panels.built("energy") is energy and win.tabs.indexOf(energy) == 4
                review = win.panels["design review"]  # asked for by code (a file to open): built, not shown
                assert isinstance(review, ReviewPanel) and win.tabs.indexOf(review) == titles.index("Design review")
                assert win.tabs.currentWidget() is energy
                win.show_tab("design review")
                assert win.tabs.currentWidget() is review and win.panels["design review"] is review
                assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == titles
                assert win.panels.built("sites") is None and win.panels.built("admin") is None
            finally:
                win.close()

    qloop.run_until_complete(scenario())
