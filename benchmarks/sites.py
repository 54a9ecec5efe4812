"""Site links: round-trip latency and messages per second of our link (mutual TLS websockets, versioned JSON,
schema check, sequence check, rate limiter, dispatch) against a bare websockets echo over the same mutual TLS,
both on 127.0.0.1 in the same run.

Run from the repo root: .venv/bin/python benchmarks/sites.py [--rounds 5] [--rtt 400] [--burst 4000]
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


class Echo:
    """A bare websockets echo over the same mutual TLS (same certificates, same options)."""

    async def start(self, root: Path) -> Echo:
        a = load_or_create_identity(root / "ea", "echo-a")
        b = load_or_create_identity(root / "eb", "echo-b")

        async def echo(ws) -> None:
            async for m in ws:
                await ws.send(m)

        ctx = tls.server_context(a, lambda: tls.server_link_context(a, [b.cert_der]))
        self.server = await serve(echo, "127.0.0.1", 0, ssl=ctx, **WS_OPTIONS)
        port = self.server.sockets[0].getsockname()[1]
        self.ws = await connect(f"wss://127.0.0.1:{port}/link", ssl=tls.client_context(b, a.cert_der),
                                server_hostname=tls.LINK_NAME, **WS_OPTIONS)
        self.seq = 0
        return self

    async def rtt(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            self.seq += 1
            t = time.monotonic()
            await self.ws.send(encode("ping", self.seq, {"t": t}))
            await self.ws.recv()
            out.append(time.monotonic() - t)
        return out

    async def burst(self, n: int) -> float:
        t0 = time.monotonic()

        async def send_all() -> None:
            for _ in range(n):
                self.seq += 1
                await self.ws.send(encode("ping", self.seq, {"t": time.monotonic()}))

        sender = asyncio.create_task(send_all())
        for _ in range(n):
            await self.ws.recv()
        await sender
        return n / (time.monotonic() - t0)

    async def stop(self) -> None:
        await self.ws.close()
        self.server.close()
        await self.server.wait_closed()


class OurLink:
    """Two site-link services paired on 127.0.0.1; pings and pongs through the whole protocol stack."""

    async def start(self, root: Path) -> OurLink:
        self.services = []
        for name in ("alpha", "beta"):
            store = open_store(f"sqlite:///{root / name / 'db.sqlite3'}")
            bus, clock = EventBus(), SystemClock()
            fleet = FleetService(store, bus, clock)
            jobs = JobService(store, bus, clock, fleet.list)
            ident = load_or_create_identity(root / name / "keys", name)
            cfg = SitesConfig(name=name, host="127.0.0.1", port=0, discovery=False, heartbeat_s=60, summary_s=1e6,
                              dead_after_s=600)  # defaults otherwise: rate limit 5000/s, burst 10000
            svc = SitesService(store, bus, clock, ident, jobs, fleet.list, cfg)
            bus.start()
            await svc.start()
            self.services.append((svc, store, bus))
        (a, _, _), (b, _, _) = self.services
        await a.admin.pair(b.identity.site_id, f"127.0.0.1:{b.port}", "beta")
        await b.admin.accept(a.identity.site_id)
        while a.link(b.identity.site_id) is None or b.link(a.identity.site_id) is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # let the hellos and the first summaries pass
        self.link = a.link(b.identity.site_id)
        return self

    async def rtt(self, n: int) -> list[float]:
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(n):
            self.link.pong_waiter = loop.create_future()
            t = time.monotonic()
            await self.link.send("ping", {"t": t})
            await self.link.pong_waiter
            out.append(time.monotonic() - t)
        self.link.pong_waiter = None
        return out

    async def burst(self, n: int) -> float:
        start = self.link.pongs
        t0 = time.monotonic()
        for _ in range(n):
            await self.link.send("ping", {"t": time.monotonic()})
        while self.link.pongs - start < n:
            await asyncio.sleep(0.0005)
        return n / (time.monotonic() - t0)

    async def stop(self) -> None:
        for svc, store, bus in self.services:
            await svc.stop()
            await bus.close()
            store.close()


async def main(rounds: int, n_rtt: int, n_burst: int) -> None:
    """Both paths stay up and take turns, round after round: a busy shared machine hits both alike."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        echo, ours = await Echo().start(root), await OurLink().start(root)
        try:
            await echo.rtt(200)
            await ours.rtt(200)  # warm-up
            e_rtt: list[float] = []
            l_rtt: list[float] = []
            e_rate: list[float] = []
            l_rate: list[float] = []
            for _ in range(rounds):
                e_rtt += await echo.rtt(n_rtt)
                l_rtt += await ours.rtt(n_rtt)
                e_rate.append(await echo.burst(n_burst))
                await asyncio.sleep(n_burst / 5000)  # our rate limit bucket refills between bursts
                l_rate.append(await ours.burst(n_burst))
        finally:
            await ours.stop()
            await echo.stop()
    e50, e95 = pct(e_rtt, 0.5) * 1e6, pct(e_rtt, 0.95) * 1e6
    l50, l95 = pct(l_rtt, 0.5) * 1e6, pct(l_rtt, 0.95) * 1e6
    er, lr = statistics.median(e_rate), statistics.median(l_rate)
    print(f"{rounds} interleaved rounds of {n_rtt} round trips and a {n_burst}-message pipelined burst each")
    print(f"{'':24}{'our link':>14}{'bare echo':>14}{'ratio':>10}{'target':>12}")
    print(f"{'latency p50 (us)':24}{l50:14.0f}{e50:14.0f}{l50 / e50:10.2f}{'<= 1.5':>12}")
    print(f"{'latency p95 (us)':24}{l95:14.0f}{e95:14.0f}{l95 / e95:10.2f}{'<= 1.5':>12}")
    print(f"{'messages/s (median)':24}{lr:14.0f}{er:14.0f}{lr / er:10.2f}{'>= 0.5':>12}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rtt", type=int, default=400)
    ap.add_argument("--burst", type=int, default=4000)
    ns = ap.parse_args()
    asyncio.run(main(ns.rounds, ns.rtt, ns.burst))
