"""The plan's digital twin: Monte Carlo replays of a plan with uncertain durations.

Each replay keeps what the floor keeps (every machine's order of work, the jobs' precedences, release times) and
draws every operation's duration around its planned one; a machine starts its next work as soon as it is free, as
production does. All replays advance together, one operation at a time over a vector of replays (numpy), so 1,000
replays cost about what one does in plain Python. Not modelled: maintenance windows and the power cap pushing work
later in a replay (the plan already placed work around them; only the spread is replayed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.domain.errors import ValidationError
from app.core.scheduling.bounds import topo_order
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import INF, Problem

Z90 = 1.2815515655446004  # standard normal 90 % quantile: an 80 % interval spans +-Z90 sigma


def sigma_from_interval(low: float, high: float) -> float:
    """Log-spread of a duration from its 80 % interval (the learned estimators' conformal interval)."""
    if not 0 < low <= high:
        raise ValidationError(f"a duration interval needs 0 < low <= high, got {low} .. {high}", "interval")
    return math.log(high / low) / (2 * Z90)


@dataclass(slots=True)
class TwinResult:
    job_names: list[str]
    job_due: list[int]  # plan time units, INF when none
    job_finish: np.ndarray  # replays x jobs: when each job's last operation ends
    makespan: np.ndarray  # per replay

    def on_time_probability(self) -> list[float | None]:
        """Per job, the share of replays in which it ends by its due time (None: no due time)."""
        out: list[float | None] = []
        for j, due in enumerate(self.job_due):
            out.append(None if due >= INF // 2 else float(np.mean(self.job_finish[:, j] <= due)))
        return out

    def finish_quantiles(self, qs: Sequence[float] = (0.1, 0.5, 0.9)) -> np.ndarray:
        """jobs x len(qs): the spread of each job's finish time."""
        return np.quantile(self.job_finish, qs, axis=0).T


def replay(problem: Problem, plan: Plan, n: int = 1000, sigma: float | Sequence[float] = 0.15,
           seed: int = 0) -> TwinResult:
    """``n`` replays of ``plan``; each duration is the planned one times a lognormal factor of median 1 and
    log-spread ``sigma`` (one for all, or one per operation, e.g. from ``sigma_from_interval``)."""
    if n < 1:
        raise ValidationError("the twin needs at least one replay", "n")
    n_ops = problem.n_ops
    sig = np.full(n_ops, float(sigma)) if isinstance(sigma, (int, float)) else np.asarray(sigma, dtype=float)
    if sig.shape != (n_ops,) or np.any(sig < 0):
        raise ValidationError("sigma must be one non-negative spread or one per operation", "sigma")
    rng = np.random.default_rng(seed)
    planned = np.asarray(plan.end, dtype=float) - np.asarray(plan.start, dtype=float)
    dur = planned[None, :] * np.exp(rng.standard_normal((n, n_ops)) * sig[None, :])
    rank = {o: i for i, o in enumerate(topo_order(problem))}
    mprev = [-1] * n_ops
    for seq in plan.sequences(problem.n_machines):
        for a, b in zip(seq, seq[1:], strict=False):
            mprev[b] = a
    order = sorted(range(n_ops), key=lambda o: (plan.start[o], plan.end[o], rank[o]))
    end = np.zeros((n_ops, n))  # per operation, a vector over the replays
    for o in order:
        start = np.full(n, float(problem.release[o]))
        if o in problem.fixed:  # started work started when it did
            start[:] = plan.start[o]
        for p in problem.preds[o]:
            np.maximum(start, end[p], out=start)
        if mprev[o] >= 0:
            np.maximum(start, end[mprev[o]], out=start)
        end[o] = start + dur[:, o]
    n_jobs = problem.n_jobs
    job_finish = np.zeros((n, n_jobs))
    for o in range(n_ops):
        j = problem.op_job[o]
        np.maximum(job_finish[:, j], end[o], out=job_finish[:, j])
    return TwinResult(list(problem.job_names), list(problem.job_due), job_finish, job_finish.max(axis=1))
