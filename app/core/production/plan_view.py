"""The plan as the control room shows it: per machine, ordered operations with planned start and end."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    peak_w: float = 0.0  # the machine's planned draw: peak_w for peak_s (heat-up), then steady_w
    peak_s: int = 0
    steady_w: float = 0.0
    energy_learned: bool = False  # the steady draw is learned from the site's history, not the machine's profile


@dataclass(frozen=True, slots=True)
class SetupRow:
    """A material change the plan puts on a machine just before an operation."""

    node_id: UUID
    node_name: str
    start: datetime
    end: datetime
    from_material: str
    to_material: str


@dataclass(frozen=True, slots=True)
class PlanView:
    made_at: datetime
    rows: list[PlanRow]
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: dict[UUID, str] = field(default_factory=dict)  # part -> why no machine can take it now
    source: str = ""
    power: list[tuple[datetime, float]] = field(default_factory=list)  # site's planned draw, W from each instant
    power_cap_w: float | None = None
    setups: list[SetupRow] = field(default_factory=list)
    blocked: list[tuple[UUID, str, datetime, datetime]] = field(default_factory=list)  # machine closed: maintenance
    unstaffed: list[tuple[datetime, datetime]] = field(default_factory=list)  # nobody on the floor

    def by_node(self) -> dict[UUID, list[PlanRow]]:
        out: dict[UUID, list[PlanRow]] = {}
        for r in sorted(self.rows, key=lambda r: r.start):
            out.setdefault(r.node_id, []).append(r)
        return out


def plan_rows_dict(plan: PlanView | None) -> dict[str, Any]:
    """``plan show``: each operation with its machine, start, end and planned power."""
    if plan is None:
        return {"made_at": None, "source": "", "operations": [], "skipped": {}}
    return {
        "made_at": plan.made_at.isoformat(), "source": plan.source, "metrics": plan.metrics,
        "operations": [{"machine": r.node_name, "job": r.job_name, "operation": r.label, "state": r.state,
                        "start": r.start.isoformat(), "end": r.end.isoformat(), "peak_w": round(r.peak_w, 1),
                        "heatup_s": r.peak_s, "steady_w": round(r.steady_w, 1),
                        "energy_basis": "learned" if r.energy_learned else "analytic"}
                       for r in sorted(plan.rows, key=lambda r: (r.start, r.node_name))],
        "setups": [{"machine": s.node_name, "start": s.start.isoformat(), "end": s.end.isoformat(),
                    "from": s.from_material, "to": s.to_material} for s in plan.setups],
        "maintenance": [{"machine": name, "start": a.isoformat(), "end": b.isoformat()}
                        for _n, name, a, b in plan.blocked],
        "unstaffed": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in plan.unstaffed],
        "skipped": {str(k): v for k, v in plan.skipped.items()},
    }


def plan_power_dict(plan: PlanView | None, solar_w: Callable[[datetime], float] | None = None) -> dict[str, Any]:
    """``plan power``: the site's planned draw over time (steps) against the cap and the solar forecast."""
    if plan is None:
        return {"made_at": None, "power_cap_w": None, "peak_w": 0.0, "steps": []}
    steps = [{"at": t.isoformat(), "planned_w": round(w, 1),
              "solar_w": round(solar_w(t), 1) if solar_w is not None else None} for t, w in plan.power]
    return {"made_at": plan.made_at.isoformat(), "power_cap_w": plan.power_cap_w,
            "peak_w": round(max((w for _, w in plan.power), default=0.0), 1), "steps": steps}


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
