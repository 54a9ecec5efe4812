"""The New job dialog's due date starts two days after the site's own clock, in the site's zone (in the demo
it offered a date five months off, from this computer's clock, in UTC), and its empty part list has its
header at the top, not floating in the middle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
SITE_NOW = datetime(2026, 6, 21, 5, 0, tzinfo=UTC)  # the demo's dawn, far from this computer's date


def test_new_job_due_date_follows_the_site_clock_and_zone(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.live.now = lambda: SITE_NOW
            win.live.zone = ZoneInfo("Europe/Berlin")
            win.show()
            try:
                dialog = win.jobs.open_submit()
                await until(lambda: dialog.isVisible(), what="the dialog")
                assert dialog.due.text() == "2026-06-23 07:00 CEST"
                dialog.has_due.setChecked(True)
                assert dialog.spec()["due_at"] == "2026-06-23T05:00:00Z"
                header = dialog.grid.itemAtPosition(0, 0).widget()
                await until(lambda: header.isVisible(), what="the part list laid out")
                await until(lambda: dialog.grid_host.parentWidget().height() > 200, what="the list's full height")
                top = header.mapTo(dialog.grid_host.parentWidget(), header.rect().topLeft()).y()
                assert top < 20 and header.height() < 2 * header.sizeHint().height()  # its text at the top
                dialog.reject()
            finally:
                win.close()

    qloop.run_until_complete(scenario())
