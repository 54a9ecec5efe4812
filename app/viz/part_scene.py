"""Building the pyvista meshes of a part (worker thread) and the build plate of a machine."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from app.core.estimation import PartAnalysis, load_part
from app.core.estimation.mesh_analysis import analyze_part_with_topology

OBJECT_COLOURS = ["#9db4c0", "#c2a878", "#8fbc8f", "#b39ddb", "#f4a261", "#90caf9", "#e6b8a2", "#a5d6a7"]
OVERHANG_COLOUR = "#d64545"


@dataclass(slots=True)
class PartScene:
    analysis: PartAnalysis
    meshes: list[pv.PolyData]  # one per object, cell array "overhang" (0/1)
    names: list[str]


def build_part_scene(path: str, overhang_deg: float, progress=None) -> PartScene:  # type: ignore[no-untyped-def]
    """Runs in the worker thread: read, analyse and make meshes; nothing here touches a window."""
    report = progress or (lambda pct, text: None)
    report(5, "reading")
    part = load_part(path)
    report(35, "analysing")
    analysis, topos = analyze_part_with_topology(part, overhang_deg)
    report(70, "building the 3D view")
    zmin = min(float(o.triangles[..., 2].min()) for o in part.objects)
    meshes = [_object_mesh(o.triangles, t.vertices, t.faces, overhang_deg, zmin, analysis.volume_mm3 < 0)
              for o, t in zip(part.objects, topos, strict=True)]
    report(95, "drawing")
    return PartScene(analysis, meshes, [o.name for o in part.objects])


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


def plate_and_volume(size_mm: tuple[float, float, float]) -> tuple[pv.PolyData, pv.PolyData]:
    """A thin plate at z = 0 and the outline of the build volume, both starting at the origin."""
    x, y, z = (float(v) for v in size_mm)
    plate = pv.Box(bounds=(0.0, x, 0.0, y, -1.0, 0.0))
    outline = pv.Box(bounds=(0.0, x, 0.0, y, 0.0, max(z, 1e-3))).outline()
    return plate, outline


def placement(analysis: PartAnalysis, size_mm: tuple[float, float, float] | None) -> tuple[float, float, float]:
    """Shift that puts the part on the plate: centred in XY, lowest point at z = 0."""
    lo, hi = np.array(analysis.bbox_min_mm), np.array(analysis.bbox_max_mm)
    centre = (lo + hi) / 2
    if size_mm and any(size_mm):
        target = (size_mm[0] / 2, size_mm[1] / 2)
    else:
        target = (0.0, 0.0)
    return (float(target[0] - centre[0]), float(target[1] - centre[1]), float(-lo[2]))
