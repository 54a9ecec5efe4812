"""The operator's day in the real window: a simulated machine runs a real job and the jobs list, the fleet and the
machine panel say how long is left and when it ends; states read as words; the e-stop confirmation's stop is red;
a simulated machine is added from the window; and the window fits a 1366 x 768 screen with every tab usable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, NodeState, ProcessType
from app.core.domain.states import StateChange
from app.core.jobs.eta import duration_label, finish_label, job_eta, running_since, time_left_s
from app.ui.fleet_model import ETA_COL as FLEET_ETA_COL
from app.ui.jobs_model import ETA_COL
from app.ui.machine_detail import WORK_FIELDS, job_line, job_progress_text
from app.ui.main_window import MIN_SIZE, ControlRoom
from app.ui.words import job_state_word, node_state_word, process_word
from tests import test_ui_support as ui
from tests.helpers import job_spec
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
LEFT = re.compile(r"^\d+ (s|min|h \d\d min|d \d+ h)$")
CLOCK = re.compile(r"\d\d:\d\d$")


def test_time_left_follows_the_estimate_then_the_rate_seen() -> None:
    assert time_left_s(3600, 0.0) == 3600
    assert time_left_s(3600, 0.5) == 1800  # no elapsed time: the estimate scaled
    # half done after 40 min where 30 were planned: the rate seen says 40 min more (within the factor bound)
    assert time_left_s(3600, 0.5, elapsed_s=2400) == pytest.approx(2400)
    assert time_left_s(3600, 0.01, elapsed_s=9999) == pytest.approx(3564)  # 1 %: warm-up noise, not trusted
    assert time_left_s(600, 0.5, elapsed_s=1e6) == pytest.approx(900)  # a clock jump moves it 3x at most
    assert duration_label(40) == "40 s" and duration_label(125 * 60) == "2 h 05 min"
    now = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
    assert finish_label(now + timedelta(hours=2), now, UTC) == "12:00"
    assert finish_label(now + timedelta(days=1), now, UTC) == "Mon 22 Jun 10:00"  # the date when not today


def test_a_job_ends_when_its_busiest_machine_does() -> None:
    from app.core.domain.entities import Job, Part

    now = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
    job = Job("brackets", state=JobState.IN_PROGRESS)
    a, b = object(), object()
    job.parts = [Part(job.id, "p1", ProcessType.FDM, "pla", (10, 10, 10), state=JobState.IN_PROGRESS,
                      assigned_node=a, estimated_duration_s=3600, progress=50.0),  # type: ignore[arg-type]
                 Part(job.id, "p2", ProcessType.FDM, "pla", (10, 10, 10), state=JobState.SCHEDULED,
                      assigned_node=a, estimated_duration_s=600),  # type: ignore[arg-type]
                 Part(job.id, "p3", ProcessType.FDM, "pla", (10, 10, 10), state=JobState.IN_PROGRESS,
                      assigned_node=b, estimated_duration_s=1200, progress=10.0)]  # type: ignore[arg-type]
    eta = job_eta(job, now)
    assert eta is not None and eta.left_s == pytest.approx(1800 + 600)  # machine a: the rest of p1, then p2
    job.state = JobState.COMPLETED
    assert job_eta(job, now) is None
    started = [StateChange("part", job.parts[0].id, "ASSIGNED", "IN_PROGRESS", now - timedelta(minutes=30)),
               StateChange("part", job.parts[0].id, "IN_PROGRESS", "PAUSED", now - timedelta(minutes=20)),
               StateChange("part", job.parts[0].id, "PAUSED", "IN_PROGRESS", now - timedelta(minutes=10))]
    assert running_since(started, now) == {job.parts[0].id: pytest.approx(1800)}  # a resume is not a new start


def test_the_machine_panel_names_the_jobs_progress_and_the_parts() -> None:
    """A job of four parts, two made, the third running at 92 %: the job is 73 % done, and this is its part 3."""
    job = Job("brackets")
    job.parts = [Part(job.id, f"bracket {i}", ProcessType.FDM, "pla", (10, 10, 10)) for i in range(4)]
    job.parts[0].progress = job.parts[1].progress = 100.0
    job.parts[2].progress = 80.0  # stored; the machine reports more since
    assert job_progress_text(job, job.parts[2], 0.92) == "Job: 73 % (part 3 of 4)"
    assert job_line({"progress": 0.92, "layer": 40}, (job, job.parts[2]), 0.92) == "Job: 73 % (part 3 of 4)  ·  layer 40"
    job.parts[3].quantity = 4  # four of the last part: it weighs four times as much
    assert job_progress_text(job, job.parts[2], 0.92) == "Job: 42 % (part 3 of 4)"
    assert job_line({"progress": 0.92}) == "This part: 92 %"  # no job known: the machine's own figure


def test_words_replace_enum_names() -> None:
    assert job_state_word(JobState.IN_PROGRESS, {ProcessType.FDM}) == "Printing"
    assert job_state_word(JobState.IN_PROGRESS, {ProcessType.CNC_MILL}) == "Machining"
    assert job_state_word(JobState.SCHEDULED) == "Queued"
    assert process_word(ProcessType.CNC_MILL) == "CNC mill" and process_word("cnc_mill") == "CNC mill"
    assert node_state_word(NodeState.EXECUTING, ProcessType.LASER) == "Cutting"
    for state in NodeState:
        assert "_" not in node_state_word(state) and not node_state_word(state).isupper()


def test_a_running_simulated_job_shows_time_left_everywhere(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("Sim FDM", FDM, bring_up=True)  # a simulated machine, driven
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                job = await core.jobs.submit(job_spec("bracket", parts=1), actor="test")
                await until(lambda: any(j.id == job.id and j.state is JobState.IN_PROGRESS
                                        for j in win.jobs.model.jobs()), timeout=20, what="the job to run")
                row = win.jobs.model.row_of(job.id)
                state = win.jobs.model.index(row, 1).data()
                assert state == "Printing"  # not IN_PROGRESS
                eta_text = await until(lambda: win.jobs.model.index(win.jobs.model.row_of(job.id), ETA_COL).data(),
                                       what="the ETA column")
                left, finish = eta_text.split(" · ")
                assert LEFT.match(left) and CLOCK.search(finish), eta_text
                assert left != "0 s"  # the plan's end stands in for a part with no estimate of its own
                assert win.jobs.model.headerData(ETA_COL, Qt.Orientation.Horizontal) == "Left · done at"

                # the fleet's table and tile
                fleet_row = win.fleet_model.row_of(node.id)
                await until(lambda: win.fleet_model.index(fleet_row, FLEET_ETA_COL).data(), what="the fleet ETA")
                assert win.fleet_model.index(fleet_row, 2).data() == "Printing"
                assert win.fleet_model.index(fleet_row, 1).data() == "FDM printer"

                # the machine panel: what runs, how long it has run, how long is left, when it ends
                win.open_machine(core.fleet.get(node.id))
                await until(lambda: win.detail.work["left"].text() != "–", what="the machine panel's time left")
                assert win.detail.work["file"].text().startswith("bracket")
                assert LEFT.match(win.detail.work["left"].text())
                assert CLOCK.search(win.detail.work["finish"].text())
                assert win.detail.work["elapsed"].text() != "–"  # the part's start was seen
                # the job's progress and the part's, each named: "Job: 40 % (part 1 of 1)" above "This part: 40 %"
                await until(lambda: win.detail.job_line.text().startswith("Job: "), timeout=20,
                            what="the job's progress")
                assert re.match(r"Job: \d+ % \(part 1 of 1\)", win.detail.job_line.text()), win.detail.job_line.text()
                assert dict(WORK_FIELDS)["progress"] == "This part"
                assert win.detail.state.text() == "Printing" and "FDM printer" in win.detail.title.text()
                await until(lambda: "→" in win.detail.readouts.text(), what="current → target readouts")
                assert re.search(r"\d+ → \d+ °C", win.detail.readouts.text())
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_estop_confirmation_stop_is_red_and_cancel_neutral(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                win.fleet.select(node.id)
                win.estop_action.trigger()
                box = win.detail.confirm_box
                assert box is not None
                await until(box.isVisible, what="the confirmation")
                stop, cancel = box.button(QMessageBox.StandardButton.Yes), box.button(QMessageBox.StandardButton.No)
                assert stop.text() == "STOP NOW" and cancel.text() == "Cancel"
                red = _button_colour(stop)
                grey = _button_colour(cancel)
                assert red.red() > 150 and red.green() < 60 and red.blue() < 60, red.name()
                assert abs(grey.red() - grey.blue()) < 40 and grey.red() < 100, grey.name()  # neutral, not red
                cancel.click()
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def _button_colour(button: QWidget) -> QColor:
    """The colour the button is painted with: the middle of its rendered picture, away from the text."""
    image = button.grab().toImage()
    return QColor(image.pixel(6, image.height() // 2))


def test_add_a_simulated_machine_from_the_window(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                assert win.fleet.stack.currentWidget() is win.fleet.empty  # an empty site
                win.fleet.add_button.click()  # the empty state's button, no command line
                dialog = await until(lambda: win.add_dialog, what="the dialog")
                dialog.pages.setCurrentIndex(1)
                assert dialog.page() == "simulated"
                dialog.sim_process.setCurrentIndex(dialog.sim_process.findData("cnc_mill"))
                assert dialog.sim_process.currentText() == "CNC mill"
                dialog.sim_name.setText("Sim mill")
                dialog.add_button.click()
                await until(lambda: any(n.name == "Sim mill" for n in core.fleet.list()), what="the machine")
                node = next(n for n in core.fleet.list() if n.name == "Sim mill")
                assert node.process is ProcessType.CNC_MILL and node.driver == "sim"
                await until(lambda: node.id in core.machines.links, what="its simulated driver")
                await until(lambda: win.fleet_model.row_of(node.id) is not None, what="the new tile")
                await until(lambda: not dialog.isVisible(), what="the dialog to close")

                # a duplicate name is one line in the dialog; nothing else registered
                again = win.open_add_machine()
                again.pages.setCurrentIndex(1)
                again.sim_name.setText("Sim mill")
                again.add_button.click()
                await until(lambda: "already registered" in again.error.text(), what="the error line")
                assert len(core.fleet.list()) == 1
                again.reject()

                # the serial page scans off the UI thread and says so when nothing answers
                again = win.open_add_machine()
                again.pages.setCurrentIndex(2)
                again.scan_button.click()
                assert not again.scan_button.isEnabled()  # the window keeps running while ports are asked
                await until(lambda: again.scan_button.isEnabled(), timeout=30, what="the scan to end")
                assert again.serial_status.text()
                again.reject()
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_window_fits_1366_by_768_with_every_tab_usable(qloop, qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance())  # the operator's window has the theme's fonts and padding

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Sim FDM", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.fit_small_screen(1366, 740)  # 768 less a task bar
            win.show()
            try:
                assert MIN_SIZE[0] <= 1366 and MIN_SIZE[1] <= 700
                hint = win.minimumSizeHint()
                assert hint.width() <= 1366 and hint.height() <= 740, hint
                await until(lambda: win.width() <= 1366 and win.height() <= 740, what="the window size")
                assert win.detail_dock.isVisible() and win.panel_action.isCheckable()
                bar = win.tabs.tabBar()
                for i in range(win.tabs.count()):
                    win.tabs.setCurrentIndex(i)
                    await until(lambda i=i: win.tabs.currentIndex() == i, what="the tab")
                    rect = bar.tabRect(i)
                    assert rect.right() <= bar.width() and rect.width() > 40, win.tabs.tabText(i)  # visible
                    page = win.tabs.currentWidget()
                    need = page.minimumSizeHint()
                    have = win.tabs.contentsRect()
                    assert need.width() <= have.width() and need.height() <= have.height(), (
                        win.tabs.tabText(i), need, have)
                need = win.detail.minimumSizeHint()
                assert need.width() <= win.detail_dock.width(), (need, win.detail_dock.width())
                win.panel_action.trigger()  # fold the machine panel away: the tabs get the room
                await until(lambda: not win.detail_dock.isVisible(), what="the panel to fold")
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_empty_alerts_and_sites_say_what_they_would_show(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            from app.bootstrap import wire_site_services

            wire_site_services(core, discovery=False)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                win.show_tab("alerts")
                assert win.alerts.empty.isVisible() and not win.alerts.table.isVisible()
                assert "No open alerts" in win.alerts.empty.text() and "Acknowledge" in win.alerts.empty.text()
                win.show_tab("sites")
                sites = win.panels["sites"]
                assert sites.empty.isVisible()
                assert core.sites.identity.site_id in sites.empty.text() and "Pair a site" in sites.empty.text()
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_checkboxes_show_on_the_dark_theme(qtbot) -> None:
    from PySide6.QtWidgets import QCheckBox

    from app.ui.theme import QSS

    box = QCheckBox("show acknowledged")
    box.setStyleSheet(QSS.read_text(encoding="utf-8"))
    qtbot.addWidget(box)
    box.resize(220, 30)
    box.show()

    def frame_pixels() -> int:
        img = box.grab().toImage()
        return sum(1 for x in range(0, 24) for y in range(img.height())
                   if QColor(img.pixel(x, y)).lightness() > 140)  # the indicator's light frame on the dark ground

    assert frame_pixels() > 20
    box.setChecked(True)
    img = box.grab().toImage()
    blue = sum(1 for x in range(0, 24) for y in range(img.height()) if QColor(img.pixel(x, y)).blue() > 200
               and QColor(img.pixel(x, y)).red() < 120)
    assert blue > 20  # ticked reads as filled blue


@pytest.mark.slow
def test_the_demo_raises_real_alerts_in_its_first_minutes(tmp_path: Path) -> None:
    import asyncio

    from app import bootstrap
    from app.core.config import load_config

    async def go() -> set[str]:
        config = load_config(home=str(tmp_path / "home"))
        core = bootstrap.build_demo_core(config, scale=600)
        await core.kernel.boot()
        await bootstrap.start_demo(core)
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 40
            while loop.time() < end:
                kinds = {a.type for a in core.telemetry.alerts.open_alerts()}
                if {"thermal_runaway", "material_low"} <= kinds:  # the rules name a sagging heater so
                    break
                await asyncio.sleep(0.5)
            return kinds
        finally:
            await bootstrap.stop_demo(core)
            await core.kernel.shutdown()

    kinds = asyncio.run(go())
    assert {"thermal_runaway", "material_low"} <= kinds, kinds  # a heater fault and a low-material warning
