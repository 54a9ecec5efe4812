"""The learning service inside a running site: the planner's duration port, the failure-risk check before a
start, and the feedback loop (after ``retrain_after_jobs`` finished parts, collect and train in the background).

Kept apart from the scheduling core on purpose: the planner only calls ``durations(part, node)`` (None: use the
analytic estimate) and production only awaits ``before_start(node, job, part)``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

from app.core.bus import EventBus, Subscription
from app.core.clock import Clock
from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import Severity
from app.core.domain.errors import ImeweError
from app.core.events import PlanUpdated, StateChanged
from app.core.jobs.eta import DurationEstimate, finish_label
from app.core.learning.estimates import Estimator, record_for, record_raw
from app.core.learning.nightly import next_nightly, poll_s
from app.core.learning.service import LearningService
from app.core.scheduling.twin import sigma_from_interval

log = logging.getLogger(__name__)
FINISHED = ("COMPLETED", "FAILED")
CACHE_MAX = 200_000
PRECHECK_AGAIN_S = 1800.0  # a part still next on the same machine is checked again after this (site clock)
RUNNING_ROWS = ("RUNNING", "IN_PROGRESS", "PAUSED")  # plan rows of work already started: checked at its start


__all__ = ["LearningRuntime", "record_for"]


class LearningRuntime:
    name = "learning"

    def __init__(self, service: LearningService, bus: EventBus, clock: Clock,
                 raise_alert: Callable[..., Awaitable[object]] | None = None,
                 node_of: Callable[[UUID], Node | None] | None = None, zone: tzinfo | None = None,
                 job_of: Callable[[UUID], Awaitable[Job]] | None = None) -> None:
        self.service = service
        self._node_of = node_of
        self._job_of = job_of  # the jobs service's get: the parts a plan names, for the check before a start
        self._plan_sub: Subscription | None = None
        self.prechecked: dict[tuple[UUID, UUID], tuple[float, float | None]] = {}  # (part, node) -> (when, risk)
        self.zone = zone  # the site's time zone: the nightly hour is read in it (None: this computer's)
        self.next_nightly: datetime | None = None  # when the nightly training is next due
        self.last_nightly: dict[str, Any] | None = None  # what the last one did
        self._nightly_task: asyncio.Task | None = None
        self.estimator = Estimator(service, node_of or (lambda _id: None))
        self._bus = bus
        self._clock = clock
        self._raise_alert = raise_alert
        self._sub: Subscription | None = None
        self._training: asyncio.Task | None = None
        self.finished_since_training = 0
        self.flags: dict[tuple[str, str], str] = {}  # (part, machine) -> why the analytic estimate was used
        self.energy_flags: dict[tuple[str, str], str] = {}  # (part, machine) -> why the analytic draw was used
        self.last_result: dict[str, Any] | None = None
        self.train_in_worker = True  # tests train in-process to stay fast
        self._risk_tasks: set[asyncio.Task] = set()
        # The planner asks for every part on every machine in every round: answers are kept per version.
        self._cache: dict[tuple, Any] = {}
        self._cache_version: Any = None

    # ------------------------------------------------------------------ kernel service
    async def start(self) -> None:
        self._sub = self._bus.subscribe(StateChanged, self._on_change, name="learning")
        if self._job_of is not None and self._node_of is not None:
            self._plan_sub = self._bus.subscribe(PlanUpdated, self._on_plan, name="learning.plan")
        self.next_nightly = next_nightly(self._clock.now(), self.service.settings.nightly_hour, self.zone)
        if self.next_nightly is not None and self.service.settings.enabled:
            self._nightly_task = asyncio.get_running_loop().create_task(self._nightly_loop(), name="learning.nightly")

    async def stop(self) -> None:
        for sub in (self._sub, self._plan_sub):
            if sub is not None:
                self._bus.unsubscribe(sub)
        self._sub = self._plan_sub = None
        for task in list(self._risk_tasks):
            task.cancel()
        if self._nightly_task is not None:
            self._nightly_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._nightly_task
            self._nightly_task = None
        if self._training is not None:
            self._training.cancel()
            with contextlib.suppress(asyncio.CancelledError, ImeweError):
                await self._training

    def health(self) -> str:
        return "ok"  # no model yet is a normal state (the analytic estimates are used), not a fault

    def describe(self) -> str:
        active = self.service.registry.active()
        return f"model {active}" if active else "no model yet: analytic estimates"

    # ------------------------------------------------------------------ the nightly training
    async def _nightly_loop(self) -> None:
        while True:
            await asyncio.sleep(poll_s(self._clock.scale))  # real time: a simulated clock may run fast
            self.nightly_tick()

    def nightly_tick(self) -> asyncio.Task | None:
        """Once the nightly hour has passed since the last look: collect, and train if there is any new finished
        job since the active version's data (a training already running counts). Returns the training task."""
        now = self._clock.now()
        if self.next_nightly is None or now < self.next_nightly:
            return None
        self.next_nightly = next_nightly(now, self.service.settings.nightly_hour, self.zone)
        if not self.service.settings.enabled or (self._training is not None and not self._training.done()):
            return None
        self.finished_since_training = 0
        self._training = asyncio.get_running_loop().create_task(self._retrain(nightly=True),
                                                                name="learning.nightly_train")
        return self._training

    # ------------------------------------------------------------------ the planner's port
    def durations(self, part: Part, node: Node) -> int | None:
        """Learned duration of ``part`` on ``node`` in seconds, or None (the planner keeps its estimate; the
        reason is kept in ``flags``)."""
        key = (part.id, node.id, part.estimated_duration_s)
        models = self.service.models()
        self.service.pooled()  # linked sites' statistics, looked at now and then: they are part of the answer
        version = (models.version if models is not None else None, self.service.pooled_version)
        if version != self._cache_version or len(self._cache) > CACHE_MAX:
            self._cache.clear()  # a new version, or a long-running site: start afresh
            self._cache_version = version
        if key in self._cache:
            return self._cache[key]
        self._cache[key] = value = self._duration(part, node)
        return value

    def spreads(self, part: Part, node: Node) -> float | None:
        """Log-spread of the learned duration of ``part`` on ``node`` from its 80 % interval (what the digital twin
        draws durations with), or None where no model covers it."""
        key = ("spread", part.id, node.id, part.estimated_duration_s)
        self.durations(part, node)  # the same cache and version check
        if key not in self._cache:
            try:
                p = self.service.duration(record_for(part, node))
                ok = p.learned and 0 < p.low <= p.value <= p.high
                self._cache[key] = sigma_from_interval(p.low, p.high) if ok else None
            except ImeweError:
                self._cache[key] = None
        return self._cache[key]

    def energies(self, part: Part, node: Node) -> float | None:
        """Learned kWh of ``part`` on ``node`` for the energy planner, or None (it keeps the machine's profile;
        the reason is kept in ``energy_flags``)."""
        key = (part.id, node.id, part.estimated_duration_s, "kwh")
        self.durations(part, node)  # the same cache, cleared on a new version
        if key in self._cache:
            return self._cache[key]
        p = self.estimator.energy_kwh(part, node)
        if p is None:
            self.energy_flags[(str(part.id), node.name)] = self.flags.get((str(part.id), node.name)) or \
                "no learned energy for this machine: analytic draw"
            value = None
        else:
            self.energy_flags.pop((str(part.id), node.name), None)
            value = p.value
        self._cache[key] = value
        return value

    def _duration(self, part: Part, node: Node) -> int | None:
        try:
            p = self.service.duration(record_for(part, node))
        except ImeweError as exc:
            self.flags[(str(part.id), node.name)] = str(exc)
            return None
        if not p.learned:
            self.flags[(str(part.id), node.name)] = p.note
            return None
        self.flags.pop((str(part.id), node.name), None)
        return max(1, int(round(p.value)))

    # ------------------------------------------------------------------ the window's port
    def estimates(self, parts: list[Part]) -> dict[UUID, DurationEstimate]:
        """Part id -> its duration on its machine: learned with its interval, or the analytic one, flagged."""
        return self.estimator.durations(parts)

    def estimate_on(self, node: Node, process: str, material: str, size_mm: tuple[float, float, float],
                    estimate_s: float, material_g: float = 0.0, file_path: str | None = None) -> DurationEstimate:
        """A part not stored yet (design review) on ``node``."""
        if estimate_s <= 0:
            return DurationEstimate.analytic(0.0)
        return self.estimator.duration_of(record_raw(node, process, material, size_mm, estimate_s, material_g,
                                                     file_path))

    async def before_start(self, node: Node, job: Job, part: Part) -> asyncio.Task | None:
        """Production calls this as it starts a part. It returns at once (a start must not wait on the store:
        the machine's state may move meanwhile); the risk check runs beside the start and raises its alert
        within moments. Never stops the start: the operator decides. None when no model is active."""
        if self.service.models() is None:
            return None
        task = asyncio.get_running_loop().create_task(self.check_risk(node, job, part), name="learning.risk")
        self._risk_tasks.add(task)
        task.add_done_callback(self._risk_tasks.discard)
        return task

    # ------------------------------------------------------------------ the risk check before a start
    async def _on_plan(self, ev: PlanUpdated) -> None:
        """A new plan: the next part planned on each machine gets its failure risk checked now, from the
        machine's telemetry so far, so a high risk raises its alert while there is still time to act (the check
        beside the start stays: it sees the last minutes too, and the alert is not raised twice). Runs beside the
        planner, never in its way; a part is checked again on the same machine after ``PRECHECK_AGAIN_S``."""
        if self.service.models() is None:
            return
        now = self._clock.now().timestamp()
        nxt: dict[UUID, Any] = {}
        for row in sorted(getattr(ev.plan, "rows", None) or [], key=lambda r: r.start):
            if row.state not in RUNNING_ROWS and row.node_id not in nxt:
                nxt[row.node_id] = row
        if len(self.prechecked) > CACHE_MAX:
            self.prechecked.clear()
        for node_id, row in nxt.items():
            last = self.prechecked.get((row.part_id, node_id))
            if last is not None and now - last[0] < PRECHECK_AGAIN_S:
                continue
            self.prechecked[(row.part_id, node_id)] = (now, None)
            task = asyncio.get_running_loop().create_task(self._precheck(node_id, row), name="learning.precheck")
            self._risk_tasks.add(task)
            task.add_done_callback(self._risk_tasks.discard)

    async def _precheck(self, node_id: UUID, row: Any) -> float | None:
        try:
            node = self._node_of(node_id) if self._node_of is not None else None
            job = await self._job_of(row.job_id) if self._job_of is not None else None
        except ImeweError:
            return None  # the machine or the job went since the plan was made
        part = next((p for p in job.parts if p.id == row.part_id), None) if job is not None else None
        if node is None or part is None:
            return None
        risk = await self.check_risk(node, job, part, planned_at=row.start)
        self.prechecked[(row.part_id, node_id)] = (self.prechecked.get((row.part_id, node_id), (0.0,))[0], risk)
        return risk

    async def check_risk(self, node: Node, job: Job, part: Part, planned_at: datetime | None = None) -> float | None:
        """Failure risk of the part on the machine from its recent telemetry; at or over ``risk_alert`` an alert
        is raised. ``planned_at``: checked ahead of a planned start (the alert says when it is planned)."""
        try:
            window = await self.service.repo.store.run(self.service.repo.window, str(node.id),
                                                       self._clock.now().timestamp())
            risk = self.service.risk(record_for(part, node, window))
        except ImeweError as exc:
            log.warning("failure risk of %s on %s not computed: %s", part.name, node.name, exc)
            return None
        if risk is not None and risk >= self.service.settings.risk_alert and self._raise_alert is not None:
            when = "" if planned_at is None else \
                f", planned to start there at {finish_label(planned_at, self._clock.now(), self.zone)}"
            await self._raise_alert(str(node.id), "failure_risk", Severity.WARNING,
                                    f"{node.name}: {risk:.0%} risk that {job.name}/{part.name} fails{when} (recent "
                                    "vibration, temperature ripple and wear); check the machine before it runs",
                                    node_id=node.id, key=str(part.id))
        return risk

    # ------------------------------------------------------------------ feedback loop
    async def _on_change(self, ev: StateChanged) -> None:
        if ev.change.kind != "part" or ev.change.to_state not in FINISHED:
            return
        self.finished_since_training += 1
        if self.finished_since_training >= self.service.settings.retrain_after_jobs:
            self.retrain_soon()

    def retrain_soon(self) -> asyncio.Task | None:
        if not self.service.settings.enabled or (self._training is not None and not self._training.done()):
            return None
        self.finished_since_training = 0
        self._training = asyncio.get_running_loop().create_task(self._retrain(), name="learning.retrain")
        return self._training

    async def _retrain(self, nightly: bool = False) -> None:
        store = self.service.repo.store
        try:
            added = await store.run(self.service.repo.collect)
            due = await store.run(self.service.due, 1 if nightly else None)
            if nightly:
                self.last_nightly = {"at": self._clock.now(), "collected": added, "trained": due}
            if not due:
                log.info("collected %d finished jobs; training not due yet%s", added,
                         " (nothing new since the active version)" if nightly else "")
                return
            # The store's single writer thread must stay free: train on a thread of its own, which waits for
            # the spawned worker process.
            self.last_result = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.service.train(in_worker=self.train_in_worker))
            if nightly and self.last_nightly is not None:
                self.last_nightly["decision"] = self.last_result.get("decision")
        except ImeweError as exc:
            log.warning("background training skipped: %s", exc)
