"""Repositories: the only code that knows the tables. They take a Connection (one transaction) and hand out
domain objects, never rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import (
    Alert,
    AuditEntry,
    Job,
    Node,
    NodeConfig,
    NodeMaintenance,
    Part,
)
from app.core.domain.enums import JobState, MaintenanceType, NodeState, ProcessType, Severity
from app.core.domain.errors import NotFoundError
from app.core.domain.states import StateChange
from app.core.store import schema as t
from app.core.store.convert import dt, sid, ts, uid


# ---------------------------------------------------------------- jobs and parts
def _part_row(p: Part, idx: int) -> dict[str, Any]:
    x, y, z = p.size_mm
    return {
        "id": str(p.id), "job_id": str(p.job_id), "idx": idx, "name": p.name, "process": p.process.value,
        "material_type": p.material_type, "size_x_mm": x, "size_y_mm": y, "size_z_mm": z,
        "quantity": p.quantity, "complexity": p.complexity, "batch_group": p.batch_group,
        "file_path": p.file_path, "state": p.state.value, "assigned_node": sid(p.assigned_node),
        "estimated_duration_s": p.estimated_duration_s, "estimated_energy_kwh": p.estimated_energy_kwh,
        "estimated_material_g": p.estimated_material_g, "progress": p.progress,
        "depends_on": [str(d) for d in p.depends_on],
    }


def _job_row(j: Job) -> dict[str, Any]:
    return {
        "id": str(j.id), "name": j.name, "priority": j.priority, "state": j.state.value,
        "user_id": sid(j.user_id), "template_id": sid(j.template_id), "submitted_at": ts(j.submitted_at),
        "completed_at": ts(j.completed_at), "due_at": ts(j.due_at),
        "estimated_duration_s": j.estimated_duration_s, "estimated_energy_kwh": j.estimated_energy_kwh,
        "estimated_material": j.estimated_material, "metadata": j.metadata,
    }


def _part(r: Any) -> Part:
    return Part(
        id=UUID(r.id), job_id=UUID(r.job_id), name=r.name, process=ProcessType(r.process),
        material_type=r.material_type, size_mm=(r.size_x_mm, r.size_y_mm, r.size_z_mm), quantity=r.quantity,
        complexity=r.complexity, batch_group=r.batch_group, file_path=r.file_path, state=JobState(r.state),
        assigned_node=uid(r.assigned_node), estimated_duration_s=r.estimated_duration_s,
        estimated_energy_kwh=r.estimated_energy_kwh, estimated_material_g=r.estimated_material_g,
        progress=r.progress, depends_on=[UUID(d) for d in r.depends_on or []],
    )


def _job(r: Any, parts: list[Part]) -> Job:
    return Job(
        id=UUID(r.id), name=r.name, priority=r.priority, state=JobState(r.state), user_id=uid(r.user_id),
        template_id=uid(r.template_id), submitted_at=dt(r.submitted_at), completed_at=dt(r.completed_at),
        due_at=dt(r.due_at), estimated_duration_s=r.estimated_duration_s,
        estimated_energy_kwh=r.estimated_energy_kwh, estimated_material=dict(r.estimated_material or {}),
        metadata=dict(r.metadata or {}), parts=parts,
    )


class JobRepo:
    def add(self, conn: Connection, job: Job) -> None:
        conn.execute(t.jobs.insert(), [_job_row(job)])
        if job.parts:
            conn.execute(t.parts.insert(), [_part_row(p, i) for i, p in enumerate(job.parts)])

    def add_many(self, conn: Connection, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        conn.execute(t.jobs.insert(), [_job_row(j) for j in jobs])
        rows = [_part_row(p, i) for j in jobs for i, p in enumerate(j.parts)]
        if rows:
            conn.execute(t.parts.insert(), rows)

    def update(self, conn: Connection, job: Job) -> None:
        row = _job_row(job)
        row.pop("id")
        conn.execute(t.jobs.update().where(t.jobs.c.id == str(job.id)).values(**row))

    def update_part(self, conn: Connection, part: Part) -> None:
        row = _part_row(part, 0)
        for k in ("id", "job_id", "idx"):
            row.pop(k)
        conn.execute(t.parts.update().where(t.parts.c.id == str(part.id)).values(**row))

    def get(self, conn: Connection, job_id: UUID) -> Job:
        r = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == str(job_id))).first()
        if r is None:
            raise NotFoundError(f"no job {job_id}")
        return _job(r, self.parts(conn, job_id))

    def parts(self, conn: Connection, job_id: UUID) -> list[Part]:
        q = sa.select(t.parts).where(t.parts.c.job_id == str(job_id)).order_by(t.parts.c.idx)
        return [_part(r) for r in conn.execute(q)]

    def find_part(self, conn: Connection, part_id: UUID) -> Part:
        r = conn.execute(sa.select(t.parts).where(t.parts.c.id == str(part_id))).first()
        if r is None:
            raise NotFoundError(f"no part {part_id}")
        return _part(r)

    def list(
        self, conn: Connection, states: Iterable[JobState] | None = None, limit: int = 1000, offset: int = 0,
        name_like: str | None = None,
    ) -> list[Job]:
        q = sa.select(t.jobs).order_by(t.jobs.c.priority.desc(), t.jobs.c.submitted_at).limit(limit).offset(offset)
        if states is not None:
            q = q.where(t.jobs.c.state.in_([s.value for s in states]))
        if name_like:
            q = q.where(t.jobs.c.name.contains(name_like, autoescape=True))
        rows = conn.execute(q).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        by_job: dict[str, list[Part]] = {i: [] for i in ids}
        pq = sa.select(t.parts).where(t.parts.c.job_id.in_(ids)).order_by(t.parts.c.job_id, t.parts.c.idx)
        for pr in conn.execute(pq):
            by_job[pr.job_id].append(_part(pr))
        return [_job(r, by_job[r.id]) for r in rows]

    def count_by_state(self, conn: Connection) -> dict[str, int]:
        q = sa.select(t.jobs.c.state, sa.func.count()).group_by(t.jobs.c.state)
        return {s: n for s, n in conn.execute(q)}



# ---------------------------------------------------------------- nodes
def _node_row(n: Node) -> dict[str, Any]:
    return {
        "id": str(n.id), "name": n.name, "state": n.state.value, "capabilities": n.capabilities.to_dict(),
        "vendor_id": sid(n.vendor_id), "config_profile_id": sid(n.config_profile_id), "location": n.location,
        "address": n.address, "driver": n.driver, "energy_level": n.energy_level,
        "material_levels": n.material_levels, "uptime_s": n.uptime_s,
        "last_maintenance": ts(n.last_maintenance), "software_version": n.software_version,
        "registered_at": ts(n.registered_at),
    }


def _node(r: Any) -> Node:
    return Node(
        id=UUID(r.id), name=r.name, state=NodeState(r.state), capabilities=Capabilities.from_dict(r.capabilities),
        vendor_id=uid(r.vendor_id), config_profile_id=uid(r.config_profile_id), location=r.location,
        address=r.address, driver=r.driver, energy_level=r.energy_level,
        material_levels=dict(r.material_levels or {}), uptime_s=r.uptime_s,
        last_maintenance=dt(r.last_maintenance), software_version=r.software_version,
        registered_at=dt(r.registered_at),
    )


class NodeRepo:
    def add(self, conn: Connection, node: Node) -> None:
        conn.execute(t.nodes.insert(), [_node_row(node)])

    def update(self, conn: Connection, node: Node) -> None:
        row = _node_row(node)
        row.pop("id")
        conn.execute(t.nodes.update().where(t.nodes.c.id == str(node.id)).values(**row))

    def move(self, conn: Connection, node: Node, from_state: NodeState) -> bool:
        """Compare-and-set: write ``node`` only while the stored machine is still in ``from_state`` (the row
        stays locked until the transaction ends)."""
        row = _node_row(node)
        row.pop("id")
        c = t.nodes.c
        res = conn.execute(t.nodes.update().where(c.id == str(node.id), c.state == from_state.value).values(**row))
        return res.rowcount == 1

    def get(self, conn: Connection, node_id: UUID) -> Node:
        r = conn.execute(sa.select(t.nodes).where(t.nodes.c.id == str(node_id))).first()
        if r is None:
            raise NotFoundError(f"no machine {node_id}")
        return _node(r)

    def list(self, conn: Connection, states: Iterable[NodeState] | None = None) -> list[Node]:
        q = sa.select(t.nodes).order_by(t.nodes.c.name)
        if states is not None:
            q = q.where(t.nodes.c.state.in_([s.value for s in states]))
        return [_node(r) for r in conn.execute(q)]

    def add_config(self, conn: Connection, cfg: NodeConfig, at: float) -> None:
        conn.execute(t.node_configs.insert(), [{
            "id": str(cfg.id), "node_id": str(cfg.node_id), "software_version": cfg.software_version,
            "capabilities": cfg.capabilities.to_dict(), "layout": cfg.layout, "sensors": cfg.sensors,
            "custom_settings": cfg.custom_settings, "created_at": at,
        }])

    def add_maintenance(self, conn: Connection, m: NodeMaintenance) -> None:
        conn.execute(t.node_maintenance.insert(), [_maint_row(m)])

    def update_maintenance(self, conn: Connection, m: NodeMaintenance) -> None:
        row = _maint_row(m)
        row.pop("id")
        conn.execute(t.node_maintenance.update().where(t.node_maintenance.c.id == str(m.id)).values(**row))

    def complete_maintenance(self, conn: Connection, m: NodeMaintenance) -> bool:
        """Compare-and-set: write the completed record ``m`` only if it is still open in the store."""
        row = _maint_row(m)
        row.pop("id")
        c = t.node_maintenance.c
        res = conn.execute(t.node_maintenance.update().where(c.id == str(m.id), c.completed_date.is_(None))
                           .values(**row))
        return res.rowcount == 1

    def maintenance(self, conn: Connection, node_id: UUID | None = None,
                    open_only: bool = False) -> list[NodeMaintenance]:
        """A node's maintenance records (every node's with ``node_id`` None), oldest first; ``open_only``: not
        completed yet."""
        q = sa.select(t.node_maintenance).order_by(t.node_maintenance.c.scheduled_date)
        if node_id is not None:
            q = q.where(t.node_maintenance.c.node_id == str(node_id))
        if open_only:
            q = q.where(t.node_maintenance.c.completed_date.is_(None))
        return [
            NodeMaintenance(id=UUID(r.id), node_id=UUID(r.node_id), type=MaintenanceType(r.type),
                            scheduled_date=dt(r.scheduled_date), completed_date=dt(r.completed_date),
                            performed_by=uid(r.performed_by), notes=r.notes)
            for r in conn.execute(q)
        ]


def _maint_row(m: NodeMaintenance) -> dict[str, Any]:
    return {
        "id": str(m.id), "node_id": str(m.node_id), "type": m.type.value, "scheduled_date": ts(m.scheduled_date),
        "completed_date": ts(m.completed_date), "performed_by": sid(m.performed_by), "notes": m.notes,
    }


# ---------------------------------------------------------------- history, audit, alerts
class HistoryRepo:
    def add(self, conn: Connection, changes: Sequence[StateChange]) -> None:
        if changes:
            conn.execute(t.state_changes.insert(), [{
                "kind": c.kind, "obj_id": str(c.obj_id), "from_state": c.from_state, "to_state": c.to_state,
                "at": ts(c.at), "reason": c.reason, "actor": c.actor, "extra": c.extra,
            } for c in changes])

    def timeline(self, conn: Connection, obj_ids: Sequence[UUID]) -> list[StateChange]:
        q = sa.select(t.state_changes).where(t.state_changes.c.obj_id.in_([str(i) for i in obj_ids])).order_by(
            t.state_changes.c.seq)
        return [StateChange(r.kind, UUID(r.obj_id), r.from_state, r.to_state, dt(r.at), r.reason, r.actor,
                            dict(r.extra or {})) for r in conn.execute(q)]


class AuditRepo:
    def add(self, conn: Connection, entry: AuditEntry) -> None:
        from app.core.store.audit_chain import append

        append(conn, {"id": str(entry.id), "actor": str(entry.actor)[:100], "action": entry.action,
                      "target": entry.target, "at": ts(entry.at), "before": entry.before, "after": entry.after})

    def list(self, conn: Connection, limit: int = 100, target: str | None = None,
             action_prefix: str | None = None, actor: str | None = None) -> list[AuditEntry]:
        q = sa.select(t.audit_log).order_by(t.audit_log.c.seq.desc()).limit(limit)
        if actor:
            q = q.where(t.audit_log.c.actor == actor)
        if target:
            q = q.where(t.audit_log.c.target == target)
        if action_prefix:
            q = q.where(t.audit_log.c.action.startswith(action_prefix, autoescape=True))
        return [AuditEntry(id=UUID(r.id), actor=r.actor, action=r.action, target=r.target, at=dt(r.at),
                           before=r.before, after=r.after) for r in conn.execute(q)]



class AlertRepo:
    def add(self, conn: Connection, a: Alert) -> None:
        conn.execute(t.alerts.insert(), [{
            "id": str(a.id), "source": a.source, "type": a.type, "severity": a.severity.value,
            "message": a.message, "raised_at": ts(a.raised_at), "node_id": sid(a.node_id),
            "acknowledged_at": ts(a.acknowledged_at), "acknowledged_by": a.acknowledged_by,
        }])

    def acknowledge(self, conn: Connection, alert_id: UUID, at: float, by: str) -> bool:
        res = conn.execute(t.alerts.update().where(t.alerts.c.id == str(alert_id),
                                                   t.alerts.c.acknowledged_at.is_(None))
                           .values(acknowledged_at=at, acknowledged_by=by))
        return res.rowcount == 1

    def list(self, conn: Connection, open_only: bool = False, limit: int = 500) -> list[Alert]:
        q = sa.select(t.alerts).order_by(t.alerts.c.raised_at.desc()).limit(limit)
        if open_only:
            q = q.where(t.alerts.c.acknowledged_at.is_(None))
        return [Alert(id=UUID(r.id), source=r.source, type=r.type, severity=Severity(r.severity),
                      message=r.message, raised_at=dt(r.raised_at), node_id=uid(r.node_id),
                      acknowledged_at=dt(r.acknowledged_at), acknowledged_by=r.acknowledged_by)
                for r in conn.execute(q)]
