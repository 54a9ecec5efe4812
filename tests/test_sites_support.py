"""Test rigs for site links: whole sites (own home, own SQLite store, real TLS on 127.0.0.1) and a TCP proxy
that cuts connections on demand. No tests here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.core.bus import EventBus
from app.core.clock import Clock, SystemClock
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.kernel import Kernel
from app.core.sites.config import SitesConfig
from app.core.sites.follow import cancel_follows
from app.core.sites.identity import load_or_create_identity
from app.core.sites.service import SitesService
from app.core.store.db import Store, _make_engine, open_store

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla", "petg"], "loaded_material": "pla",
       "max_power_w": 350}


def fast_config(name: str, **over: Any) -> SitesConfig:
    cfg = SitesConfig(name=name, host="127.0.0.1", port=0, heartbeat_s=0.3, dead_after_s=3.0, backoff_base_s=0.05,
                      backoff_max_s=0.4, retry_s=1.0, summary_s=0.5, discovery=False)
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


@dataclass(slots=True)
class MiniCore:
    """The foundation's core (store, bus, fleet, jobs, kernel) without the other teams' services, so these
    tests see the site links alone; the test itself plays the remote planner and machines."""

    store: Store
    bus: EventBus
    clock: Clock
    kernel: Kernel
    fleet: FleetService
    jobs: JobService


def mini_core(db_url: str, clock: Clock) -> MiniCore:
    store = open_store(db_url)
    bus = EventBus()
    fleet = FleetService(store, bus, clock)
    jobs = JobService(store, bus, clock, fleet.list)
    jobs.add_write_hook(cancel_follows)  # as bootstrap wires it
    return MiniCore(store, bus, clock, Kernel(store, bus, clock, fleet, jobs), fleet, jobs)


def dump_database(db_url: str) -> dict[str, list[str]]:
    """Every row of every table of a database, in a stable order: to check that nothing was written."""
    engine = _make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {name: sorted(repr(tuple(r)) for r in conn.execute(sa.text(f"SELECT * FROM {name}")))
                    for name in sorted(sa.inspect(conn).get_table_names())}
    finally:
        engine.dispose()


class SiteRig:
    """One Imewe site: its own home folder, SQLite file, identity and site-link service."""

    def __init__(self, root: Path, name: str, clock: Clock | None = None, db_url: str | None = None,
                 **cfg: Any) -> None:
        self.name = name
        self.clock = clock or SystemClock()
        self.home = root / name
        self.db_url = db_url or f"sqlite:///{self.home / 'imewe.sqlite3'}"
        self.cfg = cfg
        self.port = 0
        self.core: MiniCore | None = None
        self.sites: SitesService | None = None
        self.identity = load_or_create_identity(self.home / "keys", name)

    @property
    def id(self) -> str:
        return self.identity.site_id

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> SiteRig:
        self.home.mkdir(parents=True, exist_ok=True)
        self.core = mini_core(self.db_url, self.clock)
        self.sites = SitesService(self.core.store, self.core.bus, self.core.clock, self.identity, self.core.jobs,
                                  self.core.fleet.list, fast_config(self.name, port=self.port, **self.cfg),
                                  noise_seed=1)
        self.core.kernel.add(self.sites, depends_on=("jobs",))
        await self.core.kernel.boot()
        self.port = self.sites.port  # a restart comes back on the same port
        return self

    async def stop(self) -> None:
        if self.core is not None:
            await self.core.kernel.shutdown()
        self.core = self.sites = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def dump(self) -> dict[str, list[str]]:
        """Every row of every table, in a stable order: to check that nothing was written."""
        return dump_database(self.db_url)

    def rows(self, sql: str) -> list[tuple]:
        """What the site's database holds now, read on a connection of its own (SQLite or PostgreSQL)."""
        engine = _make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(sql))]
        finally:
            engine.dispose()


async def wait_for(cond: Callable[[], Awaitable[bool] | bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class CutProxy:
    """A TCP proxy on 127.0.0.1 that can drop every connection and refuse new ones (a broken WAN link)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.up = True
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> CutProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, w2}
        await asyncio.gather(self._pipe(reader, w2), self._pipe(r2, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def cut(self) -> None:
        """Drop every open connection at once (RST-like: no websocket close handshake)."""
        self.cuts += 1
        for w in list(self._writers):
            transport = w.transport
            transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
