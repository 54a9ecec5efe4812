"""Entities, enums, state machines and units: plain typed data, no I/O."""

from app.core.domain.capabilities import Capabilities, MachineProfile
from app.core.domain.entities import (
    Alert,
    AuditEntry,
    Job,
    Node,
    NodeConfig,
    NodeMaintenance,
    Part,
    Playbook,
    Role,
    Site,
    TelemetrySample,
    Template,
    User,
    Vendor,
    new_id,
)
from app.core.domain.enums import (
    JobState,
    MaintenanceType,
    NodeState,
    PartState,
    ProcessType,
    RoleName,
    Severity,
)
from app.core.domain.errors import (
    ConfigError,
    DeviceError,
    IllegalTransitionError,
    ImeweError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from app.core.domain.states import StateChange, advance

__all__ = [
    "Alert", "AuditEntry", "Capabilities", "ConfigError", "DeviceError", "IllegalTransitionError", "ImeweError",
    "Job", "JobState", "MachineProfile", "MaintenanceType", "Node", "NodeConfig", "NodeMaintenance", "NodeState",
    "NotFoundError", "Part", "PartState", "Playbook", "ProcessType", "Role", "RoleName", "Severity", "Site",
    "StateChange", "StoreError", "Template", "TelemetrySample", "User", "ValidationError", "Vendor", "advance",
    "new_id",
]
