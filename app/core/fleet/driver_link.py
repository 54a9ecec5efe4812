"""Turns what a driver reports into node state, live values, telemetry, job events and alerts.

A driver calls its listeners synchronously from the loop; the link queues the events and a task applies them in
order, because moving a node's state writes to the store. Node state follows the driver:

    driver IDLE → node IDLE (through COMPLETED after a finished job) · WORKING/PAUSED → EXECUTING
    ERROR → ERROR · OFFLINE/DISCONNECTED → OFFLINE

A node in MAINTENANCE or DECOMMISSIONED is the operator's decision and is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import asdict
from uuid import UUID

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.device_events import DeviceJobFinished, DeviceJobProgress, DeviceJobRecord, DeviceLinkChanged
from app.core.domain.entities import TelemetrySample
from app.core.domain.enums import NodeState, Severity
from app.core.domain.errors import ImeweError
from app.core.domain.states import NODE_TRANSITIONS
from app.core.drivers import (
    DriverEvent,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverJobRecord,
    DriverState,
    DriverStateChanged,
    DriverTelemetry,
    FabricationDevice,
    JobOutcome,
)
from app.core.events import FaultReported, TelemetryReceived
from app.core.fleet.service import FleetService

log = logging.getLogger(__name__)
N = NodeState
_TARGET = {DriverState.IDLE: N.IDLE, DriverState.WORKING: N.EXECUTING, DriverState.PAUSED: N.EXECUTING,
           DriverState.ERROR: N.ERROR, DriverState.OFFLINE: N.OFFLINE, DriverState.DISCONNECTED: N.OFFLINE}
_HANDS_OFF = {N.MAINTENANCE, N.DECOMMISSIONED}


def node_path(current: NodeState, target: NodeState, via: NodeState | None = None) -> list[NodeState]:
    """The shortest legal walk from ``current`` to ``target`` (through ``via`` when given and legal)."""
    if current is target:
        return []
    if via is not None and via is not current:
        first = node_path(current, via)
        if first or current is via:
            rest = node_path(via, target)
            if rest:
                return first + rest
    seen = {current}
    queue: deque[tuple[NodeState, list[NodeState]]] = deque([(current, [])])
    while queue:
        state, path = queue.popleft()
        for nxt in sorted(NODE_TRANSITIONS[state], key=lambda s: s.value):
            if nxt in seen or nxt in _HANDS_OFF - {target}:
                continue
            if nxt is target:
                return path + [nxt]
            seen.add(nxt)
            queue.append((nxt, path + [nxt]))
    return []


class DriverLink:
    def __init__(self, fleet: FleetService, bus: EventBus, clock: Clock, node_id: UUID,
                 driver: FabricationDevice) -> None:
        self.fleet = fleet
        self.bus = bus
        self.clock = clock
        self.node_id = node_id
        self.driver = driver
        self._queue: asyncio.Queue[DriverEvent] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._after_completion = False
        self.applied = 0

    def attach(self) -> DriverLink:
        self.driver.add_listener(self._on_driver_event)
        self._task = asyncio.get_running_loop().create_task(self._apply_loop(), name=f"link:{self.node_id}")
        self.bus.publish(DeviceLinkChanged(self.node_id, True, getattr(self.driver, "protocol", "")))
        return self

    async def detach(self) -> None:
        self.driver.remove_listener(self._on_driver_event)
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.bus.publish(DeviceLinkChanged(self.node_id, False, getattr(self.driver, "protocol", "")))

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every event reported so far has been applied (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def sync_state(self) -> None:
        """Bring the node in line with the driver's present state (after attaching or reconnecting)."""
        await self._apply_state(DriverStateChanged(self.driver.status().state, "link attached"))

    def _on_driver_event(self, event: DriverEvent) -> None:
        self._queue.put_nowait(event)

    async def _apply_loop(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._apply(event)
                self.applied += 1
            except ImeweError as exc:
                log.warning("node %s: could not apply %s: %s", self.node_id, type(event).__name__, exc)
            except Exception:  # one bad event must not cut the machine off from the control room
                log.exception("node %s: failed to apply %s", self.node_id, type(event).__name__)
            finally:
                self._queue.task_done()

    async def _apply(self, event: DriverEvent) -> None:
        if isinstance(event, DriverTelemetry):
            await self._apply_telemetry(event)
        elif isinstance(event, DriverStateChanged):
            await self._apply_state(event)
        elif isinstance(event, DriverJobProgress):
            self.bus.publish(DeviceJobProgress(self.node_id, event.job_id, event.fraction, event.lines_acked,
                                               event.lines_total, event.material_used_g))
        elif isinstance(event, DriverJobFinished):
            self._after_completion = event.outcome is JobOutcome.COMPLETED
            cp = asdict(event.checkpoint) if event.checkpoint is not None else {}
            if cp.get("job_id") is not None:
                cp["job_id"] = str(cp["job_id"])
            self.bus.publish(DeviceJobFinished(self.node_id, event.job_id, event.outcome.value, event.message, cp))
        elif isinstance(event, DriverJobRecord):
            self.bus.publish(DeviceJobRecord(self.node_id, event.job_id, event.run_id, event.state, event.fraction,
                                             event.part_id, event.copy, event.message))
        elif isinstance(event, DriverFault):
            sev = Severity.CRITICAL if event.fatal else Severity.WARNING
            self.bus.publish(FaultReported(str(self.node_id), event.kind, sev, event.message, self.node_id))

    async def _apply_telemetry(self, event: DriverTelemetry) -> None:
        self.bus.publish(TelemetryReceived(TelemetrySample(self.node_id, self.clock.now(), dict(event.metrics),
                                                           event.job_id)))
        power = event.metrics.get("power_w")
        left = event.metrics.get("material_remaining")
        levels = None
        if left is not None:
            node = self.fleet.get(self.node_id)
            material = node.capabilities.loaded_material or "material"
            levels = {material: left}
        if power is not None or levels is not None:
            await self.fleet.update_live(self.node_id, power_w=power, material_levels=levels)

    async def _apply_state(self, event: DriverStateChanged) -> None:
        target = _TARGET.get(event.state)
        if target is None:
            return
        node = self.fleet.get(self.node_id)
        if node.state in _HANDS_OFF:
            return
        via = N.COMPLETED if (target is N.IDLE and self._after_completion
                              and node.state in (N.EXECUTING, N.ASSIGNED)) else None
        self._after_completion = False
        path = node_path(node.state, target, via)
        if not path:
            if node.state is not target:
                log.warning("node %s: no legal way from %s to %s", node.name, node.state.value, target.value)
            return
        reason = event.reason or f"machine {event.state.value}"
        await self.fleet.set_state(self.node_id, path, reason[:200], actor=f"driver:{node.name}")
