"""Path relinking between two elite plans of the tabu search (after Peng, Lü and Cheng 2015 for the job shop and
González, Vela and Varela for the flexible one).

The walk starts at the initiating plan and, one operation at a time, moves an operation to the machine and the
place the guiding plan gives it, so the distance to the guide shrinks at every step. Distance = operations on
another machine than in the guide + pairs of operations that share a machine in both plans but in the opposite
order. Each step tries a few such moves (a move that would close a cycle in the graph is undone) and keeps the one
with the shortest makespan. The best plan met in the middle of the path (far enough from both ends to be new) is
where the tabu search restarts: it mixes the two parents' structure while staying in good regions.
"""

from __future__ import annotations

import random

from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

TRIES = 3  # moves tried per step in the middle part of the path (one elsewhere: only to keep walking)
MIDDLE = (0.25, 0.75)  # the part of the path (share of the first distance covered) the restart plan comes from


class Guide:
    """The guiding plan's machine and place on it for every operation, and the distance of a state to it."""

    def __init__(self, problem: Problem, plan: Plan) -> None:
        self.assign = list(plan.machine)
        self.pos = [0] * problem.n_ops
        for q in plan.sequences(problem.n_machines):
            for i, o in enumerate(q):
                self.pos[o] = i

    def distance(self, st: TabuState) -> int:
        d = sum(1 for o in range(st.n) if st.assign[o] != self.assign[o])
        for q in st.seq:
            common = [self.pos[o] for o in q if self.assign[o] == st.assign[o]]
            d += _inversions(common)
        return d

    def _v_inversions(self, q: list[int], v: int, k: int) -> int:
        """Pairs (v, x) on machine order ``q`` (v in it) in the opposite order to the guide's."""
        pv, ga = self.pos[v], self.assign
        n, before = 0, True
        for x in q:
            if x == v:
                before = False
            elif ga[x] == k:
                n += (self.pos[x] > pv) if before else (self.pos[x] < pv)
        return n

    def target(self, st: TabuState, v: int) -> tuple[int, int, int] | None:
        """(machine, index without v, distance change) of the move that puts v where the guide has it, or None
        when that would not bring the state closer."""
        k, pv, ga, pos = self.assign[v], self.pos[v], self.assign, self.pos
        q = [x for x in st.seq[k] if x != v]
        # inversions of v at each index: common ops after it with a smaller guide place, before it with a larger
        after_smaller = sum(1 for x in q if ga[x] == k and pos[x] < pv)
        best_i, best_n, cur = 0, after_smaller, after_smaller
        for i, x in enumerate(q):
            if ga[x] == k:
                cur += -1 if pos[x] < pv else 1
            if cur < best_n:
                best_i, best_n = i + 1, cur
        if st.assign[v] == k:
            change = best_n - self._v_inversions(st.seq[k], v, k)
        else:  # v moves onto its guide machine: one machine difference less, its pairs there counted now
            change = best_n - 1
        return (k, best_i, change) if change < 0 else None


def _inversions(xs: list[int]) -> int:
    n = 0
    for i in range(len(xs)):
        xi = xs[i]
        for j in range(i + 1, len(xs)):
            n += xs[j] < xi
    return n


def path_relink(problem: Problem, start: Plan, guide: Plan, rng: random.Random) -> Plan | None:
    """The best plan on the path from ``start`` towards ``guide`` in its middle part, or None when the two are
    too close for a path to have a middle. ``stats``: ``relink_distance`` (start to guide) and
    ``relink_left`` (the returned plan to the guide), ``relink_evals`` (graph evaluations the walk made: the
    tabu search counts them as steps, so a fixed step budget compares fairly)."""
    g = Guide(problem, guide)
    st = TabuState(problem, start)
    d0 = g.distance(st)
    if d0 < 4:
        return None
    lo, hi = d0 * MIDDLE[0], d0 * MIDDLE[1]
    d = d0
    evals = 0
    best_c, best = None, None
    while d > 0:
        walked = d0 - d
        tries = TRIES if lo <= walked + 1 and walked < hi else 1
        cands = list(range(st.n))  # the ones not yet where the guide has them say so in target()
        rng.shuffle(cands)
        chosen: tuple[int, int, int, int] | None = None  # (makespan, v, k, index)
        done_d = 0
        for v in cands:
            tgt = g.target(st, v)
            if tgt is None:
                continue
            k, i, change = tgt
            m, oi = st.move(v, k, i)
            ok = st.evaluate()
            evals += 1
            if ok and (chosen is None or st.cmax < chosen[0]):
                chosen, done_d = (st.cmax, v, k, i), change
            st.move(v, m, oi)
            tries -= ok
            if tries <= 0:
                break
        if chosen is None:
            st.evaluate()
            break  # every move towards the guide closes a cycle here: the path ends
        _, v, k, i = chosen
        st.move(v, k, i)
        st.evaluate()
        d += done_d
        if lo <= d0 - d <= hi and (best_c is None or st.cmax < best_c):
            best_c, best = st.cmax, st.to_plan("relink")
            best.stats["relink_left"] = d
    if best is not None:
        best.stats["relink_distance"] = d0
        best.stats["relink_evals"] = evals
    return best
