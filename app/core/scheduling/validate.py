"""An independent check of a plan against its problem. It shares no code with the planners on purpose."""

from __future__ import annotations

from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

MAX_REPORTED = 50


def validate_plan(problem: Problem, plan: Plan) -> list[str]:
    """Every rule the plan breaks, as operator-readable lines; empty means the plan is valid."""
    out: list[str] = []
    n = problem.n_ops
    if not (len(plan.machine) == len(plan.start) == len(plan.end) == n):
        return [f"plan covers {len(plan.machine)} operations, the problem has {n}"]
    name = problem.op_names
    for o in range(n):
        m, s, e = plan.machine[o], plan.start[o], plan.end[o]
        dur = dict(problem.alts[o]).get(m)
        if dur is None:
            out.append(f"{name[o]} is on machine {m}, which cannot run it")
        elif e - s != dur:
            out.append(f"{name[o]} lasts {e - s} on machine {m}, it should last {dur}")
        if s < problem.release[o]:
            out.append(f"{name[o]} starts at {s}, before its release {problem.release[o]}")
        if s < 0:
            out.append(f"{name[o]} starts before the plan origin")
        for p in problem.preds[o]:
            if plan.end[p] > s:
                out.append(f"{name[o]} starts at {s} before its predecessor {name[p]} ends at {plan.end[p]}")
        if o in problem.fixed and problem.fixed[o] != (m, s):
            out.append(f"{name[o]} was started on machine {problem.fixed[o][0]} at {problem.fixed[o][1]}; "
                       "the plan moved it")
        if 0 <= m < problem.n_machines:
            for a, b in problem.unavailable[m]:
                if s < b and a < e and e > s:
                    out.append(f"{name[o]} runs [{s}, {e}) on machine {m} while it is unavailable [{a}, {b})")
        if problem.staffed is not None and problem.attend[o] & 2 and not any(a <= e <= b for a, b in problem.staffed):
            out.append(f"{name[o]} ends at {e}, when nobody is on the floor")
        if len(out) > MAX_REPORTED:
            return out
    by_machine: dict[int, list[int]] = {}
    for o in range(n):
        by_machine.setdefault(plan.machine[o], []).append(o)
    for m, ops in by_machine.items():
        ops.sort(key=lambda o: (plan.start[o], plan.end[o]))
        fam = problem.machine_family[m] if 0 <= m < problem.n_machines else -1
        prev_end = None
        for o in ops:
            f = problem.family[o]
            gap = 0 if fam < 0 or f < 0 or fam == f or not problem.setup_time else problem.setup_time[fam][f]
            if problem.staffed is not None and problem.attend[o] & 1 and not any(
                    a <= plan.start[o] - gap and plan.start[o] < b for a, b in problem.staffed):
                out.append(f"{name[o]} starts at {plan.start[o]}" + (f" after a setup of {gap}" if gap else "")
                           + ", when nobody is on the floor")
            if prev_end is not None and plan.start[o] < prev_end + gap:
                out.append(f"machine {m}: {name[o]} starts at {plan.start[o]}, overlapping the previous work "
                           f"or its setup (free at {prev_end + gap})")
            elif prev_end is None and plan.start[o] < gap:
                out.append(f"machine {m}: {name[o]} starts at {plan.start[o]} without its setup of {gap}")
            prev_end = plan.end[o] if prev_end is None else max(prev_end, plan.end[o])
            if f >= 0:
                fam = f
    if problem.power_cap_w is not None:
        # every step of each operation's profile on the machine it was given, over the fleet's idle draw
        events: list[tuple[int, float]] = []
        for o in range(n):
            m = plan.machine[o]
            if not 0 <= m < problem.n_machines:
                continue
            for a, b, w in problem.power_steps(o, m, plan.start[o], plan.end[o]):
                events.append((a, w))
                events.append((b, -w))
        events.sort(key=lambda x: (x[0], x[1]))  # ends before starts at the same instant
        level = problem.base_w
        for t, dp in events:
            level += dp
            if level > problem.power_cap_w + 1e-6:
                out.append(f"planned power {level:.0f} W at {t} is above the site cap {problem.power_cap_w:.0f} W")
                break
    return out

