"""An elite pool for the tabu search: the best distinct plans it has met, and new starting points made from two
of them (each job's machines from one parent or the other, the work ordered by the parents' start times and
re-timed by the serial planner). A stalled search restarts from such a child instead of only from its best plan:
diversity the best plan's neighbourhood alone does not give.
"""

from __future__ import annotations

import heapq
import random

from app.core.scheduling.constructive import serial
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem
from app.core.scheduling.relink import path_relink

POOL = 8


class ElitePool:
    def __init__(self, problem: Problem, size: int = POOL) -> None:
        self.p = problem
        self.size = size
        self.plans: list[Plan] = []  # sorted by makespan, distinct machine assignments
        self._keys: set[tuple[int, ...]] = set()

    def offer(self, plan: Plan) -> None:
        key = tuple(plan.machine) + (plan.makespan,)
        if key in self._keys:
            return
        if len(self.plans) >= self.size and plan.makespan >= self.plans[-1].makespan:
            return
        self.plans.append(plan)
        self._keys.add(key)
        self.plans.sort(key=lambda x: x.makespan)
        while len(self.plans) > self.size:
            gone = self.plans.pop()
            self._keys.discard(tuple(gone.machine) + (gone.makespan,))

    def child(self, rng: random.Random) -> Plan | None:
        """A plan from two elite parents (the better one more likely first), or None with fewer than two."""
        if len(self.plans) < 2:
            return None
        i, j = sorted(rng.sample(range(len(self.plans)), 2))
        a, b = self.plans[i], self.plans[j]
        p = self.p
        from_b = [rng.random() < 0.5 for _ in range(p.n_jobs)]
        assign = [b.machine[o] if from_b[p.op_job[o]] else a.machine[o] for o in range(p.n_ops)]
        key = [b.start[o] if from_b[p.op_job[o]] else a.start[o] for o in range(p.n_ops)]
        return serial(p, topological(p, key), assign=assign, source="elite")


    def relinked(self, rng: random.Random, current: Plan | None = None) -> Plan | None:
        """The best plan in the middle of the path from one elite plan towards another (``relink.py``), or from
        ``current`` (the stalled run's best) towards an elite plan; None with too few plans or when the two
        picked are too close."""
        if current is not None and self.plans:
            return path_relink(self.p, current, rng.choice(self.plans), rng)
        if len(self.plans) < 2:
            return None
        a, b = rng.sample(self.plans, 2)
        return path_relink(self.p, a, b, rng)


def topological(p: Problem, key: list[int]) -> list[int]:
    """Every operation after its predecessors, otherwise in order of ``key``."""
    indeg = [len(x) for x in p.preds]
    heap = [(key[o], o) for o in range(p.n_ops) if indeg[o] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, o = heapq.heappop(heap)
        out.append(o)
        for s in p.succs[o]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(heap, (key[s], s))
    return out
