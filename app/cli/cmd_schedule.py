"""``imewe schedule FILE.fjs --time-limit S``: solve a standard flexible job shop file and print the plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.args import finite_float
from app.cli.output import dumps
from app.core.domain.errors import ValidationError
from app.core.scheduling.fjs_io import load_instance
from app.core.scheduling.optimize import cores_available, optimize
from app.core.scheduling.plan import metrics
from app.core.scheduling.validate import validate_plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="plan a flexible job shop file (.fjs, or a Birgin assembly .txt)",
                       description="Solve a standard FJSP file and print the plan and its makespan.")
    p.add_argument("file", help="instance file: .fjs (machines 1-indexed) or Birgin FAJSP .txt (0-indexed)")
    p.add_argument("--time-limit", type=finite_float, default=1.0, metavar="SECONDS",
                   help="how long to improve the plan (0: the constructive plan only; default 1)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel searches with different seeds (default 1)")
    p.add_argument("--json", dest="json", action="store_true", default=argparse.SUPPRESS,
                   help="print the plan as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.time_limit < 0 or args.time_limit != args.time_limit:
        raise ValidationError("--time-limit must be zero or a positive number of seconds", "time_limit")
    if args.workers < 1:
        raise ValidationError("--workers must be at least 1", "workers")
    path = Path(args.file)
    problem = load_instance(path)
    cores = cores_available()
    if args.workers > cores:
        print(f"imewe: note: --workers {args.workers} capped at {cores}, the cores available", file=sys.stderr)
        args.workers = cores
    plan = optimize(problem, time_limit_s=args.time_limit, seed=args.seed, workers=args.workers)
    violations = validate_plan(problem, plan)
    base = 0 if path.suffix.lower() == ".txt" else 1  # print machines numbered as the file numbers them
    index_in_job: list[int] = []
    seen: dict[int, int] = {}
    for o, j in enumerate(problem.op_job):
        index_in_job.append(o if base == 0 else seen.get(j, 0))
        seen[j] = seen.get(j, 0) + 1
    if getattr(args, "json", False):
        out = {
            "file": str(path),
            "makespan": plan.makespan,
            "valid": not violations,
            "violations": violations,
            "time_limit_s": args.time_limit,
            "seed": args.seed,
            "workers": args.workers,
            "metrics": metrics(problem, plan).to_dict(),
            "optimal": bool(plan.stats.get("optimal")),
            "lower_bound": plan.stats.get("lower_bound"),
            "gap_to_bound": plan.stats.get("gap_to_bound"),
            "operations": [
                {"job": problem.op_job[o], "op": index_in_job[o], "machine": plan.machine[o] + base,
                 "start": plan.start[o], "end": plan.end[o]}
                for o in range(problem.n_ops)
            ],
        }
        print(dumps(out, indent=None))
    else:
        print(f"{path.name}: {problem.n_jobs} jobs, {problem.n_ops} operations, {problem.n_machines} machines")
        for m, seq in enumerate(plan.sequences(problem.n_machines)):
            cells = " ".join(f"J{problem.op_job[o]}.{index_in_job[o]}[{plan.start[o]}-{plan.end[o]}]" for o in seq)
            print(f"M{m + base}: {cells}")
        print(f"makespan {plan.makespan} ({'valid' if not violations else 'INVALID: ' + violations[0]}; "
              f"{_quality(plan)})")
    return 0 if not violations else 1


def _quality(plan) -> str:
    """What the plan can say about its own quality: proven optimal, or at most how far above the optimum."""
    if plan.stats.get("optimal"):
        return "optimal"
    if "gap_to_bound" in plan.stats:
        return f"gap to lower bound {100 * plan.stats['gap_to_bound']:.1f} % (bound {plan.stats['lower_bound']})"
    return "no bound for this objective"
