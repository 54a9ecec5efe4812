"""What a machine can do. The UI, validation and the scheduler decide from this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.domain.materials import material_fits_process

FILE_FEATURE = "file:"  # "file:.gcode": the machine runs files of this kind only


@dataclass(slots=True)
class Capabilities:
    process: ProcessType
    build_volume_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 0 means "not limited"
    materials: frozenset[str] = frozenset()
    loaded_material: str | None = None
    nozzle_mm: float | None = None  # nozzle for FDM, tool diameter for CNC, spot for laser
    max_power_w: float = 0.0  # peak draw (a printer heating up at full duty; a mill's spindle at full load)
    idle_power_w: float = 0.0
    steady_power_w: float = 0.0  # draw while working after heat-up; 0 means "as max_power_w" (the safe side)
    heatup_s: float = 0.0  # how long a job draws max_power_w before it settles to steady_power_w
    max_speed_mm_s: float = 0.0
    features: frozenset[str] = frozenset()  # protocol features, e.g. "autoreport_temp", "arcs"
    tags: frozenset[str] = frozenset()

    def job_power(self) -> tuple[float, float, float, float]:
        """(peak W, heat-up s, steady W, idle W) of a job on this machine, as the scheduler plans it."""
        peak = max(self.max_power_w, self.steady_power_w)
        steady = self.steady_power_w or peak
        return peak, max(self.heatup_s, 0.0), steady, min(self.idle_power_w, steady)

    def file_kinds(self) -> frozenset[str]:
        """The only kinds of file the machine runs (features ``file:.gcode``...), empty when it takes any job:
        a network printer prints a sliced file and cannot be sent a mesh."""
        return frozenset(f.removeprefix(FILE_FEATURE).lower() for f in self.features if f.startswith(FILE_FEATURE))

    def takes_file(self, file_path: str | None) -> bool:
        kinds = self.file_kinds()
        if not kinds:
            return True
        return bool(file_path) and PurePath(str(file_path)).suffix.lower() in kinds

    def can_use(self, material: str) -> bool:
        if self.materials:
            return material in self.materials
        return material_fits_process(material, self.process)

    def fits(self, size_mm: tuple[float, float, float], rotate: bool = True) -> bool:
        """Whether a bounding box fits the build volume, optionally in any axis-aligned orientation."""
        vol = self.build_volume_mm
        if not any(vol):
            return True
        if rotate:
            return all(s <= v + 1e-9 for s, v in zip(sorted(size_mm), sorted(vol), strict=True))
        return all(s <= v + 1e-9 for s, v in zip(size_mm, vol, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "process": self.process.value,
            "build_volume_mm": list(self.build_volume_mm),
            "materials": sorted(self.materials),
            "loaded_material": self.loaded_material,
            "nozzle_mm": self.nozzle_mm,
            "max_power_w": self.max_power_w,
            "idle_power_w": self.idle_power_w,
            "steady_power_w": self.steady_power_w,
            "heatup_s": self.heatup_s,
            "max_speed_mm_s": self.max_speed_mm_s,
            "features": sorted(self.features),
            "tags": sorted(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capabilities:
        try:
            process = ProcessType(str(data["process"]).lower())
        except (KeyError, ValueError) as exc:
            known = ", ".join(p.value for p in ProcessType)
            raise ValidationError(f"unknown process {data.get('process')!r}; known: {known}", "process") from exc
        vol = data.get("build_volume_mm") or (0, 0, 0)
        try:
            volume = tuple(float(v) for v in vol)
        except (TypeError, ValueError) as exc:
            raise ValidationError("build volume must be three numbers in mm", "build_volume_mm") from exc
        if len(volume) != 3 or any(v < 0 for v in volume):
            raise ValidationError("build volume must be three non-negative numbers in mm", "build_volume_mm")
        return cls(
            process=process,
            build_volume_mm=volume,  # type: ignore[arg-type]
            materials=frozenset(str(m).lower() for m in data.get("materials") or ()),
            loaded_material=(str(data["loaded_material"]).lower() if data.get("loaded_material") else None),
            nozzle_mm=_opt_float(data.get("nozzle_mm")),
            max_power_w=float(data.get("max_power_w") or 0.0),
            idle_power_w=float(data.get("idle_power_w") or 0.0),
            steady_power_w=float(data.get("steady_power_w") or 0.0),
            heatup_s=float(data.get("heatup_s") or 0.0),
            max_speed_mm_s=float(data.get("max_speed_mm_s") or 0.0),
            features=frozenset(data.get("features") or ()),
            tags=frozenset(data.get("tags") or ()),
        )


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass(slots=True)
class MachineProfile:
    """A named configuration: capabilities plus the settings a driver needs."""

    name: str
    capabilities: Capabilities
    settings: dict[str, Any] = field(default_factory=dict)
