"""Loading part files into plain triangle arrays, one per object.

Binary STL goes through our own numpy reader (the common case and the big files); 3MF through our own streaming
reader, which bounds what its archive may inflate (``threemf.py``); every other format goes through trimesh. Whatever trimesh raises is turned into a ``PartFileError`` that names the
file and the problem, so a broken file never reaches the operator as a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.estimation.errors import EmptyPartError, PartFileError, UnsupportedFormatError
from app.core.estimation.obj_objects import obj_objects
from app.core.estimation.stl_fast import is_binary_stl, read_binary_stl
from app.core.estimation.threemf import read_3mf

log = logging.getLogger(__name__)

MESH_SUFFIXES = {".stl", ".obj", ".ply", ".3mf", ".glb", ".gltf", ".off"}
STEP_SUFFIXES = {".step", ".stp"}
STEP_HINT = (
    "STEP files need trimesh's optional CAD loader: install it with "
    "'.venv/bin/pip install cascadio' (or export the part as STL/3MF from your CAD tool)"
)


@dataclass(slots=True)
class PartObject:
    """One object of a part file: its triangles in file units, (n, 3, 3)."""

    name: str
    triangles: np.ndarray


@dataclass(slots=True)
class LoadedPart:
    path: Path
    format: str
    objects: list[PartObject]
    declared_units: str | None = None  # units the file states (3MF's unit attribute; GLB/glTF: metres), if any
    notes: list[str] = field(default_factory=list)

    @property
    def triangle_count(self) -> int:
        return sum(len(o.triangles) for o in self.objects)

    def all_triangles(self) -> np.ndarray:
        if len(self.objects) == 1:
            return self.objects[0].triangles
        return np.concatenate([o.triangles for o in self.objects])


def supported_suffixes() -> list[str]:
    return sorted(MESH_SUFFIXES | (STEP_SUFFIXES if step_available() else set()))


def step_available() -> bool:
    try:
        import cascadio  # noqa: F401
    except ImportError:
        return False
    return True


def load_part(path: str | Path) -> LoadedPart:
    """Read a part file; raise ``PartFileError`` (or a subclass) with a clear reason when it cannot."""
    p = Path(path)
    if not p.exists():
        raise PartFileError(f"{p}: no such file")
    if p.is_dir():
        raise PartFileError(f"{p}: is a folder, not a part file")
    suffix = p.suffix.lower()
    if suffix in STEP_SUFFIXES and not step_available():
        raise UnsupportedFormatError(f"{p.name}: {STEP_HINT}")
    if suffix not in MESH_SUFFIXES | STEP_SUFFIXES:
        known = ", ".join(supported_suffixes())
        raise UnsupportedFormatError(f"{p.name}: unknown part format '{suffix or '(none)'}'; known: {known}")
    if p.stat().st_size == 0:
        raise EmptyPartError(f"{p.name}: the file is empty (0 bytes)")
    if suffix == ".stl" and is_binary_stl(p):
        tris = read_binary_stl(p)
        return LoadedPart(p, "stl-binary", [PartObject(p.stem, tris)])
    if suffix == ".3mf":
        return _load_3mf(p)
    return _load_with_trimesh(p, suffix)


def _load_3mf(p: Path) -> LoadedPart:
    found, unit = read_3mf(p)
    objects = [PartObject(name, tris) for name, tris in found if len(tris)]
    if not objects:
        raise EmptyPartError(f"{p.name}: the file holds no triangles (empty or only points/lines)")
    _check_finite(p, objects)
    return LoadedPart(p, "3mf", objects, declared_units=unit)


def _load_with_trimesh(p: Path, suffix: str) -> LoadedPart:
    import trimesh

    fmt = "stl-ascii" if suffix == ".stl" else suffix.lstrip(".")
    try:
        scene = trimesh.load(str(p), force="scene", process=False)
    except Exception as exc:  # trimesh raises many types for bad input; all mean "cannot read this file"
        raise PartFileError(f"{p.name}: cannot read as {fmt.upper()}: {_reason(exc)}") from exc
    objects: list[PartObject] = []
    units = getattr(scene, "units", None)
    try:
        for node in scene.graph.nodes_geometry:
            transform, geom_name = scene.graph[node]
            geom = scene.geometry.get(geom_name)
            if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
                continue
            verts = trimesh.transform_points(np.asarray(geom.vertices, dtype=np.float64), transform)
            faces = np.asarray(geom.faces, dtype=np.int64)
            if faces.max(initial=-1) >= len(verts):
                raise PartFileError(f"{p.name}: object {node!r} refers to vertices that do not exist; file is corrupt")
            objects.append(PartObject(str(node), verts[faces].astype(np.float32)))
    except PartFileError:
        raise
    except Exception as exc:
        raise PartFileError(f"{p.name}: cannot read the objects of this {fmt.upper()}: {_reason(exc)}") from exc
    if not objects:
        raise EmptyPartError(f"{p.name}: the file holds no triangles (empty or only points/lines)")
    if suffix == ".obj" and len(objects) == 1:
        split = obj_objects(p)
        if split is not None and sum(len(t) for _, t in split) == len(objects[0].triangles):
            objects = [PartObject(name, tris) for name, tris in split]
    _check_finite(p, objects)
    log.debug("loaded %s: %d objects via trimesh", p, len(objects))
    if fmt in ("glb", "gltf"):
        units = "meter"  # glTF 2.0: every length is in metres, by the format
    return LoadedPart(p, fmt, objects, declared_units=str(units) if units else None)


def _check_finite(p: Path, objects: list[PartObject]) -> None:
    for obj in objects:
        if not np.isfinite(obj.triangles).all():
            raise PartFileError(f"{p.name}: object {obj.name!r} has coordinates that are not finite numbers "
                                "(NaN or infinity); file is corrupt")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
