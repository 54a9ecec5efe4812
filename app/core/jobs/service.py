"""Jobs: submit (one or a batch), validate, reprioritise, cancel, request rescheduling, follow parts and timeline.

A submission is acknowledged only after its transaction commits: the job, its parts, their state changes and
the audit entry are written together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import JobState
from app.core.domain.errors import NotFoundError, ValidationError
from app.core.domain.states import StateChange, advance
from app.core.events import JobSubmitted, JobUpdated, ReplanRequested, StateChanged
from app.core.jobs.feasibility import check_feasible
from app.core.jobs.validation import JobSpec, _int, parse_job_spec
from app.core.store.db import Store
from app.core.store.repositories import HistoryRepo, JobRepo

log = logging.getLogger(__name__)
S = JobState
WriteHook = Callable[[Connection, Job, list[StateChange], str], None]


class JobService:
    name = "jobs"

    def __init__(self, store: Store, bus: EventBus, clock: Clock, nodes: Callable[[], list[Node]]) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._nodes = nodes  # the current fleet, for feasibility
        self._repo = JobRepo()
        self._history = HistoryRepo()
        self._write_hooks: list[WriteHook] = []

    def add_write_hook(self, hook: WriteHook) -> None:
        """Run ``hook(conn, job, changes, actor)`` inside every transaction that changes a job's state, so what
        must follow the change elsewhere in the store (a cancel queued for the site that runs the job) commits
        with it or not at all."""
        self._write_hooks.append(hook)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def health(self) -> str:
        return "ok"

    # ------------------------------------------------------------ submit
    def build_checked(self, spec: JobSpec, actor: str) -> tuple[Job, list[StateChange]]:
        """A job and its first state changes from a parsed spec, checked against this site's fleet (schema, units,
        materials, feasibility), not yet stored: for a caller that writes it in a transaction of its own (a job a
        linked site sends), then calls ``announce_new``."""
        return self._build(spec, actor)

    def announce_new(self, jobs: list[Job], changes: list[StateChange]) -> None:
        """The events of a local submission, for jobs stored by ``build_checked``'s caller."""
        self._announce(jobs, changes)

    def _build(self, spec: JobSpec, actor: str) -> tuple[Job, list[StateChange]]:
        for i, p in enumerate(spec.parts):
            if p.size_mm is None:
                raise ValidationError(f"part {p.name!r} has no size and its file was not read here", f"parts[{i}].size")
        now = self._clock.now()
        job = Job(name=spec.name, priority=spec.priority, submitted_at=now, due_at=spec.due_at,
                  metadata=dict(spec.metadata, submitted_by=actor))
        parts = [Part(job_id=job.id, name=p.name, process=p.process, material_type=p.material,
                      size_mm=p.size_mm, quantity=p.quantity, complexity=p.complexity, batch_group=p.batch_group,
                      file_path=p.file_path, estimated_duration_s=p.estimated_duration_s)
                 for p in spec.parts]
        for part, p in zip(parts, spec.parts, strict=True):
            part.depends_on = [parts[i].id for i in p.depends_on]
        job.parts = parts
        check_feasible(job, self._nodes())
        job.estimated_duration_s = sum(p.estimated_duration_s * p.quantity for p in parts)
        material: dict[str, float] = {}
        for p in parts:
            material[p.material_type] = material.get(p.material_type, 0.0) + p.estimated_material_g * p.quantity
        job.estimated_material = material
        changes = [StateChange("job", job.id, None, S.SUBMITTED.value, now, "submitted", actor)]
        changes += [StateChange("part", p.id, None, S.SUBMITTED.value, now, "submitted", actor) for p in parts]
        changes.append(advance(job, S.VALIDATED, now, "schema, units, materials and feasibility checked", actor))
        changes += [advance(p, S.VALIDATED, now, "", actor) for p in parts]
        return job, changes

    async def _spec(self, data: JobSpec | dict[str, Any]) -> JobSpec:
        spec = parse_job_spec(data)
        if any(p.file_path or p.size_mm is None for p in spec.parts):
            # Reading and analysing part files is heavy: never on the event loop.
            # Imported here: mesh and G-code analysis is heavy, and most commands never read a part file.
            from app.core.jobs.part_files import complete_from_files

            spec = await asyncio.get_running_loop().run_in_executor(None, complete_from_files, spec)
        return spec

    async def submit(self, data: JobSpec | dict[str, Any], actor: ActorLike = "system") -> Job:
        actor = authorize(actor, Action.SUBMIT)
        job, changes = self._build(await self._spec(data), actor)
        await self._store.run(self._write_new, [job], changes, actor)
        self._announce([job], changes)
        return job

    async def submit_batch(self, items: Sequence[JobSpec | dict[str, Any]],
                           actor: ActorLike = "system") -> list[Job]:
        """All or nothing: one bad job rejects the batch, naming it."""
        actor = authorize(actor, Action.SUBMIT)
        if not isinstance(items, list | tuple) or not items:
            raise ValidationError("a batch is a non-empty list of jobs", "batch")
        if len(items) > 10_000:
            raise ValidationError("a batch holds at most 10,000 jobs", "batch")
        built: list[Job] = []
        changes: list[StateChange] = []
        for i, data in enumerate(items):
            try:
                job, ch = self._build(await self._spec(data), actor)
            except ValidationError as exc:
                raise ValidationError(f"job {i + 1} of the batch: {exc}", f"batch[{i}].{exc.field}") from exc
            built.append(job)
            changes += ch
        await self._store.run(self._write_new, built, changes, actor)
        self._announce(built, changes)
        return built

    def _write_new(self, jobs: list[Job], changes: list[StateChange], actor: str) -> None:
        with self._store.begin() as conn:
            self._repo.add_many(conn, jobs)
            self._history.add(conn, changes)
            for job in jobs:
                audit.record(conn, job.submitted_at, actor, "job.submit", f"job:{job.id}", None,
                             {"name": job.name, "priority": job.priority, "parts": len(job.parts)})

    def _announce(self, jobs: list[Job], changes: list[StateChange]) -> None:
        for job in jobs:
            self._bus.publish(JobSubmitted(job.id))
        for c in changes:
            self._bus.publish(StateChanged(c))
        self._bus.publish(ReplanRequested("jobs submitted"))

    # ------------------------------------------------------------ reads
    async def get(self, job_id: UUID) -> Job:
        return await self._read(lambda conn: self._repo.get(conn, job_id))

    async def find(self, ref: str) -> Job:
        """A job by full id or a unique id prefix of 4+ characters (what an operator types)."""
        ref = ref.strip()
        try:
            return await self.get(UUID(ref))
        except ValueError:
            pass
        if len(ref) < 4 or not all(c in "0123456789abcdef-" for c in ref.lower()):
            raise NotFoundError(f"no job {ref[:60]!r}")
        import sqlalchemy as sa

        from app.core.store import schema as t

        def lookup(conn) -> Job:
            ids = conn.execute(sa.select(t.jobs.c.id).where(t.jobs.c.id.startswith(ref.lower())).limit(2)).all()
            if len(ids) != 1:
                raise NotFoundError(f"no job {ref!r}" if not ids else f"{ref!r} matches several jobs")
            return self._repo.get(conn, UUID(ids[0][0]))

        return await self._read(lookup)

    async def list(self, states: set[JobState] | None = None, search: str | None = None,
                   limit: int = 1000, offset: int = 0) -> list[Job]:
        return await self._read(lambda conn: self._repo.list(conn, states, limit, offset, search))

    async def parts(self, job_id: UUID) -> list[Part]:
        return (await self.get(job_id)).parts

    async def timeline(self, job_id: UUID) -> list[StateChange]:
        job = await self.get(job_id)
        return await self._read(lambda conn: self._history.timeline(conn, [job.id, *[p.id for p in job.parts]]))

    async def counts_by_state(self) -> dict[str, int]:
        return await self._read(self._repo.count_by_state)

    async def _read(self, fn):
        def run():
            with self._store.connect() as conn:
                return fn(conn)

        return await self._store.run(run)

    # ------------------------------------------------------------ changes
    async def set_priority(self, job_id: UUID, priority: Any, actor: ActorLike = "system") -> Job:
        actor = authorize(actor, Action.PRIORITY)
        value = _int(priority, "priority", "priority", 1, 10)
        job = await self.get(job_id)
        if job.state.terminal:
            raise ValidationError(f"job {job.name} is {job.state.value}; its priority can no longer change",
                                  "priority")
        before = job.priority
        job.priority = value
        now = self._clock.now()

        def write() -> None:
            with self._store.begin() as conn:
                self._repo.update(conn, job)
                audit.record(conn, now, actor, "job.priority", f"job:{job.id}", {"priority": before},
                             {"priority": value})

        await self._store.run(write)
        self._bus.publish(JobUpdated(job.id, "priority"))
        self._bus.publish(ReplanRequested("priority changed", job_id=job.id))
        return job

    async def cancel(self, job_id: UUID, actor: ActorLike = "system", reason: str = "cancelled by operator") -> Job:
        actor = authorize(actor, Action.CANCEL)
        job = await self.get(job_id)
        now = self._clock.now()
        changes = [advance(job, S.CANCELLED, now, reason, actor)]
        changes += [advance(p, S.CANCELLED, now, reason, actor) for p in job.parts if not p.state.terminal]
        await self._store.run(self._write_changes, job, changes, actor, "job.cancel")
        self._announce_changes(job, changes)
        self._bus.publish(ReplanRequested("job cancelled", job_id=job.id))
        return job

    async def request_reschedule(self, job_id: UUID, actor: ActorLike = "system") -> Job:
        """The spec's /jobs/{id}/reschedule: planned work goes back to VALIDATED and the planner runs again."""
        actor = authorize(actor, Action.PRIORITY)
        job = await self.get(job_id)
        if job.state not in (S.SCHEDULED, S.ASSIGNED, S.FAILED, S.PAUSED, S.VALIDATED):
            raise ValidationError(f"job {job.name} is {job.state.value} and cannot be rescheduled", "state")
        now = self._clock.now()
        changes = []
        if job.state is not S.VALIDATED:
            changes.append(advance(job, S.VALIDATED, now, "reschedule requested", actor))
        for p in job.parts:
            if p.state in (S.SCHEDULED, S.ASSIGNED, S.FAILED, S.PAUSED):
                changes.append(advance(p, S.VALIDATED, now, "reschedule requested", actor))
                p.assigned_node = None
        await self._store.run(self._write_changes, job, changes, actor, "job.reschedule")
        self._announce_changes(job, changes)
        self._bus.publish(ReplanRequested("reschedule requested", job_id=job.id))
        return job

    async def transition(self, job_id: UUID, target: JobState, reason: str = "", actor: str = "system",
                         parts: dict[UUID, JobState] | None = None,
                         assign: dict[UUID, UUID | None] | None = None) -> Job:
        """Used by the scheduler and the drivers: move a job and/or some of its parts, assign machines."""
        job = await self.get(job_id)
        now = self._clock.now()
        changes = []
        by_id = {p.id: p for p in job.parts}
        for pid, node in (assign or {}).items():
            by_id[pid].assigned_node = node
        for pid, state in (parts or {}).items():
            if by_id[pid].state is not state:
                changes.append(advance(by_id[pid], state, now, reason, actor))
        if target is not job.state:
            changes.append(advance(job, target, now, reason, actor))
            if target is S.COMPLETED:
                job.completed_at = now
        await self._store.run(self._write_changes, job, changes, actor, f"job.{target.value.lower()}")
        self._announce_changes(job, changes)
        return job

    async def update_progress(self, part_id: UUID, progress: float) -> None:
        progress = min(max(float(progress), 0.0), 100.0)

        def write() -> UUID:
            with self._store.begin() as conn:
                part = self._repo.find_part(conn, part_id)
                self._repo.update_part(conn, replace(part, progress=progress))
                return part.job_id

        job_id = await self._store.run(write)
        self._bus.publish(JobUpdated(job_id, "progress"))

    def _write_changes(self, job: Job, changes: list[StateChange], actor: str, action: str) -> None:
        with self._store.begin() as conn:
            before = self._repo.get(conn, job.id)
            self._repo.update(conn, job)
            for p in job.parts:
                self._repo.update_part(conn, p)
            self._history.add(conn, changes)
            audit.record(conn, self._clock.now(), actor, action, f"job:{job.id}", {"state": before.state.value},
                         {"state": job.state.value})
            for hook in self._write_hooks:
                hook(conn, job, changes, actor)

    def _announce_changes(self, job: Job, changes: list[StateChange]) -> None:
        for c in changes:
            self._bus.publish(StateChanged(c))
        self._bus.publish(JobUpdated(job.id, "state"))
