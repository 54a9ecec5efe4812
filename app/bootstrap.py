"""The one place that builds concrete stores, services and drivers and wires them together."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.core.bus import EventBus
from app.core.clock import Clock, SystemClock
from app.core.config import Config, load_config
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.kernel import Kernel
from app.core.store.db import Store, open_store


@dataclass(slots=True)
class Core:
    config: Config
    store: Store
    bus: EventBus
    clock: Clock
    kernel: Kernel
    fleet: FleetService
    jobs: JobService


def setup_logging(config: Config, to_stderr: bool = False) -> None:
    config.paths.ensure()
    root = logging.getLogger()
    if any(getattr(h, "_imewe", False) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(config.paths.logs / "imewe.log", maxBytes=5_000_000,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._imewe = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(config.log_level)


def build_core(config: Config, clock: Clock | None = None) -> Core:
    config.paths.ensure()
    clock = clock or SystemClock()
    store = open_store(config.db_url)
    bus = EventBus()
    fleet = FleetService(store, bus, clock)
    jobs = JobService(store, bus, clock, fleet.list)
    kernel = Kernel(store, bus, clock, fleet, jobs)
    return Core(config, store, bus, clock, kernel, fleet, jobs)


@asynccontextmanager
async def running_core(home: str | None = None, db_url: str | None = None,
                       clock: Clock | None = None) -> AsyncIterator[Core]:
    """Boot the core for one CLI command or test, and always shut it down cleanly."""
    config = load_config(home, db_url)
    setup_logging(config)
    core = build_core(config, clock)
    try:
        await core.kernel.boot()
        yield core
    finally:
        await core.kernel.shutdown()
