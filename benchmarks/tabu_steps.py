"""Tabu steps per CPU second, compiled (``_tabu_step``) against Python, from the same start plan in the same run.

    .venv/bin/python benchmarks/tabu_steps.py                         # mk06, mk10, behnke58
    .venv/bin/python benchmarks/tabu_steps.py --instances brandimarte/mk10 --steps 30000 --py-steps 3000

Both run ``tabu_search(..., max_iters=N)`` with the same seed (restarts and the elite pool included), timed in
CPU seconds of this process (load-independent, as far as a shared machine allows); where both ran the same number
of steps the plans are checked identical. Every plan goes through the validator.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.scheduling import tabu_steps  # noqa: E402
from app.core.scheduling.constructive import construct  # noqa: E402
from app.core.scheduling.fjs_io import load_instance  # noqa: E402
from app.core.scheduling.tabu import tabu_search  # noqa: E402
from app.core.scheduling.validate import validate_plan  # noqa: E402

SHARED = Path(os.environ.get("IMEWE_SHARED", ROOT / ".." / "shared")).resolve()
BENCH = SHARED / "bench" / "fjsp"


def measure(name: str, steps: int, py_steps: int, seed: int) -> str:
    p = load_instance(BENCH / f"{name}.fjs")
    start = construct(p, budget_s=0.2)
    row = []
    plans = {}
    for pure, n in ((True, py_steps), (False, steps), (False, py_steps)):
        t0 = time.process_time()
        plan = tabu_search(p, start, float("inf"), seed=seed, max_iters=n, pure=pure)
        cpu = time.process_time() - t0
        assert validate_plan(p, plan) == [], f"{name}: invalid plan"
        plans[(pure, n)] = plan
        if (pure, n) != (False, py_steps):
            row.append((n / cpu, plan.makespan))
    same = (plans[(True, py_steps)].machine, plans[(True, py_steps)].start) == \
        (plans[(False, py_steps)].machine, plans[(False, py_steps)].start)
    (py_rate, py_c), (c_rate, c_c) = row
    return (f"| {name.split('/')[-1]} | {p.n_ops} | {p.n_machines} | {py_rate:,.0f} | {c_rate:,.0f} | "
            f"{c_rate / py_rate:.1f} x | {py_c} | {c_c} | {'yes' if same else 'NO'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default="brandimarte/mk06,brandimarte/mk10,behnke_geiger/behnke58")
    ap.add_argument("--steps", type=int, default=20000, help="compiled steps per instance")
    ap.add_argument("--py-steps", type=int, default=2000, help="Python steps per instance (also run compiled: "
                                                                "the plans must be identical)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not tabu_steps.compiled():
        sys.exit("the compiled tabu step is not built (pip install -e . or python setup.py build_ext --inplace)"
                 " or IMEWE_SCHED_PURE=1 is set")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    print(f"| instance | ops | machines | Python steps/CPU s | compiled steps/CPU s | speed-up | makespan after "
          f"{args.py_steps:,} Python steps | after {args.steps:,} compiled | same plan at {args.py_steps:,} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.instances.split(","):
        print(measure(name, args.steps, args.py_steps, args.seed), flush=True)


if __name__ == "__main__":
    main()
