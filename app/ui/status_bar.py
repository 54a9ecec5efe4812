"""The status bar: site, kernel health, machines online/total, running jobs (those waiting for a busy machine
said apart), open alerts, demo time scale."""

from __future__ import annotations

import math
from datetime import tzinfo

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from app.core.clock import Clock
from app.core.domain.entities import Job
from app.core.domain.enums import JobState, NodeState
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.jobs.waiting import busy_machines, running_and_waiting
from app.ui.live_data import LiveData
from app.ui.ports import HealthPort
from app.ui.tasks import spawn

HELD = {JobState.IN_PROGRESS, JobState.PAUSED}  # jobs whose parts hold a machine (running or waiting)
ONLINE = {NodeState.IDLE, NodeState.ASSIGNED, NodeState.EXECUTING, NodeState.COMPLETED, NodeState.CONFIGURED}


class StatusBar(QStatusBar):
    alerts_clicked = Signal()

    def __init__(self, site_name: str, health: HealthPort, fleet: FleetService, jobs: JobService, clock: Clock,
                 parent: QWidget | None = None, zone: tzinfo | None = None, live: LiveData | None = None) -> None:
        super().__init__(parent)
        self.kernel, self.fleet, self.jobs_service, self.clock = health, fleet, jobs, clock
        self.live = live  # what the machines report working on: which part each runs (the waiting rule)
        self.zone = zone  # the site's clock reads in its own zone, like every finish time in the window
        self.site = QLabel(f"Site: {site_name}")
        self.health = QLabel()
        self.machines = QLabel()
        self.jobs = QLabel("Running jobs: –")
        self.alerts = QPushButton("Alerts: 0")
        self.alerts.setFlat(True)
        self.alerts.setObjectName("alertCount")
        self.alerts.clicked.connect(self.alerts_clicked)
        self.scale = QLabel()
        for w in (self.site, self.health, self.machines, self.jobs, self.alerts, self.scale):
            self.addPermanentWidget(w)
        self.running_jobs = 0
        self.waiting_jobs = 0
        self._counting = False

    def refresh(self) -> None:
        st = self.kernel.status()
        ok = st.healthy
        bad = [n for n, s in st.services.items() if s["health"] != "ok"]
        self.health.setText("Kernel: OK" if ok else f"Kernel: {st.state}{' · ' + ', '.join(bad) if bad else ''}")
        self.health.setStyleSheet("color: #3fb950;" if ok else "color: #f85149; font-weight: bold;")
        nodes = [n for n in self.fleet.list() if n.state is not NodeState.DECOMMISSIONED]
        online = sum(n.state in ONLINE for n in nodes)
        self.machines.setText(f"Machines: {online} online / {len(nodes)}")
        scale = getattr(self.clock, "scale", 1.0)
        if scale and math.isfinite(scale) and scale != 1.0:
            self.scale.setText(f"Demo ×{scale:g} · {self._clock_text()}")
            self.scale.setToolTip(f"Demo time runs {scale:g} times faster than real time; {self._date_text()}")
        else:
            self.scale.setText(self._clock_text())
            self.scale.setToolTip(self._date_text())
        self._count_jobs()

    def _clock_text(self) -> str:
        """The site's time, short enough for a 1366-pixel status bar; the date is in the tooltip."""
        local = self.clock.now().astimezone(self.zone)
        return f"{local:%a %H:%M:%S} {local.tzname() or ''}".rstrip()

    def _date_text(self) -> str:
        local = self.clock.now().astimezone(self.zone)
        return f"{local:%A} {local.day} {local:%B %Y, %H:%M:%S} {local.tzname() or ''}".rstrip()

    def _count_jobs(self) -> None:
        if self._counting:
            return
        self._counting = True

        async def read() -> tuple[dict[str, int], list[Job]]:
            return (await self.jobs_service.counts_by_state(),
                    await self.jobs_service.list(HELD, limit=10_000))

        def done(got: tuple[dict[str, int], list[Job]]) -> None:
            self._counting = False
            counts, held = got
            live = self.live
            busy = busy_machines(held, live.current_job, live.started) if live is not None else busy_machines(held)
            self.running_jobs, self.waiting_jobs = running_and_waiting(held, busy)
            queued = sum(counts.get(s, 0) for s in ("VALIDATED", "SCHEDULED", "ASSIGNED"))
            waiting = f" · {self.waiting_jobs} waiting" if self.waiting_jobs else ""
            self.jobs.setText(f"Running jobs: {self.running_jobs}{waiting} · queued {queued}")
            self.jobs.setToolTip(f"{self.waiting_jobs} job(s) waiting: paused between copies while their machine "
                                 "runs another job's part (Jobs tab, Waiting)" if self.waiting_jobs else "")

        def failed(_e: Exception) -> None:
            self._counting = False

        spawn(read(), done, failed)

    def set_alerts(self, open_count: int, critical: int) -> None:
        self.alerts.setText(f"Alerts: {open_count}" + (f" ({critical} critical)" if critical else ""))
        colour = "#f85149" if critical else ("#d29922" if open_count else "#c9d4df")
        self.alerts.setStyleSheet(f"color: {colour}; font-weight: bold;")
