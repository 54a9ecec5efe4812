"""Time left and finish time of running work, from the estimate and what the machine reports.

A part's estimate alone goes stale the moment a machine runs faster or slower than planned; progress alone says
nothing before the first percent. So: before a few percent the estimate scaled by what is left; after that the
rate actually seen (elapsed / fraction) takes over smoothly. A network machine's own figure (OctoPrint's
``printTimeLeft``, Moonraker's, a Bambu's minutes) is kept beside ours, never mixed into it.

Times are aware UTC; ``finish_label`` shows them in the site's zone with the date when it is not today.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
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


ANALYTIC = "analytic estimate"


@dataclass(frozen=True, slots=True)
class DurationEstimate:
    """A part's duration on its machine: learned from the site's history (with its 80 % interval) or the
    analytic estimate (``learned`` False, ``low_s == high_s``; ``note`` says why nothing learned is used)."""

    value_s: float
    low_s: float
    high_s: float
    learned: bool
    note: str = ""

    @classmethod
    def analytic(cls, seconds: float, note: str = ANALYTIC) -> DurationEstimate:
        return cls(seconds, seconds, seconds, False, note)

    def label(self) -> str:
        """``2 h 10 min (1 h 55 min – 2 h 30 min)`` learned, ``2 h 10 min (analytic estimate)`` not."""
        return interval_label(self.value_s, self.low_s, self.high_s, self.learned)

    def to_dict(self) -> dict:
        return {"value_s": round(self.value_s), "low_s": round(self.low_s), "high_s": round(self.high_s),
                "learned": self.learned, "note": self.note, "label": self.label()}


Estimates = Mapping[object, DurationEstimate]  # part id -> its estimate on its machine


@dataclass(frozen=True, slots=True)
class Eta:
    """What is left of one piece of work: ``left_s`` is ours; ``machine_left_s`` the machine's own figure.
    ``learned`` says whether a learned duration went into it (None: no estimate did, only the plan or the
    rate seen); ``low_s``/``high_s`` are its 80 % interval when it did."""

    left_s: float
    finish_at: datetime
    elapsed_s: float | None = None
    machine_left_s: float | None = None
    learned: bool | None = None
    low_s: float | None = None
    high_s: float | None = None

    def label(self) -> str:
        """Time left with its interval (learned) or ``(analytic estimate)``; bare when no estimate went in."""
        if self.learned is None:
            return duration_label(self.left_s)
        lo = self.left_s if self.low_s is None else self.low_s
        hi = self.left_s if self.high_s is None else self.high_s
        return interval_label(self.left_s, lo, hi, self.learned)


def interval_label(value: float, low: float, high: float, learned: bool) -> str:
    if not learned:
        return f"{duration_label(value)} ({ANALYTIC})"
    lo, hi = duration_label(min(low, value)), duration_label(max(high, value))
    if lo == hi:
        return duration_label(value)
    return f"{duration_label(value)} ({lo} – {hi})"


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
             machine_left_s: float | None = None, plan_end: datetime | None = None,
             estimate: DurationEstimate | None = None) -> Eta | None:
    """A running part's time left (None when the part is not running). ``fraction`` overrides the stored progress
    (a machine's live report is fresher than the store); ``plan_end`` is the plan's end for a part that has no
    estimate of its own; ``estimate`` the learned duration on its machine (it replaces the part's analytic one,
    and its interval gives the time left's)."""
    if part.state not in RUNNING:
        return None
    done = (part.progress / 100.0) if fraction is None else fraction
    if part.estimated_duration_s <= 0 and plan_end is not None and (elapsed_s is None or done < TRUST_RATE_FROM):
        left = max(0.0, (plan_end - now).total_seconds())
        return Eta(left, now + timedelta(seconds=left), elapsed_s, machine_left_s)
    est = _estimate(part, estimate)
    left = time_left_s(est.value_s, done, elapsed_s)
    lo, hi = time_left_s(est.low_s, done, elapsed_s), time_left_s(est.high_s, done, elapsed_s)
    learned = est.learned if part.estimated_duration_s > 0 or estimate is not None else None
    return Eta(left, now + timedelta(seconds=left), elapsed_s, machine_left_s, learned, lo, hi)


def _estimate(part: Part, estimate: DurationEstimate | None) -> DurationEstimate:
    """The learned estimate when there is one, else the part's own (analytic) figure."""
    if estimate is not None and estimate.value_s > 0:
        return estimate
    return DurationEstimate.analytic(float(part.estimated_duration_s))


def job_eta(job: Job, now: datetime, live: dict | None = None, plan_end: dict | None = None,
            estimates: Estimates | None = None, after: dict | None = None) -> Eta | None:
    """A job's time left: the parts on one machine run one after another, machines run side by side, so the job
    ends when its busiest machine does. Parts not on a machine yet count as one more machine's worth.
    ``live`` maps part id → (fraction, elapsed_s or None) from the machines; ``plan_end`` part id → the plan's end,
    used for parts without an estimate; ``estimates`` part id → its learned duration on its machine (the plan's
    finish times already follow the learned durations). None for a job that is not running or waiting, or has
    no figure at all. ``after`` maps part id → when its machine is free: a part in progress that waits, partly made,
    while its machine runs another job's part goes on only then (its plan's end, if any, is no earlier)."""
    if job.state.terminal or job.state is JobState.FAILED or not job.parts:
        return None
    live, plan_end, estimates, after = live or {}, plan_end or {}, estimates or {}, after or {}
    per_machine: dict[object, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    waits: dict[object, float] = {}  # machine -> seconds until it is free for this job's waiting part
    planned: list[datetime] = []
    running = False
    learned: list[bool] = []
    for part in job.parts:
        if part.state in (JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED):
            continue
        fraction, elapsed = live.get(part.id, (part.progress / 100.0, None))
        free_at = after.get(part.id)
        if free_at is not None:
            waits[part.assigned_node] = max(waits.get(part.assigned_node, 0.0), (free_at - now).total_seconds(), 0.0)
        if part.id in plan_end and (part.estimated_duration_s <= 0 or part.state not in RUNNING or free_at is not None):
            # the plan knows when a queued part ends (after what runs before it), and ends work with no estimate
            running = running or part.state in RUNNING
            planned.append(plan_end[part.id] if free_at is None else max(plan_end[part.id], free_at))
            continue
        est = _estimate(part, estimates.get(part.id))
        if est.value_s > 0:
            learned.append(est.learned)
        if part.state in RUNNING:
            running = True
            left3 = [time_left_s(v, fraction, elapsed) for v in (est.value_s, est.low_s, est.high_s)]
        else:
            left3 = [max(v, 0.0) for v in (est.value_s, est.low_s, est.high_s)]
        acc = per_machine[part.assigned_node]
        for i in range(3):
            acc[i] += left3[i]
    for node, wait in waits.items():
        if node in per_machine:
            per_machine[node] = [v + wait for v in per_machine[node]]
    busiest = max(per_machine.values(), key=lambda a: a[0], default=[0.0, 0.0, 0.0])
    left, lo, hi = busiest
    if planned:
        end = max(left, max((end - now).total_seconds() for end in planned), 0.0)
        lo, hi, left = lo + end - left, hi + end - left, end
    elif not per_machine or not any(a[0] for a in per_machine.values()):
        return None  # nothing to go by: no estimate, no plan
    # "learned" only when every estimate that went in was learned; one analytic part makes the figure analytic
    flag = all(learned) if learned else None
    return Eta(left, now + timedelta(seconds=left), learned=flag, low_s=lo if flag else None,
               high_s=hi if flag else None)


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


async def job_eta_from_store(jobs: object, job: Job, now: datetime, estimates: Estimates | None = None,
                             after: dict | None = None) -> Eta | None:
    """``job_eta`` with the elapsed time of its running parts read from the job's stored timeline. ``after``: part
    id -> when its machine is free, for parts that wait while their machine runs other work (``MachineWork.after``);
    such a part's elapsed time is not its rate, so it goes by its progress alone."""
    after = after or {}
    going = [p for p in job.parts if p.state in RUNNING and p.id not in after]
    if not going:
        return job_eta(job, now, estimates=estimates, after=after)
    ran = running_since(await jobs.timeline(job.id), now)  # type: ignore[attr-defined]
    live = {p.id: (p.progress / 100.0, ran.get(p.id)) for p in going}
    return job_eta(job, now, live, estimates=estimates, after=after)


def eta_fields(eta: Eta | None, now: datetime, zone: tzinfo | None = None) -> dict:
    """What ``--json`` says of the time left: seconds, and the finish as an aware UTC time (plus a label)."""
    if eta is None:
        return {"time_left_s": None, "finish_at": None, "finish": "", "time_left": "", "estimate_basis": None}
    basis = None if eta.learned is None else ("learned" if eta.learned else ANALYTIC)
    return {"time_left_s": round(eta.left_s), "finish_at": eta.finish_at, "finish": finish_label(eta.finish_at, now, zone),
            "time_left": eta.label(), "estimate_basis": basis,
            "time_left_low_s": None if eta.low_s is None else round(eta.low_s),
            "time_left_high_s": None if eta.high_s is None else round(eta.high_s)}
