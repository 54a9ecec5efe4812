"""Which part a machine runs now, and the jobs whose parts wait for it: one rule for the window and the command
line.

A machine can hold more than one part in progress: a batch part waits, partly made, between copies while the
machine runs another job's part (in the demo, 3 of 12 clips, then a sign's stand). Such a job is not "Printing":
it is "Waiting" for that machine, and it goes on only after the machine's current work.

The core cannot hear the machines; the caller says what it knows as plain arguments: which part each machine
reports working on (the window, from the live readings) and when each part went in progress (the window from the
bus, the command line from the jobs' stored timelines). ``machine_work_from_store`` is that for a process that
has only the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState
from app.core.domain.words import job_state_word
from app.core.jobs.eta import part_eta, running_since

WAITING_WORD = "Waiting"
_IN_PROGRESS = (JobState.IN_PROGRESS, JobState.PAUSED)
_EARLIEST = datetime.min.replace(tzinfo=UTC)

Held = tuple[Job, Part]
Busy = Mapping[UUID, UUID]  # machine id -> the part it runs now


def held_parts(jobs: Iterable[Job]) -> dict[UUID, list[Held]]:
    """Machine id -> the parts in progress (or paused) on it, with their jobs."""
    held: dict[UUID, list[Held]] = {}
    for job in jobs:
        for part in job.parts:
            if part.assigned_node is not None and part.state in _IN_PROGRESS:
                held.setdefault(part.assigned_node, []).append((job, part))
    return held


def running_part(held: Sequence[Held], reported: UUID | None = None,
                 started: Mapping[UUID, datetime] | None = None) -> Held:
    """Of the parts in progress on one machine, the one it runs now: the one it reports working on (a part id or
    a job id), else the one that went in progress last."""
    if len(held) > 1:
        if reported is not None:
            for job, part in held:
                if reported in (part.id, job.id):
                    return job, part
        started = started or {}
        return max(held, key=lambda jp: started.get(jp[1].id, _EARLIEST))
    return held[0]


def busy_machines(jobs: Iterable[Job], reported: Callable[[UUID], UUID | None] | None = None,
                  started: Mapping[UUID, datetime] | None = None) -> dict[UUID, UUID]:
    """Machine id -> the part it runs now, for every machine with work in progress."""
    said = reported or (lambda _n: None)
    return {node: running_part(held, said(node), started)[1].id for node, held in held_parts(jobs).items()}


def waiting_parts(job: Job, busy: Busy) -> dict[UUID, UUID]:
    """Part id -> machine id of the job's parts in progress that wait, partly made, while their machine runs
    another part."""
    out: dict[UUID, UUID] = {}
    for part in job.parts:
        if part.state not in _IN_PROGRESS or part.assigned_node is None:
            continue
        runs = busy.get(part.assigned_node)
        if runs is not None and runs != part.id:
            out[part.id] = part.assigned_node
    return out


def waiting_for(job: Job, busy: Busy) -> list[UUID]:
    """The machines a job waits for (empty when it does not): every one of its parts in progress waits for its
    machine. A job with one part really running is running, whatever its other parts do."""
    waiting = waiting_parts(job, busy)
    if not waiting or any(p.state in _IN_PROGRESS and p.id not in waiting for p in job.parts):
        return []
    return sorted(set(waiting.values()), key=str)


def job_state_text(job: Job, busy: Busy) -> str:
    """The job's state in words: "Waiting" for a job that waits for its machines, else "Printing", "Queued", ..."""
    if waiting_for(job, busy):
        return WAITING_WORD
    return job_state_word(job.state, {p.process for p in job.parts})


def part_state_text(part: Part, busy: Busy) -> str:
    """A part's state in words: "Waiting" for a part in progress whose machine runs another part."""
    if part.state in _IN_PROGRESS and part.assigned_node is not None:
        runs = busy.get(part.assigned_node)
        if runs is not None and runs != part.id:
            return WAITING_WORD
    return job_state_word(part.state, {part.process})


def running_and_waiting(jobs: Iterable[Job], busy: Busy) -> tuple[int, int]:
    """How many of the jobs really run (in progress, not waiting) and how many wait for their machines (in progress
    or paused, read "Waiting"): a status line's counts. ``jobs``: those in progress and paused, so that ``busy``
    (``busy_machines`` of the same jobs) knows every part a machine holds."""
    running = waiting = 0
    for job in jobs:
        if waiting_for(job, busy):
            waiting += 1
        elif job.state is JobState.IN_PROGRESS:
            running += 1
    return running, waiting


def waiting_note(machines: Iterable[str]) -> str:
    """Why a job reads "Waiting", naming its machines."""
    names = ", ".join(sorted(set(machines)))
    return (f"Waiting for {names}: its part is paused between copies while the machine runs another job's part; "
            "it goes on after that")


@dataclass(frozen=True, slots=True)
class MachineWork:
    """What a process that has only the store knows of its machines' work: ``busy`` machine id -> the part it runs
    now; ``free_at`` machine id -> when that part ends, for the machines other parts wait for."""

    busy: dict[UUID, UUID] = field(default_factory=dict)
    free_at: dict[UUID, datetime] = field(default_factory=dict)

    def after(self, job: Job) -> dict[UUID, datetime]:
        """Part id -> when its machine is free, for the job's waiting parts (``job_eta``'s ``after``)."""
        return {pid: self.free_at[node] for pid, node in waiting_parts(job, self.busy).items()
                if node in self.free_at}


async def machine_work_from_store(jobs: object, now: datetime,
                                  estimate_of: Callable[[list[Part]], Mapping] | None = None,
                                  reported: Callable[[UUID], UUID | None] | None = None) -> MachineWork:
    """``MachineWork`` from the stored jobs: the part a machine runs is the one it reports (``reported``: machine
    id -> a part or job id, in the process that drives the machines), else the one that went in progress last (the
    stored timeline; a process without the machines' reports has nothing fresher), and it ends when its time left
    (``part_eta``; ``estimate_of`` gives the learned durations of parts, part id -> estimate) says."""
    running = await jobs.list(set(_IN_PROGRESS), limit=10_000)  # type: ignore[attr-defined]
    held = held_parts(running)
    shared = {node: parts for node, parts in held.items() if len(parts) > 1}  # only there is there a choice
    ran: dict[UUID, float] = {}
    for job_id in {job.id for parts in shared.values() for job, _p in parts}:
        ran |= running_since(await jobs.timeline(job_id), now)  # type: ignore[attr-defined]
    started = {pid: now - timedelta(seconds=secs) for pid, secs in ran.items()}
    said = reported or (lambda _n: None)
    busy = {node: running_part(parts, said(node), started)[1].id for node, parts in held.items()}
    runs = [part for node, parts in shared.items() for _job, part in parts if part.id == busy[node]]
    learned = estimate_of(runs) if estimate_of is not None and runs else {}
    free_at: dict[UUID, datetime] = {}
    for part in runs:
        eta = part_eta(part, now, elapsed_s=ran.get(part.id), estimate=learned.get(part.id))
        if eta is not None and part.assigned_node is not None:
            free_at[part.assigned_node] = eta.finish_at
    return MachineWork(busy, free_at)
