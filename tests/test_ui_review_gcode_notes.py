"""Notes on a G-code file in Design review, through the real window on a real X server (xvfb-run, xcb): a click on
a move of the toolpath pins a note there, it is listed beside the view with a numbered marker on the toolpath, it
is found again when the same file is opened in a new window, and it goes with the part to production."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.core.domain.enums import ProcessType  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
# a 6 x 1.2 inch pocket outline, 0.05 inch deep: 152.4 x 30.48 mm at z -1.27 mm
PLATE = "G20 G90\nM3 S10000\nG0 X0 Y0 Z0.1\nG1 Z-0.05 F20\nG1 X6 F40\nG1 Y1.2\nG1 X0\nG1 Y0\nG0 Z0.2\nM5\n"


def _window(core, tmp_path: Path, qtbot) -> ControlRoom:  # type: ignore[no-untyped-def]
    win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    return win


def test_a_note_pinned_on_a_toolpath_is_kept_and_travels(qloop, qtbot, tmp_path: Path) -> None:
    nc = tmp_path / "plate.nc"
    nc.write_text(PLATE)

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Mill", MILL, bring_up=True)
            await core.fleet.register("Prusa MK4", FDM, bring_up=True)
            win = _window(core, tmp_path, qtbot)
            try:
                review = win.review
                win.open_file(str(nc))
                await until(lambda: review.rows and bool(review.key), timeout=60, what="the toolpath and its key")
                tv = review.toolpath_view
                assert review.note_btn.isEnabled() and "toolpath" in review.note_hint.text()
                review.note_btn.setChecked(True)
                assert "toolpath" in review.note_hint.text()
                assert tv.pick_at(3, 3) is None  # empty background: no point, nothing pending
                assert review.pending_point is None
                x, y = tv.display_point((76.2, 30.48, -1.27))  # the middle of the far long side
                point = tv.pick_at(x, y)
                assert point is not None, "the click on the toolpath found no move"
                assert point[0] == pytest.approx(76.2, abs=3) and point[1] == pytest.approx(30.48, abs=1)
                assert point[2] == pytest.approx(-1.27, abs=0.05)
                assert review.pending_point == point and not review.note_btn.isChecked()
                assert "on the toolpath" in review.note_hint.text()
                review.author.setText("bo")
                review.note_text.setText("deburr this edge")
                review.save_note()
                await until(lambda: len(review.notes) == 1, what="the note saved")
                assert review.note_table.item(0, 2).text() == "deburr this edge"
                assert review.note_table.item(0, 3).text() == "bo" and review.note_table.item(0, 1).text() == "Open"
                assert tv.marker_count == 1 and len(tv._marker_actors) == 2  # its marker and its number
            finally:
                win.close()

            win = _window(core, tmp_path, qtbot)  # the same file again, in a new window
            try:
                review = win.review
                win.open_file(str(nc))
                await until(lambda: len(review.notes) == 1, timeout=60, what="the stored note")
                assert review.notes[0].text == "deburr this edge"
                tv = review.toolpath_view
                await until(lambda: tv.marker_count == 1, timeout=60, what="the note's marker on the toolpath")
                await until(lambda: review.send_btn.isEnabled(), timeout=60, what="ready to send")
                assert review.process_box.currentData() == ProcessType.CNC_MILL.value
                sent: list = []
                review.submitted.connect(sent.append)
                review.send_btn.click()
                job = await until(lambda: sent and sent[0], timeout=30, what="the job stored")
                await until(lambda: review.notes and review.notes[0].part_id == job.parts[0].id, timeout=10,
                            what="the note attached to the part")
                attached = await win.ports.notes.for_part(job.parts[0].id)
                assert [n.text for n in attached] == ["deburr this edge"]
            finally:
                win.close()

    qloop.run_until_complete(scenario())
