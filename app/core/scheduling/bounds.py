"""Lower bounds on the makespan: what lets the planner say a plan is optimal, or how far from it it can be."""

from __future__ import annotations

from app.core.scheduling.problem import Problem


def topo_order(problem: Problem) -> list[int]:
    indeg = [len(ps) for ps in problem.preds]
    stack = [o for o in range(problem.n_ops) if indeg[o] == 0]
    order: list[int] = []
    while stack:
        o = stack.pop()
        order.append(o)
        for s in problem.succs[o]:
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    return order


def makespan_lower_bound(problem: Problem) -> int:
    """No plan of ``problem`` ends before this: the longest chain of shortest durations from each release (started
    work pinned where it is), and the work still to do spread evenly over the machines.

    Dropping constraints (windows, setups, power cap) only lowers the bound, so it holds for every shop.
    """
    n = problem.n_ops
    if n == 0:
        return 0
    dmin = [min(d for _, d in a) if a else 0 for a in problem.alts]
    for o, (m, _s) in problem.fixed.items():
        dmin[o] = next((d for mm, d in problem.alts[o] if mm == m), dmin[o])
    head = list(problem.release)
    for o, (_m, s) in problem.fixed.items():
        head[o] = s
    chain = 0
    for o in topo_order(problem):
        end = head[o] + dmin[o]
        chain = max(chain, end)
        for s in problem.succs[o]:
            if s not in problem.fixed and head[s] < end:
                head[s] = end
    origin = min(0, min(problem.release))
    # Started work counts only for the part of it after the origin.
    work = sum(max(0, min(dmin[o], head[o] + dmin[o] - origin)) for o in range(n))
    load = origin + -(-work // max(problem.n_machines, 1))
    return max(chain, load)


def gap_to_bound(makespan: int, bound: int) -> float:
    """Relative distance of a plan's makespan to a lower bound (0.0 means proven optimal)."""
    return 0.0 if bound <= 0 or makespan <= bound else (makespan - bound) / bound
