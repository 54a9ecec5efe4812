"""Time left and finish time of running work, from the estimate and what the machine reports.

A part's estimate alone goes stale the moment a machine runs faster or slower than planned; progress alone says
nothing before the first percent. So: before a few percent the estimate scaled by what is left; after that the
rate actually seen (elapsed / fraction) takes over smoothly. A network machine's own figure (OctoPrint's
``printTimeLeft``, Moonraker's, a Bambu's minutes) is kept beside ours, never mixed into it.

Times are aware UTC; ``finish_label`` shows them in the site's zone with the date when it is not today.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState

TRUST_RATE_FROM = 0.02  # below 2 % done, elapsed/fraction is mostly warm-up noise
FULL_RATE_AT = 0.30  # from 30 % on, the rate seen is all that counts
RATE_BOUND = 3.0  # the rate seen may move the estimate by at most this factor either way
RUNNING = (JobState.IN_PROGRESS, JobState.PAUSED)
WAITING = (JobState.SUBMITTED, JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED)


@dataclass(frozen=True, slots=True)
class Eta:
    """What is left of one piece of work: ``left_s`` is ours; ``machine_left_s`` the machine's own figure."""

    left_s: float
    finish_at: datetime
    elapsed_s: float | None = None
    machine_left_s: float | None = None


def time_left_s(estimate_s: float, fraction: float, elapsed_s: float | None = None) -> float:
    """Seconds left of work estimated at ``estimate_s`` that is ``fraction`` (0..1) done after ``elapsed_s``."""
    fraction = min(max(fraction, 0.0), 1.0)
    by_estimate = max(estimate_s, 0.0) * (1.0 - fraction)
    if elapsed_s is None or elapsed_s <= 0 or fraction < TRUST_RATE_FROM:
        return by_estimate
    by_rate = elapsed_s / fraction - elapsed_s
    if estimate_s <= 0:
        return by_rate
    # A rate far off the estimate is a clock that jumped or a run that was held, not a machine 10x slower.
    by_rate = min(max(by_rate, by_estimate / RATE_BOUND), by_estimate * RATE_BOUND)
    w = min(1.0, (fraction - TRUST_RATE_FROM) / (FULL_RATE_AT - TRUST_RATE_FROM))
    return (1.0 - w) * by_estimate + w * by_rate


def part_eta(part: Part, now: datetime, *, fraction: float | None = None, elapsed_s: float | None = None,
             machine_left_s: float | None = None, plan_end: datetime | None = None) -> Eta | None:
    """A running part's time left (None when the part is not running). ``fraction`` overrides the stored progress
    (a machine's live report is fresher than the store); ``plan_end`` is the plan's end for a part that has no
    estimate of its own."""
    if part.state not in RUNNING:
        return None
    done = (part.progress / 100.0) if fraction is None else fraction
    if part.estimated_duration_s <= 0 and plan_end is not None and (elapsed_s is None or done < TRUST_RATE_FROM):
        left = max(0.0, (plan_end - now).total_seconds())
        return Eta(left, now + timedelta(seconds=left), elapsed_s, machine_left_s)
    left = time_left_s(part.estimated_duration_s, done, elapsed_s)
    return Eta(left, now + timedelta(seconds=left), elapsed_s, machine_left_s)


def job_eta(job: Job, now: datetime, live: dict | None = None, plan_end: dict | None = None) -> Eta | None:
    """A job's time left: the parts on one machine run one after another, machines run side by side, so the job
    ends when its busiest machine does. Parts not on a machine yet count as one more machine's worth.
    ``live`` maps part id → (fraction, elapsed_s or None) from the machines; ``plan_end`` part id → the plan's end,
    used for parts without an estimate. None for a job that is not running or waiting, or has no figure at all."""
    if job.state.terminal or job.state is JobState.FAILED or not job.parts:
        return None
    live, plan_end = live or {}, plan_end or {}
    per_machine: dict[object, float] = defaultdict(float)
    planned: list[datetime] = []
    running = False
    for part in job.parts:
        if part.state in (JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED):
            continue
        fraction, elapsed = live.get(part.id, (part.progress / 100.0, None))
        if part.id in plan_end and (part.estimated_duration_s <= 0 or part.state not in RUNNING):
            # the plan knows when a queued part ends (after what runs before it), and ends work with no estimate
            running = running or part.state in RUNNING
            planned.append(plan_end[part.id])
            continue
        if part.state in RUNNING:
            running = True
            left = time_left_s(part.estimated_duration_s, fraction, elapsed)
        else:
            left = float(max(part.estimated_duration_s, 0))
        per_machine[part.assigned_node] += left
    left = max(per_machine.values(), default=0.0)
    if planned:
        left = max(left, max((end - now).total_seconds() for end in planned), 0.0)
    elif not per_machine or not any(per_machine.values()):
        return None  # nothing to go by: no estimate, no plan
    return Eta(left, now + timedelta(seconds=left))


def site_zone(name: str | None) -> tzinfo | None:
    """The site's time zone by IANA name; None (the computer's own zone) when unset or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def duration_label(seconds: float | None) -> str:
    """``2 h 05 min``, ``12 min``, ``40 s``; an empty string for no figure."""
    if seconds is None:
        return ""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def finish_label(at: datetime | None, now: datetime, zone: tzinfo | None = None) -> str:
    """``14:05`` today, ``Thu 3 Dec 14:05`` another day, in the site's zone (the computer's when None)."""
    if at is None:
        return ""
    local, today = at.astimezone(zone), now.astimezone(zone)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def relative_label(at: datetime | None, now: datetime) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago`` (times in the future say ``in 5 min``)."""
    if at is None:
        return ""
    secs = (now - at).total_seconds()
    if abs(secs) < 45:
        return "just now"
    a = abs(secs)
    text = (f"{int(a // 60)} min" if a < 3600 else f"{int(a // 3600)} h" if a < 86400 else f"{int(a // 86400)} d")
    return f"{text} ago" if secs > 0 else f"in {text}"


def running_since(changes: list, now: datetime) -> dict:
    """part id → seconds it has run, from a job's state changes (the last start that was not a resume)."""
    started: dict = {}
    for c in sorted(changes, key=lambda c: c.at):
        if c.kind == "part" and c.to_state == JobState.IN_PROGRESS.value and c.from_state != JobState.PAUSED.value:
            started[c.obj_id] = c.at
    return {pid: max(0.0, (now - at).total_seconds()) for pid, at in started.items()}


async def job_eta_from_store(jobs: object, job: Job, now: datetime) -> Eta | None:
    """``job_eta`` with the elapsed time of its running parts read from the job's stored timeline."""
    if not any(p.state in RUNNING for p in job.parts):
        return job_eta(job, now)
    ran = running_since(await jobs.timeline(job.id), now)  # type: ignore[attr-defined]
    live = {p.id: (p.progress / 100.0, ran.get(p.id)) for p in job.parts if p.state in RUNNING}
    return job_eta(job, now, live)


def eta_fields(eta: Eta | None, now: datetime, zone: tzinfo | None = None) -> dict:
    """What ``--json`` says of the time left: seconds, and the finish as an aware UTC time (plus a label)."""
    if eta is None:
        return {"time_left_s": None, "finish_at": None, "finish": ""}
    return {"time_left_s": round(eta.left_s), "finish_at": eta.finish_at, "finish": finish_label(eta.finish_at, now, zone)}
