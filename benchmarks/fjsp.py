"""FJSP benchmark: the scheduler against best-known makespans, the farm-queue rule, and a 10,000-op scale test.

    .venv/bin/python benchmarks/fjsp.py                       # Brandimarte mk01-mk10, budgets 0, 1, 10 s + scale
    .venv/bin/python benchmarks/fjsp.py --sets behnke_geiger --budgets 1 --no-scale
    .venv/bin/python benchmarks/fjsp.py --sets all --budgets 0,1 --quick   # first 3 instances of every set
    .venv/bin/python benchmarks/fjsp.py --budgets 1,10 --cpsat --no-scale   # next to plain CP-SAT, same cores
    .venv/bin/python benchmarks/fjsp.py --sets hurink_vdata --sample 5 --budgets 1,10 --cpsat --no-scale

A set without best-known values (fajsp_birgin2014) is measured against the best makespan of its row (ours and
plain CP-SAT at every budget): "gap" there is the distance to the best plan either method found in the run.

Every plan (ours and the baseline's) goes through the independent validator; any violation is reported.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.scheduling import tabu_steps  # noqa: E402
from app.core.scheduling.constructive import construct  # noqa: E402
from app.core.scheduling.cpsat import cpsat_improve  # noqa: E402
from app.core.scheduling.fjs_io import load_instance  # noqa: E402
from app.core.scheduling.optimize import optimize  # noqa: E402
from app.core.scheduling.plan import Plan  # noqa: E402
from app.core.scheduling.problem import Problem  # noqa: E402
from app.core.scheduling.replan import machine_failed  # noqa: E402
from app.core.scheduling.validate import validate_plan  # noqa: E402

SHARED = Path(os.environ.get("IMEWE_SHARED", ROOT / ".." / "shared")).resolve()
BENCH = SHARED / "bench" / "fjsp"
SETS = ["brandimarte", "hurink_vdata", "dauzere_paulli", "kacem", "fattahi", "behnke_geiger", "fajsp_birgin2014"]


def farm_queue(problem: Problem) -> Plan:
    """Today's print-farm rule: whenever time moves, each ready part takes the idle eligible machine it is fastest
    on (parts in the order they became ready)."""
    n = problem.n_ops
    plan = Plan([-1] * n, [0] * n, [0] * n, "farm-queue")
    free_at = [0] * problem.n_machines
    left = [len(p) for p in problem.preds]
    ready_at = {o: 0 for o in range(n) if left[o] == 0}
    done = 0
    t = 0
    while done < n:
        for o in sorted((o for o, r in ready_at.items() if r <= t), key=lambda o: (ready_at[o], o)):
            idle = [(d, m) for m, d in problem.alts[o] if free_at[m] <= t]
            if not idle:
                continue
            d, m = min(idle)
            plan.machine[o], plan.start[o], plan.end[o] = m, t, t + d
            free_at[m] = t + d
            del ready_at[o]
            done += 1
            for s in problem.succs[o]:
                left[s] -= 1
                if left[s] == 0:
                    ready_at[s] = max(plan.end[p] for p in problem.preds[s])
        future = [x for x in free_at if x > t] + [r for r in ready_at.values() if r > t]
        if done < n:
            t = min(future) if future else t + 1
    return plan


def load_bks() -> dict[tuple[str, str], int]:
    with (BENCH / "bks.csv").open() as fh:
        return {(r["set"], r["instance"]): int(r["ub"]) for r in csv.DictReader(fh)}


def natural(name: str) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name))


def instances(set_name: str, only: str | None, sample: int | None = None) -> list[Path]:
    files = sorted([*(BENCH / set_name).glob("*.fjs"), *(BENCH / set_name).glob("*.txt")],
                   key=lambda p: natural(p.stem))
    if set_name == "brandimarte" and not only:
        files = [f for f in files if natural(f.stem)[1] <= 10]  # mk01-mk10: the targets' set
    if only:
        keep = set(only.split(","))
        files = [f for f in files if f.stem in keep]
    if sample and len(files) > sample:
        files = spread(files, sample)
    return files


def spread(files: list[Path], n: int) -> list[Path]:
    """``n`` of ``files`` spread evenly over their sizes (jobs, then operations; ties by name): the smallest, the
    largest and evenly spaced ones between. Deterministic."""
    sized = sorted(files, key=lambda f: (_size(f), natural(f.stem)))
    if n == 1:
        return [sized[len(sized) // 2]]
    picks = sorted({round(i * (len(sized) - 1) / (n - 1)) for i in range(n)})
    return sorted((sized[i] for i in picks), key=lambda p: natural(p.stem))


def _size(f: Path) -> tuple[int, int]:
    p = load_instance(f)
    return p.n_jobs, p.n_ops


def run_sets(args: argparse.Namespace) -> list[str]:
    bks = load_bks()
    budgets = [float(b) for b in args.budgets.split(",")]
    sets = SETS if args.sets == "all" else args.sets.split(",")
    lines = []
    ref = [b for b in budgets if b > 0] if args.cpsat else []
    head = "| set | instance | ub | farm-queue | " + " | ".join(
        f"{'constructive' if b == 0 else f'{b:g} s'} (gap, wall)" for b in budgets) + "".join(
        f" | plain CP-SAT {b:g} s (gap)" for b in ref) + " | valid |"
    lines += [head, "|" + "---|" * (5 + len(budgets) + len(ref))]
    by_size: dict[tuple[tuple[str, str], str], list[float]] = {}
    print(head, flush=True)
    for set_name in sets:
        files = instances(set_name, args.instances, args.sample)
        if args.quick:
            files = files[:3]
        agg: dict[str, list[float]] = {}
        for f in files:
            problem = load_instance(f)
            ub = bks.get((set_name, f.stem))
            base = farm_queue(problem)
            bad = validate_plan(problem, base)
            valid = not bad
            ours: list[tuple[float, Plan, float]] = []
            for b in budgets:
                t0 = time.perf_counter()
                plan = optimize(problem, time_limit_s=b, seed=args.seed, workers=args.workers if b > 0 else 1)
                wall = time.perf_counter() - t0
                v = validate_plan(problem, plan)
                valid = valid and not v
                if v:
                    print(f"  INVALID {f.stem} @ {b}: {v[0]}", flush=True)
                ours.append((b, plan, wall))
            theirs = []
            for b in ref:  # plain CP-SAT: the same model and cores, no hint (the constructive makespan bounds it)
                plan = cpsat_improve(problem, construct(problem), b, seed=args.seed, workers=args.workers,
                                     hinted=False)
                v = validate_plan(problem, plan)
                valid = valid and not v
                theirs.append((b, plan))
            if ub is None and any(b > 0 for b, _, _ in ours):  # no best-known value: the best plan of this row
                ub = min([p.makespan for b, p, _ in ours if b > 0] + [p.makespan for _, p in theirs])
                ub_note = f"{ub}*"
            else:
                ub_note = str(ub)
            cells = [f"{base.makespan} ({_gap(base.makespan, ub)})"]
            agg.setdefault("farm", []).append(_gapv(base.makespan, ub))
            cls = (set_name, size_class(problem))
            for b, plan, wall in ours:
                cells.append(f"{plan.makespan} ({_gap(plan.makespan, ub)}, {wall * 1000:.0f} ms)"
                             if b == 0 else f"{plan.makespan} ({_gap(plan.makespan, ub)}, {wall:.2f} s)")
                agg.setdefault(str(b), []).append(_gapv(plan.makespan, ub))
                agg.setdefault(f"t{b}", []).append(wall)
                by_size.setdefault((cls, f"ours {b:g} s"), []).append(_gapv(plan.makespan, ub))
            for b, plan in theirs:
                cells.append(f"{plan.makespan} ({_gap(plan.makespan, ub)})")
                agg.setdefault(f"cp{b}", []).append(_gapv(plan.makespan, ub))
                by_size.setdefault((cls, f"CP-SAT {b:g} s"), []).append(_gapv(plan.makespan, ub))
            row = f"| {set_name} | {f.stem} | {ub_note} | " + " | ".join(cells) + f" | {'yes' if valid else 'NO'} |"
            lines.append(row)
            print(row, flush=True)
        if files:
            mean = f"| **{set_name} mean** ({len(files)}) | | | {_mean(agg['farm'])} | " + " | ".join(
                f"{_mean(agg[str(b)])}, max wall {max(agg[f't{b}']) * (1000 if b == 0 else 1):.{0 if b == 0 else 2}f}"
                f"{' ms' if b == 0 else ' s'}" for b in budgets) + "".join(
                f" | {_mean(agg[f'cp{b}'])}" for b in ref) + " | |"
            lines.append(mean)
            print(mean, flush=True)
    if ref:
        table = ["", "| set | jobs | n | " + " | ".join(f"ours {b:g} s | CP-SAT {b:g} s" for b in ref) + " |",
                 "|---|---|---|" + "---|---|" * len(ref)]
        for set_name in sets:
            for cls in SIZE_CLASSES:
                key = (set_name, cls)
                n = len(by_size.get((key, f"ours {ref[0]:g} s"), []))
                if n:
                    table.append(f"| {set_name} | {cls} | {n} | " + " | ".join(
                        f"{_mean(by_size.get((key, f'ours {b:g} s'), []))} | "
                        f"{_mean(by_size.get((key, f'CP-SAT {b:g} s'), []))}" for b in ref) + " |")
        lines += table
        for line in table:
            print(line, flush=True)
    return lines


SIZE_CLASSES = ["up to 10", "11-20", "more than 20"]


def size_class(problem: Problem) -> str:
    return SIZE_CLASSES[0] if problem.n_jobs <= 10 else SIZE_CLASSES[1] if problem.n_jobs <= 20 else SIZE_CLASSES[2]


def _gapv(ms: int, ub: int | None) -> float:
    return float("nan") if not ub else 100.0 * (ms - ub) / ub


def _gap(ms: int, ub: int | None) -> str:
    return "n/a" if not ub else f"{_gapv(ms, ub):.1f} %"


def _mean(xs: list[float]) -> str:
    xs = [x for x in xs if x == x]
    return f"{sum(xs) / len(xs):.2f} %" if xs else "n/a"


def synthetic(n_ops: int = 10_000, n_machines: int = 1_000, seed: int = 7) -> Problem:
    """A seeded fleet: machines in 50 process groups of different speeds; jobs of 5-15 chained steps, each step
    runnable on 3-8 machines of one group."""
    rng = random.Random(seed)
    groups = 50
    speed = [rng.uniform(0.7, 1.3) for _ in range(n_machines)]
    members = [[m for m in range(n_machines) if m % groups == g] for g in range(groups)]
    op_job: list[int] = []
    alts: list[list[tuple[int, int]]] = []
    preds: list[list[int]] = []
    j = 0
    while len(op_job) < n_ops:
        k = min(rng.randint(5, 15), n_ops - len(op_job))
        for i in range(k):
            base = rng.randint(600, 7200)
            ms = rng.sample(members[rng.randrange(groups)], rng.randint(3, 8))
            alts.append([(m, int(base * speed[m])) for m in ms])
            preds.append([len(op_job) - 1] if i else [])
            op_job.append(j)
        j += 1
    return Problem(n_machines=n_machines, op_job=op_job, alts=alts, preds=preds)


def scale_test() -> list[str]:
    t0 = time.perf_counter()
    problem = synthetic()
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = optimize(problem, time_limit_s=0)
    first = time.perf_counter() - t0
    v1 = validate_plan(problem, plan)
    loads = [0] * problem.n_machines
    for o in range(problem.n_ops):
        loads[plan.machine[o]] += 1
    busiest = max(range(problem.n_machines), key=lambda m: loads[m])
    at = plan.makespan // 4
    t0 = time.perf_counter()
    res = machine_failed(problem, plan, busiest, at)
    replan_s = time.perf_counter() - t0
    v2 = validate_plan(res.problem, res.plan)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = [
        "| scale test (10,000 ops, 1,000 machines) | measured | target |",
        "|---|---|---|",
        f"| generate problem | {gen * 1000:.0f} ms | |",
        f"| first complete plan | {first * 1000:.0f} ms (makespan {plan.makespan}, valid: {not v1}) | < 2000 ms |",
        f"| replan after machine {busiest} fails at {at} | {replan_s * 1000:.0f} ms ({len(res.moved)} ops moved, "
        f"makespan {res.plan.makespan}, valid: {not v2}) | < 200 ms |",
        f"| peak process memory (ru_maxrss) | {rss_mb:.0f} MB | < 1024 MB |",
    ]
    for line in out:
        print(line, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="brandimarte", help=f"comma list of {','.join(SETS)} or 'all'")
    ap.add_argument("--instances", help="comma list of instance names to keep (e.g. mk01,mk06)")
    ap.add_argument("--budgets", default="0,1,10", help="time budgets in seconds; 0 = constructive only")
    ap.add_argument("--workers", type=int, default=2, help="parallel searches per run (default 2 = 2 cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="only the first 3 instances of each set")
    ap.add_argument("--sample", type=int, help="N instances per set, spread evenly over the set's sizes")
    ap.add_argument("--no-scale", action="store_true", help="skip the 10,000-operation scale test")
    ap.add_argument("--scale-only", action="store_true")
    ap.add_argument("--cpsat", action="store_true", help="plain CP-SAT with the same workers next to every budget")
    ap.add_argument("--out", help="also write the tables (markdown) to this file")
    args = ap.parse_args()
    if not BENCH.is_dir():
        print(f"benchmark data not found in {BENCH} (set IMEWE_SHARED)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    note = (f"machine: {os.cpu_count()} cores, load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
            f"(1/5/15 min); workers per run: {args.workers}; seed {args.seed}; tabu steps: "
            f"{'compiled' if tabu_steps.compiled() else 'Python (the _tabu_step extension is not built or IMEWE_SCHED_PURE=1)'}")
    print(note, flush=True)
    lines: list[str] = [note, ""]
    if not args.scale_only:
        lines += run_sets(args)
    if not args.no_scale:
        lines += [""] + scale_test()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
