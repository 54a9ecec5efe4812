"""Optional CP-SAT component of the portfolio (only when OR-Tools is installed): it starts from the best plan
found so far (as hints) and searches for a shorter makespan. The constructive path never needs it."""

from __future__ import annotations

import logging
import math
import time

from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

log = logging.getLogger(__name__)


def available() -> bool:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


def supports(problem: Problem) -> bool:
    """Makespan with precedences, releases and a site power cap: what this model holds. Setups, closed windows,
    staffed hours and started work are left to the other planners."""
    return (problem.objective.pure_makespan and not problem.has_setups and not any(problem.unavailable)
            and not problem.fixed and not problem.has_staffing)


def cpsat_improve(problem: Problem, hint: Plan, time_limit_s: float, seed: int = 0, workers: int = 1,
                  hinted: bool = True) -> Plan:
    """An FJSP model (makespan), hinted with ``hint`` (``hinted=False``: only its makespan bounds the horizon,
    plain CP-SAT as the benchmarks' reference); returns the better of the hint and its answer, with
    ``stats["cpsat_bound"]`` (CP-SAT's proven lower bound) and ``stats["optimal"]`` when it proved it. Under a
    power cap each operation's draw on the machine it gets (heat-up peak, then steady) is a cumulative demand
    against what the cap leaves over the fleet's idle draw, in whole watts."""
    from ortools.sat.python import cp_model

    if time_limit_s <= 0.05:
        return hint
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    horizon = hint.makespan
    starts, ends, choice = [], [], []
    per_machine: dict[int, list] = {}
    power_ivs: list = []
    power_demands: list[int] = []
    capped = problem.power_cap_w is not None
    for o, alts in enumerate(problem.alts):
        lo, hi = min(d for _, d in alts), max(d for _, d in alts)
        s = m.NewIntVar(problem.release[o], horizon, f"s{o}")
        e = m.NewIntVar(0, horizon, f"e{o}")
        m.Add(e >= s + lo)
        m.Add(e <= s + hi)
        lits = []
        for k, d in alts:
            if len(alts) == 1:
                lit = m.NewConstant(1)
            else:
                lit = m.NewBoolVar(f"x{o}_{k}")
            iv = m.NewOptionalIntervalVar(s, d, e, lit, f"i{o}_{k}")
            per_machine.setdefault(k, []).append(iv)
            if capped:
                for a, b, w in problem.power_steps(o, k, 0, d):  # offsets from the operation's start
                    if w <= 0:
                        continue
                    piv = m.NewOptionalFixedSizeIntervalVar(s + a, b - a, lit, f"p{o}_{k}_{a}")
                    power_ivs.append(piv)
                    power_demands.append(int(math.ceil(w)))
            lits.append((k, lit))
            if len(alts) > 1 and hinted:
                m.AddHint(lit, 1 if hint.machine[o] == k else 0)
        if len(alts) > 1:
            m.AddExactlyOne(lit for _, lit in lits)
        if hinted:
            m.AddHint(s, hint.start[o])
        starts.append(s)
        ends.append(e)
        choice.append(lits)
    for o, ps in enumerate(problem.preds):
        for p in ps:
            m.Add(starts[o] >= ends[p])
    for ivs in per_machine.values():
        m.AddNoOverlap(ivs)
    if capped and power_ivs:
        room_w = int(math.floor(problem.power_cap_w - problem.base_w))  # type: ignore[operator]
        m.AddCumulative(power_ivs, power_demands, max(room_w, 0))
    cmax = m.NewIntVar(0, horizon, "cmax")
    m.AddMaxEquality(cmax, ends)
    m.Minimize(cmax)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(time_limit_s - (time.perf_counter() - t0), 0.05)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return hint
    bound = int(math.ceil(solver.BestObjectiveBound() - 1e-6))
    machine = [next(k for k, lit in lits if solver.BooleanValue(lit)) for lits in choice]
    start = [solver.Value(s) for s in starts]
    end = [start[o] + dict(problem.alts[o])[machine[o]] for o in range(problem.n_ops)]
    plan = Plan(machine, start, end, "cp-sat")
    better = plan if plan.makespan < hint.makespan else hint
    if better is plan:
        log.debug("cp-sat improved %d -> %d", hint.makespan, plan.makespan)
    better.stats["cpsat_status"] = solver.StatusName(status)
    better.stats["cpsat_bound"] = bound
    better.stats["optimal"] = better.makespan <= bound
    return better
