"""Machine timelines and the site power profile: where can an operation still go?"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from app.core.scheduling.problem import Problem
from app.core.scheduling.staffing import staffed_start

BLOCK = -1  # a machine's closed window (maintenance, off hours) in a timeline


class Timelines:
    """Busy intervals per machine (sorted), last material family per machine, and the power profile.

    With material setups the planner only appends to a machine (never slots work between two jobs) so that a
    setup is always counted against the operation that really precedes it.
    """

    __slots__ = ("p", "starts", "ends", "owner", "last_end", "last_fam", "append_only", "pt", "pl", "cap")

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        m = problem.n_machines
        self.starts: list[list[int]] = [[] for _ in range(m)]
        self.ends: list[list[int]] = [[] for _ in range(m)]
        self.owner: list[list[int]] = [[] for _ in range(m)]
        self.last_end = [0] * m
        self.last_fam = list(problem.machine_family)
        self.append_only = problem.has_setups
        self.cap = problem.power_cap_w
        self.pt: list[int] = [0]  # power profile breakpoints
        self.pl: list[float] = [problem.base_w]  # level on [pt[i], pt[i+1]): idle fleet plus running work
        for mm, wins in enumerate(problem.unavailable):
            for a, b in sorted(wins):
                self._insert(mm, a, b, BLOCK)

    def _insert(self, m: int, s: int, e: int, owner: int) -> None:
        i = bisect_right(self.starts[m], s)
        # keep zero-length items after equal starts so the order of equal instants is stable
        self.starts[m].insert(i, s)
        self.ends[m].insert(i, e)
        self.owner[m].insert(i, owner)

    def machine_earliest(self, m: int, t: int, d: int, fam: int) -> int:
        """Earliest start >= t where [s, s+d) is free on m (and its setup fits, when setups apply)."""
        starts, ends = self.starts[m], self.ends[m]
        if self.append_only:
            # only closed windows lie beyond the last operation; the loop below hops over them
            t = max(t, self.last_end[m] + self.p.setup(self.last_fam[m], fam))
        s = t
        # intervals never overlap, so their ends are sorted like their starts
        for k in range(bisect_right(ends, t), len(starts)):
            if s + d <= starts[k]:
                return s
            if ends[k] > s:
                s = ends[k]
        return s

    def power_fits(self, s: int, e: int, w: float) -> tuple[bool, int]:
        """Whether adding w watts over [s, e) stays under the cap; if not, the next instant worth trying."""
        if self.cap is None or w <= 0 or e <= s:
            return True, s
        pt, pl = self.pt, self.pl
        i = bisect_right(pt, s) - 1
        cap = self.cap + 1e-6
        while i < len(pt) and pt[i] < e:
            if pl[i] + w > cap:
                nxt = pt[i + 1] if i + 1 < len(pt) else e
                # skip the whole overloaded stretch
                j = i + 1
                while j < len(pt) and pl[j] + w > cap:
                    j += 1
                nxt = pt[j] if j < len(pt) else nxt
                return False, nxt
            i += 1
        return True, s

    def _add_power(self, s: int, e: int, w: float) -> None:
        pt, pl = self.pt, self.pl
        for x in (s, e):
            i = bisect_right(pt, x) - 1
            if pt[i] != x:
                pt.insert(i + 1, x)
                pl.insert(i + 1, pl[i])
        i = bisect_left(pt, s)
        while i < len(pt) and pt[i] < e:
            pl[i] += w
            i += 1

    def _power_retry(self, op: int, m: int, s: int, d: int) -> int | None:
        """None when ``op`` on ``m`` from ``s`` keeps the site under the cap at every instant, else the next
        start worth trying (each step of its profile is checked where it falls)."""
        if self.cap is None:
            return None
        for a, b, w in self.p.power_steps(op, m, s, s + d):
            ok, nxt = self.power_fits(a, b, w)
            if not ok:
                return nxt - (a - s)
        return None

    def earliest(self, op: int, m: int, t: int, d: int) -> int:
        fam = self.p.family[op]
        staffed = self.p.staffed
        need = self.p.attend[op] if staffed is not None else 0
        for _ in range(100000):
            s = self.machine_earliest(m, t, d, fam)
            if need:  # a person must be there at its start (and its setup's) and/or its end: the next instant
                lead = self.p.setup(self.last_fam[m], fam) if self.append_only else 0
                s2 = staffed_start(staffed, s, d, need, lead)  # type: ignore[arg-type]
                if s2 != s:
                    t = s2
                    continue
            nxt = self._power_retry(op, m, s, d)
            if nxt is None:
                return s
            t = max(nxt, s + 1)
        raise RuntimeError("power cap leaves no room for an operation")  # an op above the cap: Problem refuses it

    def place(self, op: int, m: int, s: int, d: int) -> None:
        self._insert(m, s, s + d, op)
        if s + d >= self.last_end[m]:
            self.last_end[m] = s + d
            if self.p.family[op] >= 0:
                self.last_fam[m] = self.p.family[op]
        if self.cap is not None:
            for a, b, w in self.p.power_steps(op, m, s, s + d):
                self._add_power(a, b, w)

    def load(self, items: list[tuple[int, int, int, int]]) -> None:
        """Place many (op, machine, start, duration) at once (replanning keeps most of a big plan as it is)."""
        per: dict[int, list[tuple[int, int, int]]] = {}
        for op, m, st, d in items:
            per.setdefault(m, []).append((st, st + d, op))
        fam = self.p.family
        for m, ivs in per.items():
            ivs.extend(zip(self.starts[m], self.ends[m], self.owner[m], strict=True))
            ivs.sort(key=lambda x: (x[0], x[1]))
            self.starts[m] = [a for a, _, _ in ivs]
            self.ends[m] = [b for _, b, _ in ivs]
            self.owner[m] = [o for _, _, o in ivs]
            for _a, b, o in ivs:
                if o != BLOCK and b >= self.last_end[m]:
                    self.last_end[m] = b
                    if fam[o] >= 0:
                        self.last_fam[m] = fam[o]
        if self.cap is not None:
            events: dict[int, float] = {}
            for op, m, st, d in items:
                for a, b, w in self.p.power_steps(op, m, st, st + d):
                    events[a] = events.get(a, 0.0) + w
                    events[b] = events.get(b, 0.0) - w
            level = self.p.base_w
            pt, pl = [0], [level]
            for t in sorted(events):
                level += events[t]
                if t == pt[-1]:
                    pl[-1] = level
                else:
                    pt.append(t)
                    pl.append(level)
            self.pt, self.pl = pt, pl

    def occupied(self, m: int) -> list[int]:
        return [o for o in self.owner[m] if o != BLOCK]


