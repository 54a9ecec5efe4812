"""Find machines on the network: Imewe node agents a person accepted are registered and linked by themselves (plug
and play); OctoPrint, Moonraker and PrusaLink hosts are listed as found.

An agent is first asked for its key over TLS (nothing is sent to it): the key its handshake proves must hash to the
node id it advertises, and a person must have accepted it (``agent_trust``). Until then it waits as pending, and
an alert says so; an agent that shows another key under an accepted agent's name is refused with an alert. Only an
accepted agent gets the pairing token, and its driver checks the same key again on every reconnect.

An agent's driver reopens a lost link by itself (capped, jittered backoff) for as long as the agent advertises:
discovery disconnects it when the advert goes away, and replaces it when the advert changes (a restarted agent on
another port).

Zeroconf runs on the interfaces given (tests: ``["127.0.0.1"]``, IPv4 only). Drivers are not built here: a factory
passed in by bootstrap turns an advertisement into a connected-able driver, so the core never imports devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.discovery.agent_trust import ACCEPTED, CHANGED, PENDING, AgentTrust, node_id_for_key
from app.core.domain.enums import NodeState, Severity
from app.core.domain.errors import ImeweError, NotFoundError
from app.core.drivers import FabricationDevice
from app.core.events import FaultReported, NodeDiscovered, NodeVanished
from app.core.fleet.driver_link import DriverLink, node_path
from app.core.fleet.service import FleetService

log = logging.getLogger(__name__)

IMEWE_NODE = "_imewe-node._tcp.local."
OTHER_KINDS = {"_octoprint._tcp.local.": "octoprint", "_moonraker._tcp.local.": "moonraker",
               "_prusalink._tcp.local.": "prusalink"}
KINDS = {IMEWE_NODE: "imewe-node", **OTHER_KINDS}  # the service types browsed, each with the kind it names
SUPPORTED_PROTOCOL = "2"
RESOLVE_TIMEOUT_MS = 3000


@dataclass(frozen=True, slots=True)
class Advert:
    """One resolved advertisement."""

    kind: str  # "imewe-node", "octoprint", "moonraker", "prusalink"
    name: str  # the service instance name
    host: str
    port: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"wss://{self.host}:{self.port}" if self.kind == "imewe-node" else f"http://{self.host}:{self.port}"

    @property
    def version(self) -> str:
        p = self.properties
        return p.get("ver") or p.get("version") or p.get("api_version") or ""


DriverFactory = Callable[[Advert, str], FabricationDevice]  # (advert, accepted key fingerprint) -> driver
KeyProbe = Callable[[str], Awaitable[tuple[str, bytes]]]  # address -> (fingerprint, raw key) the TLS handshake proved


class ZeroconfDiscovery:
    name = "discovery"

    def __init__(self, fleet: FleetService, bus: EventBus, clock: Clock, driver_factory: DriverFactory, *,
                 interfaces: list[str] | None = None, auto_register: bool = True,
                 trust: AgentTrust | None = None, key_probe: KeyProbe | None = None,
                 kinds: Mapping[str, str] | None = None) -> None:
        """``trust``: the accepted agent keys (in memory when not given); ``key_probe``: reads an agent's key over
        TLS without sending it anything (agents are not linked without one). ``kinds``: the service types to
        browse, each with the kind it names (default ``KINDS``; a test run uses types of its own, so two runs on
        one machine do not hear each other's adverts)."""
        self.kinds = dict(KINDS if kinds is None else kinds)
        unknown = set(self.kinds.values()) - set(KINDS.values())
        if unknown:
            raise ValueError(f"unknown kinds of advert: {', '.join(sorted(unknown))}")
        self.fleet = fleet
        self.trust = trust or AgentTrust(None)
        self.key_probe = key_probe
        self.bus = bus
        self.clock = clock
        self.driver_factory = driver_factory
        self.interfaces = interfaces
        self.auto_register = auto_register
        self.found: dict[str, Advert] = {}  # service name → advert (every kind)
        self.links: dict[UUID, DriverLink] = {}
        self._by_service: dict[str, UUID] = {}
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.errors: list[str] = []

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._zc = AsyncZeroconf(interfaces=self.interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, list(self.kinds), handlers=[self._on_change])

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for node_id, link in list(self.links.items()):
            await link.detach()
            with contextlib.suppress(ImeweError, OSError):
                await link.driver.disconnect()
            self.links.pop(node_id, None)
        if self._zc is not None:
            await self._zc.async_close()
            self._zc = None

    def health(self) -> str:
        return "ok" if self._zc is not None else "stopped"

    def list_found(self, kind: str | None = None) -> list[Advert]:
        return sorted((a for a in self.found.values() if kind is None or a.kind == kind), key=lambda a: a.name)

    # ------------------------------------------------------------------ zeroconf callbacks (event loop thread)
    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            self._spawn(self._on_removed(service_type, name))
        else:
            self._spawn(self._on_added(service_type, name))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_added(self, service_type: str, name: str) -> None:
        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS):
            log.info("could not resolve %s", name)
            return
        addresses = info.parsed_addresses(IPVersion.V4Only)
        if not addresses or info.port is None:
            return
        props = {_text(k): _text(v) for k, v in (info.properties or {}).items() if k is not None}
        kind = self.kinds[service_type]
        advert = Advert(kind, name.removesuffix("." + service_type), addresses[0], info.port, props)
        is_new = self.found.get(name) != advert
        self.found[name] = advert
        if is_new:
            self.bus.publish(NodeDiscovered(kind, advert.name, advert.address, dict(props)))
        if kind == "imewe-node" and self.auto_register:
            lock = self._locks.setdefault(name, asyncio.Lock())
            async with lock:
                await self._bring_up(name, advert)

    async def _on_removed(self, service_type: str, name: str) -> None:
        advert = self.found.pop(name, None)
        kind = self.kinds.get(service_type, service_type)
        self.bus.publish(NodeVanished(kind, name.removesuffix("." + service_type)))
        node_id = self._by_service.get(name)
        if advert is None or node_id is None:
            return
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            link = self.links.pop(node_id, None)
            if link is not None:
                await link.detach()
                with contextlib.suppress(ImeweError, OSError):
                    await link.driver.disconnect()
            await self._set_offline(node_id, "node agent stopped advertising")

    # ------------------------------------------------------------------ plug and play
    async def _bring_up(self, service: str, advert: Advert) -> None:
        if advert.properties.get("proto", SUPPORTED_PROTOCOL) != SUPPORTED_PROTOCOL:
            self._error(f"{advert.name}: node agent speaks protocol {advert.properties.get('proto')}, "
                        f"this control room {SUPPORTED_PROTOCOL}; update the older side")
            return
        try:
            node_id = UUID(advert.properties["id"])
        except (KeyError, ValueError):
            self._error(f"{advert.name}: advertisement has no valid node id")
            return
        link = self.links.get(node_id)
        try:
            pinned = self.trust.accepted_fingerprint(str(node_id))
        except ImeweError as exc:  # the known-agents file is unreadable
            self._error(f"{advert.name}: {exc}")
            return
        if link is not None and pinned and link.driver.status().state.value not in ("offline", "disconnected"):
            if self._by_service.get(service) != node_id:  # a second advert for a linked agent: whose is it?
                await self._admit(advert, node_id)
            return  # already connected (an update of TXT or address)
        if link is not None:  # retrying an old address, or its key is no longer accepted: this is the news
            self.links.pop(node_id, None)
            await link.detach()
            with contextlib.suppress(ImeweError, OSError):
                await link.driver.disconnect()
            if not pinned:
                await self._set_offline(node_id, "node agent's key no longer accepted")
        fingerprint = await self._admit(advert, node_id)
        if fingerprint is None:
            return
        driver = self.driver_factory(advert, fingerprint)
        try:
            node = self.fleet.get(node_id)
        except NotFoundError:
            node = None
        # A known machine's link listens before the driver connects: what the agent ran while apart (told at
        # connect) reaches production.
        link = DriverLink(self.fleet, self.bus, self.clock, node_id, driver).attach() if node is not None else None
        try:
            await driver.connect()
        except ImeweError as exc:
            if link is not None:
                await link.detach()
            self._error(f"{advert.name}: {exc}")
            return
        self._by_service[service] = node_id
        if node is None:
            try:
                node = await self.fleet.register(
                    _unique_name(self.fleet, driver.name or advert.name), driver.capabilities,
                    address=advert.address, driver="agent", node_id=node_id,
                    software_version=advert.version, bring_up=True)
            except ImeweError as exc:
                self._error(f"{advert.name}: could not register: {exc}")
                await driver.disconnect()
                return
            log.info("registered node agent %s (%s) at %s", node.name, node_id, advert.address)
        else:  # the agent came back, maybe on another address or port, maybe updated
            version = str(getattr(driver, "software_version", "") or advert.version)
            if node.address != advert.address or (version and node.software_version != version):
                await self.fleet.configure(node_id, address=advert.address, software_version=version or None,
                                           actor="discovery")
        if link is None:
            link = DriverLink(self.fleet, self.bus, self.clock, node_id, driver).attach()
        self.links[node_id] = link
        await link.sync_state()

    async def _admit(self, advert: Advert, node_id: UUID) -> str | None:
        """The accepted fingerprint of the agent behind ``advert``, or None (pending, changed, refused, lying)."""
        if self.key_probe is None:
            self._error(f"{advert.name}: this control room cannot check node agent keys; not linked")
            return None
        try:
            fingerprint, raw = await self.key_probe(advert.address)
        except ImeweError as exc:
            self._error(f"{advert.name}: {exc}")
            return None
        name = advert.properties.get("name") or advert.name
        if node_id_for_key(raw) != node_id:
            self._alert("agent_key_mismatch", Severity.CRITICAL, fingerprint,
                        f"a node agent at {advert.address} advertises the id {node_id} of '{name}' but proves "
                        f"another key ({fingerprint}); it was refused and sent nothing")
            return None
        try:
            verdict = self.trust.heard(fingerprint, str(node_id), name, advert.address, advert.version)
            if verdict.state == PENDING and self._in_fleet_as_agent(node_id):
                return self.trust.accept_existing(fingerprint, str(node_id), name, advert.address,
                                                  advert.version).fingerprint
        except (ImeweError, OSError) as exc:  # the known-agents file is unreadable: nobody gets the token
            self._error(f"{advert.name}: {exc}")
            return None
        if verdict.state == ACCEPTED:
            return fingerprint
        if verdict.state == PENDING:
            self._alert("agent_waiting", Severity.WARNING, fingerprint,
                        f"new node agent '{name}' at {advert.address} waits for a person to accept it: key "
                        f"{fingerprint} (compare it with the agent's screen, then: imewe nodes accept {name})")
        elif verdict.state == CHANGED:
            prev = verdict.previous.fingerprint if verdict.previous else verdict.key.replaces
            self._alert("agent_key_changed", Severity.CRITICAL, fingerprint,
                        f"node agent '{name}' at {advert.address} shows the key {fingerprint}, not the accepted "
                        f"{prev}: refused, no token sent. If the machine was reinstalled, accept the new key: "
                        f"imewe nodes accept {fingerprint[:12]} --replace")
        return None

    def _in_fleet_as_agent(self, node_id: UUID) -> bool:
        try:
            node = self.fleet.get(node_id)
        except NotFoundError:
            return False
        return node.driver == "agent" and node.state is not NodeState.DECOMMISSIONED

    def _alert(self, kind: str, severity: Severity, fingerprint: str, message: str) -> None:
        self._error(message)
        self.bus.publish(FaultReported("discovery", kind, severity, message, None, fingerprint))

    async def recheck(self) -> None:
        """After a person accepted or refused an agent: link the accepted ones heard now, drop the refused."""
        for service, advert in list(self.found.items()):
            if advert.kind != "imewe-node" or not self.auto_register:
                continue
            async with self._locks.setdefault(service, asyncio.Lock()):
                await self._bring_up(service, advert)

    async def _set_offline(self, node_id: UUID, reason: str) -> None:
        try:
            node = self.fleet.get(node_id)
        except NotFoundError:
            return
        path = node_path(node.state, NodeState.OFFLINE)
        if path and node.state not in (NodeState.MAINTENANCE, NodeState.DECOMMISSIONED):
            await self.fleet.set_state(node_id, path, reason, actor="discovery")

    def _error(self, message: str) -> None:
        log.warning("discovery: %s", message)
        self.errors.append(message)


def _text(v: bytes | str | None) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


def _unique_name(fleet: FleetService, name: str) -> str:
    taken = {n.name for n in fleet.list()}
    if name not in taken:
        return name
    i = 2
    while f"{name} ({i})" in taken:
        i += 1
    return f"{name} ({i})"
