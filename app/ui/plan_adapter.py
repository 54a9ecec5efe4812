"""Turning the scheduler's plan (or, before one exists, the jobs' own assignments) into Gantt bars.

The production service publishes ``PlanUpdated(PlanView)``: ``rows`` of node_id, job_id, job_name, part_id,
label, start, end, state. We read that shape without depending on it, and also an object or dict with
``assignments`` (what ``BuiltProblem.assignments`` returns), a plain list of entries, or
``{node_id: [entries]}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID

from app.core.domain.entities import Job, Node
from app.core.domain.enums import JobState, ProcessType
from app.core.jobs.eta import duration_label, finish_label
from app.ui.words import job_state_word
from app.viz.gantt import Bar
from app.viz.gantt_shades import CLOSED, MAINTENANCE, SETUP, Shade

_ORDER = {s.value: i for i, s in enumerate(JobState)}  # declared in the order a job goes through them
_ENTRY_LISTS = ("rows", "assignments", "entries", "operations", "ops", "items", "bars")
_MACHINE = ("node_id", "machine_id", "node", "machine")
_START = ("start", "start_at", "starts_at", "begin")
_END = ("end", "end_at", "ends_at", "finish")


def _get(entry: Any, names: Iterable[str]) -> Any:
    for n in names:
        value = entry.get(n) if isinstance(entry, Mapping) else getattr(entry, n, None)
        if value is not None:
            return value
    return None


def _ts(value: Any, origin: datetime | None) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and origin is not None:
        return (origin + timedelta(seconds=float(value))).timestamp()
    return None


def plan_entries(plan: Any) -> tuple[list[Any], datetime | None]:
    """The plan's per-operation entries and its time origin (for plans in seconds from an origin)."""
    origin = _get(plan, ("origin", "at", "start_at", "created_at"))
    origin = origin if isinstance(origin, datetime) else None
    if plan is None:
        return [], origin
    if isinstance(plan, list | tuple):
        return list(plan), origin
    for name in _ENTRY_LISTS:
        value = plan.get(name) if isinstance(plan, Mapping) else getattr(plan, name, None)
        if callable(value):
            continue
        if isinstance(value, list | tuple):
            return list(value), origin
    if isinstance(plan, Mapping):
        out = []
        for machine, ops in plan.items():
            if isinstance(ops, list | tuple):
                for op in ops:
                    out.append((machine, op))
        return out, origin
    return [], origin


def bar_tip(label: str, machine: str, start_ts: float, end_ts: float, state: str, zone: tzinfo | None,
            now: datetime | None = None, process: ProcessType | None = None) -> str:
    """A bar's tooltip: job and part, machine, start and end in the site's time, and the time left."""
    now = now or datetime.now(UTC)
    start, end = datetime.fromtimestamp(start_ts, UTC), datetime.fromtimestamp(end_ts, UTC)
    job, _, part = label.partition(" / ") if " / " in label else label.partition("/")
    lines = [f"Job: {job.strip()}"] + ([f"Part: {part.strip()}"] if part else []) + [
        f"Machine: {machine}", f"State: {job_state_word(state, {process} if process else None)}",
        f"Start: {finish_label(start, now, zone)}", f"End: {finish_label(end, now, zone)}"]
    if start <= now < end:
        lines.append(f"Left: {duration_label((end - now).total_seconds())}")
    return "\n".join(lines)


def bars_from_plan(plan: Any, nodes: list[Node], jobs: Mapping[UUID, Job],
                   job_names: Mapping[UUID, str], zone: tzinfo | None = None) -> tuple[list[str], list[Bar]]:
    entries, origin = plan_entries(plan)
    rows = {n.id: i for i, n in enumerate(nodes)}
    names = [n.name for n in nodes]
    by_name = {n.name: n.id for n in nodes}
    machine_process = {n.id: n.process for n in nodes}
    parts = {p.id: p for j in jobs.values() for p in j.parts}
    bars = []
    for item in entries:
        machine, entry = item if isinstance(item, tuple) else (_get(item, _MACHINE), item)
        if isinstance(machine, str) and machine in by_name:
            machine = by_name[machine]
        if isinstance(machine, str):
            try:
                machine = UUID(machine)
            except ValueError:
                continue
        start, end = _ts(_get(entry, _START), origin), _ts(_get(entry, _END), origin)
        if machine not in rows or start is None or end is None:
            continue
        job_id = _get(entry, ("job_id", "job"))
        part = parts.get(_get(entry, ("part_id", "part")))
        state = _get(entry, ("state",))
        if not isinstance(state, str):
            state = part.state.value if part else (jobs[job_id].state.value if job_id in jobs else "SCHEDULED")
        if state == "RUNNING":  # the plan's word for work a machine runs now: coloured and named like it
            state = JobState.IN_PROGRESS.value
        if part is not None and _ORDER.get(part.state.value, -1) > _ORDER.get(state, -1):
            state = part.state.value  # the plan was made before the part started: its own state is newer
        label = _get(entry, ("job_name",)) or job_names.get(job_id, str(job_id)[:8] if job_id else "")
        detail = _get(entry, ("label",)) or (part.name if part is not None else "")
        label = _bar_label(str(label), str(detail))
        bars.append(Bar(rows[machine], start, end, job_id, label, state, str(job_id),
                        bar_tip(label, names[rows[machine]], start, end, state, zone,
                                process=part.process if part else machine_process.get(machine))))
    return names, bars


def _bar_label(job: str, detail: str) -> str:
    """A bar's words: "bracket / arm #2"; the plan's own label may already name the job ("bracket/arm #2"),
    never doubled; a one-part job whose part has the job's name is just its name."""
    if not detail:
        return job
    if job and detail.startswith(job):
        detail = detail[len(job):].lstrip("/ ")
    if not job or not detail:
        return job or detail
    return job if detail == job else f"{job} / {detail}"


def bars_from_jobs(jobs: Iterable[Job], nodes: list[Node], now: datetime,
                   live_progress: Mapping[UUID, float] | None = None,
                   zone: tzinfo | None = None) -> tuple[list[str], list[Bar]]:
    """Without a plan: running parts from their progress, then assigned parts queued behind them.
    ``live_progress`` (job id → percent, from telemetry) is fresher than the stored progress."""
    live_progress = live_progress or {}
    rows = {n.id: i for i, n in enumerate(nodes)}
    cursor: dict[UUID, float] = {}
    now_ts = now.timestamp()
    active = (JobState.IN_PROGRESS, JobState.PAUSED)
    queued = (JobState.SCHEDULED, JobState.ASSIGNED)
    bars: list[Bar] = []
    ordered = sorted(jobs, key=lambda j: (-j.priority, j.submitted_at or now))
    for wanted in (active, queued):
        for job in ordered:
            for part in job.parts:
                node = part.assigned_node
                if node not in rows or part.state not in wanted:
                    continue
                dur = float(max(part.estimated_duration_s * max(part.quantity, 1), 60))
                if wanted is active:
                    start = now_ts - dur * max(part.progress, live_progress.get(job.id, 0.0)) / 100.0
                else:
                    start = cursor.get(node, now_ts)
                end = start + dur
                cursor[node] = max(cursor.get(node, now_ts), end)
                label = _bar_label(job.name, part.name)
                bars.append(Bar(rows[node], start, end, job.id, label, part.state.value, str(job.id),
                                bar_tip(label, nodes[rows[node]].name, start, end, part.state.value, zone, now,
                                        part.process)))
    return [n.name for n in nodes], bars


def _span_words(start_ts: float, end_ts: float, zone: tzinfo | None, now: datetime) -> list[str]:
    start, end = datetime.fromtimestamp(start_ts, UTC), datetime.fromtimestamp(end_ts, UTC)
    return [f"From: {finish_label(start, now, zone)}", f"To: {finish_label(end, now, zone)}",
            f"Lasts: {duration_label(end_ts - start_ts)}"]


def extras_from_plan(plan: Any, nodes: list[Node], zone: tzinfo | None = None,
                     now: datetime | None = None) -> tuple[list[Bar], list[Shade]]:
    """What the plan shows besides the work: material changes as their own bars, each machine's maintenance
    windows on its row and the hours nobody is on the floor across the timeline (a plan without them: none)."""
    now = now or datetime.now(UTC)
    rows = {n.id: i for i, n in enumerate(nodes)}
    bars: list[Bar] = []
    for s in getattr(plan, "setups", None) or []:
        if s.node_id not in rows:
            continue
        a, b = s.start.timestamp(), s.end.timestamp()
        label = f"{s.from_material or '?'} → {s.to_material or '?'}"
        tip = "\n".join([f"Setup: material change {label}", f"Machine: {nodes[rows[s.node_id]].name}",
                         *_span_words(a, b, zone, now)])
        bars.append(Bar(rows[s.node_id], a, b, None, label, SETUP, "setup", tip))
    shades: list[Shade] = []
    for node_id, name, start, end in getattr(plan, "blocked", None) or []:
        if node_id in rows:
            a, b = start.timestamp(), end.timestamp()
            shades.append(Shade(a, b, MAINTENANCE, rows[node_id],
                                "\n".join([f"Maintenance: {name} is kept free", *_span_words(a, b, zone, now)])))
    for start, end in getattr(plan, "unstaffed", None) or []:
        a, b = start.timestamp(), end.timestamp()
        shades.append(Shade(a, b, CLOSED, None, "\n".join(
            ["Nobody on the floor: work that needs a person does not start or end now",
             *_span_words(a, b, zone, now)])))
    return bars, shades
