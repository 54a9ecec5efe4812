"""A local search on the order work is placed in, for objectives the graph search does not see (lateness).

A plan is decoded from a priority list by the serial planner (each operation, in list order, at its earliest
start on the machine where it ends first, every rule kept: setups, windows, staffed hours, the power cap), so
every candidate is a valid plan and is judged by the full objective. Moves are aimed where lateness is: a late
job's operation moves up the list; an operation moves next to earlier work of its material (fewer setups); now
and then a random one moves (to leave a plateau). A move that is no worse is kept.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from app.core.scheduling.constructive import serial
from app.core.scheduling.plan import Plan, objective_value
from app.core.scheduling.problem import INF, Problem


def _late_ops(problem: Problem, plan: Plan) -> list[tuple[float, int]]:
    """(weighted lateness, its job's last operation) for every late job."""
    last: dict[int, int] = {}
    for o, j in enumerate(problem.op_job):
        if j not in last or plan.end[o] > plan.end[last[j]]:
            last[j] = o
    out = []
    for j, o in last.items():
        due = problem.job_due[j]
        if due < INF and plan.end[o] > due:
            out.append((problem.job_weight[j] * (plan.end[o] - due), o))
    return out


def _valid_order(problem: Problem, order: list[int]) -> bool:
    seen: set[int] = set()
    for o in order:
        if any(p not in seen for p in problem.preds[o]):
            return False
        seen.add(o)
    return True


def list_search(problem: Problem, start: Plan, deadline: float, seed: int = 0,
                on_improve: Callable[[Plan], None] | None = None, stop: threading.Event | None = None,
                max_iters: int | None = None) -> Plan:
    """The best plan found from ``start`` by moving operations in its priority list until ``deadline``."""
    rng = random.Random(seed)
    order = sorted(range(problem.n_ops), key=lambda o: (start.start[o], start.end[o], o))
    best, best_v = start, objective_value(problem, start)
    cur, cur_v, cur_plan = order, best_v, start
    pos_in: list[int] = [0] * problem.n_ops
    fam = problem.family
    it = 0
    while time.perf_counter() < deadline and (max_iters is None or it < max_iters):
        if stop is not None and stop.is_set():
            break
        it += 1
        for i, o in enumerate(cur):
            pos_in[o] = i
        cand = list(cur)
        late = _late_ops(problem, cur_plan) if rng.random() < 0.7 else []
        r = rng.random()
        if late:
            weights = [w for w, _ in late]
            o = rng.choices([x for _, x in late], weights=weights)[0]
            i = pos_in[o]
            k = max(0, i - rng.randint(1, max(2, problem.n_ops // 10)))
            cand.insert(k, cand.pop(i))
        elif r < 0.25 and problem.has_setups:
            # group a stretch of the list by material: runs of one material end up on one machine
            w = rng.randint(4, max(5, min(60, problem.n_ops // 4)))
            i = rng.randrange(max(1, len(cand) - w))
            first: dict[int, int] = {}
            for k, x in enumerate(cand[i:i + w]):
                first.setdefault(fam[x], k)
            cand[i:i + w] = sorted(cand[i:i + w], key=lambda x: first[fam[x]])
        elif r < 0.5 and problem.has_setups:
            o = rng.choice(cand)
            i = pos_in[o]
            mates = [pos_in[x] for x in cur[max(0, i - 40):i] if fam[x] == fam[o] and fam[o] >= 0]
            if not mates:
                continue
            cand.insert(mates[-1] + 1, cand.pop(i))
        else:
            i, k = rng.randrange(len(cand)), rng.randrange(len(cand))
            cand.insert(k, cand.pop(i))
        if not _valid_order(problem, cand):
            continue
        plan = serial(problem, cand, source="list-search")
        v = objective_value(problem, plan)
        if v <= cur_v:
            cur, cur_v, cur_plan = cand, v, plan
            if v < best_v:
                best, best_v = plan, v
                if on_improve is not None:
                    on_improve(plan)
    best.stats["list_search_iters"] = it
    return best
