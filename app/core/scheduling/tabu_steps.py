"""The tabu search's steps, in blocks: choose a move, apply it, re-time the graph, update the tabu list.

Two steppers with the same contract take the same moves (``tests/test_scheduling_tabu_steps.py``):
``PyStepper`` in plain Python on a ``TabuState``, and ``CStepper`` on flat int arrays through the compiled
``_tabu_step`` module (``_tabu_step.c``, 25-33 x the steps per CPU second). ``tabu.py`` drives either one: it
keeps the deadline, the exchange inbox, ``on_improve``, stop events and the elite pool, and decides restarts.

A block (``run(n)``) takes up to n steps and stops early with ``IMPROVED`` (a new best makespan), ``STALLED``
(more than ``stall_limit`` steps without one), ``NOMOVE`` or ``CYCLE`` (cannot happen by construction). The
step's randomness (the tie-break salt and the tabu tenure) is a hash of the search's key and the step number, so
it is the same in both steppers whatever the block boundaries.

The compiled stepper is used when the extension is built and ``IMEWE_SCHED_PURE`` is not ``1`` (``PURE``).
"""

from __future__ import annotations

import logging
import os
import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from app.core.scheduling.disjunctive import TabuState
from app.core.scheduling.plan import Plan

log = logging.getLogger(__name__)

try:
    from app.core.scheduling import _tabu_step
except ImportError:  # not built (no compiler at install time): the Python steps run, slower
    _tabu_step = None
    log.debug("the compiled tabu step (_tabu_step) is not built: the search runs its steps in Python")

PURE = os.environ.get("IMEWE_SCHED_PURE", "") == "1"  # force the Python steps (tests set it to compare both)

DONE, IMPROVED, STALLED, NOMOVE, CYCLE = range(5)
TENURE_KEY = 0x5BD1E995
ALIGN = 32  # blocks end before every 32nd step: the inbox is read there, the stop event at every block


def compiled() -> bool:
    """True when the tabu steps run compiled."""
    return _tabu_step is not None and not PURE


def mix(key: int, it: int) -> int:
    """32-bit hash of (key, step): the step's tie-break salt (low 16 bits; high 16 for the retry) and tenure."""
    x = (key ^ (it * 0x9E3779B1)) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def candidates(st: TabuState, salt: int, slack: int = 0, bound: list[int] | None = None
               ) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(estimate, tie, v, machine, index, new machine predecessor) for every cycle-free re-insertion of every
    critical operation, in operation, machine, position order. ``tie`` is a cheap seed-dependent hash so equal
    estimates are not taken in index order. A caller that only wants the best ones passes ``bound`` (a one-item
    list it lowers as it goes): a machine whose least possible estimate is above it is skipped."""
    r, t, dur, cmax = st.r, st.t, st.dur, st.cmax
    seq, jpred, jsucc, release, assign = st.seq, st.jpred, st.jsucc, st.release, st.assign
    # per machine: ends (increasing) and negated tails (increasing) for bisection
    ends = [[r[x] + dur[x] for x in q] for q in seq]
    ntails = [[-t[x] for x in q] for q in seq]
    limit = cmax + slack
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
            if least > limit or (bound is not None and least > bound[0]):
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
                yield head + pk + tail, (base + i * 31337) & 0xFFFF, v, k, i, u


def choose(st: TabuState, salt: int, tabu: dict[tuple[int, int, int], int], it: int, best_c: int,
           slack: int = 0) -> tuple[int, int, int] | None:
    """The move the tabu step takes: the first of ``candidates`` sorted by (estimate, tie, v, machine, index)
    that is not tabu (a tabu move is allowed when its estimate beats the best makespan), else the first one;
    without sorting, and reading the tabu list only for a candidate that would win."""
    bound = [1 << 62]  # the best allowed estimate so far: it can only be beaten below it
    b_key, b_move = None, None  # best allowed move
    f_key, f_move = None, None  # best move of all (when every move is tabu); its estimate is <= bound
    tget = tabu.get
    for est, tie, v, k, i, u in candidates(st, salt, slack, bound):
        if est > bound[0]:
            continue
        key = (est, tie, v, k, i)
        if f_key is None or key < f_key:
            f_key, f_move = key, (v, k, i)
        if (b_key is None or key < b_key) and not (tget((v, k, u), 0) > it and est >= best_c):
            b_key, b_move = key, (v, k, i)
            bound[0] = est
    return b_move if b_move is not None else f_move


def neighbours(st: TabuState, salt: int, slack: int = 0) -> list[tuple[int, int, int, int, int, int]]:
    """Every candidate move (``candidates``) as a list: the restart's random moves pick from it."""
    return list(candidates(st, salt, slack))


class PyStepper:
    """The steps in plain Python on ``st`` (a ``TabuState``), the tabu list a dict
    (operation, machine, machine predecessor) -> step until which putting it back there is tabu.

    ``it``, ``best_c``, ``run_c`` (this run's best makespan) and ``stall`` are the driver's to read and set;
    ``run_plan`` is this run's best plan (None until the run improves, when ``elite``)."""

    def __init__(self, st: TabuState, key: int, tmin: int, tmax: int, stall_limit: int, elite: bool) -> None:
        self.key, self.tmin, self.span = key, tmin, tmax - tmin + 1
        self.stall_limit, self.elite = stall_limit, elite
        self.tabu: dict[tuple[int, int, int], int] = {}
        self.it = self.stall = 0
        self.best_c = self.run_c = st.cmax
        self.run_plan: Plan | None = None
        self.load(st)

    def load(self, st: TabuState) -> None:
        """Continue from ``st`` (the driver changed or replaced it)."""
        self.st = st

    def sync(self, st: TabuState) -> None:
        """Bring ``st`` up to date with the steps taken (here it is the state the steps work on)."""
        assert st is self.st

    @property
    def cmax(self) -> int:
        return self.st.cmax

    def clear_tabu(self) -> None:
        self.tabu.clear()

    def plan(self, source: str) -> Plan:
        return self.st.to_plan(source)

    def snapshot(self) -> tuple[list[list[int]], list[int]]:
        return self.st.snapshot()

    def restore(self, snapshot: tuple[list[list[int]], list[int]]) -> None:
        self.st.restore(snapshot)

    def restart(self, snapshot: tuple[list[list[int]], list[int]], rng: random.Random,
                moves: tuple[int, int] = (2, 6)) -> None:
        """Back to ``snapshot``, then a random number (in ``moves``) of random moves among the critical ones."""
        st = self.st
        st.restore(snapshot)
        for _ in range(rng.randint(*moves)):
            cands = neighbours(st, rng.getrandbits(16))
            if not cands:
                break
            _, _, v, k, i, _ = cands[rng.randrange(len(cands))]
            st.move(v, k, i)
            if not st.evaluate():  # cannot happen by construction
                st.restore(snapshot)
                break

    def run(self, n: int) -> int:
        st, tabu, key = self.st, self.tabu, self.key
        for _ in range(n):
            self.it += 1
            it = self.it
            x = mix(key, it)
            chosen = choose(st, x & 0xFFFF, tabu, it, self.best_c)
            if chosen is None:  # every machine looked hopeless: look at them all
                chosen = choose(st, x >> 16, tabu, it, self.best_c, slack=1 << 40)
                if chosen is None:
                    return NOMOVE
            v, k, i = chosen
            m_old = st.assign[v]
            prev_old = st.mprev[v]
            st.move(v, k, i)
            if not st.evaluate():
                return CYCLE
            tabu[(v, m_old, prev_old)] = it + self.tmin + mix(key ^ TENURE_KEY, it) % self.span
            if self.elite and st.cmax < self.run_c:
                self.run_c, self.run_plan = st.cmax, st.to_plan("tabu")
            if st.cmax < self.best_c:
                self.best_c = st.cmax
                self.stall = 0
                return IMPROVED
            self.stall += 1
            if self.stall > self.stall_limit:
                return STALLED
        return DONE


class CStepper:
    """The same steps compiled (``_tabu_step.run``) on flat int arrays; ``st`` is brought up to date only when
    the driver asks (``sync``), ``run_plan`` is built from the run's best arrays only when read."""

    def __init__(self, st: TabuState, key: int, tmin: int, tmax: int, stall_limit: int, elite: bool) -> None:
        p = st.p
        n, m = st.n, p.n_machines
        if max(st.release, default=0) + sum(max((d for _, d in a), default=0) for a in st.alts) >= 1 << 31:
            raise OverflowError("the plan's times may not fit 32-bit ints")
        self.n, self.m = n, m
        self.key, self.tmin, self.tmax = key, tmin, tmax
        self.stall_limit, self.elite = stall_limit, elite
        alt_start, alt_mach, alt_dur = _csr([[k for k, _ in a] for a in st.alts], [[d for _, d in a] for a in st.alts])
        pred_start, pred = _csr(st.jpred)
        succ_start, succ = _csr(st.jsucc)
        cap = 64
        while cap < 4 * (tmax + 2):
            cap *= 2
        self.tabu_key = array("q", [-1]) * cap
        self.tabu_exp = array("q", [0]) * cap
        self.tabu_used = array("q", [0])
        zeros = array("i", [0]) * n
        self.assign, self.dur, self.pos = array("i", zeros), array("i", zeros), array("i", zeros)
        self.seq, self.mlen = array("i", [0]) * (n * m), array("i", [0]) * m
        self.mprev, self.mnext, self.r, self.t = array("i", zeros), array("i", zeros), array("i", zeros), array("i", zeros)
        self.run_assign, self.run_start, self.run_end = array("i", zeros), array("i", zeros), array("i", zeros)
        self.arrays = (alt_start, alt_mach, alt_dur, pred_start, pred, succ_start, succ, array("i", st.release),
                       self.assign, self.dur, self.pos, self.seq, self.mlen, self.mprev, self.mnext, self.r, self.t,
                       array("i", [0]) * (2 * n * (m + 1)), self.run_assign, self.run_start, self.run_end,
                       self.tabu_key, self.tabu_exp, self.tabu_used)
        self.it = self.stall = 0
        self.best_c = self.run_c = st.cmax
        self._run_plan: Plan | None = None
        self._run_fresh = False  # the run's best is in run_assign/run_start/run_end, not yet a Plan
        self.load(st)

    def load(self, st: TabuState) -> None:
        n = self.n
        self.st = st
        self.assign[:] = array("i", st.assign)
        self.dur[:] = array("i", st.dur)
        self.mprev[:] = array("i", st.mprev)
        self.mnext[:] = array("i", st.mnext)
        self.r[:] = array("i", st.r)
        self.t[:] = array("i", st.t)
        for k, q in enumerate(st.seq):
            self.seq[k * n:k * n + len(q)] = array("i", q)
            self.mlen[k] = len(q)
            for j, o in enumerate(q):
                self.pos[o] = j
        self.cmax = st.cmax

    def sync(self, st: TabuState) -> None:
        n = self.n
        st.assign = self.assign.tolist()
        st.dur = self.dur.tolist()
        st.mprev = self.mprev.tolist()
        st.mnext = self.mnext.tolist()
        st.r = self.r.tolist()
        st.t = self.t.tolist()
        st.seq = [self.seq[k * n:k * n + self.mlen[k]].tolist() for k in range(self.m)]
        st.cmax = self.cmax

    def clear_tabu(self) -> None:
        self.tabu_key[:] = array("q", [-1]) * len(self.tabu_key)
        self.tabu_used[0] = 0

    def plan(self, source: str) -> Plan:
        r, dur = self.r.tolist(), self.dur.tolist()
        return Plan(self.assign.tolist(), r, [a + b for a, b in zip(r, dur, strict=True)], source)

    def snapshot(self) -> tuple[array, array, array]:
        return array("i", self.seq), array("i", self.mlen), array("i", self.assign)

    def restore(self, snapshot: tuple[array, array, array]) -> None:
        self.seq[:], self.mlen[:], self.assign[:] = snapshot
        self.cmax = _tabu_step.reset(self.arrays, self.n, self.m)

    def restart(self, snapshot: tuple[array, array, array], rng: random.Random,
                moves: tuple[int, int] = (2, 6)) -> None:
        """``PyStepper.restart`` on the arrays: the same random draws, the same moves."""
        self.restore(snapshot)
        for _ in range(rng.randint(*moves)):
            rng.getrandbits(16)  # the Python restart's tie salt: drawn to keep the same random sequence
            count = _tabu_step.neighbours(self.arrays, self.n, self.m, self.cmax, -1)
            if not count:
                break
            cmax = _tabu_step.neighbours(self.arrays, self.n, self.m, self.cmax, rng.randrange(count))
            if cmax < 0:  # cannot happen by construction
                self.restore(snapshot)
                break
            self.cmax = cmax

    @property
    def run_plan(self) -> Plan | None:
        if self._run_fresh:
            self._run_plan = Plan(self.run_assign.tolist(), self.run_start.tolist(), self.run_end.tolist(), "tabu")
            self._run_fresh = False
        return self._run_plan

    @run_plan.setter
    def run_plan(self, plan: Plan | None) -> None:
        self._run_plan, self._run_fresh = plan, False

    def run(self, n: int) -> int:
        status, self.it, self.best_c, self.run_c, self.stall, self.cmax, fresh = _tabu_step.run(
            self.arrays, self.n, self.m, self.it, n, self.key, self.tmin, self.tmax, self.best_c, self.run_c,
            self.stall, self.stall_limit, int(self.elite), self.cmax)
        if fresh:
            self._run_fresh = True
        return status


def stepper(st: TabuState, key: int, tmin: int, tmax: int, stall_limit: int, elite: bool,
            pure: bool | None = None) -> PyStepper | CStepper:
    """The compiled stepper when it is built (and neither ``pure`` nor ``PURE`` asks for Python)."""
    use_c = compiled() if pure is None else (not pure and _tabu_step is not None)
    if use_c and st.n > 0:
        try:
            return CStepper(st, key, tmin, tmax, stall_limit, elite)
        except OverflowError:  # times beyond 32-bit ints (a plan decades long): Python ints have no limit
            log.debug("times too large for the compiled tabu step: the search runs its steps in Python")
    return PyStepper(st, key, tmin, tmax, stall_limit, elite)


def _csr(rows: list[list[int]], values: list[list[int]] | None = None) -> tuple[array, ...]:
    """Rows of ints as (start offsets, flat items[, flat values])."""
    start = array("i", [0])
    for row in rows:
        start.append(start[-1] + len(row))
    flat = array("i", [x for row in rows for x in row] or [0])
    if values is None:
        return start, flat
    return start, flat, array("i", [x for row in values for x in row] or [0])
