"""One finished job as the models see it: what was known before it started, and what really happened."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("completed", "failed")


@dataclass(slots=True)
class JobRecord:
    job_id: str
    machine: str  # the machine's name (stable across restarts, unlike a row id in another site's store)
    process: str
    material: str
    started_at: float  # epoch seconds, UTC
    finished_at: float
    features: dict[str, float] = field(default_factory=dict)  # known before start (see features.FEATURES)
    duration_s: float = 0.0
    energy_kwh: float = 0.0
    material_g: float = 0.0
    outcome: str = "completed"
    telemetry: dict[str, float] = field(default_factory=dict)  # summary of the run itself
    source: str = "site"  # site | simulated

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRecord:
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})  # type: ignore[attr-defined]

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"
