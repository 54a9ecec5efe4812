"""Optional CP-SAT component of the portfolio (only when OR-Tools is installed): it starts from the best plan
found so far (as hints) and searches for a shorter makespan. The constructive path never needs it."""

from __future__ import annotations

import logging
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


def cpsat_improve(problem: Problem, hint: Plan, time_limit_s: float, seed: int = 0, workers: int = 1) -> Plan:
    """A plain FJSP model (makespan), hinted with ``hint``; returns the better of the hint and its answer."""
    from ortools.sat.python import cp_model

    if time_limit_s <= 0.05:
        return hint
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    horizon = hint.makespan
    starts, ends, choice = [], [], []
    per_machine: dict[int, list] = {}
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
            lits.append((k, lit))
            if len(alts) > 1:
                m.AddHint(lit, 1 if hint.machine[o] == k else 0)
        if len(alts) > 1:
            m.AddExactlyOne(lit for _, lit in lits)
        m.AddHint(s, hint.start[o])
        starts.append(s)
        ends.append(e)
        choice.append(lits)
    for o, ps in enumerate(problem.preds):
        for p in ps:
            m.Add(starts[o] >= ends[p])
    for ivs in per_machine.values():
        m.AddNoOverlap(ivs)
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
    machine = [next(k for k, lit in lits if solver.BooleanValue(lit)) for lits in choice]
    start = [solver.Value(s) for s in starts]
    end = [start[o] + dict(problem.alts[o])[machine[o]] for o in range(problem.n_ops)]
    plan = Plan(machine, start, end, "cp-sat")
    plan.stats["cpsat_status"] = solver.StatusName(status)
    if plan.makespan < hint.makespan:
        log.debug("cp-sat improved %d -> %d", hint.makespan, plan.makespan)
        return plan
    return hint
