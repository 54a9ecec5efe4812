"""What a designer needs to know about a part before slicing: size, volume, defects, overhangs.

``analyze_file(path)`` is the entry point for the job service; ``analyze_part`` works on a part
already loaded (the preview loads once and reuses it).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain.errors import ValidationError
from app.core.estimation.mesh_io import LoadedPart, load_part
from app.core.estimation.orientation import Orientation, orientation_candidates
from app.core.estimation.topology import Topology, analyse_topology, weld

log = logging.getLogger(__name__)

INCH_MM = 25.4
# A part whose largest side is under this many file units is more likely drawn in inches than in mm.
INCH_GUESS_BELOW = 10.0
DEFAULT_OVERHANG_DEG = 45.0


@dataclass(slots=True)
class ObjectSummary:
    name: str
    triangles: int
    volume_mm3: float
    area_mm2: float
    bbox_mm: tuple[float, float, float]
    watertight: bool
    bodies: int


@dataclass(slots=True)
class PartAnalysis:
    """Geometry facts about one part file. Sizes are in file units, which the units guess qualifies."""

    path: str
    format: str
    triangles: int
    vertices: int
    volume_mm3: float
    area_mm2: float
    bbox_min_mm: tuple[float, float, float]
    bbox_max_mm: tuple[float, float, float]
    bbox_mm: tuple[float, float, float]
    units_guess: str  # "mm" or "inch"
    units_basis: str
    watertight: bool
    boundary_edges: int
    holes: int
    non_manifold_edges: int
    inconsistent_normal_edges: int
    inverted: bool  # closed but wound inside out (negative volume)
    degenerate_faces: int
    bodies: int
    overhang_angle_deg: float
    overhang_area_mm2: float
    objects: list[ObjectSummary] = field(default_factory=list)
    orientations: list[Orientation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def printable_volume_mm3(self) -> float:
        return abs(self.volume_mm3)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["orientations"] = [o.to_dict() for o in self.orientations[:6]]
        return d


def analyze_file(path: str | Path, overhang_deg: float = DEFAULT_OVERHANG_DEG) -> PartAnalysis:
    """Load and analyse a part file; raises ``PartFileError`` subclasses for unreadable files."""
    check_overhang(overhang_deg)
    return analyze_part(load_part(path), overhang_deg)


def check_overhang(overhang_deg: float) -> None:
    if not (isinstance(overhang_deg, int | float) and 0 < overhang_deg < 90):
        raise ValidationError(f"the overhang angle must be a number of degrees between 0 and 90, not {overhang_deg}",
                              "overhang_deg")


def analyze_part(part: LoadedPart, overhang_deg: float = DEFAULT_OVERHANG_DEG) -> PartAnalysis:
    return analyze_part_with_topology(part, overhang_deg)[0]


def analyze_part_with_topology(
    part: LoadedPart, overhang_deg: float = DEFAULT_OVERHANG_DEG
) -> tuple[PartAnalysis, list[Topology]]:
    """The analysis plus each object's welded mesh, for callers (the preview) that draw it."""
    check_overhang(overhang_deg)
    summaries: list[ObjectSummary] = []
    topos: list[Topology] = []
    volumes: list[float] = []
    areas: list[float] = []
    overhang = 0.0
    zmin = min(float(o.triangles[..., 2].min()) for o in part.objects)
    single = len(part.objects) == 1
    orientations_future = None
    # numpy releases the GIL in its sorts, ufuncs and matrix products: the surface integrals (and
    # the pose extents) run on a second core while this thread sorts edges.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for obj in part.objects:
            welded = weld(obj.triangles)
            integrals = pool.submit(_integrals, obj.triangles, overhang_deg, zmin)
            if single:
                orientations_future = pool.submit(orientation_candidates, welded[0])
            topo = analyse_topology(obj.triangles, welded)
            vol, area, ovh = integrals.result()
            lo, hi = _bounds(topo.vertices)
            summaries.append(
                ObjectSummary(
                    name=obj.name,
                    triangles=len(obj.triangles),
                    volume_mm3=vol,
                    area_mm2=area,
                    bbox_mm=_t(hi - lo),
                    watertight=topo.boundary_edges == 0 and topo.non_manifold_edges == 0,
                    bodies=topo.bodies,
                )
            )
            topos.append(topo)
            volumes.append(vol)
            areas.append(area)
            overhang += ovh
    verts = np.concatenate([t.vertices for t in topos]) if len(topos) > 1 else topos[0].vertices
    lo, hi = _bounds(verts)
    size = hi - lo
    units, basis = units_guess(size, part.declared_units)
    boundary = sum(t.boundary_edges for t in topos)
    nonman = sum(t.non_manifold_edges for t in topos)
    volume = float(sum(volumes))
    watertight = boundary == 0 and nonman == 0
    inconsistent = sum(t.inconsistent_edges for t in topos)
    result = PartAnalysis(
        path=str(part.path),
        format=part.format,
        triangles=part.triangle_count,
        vertices=int(sum(len(t.vertices) for t in topos)),
        volume_mm3=volume,
        area_mm2=float(sum(areas)),
        bbox_min_mm=_t(lo),
        bbox_max_mm=_t(hi),
        bbox_mm=_t(size),
        units_guess=units,
        units_basis=basis,
        watertight=watertight,
        boundary_edges=boundary,
        holes=sum(t.holes for t in topos),
        non_manifold_edges=nonman,
        inconsistent_normal_edges=inconsistent,
        inverted=watertight and volume < 0,
        degenerate_faces=sum(t.degenerate_faces for t in topos),
        bodies=sum(t.bodies for t in topos),
        overhang_angle_deg=overhang_deg,
        overhang_area_mm2=overhang,
        objects=summaries,
        orientations=orientations_future.result() if orientations_future else orientation_candidates(verts),
    )
    result.warnings = _warnings(result)
    return result, topos


def _integrals(tris: np.ndarray, overhang_deg: float, zmin: float) -> tuple[float, float, float]:
    """Signed volume, area and overhang area.

    Corners are taken relative to a point of the part so float32 keeps its precision per face;
    sums accumulate in float64.
    """
    t = np.asarray(tris, dtype=np.float32)
    centre = np.array([t[:, 0, k].mean() for k in range(3)], dtype=np.float32)
    v0, v1, v2 = t[:, 0] - centre, t[:, 1] - centre, t[:, 2] - centre
    cross = _cross(v1 - v0, v2 - v0)
    double_area = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    volume = float(np.einsum("ij,ij->i", v0, _cross(v1, v2)).sum(dtype=np.float64) / 6.0)
    area = float(double_area.sum(dtype=np.float64) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.where(double_area > 0, cross[:, 2] / double_area, 0.0)
    # A face overhangs when it faces down more steeply than the chosen angle from vertical;
    # faces lying on the plate are supported by it.
    limit = math.sin(math.radians(overhang_deg))
    sign = -1.0 if volume < 0 else 1.0  # an inside-out mesh has its normals reversed
    mask = sign * nz < -limit
    if mask.any():
        idx = np.flatnonzero(mask)
        low = t[idx, :, 2].max(axis=1) <= zmin + 1e-3
        mask[idx[low]] = False
    return volume, area, float(double_area[mask].sum(dtype=np.float64) / 2.0)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product without np.cross's generic (slower) path."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def units_guess(size: np.ndarray, declared: str | None) -> tuple[str, str]:
    if declared:
        d = declared.lower()
        if d.startswith("inch") or d == "in":
            return "inch", f"the file declares its unit as {declared}"
        if d.startswith(("millim", "mm")):
            return "mm", f"the file declares its unit as {declared}"
    largest = float(size.max()) if size.size else 0.0
    if 0 < largest < INCH_GUESS_BELOW:
        return "inch", (
            f"largest side is {largest:.3g} units: tiny as mm, plausible as inches "
            f"({largest * INCH_MM:.0f} mm); scale by 25.4 if so"
        )
    return "mm", f"largest side is {largest:.4g} units, a plausible size in mm"


def _warnings(a: PartAnalysis) -> list[str]:
    w: list[str] = []
    if not a.watertight:
        w.append(f"not watertight: {a.boundary_edges} open edges in {a.holes} holes, {a.non_manifold_edges} non-manifold edges")
    if a.inconsistent_normal_edges:
        w.append(f"{a.inconsistent_normal_edges} edges join faces with flipped normals")
    if a.inverted:
        w.append("the mesh is inside out (normals point inwards)")
    if a.bodies > len(a.objects):
        w.append(f"{a.bodies} separate bodies")
    if a.units_guess == "inch":
        w.append(f"units look like inches: {a.units_basis}")
    return w


def _bounds(verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([verts[:, k].min() for k in range(3)], dtype=float)
    hi = np.array([verts[:, k].max() for k in range(3)], dtype=float)
    return lo, hi


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
