"""The anytime optimiser: a constructive plan at once, then improvement until the time is up.

Deterministic for a seed when bounded by ``max_iters``; with a wall-clock limit the search follows the same
trajectory and only stops at a different point. ``workers=2`` runs a second search with another seed in a child
process and keeps the better plan (ties go to the first worker).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from app.core.scheduling.bounds import gap_to_bound, makespan_lower_bound
from app.core.scheduling.constructive import construct, dynamic, serial, static_order
from app.core.scheduling.cpsat import available as cpsat_available
from app.core.scheduling.cpsat import cpsat_improve
from app.core.scheduling.cpsat import proven as cpsat_proven
from app.core.scheduling.cpsat import supports as cpsat_supports
from app.core.scheduling.exchange import Exchange, cpsat_live, latest, send
from app.core.scheduling.listsearch import list_search
from app.core.scheduling.plan import Plan, objective_value
from app.core.scheduling.problem import Objective, Problem
from app.core.scheduling.tabu import tabu_search
from app.core.scheduling.validate import validate_plan

log = logging.getLogger(__name__)

CONSTRUCT_BUDGET_S = 0.05
# From this budget on, with two workers, the second one runs CP-SAT hinted with its own short tabu run's best:
# CP-SAT gains most where the search stalls (given seconds) and can prove small shops optimal.
CPSAT_FROM_S = 3.0
CPSAT_LEAD_SHARE = 0.15  # share of the budget the CP-SAT worker's tabu run takes to make its hint
EXCHANGE_ROUNDS = True  # the CP-SAT worker alternates: CP-SAT, the search from CP-SAT's plan, CP-SAT again
LIVE_EXCHANGE = True  # makespan problems: the search and CP-SAT hand each other every new best while both run
LIVE_LEAD_SHARE = 0.15  # share of the budget the CP-SAT worker searches on its own before CP-SAT starts
# Handover (HANDOVER): with the live exchange, a search that has found no better plan of its own for
# HANDOVER_STALL_SHARE of its time, with at least HANDOVER_MIN_LEFT_S left, once CP-SAT has beaten its best
# HANDOVER_CP_WINS times (CP-SAT pays on this instance), stops and hands its core to CP-SAT, which restarts on both
# (plain CP-SAT's 2-worker portfolio) from the best plan until the deadline; the parent only relays CP-SAT's plans.
# Budgets from HANDOVER_FROM_S only: at 10 s on Brandimarte a 2 s lull is no stall (mk07 150 against 144). Without
# the CP-SAT-wins condition it lost on Brandimarte at 60 s (mk07 144 vs 141, mk10 203 vs 201); with it, ties there
# and dauzere_paulli 01a-06a 1.19 % against 1.65 % off (benchmarks/results/fjsp.md; within the noise of a loaded
# machine, the off/on difference of a pair without handover reached 62 units).
HANDOVER = True
HANDOVER_FROM_S = 30.0
HANDOVER_STALL_SHARE = 0.2
HANDOVER_CP_WINS = 1
HANDOVER_MIN_LEFT_S = 2.0
HANDOVER_POLL_S = 0.02  # how often the parent looks for CP-SAT's plans (and the caller's stop) after handing over
_EXCHANGE: Exchange | None = None  # in a worker process: its end of the live exchange (set at pool start)


def _tabu_friendly(problem: Problem) -> bool:
    """Tabu's graph model holds precedences, releases and machine orders; the rest is repaired by decoding."""
    return problem.objective.makespan > 0


def _decode_like(problem: Problem, plan: Plan, source: str) -> Plan:
    """Rebuild ``plan`` under every constraint, keeping its machines and its order of starts."""
    order = sorted(range(problem.n_ops), key=lambda o: (plan.start[o], plan.end[o], o))
    return serial(problem, order, assign=plan.machine, source=source)


def _relaxed(problem: Problem) -> Problem:
    """The same shop without windows, power cap, setups, staffed hours and fixed work: the graph search's view
    of it."""
    if problem.plain:
        return problem
    return replace(problem, unavailable=[[] for _ in range(problem.n_machines)], power_cap_w=None,
                   setup_time=[], fixed={}, objective=Objective(), staffed=None)


class _Stalled:
    """The tabu search's stop flag in the portfolio: the caller's stop, or (``enabled``) no better plan of the
    search's own for ``HANDOVER_STALL_SHARE`` of its time while ``HANDOVER_MIN_LEFT_S`` or more are left: then it
    stays set (``fired``) and the search hands over to CP-SAT."""

    def __init__(self, outer: Any, deadline: float, enabled: bool) -> None:
        self.outer, self.deadline, self.enabled = outer, deadline, enabled
        self.last = time.perf_counter()
        self.patience = HANDOVER_STALL_SHARE * (deadline - self.last)
        self.fired = False
        self.cp_wins = 0  # CP-SAT plans shorter than the search's best so far

    def improved(self) -> None:
        self.last = time.perf_counter()

    def is_set(self) -> bool:
        if self.outer is not None and self.outer.is_set():
            return True
        if self.enabled and not self.fired and self.cp_wins >= HANDOVER_CP_WINS:
            now = time.perf_counter()
            self.fired = now - self.last >= self.patience and self.deadline - now >= HANDOVER_MIN_LEFT_S
        return self.fired


def _search(problem: Problem, start: Plan, deadline: float, seed: int, max_iters: int | None,
            on_improve: Callable[[Plan], None] | None, stop: threading.Event | None = None,
            bound: float = 0.0, ex: Exchange | None = None, info: dict[str, float] | None = None) -> Plan:
    """The search until ``deadline``. With ``ex`` (the live exchange with CP-SAT) and ``info``, a stalled tabu
    search hands over (``info["handover_s"]``: when) and then only passes on CP-SAT's plans until the deadline."""
    best, best_v = start, objective_value(problem, start)

    def offer(plan: Plan, from_relaxed: bool) -> None:
        nonlocal best, best_v
        if from_relaxed and not problem.plain:
            plan = _decode_like(problem, plan, plan.source)
        v = objective_value(problem, plan)
        if v < best_v:
            best, best_v = plan, v
            if on_improve is not None:
                on_improve(plan)
            if ex is not None and plan.source not in ("cp-sat", "exchange"):  # not CP-SAT's own plans back
                send(ex.to_cp, plan)

    if problem.objective.tardiness > 0 and problem.n_ops > 1:
        # lateness: the graph search only sees the makespan; a search on the order of work sees the objective
        offer(list_search(problem, start, deadline, seed=seed, stop=stop, max_iters=max_iters,
                          on_improve=lambda p: offer(p, False)), False)
    elif _tabu_friendly(problem) and problem.n_ops > 1:
        relaxed = _relaxed(problem)
        seed_plan = start if problem.plain else _relaxed_start(relaxed, start)
        watch = _Stalled(stop, deadline, ex is not None and info is not None and HANDOVER)

        def from_tabu(plan: Plan) -> None:
            if plan.source == "tabu":  # its own find, not a move to CP-SAT's plan
                watch.improved()
            elif plan.source == "exchange":
                watch.cp_wins += 1
            offer(plan, True)

        tabu_search(relaxed, seed_plan, deadline, seed=seed, max_iters=max_iters, on_improve=from_tabu,
                    stop=watch, inbox=(lambda: latest(ex.to_search)) if ex is not None else None)
        if info is not None:
            info["cpsat_wins"] = watch.cp_wins
        if watch.fired and ex is not None and not (stop is not None and stop.is_set()):
            ex.handover.set()  # CP-SAT restarts on both cores; this process only relays its plans now
            if info is not None:
                info["handover_s"] = time.perf_counter()
            while (time.perf_counter() < deadline and best_v > bound
                   and not (stop is not None and stop.is_set())):
                got = latest(ex.to_search)
                if got is not None:
                    offer(got, False)
                time.sleep(HANDOVER_POLL_S)
    # Other objectives (or time left): randomised rule restarts, the best by the full objective.
    rng = random.Random(seed)
    it = 0
    shift = problem.objective.energy > 0 and problem.has_power
    step = 0.0
    while time.perf_counter() + step < deadline and (max_iters is None or it < max_iters):
        if best_v <= bound or (stop is not None and stop.is_set()):
            break  # proven optimal, or the caller no longer needs the answer
        it += 1
        t_step = time.perf_counter()
        if problem.n_ops <= 1500 and it % 2:
            plan = dynamic(problem, rng.choice(("mwkr", "ect", "est")), rng=rng, shift=shift, deadline=deadline)
            if plan is None:
                break
        else:
            plan = serial(problem, static_order(problem, rng), shift=shift, source="serial-rnd")
        offer(plan, False)
        step = time.perf_counter() - t_step  # stop before a restart that would overrun
    return best


def _relaxed_start(relaxed: Problem, start: Plan) -> Plan:
    """The constructive plan re-timed on the relaxed shop, so the graph search starts from its machine orders."""
    order = sorted(range(relaxed.n_ops), key=lambda o: (start.start[o], start.end[o], o))
    return serial(relaxed, order, assign=start.machine, source=start.source)


def _worker(args: tuple[Problem, Plan, float, int, int | None, bool]) -> Plan:
    # perf_counter is the system-wide monotonic clock on Linux, so the parent's deadline holds here too
    problem, start, deadline, seed, max_iters, use_cpsat = args
    if use_cpsat:
        now = time.perf_counter()
        if _EXCHANGE is not None:  # the search's plans arrive while CP-SAT runs: a shorter run of its own first
            lead = now + LIVE_LEAD_SHARE * (deadline - now)
            hint = _search(problem, start, lead, seed, max_iters, None) if LIVE_LEAD_SHARE > 0 else start
            return cpsat_live(problem, hint, deadline, seed, _EXCHANGE)
        lead = now + max(min(0.5, deadline - now), CPSAT_LEAD_SHARE * (deadline - now))
        hint = _search(problem, start, lead, seed, max_iters, None)
        if not EXCHANGE_ROUNDS:
            return cpsat_improve(problem, hint, deadline - time.perf_counter(), seed=seed)
        # exchange: CP-SAT from the search's best, the search again from CP-SAT's, CP-SAT once more from that
        left = deadline - time.perf_counter()
        best = cpsat_improve(problem, hint, 0.55 * left, seed=seed)
        bound = best.stats.get("cpsat_bound", 0)
        if best.stats.get("optimal"):
            return best
        again = _search(problem, best, time.perf_counter() + 0.35 * (deadline - time.perf_counter()), seed + 7,
                        max_iters, None)
        last = cpsat_improve(problem, again, deadline - time.perf_counter(), seed=seed + 7)
        last.stats["cpsat_bound"] = max(bound, last.stats.get("cpsat_bound", 0))
        last.stats["optimal"] = cpsat_proven(problem, last, last.stats["cpsat_bound"])
        return last
    return _search(problem, start, deadline, seed, max_iters, None)


def _found_by(plan: Plan, start: Plan) -> str:
    """Which worker found ``plan``: "cp-sat" (its own or a plan the search moved to from it), "construct" (the
    constructive plan) or "search" (a tabu search or rule restarts, in either process)."""
    if plan is start:
        return "construct"
    return "cp-sat" if plan.source in ("cp-sat", "exchange") else "search"


def cores_available() -> int:
    """Cores this process may run on (its affinity, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Either:
    """Set when either the caller's stop or our own is: the search's view of "no need to go on"."""

    def __init__(self, outer: threading.Event | None) -> None:
        self.outer, self.own = outer, threading.Event()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.outer is not None and self.outer.is_set())


def _context() -> Any:
    # fork is fast (the CLI and benchmarks are single-threaded); a threaded host (the app) gets spawn, safe
    method = "fork" if threading.active_count() == 1 and "fork" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(method)


def _set_exchange(ex: Exchange | None) -> None:
    global _EXCHANGE
    _EXCHANGE = ex


def _pool(ctx: Any, workers: int, ex: Exchange | None = None) -> Any:
    return ctx.Pool(workers, initializer=_set_exchange, initargs=(ex,))


def optimize(problem: Problem, time_limit_s: float = 1.0, seed: int = 0, workers: int = 1,
             max_iters: int | None = None, on_improve: Callable[[Plan], None] | None = None,
             use_cpsat: bool | None = None, stop: threading.Event | None = None) -> Plan:
    """Best plan found within ``time_limit_s`` (the constructive plan alone when the limit is 0).

    The search ends early when the plan meets the makespan lower bound (a pure makespan objective: the plan is
    then proven optimal, ``stats["optimal"]``) or when ``stop`` is set (the caller has newer work to plan).
    ``stats["lower_bound"]`` and ``stats["gap_to_bound"]`` say how far from optimal the plan can be at most.

    ``workers > 1`` adds searches with other seeds in child processes. ``use_cpsat`` makes the last child run a
    short tabu search and then OR-Tools CP-SAT hinted with its best plan (only for makespan problems, a power cap
    allowed, when OR-Tools is installed); CP-SAT's proven bound tightens ``lower_bound`` and can prove the plan
    optimal. None (the default) turns it on from ``CPSAT_FROM_S`` with two workers: at one second a second tabu
    search does better. For a makespan objective the two exchange plans while they run (``exchange.py``): the
    search sends each new best to CP-SAT, which restarts from it when it is better than its own, and moves to each
    better CP-SAT solution as it is found (the caller's ``on_improve`` sees those too).
    """
    t0 = time.perf_counter()
    # keep time for the final check (and the worker hand-back) inside the budget
    workers = max(1, min(int(workers), cores_available()))  # more searches than cores only slow each other
    reserve = min(0.1 * time_limit_s, 0.02 + 4e-5 * problem.n_ops + (0.06 if workers > 1 else 0.0))
    deadline = t0 + max(time_limit_s - reserve, 0.0)
    hard_deadline = t0 + max(time_limit_s - 0.01 - 2e-5 * problem.n_ops, 0.0)
    start = construct(problem, budget_s=min(CONSTRUCT_BUDGET_S, max(time_limit_s, 0.0) or CONSTRUCT_BUDGET_S),
                      seed=seed)
    if on_improve is not None:
        on_improve(start)
    best = start
    if use_cpsat is None:  # the portfolio's own choice
        use_cpsat = workers > 1 and time_limit_s >= CPSAT_FROM_S
    cp = use_cpsat and cpsat_supports(problem) and cpsat_available()
    pure = problem.objective.pure_makespan and problem.objective.makespan > 0
    bound = makespan_lower_bound(problem) if pure else 0
    bound_v = problem.objective.makespan * bound if pure else float("-inf")
    info: dict[str, float] = {}  # when the search handed over to CP-SAT, if it did
    if time_limit_s > 0 and time.perf_counter() < deadline and objective_value(problem, start) > bound_v:
        pool = None
        futures = []
        halt = _Either(stop)

        def proven(plan: Plan) -> None:  # runs in the pool's result thread: a proof ends our search too
            if plan.stats.get("optimal"):
                halt.own.set()

        ex = None
        if workers > 1:
            ctx = _context()
            ex = Exchange(ctx, problem) if cp and LIVE_EXCHANGE and pure and _tabu_friendly(problem) else None
            pool = _pool(ctx, workers - 1, ex)
            futures = [pool.apply_async(_worker, ((problem, start, deadline, seed + 1000 * (w + 1), max_iters,
                                                   cp and w == workers - 2),), callback=proven)
                       for w in range(workers - 1)]
        best = _search(problem, start, deadline, seed, max_iters, on_improve, halt, bound_v,  # type: ignore[arg-type]
                       ex, info if max_iters is None and time_limit_s >= HANDOVER_FROM_S else None)
        if pool is not None:
            try:
                for f in futures:
                    if objective_value(problem, best) <= bound_v:
                        break  # proven optimal here: nothing a worker finds can be better
                    if stop is not None and stop.is_set():
                        break  # the caller no longer needs the answer: not a moment longer for the workers
                    try:  # a worker that is late (a loaded machine) is dropped, the budget is kept
                        other = f.get(timeout=max(hard_deadline - time.perf_counter(), 0.001))
                    except mp.TimeoutError:
                        log.debug("a search worker missed the deadline; its plan is not used")
                        continue
                    if "cpsat_bound" in other.stats and pure:
                        bound = max(bound, other.stats["cpsat_bound"])
                    if objective_value(problem, other) < objective_value(problem, best):
                        best = other
                        if on_improve is not None:
                            on_improve(best)
            finally:
                pool.terminate()
                pool.join()
    best.stats["wall_s"] = time.perf_counter() - t0
    best.stats["construct_makespan"] = start.makespan
    best.stats["found_by"] = _found_by(best, start)
    if "handover_s" in info:
        best.stats["handover_at_s"] = round(info["handover_s"] - t0, 2)
    if "cpsat_wins" in info:
        best.stats["cpsat_wins"] = int(info["cpsat_wins"])
    problems = validate_plan(problem, best)
    if problems:  # a planner bug must never reach the floor: fall back to the constructive plan
        log.error("optimiser produced an invalid plan (%s); keeping the constructive one", problems[0])
        best = start
    if pure:
        best.stats["lower_bound"] = bound
        best.stats["gap_to_bound"] = gap_to_bound(best.makespan, bound)
        best.stats["optimal"] = best.makespan <= bound
    return best
