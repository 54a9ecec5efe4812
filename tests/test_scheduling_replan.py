"""Incremental replanning on a real instance: failures, late and early work, new and cancelled jobs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.core.domain.errors import ValidationError
from app.core.scheduling import (
    Problem,
    add_job,
    cancel_job,
    load_instance,
    machine_failed,
    op_finished,
    optimize,
    validate_plan,
)


@pytest.fixture()
def mk(shared: Path) -> tuple[Problem, object]:
    p = load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk05.fjs")
    return p, optimize(p, time_limit_s=0.3, seed=0)


def test_failed_machine_work_moves_and_started_work_stays(mk) -> None:
    p, plan = mk
    at = plan.makespan // 3
    m = next(mm for mm in range(p.n_machines)  # a machine whose remaining work has somewhere else to go
             if all(len(p.alts[o]) > 1 for o in range(p.n_ops) if plan.machine[o] == mm and plan.end[o] > at)
             and any(plan.machine[o] == mm and plan.end[o] > at for o in range(p.n_ops)))
    res = machine_failed(p, plan, m, at)
    assert validate_plan(res.problem, res.plan) == []
    for o in range(p.n_ops):
        if plan.start[o] < at and not (plan.machine[o] == m and plan.end[o] > at):
            assert (res.plan.machine[o], res.plan.start[o]) == (plan.machine[o], plan.start[o])  # started: kept
        if res.plan.machine[o] == m:
            assert res.plan.end[o] <= at  # nothing on the failed machine after the failure
        if plan.start[o] >= at:
            assert res.plan.start[o] >= at  # nothing planned in the past
    lost = [o for o in range(p.n_ops) if plan.machine[o] == m and plan.end[o] > at]
    assert lost and set(lost) <= set(res.moved)


def test_machine_that_is_the_only_choice_fails_clearly(mk) -> None:
    p, plan = mk
    only = next(o for o in range(p.n_ops) if len(p.alts[o]) == 1 and plan.start[o] > 0)
    with pytest.raises(ValidationError, match="can only run"):
        machine_failed(p, plan, plan.machine[only], 0)


def test_late_and_early_finish(mk) -> None:
    p, plan = mk
    o = max(range(p.n_ops), key=lambda x: (plan.end[x] - plan.start[x], -plan.start[x]))
    late = op_finished(p, plan, o, plan.end[o] + 25)
    assert validate_plan(late.problem, late.plan) == []
    assert late.plan.end[o] == plan.end[o] + 25
    early = op_finished(p, plan, o, plan.start[o] + 1)
    assert validate_plan(early.problem, early.plan) == []
    assert early.plan.makespan <= plan.makespan
    with pytest.raises(ValidationError, match="before it started"):
        op_finished(p, plan, o, plan.start[o] - 1)


def test_new_and_cancelled_jobs(mk) -> None:
    p, plan = mk
    now = 40
    added = add_job(p, plan, [[(0, 10), (1, 12)], [(2, 7), (3, 6)], [(1, 4)]], [[], [0], [0, 1]], now, name="rush")
    assert validate_plan(added.problem, added.plan) == []
    new_ops = range(p.n_ops, p.n_ops + 3)
    assert all(added.plan.start[o] >= now for o in new_ops)
    assert all(added.plan.machine[o] == plan.machine[o] and added.plan.start[o] == plan.start[o]
               for o in range(p.n_ops))  # fitting a job in never disturbs planned work
    gone = cancel_job(added.problem, added.plan, 3, now)
    assert validate_plan(gone.problem, gone.plan) == []
    assert 3 not in [gone.problem.op_job[o] for o in range(gone.problem.n_ops) if gone.plan.end[o] > now]
    assert gone.plan.makespan <= added.plan.makespan


def test_failure_replan_is_fast_on_a_big_fleet() -> None:
    import random

    rng = random.Random(3)
    n_m, alts, preds, op_job = 300, [], [], []
    for j in range(300):
        for i in range(10):
            ms = rng.sample(range(n_m), 4)
            alts.append([(m, rng.randint(60, 600)) for m in ms])
            preds.append([len(op_job) - 1] if i else [])
            op_job.append(j)
    p = Problem(n_machines=n_m, op_job=op_job, alts=alts, preds=preds)
    plan = optimize(p, time_limit_s=0)
    t0 = time.perf_counter()
    res = machine_failed(p, plan, plan.machine[0], plan.makespan // 4)
    assert time.perf_counter() - t0 < 0.5
    assert validate_plan(res.problem, res.plan) == []
