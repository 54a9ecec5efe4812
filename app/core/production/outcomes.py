"""A machine ends a run: count the copy, close the part, or send the part back to the planner; and tell the
operator (alert and audit entry). Plain functions of the ``ProductionService`` they are methods of."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from uuid import UUID

from app.core import audit
from app.core.device_events import DeviceJobFinished
from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, Severity
from app.core.domain.errors import NotFoundError
from app.core.events import FaultReported, ReplanRequested
from app.core.production.runs import MAX_ATTEMPTS, S

if TYPE_CHECKING:
    from app.core.production.service import ProductionService

log = logging.getLogger(__name__)


async def finished(prod: ProductionService, ev: DeviceJobFinished) -> None:
    run = prod._running.get(ev.node_id)
    if run is None or ev.job_id != run.job_id:
        # A machine whose work was moved while it was out of reach may still finish it.
        await prod._late_finish(ev)
        return
    del prod._running[ev.node_id]
    prod.doubt.clear(ev.node_id)
    prod._resumed.pop(ev.node_id, None)
    try:
        job = await prod._jobs.get(run.job_id)
    except NotFoundError:
        return
    if job.state in (S.CANCELLED, S.COMPLETED):
        return
    part = next(p for p in job.parts if p.id == run.part_id)
    name = prod._name(ev.node_id)
    if part.state not in (S.IN_PROGRESS, S.PAUSED):
        # Someone (an operator, a linked site) took the part back meanwhile: this result is not ours to book.
        log.warning("%s finished %s (%s) but the part is %s now; ignored", name, part.name, ev.outcome,
                    part.state.value)
        prod._wake.set()
        return
    if ev.outcome == "completed":
        done = prod._done_copies.get(part.id, 0) + 1
        prod._done_copies[part.id] = done
        if done >= max(part.quantity, 1):
            await prod._jobs.update_progress(part.id, 100.0)
            await prod._close_part(job, part, S.COMPLETED, f"done on {name}")
        else:  # more copies to make: the part stays IN_PROGRESS, the planner places the next one
            await prod._jobs.update_progress(part.id, 100.0 * done / part.quantity)
            prod._wake.set()
        return
    # Failed, cancelled by the machine, or the link went away: the part goes back to the planner.
    attempts = prod._attempts.get(part.id, 0) + 1
    prod._attempts[part.id] = attempts
    reason = f"{ev.outcome} on {name}: {ev.message}".strip().rstrip(":")
    if ev.outcome == "failed" and attempts >= MAX_ATTEMPTS:
        await prod._close_part(job, part, S.FAILED, f"{reason} (attempt {attempts}, giving up)")
        return
    if any(r.part_id == part.id for r in prod._running.values()):
        # Other copies still run: the lost copy simply goes back into the pool of work to plan.
        prod._bus.publish(ReplanRequested(f"copy moved off {name}", job_id=job.id, node_id=ev.node_id))
        return
    steps = {part.id: S.PAUSED} if part.state is S.IN_PROGRESS else {}
    await prod._jobs.transition(job.id, job.state, reason, parts=steps)
    job = await prod._jobs.get(job.id)
    await prod._jobs.transition(job.id, _job_state_after_move(job, part.id), f"moving: {reason}",
                                parts={part.id: S.VALIDATED}, assign={part.id: None})
    prod._bus.publish(ReplanRequested(f"part moved off {name}", job_id=job.id, node_id=ev.node_id))


async def tell(prod: ProductionService, node_id: UUID, kind: str, severity: Severity, message: str, key: str,
               details: dict | None = None) -> None:
    """An alert for the operator (a FaultReported on the bus: the alert service stores it, deduplicated and rate
    limited like every fault) and an audit entry."""
    log.warning("%s", message)
    prod._bus.publish(FaultReported(str(node_id), kind, severity, message, node_id, key))
    if prod._store is None:
        return
    now = prod._clock.now()

    def write() -> None:
        with prod._store.begin() as conn:
            audit.record(conn, now, "production", f"production.{kind}", f"node:{node_id}",
                         after={"message": message, **(details or {})})

    await prod._store.run(write)


async def close_part(prod: ProductionService, job: Job, part: Part, state: JobState, reason: str) -> None:
    others = [p for p in job.parts if p.id != part.id]
    if state is S.FAILED:
        target = S.FAILED
    elif all(p.state is S.COMPLETED for p in others):
        target = S.COMPLETED
    else:
        target = S.IN_PROGRESS
    if job.state is S.PAUSED and target is S.COMPLETED:
        await prod._jobs.transition(job.id, S.IN_PROGRESS, reason)
    await prod._jobs.transition(job.id, target, reason, parts={part.id: state})


def _job_state_after_move(job: Job, moved: UUID) -> JobState:
    """A job whose part left a failed machine: still running if other parts run, else back to planning."""
    if any(p.state in (S.IN_PROGRESS, S.ASSIGNED) for p in job.parts if p.id != moved):
        return job.state if job.state is not S.PAUSED else S.IN_PROGRESS
    if job.state in (S.IN_PROGRESS,):
        return S.PAUSED
    if job.state is S.PAUSED:
        return S.VALIDATED
    return S.VALIDATED if job.state in (S.SCHEDULED, S.ASSIGNED) else job.state
