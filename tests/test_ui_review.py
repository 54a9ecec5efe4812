"""Design review through the real window on a real X server (xvfb-run, QT_QPA_PLATFORM=xcb): a part file opens
by File > Open's path and by drag-and-drop, a reviewer pins a note by picking a point of the part, the note is
still there when the file is opened again in a new window, and the part goes to production and shows in Jobs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from app.core.domain.enums import ProcessType  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui


def _tee(path: Path) -> Path:
    post = trimesh.creation.box((10, 10, 30))
    post.apply_translation((0, 0, 15))
    top = trimesh.creation.box((60, 60, 5))
    top.apply_translation((0, 0, 32.5))
    trimesh.util.concatenate([post, top]).export(path)
    return path


def _drop(win: ControlRoom, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)


def _window(core, tmp_path: Path, qtbot) -> ControlRoom:  # type: ignore[no-untyped-def]
    win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    return win


def test_open_annotate_reopen_and_send_to_production(qloop, qtbot, tmp_path: Path) -> None:
    stl = _tee(tmp_path / "tee bracket.stl")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Prusa MK4", FDM, bring_up=True)
            await core.fleet.register("Mill", MILL, bring_up=True)
            win = _window(core, tmp_path, qtbot)
            try:
                review = win.review
                assert review is not None and review.stack.currentWidget() is review.empty
                assert "Open a part file (Ctrl+O) or drop one here" in review.empty.text()
                assert win.open_action.shortcut().toString() == "Ctrl+O"
                _drop(win, stl)
                assert win.tabs.currentWidget() is review
                await until(lambda: review.pose is not None and review.rows, timeout=60, what="the part analysed")
                await until(lambda: review.machine() is not None and review.machine().name == "Prusa MK4",
                            what="the printer chosen for a mesh")
                await until(lambda: review.pose.label == "upside down", what="the recommended pose on the printer")
                view = review.part_view
                await until(lambda: np.allclose(view.rotation, review.pose.matrix), what="the part turned")
                # as placed: upside down, lowest point on the plate, centred on the 250 x 210 plate
                xmin, xmax, ymin, ymax, zmin, zmax = view._part_actors[0].GetBounds()
                assert zmin == pytest.approx(0, abs=1e-3) and zmax == pytest.approx(35, abs=1e-3)
                assert (xmin + xmax) / 2 == pytest.approx(125, abs=0.01)
                fits = {review.table.item(r, 0).text(): review.table.item(r, 1).text()
                        for r in range(review.table.rowCount())}
                assert fits["Prusa MK4"].startswith("yes") and fits["Mill"].startswith("yes")
                headers = [review.table.horizontalHeaderItem(c).text().replace("\n", " ") for c in range(review.table.columnCount())]
                assert "Material (g)" in headers and "Energy (kWh)" in headers and "CO₂ (kg)" in headers
                assert review.table.item(0, 7).text() != "-"  # an earliest finish from the plan

                # turning the part slows the window's live readings (software GL composes each repaint)
                view.plotter.turn_started.emit()
                assert win.bridge.view_turning
                view.plotter.came_to_rest.emit()
                assert not win.bridge.view_turning

                review.orient_box.setCurrentIndex(1)  # as in the file
                await until(lambda: np.allclose(view.rotation, np.eye(3)), what="the file's own orientation")
                review.orient_box.setCurrentIndex(0)
                await until(lambda: np.allclose(view.rotation, review.pose.matrix), what="recommended again")

                # a note on the post's end (file z = 0: on top once turned upside down), picked on screen
                await until(lambda: bool(review.key), what="the file's key")
                review.note_btn.setChecked(True)
                x, y = view.display_point((0.0, 0.0, 0.0))
                point = view.pick_at(x, y)
                assert point is not None and point[2] == pytest.approx(0.0, abs=0.05)
                assert abs(point[0]) <= 5.01 and abs(point[1]) <= 5.01
                assert review.pending_point == point and not review.note_btn.isChecked()
                review.author.setText("ana")
                review.note_text.setText("round this end: 1 mm fillet")
                review.save_note()
                await until(lambda: len(review.notes) == 1, what="the note saved")
                assert review.note_table.item(0, 2).text() == "round this end: 1 mm fillet"
                assert review.note_table.item(0, 1).text() == "Open" and review.note_table.item(0, 3).text() == "ana"
                assert len(view._marker_actors) == 2  # its marker and its number
                review.note_table.selectRow(0)
                review.toggle_selected_note()
                await until(lambda: review.notes[0].state == "resolved", what="the note resolved")
                assert review.note_table.item(0, 1).text() == "Resolved"
            finally:
                win.close()

            win = _window(core, tmp_path, qtbot)  # the same file again, in a new window
            try:
                review = win.review
                win.open_file(str(stl))
                await until(lambda: len(review.notes) == 1, timeout=60, what="the stored note")
                note = review.notes[0]
                assert note.text == "round this end: 1 mm fillet" and note.state == "resolved"
                await until(lambda: review.rows and review.pose is not None and review.send_btn.isEnabled(),
                            timeout=60, what="ready to send")
                review.quantity.setValue(3)
                assert review.process_box.currentData() == ProcessType.FDM.value
                assert review.material_box.currentText() == "pla"
                sent: list = []
                review.submitted.connect(sent.append)
                review.send_btn.click()
                job = await until(lambda: sent and sent[0], timeout=30, what="the job stored")
                part = job.parts[0]
                assert part.quantity == 3 and part.process is ProcessType.FDM and part.material_type == "pla"
                assert part.size_mm == pytest.approx(review.pose.size_mm, abs=0.01)
                assert job.metadata["orientation"]["label"] == "upside down"
                await until(lambda: any(j.id == job.id for j in win.jobs.model.jobs()), what="the job in Jobs")
                attached = await win.ports.notes.for_part(part.id)
                assert [n.text for n in attached] == ["round this end: 1 mm fillet"]

                # the job detail shows the part in 3D (loaded in the background when its tab opens)
                win.open_job(job.id)
                detail = win.jobs.detail
                await until(lambda: detail.job is not None and detail.job.id == job.id, what="the job's detail")
                detail.tabs.setCurrentWidget(detail.preview)
                await until(lambda: detail.preview.part_view is not None
                            and detail.preview.part_view.analysis is not None, timeout=60, what="the part in 3D")
                assert detail.preview.path == stl
            finally:
                win.close()
        await asyncio.sleep(0)

    qloop.run_until_complete(scenario())


def test_gcode_opens_with_legend_and_flat_cnc_from_the_top(qloop, qtbot, tmp_path: Path) -> None:
    nc = tmp_path / "plate.nc"
    nc.write_text("G20 G90\nM3 S10000\nG0 X0 Y0 Z0.1\nG1 Z-0.05 F20\nG1 X6 F40\nG1 Y1.2\nG1 X0\nG1 Y0\nG0 Z0.2\nM5\n")
    printer = tmp_path / "cube.gcode"
    lines = ["G21", "G90", "M82", ";TYPE:WALL-OUTER"]
    e = 0.0
    for layer in range(5):
        z = 0.2 * (layer + 1)
        lines.append(f"G1 Z{z:.2f} F600")
        for x, y in ((20, 0), (20, 20), (0, 20), (0, 0)):
            e += 1.0
            lines.append(f"G1 X{x} Y{y} E{e:.2f} F1800")
    printer.write_text("\n".join(lines) + "\n")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Mill", MILL, bring_up=True)
            await core.fleet.register("Prusa MK4", FDM, bring_up=True)
            win = _window(core, tmp_path, qtbot)
            try:
                review = win.review
                win.open_action.trigger()  # File > Open: the file dialog, the operator picks the file
                await until(lambda: review.file_dialog is not None and review.file_dialog.isVisible(),
                            what="the file dialog")
                assert win.tabs.currentWidget() is review
                review.file_dialog.selectFile(str(nc))
                review.file_dialog.accept()
                await until(lambda: review.rows, timeout=60, what="the toolpath analysed")
                tv = review.toolpath_view
                assert tv.flat and tv.view_preset == "top"
                assert "inches" in review.pose_label.text() and "152.4 x 30.5" in review.pose_label.text()
                assert "cut" in tv.legend.text()
                by = {c.machine: c for c in review.rows}
                assert by["Mill"].fits and not by["Prusa MK4"].fits
                win.open_file(str(printer))
                await until(lambda: review.rows and review._facts.flavor == "printer", timeout=60, what="printer")
                assert not tv.flat and tv.view_preset == "iso" and "outer wall" in tv.legend.text()  # ;TYPE:WALL-OUTER, in words
                tv.set_color_mode("speed")
                assert "mm/s" in tv.legend.text()
                tv.set_layer(1)
                assert tv.layer_label.text().startswith("layer 2/")
                win.open_file(str(tmp_path / "notes.txt"))  # not a part: one line, nothing changes
                assert review.path == printer
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_imewe_open_file_shows_it_in_design_review(tmp_path: Path, loopback_home) -> None:
    import subprocess
    import sys

    from tests.test_ui_screenshot import ROOT, _pixels

    stl = _tee(tmp_path / "tee.stl")
    out = tmp_path / "open.png"
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="xcb")
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(loopback_home(tmp_path / "home")),
                           "open", str(stl),
                           "--screenshot", str(out), "--after", "4"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    px = _pixels(out)
    dark = np.all(np.abs(px.astype(int) - np.array([0x10, 0x14, 0x18])) <= 3, axis=2).mean()
    assert dark > 0.1  # the part view's dark background (the theme's) fills the Design review tab
    bad = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(tmp_path / "home"), "open",
                          str(tmp_path / "notes.txt")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("imewe: notes.txt: not a part file")
