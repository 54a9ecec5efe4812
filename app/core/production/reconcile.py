"""Machines out of reach mid-job (in doubt) and back from it: hold their work for the grace period, move it
after, and reconcile a copy made twice. Plain functions of the ``ProductionService`` they are methods of; the
verdict itself is ``in_doubt.decide``."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from app.core.device_events import DeviceJobFinished, DeviceJobRecord
from app.core.domain.entities import Job, Node
from app.core.domain.enums import NodeState, Severity
from app.core.domain.errors import ImeweError, NotFoundError
from app.core.production.in_doubt import Verdict, decide
from app.core.production.plan_view import PlanRow, PlanView
from app.core.production.runs import GONE, RESUMED_S, Running, S

if TYPE_CHECKING:
    from app.core.production.service import ProductionService

log = logging.getLogger(__name__)


async def on_record(prod: ProductionService, ev: DeviceJobRecord) -> None:
    """A machine whose link came (back) up says what it ran: book what this site did not hear."""
    run = prod._running.get(ev.node_id)
    if run is not None and run.run_id == ev.run_id:
        was_in_doubt = prod.doubt.pending(ev.node_id)
        if ev.state == "running":
            prod.doubt.clear(ev.node_id)
            # Told before its node leaves OFFLINE: until that state catches up it is not in doubt again.
            prod._resumed[ev.node_id] = prod._clock.monotonic()
            run.fraction = min(max(ev.fraction, 0.0), 1.0)
            if was_in_doubt:
                await prod._tell(ev.node_id, "back_in_reach", Severity.INFO,
                                 f"{prod._name(ev.node_id)} is back and still making "
                                 f"{await prod._part_label(run)} ({100 * run.fraction:.0f} %); it continues "
                                 "there", run.run_id)
        else:  # it ended while we could not hear: book it as if we had
            await prod._finished(DeviceJobFinished(ev.node_id, ev.job_id, ev.state,
                                                   ev.message or "ended while the link was down"))
        return
    kept = prod.doubt.take(ev.run_id)
    if kept is None and ev.state == "running" and ev.job_id is not None and ev.part_id is not None \
            and ev.node_id not in prod._running:
        # A run this process did not start (the site restarted while the machine worked, and recovery put
        # the part back to plan): the machine is making it now, so it is adopted or reconciled, not repeated.
        kept = (ev.node_id, Running(ev.part_id, ev.job_id, ev.copy or 0, 1, run_id=ev.run_id))
    if kept is not None:
        await prod._settle_apart(kept[0], kept[1], ev.state, ev.fraction, ev.message)


async def late_finish(prod: ProductionService, ev: DeviceJobFinished) -> None:
    stopped = prod._cancelled_copies.get(ev.node_id)
    if stopped is not None and stopped.job_id == ev.job_id:
        del prod._cancelled_copies[ev.node_id]
        if ev.outcome == "completed":  # the cancel came too late: that copy was made, count it or tell
            await prod._settle_apart(ev.node_id, stopped, "completed", 1.0, ev.message)
        return
    kept = prod.doubt.take_for(ev.node_id, ev.job_id)
    if kept is not None:
        await prod._settle_apart(kept[0], kept[1], ev.outcome, 1.0 if ev.outcome == "completed" else 0.0,
                                 ev.message)


async def settle_apart(prod: ProductionService, node_id: UUID, run: Running, state: str, fraction: float,
                       message: str) -> None:
    """The machine ran (or runs) a copy whose work was planned elsewhere meanwhile: keep one, cancel the
    other, or count both when the quantity allows; tell the operator either way."""
    try:
        job = await prod._jobs.get(run.job_id)
    except NotFoundError:
        return
    part = next((p for p in job.parts if p.id == run.part_id), None)
    if part is None:
        return
    name, label = prod._name(node_id), f"{job.name}/{part.name}"
    others = [(n, r) for n, r in prod._running.items() if r.part_id == part.id and n != node_id]
    done = prod._done_copies.get(part.id, 0)
    wanted = job.state not in (S.CANCELLED, S.COMPLETED, S.FAILED) and part.state not in (
        S.CANCELLED, S.COMPLETED, S.FAILED)
    verdict = decide(state, fraction, quantity=part.quantity, done=done, others=[r.fraction for _, r in others],
                     part_open=wanted)
    if state == "running" and node_id in prod._running and verdict.verdict not in (
            Verdict.CANCEL_RETURNED, Verdict.KEEP_OTHER):
        verdict = replace(verdict, verdict=Verdict.KEEP_OTHER)  # the machine took new work: cannot be both
    v = verdict.verdict
    cancelled = ""
    if verdict.cancel_other is not None:
        other_node, other_run = others[verdict.cancel_other]
        prod._running.pop(other_node, None)  # its "cancelled" end is then not taken for a failure
        cancelled = prod._name(other_node)
        await prod._cancel_copy(other_node, other_run)
    if v in (Verdict.KEEP_OTHER, Verdict.CANCEL_RETURNED) and state == "running":
        await prod._cancel_copy(node_id, run)
    if state == "running" and v in (Verdict.CONTINUE, Verdict.COUNT, Verdict.KEEP_RETURNED):
        run.fraction, run.quantity = min(max(fraction, 0.0), 1.0), max(part.quantity, 1)
        prod._running[node_id] = run
        await prod._book_on_machine(job, part, node_id, f"back on {name}",
                                    reassign=v is Verdict.KEEP_RETURNED)
    elif state == "completed" and v in (Verdict.COUNT, Verdict.KEEP_RETURNED):
        done = prod._done_copies[part.id] = done + 1
        if done >= max(part.quantity, 1):
            job = await prod._book_on_machine(job, part, node_id, f"made on {name} while out of reach",
                                              reassign=True)
            part = next(p for p in job.parts if p.id == part.id)
            await prod._jobs.update_progress(part.id, 100.0)
            await prod._close_part(job, part, S.COMPLETED, f"done on {name} (while out of reach)")
        else:
            await prod._jobs.update_progress(part.id, 100.0 * done / max(part.quantity, 1))
    prod._wake.set()
    what = {
        Verdict.CONTINUE: f"{name} came back still making {label}; it continues there and the copy planned "
                          "elsewhere meanwhile is withdrawn",
        Verdict.COUNT: f"{name} came back having {'made' if state == 'completed' else 'kept making'} a copy "
                       f"of {label} while out of reach; the quantity ({part.quantity}) has room, so it counts",
        Verdict.KEEP_RETURNED: f"{name} came back having {'made' if state == 'completed' else 'gone on with'} "
                               f"{label} while its work was replanned; the copy on {cancelled} is cancelled",
        Verdict.KEEP_OTHER: f"{name} came back still making {label}, which was replanned and is further along "
                            "elsewhere; the copy on " + name + " is cancelled",
        Verdict.EXTRA: f"{name} finished {label} while out of reach, but it had already been made "
                       "elsewhere: one part too many",
        Verdict.CANCEL_RETURNED: f"{name} came back making {label}, which is no longer wanted; it is cancelled",
        Verdict.NOTHING: f"{name} came back: its copy of {label} ended {state} while out of reach "
                         f"({message or 'no details'}); the work had moved already",
    }[v]
    severity = Severity.INFO if v is Verdict.NOTHING else Severity.CRITICAL if v is Verdict.EXTRA \
        else Severity.WARNING
    await prod._tell(node_id, "made_twice" if v is Verdict.EXTRA else "reconciled", severity, what, run.run_id,
                     {"verdict": v.value, "part_id": str(part.id), "job_id": str(job.id), "run_state": state,
                      "cancelled_on": cancelled or None})


async def cancel_copy(prod: ProductionService, node_id: UUID, run: Running) -> None:
    """Stop a redundant copy; should it end completed all the same, ``_late_finish`` books or reports it."""
    prod._cancelled_copies[node_id] = run
    with contextlib.suppress(ImeweError, KeyError):
        await prod._driver(node_id).cancel()


async def part_label(prod: ProductionService, run: Running) -> str:
    try:
        job = await prod._jobs.get(run.job_id)
    except NotFoundError:
        return str(run.part_id)[:8]
    part = next((p for p in job.parts if p.id == run.part_id), None)
    return f"{job.name}/{part.name if part else '?'}"


async def rescue(prod: ProductionService) -> None:
    """Parts running or assigned on a machine that is gone: back to the planner (prod-healing). A machine
    that is only out of reach (OFFLINE) is in doubt first: it may still be making the part, so its work
    waits ``in_doubt_grace_s`` before it moves (and is reconciled if the machine comes back having run it)."""
    now = prod._clock.monotonic()
    for node_id, run in list(prod._running.items()):
        try:
            node = prod._fleet.get(node_id)
        except NotFoundError:
            node = None
        name = prod._name(node_id)
        if node is not None and node.state is NodeState.OFFLINE and prod.doubt.grace_s > 0:
            if now - prod._resumed.get(node_id, float("-inf")) < RESUMED_S:
                prod._wake_in(RESUMED_S)
                continue
            if prod.doubt.enter(node_id, now):
                await prod._tell(node_id, "in_doubt", Severity.WARNING,
                                 f"{name} went out of reach while making {await prod._part_label(run)}; it "
                                 f"keeps the work for {prod.doubt.grace_s:.0f} s before it is planned "
                                 "elsewhere", run.run_id)
            left = prod.doubt.left_s(node_id, now)
            if left > 0:
                prod._wake_in(left)
                continue
            prod.doubt.apart(node_id, run)
            message = f"{name} stayed out of reach for {prod.doubt.grace_s:.0f} s"
        elif node is None or node.state in GONE:
            message = f"{name} left service"
        elif prod.doubt.pending(node_id):  # back, but it said nothing of this run: the machine lost it
            prod.doubt.apart(node_id, run)
            message = f"{name} came back without the job"
        else:
            prod._resumed.pop(node_id, None)
            continue
        prod.doubt.clear(node_id)
        prod._running.pop(node_id, None)
        await prod._finished_like(node_id, run, message)


def show_in_doubt(prod: ProductionService, view: PlanView, jobs: list[Job], nodes: list[Node]) -> PlanView:
    """Copies held by machines in doubt are not planned, but the operator sees them on the plan (state
    IN_DOUBT) until their grace period ends."""
    held = prod.doubt.machines(prod._clock.monotonic())
    if not held:
        return view
    names = {n.id: n.name for n in nodes}
    job_of = {j.id: j for j in jobs}
    rows = list(view.rows)
    for node_id, left_s in held.items():
        run = prod._running.get(node_id)
        job = job_of.get(run.job_id) if run is not None else None
        part = next((p for p in job.parts if p.id == run.part_id), None) if job and run else None
        if part is None:
            continue
        rows.append(PlanRow(node_id, names.get(node_id, "?"), job.id, job.name, part.id,
                            f"{job.name}/{part.name}", view.made_at, view.made_at + timedelta(seconds=left_s),
                            "IN_DOUBT"))
    return replace(view, rows=rows)
