"""The portfolio's handover: a tabu search that has stalled stops, and CP-SAT goes on with both cores from the best
plan until the deadline. The plan stays valid and no worse, the caller's stop still ends the call at once, and the
stats say who found the plan and when the search handed over."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest

from app.core.scheduling import Problem, construct, load_instance, validate_plan
from app.core.scheduling.cpsat import available
from app.core.scheduling.exchange import Exchange, cpsat_live

optimize_mod = importlib.import_module("app.core.scheduling.optimize")  # the package re-exports the function

needs_cpsat = pytest.mark.skipif(not available(), reason="OR-Tools is not installed")


@pytest.fixture(scope="module")
def mk01(shared: Path) -> Problem:
    # 10 jobs x 6 machines: the search reaches 40 (the optimum) in well under a second, then only stalls
    return load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk01.fjs")


@pytest.fixture(scope="module")
def mk06(shared: Path) -> Problem:
    return load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk06.fjs")


@needs_cpsat
def test_cpsat_takes_both_cores_when_the_search_hands_over(mk06: Problem) -> None:
    ex = Exchange(mp.get_context("fork"), mk06)
    threading.Timer(1.0, ex.handover.set).start()  # the search stalls one second in
    t0 = time.perf_counter()
    plan = cpsat_live(mk06, construct(mk06), t0 + 4.0, seed=1, ex=ex)
    assert time.perf_counter() - t0 < 4.5
    assert validate_plan(mk06, plan) == []
    assert plan.stats["cpsat_runs"] == 2  # the one-core run stopped at the handover, then one run to the end
    assert 2.0 < plan.stats["cpsat_handover_left_s"] < 3.5
    assert plan.makespan <= construct(mk06).makespan


@needs_cpsat
def test_a_stalled_search_hands_over_and_the_plan_is_valid_and_no_worse(mk01: Problem,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimize_mod, "HANDOVER", False)
    before = optimize_mod.optimize(mk01, 5.0, seed=2, workers=2)
    monkeypatch.setattr(optimize_mod, "HANDOVER", True)
    monkeypatch.setattr(optimize_mod, "HANDOVER_FROM_S", 5.0)
    monkeypatch.setattr(optimize_mod, "HANDOVER_CP_WINS", 0)  # the search finds the optimum before CP-SAT can
    monkeypatch.setattr(optimize_mod, "HANDOVER_STALL_SHARE", 0.1)  # stalled for 0.5 s of the 5
    plan = optimize_mod.optimize(mk01, 5.0, seed=2, workers=2)
    assert validate_plan(mk01, plan) == []
    assert plan.stats["wall_s"] < 5.3
    if plan.stats.get("optimal") and "handover_at_s" not in plan.stats:
        pytest.skip("CP-SAT proved the plan optimal before the search stalled")  # nothing left to hand over
    # stalled for at least 0.5 s (the compiled steps find mk01's optimum at once: then exactly 0.5 s), and at least
    # HANDOVER_MIN_LEFT_S (2 s) were left
    assert 0.5 <= plan.stats["handover_at_s"] < 3.0
    assert "handover_at_s" not in before.stats
    assert plan.stats["found_by"] in ("search", "cp-sat")
    assert before.stats["found_by"] in ("search", "cp-sat")
    assert plan.makespan <= before.makespan


@needs_cpsat
def test_the_callers_stop_ends_the_call_at_once_after_the_handover(mk06: Problem,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimize_mod, "HANDOVER", True)
    monkeypatch.setattr(optimize_mod, "HANDOVER_STALL_SHARE", 0.02)  # hands over after 0.6 s of stall
    monkeypatch.setattr(optimize_mod, "HANDOVER_FROM_S", 30.0)
    monkeypatch.setattr(optimize_mod, "HANDOVER_CP_WINS", 0)
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []
    t0 = time.perf_counter()
    stopper = threading.Timer(6.0, stop.set)
    stopper.start()
    plan = optimize_mod.optimize(mk06, 30.0, seed=1, workers=2, stop=stop,
                                 on_improve=lambda p: seen.append((time.perf_counter() - t0, p.makespan, p.source)))
    wall = time.perf_counter() - t0
    stopper.cancel()
    assert validate_plan(mk06, plan) == []
    assert plan.stats["handover_at_s"] < 6.0  # the stop came while CP-SAT had both cores
    assert wall < 7.5  # not the 30 s budget
    # CP-SAT's plans still reach the caller after the handover, and the call returns the best it saw
    assert plan.makespan == min(m for _, m, _ in seen)


@needs_cpsat
def test_the_callers_stop_ends_the_call_at_once_while_both_workers_search(mk06: Problem,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimize_mod, "HANDOVER", False)  # the search and CP-SAT both running when the stop comes
    stop = threading.Event()
    t0 = time.perf_counter()
    stopper = threading.Timer(3.0, stop.set)
    stopper.start()
    plan = optimize_mod.optimize(mk06, 30.0, seed=1, workers=2, stop=stop)
    wall = time.perf_counter() - t0
    stopper.cancel()
    assert validate_plan(mk06, plan) == []
    assert wall < 4.5  # the CP-SAT worker is not waited for until the 30 s deadline
