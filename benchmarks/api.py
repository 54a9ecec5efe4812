"""Issue 14: the local API's cost. Requests per second and p95 latency of GET /jobs (1,000 jobs) and POST /jobs
through the API (HTTP on 127.0.0.1, one kept-alive client session, an API key checked on every request) next to
the same operations called in-process in the same run; the permission check's cost per call; and the window acting as
its signed-in person (an emergency stop and a job submitted through app/ui/acting.py) next to the same calls made
with the person in hand.

    PYTHONPATH=. .venv/bin/python benchmarks/api.py [--calls 200] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from app.bootstrap import build_core, site_ops, user_service, wire_control_channel  # noqa: E402
from app.core.api.channel import read_channel  # noqa: E402
from app.core.api.operations import run_op  # noqa: E402
from app.core.api.operations_read import READ_OPS  # noqa: E402
from app.core.auth.permissions import Action, Role  # noqa: E402
from app.core.auth.principal import Actor, authorize  # noqa: E402
from app.core.config import load_config  # noqa: E402

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"]}
PASSWORD = "benchmark pass 1"
OUT = Path(__file__).resolve().parent / "results" / "api.md"
NOTE = (" GET /jobs is dominated by reading 1,000 jobs with their parts from the store, which the in-process call"
        " pays too; compare the ratios, the machine is shared.")


def spec(i: int) -> dict:
    return {"name": f"job {i}", "priority": 5, "parts": [
        {"name": f"p{i}", "process": "fdm", "material": "pla", "size": [20, 20, 10]}]}


def stats(samples: list[float]) -> tuple[float, float, float]:
    """(requests per second, median ms, p95 ms) of sequential calls."""
    p95 = sorted(samples)[int(0.95 * (len(samples) - 1))] * 1e3
    return len(samples) / sum(samples), statistics.median(samples) * 1e3, p95


async def timed(n: int, call) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t0)
    return out


async def run(calls: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as home:
        core = build_core(load_config(home), connect_machines=False, plan_budget_s=0.05)
        wire_control_channel(core, "bench")
        await core.kernel.boot()
        try:
            await core.fleet.register("p1", FDM, bring_up=True)
            users = user_service(core.config, core.store, core.clock)
            await users.create_admin("root", PASSWORD)
            root = await users.resolve((await users.login("root", PASSWORD))[0])
            await users.add(root, "olga", PASSWORD, "operator")
            secret, _ = await users.create_key(root, "bench", "read,submit", 86400, "olga")
            session, _ = await users.login("olga", PASSWORD)
            await core.jobs.submit_batch([spec(i) for i in range(1000)])
            info = read_channel(Path(home))
            site = site_ops(core, "bench")
            olga = Actor("olga", Role.OPERATOR, scopes=frozenset({Action.READ, Action.SUBMIT}), kind="key")
            list_op = next(op for op in READ_OPS if op.name == "jobs.list")
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
            async with aiohttp.ClientSession(headers=headers) as http:
                async def get_jobs(_: int) -> None:
                    async with http.get(f"{info.url}/jobs?limit=1000") as r:
                        assert r.status == 200 and len(await r.json()) >= 1000

                async def post_job(i: int) -> None:
                    async with http.post(f"{info.url}/jobs", data=json.dumps({"spec": spec(i)})) as r:
                        assert r.status == 200, await r.text()

                await get_jobs(0)  # warm
                api_get = await timed(calls, get_jobs)
                local_get = await timed(calls, lambda i: run_op(list_op, site, {"limit": 1000}, olga))
                api_post = await timed(calls, post_job)
                local_post = await timed(calls, lambda i: core.jobs.submit(spec(i), actor=olga))
            for name, api, local in (("GET /jobs (1,000 jobs)", api_get, local_get),
                                     ("POST /jobs (one part)", api_post, local_post)):
                a, b = stats(api), stats(local)
                rows.append((f"{name}: API, API key checked each request",
                             f"{a[0]:.1f} req/s, p95 {a[2]:.2f} ms (median {a[1]:.2f})",
                             f"in-process {b[0]:.1f} calls/s, p95 {b[2]:.2f} ms (ratio {a[0] / b[0]:.2f})"))
            n = 200_000
            check = timeit.timeit(lambda: authorize(olga, Action.SUBMIT), number=n) / n
            noop = timeit.timeit(lambda: None, number=n) / n
            rows.append(("permission check (`authorize`, an API key's actor)", f"{check * 1e9:.0f} ns per call",
                         f"an empty Python call {noop * 1e9:.0f} ns (ratio {check / noop:.1f})"))
            key_res = await timed(calls, lambda i: users.resolve(secret))
            tok_res = await timed(calls, lambda i: users.resolve(session))
            rows.append(("who asks: API key → person (SHA-256 + one indexed read on the store thread)",
                         f"median {statistics.median(key_res) * 1e6:.0f} µs",
                         f"session token (HMAC + one read) median {statistics.median(tok_res) * 1e6:.0f} µs"))
            rows += await window_rows(core, calls, olga)
        finally:
            await core.kernel.shutdown()
    return rows


async def window_rows(core, calls: int, olga_key: Actor) -> list[tuple[str, str, str]]:
    """The window acting as its signed-in person (app/ui/acting.py): an emergency stop (answered from memory) and a
    job submitted (the session re-read on the store, then the table checked), next to the same calls made with
    the person already in hand."""
    from app.ui.acting import JOBS, ActingControl, ActingPort
    from app.ui.actions import DriverMapControl
    from app.ui.session import WindowSession
    from app.window_ports import admin_access

    class Stop:
        async def emergency_stop(self) -> None:
            return None

    node = core.fleet.list()[0].id
    control = DriverMapControl({node: Stop()})
    session = WindowSession(admin_access(core), lambda: core.clock.now().timestamp())
    await session.start()
    olga = await session.sign_in("olga", PASSWORD)
    acting_control, acting_jobs = ActingControl(control, session), ActingPort(core.jobs, session, JOBS)

    async def interleaved(n: int, window, direct) -> tuple[list[float], list[float]]:
        """Alternate the two calls, so a store that grows or a busy moment weighs on both alike."""
        a, b = [], []
        for i in range(n):
            t0 = time.perf_counter()
            await window(2 * i)
            t1 = time.perf_counter()
            await direct(2 * i + 1)
            a.append(t1 - t0)
            b.append(time.perf_counter() - t1)
        return a, b

    stop_window, stop_direct = await interleaved(
        calls * 50, lambda i: acting_control.request_emergency_stop(node),
        lambda i: control.request_emergency_stop(node, actor=olga))
    sub_window, sub_direct = await interleaved(
        calls, lambda i: acting_jobs.submit(spec(i)), lambda i: core.jobs.submit(spec(i), actor=olga))
    med = statistics.median
    return [
        ("window e-stop as the signed-in person (session from memory + table check), to the driver",
         f"median {med(stop_window) * 1e6:.1f} µs, p95 {stats(stop_window)[2] * 1e3:.1f} µs",
         f"the same call with the person in hand: median {med(stop_direct) * 1e6:.1f} µs"),
        ("window job submit as the signed-in person (session re-read on the store + table check)",
         f"median {med(sub_window) * 1e3:.2f} ms, p95 {stats(sub_window)[2]:.2f} ms",
         f"JobService.submit with the person in hand: median {med(sub_direct) * 1e3:.2f} ms"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--write", action="store_true", help=f"write {OUT}")
    args = ap.parse_args()
    rows = asyncio.run(run(args.calls))
    for r in rows:
        print(" | ".join(r))
    if args.write:
        load = os.getloadavg()[0]
        text = ["# Local API and permissions (issue 14)", "",
                f"Command: `PYTHONPATH=. .venv/bin/python benchmarks/api.py --calls {args.calls} --write` (2-core "
                f"shared machine, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average at the end {load:.1f}). "
                "Sequential calls from one kept-alive aiohttp client in the same process and event loop as the "
                "site (so the client's own work is in the API figure); SQLite store." + NOTE, "",
                "| what | figure | reference (same run) |", "|---|---|---|"]
        text += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        OUT.write_text("\n".join(text) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
