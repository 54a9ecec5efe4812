"""Announce a node agent as ``_imewe-node._tcp.local.`` so control rooms find it by themselves."""

from __future__ import annotations

import logging
import socket

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, NonUniqueNameException
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from app.core.domain.errors import DeviceError
from app.devices.agent_protocol import SERVICE_TYPE

log = logging.getLogger(__name__)


def _instance_name(name: str) -> str:
    # DNS-SD instance names are free text up to 63 bytes; keep them readable and safe.
    clean = "".join(ch if ch.isalnum() or ch in "-_ " else "-" for ch in name).strip() or "imewe-node"
    return clean[:63]


def local_ipv4_addresses() -> list[str]:
    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                out.append(ip.ip)
    return out or ["127.0.0.1"]


class Advertiser:
    """``interfaces``: addresses to announce on (tests use ``["127.0.0.1"]``); None means every interface.
    ``service_type``: what to announce as (a test run uses a type of its own, so that other runs on the machine
    do not hear it)."""

    def __init__(self, interfaces: list[str] | None = None, service_type: str = SERVICE_TYPE) -> None:
        self._interfaces = interfaces
        self.service_type = service_type
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def register(self, name: str, host: str, port: int, txt: dict[str, str]) -> None:
        if host in ("0.0.0.0", ""):
            addresses = self._interfaces or local_ipv4_addresses()
        else:
            addresses = [host]
        self._zc = AsyncZeroconf(interfaces=self._interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
        instance = _instance_name(name)
        server = f"{instance.replace(' ', '-')}-{txt.get('id', '')[:8]}.local."
        stype = self.service_type
        self._info = AsyncServiceInfo(stype, f"{instance}.{stype}", port=port, properties=txt,
                                      addresses=[socket.inet_aton(a) for a in addresses], server=server)
        try:
            # The first await probes the name; the second waits until the announcement went out.
            await (await self._zc.async_register_service(self._info, allow_name_change=True))
        except NonUniqueNameException as exc:
            raise DeviceError(f"another node already advertises the name {instance!r}") from exc
        log.info("advertising %s on %s port %d", self._info.name, ", ".join(addresses), port)

    async def close(self) -> None:
        if self._zc is None:
            return
        if self._info is not None:
            await (await self._zc.async_unregister_service(self._info))  # goodbye packets sent before closing
        await self._zc.async_close()
        self._zc = None
