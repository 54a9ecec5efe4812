"""Jobs as a Qt table model (refreshed from the store in the background, at most a few times a second)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush

from app.core.domain.entities import Job
from app.core.jobs.eta import Eta, finish_label, relative_label
from app.core.jobs.waiting import job_state_text, waiting_for, waiting_note
from app.ui.eta_view import eta_text, job_eta_live
from app.ui.live_data import LiveData
from app.ui.theme import job_colour

JOB_ROLE = Qt.ItemDataRole.UserRole + 11
WAITING_FILTER = "WAITING"  # the state choice for jobs that wait for a busy machine (not a JobState)
SORT_ROLE = Qt.ItemDataRole.UserRole + 12
COLUMNS = ["Job", "State", "Priority", "Parts", "Progress", "Left · done at", "Machines", "Due", "Submitted"]
ETA_COL = 5
_Index = QModelIndex | QPersistentModelIndex


class JobsModel(QAbstractTableModel):
    def __init__(self, machine_name: Any, parent: QObject | None = None, live: LiveData | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._machine_name = machine_name  # node id -> name
        self._live = live or LiveData()

    def eta(self, job: Job) -> Eta | None:
        return job_eta_live(self._live, job)

    def set_jobs(self, jobs: list[Job]) -> None:
        old = [j.id for j in self._jobs]
        new = [j.id for j in jobs]
        if old == new:
            # same rows: repaint in place so the selection and scroll position stay put
            self._jobs = list(jobs)
            if jobs:
                self.dataChanged.emit(self.index(0, 0), self.index(len(jobs) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._jobs = list(jobs)
        self.endResetModel()

    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def job_at(self, row: int) -> Job:
        return self._jobs[row]

    def row_of(self, job_id: UUID) -> int | None:
        return next((i for i, j in enumerate(self._jobs) if j.id == job_id), None)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._jobs):
            return None
        job = self._jobs[index.row()]
        col = index.column()
        if role == JOB_ROLE:
            return job
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QBrush(job_colour(job.state))
        if role == SORT_ROLE:
            if col == ETA_COL:
                eta = self.eta(job)
                return eta.left_s if eta else 1e18
            return [job.name.lower(), job.state.value, job.priority, len(job.parts), job.progress, 0,
                    self._machines(job), job.due_at.timestamp() if job.due_at else 1e18,
                    job.submitted_at.timestamp() if job.submitted_at else 0][col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 1 and (machines := self.waiting_for(job)):
            return waiting_note(machines)
        if role == Qt.ItemDataRole.ToolTipRole and col in (ETA_COL, 7, 8):
            stamp = {ETA_COL: None, 7: job.due_at, 8: job.submitted_at}[col]
            if stamp is None:
                return eta_text(self.eta(job), self._live) or None
            return stamp.astimezone(self._live.zone).strftime("%Y-%m-%d %H:%M")
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return job.name
            if col == 1:
                return self.state_word(job)
            if col == 2:
                return str(job.priority)
            if col == 3:
                return str(sum(p.quantity for p in job.parts))
            if col == 4:
                return f"{job.progress:.0f} %"
            if col == ETA_COL:
                return eta_text(self.eta(job), self._live, short=True)
            if col == 6:
                return self._machines(job)
            now = self._live.now()
            if col == 7:
                return finish_label(job.due_at, now, self._live.zone)
            if col == 8:
                return relative_label(job.submitted_at, now)
        return None

    def waiting_for(self, job: Job) -> list[str]:
        """The names of the machines a job waits for (empty when it does not; the core's rule, ``waiting_for``)."""
        return [str(self._machine_name(n)) for n in waiting_for(job, self._live.busy())]

    def state_word(self, job: Job) -> str:
        """The job's state in words (the core's ``job_state_text``): "Waiting", not "Printing", for a job whose
        parts in progress all wait for their machine, which the tooltip names (the column is narrow at 1366 px)."""
        return job_state_text(job, self._live.busy())

    def _machines(self, job: Job) -> str:
        names = sorted({self._machine_name(p.assigned_node) for p in job.parts if p.assigned_node})
        return ", ".join(names)


class JobsFilter(QSortFilterProxyModel):
    """The jobs the search and the state choice let through: "active" (open jobs), "" (all), ``WAITING_FILTER``
    (the jobs the core's rule says wait for their machine) or a state's value (the jobs in it that do not wait, so
    each job is under the choice its State column reads)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)

    def set_filters(self, state: str | None = None, text: str | None = None) -> None:
        if state is not None:
            self.state = state
        if text is not None:
            self.text = text.strip().lower()
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, JobsModel):
            return True
        job = model.job_at(source_row)
        if self.state == "active":
            if job.state.terminal:
                return False
        elif self.state == WAITING_FILTER:
            if not model.waiting_for(job):
                return False
        elif self.state and (job.state.value != self.state or model.waiting_for(job)):
            return False  # a job that waits reads "Waiting": it is under that choice, not "Running" or "Paused"
        return not self.text or self.text in f"{job.name} {job.id} {model.state_word(job)}".lower()
