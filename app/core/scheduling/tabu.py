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

from app.core.scheduling.elite import ElitePool
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

ELITE_RESTART_P = 0.2  # share of restarts from a child of two elite plans (0.5, or an elite plan itself: worse)


class TabuState:
    """Machine assignment and per-machine order, with heads (r) and tails (t, including own duration)."""

    def __init__(self, problem: Problem, plan: Plan) -> None:
        self.p = problem
        n = problem.n_ops
        self.n = n
        self.jpred = problem.preds
        self.jsucc = problem.succs
        self.release = problem.release
        self.dur_of = [dict(a) for a in problem.alts]
        self.alts = problem.alts
        self.assign = list(plan.machine)
        self.dur = [self.dur_of[o][self.assign[o]] for o in range(n)]
        self.seq = plan.sequences(problem.n_machines)
        self.mprev = [-1] * n
        self.mnext = [-1] * n
        for s in self.seq:
            self._link(s)
        self.chains = all(len(p) <= 1 for p in self.jpred) and all(len(x) <= 1 for x in self.jsucc)
        self.jprev = [p[0] if p else -1 for p in self.jpred]
        self.jnext = [x[0] if x else -1 for x in self.jsucc]
        self.r = [0] * n
        self.t = [0] * n
        self.cmax = 0
        if not self.evaluate():
            raise ValueError("the starting plan's machine orders contradict its precedences")

    def _link(self, s: list[int]) -> None:
        mprev, mnext = self.mprev, self.mnext
        prev = -1
        for o in s:
            mprev[o] = prev
            if prev >= 0:
                mnext[prev] = o
            prev = o
        if prev >= 0:
            mnext[prev] = -1

    def evaluate(self) -> bool:
        """Heads, tails and makespan by one topological sweep; False when the machine orders make a cycle."""
        if self.chains:
            return self._evaluate_chains()
        n, jpred, jsucc, mprev, mnext, dur = self.n, self.jpred, self.jsucc, self.mprev, self.mnext, self.dur
        indeg = [len(jpred[o]) + (mprev[o] >= 0) for o in range(n)]
        r = list(self.release)
        stack = [o for o in range(n) if indeg[o] == 0]
        order: list[int] = []
        push, pop, add = stack.append, stack.pop, order.append
        cm = 0
        while stack:
            o = pop()
            add(o)
            e = r[o] + dur[o]
            if e > cm:
                cm = e
            for s in jsucc[o]:
                if r[s] < e:
                    r[s] = e
                indeg[s] -= 1
                if indeg[s] == 0:
                    push(s)
            s = mnext[o]
            if s >= 0:
                if r[s] < e:
                    r[s] = e
                indeg[s] -= 1
                if indeg[s] == 0:
                    push(s)
        if len(order) < n:
            return False
        t = [0] * n
        for o in reversed(order):
            best = 0
            for s in jsucc[o]:
                if t[s] > best:
                    best = t[s]
            s = mnext[o]
            if s >= 0 and t[s] > best:
                best = t[s]
            t[o] = best + dur[o]
        self.r, self.t, self.cmax = r, t, cm
        return True

    def _evaluate_chains(self) -> bool:
        """The same sweep when every job is a chain (classic FJSP): scalar next/previous links, no inner lists."""
        n, jprev, jnext, mprev, mnext, dur = self.n, self.jprev, self.jnext, self.mprev, self.mnext, self.dur
        indeg = [(jprev[o] >= 0) + (mprev[o] >= 0) for o in range(n)]
        r = list(self.release)
        stack = [o for o in range(n) if indeg[o] == 0]
        order: list[int] = []
        push, pop, add = stack.append, stack.pop, order.append
        cm = 0
        while stack:
            o = pop()
            add(o)
            e = r[o] + dur[o]
            if e > cm:
                cm = e
            s = jnext[o]
            if s >= 0:
                if r[s] < e:
                    r[s] = e
                indeg[s] -= 1
                if indeg[s] == 0:
                    push(s)
            s = mnext[o]
            if s >= 0:
                if r[s] < e:
                    r[s] = e
                indeg[s] -= 1
                if indeg[s] == 0:
                    push(s)
        if len(order) < n:
            return False
        t = [0] * n
        for o in reversed(order):
            a = jnext[o]
            b = mnext[o]
            x = t[a] if a >= 0 else 0
            if b >= 0 and t[b] > x:
                x = t[b]
            t[o] = x + dur[o]
        self.r, self.t, self.cmax = r, t, cm
        return True

    def move(self, v: int, k: int, i: int) -> tuple[int, int]:
        """Put v at index i of machine k's order (index counted without v). Returns how to undo it."""
        m = self.assign[v]
        old = self.seq[m]
        oi = old.index(v)
        del old[oi]
        self.seq[k].insert(i, v)
        self.assign[v] = k
        self.dur[v] = self.dur_of[v][k]
        self._link(old)
        if k != m:
            self._link(self.seq[k])
        return m, oi

    def to_plan(self, source: str) -> Plan:
        end = [self.r[o] + self.dur[o] for o in range(self.n)]
        return Plan(list(self.assign), list(self.r), end, source)


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


def tabu_search(problem: Problem, start: Plan, deadline: float, seed: int = 0, max_iters: int | None = None,
                on_improve: Callable[[Plan], None] | None = None, stall_limit: int = 150,
                stop: threading.Event | None = None, elite: bool = True) -> Plan:
    """Improve ``start`` until ``deadline`` (perf_counter seconds) or ``max_iters``; returns the best plan.

    With ``elite``, each stalled run's best plan joins an elite pool, and a share of the restarts start from a
    child of two elite plans (``elite.py``) rather than from the best plan with a few random moves."""
    rng = random.Random(seed)
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
        last_step = now - last_t if it > 1 else 0.0
        last_t = now
        if max_iters is not None and it > max_iters:
            break
        cands = _neighbours(st, rng.getrandbits(16))
        if not cands:  # every machine looked hopeless: look at them all
            cands = _neighbours(st, rng.getrandbits(16), slack=1 << 40)
        cands.sort()
        chosen = None
        for est, _tie, v, k, i, u in cands:
            if tabu.get((v, k, u), 0) > it and est >= best_c:
                continue
            chosen = (v, k, i)
            break
        if chosen is None:
            if not cands:
                break
            chosen = cands[0][2:5]
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
            if stall > stall_limit and pool is not None and rng.random() < ELITE_RESTART_P:
                child = pool.child(rng)
                if child is not None:
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
