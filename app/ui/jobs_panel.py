"""The jobs view: searchable list with states and progress, the job's detail below, and the submit dialog."""

from __future__ import annotations

import logging
import time
from uuid import UUID

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.entities import Job
from app.core.domain.enums import JobState
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.jobs.waiting import WAITING_WORD
from app.ui.job_detail import JobDetail
from app.ui.jobs_model import COLUMNS, JOB_ROLE, WAITING_FILTER, JobsFilter, JobsModel
from app.ui.live_data import LiveData
from app.ui.submit_dialog import SubmitDialog
from app.ui.tasks import spawn
from app.ui.words import JOB_WORDS

log = logging.getLogger(__name__)
MIN_RELOAD_S = 0.5  # the store is asked at most twice a second, however many jobs change


class JobsPanel(QWidget):
    message = Signal(str)
    loaded = Signal()

    def __init__(self, jobs: JobService, fleet: FleetService, live: LiveData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs_service = jobs
        self.fleet = fleet
        self.live = live
        self.model = JobsModel(self._machine_name, self, live=live)
        self.proxy = JobsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.dialog: SubmitDialog | None = None
        self._loading = False
        self._again = False
        self._last = 0.0
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._timer_reload)

        self.new_btn = QPushButton("New job…")
        self.new_btn.setObjectName("newJob")
        self.search = QLineEdit(placeholderText="Search jobs by name or id…")
        self.search.setClearButtonEnabled(True)
        self.state = QComboBox()
        self.state.addItem("Open jobs", "active")
        self.state.addItem("All jobs", "")
        for s in JobState:
            self.state.addItem(JOB_WORDS[s], s.value)
            if s is JobState.IN_PROGRESS:
                self.state.addItem(WAITING_WORD, WAITING_FILTER)
                self.state.setItemData(self.state.count() - 1, "Jobs paused between copies while their machine "
                                       "runs another job's part", Qt.ItemDataRole.ToolTipRole)
        bar = QHBoxLayout()
        bar.addWidget(self.new_btn)
        bar.addWidget(self.search, 3)
        bar.addWidget(self.state, 1)

        self.table = QTableView()
        self.table.setObjectName("jobsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        fm = self.table.horizontalHeader().fontMetrics()
        for col, least in enumerate((180, 90, 0, 0, 0, 190, 150, 90)):  # names and times read in full
            self.table.setColumnWidth(col, max(least, fm.horizontalAdvance(COLUMNS[col]) + 30))
        self.detail = JobDetail(jobs, fleet, estimates=live.estimate_of, busy=live.busy)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.table)
        self.split.addWidget(self.detail)
        self.split.setSizes([400, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.split, 1)

        self.new_btn.clicked.connect(self.open_submit)
        self.search.textChanged.connect(lambda t: self.proxy.set_filters(text=t))
        self.state.currentIndexChanged.connect(lambda _: self.proxy.set_filters(state=self.state.currentData()))
        self.proxy.set_filters(state="active")
        self.table.selectionModel().currentRowChanged.connect(self._current)
        self.detail.message.connect(self.message)
        self.detail.changed.connect(lambda _id: self.reload())

    def _machine_name(self, node_id: UUID) -> str:
        try:
            return self.fleet.get(node_id).name
        except Exception:  # noqa: BLE001 - a machine gone since: its id will do
            return str(node_id)[:8]

    # ------------------------------------------------------------ loading (coalesced, never two at once)
    def reload(self) -> None:
        if self._loading:
            self._again = True
            return
        wait = MIN_RELOAD_S - (time.monotonic() - self._last)
        if wait > 0:
            self._again = True
            if not self._later.isActive():  # a timer owned by the panel dies with it
                self._later.start(int(wait * 1000) + 1)
            return
        self._loading = True
        self._last = time.monotonic()
        spawn(self.jobs_service.list(limit=2000), self._loaded, self._failed)

    def _timer_reload(self) -> None:
        if self._again:
            self._again = False
            self.reload()

    def _loaded(self, jobs: list[Job]) -> None:
        self._loading = False
        for j in jobs:
            self.live.job_names[j.id] = j.name
            for part in j.parts:  # drivers report the part they work on
                self.live.job_names[part.id] = f"{j.name} / {part.name}" if len(j.parts) > 1 else j.name
        self.live.set_jobs(jobs)
        self.model.set_jobs(jobs)
        if self.detail.job is not None and self.detail.job.id in {j.id for j in jobs}:
            self.detail.reload()
        self.loaded.emit()
        if self._again:
            self._again = False
            self.reload()

    def _failed(self, exc: Exception) -> None:
        self._loading = False
        self.message.emit(f"jobs could not be read: {exc}")

    def on_jobs_changed(self, _ids: set[UUID]) -> None:
        self.reload()

    # ------------------------------------------------------------ actions
    def _current(self, current: QModelIndex, _prev: QModelIndex) -> None:
        job = current.data(JOB_ROLE) if current.isValid() else None
        if job is not None:
            self.detail.show_job(job.id)

    def open_job(self, job_id: UUID) -> None:
        row = self.model.row_of(job_id)
        if row is not None:
            idx = self.proxy.mapFromSource(self.model.index(row, 0))
            if not idx.isValid():  # hidden by the filter: show all so the operator sees it
                self.state.setCurrentIndex(self.state.findData(""))
                idx = self.proxy.mapFromSource(self.model.index(row, 0))
            self.table.setCurrentIndex(idx)
            self.table.scrollTo(idx)
        self.detail.show_job(job_id)

    def open_submit(self) -> SubmitDialog:
        self.dialog = SubmitDialog(self.jobs_service, self.fleet.list, self, now=self.live.now, zone=self.live.zone)
        self.dialog.submitted.connect(self._submitted)
        self.dialog.open()
        return self.dialog

    def _submitted(self, job: Job) -> None:
        self.live.job_names[job.id] = job.name
        self.message.emit(f"job {job.name} submitted ({len(job.parts)} parts)")
        self.reload()
        self.detail.show_job(job.id)

    def save_state(self, s: QSettings) -> None:
        s.setValue("jobs/split", self.split.saveState())
        s.setValue("jobs/header", self.table.horizontalHeader().saveState())

    def restore_state(self, s: QSettings) -> None:
        for key, fn in (("jobs/split", self.split.restoreState),
                        ("jobs/header", self.table.horizontalHeader().restoreState)):
            value = s.value(key)
            if value is not None:
                fn(value)
