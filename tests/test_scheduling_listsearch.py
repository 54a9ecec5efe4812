"""The order search for lateness: from a plan in arrival order where long, relaxed work holds up urgent work, it
finds a valid plan far less late (every candidate is decoded under all the shop's rules), and the optimiser uses
it for the tardiness objective."""

import time

from app.core.scheduling import optimize
from app.core.scheduling.constructive import serial
from app.core.scheduling.listsearch import list_search
from app.core.scheduling.plan import metrics, objective_value
from app.core.scheduling.problem import Objective, Problem
from app.core.scheduling.validate import validate_plan


def _shop() -> Problem:
    # two machines; 8 long relaxed jobs arrive first, then 8 short urgent ones; materials alternate (setups)
    op_job, alts, due, weight, family = [], [], [], [], []
    for j in range(16):
        urgent = j >= 8
        op_job.append(j)
        alts.append([(0, 30 if urgent else 200), (1, 30 if urgent else 200)])
        due.append(120 if urgent else 2000)
        weight.append(10.0 if urgent else 1.0)
        family.append(j % 2)
    return Problem(2, op_job, alts, [[] for _ in op_job], job_due=due, job_weight=weight, family=family,
                   setup_time=[[0, 20], [20, 0]], objective=Objective(makespan=0.01, tardiness=1.0))


def test_order_search_fixes_arrival_order_lateness() -> None:
    p = _shop()
    fifo = serial(p, list(range(p.n_ops)), source="fifo")
    assert metrics(p, fifo).weighted_tardiness > 0
    found = list_search(p, fifo, time.perf_counter() + 5, seed=1, max_iters=400)
    assert validate_plan(p, found) == []
    assert objective_value(p, found) < 0.2 * objective_value(p, fifo)
    assert found.stats["list_search_iters"] == 400


def test_the_optimiser_uses_it_for_lateness() -> None:
    p = _shop()
    plan = optimize(p, 0.5, seed=0)
    assert validate_plan(p, plan) == []
    assert metrics(p, plan).late_jobs <= 2
