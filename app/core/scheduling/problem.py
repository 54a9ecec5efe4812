"""The scheduling problem as plain lists, indexed by operation and machine number.

An *operation* is one step of a part on one machine (print, post-process, inspect...). Times are integers in
plan time units (seconds for the shop, abstract units for benchmark files) counted from the plan origin.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from app.core.domain.errors import ValidationError
from app.core.scheduling.forecast import EnergyForecast, FlatForecast, energy_cost

INF = 1 << 60


@dataclass(frozen=True, slots=True)
class MachinePower:
    """What a machine draws while it runs an operation: ``peak_w`` for its first ``peak_s`` seconds (heaters at
    full duty while a printer heats up), then ``steady_w`` (holding temperature and moving; a mill's spindle
    load); ``idle_w`` when it runs nothing. The site's planned power is every machine's idle draw plus, for each
    running operation, its machine's draw above idle."""

    steady_w: float
    peak_w: float = 0.0
    peak_s: int = 0
    idle_w: float = 0.0

    def steps(self, s: int, e: int, steady_w: float | None = None) -> list[tuple[int, int, float]]:
        """[(start, end, watts above idle)] of an operation on this machine over [s, e); ``steady_w`` replaces the
        profile's steady draw (a learned one)."""
        out = []
        steady = self.steady_w if steady_w is None else steady_w
        split = min(s + max(self.peak_s, 0), e)
        if split > s:
            out.append((s, split, max(self.peak_w, self.steady_w) - self.idle_w))
        if e > split:
            out.append((split, e, steady - self.idle_w))
        return out


@dataclass(slots=True)
class Objective:
    """Weights of the plan's cost. Makespan alone by default (what the benchmarks measure)."""

    makespan: float = 1.0
    tardiness: float = 0.0  # per time unit late, times the job's priority weight
    energy: float = 0.0  # per currency unit of energy cost
    setups: float = 0.0  # per time unit spent changing material
    balance: float = 0.0  # per time unit of (busiest machine load - mean load)

    @property
    def pure_makespan(self) -> bool:
        return self.tardiness == 0 and self.energy == 0 and self.setups == 0 and self.balance == 0


@dataclass(slots=True)
class Problem:
    n_machines: int
    op_job: list[int]
    alts: list[list[tuple[int, int]]]  # per op: (machine, duration) it may run on
    preds: list[list[int]]  # precedence DAG: ops that must end before this one starts
    machine_names: list[str] = field(default_factory=list)
    op_names: list[str] = field(default_factory=list)
    job_names: list[str] = field(default_factory=list)
    job_weight: list[float] = field(default_factory=list)  # priority 1..10
    job_due: list[int] = field(default_factory=list)  # INF when none
    release: list[int] = field(default_factory=list)  # per op, earliest start
    family: list[int] = field(default_factory=list)  # per op material family, -1 none
    setup_time: list[list[int]] = field(default_factory=list)  # [from family][to family]
    machine_family: list[int] = field(default_factory=list)  # family loaded at the origin, -1 none
    unavailable: list[list[tuple[int, int]]] = field(default_factory=list)  # per machine [start, end) closed
    power_w: list[float] = field(default_factory=list)  # per op draw while running, on a machine with no profile
    machine_power: list[MachinePower | None] = field(default_factory=list)  # per machine, None: use power_w
    # (op, machine) -> that machine's steady draw above idle while it runs that op, learned from the site's history
    # (issue 15): it replaces the profile's steady part (the heat-up peak and idle stay); absent: the profile.
    learned_w: dict[tuple[int, int], float] = field(default_factory=dict)
    power_cap_w: float | None = None
    forecast: EnergyForecast = field(default_factory=FlatForecast)
    objective: Objective = field(default_factory=Objective)
    flex_shift: int = 24 * 3600  # how far energy shifting may delay an operation
    fixed: dict[int, tuple[int, int]] = field(default_factory=dict)  # op -> (machine, start): started work
    # staffed hours: sorted disjoint [a, b] when someone is on the floor (the last open-ended); None: always
    staffed: list[tuple[int, int]] | None = None
    attend: list[int] = field(default_factory=list)  # per op: needs a person at start (1), end (2), both (3)
    succs: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.op_job)
        if len(self.alts) != n or len(self.preds) != n:
            raise ValidationError("every operation needs its eligible machines and its predecessors")
        n_jobs = (max(self.op_job) + 1) if n else 0
        self.machine_names = self.machine_names or [f"M{m + 1}" for m in range(self.n_machines)]
        self.op_names = self.op_names or [f"op{o}" for o in range(n)]
        self.job_names = self.job_names or [f"job{j}" for j in range(n_jobs)]
        self.job_weight = self.job_weight or [1.0] * n_jobs
        self.job_due = self.job_due or [INF] * n_jobs
        self.release = self.release or [0] * n
        self.family = self.family or [-1] * n
        self.machine_family = self.machine_family or [-1] * self.n_machines
        self.unavailable = self.unavailable or [[] for _ in range(self.n_machines)]
        self.power_w = self.power_w or [0.0] * n
        self.attend = self.attend or [0] * n
        self.machine_power = self.machine_power or [None] * self.n_machines
        self.succs = [[] for _ in range(n)]
        for o, ps in enumerate(self.preds):
            for p in ps:
                self.succs[p].append(o)
        self._check()

    def _check(self) -> None:
        for o, alts in enumerate(self.alts):
            if not alts:
                raise ValidationError(f"operation {self.op_names[o]} has no machine that can run it", "alts")
            for m, d in alts:
                if not 0 <= m < self.n_machines or d < 0:
                    raise ValidationError(f"operation {self.op_names[o]}: bad machine {m} or duration {d}", "alts")
        if len(self.topo_order()) != self.n_ops:
            raise ValidationError("the precedence graph has a cycle", "preds")
        if self.power_cap_w is not None:
            room = self.power_cap_w - self.base_w
            for o, alts in enumerate(self.alts):
                if all(self.peak_above_idle(o, m) > room + 1e-6 for m, _ in alts):
                    raise ValidationError(f"operation {self.op_names[o]} draws more than the site cap of "
                                          f"{self.power_cap_w:.0f} W on every machine that can run it", "power")

    def evolve(self, **changes: object) -> Problem:
        """A copy with some fields changed, without re-checking the whole shop (replanning stays fast on big
        fleets); the successor lists are rebuilt when the precedences change. Callers keep it consistent."""
        new = copy.copy(self)
        for k, v in changes.items():
            setattr(new, k, v)
        if "preds" in changes:
            new.succs = [[] for _ in range(new.n_ops)]
            for o, ps in enumerate(new.preds):
                for p in ps:
                    new.succs[p].append(o)
        return new

    @property
    def n_ops(self) -> int:
        return len(self.op_job)

    @property
    def n_jobs(self) -> int:
        return len(self.job_names)

    @property
    def has_setups(self) -> bool:
        return bool(self.setup_time) and any(f >= 0 for f in self.family)

    @property
    def plain(self) -> bool:
        """A classic flexible job shop: only makespan, no setups, windows, power cap, releases or fixed work."""
        return (
            self.objective.pure_makespan
            and not self.has_setups
            and not any(self.unavailable)
            and self.power_cap_w is None
            and not any(self.release)
            and not self.fixed
            and not self.has_staffing
        )

    @property
    def has_staffing(self) -> bool:
        """Some operation needs a person at its start or end and the floor is not always staffed."""
        return self.staffed is not None and any(self.attend)

    @property
    def base_w(self) -> float:
        """The fleet's idle draw: what the site draws with nothing running."""
        return sum(mp.idle_w for mp in self.machine_power if mp is not None)

    @property
    def has_power(self) -> bool:
        return any(self.power_w) or any(mp is not None and mp.steady_w > 0 for mp in self.machine_power)

    def power_steps(self, op: int, m: int, s: int, e: int) -> list[tuple[int, int, float]]:
        """[(start, end, watts above the machine's idle draw)] of ``op`` run on machine ``m`` over [s, e)."""
        mp = self.machine_power[m] if 0 <= m < len(self.machine_power) else None
        learned = self.learned_w.get((op, m)) if self.learned_w else None
        if learned is not None:
            if mp is None:
                return [(s, e, learned)] if learned > 0 and e > s else []
            return mp.steps(s, e, learned + mp.idle_w)
        if mp is not None:
            return mp.steps(s, e)
        w = self.power_w[op]
        return [(s, e, w)] if w > 0 and e > s else []

    def peak_above_idle(self, op: int, m: int) -> float:
        return max((w for _, _, w in self.power_steps(op, m, 0, 1 << 40)), default=0.0)

    def op_energy(self, op: int, m: int, s: int, e: int) -> tuple[float, float]:
        """Cost and grams of CO2 of ``op`` on ``m`` over [s, e): the machine's whole draw while it runs it."""
        mp = self.machine_power[m] if 0 <= m < len(self.machine_power) else None
        idle = mp.idle_w if mp is not None else 0.0
        cost = co2 = 0.0
        for a, b, w in self.power_steps(op, m, s, e):
            c, g = energy_cost(self.forecast, a, b, w + idle)
            cost += c
            co2 += g
        return cost, co2

    def planned_w(self, op: int, m: int) -> tuple[float, int, float]:
        """(peak W, peak s, steady W) that ``op`` draws on ``m``, idle included: what an operator reads."""
        mp = self.machine_power[m] if 0 <= m < len(self.machine_power) else None
        learned = self.learned_w.get((op, m)) if self.learned_w else None
        if mp is not None:
            steady = mp.steady_w if learned is None else learned + mp.idle_w
            return max(mp.peak_w, mp.steady_w, steady), mp.peak_s, steady
        w = self.power_w[op] if learned is None else learned
        return w, 0, w

    def duration(self, op: int, machine: int) -> int | None:
        for m, d in self.alts[op]:
            if m == machine:
                return d
        return None

    def setup(self, f_from: int, f_to: int) -> int:
        if f_from < 0 or f_to < 0 or f_from == f_to or not self.setup_time:
            return 0
        return self.setup_time[f_from][f_to]

    def topo_order(self) -> list[int]:
        indeg = [len(p) for p in self.preds]
        stack = [o for o in range(self.n_ops - 1, -1, -1) if indeg[o] == 0]
        out: list[int] = []
        while stack:
            o = stack.pop()
            out.append(o)
            for s in self.succs[o]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    stack.append(s)
        return out

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eligibility as arrays (pointer, machine, duration) for vectorised consumers."""
        ptr = np.zeros(self.n_ops + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(a) for a in self.alts])
        mach = np.fromiter((m for a in self.alts for m, _ in a), dtype=np.int32, count=int(ptr[-1]))
        dur = np.fromiter((d for a in self.alts for _, d in a), dtype=np.int64, count=int(ptr[-1]))
        return ptr, mach, dur

    def tail_work(self) -> list[int]:
        """Per op, the longest chain of minimum durations from its start to the end of the DAG."""
        tail = [0] * self.n_ops
        for o in reversed(self.topo_order()):
            best = max((tail[s] for s in self.succs[o]), default=0)
            tail[o] = best + min(d for _, d in self.alts[o])
        return tail
