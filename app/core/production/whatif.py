"""What if: the plan the site would make under a change (a machine down for a while, a job rushed, a lower power
cap), next to the live plan, without touching the live plan or anything stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.production.plan_view import PlanView


@dataclass(slots=True)
class JobChange:
    job_id: UUID
    name: str
    end_before: datetime | None  # in the live plan (None: not in it)
    end_after: datetime | None  # in the what-if plan (None: cannot be planned under the change)
    late_before_s: float  # past its due date (0 when on time or no due date)
    late_after_s: float
    moved: bool  # a part changes machine or start


def compare(live: PlanView | None, new_rows: list[tuple[UUID, str, UUID, UUID, datetime, datetime]],
            due: dict[UUID, datetime | None]) -> list[JobChange]:
    """Per job, its end and lateness in the live plan and in the what-if plan (``new_rows``: job, job name, part,
    node, start, end), the jobs that move first."""
    before: dict[UUID, list[tuple[UUID, UUID, datetime, datetime]]] = {}
    names: dict[UUID, str] = {}
    for r in live.rows if live is not None else []:
        before.setdefault(r.job_id, []).append((r.part_id, r.node_id, r.start, r.end))
        names[r.job_id] = r.job_name
    after: dict[UUID, list[tuple[UUID, UUID, datetime, datetime]]] = {}
    for job_id, name, part_id, node_id, start, end in new_rows:
        after.setdefault(job_id, []).append((part_id, node_id, start, end))
        names[job_id] = name
    out = []
    for job_id in sorted(set(before) | set(after), key=lambda j: names.get(j, "")):
        b, a = sorted(before.get(job_id, [])), sorted(after.get(job_id, []))
        end_b = max((x[3] for x in b), default=None)
        end_a = max((x[3] for x in a), default=None)
        d = due.get(job_id)

        def late(end: datetime | None, d: datetime | None = d) -> float:
            return max(0.0, (end - d).total_seconds()) if end is not None and d is not None else 0.0

        moved = [(x[0], x[1], x[2]) for x in b] != [(x[0], x[1], x[2]) for x in a]
        out.append(JobChange(job_id, names.get(job_id, "?"), end_b, end_a, late(end_b), late(end_a), moved))
    out.sort(key=lambda c: (not c.moved, c.name))
    return out


def summary(changes: list[JobChange]) -> dict[str, Any]:
    return {"jobs_moved": sum(c.moved for c in changes),
            "late_before_s": sum(c.late_before_s for c in changes),
            "late_after_s": sum(c.late_after_s for c in changes)}
