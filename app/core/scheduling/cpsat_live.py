"""CP-SAT while it runs: every better solution handed on at once (a solution callback), and a way to stop the
solve from outside (another worker found something better to restart from). ``cpsat.py`` builds the model and
calls ``solve`` here; the portfolio's live exchange (``exchange.py``) uses both ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem

POLL_S = 0.02  # how often a running solve looks at its stop flag
# A live solve (the portfolio's CP-SAT worker, one core) with more than 1: this many CP-SAT subsolvers interleaved
# in one thread (its large-neighbourhood moves among them). The stop flag may say how many (``subsolvers``).
LIVE_SUBSOLVERS = 1


class StopFlag(Protocol):
    """A threading.Event, or anything else that can say "stop now"."""

    def is_set(self) -> bool: ...


def solve(solver: Any, model: Any, problem: Problem, choice: list[list[tuple[int, Any]]], starts: list[Any],
          on_solution: Callable[[Plan], None] | None = None, stop: StopFlag | None = None) -> Any:
    """``solver.Solve(model)``; with ``on_solution``, each solution better than the last is passed on as a Plan
    (machines from ``choice``, starts from ``starts``); with ``stop``, the solve ends soon after it is set."""
    from ortools.sat.python import cp_model

    subsolvers = getattr(stop, "subsolvers", LIVE_SUBSOLVERS)
    if stop is not None and subsolvers > 1 and solver.parameters.num_workers <= 1:
        solver.parameters.num_workers = subsolvers
        solver.parameters.interleave_search = True  # still one thread
    callback = None
    if on_solution is not None:

        class Relay(cp_model.CpSolverSolutionCallback):
            def __init__(self) -> None:
                super().__init__()
                self.best = float("inf")

            def on_solution_callback(self) -> None:
                value = self.ObjectiveValue()
                if value >= self.best:
                    return
                self.best = value
                machine = [lits[0][0] if len(lits) == 1 else next(k for k, lit in lits if self.BooleanValue(lit))
                           for lits in choice]
                start = [self.Value(s) for s in starts]
                end = [start[o] + (problem.duration(o, machine[o]) or 0) for o in range(problem.n_ops)]
                on_solution(Plan(machine, start, end, "cp-sat"))

        callback = Relay()
    done = threading.Event()
    watcher = None
    if stop is not None:

        def watch() -> None:
            while not done.wait(POLL_S):
                if stop.is_set():  # again at every poll: a stop asked before the solve began is not lost
                    solver.StopSearch()

        watcher = threading.Thread(target=watch, name="cpsat-stop", daemon=True)
        watcher.start()
    try:
        return solver.Solve(model, callback) if callback is not None else solver.Solve(model)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
