"""Sites on the same LAN find each other: each announces ``_imewe-site._tcp.local.`` with its ID, and
browses for the others. Finding a site allows nothing: it only gives an address to a site already allowed,
and shows the admin who is around to pair with."""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from app.core.bus import EventBus
from app.core.sites.errors import BadSiteId
from app.core.sites.events import SiteFound
from app.core.sites.site_id import parse_site_id, short_id

log = logging.getLogger(__name__)
SERVICE = "_imewe-site._tcp.local."


class SiteDiscovery:
    def __init__(self, site_id: str, name: str, port: int, bus: EventBus, interfaces: list[str] | None = None,
                 service: str = SERVICE) -> None:
        """``service``: the type announced and browsed (tests: a type of their run's own)."""
        self.site_id = site_id
        self.service = service
        self.name = name
        self.port = port
        self.bus = bus
        self.interfaces = [i for i in (interfaces or []) if i]
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        # IPv4 only: the addresses we hand to the dialer are host:port and every LAN has IPv4.
        self._zc = AsyncZeroconf(interfaces=self.interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
        label = short_id(self.site_id)
        self._info = AsyncServiceInfo(
            self.service, f"{label}.{self.service}", port=self.port, properties={"id": self.site_id, "name": self.name[:100]},
            parsed_addresses=self.interfaces or _local_ipv4(), server=f"imewe-{label.lower()}.local.")
        await self._zc.async_register_service(self._info)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, self.service, handlers=[self._on_change])

    async def stop(self) -> None:
        if self._zc is None:
            return
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._info is not None:
            await self._zc.async_unregister_service(self._info)
        await self._zc.async_close()
        self._zc = None

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            task = asyncio.get_running_loop().create_task(self._resolve(zeroconf, service_type, name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zeroconf, 3000):
            return
        props = {k.decode(): (v or b"").decode(errors="replace") for k, v in (info.properties or {}).items()}
        try:
            site_id = parse_site_id(props.get("id", ""))
        except BadSiteId:
            log.info("ignoring a site announcement without a valid ID: %s", name)
            return
        if site_id == self.site_id:
            return
        addrs = info.parsed_addresses(IPVersion.V4Only)
        if addrs and info.port:
            self.bus.publish(SiteFound(site_id, f"{addrs[0]}:{info.port}", props.get("name", "")[:200]))


def _local_ipv4() -> list[str]:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing interface
            return [s.getsockname()[0]]
    except OSError:
        return ["127.0.0.1"]
