"""The spec's monitor_materials: material below its reorder threshold raises a low-material alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from app.core.domain.enums import Severity
from app.core.telemetry.rules import Finding


@dataclass(slots=True)
class MaterialMonitor:
    """Thresholds per material name (grams, or the unit the machine reports); ``default`` for the rest.
    ``critical_fraction`` of the threshold and below is critical: the job will run out."""

    thresholds: dict[str, float] = field(default_factory=dict)
    default: float = 100.0
    critical_fraction: float = 0.2

    def threshold(self, material: str) -> float:
        return self.thresholds.get(material, self.default)

    def check(self, node_id: UUID, levels: dict[str, float], node_name: str = "", unit: str = "g") -> list[Finding]:
        """The alert names the material and the machine (its name; its id only when the name is not known) and
        gives the amounts with their ``unit`` (drivers report ``material_remaining`` in grams)."""
        out = []
        who = node_name or f"machine {node_id}"
        for material, left in levels.items():
            limit = self.threshold(material)
            if left < limit:
                sev = Severity.CRITICAL if left <= limit * self.critical_fraction else Severity.WARNING
                out.append(Finding("material_low", sev,
                                   f"Low material: {material} on {who}, {left:.0f} {unit} left (reorder below "
                                   f"{limit:.0f} {unit})", f"material:{material}"))
        return out
