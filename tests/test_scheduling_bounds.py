"""The makespan lower bound: an optimal plan ends the search at once and says so; the bound never exceeds a
known optimum; a caller that no longer needs the answer stops the search."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest

from app.core.scheduling import Objective, Problem, load_instance, optimize, validate_plan
from app.core.scheduling.bounds import gap_to_bound, makespan_lower_bound


def chain_shop() -> Problem:
    """Two jobs of two steps on two machines: the longest job (3 + 4) is the optimum, 7."""
    return Problem(n_machines=2, op_job=[0, 0, 1, 1], alts=[[(0, 3)], [(1, 4)], [(1, 2)], [(0, 2)]],
                   preds=[[], [0], [], [2]])


def test_a_plan_that_meets_the_bound_is_optimal_and_returned_at_once() -> None:
    p = chain_shop()
    assert makespan_lower_bound(p) == 7
    t0 = time.perf_counter()
    plan = optimize(p, time_limit_s=5.0)
    assert time.perf_counter() - t0 < 1.0  # not the 5 s budget
    assert validate_plan(p, plan) == []
    assert plan.makespan == 7 and plan.stats["optimal"] is True and plan.stats["gap_to_bound"] == 0.0


def test_bound_counts_releases_started_work_and_machine_load() -> None:
    p = Problem(n_machines=1, op_job=[0, 1, 2], alts=[[(0, 5)], [(0, 5)], [(0, 5)]], preds=[[], [], []],
                release=[0, 0, 20])
    assert makespan_lower_bound(p) == 25  # the late release
    load = Problem(n_machines=2, op_job=[0, 1, 2, 3], alts=[[(0, 6), (1, 6)]] * 4, preds=[[]] * 4)
    assert makespan_lower_bound(load) == 12  # 24 units of work over 2 machines
    started = Problem(n_machines=1, op_job=[0, 1], alts=[[(0, 10)], [(0, 1)]], preds=[[], []], fixed={0: (0, -8)})
    assert makespan_lower_bound(started) == 3  # 2 units of the started one left, then 1
    assert gap_to_bound(11, 10) == pytest.approx(0.1) and gap_to_bound(9, 10) == 0.0


def test_other_objectives_are_not_called_optimal() -> None:
    p = chain_shop()
    p.objective = Objective(makespan=1.0, tardiness=1.0)
    plan = optimize(p, time_limit_s=0.2)
    assert "optimal" not in plan.stats


def test_stop_ends_the_search_early(shared: Path) -> None:
    path = shared / "bench" / "fjsp" / "brandimarte" / "mk10.fjs"
    if not path.exists():
        pytest.skip("Brandimarte instances not present under the shared bench folder")
    p = load_instance(path)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.perf_counter()
    plan = optimize(p, time_limit_s=10.0, stop=stop)
    assert time.perf_counter() - t0 < 3.0
    assert validate_plan(p, plan) == [] and not plan.stats["optimal"]


def test_bound_never_exceeds_a_known_optimum(shared: Path) -> None:
    fjsp = shared / "bench" / "fjsp"
    if not (fjsp / "bks.csv").exists():
        pytest.skip("FJSP benchmark set not present under the shared bench folder")
    with (fjsp / "bks.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["set"] in ("brandimarte", "kacem", "fattahi")]
    checked = 0
    for r in rows:
        path = fjsp / r["set"] / f"{r['instance']}.fjs"
        if path.exists():
            assert makespan_lower_bound(load_instance(path)) <= int(float(r["ub"])), r["instance"]
            checked += 1
    assert checked >= 10


def test_portfolio_with_cpsat_proves_a_small_shop_optimal_and_stops(shared: Path) -> None:
    from app.core.scheduling.cpsat import available
    from app.core.scheduling.optimize import cores_available

    path = shared / "bench" / "fjsp" / "brandimarte" / "mk01.fjs"
    if not path.exists() or not available() or cores_available() < 2:
        pytest.skip("needs Brandimarte mk01, OR-Tools and two cores")
    p = load_instance(path)
    assert makespan_lower_bound(p) < 40  # the simple bound cannot prove mk01's optimum, 40; CP-SAT can
    t0 = time.perf_counter()
    plan = optimize(p, time_limit_s=20.0, workers=2)
    wall = time.perf_counter() - t0
    assert validate_plan(p, plan) == []
    assert plan.makespan == 40 and plan.stats["optimal"] is True and plan.stats["lower_bound"] == 40
    assert wall < 15.0  # the proof ends the search before its 20 s budget
