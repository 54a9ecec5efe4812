"""Building the pyvista meshes of a part (worker thread) and the build plate of a machine."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from app.core.estimation import LoadedPart, PartAnalysis, analyze_part, load_part
from app.core.estimation.mesh_analysis import units_guess
from app.core.estimation.topology import weld
from app.viz.part_lod import FIRST_FRAME_CELLS, INTERACTIVE_CELLS, proxy_mesh

OBJECT_COLOURS = ["#9db4c0", "#c2a878", "#8fbc8f", "#b39ddb", "#f4a261", "#90caf9", "#e6b8a2", "#a5d6a7"]
OVERHANG_COLOUR = "#d64545"


@dataclass(slots=True)
class Proxy:
    """A coarser mesh of one object, only drawn (cell array "overhang" like the full mesh)."""

    mesh: pv.PolyData
    triangles: np.ndarray  # (n, 3, 3): what its overhangs are worked out from when the part turns


@dataclass(slots=True)
class PartScene:
    """What the first frame needs; the full ``analysis`` follows from a second background step."""

    part: LoadedPart
    meshes: list[pv.PolyData]  # one per object, cell array "overhang" (0/1)
    names: list[str]
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    units_guess: str
    analysis: PartAnalysis | None = None
    coarse: list[Proxy] | None = None  # per object, drawn while the view turns (None: the part is small)
    preview: list[Proxy] | None = None  # per object, the first frame of a very big part (None: draw the full one)


def build_part_scene(path: str, overhang_deg: float, progress=None,  # type: ignore[no-untyped-def]
                     levels: bool = True) -> PartScene:
    """Runs in the worker thread: read the file and make the meshes; nothing here touches a window.

    Only what drawing needs happens here (weld, overhang faces, bounds, and for a big part its coarser proxies
    unless ``levels`` is off); edge topology, bodies and orientations come after the first frame, in
    ``analyse_scene``.
    """
    report = progress or (lambda pct, text: None)
    report(5, "reading")
    part = load_part(path)
    report(40, "building the 3D view")
    zmin = min(float(o.triangles[..., 2].min()) for o in part.objects)
    meshes = []
    total = sum(len(o.triangles) for o in part.objects)
    coarse: list[Proxy] | None = [] if levels and total > INTERACTIVE_CELLS else None
    preview: list[Proxy] | None = [] if levels and total > FIRST_FRAME_CELLS else None
    for obj in part.objects:
        verts, faces = weld(obj.triangles)
        meshes.append(_object_mesh(obj.triangles, verts, faces, overhang_deg, zmin, False))
        share = len(faces) / max(total, 1)
        if preview is not None:
            preview.append(_proxy(verts, faces, int(FIRST_FRAME_CELLS * share), overhang_deg, zmin))
            verts, faces = preview[-1].mesh.points, preview[-1].mesh.regular_faces  # the coarse one from it
        if coarse is not None:
            coarse.append(_proxy(verts, faces, int(INTERACTIVE_CELLS * share), overhang_deg, zmin))
    lo = np.min([m.bounds[::2] for m in meshes], axis=0)
    hi = np.max([m.bounds[1::2] for m in meshes], axis=0)
    units, _ = units_guess(hi - lo, part.declared_units)
    report(90, "drawing")
    return PartScene(part, meshes, [o.name for o in part.objects], _t(lo), _t(hi), units, coarse=coarse,
                     preview=preview)


def _proxy(verts: np.ndarray, faces: np.ndarray, target: int, overhang_deg: float, zmin: float) -> Proxy:
    mesh, tris = proxy_mesh(verts, faces, max(target, 12))
    mesh.cell_data["overhang"] = overhang_flags(tris, np.eye(3), overhang_deg, zmin)
    return Proxy(mesh, tris)


def proxies(scene: PartScene) -> list[Proxy]:
    return [*(scene.coarse or []), *(scene.preview or [])]


def analyse_scene(scene: PartScene, overhang_deg: float) -> PartAnalysis:
    """The full analysis of an already shown part (worker thread)."""
    analysis = analyze_part(scene.part, overhang_deg)
    if analysis.inverted:  # inside-out mesh: its overhangs face the other way
        zmin = scene.bbox_min[2]
        for obj, mesh in zip(scene.part.objects, scene.meshes, strict=True):
            verts, faces = weld(obj.triangles)
            mesh.cell_data["overhang"] = _object_mesh(obj.triangles, verts, faces, overhang_deg, zmin, True)[
                "overhang"]
        for proxy in proxies(scene):
            proxy.mesh.cell_data["overhang"] = overhang_flags(proxy.triangles, np.eye(3), overhang_deg, zmin, True)
    return analysis


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _object_mesh(tris: np.ndarray, verts: np.ndarray, faces: np.ndarray, overhang_deg: float, zmin: float,
                 inside_out: bool) -> pv.PolyData:
    cells = np.empty((len(faces), 4), dtype=np.int64)
    cells[:, 0] = 3
    cells[:, 1:] = faces
    mesh = pv.PolyData(verts, cells.ravel())
    t = np.asarray(tris, dtype=np.float32)
    cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.where(norm > 0, cross[:, 2] / norm, 0.0) * (-1.0 if inside_out else 1.0)
    on_plate = t[:, :, 2].max(axis=1) <= zmin + 1e-3
    mesh.cell_data["overhang"] = ((nz < -math.sin(math.radians(overhang_deg))) & ~on_plate).astype(np.uint8)
    return mesh


def overhang_flags(tris: np.ndarray, rotation: np.ndarray, overhang_deg: float, zmin: float,
                   inside_out: bool = False) -> np.ndarray:
    """1 for faces steeper than the overhang angle when the part is turned by ``rotation`` (file -> pose),
    except faces lying on the plate (``zmin``: the posed part's lowest point)."""
    t = np.asarray(tris, dtype=np.float32)
    up = np.asarray(rotation, dtype=np.float32)[2]
    cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.where(norm > 0, (cross @ up) / norm, 0.0) * (-1.0 if inside_out else 1.0)
    on_plate = (t @ up).max(axis=1) <= zmin + 1e-3
    return ((nz < -math.sin(math.radians(overhang_deg))) & ~on_plate).astype(np.uint8)


def posed_bounds(scene: PartScene, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest corner of the part turned by ``rotation`` (file units)."""
    rot = np.asarray(rotation, dtype=np.float64)
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for mesh in scene.meshes:
        pts = np.asarray(mesh.points, dtype=np.float64) @ rot.T
        lo, hi = np.minimum(lo, pts.min(axis=0)), np.maximum(hi, pts.max(axis=0))
    return lo, hi


def plate_and_volume(size_mm: tuple[float, float, float]) -> tuple[pv.PolyData, pv.PolyData]:
    """A thin plate at z = 0 and the outline of the build volume, both starting at the origin."""
    x, y, z = (float(v) for v in size_mm)
    plate = pv.Box(bounds=(0.0, x, 0.0, y, -1.0, 0.0))
    outline = pv.Box(bounds=(0.0, x, 0.0, y, 0.0, max(z, 1e-3))).outline()
    return plate, outline


def placement(bbox_min: tuple[float, float, float], bbox_max: tuple[float, float, float]) -> tuple[float, float, float]:
    """Shift that puts the part's footprint centre at the origin and its lowest point at z = 0."""
    lo, hi = np.array(bbox_min), np.array(bbox_max)
    centre = (lo + hi) / 2
    return (float(-centre[0]), float(-centre[1]), float(-lo[2]))
