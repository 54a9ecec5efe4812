"""A part submitted with its file: the size and the estimates come from the file itself (mesh analysis or the
G-code planner), so the fleet check and the plan use what will really be made."""

from __future__ import annotations

from pathlib import Path

from app.core.domain.errors import ImeweError, ValidationError
from app.core.estimation.gcode_analysis import analyze_gcode
from app.core.estimation.mesh_analysis import analyze_file
from app.core.estimation.mesh_io import MESH_SUFFIXES, STEP_SUFFIXES
from app.core.estimation.preslice import estimates_for
from app.core.jobs.validation import JobSpec, PartSpec

GCODE_SUFFIXES = {".gcode", ".gco", ".g", ".nc", ".ngc", ".tap"}
MAX_FILE_BYTES = 2_000_000_000


def complete_from_files(spec: JobSpec) -> JobSpec:
    """Fill each part's size and duration from its file where the spec left them open (blocking: run off the
    event loop). A file that cannot be read rejects the job with a message naming the part and the problem."""
    for i, part in enumerate(spec.parts):
        if part.file_path:
            _from_file(part, i)
        elif part.size_mm is None:
            raise ValidationError(f"part {part.name!r} needs a size or a file", f"parts[{i}].size")
    return spec


def _from_file(part: PartSpec, i: int) -> None:
    path = Path(part.file_path or "")
    where = f"parts[{i}].file"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValidationError(f"part {part.name!r}: cannot read {path.name}: {exc.strerror or exc}", where) from exc
    if size > MAX_FILE_BYTES:
        raise ValidationError(f"part {part.name!r}: {path.name} is larger than 2 GB", where)
    suffix = path.suffix.lower()
    try:
        if suffix in GCODE_SUFFIXES:
            g = analyze_gcode(path)
            if part.size_mm is None:
                part.size_mm = _positive(g.bbox_mm)
            if not part.estimated_duration_s:
                part.estimated_duration_s = int(round(g.estimated_time_s))
        elif suffix in MESH_SUFFIXES | STEP_SUFFIXES:
            a = analyze_file(path)
            scale = a.scale_to_mm  # declared unit, or the guess (inches, metres)
            if part.size_mm is None:
                part.size_mm = _positive(tuple(s * scale for s in a.bbox_mm))
            if not part.estimated_duration_s:
                est = {e.process: e for e in estimates_for(a, scale)}
                pick = est.get("fdm" if part.process.value == "fdm" else
                               "resin" if part.process.value in ("sla",) else
                               "cnc_mill" if part.process.value.startswith("cnc") else "", None)
                if pick is not None:
                    part.estimated_duration_s = int(round(pick.time_s))
        elif part.size_mm is None:
            raise ValidationError(f"part {part.name!r}: {path.name} is neither a model nor G-code; give a size",
                                  where)
    except ValidationError:
        raise
    except ImeweError as exc:
        raise ValidationError(f"part {part.name!r}: {exc}", where) from exc


def _positive(size: tuple[float, ...]) -> tuple[float, float, float]:
    # A flat toolpath (a laser cut) still occupies a machine: give it a sliver of height.
    x, y, z = (max(float(s), 0.1) for s in size)
    return (round(x, 4), round(y, 4), round(z, 4))
