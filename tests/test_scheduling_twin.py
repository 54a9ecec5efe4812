"""The plan's digital twin: Monte Carlo replays keep the plan's orders and precedences, reproduce it with no
spread, give on-time probabilities and finish spreads, and are fast enough to run before every commit."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from app.core.domain.errors import ValidationError
from app.core.scheduling import Problem, construct
from app.core.scheduling.twin import replay, sigma_from_interval


def shop(n_jobs: int = 100, n_machines: int = 20, seed: int = 3) -> Problem:
    rng = random.Random(seed)
    op_job, alts, preds = [], [], []
    for j in range(n_jobs):
        for k in range(3):
            o = len(op_job)
            op_job.append(j)
            ms = rng.sample(range(n_machines), 2)
            alts.append([(m, rng.randint(600, 7200)) for m in ms])
            preds.append([o - 1] if k else [])
    return Problem(n_machines=n_machines, op_job=op_job, alts=alts, preds=preds)


def naive_replay(problem: Problem, plan, dur: list[float]) -> list[float]:
    """One replay in plain Python, the independent reference: start each operation when its job predecessor and
    the machine's previous operation are done."""
    end: dict[int, float] = {}
    last_on: dict[int, int] = {}
    for o in sorted(range(problem.n_ops), key=lambda o: (plan.start[o], plan.end[o])):
        s = max([float(problem.release[o])] + [end[p] for p in problem.preds[o]]
                + ([end[last_on[plan.machine[o]]]] if plan.machine[o] in last_on else []))
        end[o] = s + dur[o]
        last_on[plan.machine[o]] = o
    return [max(end[o] for o in range(problem.n_ops) if problem.op_job[o] == j) for j in range(problem.n_jobs)]


def test_no_spread_reproduces_the_plan() -> None:
    p = shop(20, 5)
    plan = construct(p)
    res = replay(p, plan, n=3, sigma=0.0)
    planned = [max(plan.end[o] for o in range(p.n_ops) if p.op_job[o] == j) for j in range(p.n_jobs)]
    assert np.allclose(res.job_finish, np.array(planned)[None, :])
    assert np.allclose(res.makespan, plan.makespan)


def test_replays_match_an_independent_plain_replay() -> None:
    p = shop(30, 6)
    plan = construct(p)
    res = replay(p, plan, n=4, sigma=0.3, seed=5)
    # recover replay 2's drawn durations the same way the twin drew them
    rng = np.random.default_rng(5)
    planned = np.asarray(plan.end, float) - np.asarray(plan.start, float)
    dur = planned[None, :] * np.exp(rng.standard_normal((4, p.n_ops)) * 0.3)
    assert np.allclose(res.job_finish[2], naive_replay(p, plan, list(dur[2])))


def test_on_time_probability_and_spread() -> None:
    p = shop(40, 8)
    plan = construct(p)
    ends = [max(plan.end[o] for o in range(p.n_ops) if p.op_job[o] == j) for j in range(p.n_jobs)]
    p.job_due = [ends[0], ends[1] * 3] + [p.job_due[j] for j in range(2, p.n_jobs)]
    res = replay(p, plan, n=2000, sigma=0.2, seed=1)
    prob = res.on_time_probability()
    assert 0.15 < prob[0] < 0.85  # due exactly at its planned end: a coin toss, not a certainty
    assert prob[1] == 1.0 and prob[2] is None
    q = res.finish_quantiles()
    assert q.shape == (p.n_jobs, 3) and np.all(q[:, 0] < q[:, 2])
    assert sigma_from_interval(100, 100) == 0.0
    assert sigma_from_interval(80, 125) == pytest.approx(np.log(125 / 80) / (2 * 1.2815515655446004))


def test_a_thousand_replays_of_a_hundred_job_plan_are_fast() -> None:
    p = shop(100, 20)
    plan = construct(p)
    t0 = time.perf_counter()
    res = replay(p, plan, n=1000, sigma=0.15)
    assert time.perf_counter() - t0 < 5.0  # the target; ~0.05 s on a quiet machine
    assert res.job_finish.shape == (1000, 100)


def test_bad_input_is_refused() -> None:
    p = shop(5, 2)
    plan = construct(p)
    with pytest.raises(ValidationError):
        replay(p, plan, n=0)
    with pytest.raises(ValidationError):
        replay(p, plan, sigma=[0.1, 0.2])
    with pytest.raises(ValidationError):
        sigma_from_interval(0, 10)
