"""Events about work on machines, published by the driver link (``app.core.fleet.driver_link``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID


@dataclass(frozen=True, slots=True)
class DeviceJobProgress:
    node_id: UUID
    job_id: UUID | None
    fraction: float
    lines_acked: int = 0
    lines_total: int = 0
    material_used_g: float = 0.0


@dataclass(frozen=True, slots=True)
class DeviceJobFinished:
    """A machine ended a job. ``outcome`` is ``completed``, ``failed``, ``cancelled`` or ``paused`` (the link went
    away mid-job: the work is held with ``checkpoint`` saved, for the scheduler to resume or move)."""

    node_id: UUID
    job_id: UUID | None
    outcome: str
    message: str = ""
    checkpoint: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceJobRecord:
    """A machine whose link came (back) up says what it ran: ``state`` is ``running`` or the run's outcome
    (``completed``, ``failed``, ``cancelled``, ``paused``). Production reconciles it with what it planned meanwhile."""

    node_id: UUID
    job_id: UUID | None
    run_id: str
    state: str
    fraction: float = 0.0
    part_id: UUID | None = None
    copy: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class DeviceLinkChanged:
    """A driver was attached to or detached from a node (e.g. an agent connected)."""

    node_id: UUID
    attached: bool
    driver: str = ""
