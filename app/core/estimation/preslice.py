"""Estimates before slicing: material and time for FDM and resin, stock and time hints for CNC.

These are rules of thumb, not a slicer: each result says which figures it rests on, so a designer
knows how far to trust it. A sliced G-code file (``gcode_analysis``) replaces them when available.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from app.core.domain.materials import DENSITY_G_CM3

FDM_DEFAULTS = {"layer_mm": 0.2, "infill": 0.2, "walls_mm": 1.2, "speed_mm_s": 60.0, "line_mm": 0.45}
# A print head spends time on travel, retraction and slower outer walls; slicers' output averages
# about this share of the nominal extrusion speed on ordinary parts.
FDM_SPEED_EFFICIENCY = 0.55
FDM_LAYER_OVERHEAD_S = 2.0
RESIN_DEFAULTS = {"layer_mm": 0.05, "exposure_s": 2.5, "lift_s": 6.0, "support_share": 0.1}
# Material removal rates of a hobby/pro router (cm3/min) for roughing; finishing goes by surface.
CNC_MRR_CM3_MIN = {"aluminium": 4.0, "brass": 3.0, "steel": 1.5, "pom": 15.0, "hdpe": 18.0, "acrylic": 12.0,
                   "mdf": 30.0, "plywood": 25.0}
CNC_FINISH_MM2_MIN = 600.0


@dataclass(slots=True)
class Estimate:
    process: str
    material: str
    material_g: float
    time_s: float
    basis: str
    stock_mm: tuple[float, float, float] | None = None
    removed_cm3: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_fdm(
    volume_mm3: float,
    area_mm2: float,
    height_mm: float,
    material: str = "pla",
    layer_mm: float = FDM_DEFAULTS["layer_mm"],
    infill: float = FDM_DEFAULTS["infill"],
    speed_mm_s: float = FDM_DEFAULTS["speed_mm_s"],
    walls_mm: float = FDM_DEFAULTS["walls_mm"],
) -> Estimate:
    """Walls and top/bottom skins are solid (area x wall thickness); the rest is filled at ``infill``."""
    volume = abs(volume_mm3)
    shell = min(volume, area_mm2 * walls_mm)  # surface x wall thickness, capped for thin parts
    plastic = shell + infill * (volume - shell)
    density = DENSITY_G_CM3.get(material, 1.24)
    grams = plastic / 1000.0 * density
    flow = layer_mm * FDM_DEFAULTS["line_mm"] * speed_mm_s * FDM_SPEED_EFFICIENCY  # mm3/s
    layers = max(1, math.ceil(height_mm / layer_mm))
    time_s = plastic / flow + layers * FDM_LAYER_OVERHEAD_S
    basis = (
        f"FDM estimate: {layer_mm} mm layers, {infill:.0%} infill, {walls_mm} mm walls, {speed_mm_s:g} mm/s at "
        f"{FDM_SPEED_EFFICIENCY:.0%} average efficiency, {density} g/cm3 {material}; {layers} layers. Slice for a firm figure."
    )
    return Estimate("fdm", material, grams, time_s, basis)


def estimate_resin(
    volume_mm3: float,
    height_mm: float,
    material: str = "resin-standard",
    layer_mm: float = RESIN_DEFAULTS["layer_mm"],
    exposure_s: float = RESIN_DEFAULTS["exposure_s"],
    lift_s: float = RESIN_DEFAULTS["lift_s"],
) -> Estimate:
    """A resin printer cures a whole layer at once: time goes by height, not by volume."""
    density = DENSITY_G_CM3.get(material, 1.15)
    grams = abs(volume_mm3) * (1 + RESIN_DEFAULTS["support_share"]) / 1000.0 * density
    layers = max(1, math.ceil(height_mm / layer_mm))
    time_s = layers * (exposure_s + lift_s)
    basis = (
        f"resin estimate: {layers} layers of {layer_mm} mm at {exposure_s:g} s exposure + {lift_s:g} s lift; "
        f"solid part plus {RESIN_DEFAULTS['support_share']:.0%} supports at {density} g/cm3"
    )
    return Estimate("sla", material, grams, time_s, basis)


def estimate_cnc(
    volume_mm3: float, area_mm2: float, bbox_mm: tuple[float, float, float], material: str = "aluminium",
    margin_mm: float = 3.0,
) -> Estimate:
    """Stock is the bounding box plus a margin on every side; roughing removes the rest, finishing goes by area."""
    stock = tuple(round(s + 2 * margin_mm, 1) for s in bbox_mm)
    stock_mm3 = stock[0] * stock[1] * stock[2]
    removed_cm3 = max(0.0, stock_mm3 - abs(volume_mm3)) / 1000.0
    mrr = CNC_MRR_CM3_MIN.get(material, 5.0)
    minutes = removed_cm3 / mrr + area_mm2 / CNC_FINISH_MM2_MIN
    density = DENSITY_G_CM3.get(material, 2.7)
    basis = (
        f"CNC hint: stock = bounding box + {margin_mm:g} mm per side; roughing at {mrr:g} cm3/min in {material}, "
        f"finishing {CNC_FINISH_MM2_MIN:g} mm2/min of surface; excludes setup and tool changes"
    )
    return Estimate("cnc_mill", material, stock_mm3 / 1000.0 * density, minutes * 60.0, basis,
                    stock_mm=stock, removed_cm3=removed_cm3)  # type: ignore[arg-type]


def estimates_for(analysis: Any, scale: float = 1.0) -> list[Estimate]:
    """The three standard estimates for a ``PartAnalysis`` (``scale`` turns file units into mm)."""
    vol = abs(analysis.volume_mm3) * scale**3
    area = analysis.area_mm2 * scale**2
    bbox = tuple(s * scale for s in analysis.bbox_mm)
    return [
        estimate_fdm(vol, area, bbox[2]),
        estimate_resin(vol, bbox[2]),
        estimate_cnc(vol, area, bbox),  # type: ignore[arg-type]
    ]
