"""What the timeline draws besides the work: material changes, maintenance windows and the hours nobody is on
the floor, from a plan and the problem it was made for."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from app.core.production.plan_view import SetupRow
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem
from app.core.scheduling.staffing import StaffedHours


def shading(now: datetime, built, problem: Problem, plan: Plan, names: dict[UUID, str],
            staffed: StaffedHours | None) -> tuple[list[SetupRow], list[tuple[UUID, str, datetime, datetime]],
                                                   list[tuple[datetime, datetime]]]:
    """Each material change just before the work that needs it, each machine's maintenance windows, and the
    hours nobody is on the floor (up to a day past the plan)."""
    at = lambda t: now + timedelta(seconds=t)  # noqa: E731
    setups = []
    for m, seq in enumerate(plan.sequences(problem.n_machines)):
        prev = problem.machine_family[m]
        node = built.nodes[m]
        for o in seq:
            f = problem.family[o]
            d = problem.setup(prev, f)
            if d > 0:
                setups.append(SetupRow(node, names.get(node, "?"), at(plan.start[o] - d), at(plan.start[o]),
                                       built.materials[prev], built.materials[f]))
            prev = f if f >= 0 else prev
    horizon = max(plan.end, default=0) + 86400
    blocked = [(built.nodes[m], names.get(built.nodes[m], "?"), at(a), at(min(b, horizon)))
               for m, wins in enumerate(problem.unavailable) for a, b in wins if a < horizon]
    unstaffed = staffed.closed(now, at(horizon)) if staffed is not None else []
    return setups, blocked, unstaffed
