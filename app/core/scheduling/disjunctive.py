"""The disjunctive graph of a flexible job shop as the tabu search and path relinking walk it: each operation's
machine, each machine's order, and every operation's head (earliest start) and tail (longest path to the end,
its own duration included). Plain lists: it is the hot loop.
"""

from __future__ import annotations

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

    def snapshot(self) -> tuple[list[list[int]], list[int]]:
        """The machine orders and assignment, to come back to (``restore``)."""
        return [list(s) for s in self.seq], list(self.assign)

    def restore(self, snapshot: tuple[list[list[int]], list[int]]) -> None:
        """Back to a snapshot's machine orders and assignment, re-timed."""
        self.seq = [list(s) for s in snapshot[0]]
        self.assign = list(snapshot[1])
        self.dur = [self.dur_of[o][self.assign[o]] for o in range(self.n)]
        for s in self.seq:
            self._link(s)
        self.evaluate()

    def to_plan(self, source: str) -> Plan:
        end = [self.r[o] + self.dur[o] for o in range(self.n)]
        return Plan(list(self.assign), list(self.r), end, source)
