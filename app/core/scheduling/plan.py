"""A plan: for every operation its machine, start and end; plus the metrics operators read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.scheduling.problem import INF, Problem


@dataclass(slots=True)
class Plan:
    machine: list[int]
    start: list[int]
    end: list[int]
    source: str = ""  # which method produced it (rule name, "tabu", "cp-sat"...)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def makespan(self) -> int:
        return max(self.end, default=0)

    def sequences(self, n_machines: int) -> list[list[int]]:
        """Per machine, its operations in start order."""
        seqs: list[list[int]] = [[] for _ in range(n_machines)]
        for o in sorted(range(len(self.machine)), key=lambda o: (self.start[o], self.end[o])):
            if self.machine[o] >= 0:
                seqs[self.machine[o]].append(o)
        return seqs

    def copy(self) -> Plan:
        return Plan(list(self.machine), list(self.start), list(self.end), self.source, dict(self.stats))


@dataclass(slots=True)
class Metrics:
    makespan: int
    weighted_tardiness: float
    late_jobs: int
    energy_cost: float
    energy_co2_g: float
    setup_time: int
    utilisation: list[float]  # per machine busy share of the makespan
    load_imbalance: int  # busiest machine's load minus the mean

    def to_dict(self) -> dict[str, Any]:
        return {
            "makespan": self.makespan,
            "weighted_tardiness": self.weighted_tardiness,
            "late_jobs": self.late_jobs,
            "energy_cost": round(self.energy_cost, 6),
            "energy_co2_g": round(self.energy_co2_g, 3),
            "setup_time": self.setup_time,
            "mean_utilisation": round(sum(self.utilisation) / max(len(self.utilisation), 1), 4),
            "load_imbalance": self.load_imbalance,
        }


def metrics(problem: Problem, plan: Plan) -> Metrics:
    ms = plan.makespan
    job_end = [0] * problem.n_jobs
    for o, j in enumerate(problem.op_job):
        job_end[j] = max(job_end[j], plan.end[o])
    tard = 0.0
    late = 0
    for j, e in enumerate(job_end):
        due = problem.job_due[j]
        if due < INF and e > due:
            tard += problem.job_weight[j] * (e - due)
            late += 1
    cost = co2 = 0.0
    if problem.has_power:
        for o in range(problem.n_ops):
            c, g = problem.op_energy(o, plan.machine[o], plan.start[o], plan.end[o])
            cost += c
            co2 += g
    load = [0] * problem.n_machines
    setup_total = 0
    for m, seq in enumerate(plan.sequences(problem.n_machines)):
        prev = problem.machine_family[m]
        for o in seq:
            load[m] += plan.end[o] - plan.start[o]
            setup_total += problem.setup(prev, problem.family[o])
            prev = problem.family[o] if problem.family[o] >= 0 else prev
    util = [ld / ms if ms else 0.0 for ld in load]
    mean = sum(load) / max(len(load), 1)
    return Metrics(ms, tard, late, cost, co2, setup_total, util, int(max(load, default=0) - mean))


def power_profile(problem: Problem, plan: Plan) -> list[tuple[int, float]]:
    """The site's planned draw as steps [(from instant, watts)]: the fleet's idle draw plus each operation's draw
    on its machine above idle. The level holds until the next instant."""
    events: dict[int, float] = {}
    for o in range(problem.n_ops):
        for a, b, w in problem.power_steps(o, plan.machine[o], plan.start[o], plan.end[o]):
            events[a] = events.get(a, 0.0) + w
            events[b] = events.get(b, 0.0) - w
    level = problem.base_w
    out = [(0, level)]
    for t in sorted(events):
        level += events[t]
        if out[-1][0] == t:
            out[-1] = (t, level)
        else:
            out.append((t, level))
    return out


def peak_power_w(problem: Problem, plan: Plan) -> float:
    return max(w for _, w in power_profile(problem, plan))


def objective_value(problem: Problem, plan: Plan, mt: Metrics | None = None) -> float:
    mt = mt or metrics(problem, plan)
    w = problem.objective
    return (w.makespan * mt.makespan + w.tardiness * mt.weighted_tardiness + w.energy * mt.energy_cost
            + w.setups * mt.setup_time + w.balance * mt.load_imbalance)


def critical_path(problem: Problem, plan: Plan, job: int | None = None) -> list[int]:
    """Operations on a longest chain (precedence or same machine) that ends at the makespan, first to last.

    With ``job``, the chain that ends at that job's last operation: what holds a swarm job back.
    """
    if not plan.end:
        return []
    ops = range(problem.n_ops) if job is None else [o for o in range(problem.n_ops) if problem.op_job[o] == job]
    if not ops:
        return []
    seqs = plan.sequences(problem.n_machines)
    mprev: dict[int, int] = {}
    for seq in seqs:
        for a, b in zip(seq, seq[1:], strict=False):
            mprev[b] = a
    o = max(ops, key=lambda x: plan.end[x])
    path = [o]
    while True:
        s = plan.start[o]
        cands = [p for p in problem.preds[o] if plan.end[p] == s]
        if not cands and o in mprev and plan.end[mprev[o]] + problem.setup(
                problem.family[mprev[o]], problem.family[o]) == s:
            cands = [mprev[o]]
        if not cands:
            break
        o = cands[0]
        path.append(o)
    path.reverse()
    return path


def plan_to_dict(problem: Problem, plan: Plan) -> dict[str, Any]:
    seqs = plan.sequences(problem.n_machines)
    return {
        "makespan": plan.makespan,
        "metrics": metrics(problem, plan).to_dict(),
        "machines": [
            {"machine": problem.machine_names[m],
             "operations": [{"op": problem.op_names[o], "job": problem.job_names[problem.op_job[o]],
                             "start": plan.start[o], "end": plan.end[o]} for o in seq]}
            for m, seq in enumerate(seqs)
        ],
        "critical_path": [problem.op_names[o] for o in critical_path(problem, plan)],
        "jobs": [{"job": problem.job_names[j], "end": max((plan.end[o] for o in range(problem.n_ops)
                                                          if problem.op_job[o] == j), default=0),
                  "critical_path": [problem.op_names[o] for o in critical_path(problem, plan, j)]}
                 for j in range(problem.n_jobs)],
    }
