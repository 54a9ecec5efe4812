"""What the CLI and the control channel show of jobs, machines and linked sites (JSON-ready after to_jsonable)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.core.domain.entities import Job, Node
from app.core.domain.errors import ImeweError
from app.core.jobs.waiting import waiting_for

if TYPE_CHECKING:
    from app.core.sites.repo import Peer


def job_dict(j: Job) -> dict[str, Any]:
    return {"id": j.id, "name": j.name, "state": j.state, "priority": j.priority, "submitted_at": j.submitted_at,
            "due_at": j.due_at, "completed_at": j.completed_at, "progress": round(j.progress, 1),
            "estimated_duration_s": j.estimated_duration_s, "estimated_energy_kwh": j.estimated_energy_kwh,
            "parts": [{"id": p.id, "name": p.name, "process": p.process, "material": p.material_type,
                       "size_mm": list(p.size_mm), "quantity": p.quantity, "state": p.state,
                       "assigned_node": p.assigned_node, "progress": p.progress} for p in j.parts]}


def waiting_dict(job: Job, busy: Mapping[UUID, UUID], fleet: Any) -> dict[str, list[str]]:
    """``waiting_for``: the names of the machines the job waits for (the core's rule, ``waiting_for``; empty when
    it does not wait). ``busy``: machine id -> the part it runs now; ``fleet`` names machines (``get(id).name``)."""
    return {"waiting_for": [_machine_name(fleet, n) for n in waiting_for(job, busy)]}


def _machine_name(fleet: Any, node_id: UUID) -> str:
    try:
        return fleet.get(node_id).name
    except ImeweError:  # a machine removed since: its id will do
        return str(node_id)[:8]


def node_dict(n: Node) -> dict[str, Any]:
    return {"id": n.id, "name": n.name, "state": n.state, "process": n.process, "location": n.location,
            "address": n.address, "driver": n.driver, "capabilities": n.capabilities.to_dict(),
            "material_levels": n.material_levels, "power_w": n.energy_level,
            "last_maintenance": n.last_maintenance, "registered_at": n.registered_at}


def stamp(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def peer_dict(p: Peer) -> dict[str, Any]:
    return {"site_id": p.site_id, "name": p.name, "state": p.state, "address": p.address,
            "last_seen": stamp(p.last_seen) if p.last_seen else None, "latency_ms": p.latency_ms,
            "attempts": p.attempts, "last_error": p.last_error, "pinned": p.cert_der is not None}
