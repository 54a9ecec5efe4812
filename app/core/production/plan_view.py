"""The plan as the control room shows it: per machine, ordered operations with planned start and end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.domain.entities import Node


@dataclass(frozen=True, slots=True)
class PlanRow:
    node_id: UUID
    node_name: str
    job_id: UUID
    job_name: str
    part_id: UUID
    label: str  # "bracket/arm #2"
    start: datetime
    end: datetime
    state: str  # the part's state: SCHEDULED, IN_PROGRESS...
    critical: bool = False  # on the critical path of its swarm job


@dataclass(frozen=True, slots=True)
class PlanView:
    made_at: datetime
    rows: list[PlanRow]
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: dict[UUID, str] = field(default_factory=dict)  # part -> why no machine can take it now
    source: str = ""

    def by_node(self) -> dict[UUID, list[PlanRow]]:
        out: dict[UUID, list[PlanRow]] = {}
        for r in sorted(self.rows, key=lambda r: r.start):
            out.setdefault(r.node_id, []).append(r)
        return out


def free_capacity(plan: PlanView | None, nodes: Iterable[Node], now: datetime,
                  horizon_h: float = 24.0) -> list[dict[str, Any]]:
    """Per process: from when machines in service are free in ``plan``, up to the horizon (what linked sites
    are told this site can take on)."""
    end = now + timedelta(hours=horizon_h)
    busy_until: dict[UUID, datetime] = {}
    for row in plan.rows if plan else []:
        busy_until[row.node_id] = max(busy_until.get(row.node_id, now), row.end)
    windows: dict[str, dict[str, Any]] = {}
    for node in nodes:
        if not node.state.in_service:
            continue
        free_from = min(max(busy_until.get(node.id, now), now), end)
        w = windows.setdefault(node.process.value, {"process": node.process.value, "start": free_from,
                                                    "end": end, "machines": 0})
        w["machines"] += 1
        w["start"] = min(w["start"], free_from)
    return [dict(w, start=w["start"].isoformat(), end=w["end"].isoformat()) for w in windows.values()
            if w["start"] < end]
