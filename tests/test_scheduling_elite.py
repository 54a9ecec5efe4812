"""The tabu search's elite pool: it keeps the best distinct plans, and a child of two of them is a valid plan
whose jobs each run on one parent's machines."""

import random
from pathlib import Path

import pytest

from app.core.scheduling.constructive import construct, serial, static_order
from app.core.scheduling.elite import ElitePool
from app.core.scheduling.fjs_io import load_instance
from app.core.scheduling.tabu import tabu_search
from app.core.scheduling.validate import validate_plan


@pytest.fixture(scope="module")
def mk04(shared: Path):
    return load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk04.fjs")


def test_pool_keeps_the_best_distinct_plans_and_makes_valid_children(mk04) -> None:
    rng = random.Random(3)
    pool = ElitePool(mk04, size=4)
    plans = [serial(mk04, static_order(mk04, rng)) for _ in range(12)]
    for p in plans + plans[:3]:  # offered twice: kept once
        pool.offer(p)
    spans = sorted({p.makespan: 0 for p in plans})
    assert [p.makespan for p in pool.plans] == sorted(p.makespan for p in pool.plans)
    assert len(pool.plans) == 4 and pool.plans[0].makespan == spans[0]
    for _ in range(5):
        child = pool.child(rng)
        assert child is not None and validate_plan(mk04, child) == []
        for o in range(mk04.n_ops):  # each operation sits on a machine one of the parents gave it
            assert any(child.machine[o] == p.machine[o] for p in pool.plans)
    assert ElitePool(mk04).child(rng) is None  # fewer than two: no child


def test_tabu_with_the_pool_stays_deterministic_and_valid(mk04) -> None:
    start = construct(mk04)
    a = tabu_search(mk04, start, float("inf"), seed=2, max_iters=1500)
    b = tabu_search(mk04, start, float("inf"), seed=2, max_iters=1500)
    assert (a.machine, a.start) == (b.machine, b.start) and validate_plan(mk04, a) == []
    assert a.makespan <= start.makespan


def test_cpsat_worker_exchanges_with_the_search(shared: Path) -> None:
    """The CP-SAT worker alone (as the portfolio's child runs it): search, CP-SAT, search from CP-SAT's plan,
    CP-SAT again; a valid plan with the better of the proven bounds, no worse than the constructive start."""
    import time

    from app.core.scheduling.cpsat import available
    from app.core.scheduling.optimize import _worker

    if not available():
        pytest.skip("OR-Tools is not installed")
    p = load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk06.fjs")
    start = construct(p)
    plan = _worker((p, start, time.perf_counter() + 4.0, 3, None, True))
    assert validate_plan(p, plan) == [] and plan.makespan < start.makespan
    assert 0 < plan.stats["cpsat_bound"] <= plan.makespan
