"""The platform kernel: boots services in dependency order, reports health and metrics, shuts down gracefully,
and registers machines (the spec's /kernel/* operations)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from app import __version__
from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Node
from app.core.domain.errors import ImeweError
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.ownership import SiteBusyError
from app.core.store.db import Store

log = logging.getLogger(__name__)


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> str: ...


@dataclass(slots=True)
class _Entry:
    service: Service
    depends_on: tuple[str, ...]
    status: str = "stopped"  # stopped, starting, running, failed, stopping
    error: str = ""
    started_at: float | None = None


@dataclass(slots=True)
class KernelStatus:
    version: str
    state: str
    uptime_s: float
    services: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state == "running" and all(s["health"] == "ok" for s in self.services.values())


class Kernel:
    def __init__(self, store: Store, bus: EventBus, clock: Clock, fleet: FleetService, jobs: JobService) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.fleet = fleet
        self.jobs = jobs
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._state = "stopped"
        self._booted_at: float | None = None
        self.add(fleet)
        self.add(jobs, depends_on=("fleet",))

    def add(self, service: Service, depends_on: tuple[str, ...] = ()) -> None:
        if service.name in self._entries:
            raise ImeweError(f"service {service.name} is added twice")
        self._entries[service.name] = _Entry(service, tuple(depends_on))

    def boot_order(self) -> list[str]:
        order: list[str] = []
        marks: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name not in self._entries:
                raise ImeweError(f"service {path[-1]} needs {name}, which is not installed")
            if marks.get(name) == 1:
                raise ImeweError(f"services depend on each other in a circle: {' -> '.join((*path, name))}")
            if marks.get(name) == 2:
                return
            marks[name] = 1
            for dep in self._entries[name].depends_on:
                visit(dep, (*path, name))
            marks[name] = 2
            order.append(name)

        for name in self._entries:
            visit(name, (name,))
        return order

    async def boot(self) -> KernelStatus:
        """Start every service after the ones it needs; a failed service stops the boot with its reason."""
        self._state = "booting"
        self.bus.start()
        self._order = self.boot_order()
        for name in self._order:
            entry = self._entries[name]
            entry.status = "starting"
            try:
                await entry.service.start()
            except Exception as exc:
                entry.status, entry.error = "failed", str(exc) or type(exc).__name__
                self._state = "failed"
                if isinstance(exc, SiteBusyError):  # not a fault: another process owns the site, say who
                    log.warning("%s", exc)
                    await self.shutdown()
                    raise
                log.exception("service %s failed to start", name)
                await self.shutdown()
                raise ImeweError(f"service {name} failed to start: {entry.error}") from exc
            entry.status, entry.started_at = "running", time.monotonic()
            log.info("service %s running", name)
        self._state = "running"
        self._booted_at = time.monotonic()
        return self.status()

    def status(self) -> KernelStatus:
        services = {}
        for name, e in self._entries.items():
            health = e.service.health() if e.status == "running" else (e.error or e.status)
            services[name] = {"status": e.status, "health": health}
        uptime = time.monotonic() - self._booted_at if self._booted_at else 0.0
        return KernelStatus(__version__, self._state, uptime, services)

    async def metrics(self) -> dict[str, Any]:
        jobs = await self.jobs.counts_by_state()
        return {
            "uptime_s": round(self.status().uptime_s, 3),
            "jobs_by_state": jobs,
            "jobs_total": sum(jobs.values()),
            "nodes_by_state": self.fleet.counts_by_state(),
            "nodes_total": len(self.fleet.list()),
            "queues": self.bus.stats(),
            "db_size_bytes": await self.store.run(self.store.size_bytes),
            "db": self.store.url,
        }

    async def register_node(self, name: str, capabilities: dict[str, Any], **kw: Any) -> Node:
        return await self.fleet.register(name, capabilities, **kw)

    async def shutdown(self) -> None:
        """Stop services in reverse order, let queued events and in-flight writes finish, close the store."""
        if self._state == "stopped":
            return
        self._state = "stopping"
        await self.bus.drain()
        for name in reversed(self._order or list(self._entries)):
            entry = self._entries[name]
            if entry.status not in ("running", "failed"):
                continue
            entry.status = "stopping"
            try:
                await entry.service.stop()
            except Exception:  # keep stopping the others
                log.exception("service %s failed to stop cleanly", name)
            entry.status = "stopped"
        await self.bus.close()
        self.store.close()
        self._state = "stopped"
