"""Core events → Qt signals, coalesced.

Bus handlers run on the same loop (qasync) and only record what changed; a 100 ms timer then emits one
signal per kind with everything that changed since the last tick. Each view therefore updates at most ten
times a second however many machines report.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.api.handoff import OpenInWindow
from app.core.bus import EventBus, Overflow, Subscription
from app.core.events import (
    AlertAcknowledged,
    AlertRaised,
    JobSubmitted,
    JobUpdated,
    NodeRegistered,
    NodeUpdated,
    PlanUpdated,
    StateChanged,
    TelemetryReceived,
)
from app.ui.live_data import LiveData

try:  # progress and job ends as the machines report them (present once drivers are wired)
    from app.core.device_events import DeviceJobFinished, DeviceJobProgress
except ImportError:  # pragma: no cover - older cores
    DeviceJobFinished = DeviceJobProgress = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
FLUSH_MS = 100
TURNING_TELEMETRY_MS = 500  # live readings while the operator turns a 3D view (see set_view_turning)


class CoreBridge(QObject):
    nodes_changed = Signal(object)  # set[UUID] of machines whose state, config or live values changed
    fleet_changed = Signal()  # machines were added
    telemetry = Signal(object)  # set[UUID] with new samples (data is in LiveData)
    jobs_changed = Signal(object)  # set[UUID] of jobs
    alerts_changed = Signal(object)  # list[Alert] newly raised since the last tick
    plan_updated = Signal(object)  # the newest plan object
    state_changes = Signal(object)  # list[StateChange] since the last tick
    open_requested = Signal(object)  # str path to open in Design review, or None: show the window (single instance)

    def __init__(self, bus: EventBus, live: LiveData, parent: QObject | None = None,
                 flush_ms: int = FLUSH_MS) -> None:
        super().__init__(parent)
        self.live = live
        self._bus = bus
        self._nodes: set[UUID] = set()
        self._live_nodes: set[UUID] = set()  # only live values (power, material) changed: paced as readings are
        self._new_nodes = False
        self._tele: set[UUID] = set()
        self._jobs: set[UUID] = set()
        self._alerts: list[Any] = []
        self._acks = False
        self._plan: Any = None
        self._plan_dirty = False
        self._changes: list[Any] = []
        self.flushes = 0
        self._turning = False
        self._tele_at = 0.0  # monotonic time of the last telemetry emit
        self._subs: list[Subscription] = [
            # Live readings: if the UI ever falls behind, the newest reading is what matters.
            bus.subscribe(TelemetryReceived, self._on_telemetry, name="ui.telemetry", maxsize=20_000,
                          overflow=Overflow.DROP_OLDEST),
            bus.subscribe((StateChanged, JobSubmitted, JobUpdated, NodeRegistered, NodeUpdated, AlertRaised,
                           AlertAcknowledged, PlanUpdated), self._on_event, name="ui.events", maxsize=50_000),
        ]
        # another 'imewe open FILE' handed its file to this window: at once, not on the next tick
        self._subs.append(bus.subscribe(OpenInWindow, lambda e: self.open_requested.emit(e.path), name="ui.open",
                                        maxsize=100, overflow=Overflow.DROP_OLDEST))
        if DeviceJobProgress is not None:
            self._subs.append(bus.subscribe((DeviceJobProgress, DeviceJobFinished), self._on_device_job,
                                            name="ui.progress", maxsize=20_000, overflow=Overflow.DROP_OLDEST))
        self._timer = QTimer(self)
        self._timer.setInterval(flush_ms)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    def close(self) -> None:
        self._timer.stop()
        for sub in self._subs:
            self._bus.unsubscribe(sub)
        self._subs.clear()

    # ------------------------------------------------------------ bus side: record only
    def _on_telemetry(self, event: TelemetryReceived) -> None:
        self.live.add_sample(event.sample)
        self._tele.add(event.sample.node_id)

    def _on_device_job(self, event: Any) -> None:
        if isinstance(event, DeviceJobProgress):
            self.live.progress[event.node_id] = (event.job_id, max(0.0, min(1.0, float(event.fraction))))
        else:
            self.live.progress.pop(event.node_id, None)
        self._tele.add(event.node_id)

    def _on_event(self, event: object) -> None:
        if isinstance(event, StateChanged):
            c = event.change
            self._changes.append(c)
            if c.kind == "node":
                self._nodes.add(c.obj_id)
            else:
                if c.kind == "part" and c.to_state == "IN_PROGRESS" and c.from_state != "PAUSED":
                    self.live.started[c.obj_id] = c.at  # elapsed, for the time left
                # part changes carry no job id; the jobs view refreshes on any job or part change
                self._jobs.add(c.obj_id)
        elif isinstance(event, JobSubmitted | JobUpdated):
            self._jobs.add(event.job_id)
        elif isinstance(event, NodeRegistered):
            self._new_nodes = True
            self._nodes.add(event.node_id)
        elif isinstance(event, NodeUpdated):
            (self._live_nodes if event.what == "live" else self._nodes).add(event.node_id)
        elif isinstance(event, AlertRaised):
            self.live.add_alert(event.alert)
            self._alerts.append(event.alert)
            if event.alert.node_id is not None:
                self._nodes.add(event.alert.node_id)
        elif isinstance(event, AlertAcknowledged):
            alert = self.live.alerts.get(event.alert_id)
            if alert is not None and alert.acknowledged_at is None:
                from datetime import UTC, datetime

                alert.acknowledged_at = datetime.now(UTC)
                alert.acknowledged_by = event.by
                if alert.node_id is not None:
                    self._nodes.add(alert.node_id)
            self._acks = True
        elif isinstance(event, PlanUpdated):
            self._plan, self._plan_dirty = event.plan, True

    # ------------------------------------------------------------ Qt side: one emit per kind per tick
    @property
    def view_turning(self) -> bool:
        return self._turning

    def set_view_turning(self, on: bool) -> None:
        """While the operator turns a 3D view, live readings reach the panels twice a second instead of ten times:
        each repaint of another widget costs the turning view a frame's composition on software OpenGL. Nothing
        is dropped (the readings wait in LiveData), and states, jobs, alerts and plans still come at once; the
        readings catch up as soon as the view is still."""
        self._turning = bool(on)
        if not on and (self._tele or self._live_nodes):
            self.flush()

    def flush(self) -> None:
        self.flushes += 1
        if self._new_nodes:
            self._new_nodes = False
            self.fleet_changed.emit()
        now = time.monotonic()
        readings_due = not self._turning or now - self._tele_at >= TURNING_TELEMETRY_MS / 1000
        if readings_due and (self._live_nodes or self._tele):
            self._tele_at = now
            self._nodes |= self._live_nodes
            self._live_nodes = set()
        if self._nodes:
            nodes, self._nodes = self._nodes, set()
            self.nodes_changed.emit(nodes)
        if self._tele and readings_due:
            tele, self._tele = self._tele, set()
            self.telemetry.emit(tele)
        if self._changes:
            changes, self._changes = self._changes, []
            self.state_changes.emit(changes)
        if self._jobs:
            jobs, self._jobs = self._jobs, set()
            self.jobs_changed.emit(jobs)
        if self._alerts or self._acks:
            alerts, self._alerts, self._acks = self._alerts, [], False
            self.alerts_changed.emit(alerts)
        if self._plan_dirty:
            self._plan_dirty = False
            self.plan_updated.emit(self._plan)
