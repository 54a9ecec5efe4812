"""Tabu search on the disjunctive graph of a flexible job shop (makespan).

Each step takes one operation on a critical path and re-inserts it at the best position on any machine that
can run it (this covers the classic N5/N7 swaps and the reassignments). Positions are limited to the ones that
cannot create a cycle (heads of its possible predecessors and tails of its possible successors bound them), and
moves are ranked by the estimated length of the longest path through the moved operation (Mastrolilli and
Gambardella's idea); the chosen move is then evaluated exactly. The steps themselves (choose, move, re-time,
tabu list) run in blocks in ``tabu_steps.py``, compiled when the ``_tabu_step`` extension is built; this driver
keeps the deadline, the exchange inbox, restarts and the elite pool. A long search (from ``MEMETIC_FROM_S``) runs
as a memetic search of short tabu runs on a population of plans (``memetic.py``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable

from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.elite import ElitePool
from app.core.scheduling.memetic import memetic_search
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem
from app.core.scheduling.tabu_steps import ALIGN, CYCLE, IMPROVED, NOMOVE, STALLED, stepper

ELITE_RESTART_P = 0.2  # share of restarts from a child of two elite plans (0.5, or an elite plan itself: worse)
RELINK = False  # restart from the middle of a path between two elite plans rather than from a child
RELINK_RESTART_P = 0.2
RELINK_FROM_RUN = False  # relink from where the stalled run is rather than between two elite plans
RELINK_CHARGE = 1.0  # steps a relinking walk's graph evaluation counts as (one evaluation is ~half a step's work)
STALL_LIMIT = 150  # steps without a new best before a restart
TENURE = (2, 60, 8, 20)  # a move back stays tabu for a random number of steps in [a + n // b, c + n // d]
ELITE_SIZE = 8  # plans in the elite pool
KICK = (2, 6)  # a restart from the best plan makes a random number of random critical moves in this range
# long searches run as a memetic search (memetic.py) of short tabu runs; off (IMEWE_SCHED_MEMETIC=0): one tabu run
MEMETIC = os.environ.get("IMEWE_SCHED_MEMETIC", "1") != "0"
MEMETIC_FROM_S = 20.0  # ... from this budget (seconds left at the start)
MEMETIC_FROM_ITERS = 200_000  # ... or, under max_iters, from this many steps (the A/B at fixed step counts)


def tabu_search(problem: Problem, start: Plan, deadline: float, seed: int = 0, max_iters: int | None = None,
                on_improve: Callable[[Plan], None] | None = None, stall_limit: int | None = None,
                stop: threading.Event | None = None, elite: bool = True, relink: bool = RELINK,
                restart_p: float | None = None, inbox: Callable[[], Plan | None] | None = None,
                pure: bool | None = None, memetic: bool | None = None) -> Plan:
    """Improve ``start`` until ``deadline`` (perf_counter seconds) or ``max_iters``; returns the best plan.

    With ``elite``, each stalled run's best plan joins an elite pool, and a share of the restarts start from a
    child of two elite plans (``elite.py``) rather than from the best plan with a few random moves. ``inbox``
    (polled every 32 steps) may hand in a better plan found elsewhere (CP-SAT in the other worker): the search
    moves to it. The steps run compiled when ``_tabu_step`` is built (``tabu_steps.py``) unless ``pure`` (or
    ``IMEWE_SCHED_PURE=1``) asks for the Python ones: both take the same moves. A long search (``MEMETIC_FROM_S``
    or ``MEMETIC_FROM_ITERS``; ``memetic`` forces it on or off) runs as a memetic search of short tabu runs."""
    if memetic is None:
        memetic = MEMETIC and elite and (deadline - time.perf_counter() >= MEMETIC_FROM_S if max_iters is None
                                         else max_iters >= MEMETIC_FROM_ITERS)
    if memetic:
        told = [start.makespan]

        def report(plan: Plan) -> None:
            if plan.makespan < told[0]:
                told[0] = plan.makespan
                if on_improve is not None:
                    on_improve(plan)

        def local(plan: Plan, s: int, n: int) -> Plan:
            out = tabu_search(problem, plan, deadline, seed=s, max_iters=n, on_improve=report,
                              stall_limit=stall_limit, stop=stop, relink=relink, restart_p=restart_p, inbox=inbox,
                              pure=pure, memetic=False)
            report(out)  # a child may beat the best as it is, before any step
            return out

        return memetic_search(problem, start, deadline, seed, max_iters, local, stop, _lower_bound(problem))
    rng = random.Random(seed)
    p_elite = (RELINK_RESTART_P if relink else ELITE_RESTART_P) if restart_p is None else restart_p
    st = TabuState(problem, start)
    best = st.to_plan("tabu")
    pool = ElitePool(problem, ELITE_SIZE) if elite else None
    n = problem.n_ops
    tmin, tmax = TENURE[0] + n // TENURE[1], TENURE[2] + n // TENURE[3]
    stall_limit = STALL_LIMIT if stall_limit is None else stall_limit
    steps = stepper(st, rng.getrandbits(32), tmin, tmax, stall_limit, pool is not None, pure)
    steps.run_plan = best
    best_snapshot = steps.snapshot()
    lb = _lower_bound(problem)
    step_s = 0.0  # seconds per step, measured on the last block
    while steps.best_c > lb:
        now = time.perf_counter()
        nxt = steps.it + 1
        if stop is not None and stop.is_set():
            break
        if inbox is not None and (nxt & (ALIGN - 1)) == 0:
            got = inbox()
            if got is not None and got.makespan < steps.best_c:
                try:
                    fresh: TabuState | None = TabuState(problem, got)
                except ValueError:  # its machine orders do not fit this graph (ties of zero length): ignore it
                    fresh = None
                if fresh is not None:
                    st = fresh
                    steps.load(st)
                    best = st.to_plan("exchange")
                    steps.best_c = steps.run_c = st.cmax
                    steps.run_plan = best
                    best_snapshot = steps.snapshot()
                    steps.clear_tabu()
                    steps.stall = 0
                    if on_improve is not None:
                        on_improve(best)
        # a block runs to the next inbox step, and only as far as the deadline lets it (stop before the step
        # that would overrun it, not after); the first block is one step, to measure one
        block = ALIGN - (nxt & (ALIGN - 1)) if step_s > 0 else 1
        left = deadline - now
        if step_s > 0 and left < block * step_s:
            block = int(left / step_s)
        elif left <= 0:
            block = 0
        if max_iters is not None:
            block = min(block, max_iters - steps.it)
        if block <= 0:
            break
        it0 = steps.it
        status = steps.run(block)
        step_s = (time.perf_counter() - now) / max(steps.it - it0, 1)
        if status == IMPROVED:
            best = steps.plan("tabu")
            steps.run_plan = best
            best_snapshot = steps.snapshot()
            if on_improve is not None:
                on_improve(best)
        elif status == NOMOVE:
            break
        elif status == CYCLE:  # cannot happen by construction; back to the best plan
            steps.restore(best_snapshot)
        elif status == STALLED:
            run_plan = steps.run_plan
            if pool is not None and run_plan is not None:
                pool.offer(run_plan)
            if pool is not None and rng.random() < p_elite:
                if relink:
                    if RELINK_FROM_RUN:
                        steps.sync(st)
                    child = pool.relinked(rng, st.to_plan("tabu") if RELINK_FROM_RUN else None)
                else:
                    child = pool.child(rng)
                if child is not None:
                    steps.it += int(RELINK_CHARGE * child.stats.get("relink_evals", 0))
                    st = TabuState(problem, child)
                    steps.load(st)
                    steps.run_c, steps.run_plan = st.cmax, st.to_plan("tabu")
                    steps.clear_tabu()
                    steps.stall = 0
                    if st.cmax < steps.best_c:
                        steps.best_c, best = st.cmax, steps.run_plan
                        best_snapshot = steps.snapshot()
                        if on_improve is not None:
                            on_improve(best)
                    continue
            # restart from the best with a few random critical moves, forgetting the tabu list
            steps.restart(best_snapshot, rng, KICK)
            steps.clear_tabu()
            steps.stall = 0
            steps.run_c, steps.run_plan = steps.cmax, None
    best.stats["tabu_iters"] = steps.it
    return best


def _lower_bound(problem: Problem) -> int:
    """A simple bound: the longest chain of shortest durations, and total minimum work spread over machines."""
    chain = max(problem.tail_work(), default=0)
    work = sum(min(d for _, d in a) for a in problem.alts)
    return max(chain, -(-work // max(problem.n_machines, 1)), max((r for r in problem.release), default=0))
