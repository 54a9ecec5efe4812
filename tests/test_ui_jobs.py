"""Submitting a job through the dialog: it lands in the list and in the store; a bad part shows its error
beside the field and stores nothing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.core.domain.enums import JobState
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def _drop(widget, paths: list[Path]) -> bool:
    """Real drag-enter and drop events with file URLs, as the window manager delivers them; returns whether
    the widget accepted the drag."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return True


def test_submit_through_dialog_stores_the_job_and_lists_it(qloop, qtbot, tmp_path: Path, shared: Path) -> None:
    cube = shared / "data" / "meshes" / "20mm-xyz-cube.stl"
    vase = shared / "data" / "gcode" / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode"

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-1", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                dialog = win.jobs.open_submit()
                assert not _drop(dialog, [shared / "data" / "SOURCES.md"])  # not a part file: refused
                assert _drop(dialog, [cube, vase])
                assert len(dialog.rows) == 2  # one part per file
                # the size comes from the files, read off the UI thread
                await until(lambda: all(r.size.text() for r in dialog.rows), timeout=30.0, what="sizes from the files")
                assert dialog.rows[0].size.text() == "20 x 20 x 20"
                dialog.rows[1].size.setText("100 x 100 x 150")  # travel moves make the path bigger than the part
                dialog.rows[0].quantity.setValue(3)
                dialog.name.setText("Cube and vase")
                dialog.priority.setValue(8)
                dialog.submit_btn.click()
                await until(lambda: not dialog.isVisible() or dialog.error.isVisible() or any(r.error.isVisible() for r in dialog.rows), what="the dialog to close")
                assert not dialog.isVisible(), [dialog.error.text()] + [r.error.text() for r in dialog.rows]

                stored = await core.jobs.list()
                assert [j.name for j in stored] == ["Cube and vase"]
                job = stored[0]
                assert job.priority == 8 and job.state is JobState.VALIDATED
                assert [(p.name, p.quantity, p.material_type) for p in job.parts] == [
                    ("20mm-xyz-cube", 3, "pla"), ("gcode-preview_vase_prusaslicer2.7.4_ender", 1, "pla")]
                assert job.parts[0].size_mm == (20.0, 20.0, 20.0)
                assert job.parts[0].file_path == str(cube)

                await until(lambda: win.jobs.model.row_of(job.id) is not None, what="the job in the list")
                row = win.jobs.proxy.mapFromSource(win.jobs.model.index(win.jobs.model.row_of(job.id), 1))
                assert row.isValid() and row.data() == "Checked"  # words, not the enum name
                await until(lambda: win.jobs.detail.job is not None and win.jobs.detail.job.id == job.id,
                            what="the job's detail")
                assert win.jobs.detail.parts.rowCount() == 2
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_bad_part_shows_the_error_beside_its_field_and_stores_nothing(qloop, qtbot, tmp_path: Path,
                                                                      shared: Path) -> None:
    cube = shared / "data" / "meshes" / "20mm-xyz-cube.stl"

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-1", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                dialog = win.jobs.open_submit()
                dialog.add_files([cube])
                await until(lambda: dialog.rows[0].size.text(), what="the size from the file")
                row = dialog.rows[0]
                row.material.setEditText("unobtainium")
                dialog.submit_btn.click()
                await until(lambda: row.error.isVisible(), what="the part's error")
                assert "unknown material" in row.error.text()
                assert row.material.property("invalid") is True
                assert row.size.property("invalid") is not True
                assert dialog.isVisible()

                # a part no machine here can make: the error names the reason, on that part's row
                row.material.setEditText("pla")
                row.size.setText("900 x 20 x 20")
                dialog.submit_btn.click()
                await until(lambda: "does not fit" in row.error.text(), what="the feasibility error")
                assert row.material.property("invalid") is False

                # an empty job name is reported beside the name
                row.size.setText("20 x 20 x 20")
                dialog.name.setText("   ")
                dialog.submit_btn.click()
                await until(lambda: dialog.name_error.isVisible(), what="the name error")
                assert "job name is empty" in dialog.name_error.text()

                assert await core.jobs.list() == []
                assert await core.jobs.counts_by_state() == {}
            finally:
                win.close()

    qloop.run_until_complete(scenario())
