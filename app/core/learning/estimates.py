"""Learned estimates of parts on their machines, as the window, the CLI and the energy planner read them.

A part on a machine gets the active version's duration (with its 80 % interval) where that version covers the
machine; elsewhere the analytic estimate, flagged with the reason ("too little history for mk4-b", "no trained
model yet"). A part not on a machine yet has no machine to learn from: the analytic estimate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from app.core.domain.entities import Node, Part
from app.core.domain.errors import ImeweError
from app.core.jobs.eta import ANALYTIC, DurationEstimate
from app.core.learning.features import analytic_s, prestart_features
from app.core.learning.records import JobRecord
from app.core.learning.serve import Prediction
from app.core.learning.service import LearningService

log = logging.getLogger(__name__)
NOT_PLACED = "not on a machine yet: analytic estimate"


def record_for(part: Part, node: Node, window: dict[str, float] | None = None) -> JobRecord:
    """The features a part on a machine has before it starts (plus a telemetry ``window`` for the risk)."""
    return record_raw(node, part.process.value, part.material_type, part.size_mm, part.estimated_duration_s,
                      part.estimated_material_g, part.file_path, str(part.id), window)


def record_raw(node: Node, process: str, material: str, size_mm: Sequence[float], estimate_s: float,
               material_g: float, file_path: str | None, key: str = "", window: dict[str, float] | None = None
               ) -> JobRecord:
    """The same for a part that is not stored (a file in design review)."""
    f = prestart_features(size_mm, estimate_s, material_g, file_path, node.capabilities.to_dict())
    f.update(window or {})
    return JobRecord(key, node.name, process, material, 0.0, 0.0, f)


def as_estimate(p: Prediction, r: JobRecord) -> DurationEstimate:
    """What the window shows: the learned figure, or the analytic one (what the planner then plans with too;
    a machine's plain median ratio is not used for planning, so it is not shown as its time either)."""
    if p.learned:
        return DurationEstimate(p.value, p.low, p.high, True, p.note or "learned")
    return DurationEstimate.analytic(analytic_s(r), p.note or ANALYTIC)


class Estimator:
    """Durations and energy of parts on machines from the active version (loaded once, and again when the
    registry names another one; ``LearningService.models`` looks at most every few seconds)."""

    def __init__(self, service: LearningService, node_of: Callable[[UUID], Node | None]) -> None:
        self.service = service
        self._node_of = node_of

    def _node(self, part: Part) -> Node | None:
        if part.assigned_node is None:
            return None
        try:
            return self._node_of(part.assigned_node)
        except ImeweError:
            return None  # a machine removed since: nothing to learn from

    def durations(self, parts: Iterable[Part]) -> dict[UUID, DurationEstimate]:
        """Part id -> its duration on its machine (parts without an estimate of their own are left out)."""
        out: dict[UUID, DurationEstimate] = {}
        placed: list[tuple[Part, Node]] = []
        for part in parts:
            if part.estimated_duration_s <= 0:
                continue
            node = self._node(part)
            if node is None:
                out[part.id] = DurationEstimate.analytic(float(part.estimated_duration_s), NOT_PLACED)
            else:
                placed.append((part, node))
        if placed:
            out.update(zip((p.id for p, _ in placed), self._predict([record_for(p, n) for p, n in placed]),
                           strict=True))
        return out

    def duration_of(self, record: JobRecord) -> DurationEstimate:
        return self._predict([record])[0]

    def _predict(self, records: list[JobRecord]) -> list[DurationEstimate]:
        try:
            if not self.service.settings.enabled:
                return [DurationEstimate.analytic(float(r.features.get("analytic_s") or 0.0),
                                                  "learning is off: analytic estimate") for r in records]
            return [as_estimate(p, r) for p, r in zip(self.service.durations(records), records, strict=True)]
        except ImeweError as exc:  # an unreadable model: the analytic figures stay, and say why
            log.warning("learned durations not available: %s", exc)
            return [DurationEstimate.analytic(float(r.features.get("analytic_s") or 0.0), f"{exc}: {ANALYTIC}")
                    for r in records]

    def energy_kwh(self, part: Part, node: Node) -> Prediction | None:
        """Learned kWh of the part on the machine; None when nothing learned covers it (the planner keeps its
        analytic draw)."""
        if not self.service.settings.enabled or part.estimated_duration_s <= 0:
            return None
        try:
            models = self.service.models()
            if models is None:
                return None
            p = models.energy([record_for(part, node)])[0]
        except ImeweError as exc:
            log.warning("learned energy not available: %s", exc)
            return None
        return p if p.learned else None
