"""One job: its parts and machines, its timeline of state changes, its parts in 3D, and what an operator can do
with it. The 3D tab loads the selected part's file in the background when the tab is opened."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, ProcessType
from app.core.fleet.service import FleetService
from app.core.jobs.eta import DurationEstimate, duration_label
from app.core.jobs.service import JobService
from app.core.jobs.waiting import job_state_text, part_state_text, waiting_for, waiting_note
from app.ui.confirm import confirm
from app.ui.preview_pane import PreviewPane
from app.ui.review_estimates import ANALYTIC_MARK, analytic_tip
from app.ui.tasks import spawn
from app.ui.theme import JOB_COLOURS
from app.ui.words import job_state_word, process_word

S = JobState
TIME_COL = 7
FINISHED = (S.COMPLETED, S.CANCELLED, S.FAILED)
log = logging.getLogger(__name__)


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.horizontalHeader().setStretchLastSection(True)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return t


def _word(state: str | None, processes: set[ProcessType]) -> str:
    """A state change's side in words: a CNC part "Machining", a printed one "Printing", never ``IN_PROGRESS``."""
    return job_state_word(state, processes) if state else "-"


def _fill(t: QTableWidget, rows: list[list[str]]) -> None:
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            t.setItem(r, c, QTableWidgetItem(text))
    t.resizeColumnsToContents()


class JobDetail(QWidget):
    message = Signal(str)
    changed = Signal(object)  # job id

    def __init__(self, jobs: JobService, fleet: FleetService, parent: QWidget | None = None, *,
                 estimates: Callable[[list[Part]], dict[UUID, DurationEstimate]] | None = None,
                 busy: Callable[[], Mapping[UUID, UUID]] | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.fleet = fleet
        self.estimates = estimates  # the learning port (None: the analytic estimates, said so)
        self.busy = busy or dict  # machine id -> the part it runs now (the window's live readings)
        self.job: Job | None = None
        self.confirm_box: QMessageBox | None = None
        self.title = QLabel("Select a job")
        self.title.setObjectName("title")
        self.state = QLabel()
        self.priority = QSpinBox(minimum=1, maximum=10)
        self.set_priority = QPushButton("Set priority")
        self.reschedule = QPushButton("Reschedule")
        self.cancel = QPushButton("Cancel job")
        # The job's name gets a row of its own: beside the buttons it was cut at 1366 px ("Select a jol").
        self.title.setWordWrap(True)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.state)
        head = QHBoxLayout()
        head.addStretch(1)
        head.addWidget(QLabel("Priority"))
        head.addWidget(self.priority)
        head.addWidget(self.set_priority)
        head.addWidget(self.reschedule)
        head.addWidget(self.cancel)
        self.parts = _table(["Part", "Process", "Material", "Qty", "State", "Progress", "Machine", "Time",
                             "Size (mm)"])
        self.timeline = _table(["When", "What", "From → to", "Reason", "By"])
        self.preview = PreviewPane("Select a job: its parts show here in 3D")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.parts, "Parts")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.preview, "3D")
        self.tabs.currentChanged.connect(lambda _i: self._preview())
        self.parts.itemSelectionChanged.connect(self._preview)
        lay = QVBoxLayout(self)
        lay.addLayout(title_row)
        lay.addLayout(head)
        lay.addWidget(self.tabs, 1)
        self.set_priority.clicked.connect(self._set_priority)
        self.reschedule.clicked.connect(self._reschedule)
        self.cancel.clicked.connect(self._ask_cancel)
        self._buttons()

    def show_job(self, job_id: UUID) -> None:
        async def load() -> tuple[Job, list]:
            return await self.jobs.get(job_id), await self.jobs.timeline(job_id)

        spawn(load(), lambda r: self._show(*r), lambda e: self.message.emit(str(e)))

    def reload(self) -> None:
        if self.job is not None:
            self.show_job(self.job.id)

    def _show(self, job: Job, timeline: list) -> None:
        self.job = job
        self.title.setText(job.name)
        busy = self.busy()
        self.state.setText(f"{job_state_text(job, busy)}  ·  {job.progress:.0f} %")
        waits = waiting_for(job, busy)
        self.state.setToolTip(waiting_note(self._machine(n) for n in waits) if waits else "")
        self.state.setStyleSheet(f"color: {JOB_COLOURS.get(job.state, '#8b949e')}; font-weight: bold;")
        self.priority.setValue(job.priority)
        names = {p.id: p.name for p in job.parts}
        every = {p.process for p in job.parts}
        kinds = {p.id: {p.process} for p in job.parts}
        times = self._times(job)
        _fill(self.parts, [[p.name, process_word(p.process), p.material_type, str(p.quantity),
                            part_state_text(p, busy),
                            f"{p.progress:.0f} %", self._machine(p.assigned_node), times[p.id][0],
                            " x ".join(f"{v:g}" for v in p.size_mm)] for p in job.parts])
        for r, p in enumerate(job.parts):
            item = self.parts.item(r, TIME_COL)
            if item is not None:
                item.setToolTip(times[p.id][1])
        _fill(self.timeline, [[c.at.strftime("%Y-%m-%d %H:%M:%S"),
                               "job" if c.kind == "job" else f"part {names.get(c.obj_id, '')}",
                               f"{_word(c.from_state, kinds.get(c.obj_id, every))} → {_word(c.to_state, kinds.get(c.obj_id, every))}", c.reason, c.actor]
                              for c in sorted(timeline, key=lambda c: c.at)])
        self._buttons()
        self._preview()

    def _times(self, job: Job) -> dict[UUID, tuple[str, str]]:
        """Part id -> (its time on its machine, why that figure): learned with the 80 % interval, or the
        analytic estimate, flagged with the reason nothing learned is used."""
        found: dict[UUID, DurationEstimate] = {}
        if self.estimates is not None:
            try:
                found = self.estimates([p for p in job.parts if p.state not in FINISHED])
            except Exception:  # noqa: BLE001 - the analytic figures stay; the job must still show
                log.exception("learned durations of %s could not be read", job.name)
        out: dict[UUID, tuple[str, str]] = {}
        for p in job.parts:
            est = found.get(p.id)
            if est is None and p.estimated_duration_s > 0:
                est = DurationEstimate.analytic(float(p.estimated_duration_s),
                                                "finished" if p.state in FINISHED else "no learned estimates here")
            if est is None:
                out[p.id] = ("–", "no estimate: the plan's times stand in")
            elif est.learned:
                out[p.id] = (est.label(), "learned from this site's history on this machine; 80 % of such jobs "
                                          "took a time in the bracket")
            else:  # short, as in the machine panel and Design review: the reason is in the tooltip
                out[p.id] = (duration_label(est.value_s) + ANALYTIC_MARK, analytic_tip(est.note))
        return out

    def preview_part(self) -> Any:
        """The part the 3D tab shows: the selected one, else the first with a file."""
        job = self.job
        if job is None or not job.parts:
            return None
        rows = sorted({i.row() for i in self.parts.selectedItems()})
        if rows and rows[0] < len(job.parts):
            return job.parts[rows[0]]
        return next((p for p in job.parts if p.file_path), job.parts[0])

    def _preview(self) -> None:
        if self.tabs.currentWidget() is not self.preview:
            return
        part = self.preview_part()
        if part is None:
            self.preview.say("Select a job: its parts show here in 3D")
            return
        if self.preview.path is not None and part.file_path and str(self.preview.path) == part.file_path:
            return  # already shown: do not load it again on every refresh
        machine = None
        if part.assigned_node is not None:
            try:
                node = self.fleet.get(part.assigned_node)
                machine = (node.name, node.capabilities)
            except Exception:  # noqa: BLE001 - a machine removed since: the part alone
                machine = None
        self.preview.show_file(part.file_path, machine)

    def close_views(self) -> None:
        self.preview.close_views()

    def _machine(self, node_id: UUID | None) -> str:
        if node_id is None:
            return ""
        try:
            return self.fleet.get(node_id).name
        except Exception:  # noqa: BLE001 - a machine removed since: show its id
            return str(node_id)[:8]

    def _buttons(self) -> None:
        job = self.job
        live = job is not None and not job.state.terminal
        self.priority.setEnabled(live)
        self.set_priority.setEnabled(live)
        self.cancel.setEnabled(live)
        self.reschedule.setEnabled(job is not None and job.state in (S.SCHEDULED, S.ASSIGNED, S.FAILED, S.PAUSED,
                                                                     S.VALIDATED))

    def _done(self, what: str) -> Any:
        def ok(job: Job) -> None:
            self.message.emit(f"{job.name}: {what}")
            self.changed.emit(job.id)
            self.show_job(job.id)
        return ok

    def _set_priority(self) -> None:
        if self.job is not None:
            spawn(self.jobs.set_priority(self.job.id, self.priority.value(), actor="operator"),
                  self._done(f"priority {self.priority.value()}"), lambda e: self.message.emit(str(e)))

    def _reschedule(self) -> None:
        if self.job is not None:
            spawn(self.jobs.request_reschedule(self.job.id, actor="operator"), self._done("reschedule requested"),
                  lambda e: self.message.emit(str(e)))

    def _ask_cancel(self) -> None:
        job = self.job
        if job is None:
            return
        self.confirm_box = confirm(self, "Cancel job", f"Cancel {job.name}? Work already done is kept, the rest "
                                   "is dropped.", lambda: spawn(self.jobs.cancel(job.id, actor="operator"),
                                                                 self._done("cancelled"),
                                                                 lambda e: self.message.emit(str(e))))
