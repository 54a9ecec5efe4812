"""First guesses for a dropped part file: its name, process and size (the operator can change each).

Reading runs in a worker thread: a 50 MB mesh must not freeze the window.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError

log = logging.getLogger(__name__)
MESH_SUFFIXES = {".stl", ".obj", ".ply", ".3mf"}
GCODE_SUFFIXES = {".gcode", ".gco", ".g", ".nc", ".ngc", ".tap"}
ACCEPTED = MESH_SUFFIXES | GCODE_SUFFIXES


@dataclass(slots=True)
class PartGuess:
    path: Path
    name: str
    process: ProcessType
    size_mm: tuple[float, float, float] | None
    note: str = ""


def accepts(path: str | Path) -> bool:
    return Path(path).suffix.lower() in ACCEPTED


def part_name(path: Path) -> str:
    """A name the job validation accepts, from the file name."""
    name = re.sub(r"[^\w .,()#+/:&@-]+", " ", path.stem).strip() or "part"
    return name[:200]


def inspect_file(path: str | Path) -> PartGuess:
    """Name, process and size (mm) of a part file; a file that is empty, broken or moves nothing is refused here
    (``ImeweError`` naming the file and the problem), when it is added, not at submit."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in ACCEPTED:
        raise ImeweError(f"{p.name}: not a part file (use STL, OBJ, PLY, 3MF or G-code)")
    if suffix in GCODE_SUFFIXES:
        return _gcode(p)
    from app.core.estimation.mesh_analysis import UNIT_MM, units_guess
    from app.core.estimation.mesh_io import load_part

    loaded = load_part(p)  # PartFileError / EmptyPartError name the file and the problem
    tris = loaded.all_triangles()
    if len(tris) == 0:
        raise ImeweError(f"{p.name}: the mesh has no triangles")
    ext = np.ptp(tris.reshape(-1, 3), axis=0)
    units, basis = units_guess(ext, loaded.declared_units)
    scale = UNIT_MM.get(units, 1.0)  # as the job service reads it, so the row shows what is stored
    size = tuple(round(max(float(v) * scale, 0.01), 2) for v in ext)
    note = f"{loaded.triangle_count} triangles" + (f"; read as {units}: {basis}" if units != "mm" else "")
    return PartGuess(p, part_name(p), ProcessType.FDM, size, note)  # type: ignore[arg-type]


def _gcode(p: Path) -> PartGuess:
    """Size from the toolpath the core's parser reads: G20 inches, G91 relative moves and arcs are all counted
    (the working moves' extent: what the machine makes, not where it parks)."""
    from app.core.estimation.gcode_model import MoveKind
    from app.core.estimation.gcode_parser import parse_gcode_file

    tp = parse_gcode_file(p)  # GcodeFileError: empty, binary, or no motion
    working = (tp.kind == MoveKind.EXTRUDE) | (tp.kind == MoveKind.CUT)
    pts = tp.points[1:][working] if working.any() else tp.points
    ext = np.ptp(pts, axis=0)
    size = tuple(round(max(float(v), 0.01), 2) for v in ext)
    process = {"printer": ProcessType.FDM, "laser": ProcessType.LASER}.get(tp.flavor, ProcessType.CNC_MILL)
    note = f"size from the tool path ({tp.flavor}" + (", written in inches" if tp.units_inch else "") + ")"
    return PartGuess(p, part_name(p), process, size, note)  # type: ignore[arg-type]
