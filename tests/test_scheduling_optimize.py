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


def test_tardiness_objective_puts_the_urgent_job_first() -> None:
    from app.core.scheduling import INF, Objective, metrics

    # one machine; a long low-priority job and a short urgent one due early: makespan is the same either way
    p = Problem(n_machines=1, op_job=[0, 1], alts=[[(0, 100)], [(0, 10)]], preds=[[], []],
                job_weight=[1.0, 10.0], job_due=[INF, 15], objective=Objective(makespan=1.0, tardiness=1.0))
    plan = optimize(p, time_limit_s=0.2)
    assert validate_plan(p, plan) == []
    assert plan.start[1] == 0 and metrics(p, plan).weighted_tardiness == 0


def test_material_setups_are_planned_and_counted() -> None:
    from app.core.scheduling import metrics

    # two machines loaded with family 0; jobs of family 0 and 1; a change of material costs 30
    fam = [0, 1, 0, 1, 1, 0]
    p = Problem(n_machines=2, op_job=list(range(6)), alts=[[(0, 10), (1, 12)] for _ in range(6)],
                preds=[[] for _ in range(6)], family=fam, setup_time=[[0, 30], [30, 0]], machine_family=[0, 0])
    plan = optimize(p, time_limit_s=0.3)
    assert validate_plan(p, plan) == []
    seqs = plan.sequences(2)
    changes = sum(1 for s in seqs for a, b in zip([0] + [fam[o] for o in s], [fam[o] for o in s], strict=False)
                  if a != b)
    assert metrics(p, plan).setup_time == 30 * changes
    assert changes <= 2  # families grouped: at most one change per machine
    broken = plan.copy()
    o = next(o for s in seqs for a, o in zip([-1, *s], s, strict=False) if (fam[a] if a >= 0 else 0) != fam[o])
    broken.start[o] -= 1
    broken.end[o] -= 1
    assert any("setup" in v for v in validate_plan(p, broken))
