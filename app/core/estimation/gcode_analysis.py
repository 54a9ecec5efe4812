"""The summary of a G-code file the job service and the CLI show: time, filament, layers, features."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain.materials import DENSITY_G_CM3
from app.core.estimation.gcode_model import MoveKind, Toolpath
from app.core.estimation.gcode_parser import parse_gcode_file
from app.core.estimation.gcode_planner import plan_time

DEFAULT_FILAMENT_MM = 1.75


@dataclass(slots=True)
class GcodeAnalysis:
    path: str
    flavor: str
    lines: int
    moves: int
    estimated_time_s: float
    time_basis: str
    slicer_time_s: float | None
    filament_mm: float
    filament_g: float
    filament_basis: str
    layers: int
    bbox_min_mm: tuple[float, float, float]
    bbox_max_mm: tuple[float, float, float]
    bbox_mm: tuple[float, float, float]
    feature_time_s: dict[str, float] = field(default_factory=dict)
    travel_mm: float = 0.0
    work_mm: float = 0.0  # extruding, cutting or engraving path length
    dwell_s: float = 0.0
    units_inch: bool = False
    limits: dict[str, Any] = field(default_factory=dict)
    slicer: dict[str, Any] = field(default_factory=dict)

    @property
    def slicer_difference(self) -> float | None:
        """Our estimate relative to the slicer's own, e.g. 0.012 = 1.2 % longer."""
        if not self.slicer_time_s:
            return None
        return self.estimated_time_s / self.slicer_time_s - 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slicer_difference"] = self.slicer_difference
        return d


def analyze_gcode(
    path: str | Path, flavor: str | None = None, material: str | None = None, filament_diameter_mm: float | None = None
) -> GcodeAnalysis:
    tp = parse_gcode_file(path, flavor)
    return summarize(tp, str(path), material, filament_diameter_mm)


def summarize(tp: Toolpath, path: str = "", material: str | None = None, diameter: float | None = None) -> GcodeAnalysis:
    plan = plan_time(tp)
    seg = np.linalg.norm(tp.points[1:] - tp.points[:-1], axis=1)
    working = (tp.kind == MoveKind.EXTRUDE) | (tp.kind == MoveKind.CUT)
    moving = (tp.kind == MoveKind.TRAVEL) | (tp.kind == MoveKind.RAPID)
    sl = tp.slicer
    dia = diameter or float(sl.get("filament_diameter") or DEFAULT_FILAMENT_MM)
    mat = (material or str(sl.get("filament_type", "pla"))).lower()
    density = float(sl.get("filament_density") or DENSITY_G_CM3.get(mat, DENSITY_G_CM3["pla"]))
    filament_mm = float(tp.de.sum()) if tp.flavor == "printer" else 0.0
    grams = filament_mm * math.pi * (dia / 2) ** 2 / 1000.0 * density
    pts = tp.points[1:][working] if working.any() else tp.points
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    layers = int(len(np.unique(tp.layer[working & (tp.layer >= 0)]))) if working.any() else 0
    features: dict[str, float] = {}
    if len(tp.feature_names) > 1 or tp.flavor == "printer":
        sums = np.bincount(tp.feature, weights=plan.block_time_s, minlength=len(tp.feature_names))
        features = {name: float(s) for name, s in zip(tp.feature_names, sums, strict=True) if s > 0}
    else:
        for k in (MoveKind.CUT, MoveKind.RAPID, MoveKind.TRAVEL):
            s = float(plan.block_time_s[tp.kind == k].sum())
            if s > 0:
                features[k.name.lower()] = s
    lim = tp.limits
    basis = (
        f"planner: trapezoid profiles with look-ahead; {'junction deviation' if lim.junction_deviation else 'classic jerk'}"
        f" junctions; accel print/travel {lim.acc_print:g}/{lim.acc_travel:g} mm/s2"
        + (" (file's M201-M205)" if tp.flavor == "printer" else " (GRBL-like defaults: 250 mm/s2, 5000 mm/min rapids)")
        + f"; dwells {plan.dwell_s:g} s; heating waits not counted"
    )
    return GcodeAnalysis(
        path=path,
        flavor=tp.flavor,
        lines=tp.line_count,
        moves=tp.moves,
        estimated_time_s=plan.total_s,
        time_basis=basis,
        slicer_time_s=sl.get("estimated_time_s"),
        filament_mm=filament_mm,
        filament_g=grams,
        filament_basis=f"net E of all moves; {dia:g} mm filament at {density:g} g/cm3 ({mat})",
        layers=layers,
        bbox_min_mm=_t(lo),
        bbox_max_mm=_t(hi),
        bbox_mm=_t(hi - lo),
        feature_time_s=features,
        travel_mm=float(seg[moving].sum()),
        work_mm=float(seg[working].sum()),
        dwell_s=plan.dwell_s,
        units_inch=tp.units_inch,
        limits=lim.to_dict(),
        slicer={k: v for k, v in sl.items() if isinstance(v, (int, float, str))},
    )


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
