"""Issue 11: what a CLI command pays to go through the site's owner. Each operation through the control channel
(HTTP on 127.0.0.1, a new client session per call as the CLI makes it, the bearer token checked) next to the
same operation run in the owner's own process in the same run (the floor).

    .venv/bin/python benchmarks/control.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_core, site_ops, wire_control_channel  # noqa: E402
from app.core.api.channel import read_channel  # noqa: E402
from app.core.api.client import OwnerClient  # noqa: E402
from app.core.api.operations import OPS  # noqa: E402
from app.core.config import load_config  # noqa: E402

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"]}


def spec(i: int) -> dict:
    return {"name": f"job {i}", "priority": 5, "parts": [
        {"name": f"p{i}", "process": "fdm", "material": "pla", "size": [20, 20, 10]}]}


async def timed(n: int, call) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t0)
    return out


def line(name: str, channel: list[float], local: list[float]) -> str:
    c50, l50 = statistics.median(channel) * 1e3, statistics.median(local) * 1e3
    c95 = sorted(channel)[int(0.95 * len(channel))] * 1e3
    return (f"{name:<14} channel median {c50:7.2f} ms (p95 {c95:7.2f})   in-process median {l50:7.2f} ms   "
            f"ratio {c50 / l50:5.1f}x")


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        core = build_core(load_config(home), connect_machines=False)
        wire_control_channel(core, "bench")
        await core.kernel.boot()
        try:
            await core.fleet.register("p1", FDM, bring_up=True)
            client = OwnerClient(read_channel(Path(home)))
            site = site_ops(core, "bench")
            status_c = await timed(calls, lambda i: client.call(OPS["kernel.status"], {}))
            status_l = await timed(calls, lambda i: OPS["kernel.status"].run(site, {}))
            submit_c = await timed(calls, lambda i: client.call(OPS["jobs.submit"], {"spec": spec(i)}))
            submit_l = await timed(calls, lambda i: OPS["jobs.submit"].run(site, {"spec": spec(i)}))
        finally:
            await core.kernel.shutdown()
    print(f"control channel, {calls} calls each (SQLite, WAL, synchronous=FULL)")
    print(line("kernel.status", status_c, status_l))
    print(line("jobs.submit", submit_c, submit_l))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    asyncio.run(main(ap.parse_args().calls))
