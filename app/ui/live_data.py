"""What the window remembers of the live site between repaints: recent telemetry per machine and alerts.

Fixed-size numpy rings per machine keep memory flat with 500 machines (the charts show the recent past; the
store keeps the full record).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from uuid import UUID

import numpy as np

from app.core.domain.entities import Alert, Job, Part, TelemetrySample
from app.core.domain.enums import Severity
from app.core.jobs.eta import DurationEstimate
from app.core.jobs.waiting import held_parts, running_part

log = logging.getLogger(__name__)
FINISHED = ("COMPLETED", "CANCELLED", "FAILED")

RING = 600  # samples per machine: 10 minutes at 1 Hz


class MetricRing:
    """Timestamps and per-metric values of one machine's recent samples."""

    def __init__(self, capacity: int = RING) -> None:
        self.capacity = capacity
        self.t = np.full(capacity, np.nan)
        self.values: dict[str, np.ndarray] = {}
        self.count = 0  # total samples ever added
        self.latest: dict[str, float] = {}
        self.job_id: UUID | None = None

    def add(self, when: datetime, metrics: dict[str, float], job_id: UUID | None) -> None:
        i = self.count % self.capacity
        self.t[i] = when.timestamp()
        for name, value in metrics.items():
            arr = self.values.get(name)
            if arr is None:
                arr = self.values[name] = np.full(self.capacity, np.nan)
            try:
                arr[i] = float(value)
            except (TypeError, ValueError):
                continue
        for name, arr in self.values.items():
            if name not in metrics:
                arr[i] = np.nan
        self.count += 1
        self.latest.update(metrics)
        self.job_id = job_id

    def series(self, name: str, since_ts: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) in time order, optionally only from ``since_ts`` on."""
        arr = self.values.get(name)
        if arr is None or self.count == 0:
            return np.empty(0), np.empty(0)
        n = min(self.count, self.capacity)
        start = self.count % self.capacity if self.count > self.capacity else 0
        idx = (np.arange(n) + start) % self.capacity
        t, v = self.t[idx], arr[idx]
        if since_ts is not None:
            keep = t >= since_ts
            t, v = t[keep], v[keep]
        return t, v

    def metric_names(self) -> list[str]:
        return sorted(self.values)


def progress_fraction(metrics: dict[str, float]) -> float | None:
    """A machine's job progress from its telemetry: ``progress`` is a fraction 0..1 (what the drivers send),
    ``progress_pct`` a percentage."""
    if "progress" in metrics:
        return max(0.0, min(1.0, float(metrics["progress"])))
    if "progress_pct" in metrics:
        return max(0.0, min(1.0, float(metrics["progress_pct"]) / 100.0))
    return None


def is_temperature(name: str) -> bool:
    return (name.endswith("_c") or name == "temperature") and not is_target(name)


def temperatures(metrics: dict[str, float]) -> dict[str, float]:
    """Named heater readings; the generic ``temperature`` only when the machine sends no named ones (drivers
    often send both, the generic one being a copy of the main heater)."""
    named = {k: v for k, v in metrics.items() if k.endswith("_c") and not is_target(k)}
    if named:
        return named
    return {k: v for k, v in metrics.items() if k == "temperature"}


def is_target(name: str) -> bool:
    return "target" in name


def target_of(name: str) -> str:
    """The temperature a target metric belongs to: ``nozzle_target_c`` → ``nozzle_c``,
    ``target_temperature`` → ``temperature``."""
    if name.startswith("target_"):
        return name[len("target_"):]
    return name.replace("_target", "")


def temperature_label(name: str) -> str:
    return name[:-2] if name.endswith("_c") else ("temp" if name == "temperature" else name)


class RunningParts(Mapping[UUID, tuple[Job, Part]]):
    """Node id -> the part it runs. A machine can hold more than one part in progress: a batch part waits, partly
    made, while the machine runs another job's part (in the demo, 3 of 12 clips then a sign's stand). Which one it
    runs is the core's rule (``running_part``): the part the machine reports working on, else the one that went
    in progress last."""

    def __init__(self, held: dict[UUID, list[tuple[Job, Part]]] | None = None,
                 reported: Callable[[UUID], UUID | None] | None = None,
                 started: dict[UUID, datetime] | None = None) -> None:
        self._held = held or {}
        self._reported = reported or (lambda _n: None)
        self._started = started if started is not None else {}

    def __getitem__(self, node_id: UUID) -> tuple[Job, Part]:
        held = self._held[node_id]
        return running_part(held, self._reported(node_id) if len(held) > 1 else None, self._started)

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)


class BusyMachines(Mapping[UUID, UUID]):
    """Node id -> the id of the part it runs (what the core's waiting rule takes), read through ``RunningParts``."""

    def __init__(self, running: Mapping[UUID, tuple[Job, Part]]) -> None:
        self._running = running

    def __getitem__(self, node_id: UUID) -> UUID:
        return self._running[node_id][1].id

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._running)

    def __len__(self) -> int:
        return len(self._running)


@dataclass(slots=True)
class LiveData:
    rings: dict[UUID, MetricRing] = field(default_factory=dict)
    alerts: dict[UUID, Alert] = field(default_factory=dict)  # by alert id, newest last
    job_names: dict[UUID, str] = field(default_factory=dict)
    paused: set[UUID] = field(default_factory=set)  # machines the operator paused (drivers report PAUSED too)
    progress: dict[UUID, tuple[UUID | None, float]] = field(default_factory=dict)  # node -> (work id, 0..1)
    part_job: dict[UUID, UUID] = field(default_factory=dict)  # part id -> job id (drivers report part ids)
    started: dict[UUID, datetime] = field(default_factory=dict)  # part id -> when it went IN_PROGRESS
    running: Mapping[UUID, tuple[Job, Part]] = field(default_factory=RunningParts)  # node id -> the part it runs
    zone: tzinfo | None = None  # the site's time zone for finish times (None: this computer's)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # the site's clock (simulated in the demo)

    plan_end: dict[UUID, datetime] = field(default_factory=dict)  # part id -> when the current plan ends it
    # The learned durations (issue 15): part id -> its duration on its machine, learned with its 80 % interval or
    # the analytic estimate, flagged; ``estimate_of`` is the site's learning port (None: analytic everywhere).
    estimate_of: Callable[[list[Part]], dict[UUID, DurationEstimate]] | None = None
    estimates: dict[UUID, DurationEstimate] = field(default_factory=dict)

    def set_plan(self, plan: object) -> None:
        """The scheduler's plan: when each part should end (the time left of work that has no estimate)."""
        ends: dict[UUID, datetime] = {}
        for row in getattr(plan, "rows", None) or []:
            part_id, end = getattr(row, "part_id", None), getattr(row, "end", None)
            if isinstance(part_id, UUID) and isinstance(end, datetime):
                ends[part_id] = max(end, ends.get(part_id, end))
        self.plan_end = ends

    def set_jobs(self, jobs: list[Job]) -> None:
        """Remember which part runs where (the fleet's tiles and the machine panel show its time left)."""
        for job in jobs:
            for part in job.parts:
                self.part_job[part.id] = job.id
        self.running = RunningParts(held_parts(jobs), self.current_job, self.started)
        self.refresh_estimates(jobs)

    def busy(self) -> Mapping[UUID, UUID]:
        """Machine id -> the part it runs now (the core's ``waiting_parts`` and ``job_state_text`` take it)."""
        return BusyMachines(self.running)

    def refresh_estimates(self, jobs: list[Job]) -> None:
        """Learned durations of the unfinished parts (one batch through the active model)."""
        if self.estimate_of is None:
            return
        todo = [p for j in jobs for p in j.parts if p.state.value not in FINISHED]
        try:
            self.estimates = self.estimate_of(todo)
        except Exception:  # noqa: BLE001 - the analytic estimates stay; the window must keep showing work
            log.exception("learned durations could not be read")
            self.estimates = {}

    def estimate(self, part: Part) -> DurationEstimate | None:
        """The part's duration as the window shows it (None: it has no estimate of its own)."""
        if part.id in self.estimates:
            return self.estimates[part.id]
        if part.estimated_duration_s > 0:
            return DurationEstimate.analytic(float(part.estimated_duration_s))
        return None

    def add_sample(self, sample: TelemetrySample) -> None:
        ring = self.rings.get(sample.node_id)
        if ring is None:
            ring = self.rings[sample.node_id] = MetricRing()
        ring.add(sample.timestamp, sample.metrics, sample.job_id)

    def latest(self, node_id: UUID) -> dict[str, float]:
        ring = self.rings.get(node_id)
        return ring.latest if ring is not None else {}

    def current_job(self, node_id: UUID) -> UUID | None:
        """What the machine works on (a part id from drivers, or a job id), as it last reported."""
        if node_id in self.progress:
            return self.progress[node_id][0]
        ring = self.rings.get(node_id)
        return ring.job_id if ring is not None else None

    def current_progress(self, node_id: UUID) -> float | None:
        if node_id in self.progress:
            return self.progress[node_id][1]
        return progress_fraction(self.latest(node_id))

    def job_of(self, work_id: UUID | None) -> UUID | None:
        """The job a reported work id belongs to (drivers report part ids)."""
        if work_id is None:
            return None
        return self.part_job.get(work_id, work_id)

    def add_alert(self, alert: Alert) -> None:
        self.alerts[alert.id] = alert

    def open_alerts(self, node_id: UUID | None = None) -> list[Alert]:
        return [a for a in self.alerts.values()
                if not a.acknowledged and (node_id is None or a.node_id == node_id)]

    def worst_open(self, node_id: UUID) -> Severity | None:
        sev = [a.severity for a in self.open_alerts(node_id)]
        return max(sev, key=lambda s: s.rank) if sev else None
