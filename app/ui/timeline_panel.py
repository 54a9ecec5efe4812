"""The timeline tab: the current plan as a Gantt per machine, refreshed on PlanUpdated (or from the jobs'
own assignments until the scheduler publishes a plan).

The Gantt (pyqtgraph) is built the first time the tab is shown or asked for (issue 17: the window's first frame
does not wait for it); until then the panel keeps the plan and the jobs and draws nothing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.core.clock import Clock
from app.core.domain.entities import Job
from app.core.domain.enums import NodeState
from app.core.fleet.service import FleetService
from app.ui.live_data import LiveData
from app.ui.theme import JOB_COLOURS
from app.ui.words import JOB_WORDS

if TYPE_CHECKING:
    from app.viz.gantt import GanttWidget

log = logging.getLogger(__name__)


class TimelinePanel(QWidget):
    job_clicked = Signal(object)  # job id

    def __init__(self, fleet: FleetService, clock: Clock, live: LiveData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self.clock = clock
        self.live = live
        self.plan: Any = None
        self.jobs: dict[UUID, Job] = {}
        self.source = QLabel("No plan yet: showing the machines' current and queued work")
        self._gantt: GanttWidget | None = None
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(6, 6, 6, 6)
        self._lay.addWidget(self.source)

    @property
    def gantt(self) -> GanttWidget:
        """The chart, built on first use (with the plan and jobs the panel has been given so far)."""
        if self._gantt is None:
            from app.viz.gantt import GanttWidget

            self._gantt = GanttWidget({s.value: c for s, c in JOB_COLOURS.items()},
                                      state_words={s.value: w for s, w in JOB_WORDS.items()}, zone=self.live.zone)
            self._lay.addWidget(self._gantt, 1)
            self._gantt.bar_clicked.connect(self._clicked)
            self.redraw()
        return self._gantt

    def built(self) -> bool:
        return self._gantt is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        self.gantt  # noqa: B018 - built when first shown
        super().showEvent(event)

    def _clicked(self, key: Any) -> None:
        if isinstance(key, UUID):
            self.job_clicked.emit(key)

    def set_plan(self, plan: Any) -> None:
        self.plan = plan
        self.redraw()

    def set_jobs(self, jobs: list[Job]) -> None:
        self.jobs = {j.id: j for j in jobs}
        self.redraw()

    def tick(self) -> None:
        if self._gantt is not None:
            self._gantt.set_now(self.clock.now().timestamp())

    def redraw(self) -> None:
        if self._gantt is None:  # drawn when built
            return
        from app.ui.plan_adapter import bars_from_jobs, bars_from_plan, extras_from_plan

        nodes = [n for n in self.fleet.list() if n.state is not NodeState.DECOMMISSIONED]
        if self.plan is not None:
            names, bars = bars_from_plan(self.plan, nodes, self.jobs, self.live.job_names, self.live.zone)
            setups, shades = extras_from_plan(self.plan, nodes, self.live.zone, self.clock.now())
            extra = f", {len(setups)} material change{'s' if len(setups) != 1 else ''}" if setups else ""
            self.source.setText(f"Plan from the scheduler: {len(bars)} operations on {len(names)} machines{extra}")
            bars = setups + bars
        else:
            progress = {}
            for node_id in self.live.rings.keys() | self.live.progress.keys():
                job_id = self.live.job_of(self.live.current_job(node_id))
                fraction = self.live.current_progress(node_id)
                if job_id is not None and fraction is not None:
                    progress[job_id] = 100.0 * fraction
            names, bars = bars_from_jobs(self.jobs.values(), nodes, self.clock.now(), progress,
                                         self.live.zone)
            shades = []
        self.tick()  # the now-line first: the first fit spans the bars and now
        self._gantt.set_rows(names)
        self._gantt.set_bars(bars)
        self._gantt.set_shades(shades)
