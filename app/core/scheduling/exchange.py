"""The live exchange between the portfolio's two workers while both run: the tabu search (parent process) sends
each new best plan to the CP-SAT worker (child process), which restarts CP-SAT hinted with it when it beats
CP-SAT's own; every better CP-SAT solution goes back at once (a solution callback) and the search moves to it
(``tabu_search(inbox=...)``). Two shared-memory slots, each holding the best plan one side has posted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from app.core.scheduling.cpsat import cpsat_improve
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

MIN_RUN_S = 0.4  # a CP-SAT run is not restarted before this (building the model and presolve cost time)
# With this much time left, CP-SAT runs 4 subsolvers interleaved in its one thread (large-neighbourhood moves, better
# bounds): from a 2,635 hint on dauzere 01a in 30 s 2,593 against 2,627 with one; at 10 s on Brandimarte one
# subsolver kept 1-2 units shorter makespans on 3 of 10 runs.
LNS_FROM_S = 20.0
LNS_SUBSOLVERS = 4
# After the search hands over (``Exchange.handover``: it stalled and stopped), CP-SAT runs with this many workers,
# the default portfolio of plain CP-SAT (with 2: one full-problem thread, one of interleaved neighbourhood moves).
HANDOVER_WORKERS = 2


class Slot:
    """One plan in shared memory, the best posted so far: [version, makespan, machines..., starts...]. A writer
    only replaces a longer plan; a reader sees each version once. No pipe and no helper thread, so nothing can
    block either side or outlive the call."""

    def __init__(self, ctx: Any, problem: Problem) -> None:
        self.n = problem.n_ops
        self.dur = [dict(a) for a in problem.alts]
        self.arr = ctx.Array("q", 2 + 2 * self.n)  # 64-bit integers, with a lock
        self.arr[1] = -1  # empty
        self.seen = 0

    def post(self, plan: Plan) -> None:
        with self.arr.get_lock():
            if 0 <= self.arr[1] <= plan.makespan:
                return
            n = self.n
            self.arr[2:2 + n] = plan.machine
            self.arr[2 + n:2 + 2 * n] = plan.start
            self.arr[1] = plan.makespan
            self.arr[0] += 1

    def take(self, source: str) -> Plan | None:
        """The plan posted since the last take, or None."""
        with self.arr.get_lock():
            if self.arr[0] == self.seen:
                return None
            self.seen = self.arr[0]
            data = self.arr[2:]
        n = self.n
        machine, start = list(data[:n]), list(data[n:])
        return Plan(machine, start, [start[o] + self.dur[o].get(machine[o], 0) for o in range(n)], source)


class Exchange:
    """``to_cp``: the search's best; ``to_search``: CP-SAT's. Made before the worker pool and handed to it at
    start (shared memory cannot travel as a task's arguments)."""

    def __init__(self, ctx: Any, problem: Problem) -> None:
        self.to_cp = Slot(ctx, problem)
        self.to_search = Slot(ctx, problem)
        # set by the search when it stalls and stops: CP-SAT restarts at once with both cores to the deadline
        self.handover = ctx.Event()


def send(slot: Slot, plan: Plan) -> None:
    slot.post(plan)


def latest(slot: Slot) -> Plan | None:
    return slot.take("exchange")


class _BetterArrived:
    """CP-SAT's stop flag: set when the search has sent a plan shorter than CP-SAT's best (and the run is old
    enough to be worth leaving). Polled by the solve's watcher thread."""

    def __init__(self, q: Slot, cp_best: list[int], subsolvers: int = 1, handover: Any = None) -> None:
        self.q, self.cp_best, self.subsolvers, self.handover = q, cp_best, subsolvers, handover
        self.t0 = time.perf_counter()
        self.pending: Plan | None = None
        self.lock = threading.Lock()

    def is_set(self) -> bool:
        with self.lock:
            got = latest(self.q)
            if got is not None and (self.pending is None or got.makespan < self.pending.makespan):
                self.pending = got
            if self.handover is not None and self.handover.is_set():
                return True  # the search has stopped: this one-core run makes way for one on both cores
            return (self.pending is not None and self.pending.makespan < self.cp_best[0]
                    and time.perf_counter() - self.t0 >= MIN_RUN_S)


def cpsat_live(problem: Problem, hint: Plan, deadline: float, seed: int, ex: Exchange) -> Plan:
    """CP-SAT until ``deadline``, restarted from the search's plan whenever that is better, every better solution
    sent to the search. The best plan, with the best proven bound over the runs (``cpsat_bound``) and
    ``optimal``."""
    best = hint
    got = latest(ex.to_cp)
    if got is not None and got.makespan < best.makespan:
        best = got
    bound = 0
    runs = 0
    handed_at = None
    cp_best = [best.makespan]

    def on_solution(plan: Plan) -> None:
        if plan.makespan < cp_best[0]:
            cp_best[0] = plan.makespan
            send(ex.to_search, plan)

    while deadline - time.perf_counter() > 0.1:
        left = deadline - time.perf_counter()
        if handed_at is None and ex.handover.is_set():
            handed_at = left
        handed = handed_at is not None
        if handed:  # the search has stopped: both cores, plain CP-SAT's own portfolio
            flag = _BetterArrived(ex.to_cp, cp_best)
            workers = HANDOVER_WORKERS
        else:
            flag = _BetterArrived(ex.to_cp, cp_best, LNS_SUBSOLVERS if left >= LNS_FROM_S else 1, ex.handover)
            workers = 1
        res = cpsat_improve(problem, best, deadline - time.perf_counter(), seed=seed + runs, workers=workers,
                            on_solution=on_solution, stop=flag)
        runs += 1
        bound = max(bound, res.stats.get("cpsat_bound", 0))
        if res.makespan < best.makespan:
            best = res
        if best.makespan <= bound:
            break  # proven optimal
        pending = flag.pending
        if not handed and ex.handover.is_set():
            handed_at = deadline - time.perf_counter()
            if pending is not None and pending.makespan < best.makespan:
                best = pending
                cp_best[0] = min(cp_best[0], best.makespan)
            continue
        if pending is None or pending.makespan >= best.makespan:
            break  # CP-SAT ran to its time limit: nothing better came to restart from
        best = pending
        cp_best[0] = min(cp_best[0], best.makespan)
    best.stats["cpsat_bound"] = bound
    best.stats["optimal"] = best.makespan <= bound
    best.stats["cpsat_runs"] = runs
    if handed_at is not None:
        best.stats["cpsat_handover_left_s"] = round(handed_at, 2)  # seconds left when it took both cores
    return best
