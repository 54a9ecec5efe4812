"""Path relinking between two elite plans: every plan on the way is valid, each step brings the walk closer to
the guide, and the plan it returns lies between the two."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from app.core.scheduling import Problem, construct, load_instance, validate_plan
from app.core.scheduling.constructive import serial, static_order
from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.relink import Guide, path_relink
from app.core.scheduling.tabu import tabu_search


def _shop(seed: int = 4, jobs: int = 8, machines: int = 4) -> Problem:
    """A small flexible job shop made here: chained jobs of 3-5 steps, each step on 1-3 machines."""
    rng = random.Random(seed)
    op_job, alts, preds = [], [], []
    for j in range(jobs):
        for i in range(rng.randint(3, 5)):
            ms = rng.sample(range(machines), rng.randint(1, 3))
            alts.append([(m, rng.randint(1, 9)) for m in ms])
            preds.append([len(op_job) - 1] if i else [])
            op_job.append(j)
    return Problem(n_machines=machines, op_job=op_job, alts=alts, preds=preds)


def test_the_walk_gets_closer_to_the_guide_and_every_plan_is_valid() -> None:
    p = _shop()
    rng = random.Random(1)
    a = serial(p, static_order(p, rng), assign=[rng.choice(x)[0] for x in p.alts])
    b = serial(p, static_order(p, rng), assign=[rng.choice(x)[0] for x in p.alts])
    g = Guide(p, b)
    d0 = g.distance(TabuState(p, a))
    assert d0 >= 4 and g.distance(TabuState(p, b)) == 0
    for seed in range(5):
        mid = path_relink(p, a, b, random.Random(seed))
        assert mid is not None and validate_plan(p, mid) == []
        left = g.distance(TabuState(p, mid))
        assert left == mid.stats["relink_left"]
        assert 0 < left < d0 and mid.stats["relink_distance"] == d0  # strictly between the two plans
        assert mid.stats["relink_evals"] > 0


def test_each_step_shrinks_the_distance() -> None:
    p = _shop(seed=9, jobs=10)
    rng = random.Random(2)
    a = serial(p, static_order(p, rng))
    b = serial(p, static_order(p, rng), assign=[rng.choice(x)[0] for x in p.alts])
    g = Guide(p, b)
    st = TabuState(p, a)
    d = g.distance(st)
    steps = 0
    while d > 0 and steps < 500:
        moved = False
        for v in range(p.n_ops):
            tgt = g.target(st, v)
            if tgt is None:
                continue
            k, i, change = tgt
            m, oi = st.move(v, k, i)
            if not st.evaluate():
                st.move(v, m, oi)
                continue
            assert g.distance(st) == d + change < d  # the promised change, and a real one
            d += change
            moved = True
            break
        steps += 1
        if not moved:
            break
    assert d < g.distance(TabuState(p, a))


def test_too_close_plans_have_no_path() -> None:
    p = _shop()
    a = construct(p)
    assert path_relink(p, a, a, random.Random(0)) is None


@pytest.fixture(scope="module")
def mk06(shared: Path) -> Problem:
    return load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk06.fjs")


def test_tabu_with_relinking_is_deterministic_and_valid(mk06: Problem) -> None:
    start = construct(mk06)
    a = tabu_search(mk06, start, float("inf"), seed=3, max_iters=1200, relink=True, restart_p=1.0)
    b = tabu_search(mk06, start, float("inf"), seed=3, max_iters=1200, relink=True, restart_p=1.0)
    assert (a.machine, a.start) == (b.machine, b.start) and validate_plan(mk06, a) == []
    assert a.makespan < start.makespan
