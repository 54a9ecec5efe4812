"""What if: the plan the site would make under a change (a machine down for a while, a job rushed, a lower power
cap), next to the live plan, without touching the live plan or anything stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np

from app.core.production.plan_view import PlanView
from app.core.scheduling.twin import replay

MOVE_S = 60.0  # a start this close to the live plan's is the same start (the two plans are made moments apart)


def _key(x: tuple[UUID, UUID, datetime, datetime]) -> tuple[str, datetime]:
    return str(x[0]), x[2]


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

        moved = len(b) != len(a) or any(  # another machine, or a start more than a minute away
            xb[0] != xa[0] or xb[1] != xa[1] or abs((xb[2] - xa[2]).total_seconds()) > MOVE_S
            for xb, xa in zip(sorted(b, key=_key), sorted(a, key=_key), strict=True))
        out.append(JobChange(job_id, names.get(job_id, "?"), end_b, end_a, late(end_b), late(end_a), moved))
    out.sort(key=lambda c: (not c.moved, c.name))
    return out


def summary(changes: list[JobChange]) -> dict[str, Any]:
    return {"jobs_moved": sum(c.moved for c in changes),
            "late_before_s": sum(c.late_before_s for c in changes),
            "late_after_s": sum(c.late_after_s for c in changes)}


TWIN_REPLAYS = 1000
TWIN_SIGMA = 0.15  # log-spread of every duration: about +-20 % for an 80 % interval


def twin_odds(built: Any, plan: Any, due: dict[UUID, datetime | None], n: int = TWIN_REPLAYS,
              sigma: float | list[float] = TWIN_SIGMA, seed: int = 0) -> dict[UUID, dict[str, Any]]:
    """Per job of ``built`` (a BuiltProblem) under ``plan``, from ``n`` simulated replays (the plan's digital twin):
    the share in which it ends by its due date (``due``; None without one) and its finish time at 10, 50, 90 %."""
    problem = built.problem
    job_ids: dict[int, UUID] = {}
    for o, ref in enumerate(built.ops):
        job_ids.setdefault(problem.op_job[o], ref.job_id)
    result = replay(problem, plan, n=n, sigma=sigma, seed=seed)
    spread = result.finish_quantiles((0.1, 0.5, 0.9))
    at = built.origin
    out: dict[UUID, dict[str, Any]] = {}
    for j, job_id in job_ids.items():
        p10, p50, p90 = (at + timedelta(seconds=float(x)) for x in spread[j])
        d = due.get(job_id)
        on_time = None if d is None else float(np.mean(result.job_finish[:, j] <= (d - at).total_seconds()))
        out[job_id] = {"on_time": None if on_time is None else round(on_time, 3),
                       "finish_p10": p10, "finish_p50": p50, "finish_p90": p90}
    return out
