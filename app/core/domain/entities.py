"""The spec's data model as plain typed dataclasses (no ORM, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import JobState, MaintenanceType, NodeState, ProcessType, RoleName, Severity


def new_id() -> UUID:
    return uuid4()


@dataclass(slots=True)
class Role:
    name: RoleName
    permissions: frozenset[str] = frozenset()
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class User:
    username: str
    role: RoleName = RoleName.OPERATOR
    display_name: str = ""
    password_hash: str = ""
    active: bool = True
    created_at: datetime | None = None
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Vendor:
    name: str
    contact: str = ""
    certifications: list[str] = field(default_factory=list)
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Site:
    name: str
    site_key: str = ""  # the certificate fingerprint once identity exists
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    local: bool = True
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class NodeConfig:
    node_id: UUID
    capabilities: Capabilities
    software_version: str = ""
    layout: dict[str, Any] = field(default_factory=dict)
    sensors: dict[str, Any] = field(default_factory=dict)
    custom_settings: dict[str, Any] = field(default_factory=dict)
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Node:
    name: str
    capabilities: Capabilities
    state: NodeState = NodeState.REGISTERED
    vendor_id: UUID | None = None
    config_profile_id: UUID | None = None
    location: str = ""  # site area, e.g. "bay 2"
    address: str = ""  # how to reach it: "sim:", "serial:/dev/ttyUSB0", "wss://host:port"
    driver: str = "sim"
    energy_level: float = 0.0  # current power draw (W)
    material_levels: dict[str, float] = field(default_factory=dict)  # grams (or sheets/kg) left
    uptime_s: int = 0
    active_jobs: list[UUID] = field(default_factory=list)
    last_maintenance: datetime | None = None
    software_version: str = ""
    registered_at: datetime | None = None
    id: UUID = field(default_factory=new_id)

    @property
    def process(self) -> ProcessType:
        return self.capabilities.process


@dataclass(slots=True)
class NodeMaintenance:
    node_id: UUID
    type: MaintenanceType
    scheduled_date: datetime
    completed_date: datetime | None = None
    performed_by: UUID | None = None
    notes: str = ""
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Part:
    job_id: UUID
    name: str
    process: ProcessType
    material_type: str
    size_mm: tuple[float, float, float]
    quantity: int = 1
    complexity: int = 5  # 1..10
    batch_group: str = ""
    file_path: str | None = None
    state: JobState = JobState.SUBMITTED
    assigned_node: UUID | None = None
    estimated_duration_s: int = 0
    estimated_energy_kwh: float = 0.0
    estimated_material_g: float = 0.0
    progress: float = 0.0  # 0..100
    depends_on: list[UUID] = field(default_factory=list)  # precedence: assembly after its parts
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Job:
    name: str
    priority: int = 5  # 1..10, 10 is most urgent
    state: JobState = JobState.SUBMITTED
    user_id: UUID | None = None
    template_id: UUID | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    due_at: datetime | None = None
    estimated_duration_s: int = 0
    estimated_energy_kwh: float = 0.0
    estimated_material: dict[str, float] = field(default_factory=dict)  # material -> grams
    metadata: dict[str, Any] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)
    id: UUID = field(default_factory=new_id)

    @property
    def progress(self) -> float:
        if not self.parts:
            return 0.0
        weights = [max(p.quantity, 1) for p in self.parts]
        return sum(p.progress * w for p, w in zip(self.parts, weights, strict=True)) / sum(weights)


@dataclass(slots=True)
class Template:
    name: str
    description: str = ""
    parts: list[dict[str, Any]] = field(default_factory=list)  # part specs to instantiate
    version: int = 1
    vendor_id: UUID | None = None
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Playbook:
    """A reusable sequence of steps (e.g. print, then wash, then cure, then inspect)."""

    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    version: int = 1
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class TelemetrySample:
    """One reading of the spec's telemetry schema; metrics by name (temperature, vibration...)."""

    node_id: UUID
    timestamp: datetime
    metrics: dict[str, float]
    job_id: UUID | None = None
    id: UUID = field(default_factory=new_id)


@dataclass(slots=True)
class Alert:
    source: str  # node id or service name
    type: str  # e.g. "thermal_runaway", "material_low"
    severity: Severity
    message: str
    raised_at: datetime
    node_id: UUID | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    id: UUID = field(default_factory=new_id)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


@dataclass(slots=True)
class AuditEntry:
    actor: str
    action: str  # e.g. "job.submit", "node.decommission"
    target: str  # e.g. "job:<uuid>"
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    id: UUID = field(default_factory=new_id)
