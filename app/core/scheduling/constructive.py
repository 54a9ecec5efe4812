"""Constructive planners: a few dispatch rules run in full, the best plan kept. No solver needed."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence

from app.core.scheduling.plan import Plan, objective_value
from app.core.scheduling.problem import INF, Problem
from app.core.scheduling.timeline import Timelines
from app.core.scheduling.util import gc_paused

log = logging.getLogger(__name__)

# Above this many operations the dynamic rules (which rescan every ready operation) are too slow for a first
# plan in seconds; the serial planner in a static priority order takes over.
DYNAMIC_MAX_OPS = 1500


def _new_plan(problem: Problem, source: str) -> Plan:
    n = problem.n_ops
    return Plan([-1] * n, [0] * n, [0] * n, source)


def _place_fixed(problem: Problem, tl: Timelines, plan: Plan) -> set[int]:
    done: set[int] = set()
    for o, (m, s) in sorted(problem.fixed.items(), key=lambda kv: kv[1][1]):
        d = problem.duration(o, m)
        if d is None:
            d = 0
        tl.place(o, m, s, d)
        plan.machine[o], plan.start[o], plan.end[o] = m, s, s + d
        done.add(o)
    return done


def _best_start(problem: Problem, tl: Timelines, o: int, m: int, ready: int, d: int, shift: bool) -> int:
    s0 = tl.earliest(o, m, ready, d)
    if not shift or d <= 0 or not problem.power_steps(o, m, s0, s0 + d):
        return s0
    due = problem.job_due[problem.op_job[o]]
    best_s, best_c = s0, problem.op_energy(o, m, s0, s0 + d)[0]
    for a, _b, _price, _c in problem.forecast.segments(s0, s0 + problem.flex_shift):
        if a <= s0:
            continue
        s = tl.earliest(o, m, int(a), d)
        if s + d > due and due < INF:
            break
        c = problem.op_energy(o, m, s, s + d)[0]
        if c < best_c - 1e-9:
            best_s, best_c = s, c
    return best_s


def serial(problem: Problem, order: Sequence[int], assign: Sequence[int] | None = None, shift: bool = False,
           source: str = "serial") -> Plan:
    """Place operations one by one in ``order`` (predecessors first) at their earliest feasible start.

    A given machine in ``assign`` is kept; otherwise the operation takes the machine where it ends first.
    """
    tl = Timelines(problem)
    plan = _new_plan(problem, source)
    done = _place_fixed(problem, tl, plan)
    release, preds, alts, end = problem.release, problem.preds, problem.alts, plan.end
    for o in order:
        if o in done:
            continue
        ready = release[o]
        for p in preds[o]:
            if end[p] > ready:
                ready = end[p]
        choices = alts[o]
        if assign is not None and assign[o] >= 0:
            d = problem.duration(o, assign[o])
            if d is not None:
                choices = [(assign[o], d)]
        best = None
        for m, d in choices:
            s = _best_start(problem, tl, o, m, ready, d, shift)
            key = (s + d, d)
            if best is None or key < best[0]:
                best = (key, m, s, d)
        assert best is not None
        _, m, s, d = best
        tl.place(o, m, s, d)
        plan.machine[o], plan.start[o], end[o] = m, s, s + d
    return plan


RuleKey = Callable[[int, int, int, int], tuple]


def dynamic(problem: Problem, rule: str, rng: random.Random | None = None, shift: bool = False,
            deadline: float | None = None) -> Plan | None:
    """Global rule: repeatedly start the ready (operation, machine) pair chosen by ``rule``.

    ``ect``: the pair that completes first (ties: most work left). ``mwkr``: the operation with the most work
    left, on its earliest-completing machine. ``spt``: the pair that completes first relative to its duration.
    With ``rng``, keys get a small random jitter (for restarts). Returns None if ``deadline`` passes first.
    """
    tail = problem.tail_work()
    weight = [problem.job_weight[j] for j in problem.op_job]
    tl = Timelines(problem)
    plan = _new_plan(problem, rule)
    done = _place_fixed(problem, tl, plan)
    npred = [sum(1 for p in ps if p not in done) for ps in problem.preds]
    for o in done:
        npred[o] = -1
    ready_ops = [o for o in range(problem.n_ops) if npred[o] == 0]
    release, preds, alts, end = problem.release, problem.preds, problem.alts, plan.end
    jitter = (lambda: rng.random()) if rng is not None else (lambda: 0.0)
    amp = 0.15 if rng is not None else 0.0
    # An op's earliest start on m only changes when m gets new work (or, under a power cap, when anything does),
    # so starts are cached per (op, machine) against a per-machine version number.
    version = [0] * problem.n_machines
    cache: dict[tuple[int, int], tuple[int, int]] = {}
    cacheable = problem.power_cap_w is None
    steps = 0
    while ready_ops:
        steps += 1
        if deadline is not None and (shift or (steps & 15) == 0) and time.perf_counter() > deadline:
            return None
        best = None
        scan = ready_ops
        if rule == "mwkr" and rng is None:
            # the key leads with the operation's (static) priority: only the top-priority ops need timing
            top = max(tail[o] * weight[o] for o in ready_ops)
            scan = [o for o in ready_ops if tail[o] * weight[o] == top]
        for o in scan:
            ready = release[o]
            for p in preds[o]:
                if end[p] > ready:
                    ready = end[p]
            for m, d in alts[o]:
                hit = cache.get((o, m)) if cacheable else None
                if hit is not None and hit[0] == version[m]:
                    s = hit[1]
                else:
                    s = _best_start(problem, tl, o, m, ready, d, shift)
                    if cacheable:
                        cache[(o, m)] = (version[m], s)
                e = s + d
                if rule == "ect":
                    key = (e * (1 + amp * jitter()), -tail[o] * weight[o], d)
                elif rule == "mwkr":
                    key = (-(tail[o] * weight[o]) * (1 + amp * jitter()), e, d)
                elif rule == "est":
                    key = (s * (1 + amp * jitter()), e, -tail[o])
                else:  # "spt": favour short work that fits early
                    key = ((e + d) * (1 + amp * jitter()), -tail[o], d)
                if best is None or key < best[0]:
                    best = (key, o, m, s, d)
        assert best is not None
        _, o, m, s, d = best
        tl.place(o, m, s, d)
        version[m] += 1
        plan.machine[o], plan.start[o], end[o] = m, s, s + d
        ready_ops.remove(o)
        for x in problem.succs[o]:
            npred[x] -= 1
            if npred[x] == 0:
                ready_ops.append(x)
    return plan


def static_order(problem: Problem, rng: random.Random | None = None) -> list[int]:
    """A topological order favouring long remaining work, early due dates and high priority."""
    tail = problem.tail_work()
    topo = problem.topo_order()
    depth = [0] * problem.n_ops
    for o in topo:
        for s in problem.succs[o]:
            depth[s] = max(depth[s], depth[o] + 1)
    jit = [rng.random() for _ in range(problem.n_ops)] if rng else [0.0] * problem.n_ops
    return sorted(topo, key=lambda o: (depth[o], problem.job_due[problem.op_job[o]],
                                       -tail[o] * problem.job_weight[problem.op_job[o]] * (1 + 0.3 * jit[o])))


# Work units (ready operations x alternatives, summed over the steps) the dynamic rules may spend by default:
# mk04 is ~2.6k units, mk10 ~14k (~20 ms per rule when the machine is quiet), the 100 x 60 shops ~850k.
DYNAMIC_WORK = 4_000


def construct(problem: Problem, budget_s: float = 0.05, seed: int = 0) -> Plan:
    """The best plan of a few rules, chosen by the size of the problem (not by the clock, so that the same
    problem always gets the same first plan, loaded machine or not).

    The serial rule always runs (it is linear in the work and gives a plan even for huge fleets). The dynamic
    rules rescan every ready operation at each step; they run when their predicted work fits ``DYNAMIC_WORK``
    scaled by ``budget_s`` (0.05 s by default), and a wall-clock guard at ten times the budget stops a runaway.
    """
    with gc_paused():
        return _construct(problem, budget_s)


def _construct(problem: Problem, budget_s: float) -> Plan:
    t0 = time.perf_counter()
    guard = t0 + 10 * budget_s
    shifts = [False, True] if (problem.objective.energy > 0 and problem.has_power) else [False]
    order = static_order(problem)
    best: Plan | None = None
    best_v = float("inf")

    def offer(plan: Plan | None) -> None:
        nonlocal best, best_v
        if plan is None:
            return
        v = objective_value(problem, plan)
        if v < best_v:
            best, best_v = plan, v

    n = problem.n_ops
    avg_alts = sum(len(a) for a in problem.alts) / max(n, 1)
    work = n * min(problem.n_jobs, n) * avg_alts * len(shifts)
    allowed = DYNAMIC_WORK * budget_s / 0.05
    # strongest first (measured on Brandimarte: mwkr, then serial, then est; ect never won)
    # mwkr only times the top-priority ready operations, so it costs about as much as the serial rule
    for sh in shifts:
        if n <= DYNAMIC_MAX_OPS:
            offer(dynamic(problem, "mwkr", shift=sh, deadline=guard))
        offer(serial(problem, order, shift=sh, source="serial"))
    if n <= DYNAMIC_MAX_OPS and work <= allowed:
        for sh in shifts:
            offer(dynamic(problem, "est", shift=sh, deadline=guard))
    assert best is not None
    best.stats["construct_s"] = time.perf_counter() - t0
    return best
