"""The typed events of the core. Frozen dataclasses; the bus routes them by type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.domain.entities import Alert, TelemetrySample
from app.core.domain.enums import Severity
from app.core.domain.states import StateChange


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A job, part or node changed state (the change is already stored)."""

    change: StateChange


@dataclass(frozen=True, slots=True)
class JobSubmitted:
    job_id: UUID


@dataclass(frozen=True, slots=True)
class JobUpdated:
    """Priority, parts, progress or assignment of a job changed."""

    job_id: UUID
    what: str = ""


@dataclass(frozen=True, slots=True)
class NodeRegistered:
    node_id: UUID


@dataclass(frozen=True, slots=True)
class NodeUpdated:
    """Configuration, materials, or live values of a node changed."""

    node_id: UUID
    what: str = ""


@dataclass(frozen=True, slots=True)
class TelemetryReceived:
    sample: TelemetrySample


@dataclass(frozen=True, slots=True)
class AlertRaised:
    alert: Alert


@dataclass(frozen=True, slots=True)
class FaultReported:
    """A machine reported a fault (heater, e-stop, firmware error): the alert service stores, deduplicates and
    raises it. Publishers never build an ``AlertRaised`` themselves, so every alert the operator sees is stored."""
    source: str
    kind: str
    severity: Severity
    message: str
    node_id: UUID | None = None
    key: str = ""


@dataclass(frozen=True, slots=True)
class AlertAcknowledged:
    alert_id: UUID
    by: str


@dataclass(frozen=True, slots=True)
class ReplanRequested:
    reason: str
    job_id: UUID | None = None
    node_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class PlanUpdated:
    """The scheduler published a new plan (payload: the plan object)."""

    plan: Any
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NodeDiscovered:
    """Something was found on the network or a serial port (may or may not be registered)."""

    kind: str  # "imewe-node", "octoprint", "moonraker", "prusalink", "serial"
    name: str
    address: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeVanished:
    kind: str
    name: str
