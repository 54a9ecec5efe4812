"""The memetic search (population of tabu-improved crossover children) for long budgets: valid plans, the same plan
for a seed under a step limit, and it ends at its deadline and on the stop event."""

import random
import threading
import time
from pathlib import Path

import pytest

from app.core.scheduling import memetic, tabu
from app.core.scheduling.constructive import construct, serial, static_order
from app.core.scheduling.fjs_io import load_instance
from app.core.scheduling.memetic import crossover
from app.core.scheduling.tabu import tabu_search
from app.core.scheduling.validate import validate_plan


@pytest.fixture(scope="module")
def mk06(shared: Path):
    return load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk06.fjs")


def test_crossover_children_are_valid_and_take_each_machine_from_a_parent(mk06) -> None:
    rng = random.Random(1)
    for _ in range(5):
        a = serial(mk06, static_order(mk06, rng))
        b = serial(mk06, static_order(mk06, rng))
        child = crossover(mk06, a, b, rng)
        assert validate_plan(mk06, child) == []
        assert all(child.machine[o] in (a.machine[o], b.machine[o]) for o in range(mk06.n_ops))
        assert child.machine != a.machine and child.machine != b.machine


def test_memetic_search_is_deterministic_valid_and_fills_its_population(mk06, monkeypatch) -> None:
    monkeypatch.setattr(memetic, "LOCAL_STEPS", 1500)
    start = construct(mk06)
    a = tabu_search(mk06, start, float("inf"), seed=4, max_iters=30000, memetic=True)
    b = tabu_search(mk06, start, float("inf"), seed=4, max_iters=30000, memetic=True)
    assert (a.machine, a.start) == (b.machine, b.start) and validate_plan(mk06, a) == []
    assert a.stats["tabu_iters"] == 30000 and a.stats["memetic_members"] >= 5  # children beyond the population
    assert a.makespan < start.makespan
    other = tabu_search(mk06, start, float("inf"), seed=5, max_iters=30000, memetic=True)
    assert validate_plan(mk06, other) == []


def test_only_long_searches_are_memetic(mk06, monkeypatch) -> None:
    """Under the thresholds (and with the flag off) the search is the plain tabu run, step for step."""
    start = construct(mk06)
    plain = tabu_search(mk06, start, float("inf"), seed=2, max_iters=3000, memetic=False)
    default = tabu_search(mk06, start, float("inf"), seed=2, max_iters=3000)
    assert (plain.machine, plain.start) == (default.machine, default.start) and "memetic_members" not in default.stats
    monkeypatch.setattr(tabu, "MEMETIC_FROM_ITERS", 3000)
    assert "memetic_members" in tabu_search(mk06, start, float("inf"), seed=2, max_iters=3000).stats
    monkeypatch.setattr(tabu, "MEMETIC", False)
    assert "memetic_members" not in tabu_search(mk06, start, float("inf"), seed=2, max_iters=3000).stats


def test_memetic_search_ends_at_the_deadline_and_on_stop(mk06) -> None:
    start = construct(mk06)
    t0 = time.perf_counter()
    plan = tabu_search(mk06, start, t0 + 1.0, seed=1, memetic=True)
    assert time.perf_counter() - t0 < 1.5 and validate_plan(mk06, plan) == []
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.perf_counter()
    plan = tabu_search(mk06, start, t0 + 30.0, seed=1, stop=stop)  # 30 s: memetic by default
    assert time.perf_counter() - t0 < 1.5 and validate_plan(mk06, plan) == []
    assert "memetic_members" in plan.stats
