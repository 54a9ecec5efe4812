"""Digital twin benchmark: Monte Carlo replays of a 100-job plan (numpy, all replays together) next to the same
replays one at a time in plain Python, in the same run.

    .venv/bin/python benchmarks/twin.py [--jobs 100] [--replays 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.scheduling.constructive import construct  # noqa: E402
from app.core.scheduling.problem import Problem  # noqa: E402
from app.core.scheduling.twin import replay  # noqa: E402


def shop(n_jobs: int, n_machines: int, seed: int = 3) -> Problem:
    rng = random.Random(seed)
    op_job, alts, preds = [], [], []
    for j in range(n_jobs):
        for k in range(3):  # print, wash, cure-like chains on a shared fleet
            o = len(op_job)
            op_job.append(j)
            alts.append([(m, rng.randint(600, 7200)) for m in rng.sample(range(n_machines), 2)])
            preds.append([o - 1] if k else [])
    return Problem(n_machines=n_machines, op_job=op_job, alts=alts, preds=preds)


def plain_replays(problem: Problem, plan, n: int, sigma: float, seed: int) -> float:
    """The reference: the same replays, one after the other, in plain Python."""
    rng = random.Random(seed)
    order = sorted(range(problem.n_ops), key=lambda o: (plan.start[o], plan.end[o]))
    worst = 0.0
    for _ in range(n):
        end: dict[int, float] = {}
        last: dict[int, float] = {}
        for o in order:
            m = plan.machine[o]
            s = max([float(problem.release[o]), last.get(m, 0.0)] + [end[p] for p in problem.preds[o]])
            end[o] = s + (plan.end[o] - plan.start[o]) * rng.lognormvariate(0.0, sigma)
            last[m] = end[o]
        worst = max(worst, max(end.values()))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--replays", type=int, default=1000)
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    p = shop(args.jobs, args.machines)
    plan = construct(p)
    t0 = time.perf_counter()
    res = replay(p, plan, n=args.replays, sigma=0.15)
    twin_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain_replays(p, plan, args.replays, 0.15, 0)
    plain_s = time.perf_counter() - t0
    q = np.quantile(res.makespan, [0.1, 0.5, 0.9])
    print(f"| {args.replays} replays of a {args.jobs}-job plan ({p.n_ops} operations, {args.machines} machines) "
          f"| twin (numpy) {twin_s:.3f} s | plain Python {plain_s:.3f} s | ratio {plain_s / twin_s:.1f} x "
          f"| target < 5 s |")
    print(f"| makespan spread (sigma 0.15) | p10 {q[0]:.0f} s | p50 {q[1]:.0f} s | p90 {q[2]:.0f} s "
          f"| planned {plan.makespan} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
