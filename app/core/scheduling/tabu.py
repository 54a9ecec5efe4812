"""Tabu search on the disjunctive graph of a flexible job shop (makespan).

Each step takes one operation on a critical path and re-inserts it at the best position on any machine that
can run it (this covers the classic N5/N7 swaps and the reassignments). Positions are limited to the ones that
cannot create a cycle (heads of its possible predecessors and tails of its possible successors bound them), and
moves are ranked by the estimated length of the longest path through the moved operation (Mastrolilli and
Gambardella's idea); the chosen move is then evaluated exactly. Everything is plain lists: it is the hot loop.
"""

from __future__ import annotations

import random
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable

from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.elite import ElitePool
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

ELITE_RESTART_P = 0.2  # share of restarts from a child of two elite plans (0.5, or an elite plan itself: worse)
RELINK = False  # restart from the middle of a path between two elite plans rather than from a child
RELINK_RESTART_P = 0.2
RELINK_FROM_RUN = False  # relink from where the stalled run is rather than between two elite plans
RELINK_CHARGE = 1.0  # steps a relinking walk's graph evaluation counts as (one evaluation is ~half a step's work)


def _neighbours(st: TabuState, salt: int, slack: int = 0) -> list[tuple[int, int, int, int, int, int]]:
    """(estimate, tie, v, machine, index, new machine predecessor) for every cycle-free re-insertion of every
    critical operation. ``tie`` is a cheap seed-dependent hash so equal estimates are not taken in index order."""
    r, t, dur, cmax = st.r, st.t, st.dur, st.cmax
    seq, jpred, jsucc, release, assign = st.seq, st.jpred, st.jsucc, st.release, st.assign
    # per machine: ends (increasing) and negated tails (increasing) for bisection
    ends = [[r[x] + dur[x] for x in q] for q in seq]
    ntails = [[-t[x] for x in q] for q in seq]
    out: list[tuple[int, int, int, int, int, int]] = []
    add = out.append
    for v in range(st.n):
        if r[v] + t[v] != cmax:
            continue
        rj = release[v]
        for p in jpred[v]:
            e = r[p] + dur[p]
            if e > rj:
                rj = e
        tj = 0
        for x in jsucc[v]:
            if t[x] > tj:
                tj = t[x]
        mv = assign[v]
        for k, pk in st.alts[v]:
            if rj + pk + tj > cmax + slack:
                continue  # no position on k can bring the path through v back under the makespan
            q = seq[k]
            skip = -1
            if k == mv:
                skip = q.index(v)
                q = q[:skip] + q[skip + 1:]
                e_k = ends[k][:skip] + ends[k][skip + 1:]
                nt_k = ntails[k][:skip] + ntails[k][skip + 1:]
            else:
                e_k, nt_k = ends[k], ntails[k]
            lo = bisect_right(e_k, rj)  # ops ending by v's job-head may be its predecessors: keep them before
            hi = bisect_left(nt_k, -tj)  # ops whose tail fits in v's job-tail may be successors: keep them after
            if lo > hi:
                continue
            ns = len(q)
            base = (v * 7919 + k * 104729 + salt) & 0xFFFF
            for i in range(lo, hi + 1):
                if i == skip:
                    continue
                head = rj
                u = -1
                if i > 0:
                    u = q[i - 1]
                    if e_k[i - 1] > head:
                        head = e_k[i - 1]
                tail = tj
                if i < ns and -nt_k[i] > tail:
                    tail = -nt_k[i]
                add((head + pk + tail, (base + i * 31337) & 0xFFFF, v, k, i, u))
    return out


def _choose(st: TabuState, salt: int, tabu: dict[tuple[int, int, int], int], it: int, best_c: int,
            slack: int = 0) -> tuple[int, int, int] | None:
    """The move the tabu step takes, without listing the candidates: the same order as sorting ``_neighbours``
    by (estimate, tie, v, machine, index) and taking the first one that is not tabu (a tabu move is allowed when
    its estimate beats the best makespan), else the first one. The tabu list is only read for a candidate that
    would win, so most of the ~800 candidates per step cost a few comparisons."""
    r, t, dur, cmax = st.r, st.t, st.dur, st.cmax
    seq, jpred, jsucc, release, assign = st.seq, st.jpred, st.jsucc, st.release, st.assign
    ends = [[r[x] + dur[x] for x in q] for q in seq]
    ntails = [[-t[x] for x in q] for q in seq]
    big = 1 << 62
    b_est, b_key, b_move = big, None, None  # best allowed move
    f_est, f_key, f_move = big, None, None  # best move of all (when every move is tabu)
    tget = tabu.get
    for v in range(st.n):
        if r[v] + t[v] != cmax:
            continue
        rj = release[v]
        for p in jpred[v]:
            e = r[p] + dur[p]
            if e > rj:
                rj = e
        tj = 0
        for x in jsucc[v]:
            if t[x] > tj:
                tj = t[x]
        mv = assign[v]
        for k, pk in st.alts[v]:
            least = rj + pk + tj  # no position on k does better than this
            if least > cmax + slack or least > b_est:
                continue
            q = seq[k]
            skip = -1
            if k == mv:
                skip = q.index(v)
                q = q[:skip] + q[skip + 1:]
                e_k = ends[k][:skip] + ends[k][skip + 1:]
                nt_k = ntails[k][:skip] + ntails[k][skip + 1:]
            else:
                e_k, nt_k = ends[k], ntails[k]
            lo = bisect_right(e_k, rj)
            hi = bisect_left(nt_k, -tj)
            if lo > hi:
                continue
            ns = len(q)
            base = (v * 7919 + k * 104729 + salt) & 0xFFFF
            for i in range(lo, hi + 1):
                if i == skip:
                    continue
                head = rj
                u = -1
                if i > 0:
                    u = q[i - 1]
                    if e_k[i - 1] > head:
                        head = e_k[i - 1]
                tail = tj
                if i < ns and -nt_k[i] > tail:
                    tail = -nt_k[i]
                est = head + pk + tail
                if est > b_est and est > f_est:
                    continue
                key = (est, (base + i * 31337) & 0xFFFF, v, k, i)
                if f_key is None or key < f_key:
                    f_est, f_key, f_move = est, key, (v, k, i)
                if (b_key is None or key < b_key) and not (tget((v, k, u), 0) > it and est >= best_c):
                    b_est, b_key, b_move = est, key, (v, k, i)
    return b_move if b_move is not None else f_move


def tabu_search(problem: Problem, start: Plan, deadline: float, seed: int = 0, max_iters: int | None = None,
                on_improve: Callable[[Plan], None] | None = None, stall_limit: int = 150,
                stop: threading.Event | None = None, elite: bool = True, relink: bool = RELINK,
                restart_p: float | None = None, inbox: Callable[[], Plan | None] | None = None) -> Plan:
    """Improve ``start`` until ``deadline`` (perf_counter seconds) or ``max_iters``; returns the best plan.

    With ``elite``, each stalled run's best plan joins an elite pool, and a share of the restarts start from a
    child of two elite plans (``elite.py``) rather than from the best plan with a few random moves. ``inbox``
    (polled every 32 steps) may hand in a better plan found elsewhere (CP-SAT in the other worker): the search
    moves to it."""
    rng = random.Random(seed)
    p_elite = (RELINK_RESTART_P if relink else ELITE_RESTART_P) if restart_p is None else restart_p
    st = TabuState(problem, start)
    best_c = st.cmax
    best = st.to_plan("tabu")
    pool = ElitePool(problem) if elite else None
    run_c, run_plan = st.cmax, best
    best_snapshot = ([list(s) for s in st.seq], list(st.assign))
    tabu: dict[tuple[int, int, int], int] = {}
    it = 0
    stall = 0
    n = problem.n_ops
    tmin, tmax = 2 + n // 60, 8 + n // 20
    lb = _lower_bound(problem)
    last_step = 0.0
    last_t = time.perf_counter()
    while best_c > lb:
        it += 1
        now = time.perf_counter()
        if now + last_step > deadline:  # stop when the next step would overrun, not after it
            break
        if stop is not None and (it & 15) == 0 and stop.is_set():
            break
        if inbox is not None and (it & 31) == 0:
            got = inbox()
            if got is not None and got.makespan < best_c:
                try:
                    fresh: TabuState | None = TabuState(problem, got)
                except ValueError:  # its machine orders do not fit this graph (ties of zero length): ignore it
                    fresh = None
                if fresh is not None:
                    st = fresh
                    best_c, best = st.cmax, st.to_plan("exchange")
                    best_snapshot = ([list(s) for s in st.seq], list(st.assign))
                    run_c, run_plan = best_c, best
                    tabu.clear()
                    stall = 0
                    if on_improve is not None:
                        on_improve(best)
        last_step = now - last_t if it > 1 else 0.0
        last_t = now
        if max_iters is not None and it > max_iters:
            break
        chosen = _choose(st, rng.getrandbits(16), tabu, it, best_c)
        if chosen is None:  # every machine looked hopeless: look at them all
            chosen = _choose(st, rng.getrandbits(16), tabu, it, best_c, slack=1 << 40)
            if chosen is None:
                break
        v, k, i = chosen
        m_old = st.assign[v]
        prev_old = st.mprev[v]
        st.move(v, k, i)
        if not st.evaluate():  # cannot happen by construction; undo defensively
            st.seq = [list(s) for s in best_snapshot[0]]
            st.assign = list(best_snapshot[1])
            st.dur = [st.dur_of[o][st.assign[o]] for o in range(n)]
            for s in st.seq:
                st._link(s)
            st.evaluate()
            continue
        tabu[(v, m_old, prev_old)] = it + rng.randint(tmin, tmax)
        if st.cmax < run_c and pool is not None:  # this run's best: it joins the elite pool if the run stalls
            run_c, run_plan = st.cmax, st.to_plan("tabu")
        if st.cmax < best_c:
            best_c = st.cmax
            best = st.to_plan("tabu")
            run_plan = best
            best_snapshot = ([list(s) for s in st.seq], list(st.assign))
            stall = 0
            if on_improve is not None:
                on_improve(best)
        else:
            stall += 1
            if stall > stall_limit and pool is not None and run_plan is not None:
                pool.offer(run_plan)
            if stall > stall_limit and pool is not None and rng.random() < p_elite:
                if relink:
                    child = pool.relinked(rng, st.to_plan("tabu") if RELINK_FROM_RUN else None)
                else:
                    child = pool.child(rng)
                if child is not None:
                    it += int(RELINK_CHARGE * child.stats.get("relink_evals", 0))
                    st = TabuState(problem, child)
                    run_c, run_plan = st.cmax, st.to_plan("tabu")
                    tabu.clear()
                    stall = 0
                    if st.cmax < best_c:
                        best_c, best = st.cmax, run_plan
                        best_snapshot = ([list(s) for s in st.seq], list(st.assign))
                        if on_improve is not None:
                            on_improve(best)
                    continue
            if stall > stall_limit:
                # restart from the best with a few random critical moves, forgetting the tabu list
                st.seq = [list(s) for s in best_snapshot[0]]
                st.assign = list(best_snapshot[1])
                st.dur = [st.dur_of[o][st.assign[o]] for o in range(n)]
                for s in st.seq:
                    st._link(s)
                st.evaluate()
                for _ in range(rng.randint(2, 6)):
                    cands = _neighbours(st, rng.getrandbits(16))
                    if not cands:
                        break
                    _, _, v, k, i, _ = cands[rng.randrange(len(cands))]
                    st.move(v, k, i)
                    st.evaluate()
                tabu.clear()
                stall = 0
                run_c, run_plan = st.cmax, None
    best.stats["tabu_iters"] = it
    return best


def _lower_bound(problem: Problem) -> int:
    """A simple bound: the longest chain of shortest durations, and total minimum work spread over machines."""
    chain = max(problem.tail_work(), default=0)
    work = sum(min(d for _, d in a) for a in problem.alts)
    return max(chain, -(-work // max(problem.n_machines, 1)), max((r for r in problem.release), default=0))
