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
# Millimetres per file unit, by the names files declare (3MF's unit attribute; glTF is metres by its format).
UNIT_MM = {"um": 0.001, "mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": INCH_MM, "ft": 304.8}
_DECLARED = {"micron": "um", "micrometer": "um", "micrometre": "um", "um": "um", "millimeter": "mm",
             "millimetre": "mm", "mm": "mm", "centimeter": "cm", "centimetre": "cm", "cm": "cm", "meter": "m",
             "metre": "m", "meters": "m", "metres": "m", "m": "m", "inch": "inch", "inches": "inch", "in": "inch",
             "foot": "ft", "feet": "ft", "ft": "ft"}
# With no declared unit: a part whose largest side is under METRE_GUESS_BELOW units would be under a millimetre
# as mm and under an inch as inches, but 1..1000 mm as metres (CAD and game exporters that write metres);
# from there up to INCH_GUESS_BELOW it is more likely drawn in inches than a few millimetres long.
METRE_GUESS_BELOW = 1.0
INCH_GUESS_BELOW = 10.0
DEFAULT_OVERHANG_DEG = 45.0
# A face overhangs when it faces down more steeply than the angle; within this much of the limit (in the sine of
# the angle, computed in float64) it is at the angle and counts as fine, so identical chamfers never split.
OVERHANG_TOL = 1e-6


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
    units_guess: str  # a key of UNIT_MM: "mm", "inch", "m" (declared or guessed)...
    units_basis: str  # why: the unit the file declares, or the size that made the guess
    watertight: bool
    boundary_edges: int
    holes: int
    non_manifold_edges: int
    inconsistent_normal_edges: int
    inverted: bool  # the file is closed but wound inside out as a whole (its volume is measured repaired)
    degenerate_faces: int
    bodies: int
    overhang_angle_deg: float
    overhang_area_mm2: float
    objects: list[ObjectSummary] = field(default_factory=list)
    orientations: list[Orientation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repaired_faces: int = 0  # faces whose winding was turned before volume, area and overhangs were measured
    repairs: list[str] = field(default_factory=list)  # what was repaired, per body

    @property
    def printable_volume_mm3(self) -> float:
        return abs(self.volume_mm3)

    @property
    def scale_to_mm(self) -> float:
        """Millimetres per file unit, as the units guess reads the file."""
        return UNIT_MM.get(self.units_guess, 1.0)

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
    repairs: list[str] = []
    repaired = 0
    read_volume = 0.0  # as the file is wound, before any repair
    with ThreadPoolExecutor(max_workers=1) as pool:
        for obj in part.objects:
            welded = weld(obj.triangles)
            integrals = pool.submit(_integrals, obj.triangles, overhang_deg, zmin)
            if single:
                orientations_future = pool.submit(orientation_candidates, welded[0])
            topo = analyse_topology(obj.triangles, welded)
            fixed = repair_winding(topo, obj.name)
            vol, area, ovh = integrals.result()
            read_volume += vol
            if fixed is not None:  # measure the repaired mesh (the preview keeps drawing the file as it is)
                faces, flipped, notes = fixed
                repaired += flipped
                repairs += notes
                vol, area, ovh = _integrals(topo.vertices[faces], overhang_deg, zmin)
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
        # the file as a whole wound inwards (every face turned by the repair); one inside-out body is a repair note
        inverted=watertight and read_volume < 0 and repaired == part.triangle_count,
        degenerate_faces=sum(t.degenerate_faces for t in topos),
        bodies=sum(t.bodies for t in topos),
        overhang_angle_deg=overhang_deg,
        overhang_area_mm2=overhang,
        objects=summaries,
        orientations=orientations_future.result() if orientations_future else orientation_candidates(verts),
        repaired_faces=repaired,
        repairs=repairs,
    )
    result.warnings = _warnings(result)
    return result, topos


def _integrals(tris: np.ndarray, overhang_deg: float, zmin: float) -> tuple[float, float, float]:
    """Signed volume, area and overhang area, in float64 with corners taken relative to a point of the part."""
    t = np.asarray(tris, dtype=np.float64)
    centre = np.array([t[:, 0, k].mean() for k in range(3)])
    v0, v1, v2 = t[:, 0] - centre, t[:, 1] - centre, t[:, 2] - centre
    cross = _cross(v1 - v0, v2 - v0)
    double_area = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    volume = float(np.einsum("ij,ij->i", v0, _cross(v1, v2)).sum() / 6.0)
    area = float(double_area.sum() / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.where(double_area > 0, cross[:, 2] / double_area, 0.0)
    # A face overhangs when it faces down more steeply than the chosen angle from vertical (a face at the angle,
    # within OVERHANG_TOL, is fine); faces lying on the plate are supported by it.
    limit = math.sin(math.radians(overhang_deg)) + OVERHANG_TOL
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
    """(unit, why): the unit the file declares when it names one we know, else a guess from its size."""
    if declared:
        unit = _DECLARED.get(declared.strip().lower())
        if unit is not None:
            return unit, f"the file declares its unit as {declared}"
    largest = float(size.max()) if size.size else 0.0
    if 0 < largest < METRE_GUESS_BELOW:
        return "m", (
            f"largest side is {largest:.3g} units: under a millimetre as mm, under an inch as inches, "
            f"{largest * 1000:.0f} mm as metres; read as metres (no unit declared)"
        )
    if 0 < largest < INCH_GUESS_BELOW:
        return "inch", (
            f"largest side is {largest:.3g} units: tiny as mm, plausible as inches "
            f"({largest * INCH_MM:.0f} mm); scale by 25.4 if so"
        )
    return "mm", f"largest side is {largest:.4g} units, a plausible size in mm"


def repair_winding(topo: Topology, name: str) -> tuple[np.ndarray, int, list[str]] | None:
    """Faces with consistent winding and every closed body facing outwards, or None when nothing needed it.

    Bodies whose faces disagree (an edge run the same way by both its faces) go through trimesh's
    ``fix_normals(multibody=True)``, which makes each body's winding agree and turns it outwards; a body that is
    consistent but closed and inside out (negative volume) is turned here. Returns (faces, faces turned, notes).
    """
    faces = topo.faces
    labels = topo.face_body
    if labels is None or not len(faces):
        return None
    notes: list[str] = []
    new = faces
    if topo.inconsistent_edges:
        import trimesh

        mesh = trimesh.Trimesh(vertices=np.asarray(topo.vertices, dtype=np.float64), faces=faces, process=False)
        trimesh.repair.fix_normals(mesh, multibody=True)
        new = np.asarray(mesh.faces, dtype=np.int64)
        if new.shape != faces.shape:  # never expected; measure the file as it is rather than guess
            log.warning("winding repair of %s changed the face count; not used", name)
            return None
    # per closed body, its signed volume: a negative one is inside out
    v = np.asarray(topo.vertices, dtype=np.float64)
    v = v - v.mean(axis=0)
    t = v[new]
    per_face = np.einsum("ij,ij->i", t[:, 0], _cross(t[:, 1], t[:, 2])) / 6.0
    good = labels >= 0
    n_bodies = int(labels.max()) + 1 if good.any() else 0
    body_vol = np.bincount(labels[good], weights=per_face[good], minlength=n_bodies)
    closed = _closed_bodies(new, labels, n_bodies)
    inside_out = np.flatnonzero((body_vol < 0) & closed)
    if len(inside_out):
        flip = np.isin(labels, inside_out)
        new = new.copy()
        new[flip] = new[flip][:, ::-1]
    turned = ~_same_winding(faces, new)
    n_turned = int(np.count_nonzero(turned))
    if not n_turned:
        return None
    for b in np.unique(labels[turned & good]):
        in_body = labels == b
        k = int(np.count_nonzero(turned & in_body))
        total = int(np.count_nonzero(in_body))
        what = "was inside out" if k == total else "had faces wound against their neighbours"
        notes.append(f"{name}: body {b + 1} {what}: {k} of {total} faces turned")
    return new, n_turned, notes


def _same_winding(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per face, whether b's corners run the same way round as a's (any rotation of the same triple)."""
    return ((a == b).all(axis=1) | (np.roll(a, 1, axis=1) == b).all(axis=1)
            | (np.roll(a, 2, axis=1) == b).all(axis=1))


def _closed_bodies(faces: np.ndarray, labels: np.ndarray, n_bodies: int) -> np.ndarray:
    """Per body, whether every one of its edges is shared by another of its faces (no open edge)."""
    closed = np.ones(n_bodies, dtype=bool)
    good = labels >= 0
    f = faces[good]
    if not len(f):
        return closed
    a = f.reshape(-1)
    b = np.roll(f, -1, axis=1).reshape(-1)
    key = np.minimum(a, b) * (int(faces.max()) + 1) + np.maximum(a, b)
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    open_edge = counts[inv] == 1
    body_of_edge = np.repeat(labels[good], 3)
    closed[np.unique(body_of_edge[open_edge])] = False
    return closed


def _warnings(a: PartAnalysis) -> list[str]:
    w: list[str] = []
    if not a.watertight:
        w.append(f"not watertight: {a.boundary_edges} open edges in {a.holes} holes, {a.non_manifold_edges} non-manifold edges")
    if a.inconsistent_normal_edges:
        w.append(f"{a.inconsistent_normal_edges} edges join faces with flipped normals")
    if a.inverted:
        w.append("the mesh is inside out (normals point inwards); measured turned outwards")
    if a.bodies > len(a.objects):
        w.append(f"{a.bodies} separate bodies")
    if a.units_guess != "mm":
        w.append(f"units read as {a.units_guess}: {a.units_basis}")
    w.extend(f"repaired: {r}" for r in a.repairs)
    return w


def _bounds(verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([verts[:, k].min() for k in range(3)], dtype=float)
    hi = np.array([verts[:, k].max() for k in range(3)], dtype=float)
    return lo, hi


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
