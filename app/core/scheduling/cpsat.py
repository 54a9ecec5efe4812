"""Optional CP-SAT component of the portfolio (only when OR-Tools is installed): it starts from the best plan
found so far (as hints) and searches for a better one by the problem's objective, under the shop's rules
(``cpsat_shop``). The constructive path never needs it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from app.core.scheduling.cpsat_live import StopFlag, solve
from app.core.scheduling.cpsat_shop import (
    add_setups,
    add_staffing,
    add_windows,
    lead_values,
    setup_machines,
    setups_modelled,
    staffed_spans,
    tardiness_terms,
    too_many_arcs,
)
from app.core.scheduling.plan import Plan, objective_value
from app.core.scheduling.problem import Problem
from app.core.scheduling.staffing import START

log = logging.getLogger(__name__)

SCALE = 1000  # objective weights are fractions (makespan 0.01 beside lateness): CP-SAT's objective is in integers


def available() -> bool:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


def supports(problem: Problem) -> bool:
    """What this model holds: makespan, weighted lateness and setup time as the objective (any mix); precedences,
    releases, the site power cap, closed windows, started work, staffed hours and sequence-dependent material
    setups (when every operation on a machine where order matters has a material family). The energy price and
    load balance are left to the other planners."""
    w = problem.objective
    return (w.energy == 0 and w.balance == 0 and (w.makespan > 0 or w.tardiness > 0 or w.setups > 0)
            and setups_modelled(problem))


def proven(problem: Problem, plan: Plan, bound: float) -> bool:
    """Whether ``bound`` (CP-SAT's, in the objective's units; the makespan's for a pure makespan) proves ``plan``
    optimal."""
    if problem.objective.pure_makespan:
        return plan.makespan <= bound
    return objective_value(problem, plan) <= bound + 1e-6 * max(1.0, abs(bound))


def _horizon(problem: Problem, hint: Plan) -> int:
    """How late the plan may end: the hint's makespan for a makespan objective (no better plan ends later); with
    lateness or setups in it, one more longest operation's time (a later end can pay off by an earlier start of
    urgent work, rarely by much; a wider horizon makes big models slow to load)."""
    if problem.objective.pure_makespan:
        return hint.makespan
    return hint.makespan + max(d for alts in problem.alts for _, d in alts)


def _hint_leads(problem: Problem, hint: Plan) -> dict[int, int]:
    """The setup just before each operation in the hint (its machine's previous family to its own)."""
    out = {}
    for m, seq in enumerate(hint.sequences(problem.n_machines)):
        prev = problem.machine_family[m]
        for o in seq:
            out[o] = problem.setup(prev, problem.family[o])
            prev = problem.family[o] if problem.family[o] >= 0 else prev
    return out


def cpsat_improve(problem: Problem, hint: Plan, time_limit_s: float, seed: int = 0, workers: int = 1,
                  hinted: bool = True, on_solution: Callable[[Plan], None] | None = None,
                  stop: StopFlag | None = None) -> Plan:  # live: each better plan out, stop from outside
    """A flexible job shop model of ``problem`` with the shop's rules (``cpsat_shop``), hinted with ``hint``
    (``hinted=False``: only its makespan bounds the horizon, plain CP-SAT as the benchmarks' reference); returns
    the better of the hint and its answer by the problem's objective, with ``stats["cpsat_bound"]`` (CP-SAT's
    proven lower bound: on the makespan for a makespan objective, else on the objective) and ``stats["optimal"]``
    when it proved it. Under a power cap each operation's draw on the machine it gets (heat-up peak, then steady)
    is a cumulative demand against what the cap leaves over the fleet's idle draw, in whole watts."""
    from ortools.sat.python import cp_model

    if time_limit_s <= 0.05:
        return hint
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    horizon = _horizon(problem, hint)
    pure = problem.objective.pure_makespan
    staffed = problem.has_staffing
    spans = staffed_spans(problem, horizon) if staffed else []
    setup_ms = setup_machines(problem)
    on_setup = set(setup_ms)
    hint_lead = _hint_leads(problem, hint) if hinted and staffed and setup_ms else {}
    starts, ends, choice = [], [], []
    per_machine: dict[int, list] = {}
    on_machine: dict[int, list[tuple[int, Any]]] = {}
    lead: dict[int, dict[int, Any]] = {}
    power_ivs: list = []
    power_demands: list[int] = []
    capped = problem.power_cap_w is not None
    top = horizon
    # a big shop with setups: each operation on the hint's machine (every order there open), a neighbourhood
    narrowed = hinted and bool(setup_ms) and too_many_arcs(problem, setup_ms)
    for o, alts in enumerate(problem.alts):
        fixed = problem.fixed.get(o)
        if fixed is not None:  # started work stays where it is
            alts = [(fixed[0], problem.duration(o, fixed[0]) or 0)]
        elif narrowed:
            alts = [(hint.machine[o], problem.duration(o, hint.machine[o]) or 0)]
        lo, hi = min(d for _, d in alts), max(d for _, d in alts)
        first = problem.release[o] if fixed is None else fixed[1]
        s = m.NewIntVar(min(first, horizon), horizon if fixed is None else first, f"s{o}")
        e = m.NewIntVar(0, max(horizon, first + hi), f"e{o}")
        top = max(top, horizon, first + hi)
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
            on_machine.setdefault(k, []).append((o, lit if len(alts) > 1 else None))
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
            m.AddHint(e, hint.end[o])
        if staffed and fixed is None and problem.attend[o]:
            if problem.attend[o] & START and any(k in on_setup for k, _ in alts):
                lead[o] = {v: m.NewBoolVar(f"lead{o}_{v}") for v in lead_values(problem, o)}
                m.AddExactlyOne(lead[o].values())
                for k, lit in lits:
                    if k not in on_setup:
                        m.AddImplication(lit, lead[o][0])
                if hinted:
                    for v, z in lead[o].items():
                        m.AddHint(z, 1 if hint_lead.get(o, 0) == v else 0)
            add_staffing(m, problem, spans, o, s, e, lead.get(o))
        starts.append(s)
        ends.append(e)
        choice.append(lits)
    for o, ps in enumerate(problem.preds):
        for p in ps:
            m.Add(starts[o] >= ends[p])
    add_windows(m, problem, horizon, per_machine)
    for ivs in per_machine.values():
        m.AddNoOverlap(ivs)
    setups = add_setups(m, problem, setup_ms, on_machine, starts, ends, lead,
                        hint.sequences(problem.n_machines) if hinted else None)
    if capped and power_ivs:
        room_w = int(math.floor(problem.power_cap_w - problem.base_w))  # type: ignore[operator]
        m.AddCumulative(power_ivs, power_demands, max(room_w, 0))
    w = problem.objective
    scale = 1 if pure else SCALE
    terms = []
    if w.makespan > 0:
        cmax = m.NewIntVar(0, top, "cmax")
        m.AddMaxEquality(cmax, ends)
        if hinted:
            m.AddHint(cmax, hint.makespan)
        terms.append(round(w.makespan * scale) * cmax if not pure else cmax)
    if w.tardiness > 0:
        for weight, late in tardiness_terms(m, problem, ends, horizon, hint.end if hinted else None):
            terms.append(round(w.tardiness * weight * scale) * late)
    if w.setups > 0 and setup_ms:
        terms.append(round(w.setups * scale) * setups.total)
    m.Minimize(sum(terms))
    solver = cp_model.CpSolver()
    # a little kept back for reading the answer and the threads' end: a portfolio drops a worker that is late
    margin = min(0.25, 0.02 + 0.02 * time_limit_s)
    solver.parameters.max_time_in_seconds = max(time_limit_s - (time.perf_counter() - t0) - margin, 0.05)
    # one CP-SAT thread only searches down from the hint; on a shop model (setups, hours, lateness) what improves
    # a big plan is its large-neighbourhood moves, which need a second thread to run at all
    solver.parameters.num_workers = workers if problem.plain else max(workers, 2)
    solver.parameters.random_seed = seed
    status = solve(solver, m, problem, choice, starts, on_solution, stop)  # each better plan to on_solution
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        hint.stats.setdefault("cpsat_status", solver.StatusName(status))
        return hint
    raw_bound = solver.BestObjectiveBound()
    bound: float = int(math.ceil(raw_bound - 1e-6)) if pure else raw_bound / scale
    if narrowed:  # the hint's machines only: its bound holds for them, not for the shop
        bound = 0
    machine = [next(k for k, lit in lits if solver.BooleanValue(lit)) for lits in choice]
    start = [solver.Value(s) for s in starts]
    end = [start[o] + (problem.duration(o, machine[o]) or 0) for o in range(problem.n_ops)]
    plan = Plan(machine, start, end, "cp-sat")
    better = plan if objective_value(problem, plan) < objective_value(problem, hint) else hint
    if better is plan:
        log.debug("cp-sat improved %s -> %s", objective_value(problem, hint), objective_value(problem, plan))
    better.stats["cpsat_status"] = solver.StatusName(status)
    better.stats["cpsat_bound"] = bound
    better.stats["optimal"] = proven(problem, better, bound)
    better.stats["cpsat_narrowed"] = narrowed
    return better
