"""Enumerations of the spec: processes, states, severities, roles."""

from __future__ import annotations

from enum import StrEnum


class ProcessType(StrEnum):
    FDM = "fdm"
    SLA = "sla"
    SLS = "sls"
    MJF = "mjf"
    CNC_MILL = "cnc_mill"
    CNC_LATHE = "cnc_lathe"
    LASER = "laser"
    ROBOT_ARM = "robot_arm"
    PICK_AND_PLACE = "pick_and_place"
    INSPECTION = "inspection"
    POST_PROCESSING = "post_processing"

    @property
    def additive(self) -> bool:
        return self in (ProcessType.FDM, ProcessType.SLA, ProcessType.SLS, ProcessType.MJF)


class JobState(StrEnum):
    SUBMITTED = "SUBMITTED"
    VALIDATED = "VALIDATED"
    SCHEDULED = "SCHEDULED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.CANCELLED)

    @property
    def active(self) -> bool:
        return self in (JobState.ASSIGNED, JobState.IN_PROGRESS, JobState.PAUSED)


# Parts follow the job's life cycle (the spec's production_status).
PartState = JobState


class NodeState(StrEnum):
    REGISTERED = "REGISTERED"
    CONFIGURED = "CONFIGURED"
    IDLE = "IDLE"
    ASSIGNED = "ASSIGNED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    MAINTENANCE = "MAINTENANCE"
    OFFLINE = "OFFLINE"
    ERROR = "ERROR"
    DECOMMISSIONED = "DECOMMISSIONED"

    @property
    def available(self) -> bool:
        """Can take new work now."""
        return self in (NodeState.IDLE, NodeState.COMPLETED)

    @property
    def in_service(self) -> bool:
        """Counts as part of the working fleet (may be busy)."""
        return self in (NodeState.IDLE, NodeState.ASSIGNED, NodeState.EXECUTING, NodeState.COMPLETED)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


class MaintenanceType(StrEnum):
    SCHEDULED = "scheduled"
    PREDICTIVE = "predictive"
    EMERGENCY = "emergency"


class RoleName(StrEnum):
    OPERATOR = "operator"
    DESIGNER = "designer"
    ADMIN = "admin"
    VENDOR = "vendor"
