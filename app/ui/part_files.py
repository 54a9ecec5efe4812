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
GCODE_SUFFIXES = {".gcode", ".gco", ".g", ".nc", ".ngc"}
ACCEPTED = MESH_SUFFIXES | GCODE_SUFFIXES
_AXIS = re.compile(r"([XYZ])(-?\d+(?:\.\d*)?)")
_SPINDLE = re.compile(r"^\s*M0?[345]\b", re.IGNORECASE)  # spindle or laser on/off: a CNC or laser job
_EXTRUDE = re.compile(r"\bE-?\d", re.IGNORECASE)  # extrusion: a printer job


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
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in ACCEPTED:
        raise ImeweError(f"{p.name}: not a part file (use STL, OBJ, PLY, 3MF or G-code)")
    if suffix in GCODE_SUFFIXES:
        return _gcode(p)
    try:
        from app.core.estimation.mesh_io import load_part

        loaded = load_part(p)
        tris = loaded.all_triangles()
        if len(tris) == 0:
            return PartGuess(p, part_name(p), ProcessType.FDM, None, "the mesh is empty")
        pts = tris.reshape(-1, 3)
        ext = np.ptp(pts, axis=0)
        size = tuple(round(max(float(v), 0.01), 2) for v in ext)
        return PartGuess(p, part_name(p), ProcessType.FDM, size,  # type: ignore[arg-type]
                         f"{loaded.triangle_count} triangles")
    except ImeweError as exc:
        return PartGuess(p, part_name(p), ProcessType.FDM, None, str(exc))


def _gcode(p: Path, max_lines: int = 2_000_000) -> PartGuess:
    lo = [np.inf] * 3
    hi = [-np.inf] * 3
    spindle = extrudes = False
    try:
        with p.open("r", encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh):
                if i >= max_lines:
                    break
                code = line.split(";", 1)[0].split("(", 1)[0]
                if not code.strip():
                    continue
                spindle = spindle or bool(_SPINDLE.search(code))
                extrudes = extrudes or bool(_EXTRUDE.search(code))
                if code.lstrip()[:2].upper() not in ("G0", "G1"):
                    continue
                for axis, value in _AXIS.findall(code.upper()):
                    k = "XYZ".index(axis)
                    v = float(value)
                    lo[k], hi[k] = min(lo[k], v), max(hi[k], v)
    except OSError as exc:
        raise ImeweError(f"cannot read {p.name}: {exc.strerror or exc}") from exc
    size = tuple(round(max(h - lo_, 0.01), 2) if np.isfinite(h - lo_) else 1.0 for lo_, h in zip(lo, hi, strict=True))
    cnc = not extrudes and (spindle or p.suffix.lower() in (".nc", ".ngc"))
    process = ProcessType.CNC_MILL if cnc else ProcessType.FDM
    return PartGuess(p, part_name(p), process, size, "size from the tool path")  # type: ignore[arg-type]
