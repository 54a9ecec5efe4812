"""Find machines on local serial ports: list the ports, probe each (``M115`` for Marlin, ``$I`` for GRBL).

Listing and probing touch hardware, so both are passed in by bootstrap (``app.devices.probe``); the core only
decides what to do with the answers and tells the rest of the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.core.bus import EventBus
from app.core.drivers import SerialFind
from app.core.events import NodeDiscovered

log = logging.getLogger(__name__)


PortLister = Callable[[], list[tuple[str, str]]]  # (device, description)
Prober = Callable[[str], Awaitable[SerialFind | None]]


class SerialScanner:
    def __init__(self, bus: EventBus, list_ports: PortLister, probe: Prober, *, concurrency: int = 4) -> None:
        self.bus = bus
        self._list_ports = list_ports
        self._probe = probe
        self._sem = asyncio.Semaphore(concurrency)
        self.found: dict[str, SerialFind] = {}

    async def scan(self, skip: set[str] | None = None) -> list[SerialFind]:
        """Probe every listed port not in ``skip`` (ports already driven must not be disturbed)."""
        ports = await asyncio.get_running_loop().run_in_executor(None, self._list_ports)
        targets = [(dev, desc) for dev, desc in ports if dev not in (skip or set())]
        results = await asyncio.gather(*(self._probe_one(dev, desc) for dev, desc in targets))
        finds = [r for r in results if r is not None]
        for f in finds:
            is_new = self.found.get(f.port) != f
            self.found[f.port] = f
            if is_new:
                props = {"protocol": f.protocol, "firmware": f.firmware, "description": f.description, **f.details}
                self.bus.publish(NodeDiscovered("serial", f.port, f.port, props))
        return finds

    async def _probe_one(self, dev: str, desc: str) -> SerialFind | None:
        async with self._sem:
            try:
                found = await self._probe(dev)
            except Exception as exc:  # a port that cannot be probed is simply not a machine we know
                log.info("probe of %s failed: %s", dev, exc)
                return None
        if found is None:
            return None
        return SerialFind(found.port, found.protocol, found.firmware, desc or found.description, found.details)
