"""The machines this site drives directly: one driver and one driver link per registered node.

Drivers are built by a factory that ``bootstrap`` passes in (the core never builds concrete drivers). A machine
that cannot be reached at start is marked OFFLINE with the reason, never a crash. ``drivers`` is also the map
the production service and the operator's buttons use; machines found by discovery are looked up there too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from uuid import UUID

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Node
from app.core.domain.enums import NodeState
from app.core.domain.errors import ImeweError, NotFoundError
from app.core.drivers import FabricationDevice
from app.core.events import NodeRegistered, ReplanRequested
from app.core.fleet.driver_link import DriverLink
from app.core.fleet.service import FleetService

log = logging.getLogger(__name__)
DriverFactory = Callable[[Node], FabricationDevice | None]


class MachineRoom:
    name = "machines"

    def __init__(self, fleet: FleetService, bus: EventBus, clock: Clock, factory: DriverFactory | None = None,
                 extra: Callable[[], Mapping[UUID, DriverLink]] | None = None) -> None:
        self._fleet = fleet
        self._bus = bus
        self._clock = clock
        self._factory = factory
        self._extras: list[Callable[[], Mapping[UUID, DriverLink]]] = [extra] if extra else []
        self.links: dict[UUID, DriverLink] = {}
        self.failures: dict[UUID, str] = {}

    def add_extra(self, links: Callable[[], Mapping[UUID, DriverLink]]) -> None:
        """Links owned by someone else (discovery's agents) that the driver map should include."""
        self._extras.append(links)

    def extra_links(self) -> dict[UUID, DriverLink]:
        out: dict[UUID, DriverLink] = {}
        for get in self._extras:
            out.update(get())
        return out

    async def start(self) -> None:
        if self._factory is None:
            return
        # A machine registered while the site runs (through the owner's control channel) is connected at once.
        self._bus.subscribe(NodeRegistered, self._on_registered, name="machines.registered", maxsize=1_000)
        for node in self._fleet.list():
            await self._connect(node)

    async def _on_registered(self, event: NodeRegistered) -> None:
        if event.node_id in self.links:
            return
        try:
            node = self._fleet.get(event.node_id)
        except NotFoundError:
            return
        await self._connect(node)
        if node.id in self.links:  # the planner may use it now
            self._bus.publish(ReplanRequested(f"{node.name} connected", node_id=node.id))

    async def _connect(self, node: Node) -> None:
        if self._factory is None or node.state is NodeState.DECOMMISSIONED or node.driver == "agent":
            return
        try:
            driver = self._factory(node)
        except ImeweError as exc:
            self.failures[node.id] = str(exc)
            log.warning("cannot build a driver for %s: %s", node.name, exc)
            return
        if driver is not None:
            await self.attach(node.id, driver)

    async def attach(self, node_id: UUID, driver: FabricationDevice) -> DriverLink:
        link = DriverLink(self._fleet, self._bus, self._clock, node_id, driver).attach()
        self.links[node_id] = link
        try:
            await driver.connect()
            self.failures.pop(node_id, None)
        except (ImeweError, OSError) as exc:
            self.failures[node_id] = str(exc)
            log.warning("%s is not reachable: %s", self._fleet.get(node_id).name, exc)
            with contextlib.suppress(ImeweError):
                await self._fleet.set_state(node_id, NodeState.OFFLINE, f"not reachable: {exc}")
        return link

    async def stop(self) -> None:
        for node_id, link in list(self.links.items()):
            with contextlib.suppress(ImeweError, OSError):
                await link.driver.disconnect()
            await link.detach()
            self.links.pop(node_id, None)

    def health(self) -> str:
        return "ok" if not self.failures else f"{len(self.failures)} machine(s) unreachable"

    @property
    def drivers(self) -> DriverMap:
        return DriverMap(self)


class DriverMap(Mapping[UUID, FabricationDevice]):
    """A live view of every driver: this room's and the ones discovery attached."""

    def __init__(self, room: MachineRoom) -> None:
        self._room = room

    def _all(self) -> dict[UUID, DriverLink]:
        return {**self._room.extra_links(), **self._room.links}

    def __getitem__(self, key: UUID) -> FabricationDevice:
        return self._all()[key].driver

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, key: object) -> bool:
        return key in self._room.links or key in self._room.extra_links()
