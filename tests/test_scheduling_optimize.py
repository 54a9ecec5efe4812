"""Constructive rules, the anytime optimiser and the independent validator, on real benchmark instances."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from app.core.scheduling import Plan, Problem, construct, load_instance, optimize, validate_plan
from app.core.scheduling.tabu import tabu_search


@pytest.fixture(scope="module")
def fjsp(shared: Path) -> Path:
    return shared / "bench" / "fjsp"


@pytest.fixture(scope="module")
def bks(fjsp: Path) -> dict[str, int]:
    with (fjsp / "bks.csv").open() as fh:
        return {r["instance"]: int(r["ub"]) for r in csv.DictReader(fh)}


def test_constructive_is_valid_fast_and_decent_on_brandimarte(fjsp: Path, bks: dict[str, int]) -> None:
    gaps = []
    for i in range(1, 11):
        p = load_instance(fjsp / "brandimarte" / f"mk{i:02d}.fjs")
        t0 = time.perf_counter()
        plan = construct(p)
        assert time.perf_counter() - t0 < 0.25  # 50 ms target, generous under a loaded CI machine
        assert validate_plan(p, plan) == []
        gaps.append(plan.makespan / bks[f"mk{i:02d}"] - 1)
    assert sum(gaps) / len(gaps) <= 0.20


def test_optimiser_improves_and_stays_valid(fjsp: Path, bks: dict[str, int]) -> None:
    p = load_instance(fjsp / "brandimarte" / "mk04.fjs")
    start = construct(p)
    plan = optimize(p, time_limit_s=1.0, seed=0)
    assert validate_plan(p, plan) == []
    assert plan.makespan < start.makespan
    assert plan.makespan <= bks["mk04"] * 1.10


def test_small_instances_reach_best_known(fjsp: Path, bks: dict[str, int]) -> None:
    for name in ("kacem1", "kacem2", "kacem3"):
        p = load_instance(fjsp / "kacem" / f"{name}.fjs")
        plan = optimize(p, time_limit_s=0.5, seed=0)
        assert validate_plan(p, plan) == []
        assert plan.makespan == bks[name], name


def test_deterministic_for_a_seed(fjsp: Path) -> None:
    p = load_instance(fjsp / "brandimarte" / "mk06.fjs")
    start = construct(p)
    far = time.perf_counter() + 60
    a = tabu_search(p, start, far, seed=5, max_iters=300)
    b = tabu_search(p, start, far, seed=5, max_iters=300)
    assert (a.machine, a.start) == (b.machine, b.start)


def test_anytime_reports_every_improvement(fjsp: Path) -> None:
    p = load_instance(fjsp / "brandimarte" / "mk02.fjs")
    seen: list[int] = []
    plan = optimize(p, time_limit_s=0.5, on_improve=lambda pl: seen.append(pl.makespan))
    assert seen and seen == sorted(seen, reverse=True) and seen[-1] == plan.makespan


def test_two_workers_never_worse_than_the_constructive_plan(fjsp: Path) -> None:
    p = load_instance(fjsp / "behnke_geiger" / "behnke60.fjs")  # 100 jobs x 60 machines
    plan = optimize(p, time_limit_s=1.0, seed=0, workers=2)
    assert validate_plan(p, plan) == []
    assert plan.makespan <= plan.stats["construct_makespan"]
    assert plan.stats["wall_s"] < 3.0


def _tiny() -> Problem:
    return Problem(n_machines=2, op_job=[0, 0, 1], alts=[[(0, 3)], [(0, 2), (1, 4)], [(1, 5)]],
                   preds=[[], [0], []], unavailable=[[], [(10, 20)]], power_w=[100, 100, 100], power_cap_w=250)


def test_validator_catches_each_broken_rule() -> None:
    p = _tiny()
    good = Plan([0, 0, 1], [0, 3, 0], [3, 5, 5])
    assert validate_plan(p, good) == []
    cases = {
        "cannot run": Plan([1, 0, 1], [0, 3, 0], [3, 5, 5]),
        "lasts": Plan([0, 0, 1], [0, 3, 0], [4, 5, 5]),
        "before its predecessor": Plan([0, 0, 1], [0, 2, 0], [3, 4, 5]),
        "overlapping": Plan([0, 1, 0], [0, 3, 1], [3, 7, 6]),
        "unavailable": Plan([0, 0, 1], [0, 3, 8], [3, 5, 13]),
        "above the site cap": Plan([0, 1, 1], [0, 3, 9], [3, 7, 14]),
        "covers": Plan([0], [0], [3]),
    }
    p_cap = _tiny()
    p_cap.power_cap_w = 150
    for needle, plan in cases.items():
        problem = p_cap if needle == "above the site cap" else p
        if needle == "above the site cap":
            plan = Plan([0, 0, 1], [0, 3, 0], [3, 5, 5])
        found = validate_plan(problem, plan)
        assert any(needle in v for v in found), (needle, found)


def test_cpsat_component_improves_a_hinted_plan(fjsp: Path, bks: dict[str, int]) -> None:
    from app.core.scheduling.cpsat import available, cpsat_improve

    if not available():
        pytest.skip("OR-Tools is not installed")
    p = load_instance(fjsp / "kacem" / "kacem2.fjs")
    start = construct(p)
    plan = cpsat_improve(p, start, time_limit_s=3.0, seed=0)
    assert validate_plan(p, plan) == []
    assert plan.makespan <= start.makespan and plan.makespan == bks["kacem2"]
    both = optimize(p, time_limit_s=1.0, workers=2, use_cpsat=True)
    assert validate_plan(p, both) == [] and both.makespan == bks["kacem2"]
