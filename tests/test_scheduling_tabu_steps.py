"""The compiled tabu step takes exactly the moves the Python step takes: step by step on generated shops (job
chains, precedence DAGs, release times, zero durations, duplicate alternatives) and on Brandimarte instances,
through whole searches with restarts and the elite pool; every plan is valid. Skipped where the extension is not
built (the Python step is what runs there)."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.scheduling import tabu_steps
from app.core.scheduling.constructive import construct
from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.fjs_io import load_instance
from app.core.scheduling.problem import Problem
from app.core.scheduling.tabu import tabu_search
from app.core.scheduling.validate import validate_plan

built = pytest.mark.skipif(tabu_steps._tabu_step is None, reason="the compiled tabu step is not built")


def _shop(seed: int, jobs: int, machines: int, dag: bool, release: bool) -> Problem:
    """A random flexible shop: per job 3-7 operations, each on 1-3 machines (sometimes listed twice, sometimes
    zero long); chains, or DAGs where an operation may wait for any earlier ones of its job."""
    rng = random.Random(seed)
    op_job, alts, preds, rel = [], [], [], []
    for j in range(jobs):
        first = len(op_job)
        r = rng.randrange(0, 40) if release else 0
        for o in range(first, first + rng.randint(3, 7)):
            ms = rng.sample(range(machines), rng.randint(1, min(3, machines)))
            a = [(m, rng.choice([0, rng.randint(1, 20)]) if rng.random() < 0.05 else rng.randint(1, 20)) for m in ms]
            if rng.random() < 0.05:
                a.append((ms[0], rng.randint(1, 20)))  # the same machine twice: the last duration counts
            alts.append(a)
            if o == first:
                preds.append([])
            elif dag:
                preds.append(sorted(rng.sample(range(first, o), rng.randint(0, min(2, o - first)))))
            else:
                preds.append([o - 1])
            op_job.append(j)
            rel.append(r + rng.randrange(0, 10) if release else 0)
    return Problem(machines, op_job, alts, preds, release=rel)


def _states(problem: Problem, k: int = 2) -> list[TabuState]:
    start = construct(problem, budget_s=0.01)
    return [TabuState(problem, start) for _ in range(k)]


def _same(a: TabuState, b: TabuState) -> None:
    assert (a.seq, a.assign, a.r, a.t, a.cmax) == (b.seq, b.assign, b.r, b.t, b.cmax)


@built
@pytest.mark.parametrize("seed,jobs,machines,dag,release", [
    (1, 8, 4, False, False), (2, 12, 6, False, True), (3, 10, 5, True, False), (4, 15, 6, True, True),
])
def test_compiled_steps_match_python_step_by_step(seed, jobs, machines, dag, release) -> None:
    p = _shop(seed, jobs, machines, dag, release)
    st_py, st_c = _states(p)
    n = p.n_ops
    args = (seed * 7919, 2 + n // 60, 8 + n // 20, 10 ** 9, True)
    py, c = tabu_steps.PyStepper(st_py, *args), tabu_steps.CStepper(st_c, *args)
    moved = 0
    for _ in range(1500):
        before = list(st_py.assign), [list(q) for q in st_py.seq]
        a, b = py.run(1), c.run(1)
        assert a == b and (py.it, py.best_c, py.run_c, py.stall) == (c.it, c.best_c, c.run_c, c.stall)
        c.sync(st_c)
        _same(st_py, st_c)
        moved += (list(st_py.assign), st_py.seq) != before
        if a == tabu_steps.NOMOVE:
            break
    assert moved > 100  # the steps really moved operations around
    assert validate_plan(p, st_c.to_plan("tabu")) == []
    assert (py.run_plan.machine, py.run_plan.start) == (c.run_plan.machine, c.run_plan.start)
    assert c.tabu_used[0] > 0


@built
@pytest.mark.parametrize("seed,dag,release", [(5, False, False), (6, True, True), (7, False, True)])
def test_whole_searches_match_with_restarts_and_the_elite_pool(seed, dag, release) -> None:
    p = _shop(seed, 20, 6, dag, release)
    start = construct(p, budget_s=0.01)
    for elite in (True, False):
        a = tabu_search(p, start, float("inf"), seed=seed, max_iters=4000, stall_limit=60, elite=elite, pure=True)
        b = tabu_search(p, start, float("inf"), seed=seed, max_iters=4000, stall_limit=60, elite=elite, pure=False)
        assert (a.machine, a.start, a.end) == (b.machine, b.start, b.end)
        assert a.stats["tabu_iters"] == b.stats["tabu_iters"]
        assert validate_plan(p, a) == [] and validate_plan(p, b) == []


@built
def test_brandimarte_searches_match(shared: Path) -> None:
    for name in ("mk01", "mk06", "mk10"):
        p = load_instance(shared / "bench" / "fjsp" / "brandimarte" / f"{name}.fjs")
        start = construct(p)
        a = tabu_search(p, start, float("inf"), seed=4, max_iters=2500, pure=True)
        b = tabu_search(p, start, float("inf"), seed=4, max_iters=2500, pure=False)
        assert (a.machine, a.start) == (b.machine, b.start) and validate_plan(p, b) == []
        assert b.makespan < start.makespan


@built
def test_compiled_blocks_can_be_cut_anywhere() -> None:
    """Blocks of any length take the same steps (the driver cuts them at the deadline and the inbox)."""
    p = _shop(8, 12, 5, True, True)
    args = (99, 2, 9, 40, True)
    st1, st2 = _states(p)
    one, many = tabu_steps.CStepper(st1, *args), tabu_steps.CStepper(st2, *args)
    rng = random.Random(1)
    while one.it < 600:
        one.run(1)
    while many.it < 600:
        many.run(min(rng.randint(1, 50), 600 - many.it))
        if many.stall > 40:
            many.stall = 0  # the driver restarts here; both go on from the same state
        if one.stall > 40:
            one.stall = 0
    one.sync(st1)
    many.sync(st2)
    assert one.it == many.it
    _same(st1, st2)


def test_pure_flag_forces_python_and_a_missing_extension_falls_back(shared: Path) -> None:
    """IMEWE_SCHED_PURE=1 runs the Python steps; without the extension the search still runs (in Python)."""
    code = ("import sys; sys.modules['app.core.scheduling._tabu_step'] = None\n"
            "from app.core.scheduling import tabu_steps as t\n"
            "assert t._tabu_step is None and not t.compiled()\n"
            "from app.core.scheduling.fjs_io import load_instance\n"
            "from app.core.scheduling.constructive import construct\n"
            "from app.core.scheduling.tabu import tabu_search\n"
            "from app.core.scheduling.validate import validate_plan\n"
            f"p = load_instance({str(shared / 'bench' / 'fjsp' / 'brandimarte' / 'mk01.fjs')!r})\n"
            "s = construct(p); b = tabu_search(p, s, float('inf'), max_iters=300)\n"
            "assert validate_plan(p, b) == [] and b.makespan <= s.makespan\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
    flag = "from app.core.scheduling import tabu_steps as t; print(t.compiled())"
    out = subprocess.run([sys.executable, "-c", flag], check=True, env=dict(env, IMEWE_SCHED_PURE="1"),
                         capture_output=True, text=True, cwd=root).stdout
    assert out.strip() == "False"
