"""What the operator's buttons reach: a small control protocol over the machines' drivers.

The window never builds drivers. It receives a ``MachineControl`` in its ports (the site's production service
satisfies it; ``DriverMapControl`` adapts a plain mapping of node id to driver) and decides which actions a
machine offers from its capabilities and state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.entities import Node
from app.core.domain.enums import NodeState
from app.core.domain.errors import DeviceError

log = logging.getLogger(__name__)
N = NodeState


@runtime_checkable
class MachineControl(Protocol):
    """Commands going to a machine (``request_*``: the direction is outward)."""

    async def request_pause(self, node_id: UUID, actor: ActorLike = "operator") -> None: ...

    async def request_resume(self, node_id: UUID, actor: ActorLike = "operator") -> None: ...

    async def request_cancel(self, node_id: UUID, actor: ActorLike = "operator") -> None: ...

    async def request_emergency_stop(self, node_id: UUID, actor: ActorLike = "operator") -> None: ...


class DriverMapControl:
    """Adapts ``{node_id: FabricationDevice}`` (what bootstrap keeps) to ``MachineControl``."""

    def __init__(self, drivers: Mapping[UUID, Any]) -> None:
        self._drivers = drivers

    def _driver(self, node_id: UUID) -> Any:
        driver = self._drivers.get(node_id)
        if driver is None:
            raise DeviceError("this machine has no connected driver; check its link in the machine list")
        return driver

    async def request_pause(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        authorize(actor, Action.PAUSE)
        await self._driver(node_id).pause()

    async def request_resume(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        authorize(actor, Action.PAUSE)
        await self._driver(node_id).resume()

    async def request_cancel(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        authorize(actor, Action.CANCEL)
        await self._driver(node_id).cancel()

    async def request_emergency_stop(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        authorize(actor, Action.ESTOP)
        await self._driver(node_id).emergency_stop()


@dataclass(frozen=True, slots=True)
class Allowed:
    pause: bool
    resume: bool
    cancel: bool
    emergency_stop: bool
    start_maintenance: bool
    complete_maintenance: bool
    decommission: bool


def allowed_actions(node: Node, has_control: bool, paused: bool = False) -> Allowed:
    """Which buttons a machine offers now. E-stop stays on for anything that could be moving or heating."""
    s = node.state
    working = s in (N.ASSIGNED, N.EXECUTING)
    live = s not in (N.DECOMMISSIONED, N.OFFLINE)
    return Allowed(
        pause=has_control and s is N.EXECUTING and not paused,
        resume=has_control and s is N.EXECUTING and paused,
        cancel=has_control and working,
        emergency_stop=has_control and live,
        start_maintenance=s in (N.IDLE, N.COMPLETED, N.CONFIGURED, N.OFFLINE, N.ERROR),
        complete_maintenance=s is N.MAINTENANCE,
        decommission=s not in (N.DECOMMISSIONED, N.ASSIGNED, N.EXECUTING),
    )
