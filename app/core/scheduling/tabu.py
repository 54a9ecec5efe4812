"""Tabu search on the disjunctive graph of a flexible job shop (makespan).

Each step takes one operation on a critical path and re-inserts it at the best position on any machine that
can run it (this covers the classic N5/N7 swaps and the reassignments). Positions are limited to the ones that
cannot create a cycle (heads of its possible predecessors and tails of its possible successors bound them), and
moves are ranked by the estimated length of the longest path through the moved operation (Mastrolilli and
Gambardella's idea); the chosen move is then evaluated exactly. Everything is plain lists: it is the hot loop.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable

from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem


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
        n, jpred, jsucc, mprev, mnext, dur = self.n, self.jpred, self.jsucc, self.mprev, self.mnext, self.dur
        indeg = [len(jpred[o]) + (mprev[o] >= 0) for o in range(n)]
        r = list(self.release)
        stack = [o for o in range(n) if indeg[o] == 0]
        order: list[int] = []
        push, pop, add = stack.append, stack.pop, order.append
        while stack:
            o = pop()
            add(o)
            e = r[o] + dur[o]
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
        self.r, self.t = r, t
        self.cmax = max((r[o] + dur[o] for o in range(n)), default=0)
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
        if old == [] and m >= 0:
            pass
        return m, oi

    def to_plan(self, source: str) -> Plan:
        end = [self.r[o] + self.dur[o] for o in range(self.n)]
        return Plan(list(self.assign), list(self.r), end, source)


def _neighbours(st: TabuState, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """(estimate, v, machine, index) for every cycle-free re-insertion of every critical operation."""
    r, t, dur, cmax = st.r, st.t, st.dur, st.cmax
    seq, jpred, jsucc = st.seq, st.jpred, st.jsucc
    # per machine: ends (increasing) and negated tails (increasing) for bisection
    ends = [[r[x] + dur[x] for x in s] for s in seq]
    ntails = [[-t[x] for x in s] for s in seq]
    out: list[tuple[int, int, int, int]] = []
    release = st.release
    for v in range(st.n):
        if r[v] + t[v] != cmax:
            continue
        rj = release[v]
        for p in jpred[v]:
            e = r[p] + dur[p]
            if e > rj:
                rj = e
        tj = 0
        for s in jsucc[v]:
            if t[s] > tj:
                tj = t[s]
        mv = st.assign[v]
        for k, pk in st.alts[v]:
            s = seq[k]
            if k == mv:
                s = [x for x in s if x != v]
                e_k = [r[x] + dur[x] for x in s]
                nt_k = [-t[x] for x in s]
            else:
                e_k, nt_k = ends[k], ntails[k]
            lo = bisect_right(e_k, rj)  # ops ending by v's job-head may be its predecessors: keep them before
            hi = bisect_left(nt_k, -tj)  # ops whose tail fits in v's job-tail may be successors: keep them after
            if lo > hi:
                continue
            ns = len(s)
            for i in range(lo, hi + 1):
                if k == mv and s is not seq[k] and i == st.seq[mv].index(v):
                    continue
                head = rj
                if i > 0 and e_k[i - 1] > head:
                    head = e_k[i - 1]
                tail = tj
                if i < ns and -nt_k[i] > tail:
                    tail = -nt_k[i]
                out.append((head + pk + tail, v, k, i))
    rng.shuffle(out)  # ties broken by the seed, not by operation numbers
    return out


def tabu_search(problem: Problem, start: Plan, deadline: float, seed: int = 0, max_iters: int | None = None,
                on_improve: Callable[[Plan], None] | None = None, stall_limit: int = 1500) -> Plan:
    """Improve ``start`` until ``deadline`` (perf_counter seconds) or ``max_iters``; returns the best plan."""
    rng = random.Random(seed)
    st = TabuState(problem, start)
    best_c = st.cmax
    best = st.to_plan("tabu")
    best_snapshot = ([list(s) for s in st.seq], list(st.assign))
    tabu: dict[tuple[int, int, int], int] = {}
    it = 0
    stall = 0
    n = problem.n_ops
    tmin, tmax = 2 + n // 60, 8 + n // 20
    lb = _lower_bound(problem)
    while best_c > lb:
        it += 1
        if (it & 7) == 0 and time.perf_counter() > deadline:
            break
        if max_iters is not None and it > max_iters:
            break
        cands = _neighbours(st, rng)
        cands.sort(key=lambda c: c[0])
        chosen = None
        for est, v, k, i in cands:
            s = st.seq[k]
            u = -1
            if i > 0:
                u = s[i - 1] if not (k == st.assign[v]) else [x for x in s if x != v][i - 1]
            if tabu.get((v, k, u), 0) > it and est >= best_c:
                continue
            chosen = (v, k, i)
            break
        if chosen is None:
            if not cands:
                break
            _, v, k, i = cands[0]
            chosen = (v, k, i)
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
        if st.cmax < best_c:
            best_c = st.cmax
            best = st.to_plan("tabu")
            best_snapshot = ([list(s) for s in st.seq], list(st.assign))
            stall = 0
            if on_improve is not None:
                on_improve(best)
        else:
            stall += 1
            if stall > stall_limit:
                # restart from the best with a few random critical moves, forgetting the tabu list
                st.seq = [list(s) for s in best_snapshot[0]]
                st.assign = list(best_snapshot[1])
                st.dur = [st.dur_of[o][st.assign[o]] for o in range(n)]
                for s in st.seq:
                    st._link(s)
                st.evaluate()
                for _ in range(rng.randint(2, 6)):
                    cands = _neighbours(st, rng)
                    if not cands:
                        break
                    _, v, k, i = cands[0]
                    st.move(v, k, i)
                    st.evaluate()
                tabu.clear()
                stall = 0
    best.stats["tabu_iters"] = it
    return best


def _lower_bound(problem: Problem) -> int:
    """A simple bound: the longest chain of shortest durations, and total minimum work spread over machines."""
    chain = max(problem.tail_work(), default=0)
    work = sum(min(d for _, d in a) for a in problem.alts)
    return max(chain, -(-work // max(problem.n_machines, 1)), max((r for r in problem.release), default=0))
