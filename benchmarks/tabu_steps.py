"""Tabu steps per CPU second, compiled (``_tabu_step``) against Python, from the same start plan in the same run.

    .venv/bin/python benchmarks/tabu_steps.py                         # mk06, mk10, behnke58
    .venv/bin/python benchmarks/tabu_steps.py --instances brandimarte/mk10 --steps 30000 --py-steps 3000
    .venv/bin/python benchmarks/tabu_steps.py --ab STALL_LIMIT=150,600 --ab-steps 300000 --seeds 0,1,2

``--ab NAME=V1,V2,...`` compares settings of ``app/core/scheduling/tabu.py`` (its upper-case constants) at a
fixed number of compiled steps per run: the same start plan and seeds for every value, so the figures do not
depend on the machine's load; mean makespan and mean gap to the best-known value per value.

Both run ``tabu_search(..., max_iters=N)`` with the same seed (restarts and the elite pool included), timed in
CPU seconds of this process (load-independent, as far as a shared machine allows); where both ran the same number
of steps the plans are checked identical. Every plan goes through the validator.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.scheduling import tabu, tabu_steps  # noqa: E402
from app.core.scheduling.constructive import construct  # noqa: E402
from app.core.scheduling.fjs_io import load_instance  # noqa: E402
from app.core.scheduling.tabu import tabu_search  # noqa: E402
from app.core.scheduling.validate import validate_plan  # noqa: E402

SHARED = Path(os.environ.get("IMEWE_SHARED", ROOT / ".." / "shared")).resolve()
BENCH = SHARED / "bench" / "fjsp"


def measure(name: str, steps: int, py_steps: int, seed: int) -> str:
    p = load_instance(BENCH / f"{name}.fjs")
    start = construct(p, budget_s=0.2)
    runs = {}
    for key, pure, n in (("py", True, py_steps), ("c", False, steps), ("c_same", False, py_steps)):
        t0 = time.process_time()
        plan = tabu_search(p, start, float("inf"), seed=seed, max_iters=n, pure=pure)
        cpu = time.process_time() - t0
        assert validate_plan(p, plan) == [], f"{name}: invalid plan"
        runs[key] = (n / cpu, plan)
    same = (runs["py"][1].machine, runs["py"][1].start) == (runs["c_same"][1].machine, runs["c_same"][1].start)
    (py_rate, py_plan), (c_rate, c_plan) = runs["py"], runs["c"]
    py_c, c_c = py_plan.makespan, c_plan.makespan
    return (f"| {name.split('/')[-1]} | {p.n_ops} | {p.n_machines} | {py_rate:,.0f} | {c_rate:,.0f} | "
            f"{c_rate / py_rate:.1f} x | {py_c} | {c_c} | {'yes' if same else 'NO'} |")


def bks() -> dict[tuple[str, str], int]:
    with open(BENCH / "bks.csv") as f:
        return {(r["set"], r["instance"]): int(float(r["ub"])) for r in csv.DictReader(f) if r.get("ub")}


def ab(spec: str, names: list[str], steps: int, seeds: list[int]) -> None:
    """Each value of one tabu.py constant, on every instance and seed, ``steps`` compiled steps per run."""
    name, values = spec.split("=", 1)
    if not name.isupper() or not hasattr(tabu, name):
        sys.exit(f"--ab: tabu.py has no constant {name}")
    vals = [ast.literal_eval(v) for v in _split(values)]
    best = bks()
    keep = getattr(tabu, name)
    rows: dict[str, list[str]] = {}
    means = {repr(v): [] for v in vals}
    for inst in names:
        p = load_instance(BENCH / f"{inst}.fjs")
        start = construct(p, budget_s=0.2)
        ub = best.get(tuple(inst.split("/")))
        for v in vals:
            setattr(tabu, name, v)
            try:
                spans = []
                t0 = time.process_time()
                for seed in seeds:
                    plan = tabu_search(p, start, float("inf"), seed=seed, max_iters=steps)
                    assert validate_plan(p, plan) == [], f"{inst}: invalid plan"
                    spans.append(plan.makespan)
                cpu = time.process_time() - t0
            finally:
                setattr(tabu, name, keep)
            gap = 100.0 * (sum(spans) / len(spans) - ub) / ub if ub else float("nan")
            means[repr(v)].append(gap)
            rows.setdefault(inst, []).append(f"{' '.join(map(str, spans))} ({gap:.2f} %, {cpu:.0f} s)")
            print(f"  {inst} {name}={v!r}: {spans} gap {gap:.2f} % cpu {cpu:.1f} s", flush=True)
    print("\n| instance (ub) | " + " | ".join(f"{name}={v!r}" for v in vals) + " |")
    print("|---|" + "---|" * len(vals))
    for inst in names:
        ub = best.get(tuple(inst.split("/")))
        print(f"| {inst.split('/')[-1]} ({ub}) | " + " | ".join(rows[inst]) + " |")
    print("| **mean gap** | " + " | ".join(f"**{sum(g) / len(g):.2f} %**" for g in means.values()) + " |")


def _split(values: str) -> list[str]:
    """Comma-separated Python literals; commas inside brackets stay (tuples)."""
    out, depth, cur = [], 0, ""
    for ch in values:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default="brandimarte/mk06,brandimarte/mk10,behnke_geiger/behnke58")
    ap.add_argument("--steps", type=int, default=20000, help="compiled steps per instance")
    ap.add_argument("--py-steps", type=int, default=2000, help="Python steps per instance (also run compiled: "
                                                                "the plans must be identical)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ab", help="NAME=V1,V2,...: a tabu.py constant's values compared at --ab-steps steps")
    ap.add_argument("--ab-steps", type=int, default=300000)
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the --ab runs")
    args = ap.parse_args()
    if not tabu_steps.compiled():
        sys.exit("the compiled tabu step is not built (pip install -e . or python setup.py build_ext --inplace)"
                 " or IMEWE_SCHED_PURE=1 is set")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    if args.ab:
        ab(args.ab, args.instances.split(","), args.ab_steps, [int(x) for x in args.seeds.split(",")])
        return
    print(f"| instance | ops | machines | Python steps/CPU s | compiled steps/CPU s | speed-up | makespan after "
          f"{args.py_steps:,} Python steps | after {args.steps:,} compiled | same plan at {args.py_steps:,} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.instances.split(","):
        print(measure(name, args.steps, args.py_steps, args.seed), flush=True)


if __name__ == "__main__":
    main()
