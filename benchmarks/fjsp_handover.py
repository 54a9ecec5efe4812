"""A/B of the portfolio's handover (a stalled tabu search gives its core to CP-SAT), same run, back to back:
the portfolio with it on and off (order alternating per instance) and plain CP-SAT with the same 2 workers.

    .venv/bin/python benchmarks/fjsp_handover.py --instances brandimarte/mk06,brandimarte/mk07 --budgets 10,60
    .venv/bin/python benchmarks/fjsp_handover.py --instances dauzere_paulli/01a,dauzere_paulli/02a --budgets 60

One JSON line per instance and budget (makespans, who found the plan, when the search handed over, walls, the
1-minute load average); every plan goes through the independent validator.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.scheduling.constructive import construct  # noqa: E402
from app.core.scheduling.cpsat import cpsat_improve  # noqa: E402
from app.core.scheduling.fjs_io import load_instance  # noqa: E402
from app.core.scheduling.validate import validate_plan  # noqa: E402

portfolio = importlib.import_module("app.core.scheduling.optimize")
BENCH = Path(os.environ.get("IMEWE_SHARED", ROOT / ".." / "shared")).resolve() / "bench" / "fjsp"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", required=True, help="set/name,... e.g. dauzere_paulli/01a")
    ap.add_argument("--budgets", default="60", help="seconds, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plain", action="store_true", help="leave out plain CP-SAT")
    args = ap.parse_args()
    try:
        budgets = [float(b) for b in args.budgets.split(",")]
        names = [tuple(x.split("/")) for x in args.instances.split(",")]
        if any(len(n) != 2 for n in names):
            raise ValueError("each instance is set/name")
    except ValueError as exc:
        print(f"bad arguments: {exc}", file=sys.stderr)
        return 2
    print(f"# load average {os.getloadavg()}", flush=True)
    k = 0
    for b in budgets:
        for st, name in names:
            path = BENCH / st / f"{name}.fjs"
            if not path.is_file():
                print(f"no instance {path}", file=sys.stderr)
                return 2
            p = load_instance(path)
            row: dict[str, object] = {"instance": f"{st}/{name}", "budget_s": b}
            for mode in (("on", "off") if k % 2 == 0 else ("off", "on")):
                portfolio.HANDOVER = mode == "on"
                t = time.perf_counter()
                plan = portfolio.optimize(p, b, seed=args.seed, workers=2)
                row[mode] = plan.makespan
                row[f"{mode}_found_by"] = plan.stats.get("found_by")
                row[f"{mode}_handover_at_s"] = plan.stats.get("handover_at_s")
                row[f"{mode}_wall_s"] = round(time.perf_counter() - t, 2)
                row[f"{mode}_valid"] = not validate_plan(p, plan)
            k += 1
            if not args.no_plain:
                plain = cpsat_improve(p, construct(p), b, seed=args.seed, workers=2, hinted=False)
                row["plain_cpsat"] = plain.makespan
                row["plain_valid"] = not validate_plan(p, plain)
            row["load_1min"] = round(os.getloadavg()[0], 1)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
