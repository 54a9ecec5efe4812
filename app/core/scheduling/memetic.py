"""A memetic search for long budgets: a small population of plans, each new plan a crossover child of two members
improved by a short tabu run, replacing the closest worse member (after Li & Gao's hybrid GA + tabu search and
González, Vela & Varela's memetic algorithm for the flexible job shop; written from their descriptions).

The crossover takes each operation's machine from one parent or the other (uniform, per operation) and the work
order by job (POX: a random set of jobs keeps the first parent's start times as its priority, the others the
second's), decoded by the serial planner. The replacement keeps the population's spread: a child enters only when it
is not a copy of a member and at least one member is no better; it then replaces, among those, the one nearest to it
(operations on another machine or after another operation on it). The tabu run itself (``local``) is
``tabu.tabu_search`` with its restarts and elite pool, so this module only drives it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from app.core.scheduling.constructive import serial, static_order
from app.core.scheduling.elite import topological
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

POPULATION = 10  # plans in the population
LOCAL_STEPS = 20000  # tabu steps that improve each child (and each first member)

Local = Callable[[Plan, int, int], Plan]  # (start plan, seed, steps) -> its best plan after a tabu run


def memetic_search(problem: Problem, start: Plan, deadline: float, seed: int, max_iters: int | None,
                   local: Local, stop: threading.Event | None = None, bound: int = 0) -> Plan:
    """The best plan found until ``deadline``, ``stop`` or ``max_iters`` tabu steps in all; ``local`` runs the tabu
    steps (it reports improvements itself); a plan at ``bound`` ends it. Deterministic for a seed when only ``max_iters`` stops it."""
    rng = random.Random(seed)
    used = 0
    pop: list[tuple[Plan, list[tuple[int, int]]]] = []
    best = start

    def done() -> bool:
        return ((stop is not None and stop.is_set()) or time.perf_counter() >= deadline or best.makespan <= bound
                or (max_iters is not None and used >= max_iters))

    def improve(plan: Plan) -> Plan:
        nonlocal used, best
        steps = LOCAL_STEPS if max_iters is None else min(LOCAL_STEPS, max_iters - used)
        out = local(plan, rng.getrandbits(31), steps)
        used += max(int(out.stats.get("tabu_iters", 0)), 1)
        if out.makespan < best.makespan:
            best = out
        return out

    while len(pop) < POPULATION and not done():
        first = start if not pop else serial(problem, static_order(problem, rng), source="memetic")
        plan = improve(first)
        _admit(pop, plan, _arcs(problem, plan), fill=True)
    while len(pop) >= 2 and not done():
        a, b = rng.sample(pop, 2)
        child = improve(crossover(problem, a[0], b[0], rng))
        _admit(pop, child, _arcs(problem, child), fill=False)
    best.stats["tabu_iters"] = used
    best.stats["memetic_members"] = len(pop)
    return best


def crossover(problem: Problem, a: Plan, b: Plan, rng: random.Random) -> Plan:
    """Machines per operation from either parent, the order per job (POX) from either parent's start times."""
    n = problem.n_ops
    assign = [a.machine[o] if rng.random() < 0.5 else b.machine[o] for o in range(n)]
    keep = [rng.random() < 0.5 for _ in range(problem.n_jobs)]
    key = [a.start[o] if keep[problem.op_job[o]] else b.start[o] for o in range(n)]
    return serial(problem, topological(problem, key), assign=assign, source="memetic")


def _arcs(problem: Problem, plan: Plan) -> list[tuple[int, int]]:
    """Per operation, its machine and the operation before it there (-1 first): what the distance compares."""
    out = [(-1, -1)] * problem.n_ops
    for m, seq in enumerate(plan.sequences(problem.n_machines)):
        prev = -1
        for o in seq:
            out[o] = (m, prev)
            prev = o
    return out


def _admit(pop: list[tuple[Plan, list[tuple[int, int]]]], plan: Plan, arcs: list[tuple[int, int]],
           fill: bool) -> None:
    dist = [sum(x != y for x, y in zip(arcs, other, strict=True)) for _, other in pop]
    if 0 in dist:  # a copy of a member
        return
    if fill:
        pop.append((plan, arcs))
        return
    worse = [i for i, (p, _) in enumerate(pop) if p.makespan >= plan.makespan]
    if worse:
        pop[min(worse, key=lambda i: dist[i])] = (plan, arcs)
