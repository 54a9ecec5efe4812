"""The plan as the control room shows it: per machine, ordered operations with planned start and end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


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
