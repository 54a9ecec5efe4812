"""Site links: round-trip latency and messages per second of our link (mutual TLS websockets, versioned JSON,
schema check, sequence check, rate limiter, dispatch) against a bare websockets echo over the same mutual TLS,
both on 127.0.0.1 in the same run.

Run from the repo root: .venv/bin/python benchmarks/sites.py [--rtt 2000] [--burst 8000]
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

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402

from app.core.bus import EventBus  # noqa: E402
from app.core.clock import SystemClock  # noqa: E402
from app.core.fleet.service import FleetService  # noqa: E402
from app.core.jobs.service import JobService  # noqa: E402
from app.core.sites import tls  # noqa: E402
from app.core.sites.config import SitesConfig  # noqa: E402
from app.core.sites.identity import load_or_create_identity  # noqa: E402
from app.core.sites.link import WS_OPTIONS  # noqa: E402
from app.core.sites.protocol import encode  # noqa: E402
from app.core.sites.service import SitesService  # noqa: E402
from app.core.store.db import open_store  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def bare_echo(root: Path, n_rtt: int, n_burst: int) -> tuple[list[float], float]:
    a = load_or_create_identity(root / "ea", "echo-a")
    b = load_or_create_identity(root / "eb", "echo-b")

    async def echo(ws) -> None:
        async for m in ws:
            await ws.send(m)

    ctx = tls.server_context(a, lambda: tls.server_link_context(a, [b.cert_der]))
    async with serve(echo, "127.0.0.1", 0, ssl=ctx, **WS_OPTIONS) as srv:
        port = srv.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/link", ssl=tls.client_context(b, a.cert_der),
                           server_hostname=tls.LINK_NAME, **WS_OPTIONS) as ws:
            rtts = []
            for i in range(n_rtt):
                t = time.monotonic()
                await ws.send(encode("ping", i + 1, {"t": t}))
                await ws.recv()
                rtts.append(time.monotonic() - t)
            t0 = time.monotonic()

            async def send_all() -> None:
                for i in range(n_burst):
                    await ws.send(encode("ping", n_rtt + i + 1, {"t": time.monotonic()}))

            sender = asyncio.create_task(send_all())
            for _ in range(n_burst):
                await ws.recv()
            await sender
            return rtts, n_burst / (time.monotonic() - t0)


async def our_link(root: Path, n_rtt: int, n_burst: int) -> tuple[list[float], float]:
    services = []
    for name in ("alpha", "beta"):
        store = open_store(f"sqlite:///{root / name / 'db.sqlite3'}")
        bus, clock = EventBus(), SystemClock()
        fleet = FleetService(store, bus, clock)
        jobs = JobService(store, bus, clock, fleet.list)
        ident = load_or_create_identity(root / name / "keys", name)
        cfg = SitesConfig(name=name, host="127.0.0.1", port=0, discovery=False, heartbeat_s=60, summary_s=1e6,
                          dead_after_s=600)
        svc = SitesService(store, bus, clock, ident, jobs, fleet.list, cfg)
        bus.start()
        await svc.start()
        services.append((svc, store, bus))
    (a, _, _), (b, _, _) = services
    await a.admin.pair(b.identity.site_id, f"127.0.0.1:{b.port}", "beta")
    await b.admin.accept(a.identity.site_id)
    while a.link(b.identity.site_id) is None or b.link(a.identity.site_id) is None:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # let the hello and the first summaries pass
    link = a.link(b.identity.site_id)
    loop = asyncio.get_running_loop()
    rtts = []
    try:
        for _ in range(n_rtt):
            link.pong_waiter = loop.create_future()
            t = time.monotonic()
            await link.send("ping", {"t": t})
            await link.pong_waiter
            rtts.append(time.monotonic() - t)
        link.pong_waiter = None
        start_pongs = link.pongs
        t0 = time.monotonic()
        for _ in range(n_burst):
            await link.send("ping", {"t": time.monotonic()})
        while link.pongs - start_pongs < n_burst:
            await asyncio.sleep(0.0005)
        rate = n_burst / (time.monotonic() - t0)
    finally:
        for svc, store, bus in services:
            await svc.stop()
            await bus.close()
            store.close()
    return rtts, rate


async def main(n_rtt: int, n_burst: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Warm-up of both paths (imports, first handshakes), then the measured runs.
        await bare_echo(root / "w", 100, 500)
        echo_rtt, echo_rate = await bare_echo(root, n_rtt, n_burst)
        link_rtt, link_rate = await our_link(root, n_rtt, n_burst)
    e50, e95 = pct(echo_rtt, 0.5) * 1e6, pct(echo_rtt, 0.95) * 1e6
    l50, l95 = pct(link_rtt, 0.5) * 1e6, pct(link_rtt, 0.95) * 1e6
    print(f"round trips: {n_rtt}, pipelined burst: {n_burst} messages (within the default rate limit burst)")
    print(f"{'':24}{'our link':>14}{'bare echo':>14}{'ratio':>10}{'target':>12}")
    print(f"{'latency p50 (us)':24}{l50:14.0f}{e50:14.0f}{l50 / e50:10.2f}{'<= 1.5':>12}")
    print(f"{'latency p95 (us)':24}{l95:14.0f}{e95:14.0f}{l95 / e95:10.2f}{'<= 1.5':>12}")
    print(f"{'latency mean (us)':24}{statistics.mean(link_rtt) * 1e6:14.0f}"
          f"{statistics.mean(echo_rtt) * 1e6:14.0f}")
    print(f"{'messages/s':24}{link_rate:14.0f}{echo_rate:14.0f}{link_rate / echo_rate:10.2f}{'>= 0.5':>12}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rtt", type=int, default=2000)
    ap.add_argument("--burst", type=int, default=8000)
    ns = ap.parse_args()
    asyncio.run(main(ns.rtt, ns.burst))
