"""The one interface every machine is driven through (the spec's FabricationDevice), and what drivers report.

A driver never touches the store or the fleet: it reports what happens as events (state, telemetry, job
progress, job end, errors) to its listeners; ``app.core.fleet.driver_link`` turns them into node state and
telemetry. Concrete drivers live in ``app/devices`` and are built by ``app/bootstrap.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from app.core.domain.capabilities import Capabilities

log = logging.getLogger(__name__)


class DriverState(StrEnum):
    """What the machine is doing, as the driver sees it."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    IDLE = "idle"
    WORKING = "working"  # executing a job
    PAUSED = "paused"  # job held (host pause or feed hold)
    ERROR = "error"  # firmware error, alarm, fault: needs an operator
    OFFLINE = "offline"  # link lost


class JobOutcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The link went away mid-job: the machine may still hold the work; nothing acknowledged is lost and
    # the saved position lets an operator or the scheduler decide (resume elsewhere or restart).
    PAUSED = "paused"


@dataclass(slots=True)
class JobRequest:
    """Work for one machine: a G-code file (or lines), or a job spec for simulated/non-G-code machines."""

    job_id: UUID | None = None
    gcode_path: Path | None = None
    gcode_lines: list[str] | None = None
    estimate_s: float = 0.0  # the planner's duration estimate; simulators progress by it
    material_g: float = 0.0
    spec: dict[str, Any] = field(default_factory=dict)
    start_line: int = 0  # resume from a saved position (index into the job's command list)

    def describe(self) -> str:
        if self.gcode_path is not None:
            return self.gcode_path.name
        if self.gcode_lines is not None:
            return f"{len(self.gcode_lines)} lines"
        return str(self.spec.get("name") or self.job_id or "job")


@dataclass(frozen=True, slots=True)
class JobCheckpoint:
    """Where a job stood when it stopped: enough to resume or to move it."""

    job_id: UUID | None
    lines_acked: int
    lines_total: int
    fraction: float
    position: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ events a driver reports
@dataclass(frozen=True, slots=True)
class DriverStateChanged:
    state: DriverState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DriverTelemetry:
    """One reading. Names the telemetry service understands: ``temperature`` / ``target_temperature`` (the main
    heater, °C), ``power_w``, ``progress`` (0..1), ``vibration`` (RMS mm/s), ``material_remaining`` (g); other
    heaters as ``<name>_c`` / ``<name>_target_c``; positions ``x_mm``...; ``spindle_rpm``, ``feed_mm_min``."""

    metrics: dict[str, float]
    job_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class DriverJobProgress:
    job_id: UUID | None
    fraction: float
    lines_acked: int = 0
    lines_total: int = 0
    material_used_g: float = 0.0


@dataclass(frozen=True, slots=True)
class DriverJobFinished:
    job_id: UUID | None
    outcome: JobOutcome
    message: str = ""
    checkpoint: JobCheckpoint | None = None


@dataclass(frozen=True, slots=True)
class DriverFault:
    """Something an operator must know: firmware error, alarm, thermal runaway, lost link."""

    kind: str  # "firmware_error", "alarm", "thermal_runaway", "link_lost", "jam", "power_loss", "estop"...
    message: str
    fatal: bool = True  # the machine left service
    code: int | None = None


@dataclass(frozen=True, slots=True)
class DriverJobRecord:
    """What a machine says it ran, told when its link comes (back) up: a node agent's record of its current or
    last runs. ``state`` is ``running`` or the run's outcome (a ``JobOutcome`` value). ``run_id`` is the one the
    control room gave in the job's spec (``spec["run_id"]``), so a run is matched, and booked, once."""

    job_id: UUID | None
    run_id: str
    state: str
    fraction: float = 0.0
    part_id: UUID | None = None
    copy: int | None = None
    message: str = ""


DriverEvent = (DriverStateChanged | DriverTelemetry | DriverJobProgress | DriverJobFinished | DriverFault
               | DriverJobRecord)
Listener = Callable[[DriverEvent], None]


@dataclass(frozen=True, slots=True)
class DriverStatus:
    state: DriverState
    job_id: UUID | None = None
    fraction: float = 0.0
    lines_acked: int = 0
    lines_total: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class SerialFind:
    """What a serial probe found on a port."""

    port: str
    protocol: str  # "marlin", "grbl"
    firmware: str = ""
    description: str = ""
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class FabricationDevice(Protocol):
    """The spec's FabricationDevice. Every method is safe to call from the event loop."""

    name: str

    @property
    def capabilities(self) -> Capabilities: ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def execute(self, job: JobRequest) -> None:
        """Start a job; returns once it is accepted. The end comes as ``DriverJobFinished``."""

    def status(self) -> DriverStatus: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def cancel(self) -> None: ...

    async def emergency_stop(self) -> None: ...

    async def calibrate(self, what: str = "home") -> None: ...

    def add_listener(self, listener: Listener) -> None: ...

    def remove_listener(self, listener: Listener) -> None: ...


class DriverBase:
    """Listener bookkeeping and status shared by concrete drivers."""

    def __init__(self, name: str, capabilities: Capabilities) -> None:
        self.name = name
        self._caps = capabilities
        self._listeners: list[Listener] = []
        self._state = DriverState.DISCONNECTED
        self._job_id: UUID | None = None
        self._fraction = 0.0
        self._acked = 0
        self._total = 0
        self._metrics: dict[str, float] = {}
        self._message = ""

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    @property
    def state(self) -> DriverState:
        return self._state

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def status(self) -> DriverStatus:
        return DriverStatus(self._state, self._job_id, self._fraction, self._acked, self._total,
                            dict(self._metrics), self._message)

    def _emit(self, event: DriverEvent) -> None:
        if isinstance(event, DriverStateChanged):
            if event.state is self._state:
                return
            self._state = event.state
            self._message = event.reason
        elif isinstance(event, DriverTelemetry):
            self._metrics.update(event.metrics)
        elif isinstance(event, DriverJobProgress):
            self._fraction, self._acked, self._total = event.fraction, event.lines_acked, event.lines_total
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the machine's reporting
                log.exception("driver %s listener failed on %s", self.name, type(event).__name__)

    def _set_state(self, state: DriverState, reason: str = "") -> None:
        self._emit(DriverStateChanged(state, reason))


async def event_stream(device: FabricationDevice, types: tuple[type, ...] = (DriverTelemetry,),
                       maxsize: int = 1000) -> AsyncIterator[DriverEvent]:
    """The spec's telemetry stream: ``async for ev in event_stream(driver): ...``. A slow reader loses the
    oldest readings, never stalls the machine."""
    queue: asyncio.Queue[DriverEvent] = asyncio.Queue(maxsize)

    def listener(ev: DriverEvent) -> None:
        if isinstance(ev, types):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(ev)

    device.add_listener(listener)
    try:
        while True:
            yield await queue.get()
    finally:
        device.remove_listener(listener)
