"""Incremental replanning on shop-floor events: only the work an event touches moves.

Work that started before ``now`` stays where it is (it becomes fixed in the problem). The touched operations and
everything that must follow them in their jobs are taken off the plan and put back, earliest first, into the free
time left by everything else; untouched work never moves, so an event on one machine costs little on a big fleet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from app.core.domain.errors import ValidationError
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import INF, Problem
from app.core.scheduling.timeline import Timelines
from app.core.scheduling.util import gc_paused

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplanResult:
    problem: Problem
    plan: Plan
    moved: list[int]  # operations whose machine or start changed


def _closure(problem: Problem, seeds: Iterable[int]) -> set[int]:
    out: set[int] = set()
    stack = list(seeds)
    while stack:
        o = stack.pop()
        if o in out:
            continue
        out.add(o)
        stack.extend(problem.succs[o])
    return out


def _pin_started(problem: Problem, plan: Plan, now: int, exclude: set[int]) -> dict[int, tuple[int, int]]:
    fixed = dict(problem.fixed)
    for o in range(problem.n_ops):
        if o not in exclude and plan.start[o] < now and o not in fixed:
            fixed[o] = (plan.machine[o], plan.start[o])
    return fixed


def repair(problem: Problem, plan: Plan, now: int, seeds: Iterable[int]) -> ReplanResult:
    """Re-place ``seeds`` and their job successors (those not started) at or after ``now``."""
    with gc_paused():
        return _repair(problem, plan, now, seeds)


def _repair(problem: Problem, plan: Plan, now: int, seeds: Iterable[int]) -> ReplanResult:
    affected = {o for o in _closure(problem, seeds) if o not in problem.fixed}
    tl = Timelines(problem)
    new = plan.copy()
    tl.load([(o, plan.machine[o], plan.start[o], plan.end[o] - plan.start[o])
             for o in range(problem.n_ops) if o not in affected])
    rank = _local_topo_rank(problem, affected)
    moved: list[int] = []
    for o in sorted(affected, key=lambda o: (plan.start[o], rank[o])):
        ready = max(problem.release[o], now)
        for p in problem.preds[o]:
            ready = max(ready, new.end[p])
        best = None
        for m, d in problem.alts[o]:
            s = tl.earliest(o, m, ready, d)
            key = (s + d, m != plan.machine[o], d)  # prefer staying put when it is as good
            if best is None or key < best[0]:
                best = (key, m, s, d)
        if best is None or best[2] >= INF // 2:
            raise ValidationError(f"{problem.op_names[o]} has no machine left that can run it")
        _, m, s, d = best
        tl.place(o, m, s, d)
        if (m, s) != (plan.machine[o], plan.start[o]):
            moved.append(o)
        new.machine[o], new.start[o], new.end[o] = m, s, s + d
    new.source = "replan"
    return ReplanResult(problem, new, moved)


def _local_topo_rank(problem: Problem, ops: set[int]) -> dict[int, int]:
    """A topological rank of a subset (ties in start time must still put predecessors first)."""
    indeg = {o: sum(1 for p in problem.preds[o] if p in ops) for o in ops}
    stack = [o for o, k in indeg.items() if k == 0]
    rank: dict[int, int] = {}
    while stack:
        o = stack.pop()
        rank[o] = len(rank)
        for x in problem.succs[o]:
            if x in indeg:
                indeg[x] -= 1
                if indeg[x] == 0:
                    stack.append(x)
    return rank


def machine_failed(problem: Problem, plan: Plan, machine: int, at: int) -> ReplanResult:
    """The machine is out from ``at`` on: its work not finished moves to machines that can run it.

    An operation running on it at ``at`` restarts elsewhere (its partial work is lost, as on a real failure).
    """
    lost = [o for o in range(problem.n_ops) if plan.machine[o] == machine and plan.end[o] > at]
    orphans = [o for o in lost if len(problem.alts[o]) == 1]
    if orphans:
        raise ValidationError(f"{len(orphans)} operation(s), e.g. {problem.op_names[orphans[0]]}, can only run "
                              f"on {problem.machine_names[machine]}; bring it back or add a similar machine")
    unavailable = [list(w) for w in problem.unavailable]
    unavailable[machine].append((at, INF))
    # Its operations no longer list it, so nothing can be planned back onto it.
    alts = list(problem.alts)
    for o in lost:
        alts[o] = [(m, d) for m, d in problem.alts[o] if m != machine]
    lost_set = set(lost)
    fixed = _pin_started(problem, plan, at, lost_set)
    fixed = {o: v for o, v in fixed.items() if o not in lost_set}
    newp = problem.evolve(unavailable=unavailable, alts=alts, fixed=fixed)
    res = repair(newp, plan, at, lost)
    log.info("machine %s failed at %s: %d operations moved", problem.machine_names[machine], at, len(res.moved))
    return res


def op_finished(problem: Problem, plan: Plan, op: int, at: int) -> ReplanResult:
    """An operation ended at ``at`` (early or late): its duration becomes the real one and the rest follows."""
    m, s = plan.machine[op], plan.start[op]
    if at < s:
        raise ValidationError(f"{problem.op_names[op]} cannot finish at {at}, before it started at {s}")
    clash = [o for o in problem.fixed if o != op and ((problem.fixed[o][0] == m and s <= problem.fixed[o][1] < at)
                                                     or o in problem.succs[op])]
    if clash:
        raise ValidationError(f"{problem.op_names[op]} cannot end at {at}: {problem.op_names[clash[0]]} already "
                              "started after it; report events in the order they happened")
    alts = list(problem.alts)
    alts[op] = [(mm, (at - s) if mm == m else d) for mm, d in problem.alts[op]]
    # Late: work on the same machine that now overlaps moves; early: its successors may move up.
    seeds = [o for o in range(problem.n_ops) if plan.machine[o] == m and s <= plan.start[o] < at and o != op
             and o not in problem.fixed]
    seeds += list(problem.succs[op])
    base = problem.evolve(alts=alts)
    fixed = _pin_started(base, plan, at, _closure(problem, seeds))
    fixed[op] = (m, s)
    newp = base.evolve(fixed=fixed)
    shifted = plan.copy()
    shifted.end[op] = at
    return repair(newp, shifted, at, seeds)


def add_job(problem: Problem, plan: Plan, alts: list[list[tuple[int, int]]], preds: list[list[int]], now: int,
            name: str = "", weight: float = 5.0, due: int = INF, power_w: list[float] | None = None,
            family: list[int] | None = None) -> ReplanResult:
    """Append a job (``preds`` index within the new job) and fit it into the free time from ``now``."""
    n0, j = problem.n_ops, problem.n_jobs
    k = len(alts)
    newp = replace(
        problem,
        op_job=problem.op_job + [j] * k,
        alts=problem.alts + alts,
        preds=problem.preds + [[n0 + p for p in ps] for ps in preds],
        op_names=problem.op_names + [f"{name or f'job{j}'}.{i}" for i in range(k)],
        job_names=problem.job_names + [name or f"job{j}"],
        job_weight=problem.job_weight + [weight],
        job_due=problem.job_due + [due],
        release=problem.release + [now] * k,
        family=problem.family + (family or [-1] * k),
        power_w=problem.power_w + (power_w or [0.0] * k),
        fixed=_pin_started(problem, plan, now, set()),
    )
    ext = Plan(plan.machine + [-1] * k, plan.start + [INF] * k, plan.end + [INF] * k, plan.source)
    return repair(newp, ext, now, range(n0, n0 + k))


def cancel_job(problem: Problem, plan: Plan, job: int, at: int) -> ReplanResult:
    """Drop a job's work that has not ended by ``at``; the freed machines pull their later work forward."""
    drop = {o for o in range(problem.n_ops) if problem.op_job[o] == job and plan.end[o] > at}
    keep = [o for o in range(problem.n_ops) if o not in drop]
    idx = {o: i for i, o in enumerate(keep)}
    freed = {plan.machine[o] for o in drop}
    newp = replace(
        problem,
        op_job=[problem.op_job[o] for o in keep],
        alts=[problem.alts[o] for o in keep],
        preds=[[idx[p] for p in problem.preds[o] if p in idx] for o in keep],
        op_names=[problem.op_names[o] for o in keep],
        release=[problem.release[o] for o in keep],
        family=[problem.family[o] for o in keep],
        power_w=[problem.power_w[o] for o in keep],
        learned_w={(idx[o], m): w for (o, m), w in problem.learned_w.items() if o in idx},
        fixed={idx[o]: v for o, v in _pin_started(problem, plan, at, drop).items() if o in idx},
    )
    newplan = Plan([plan.machine[o] for o in keep], [plan.start[o] for o in keep], [plan.end[o] for o in keep],
                   plan.source)
    seeds = [idx[o] for o in keep if plan.machine[o] in freed and plan.start[o] >= at]
    res = repair(newp, newplan, at, seeds)
    res.moved = [keep[i] for i in res.moved]  # report in the caller's numbering
    return res
