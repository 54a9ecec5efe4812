"""Time left and finish time as the window shows them: from the jobs the window loaded, the machines' live
progress (fresher than the store) and, for network machines, their own figure next to ours."""

from __future__ import annotations

from datetime import datetime

from app.core.domain.entities import Job, Node
from app.core.jobs.eta import ANALYTIC, Eta, duration_label, finish_label, job_eta, part_eta
from app.core.jobs.waiting import waiting_parts
from app.ui.live_data import LiveData


def _live_part(live: LiveData, node_id: object, now: datetime) -> tuple[float | None, float | None, float | None]:
    """(fraction, elapsed_s, machine's own time left) of the part on a machine, from its reports."""
    held = live.running.get(node_id)  # type: ignore[call-overload]
    if held is None:
        return None, None, None
    part = held[1]
    metrics = live.latest(node_id)  # type: ignore[arg-type]
    work = live.job_of(live.current_job(node_id))  # type: ignore[arg-type]
    fraction = live.current_progress(node_id) if work in (part.id, part.job_id) else None  # type: ignore[arg-type]
    elapsed = metrics.get("elapsed_s")
    if elapsed is None and part.id in live.started:
        elapsed = max(0.0, (now - live.started[part.id]).total_seconds())
    return fraction, elapsed, metrics.get("time_left_s")


def node_eta(live: LiveData, node: Node, now: datetime | None = None) -> Eta | None:
    """The time left of the part a machine runs now (None when it runs nothing Imewe knows of)."""
    return _running_eta(live, node.id, now or live.now())


def _running_eta(live: LiveData, node_id: object, now: datetime) -> Eta | None:
    held = live.running.get(node_id)  # type: ignore[call-overload]
    if held is None:
        return None
    fraction, elapsed, theirs = _live_part(live, node_id, now)
    return part_eta(held[1], now, fraction=fraction, elapsed_s=elapsed, machine_left_s=theirs,
                    plan_end=live.plan_end.get(held[1].id), estimate=live.estimates.get(held[1].id))


def machine_free_at(live: LiveData, node_id: object, now: datetime) -> datetime | None:
    """When the part a machine runs now ends (None when it runs nothing Imewe knows of)."""
    eta = _running_eta(live, node_id, now)
    return None if eta is None else eta.finish_at


def job_eta_live(live: LiveData, job: Job, now: datetime | None = None) -> Eta | None:
    """A job's time left, with the live progress of its running parts; a part that waits for its machine (the
    core's rule, ``waiting_parts``) goes on after the machine's current work (or at the plan's end for it,
    whichever is later)."""
    now = now or live.now()
    fresh: dict = {}
    for part in job.parts:
        held = live.running.get(part.assigned_node) if part.assigned_node else None
        if held is None or held[1].id != part.id:
            continue
        fraction, elapsed, _theirs = _live_part(live, part.assigned_node, now)
        fresh[part.id] = (part.progress / 100.0 if fraction is None else fraction, elapsed)
    after = {}
    for part_id, node_id in waiting_parts(job, live.busy()).items():
        free = machine_free_at(live, node_id, now)
        if free is not None:
            after[part_id] = free
    return job_eta(job, now, fresh, live.plan_end, live.estimates, after)


def eta_text(eta: Eta | None, live: LiveData, now: datetime | None = None, *, short: bool = False) -> str:
    """``1 h 05 min left · done 14:05`` (``short``: ``1 h 05 min · 14:05``); the machine's own figure in brackets.
    The long form says how the figure was come by: the learned 80 % interval, or "analytic estimate"."""
    if eta is None:
        return ""
    now = now or live.now()
    left, at = duration_label(eta.left_s), finish_label(eta.finish_at, now, live.zone)
    if short:
        return f"{left} · {at}"
    text = f"{left} left · done {at}"
    if eta.learned:
        text += f" · learned, 80 % within {basis_range(eta)}"
    elif eta.learned is False:
        text += f" · {ANALYTIC}"
    if eta.machine_left_s is not None:
        text += f" (machine says {duration_label(eta.machine_left_s)})"
    return text


def basis_range(eta: Eta) -> str:
    lo = eta.left_s if eta.low_s is None else min(eta.low_s, eta.left_s)
    hi = eta.left_s if eta.high_s is None else max(eta.high_s, eta.left_s)
    return f"{duration_label(lo)} – {duration_label(hi)}"
