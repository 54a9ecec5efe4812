"""Check what a control room asks a node agent to run before the machine sees it.

Every field of an ``execute`` is checked for type and range (a ``start_line`` of ``1e400`` arrives as infinity
from JSON); a file the agent is to read itself must lie inside the agent's files folder, so a paired control room
cannot make the agent read (and stream to a machine) any file the agent's user can read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from app.core.domain.errors import ValidationError
from app.core.drivers import JobRequest

MAX_LINES = 20_000_000


def execute_request(args: dict[str, Any], files_dir: Path | None) -> tuple[JobRequest, str]:
    """The job an ``execute`` asks for and its run id; ``ValidationError`` names the offending field."""
    job_id = _uuid(args.get("job_id"), "job_id")
    lines = args.get("gcode_lines")
    if lines is not None and (not isinstance(lines, list) or len(lines) > MAX_LINES
                              or not all(isinstance(x, str) for x in lines)):
        raise ValidationError("gcode_lines must be a list of text lines", "gcode_lines")
    path = None
    if args.get("gcode_path") not in (None, ""):
        if not args.get("agent_file"):
            raise ValidationError("gcode_path is only read by the agent with agent_file: true; "
                                  "send the lines instead", "gcode_path")
        path = agent_file(args["gcode_path"], files_dir)
    spec = args.get("spec") or {}
    if not isinstance(spec, dict):
        raise ValidationError("spec must be an object", "spec")
    start = _count(args.get("start_line"), "start_line")
    if lines is not None and start > len(lines):
        raise ValidationError(f"start_line {start} is past the end of the {len(lines)} lines", "start_line")
    run_id = args.get("run_id") or spec.get("run_id") or str(uuid4())
    if not isinstance(run_id, str) or len(run_id) > 64:
        raise ValidationError("run_id must be a short text", "run_id")
    return JobRequest(job_id=job_id, gcode_lines=lines, gcode_path=path,
                      estimate_s=_amount(args.get("estimate_s"), "estimate_s"),
                      material_g=_amount(args.get("material_g"), "material_g"), spec=dict(spec),
                      start_line=start), run_id


def agent_file(given: Any, files_dir: Path | None) -> Path:
    if files_dir is None:
        raise ValidationError("this node agent reads no files of its own (started without a files folder)",
                              "gcode_path")
    if not isinstance(given, str) or "\x00" in given:
        raise ValidationError("gcode_path must be a file name", "gcode_path")
    root = files_dir.resolve()
    path = (root / given).resolve()  # an absolute path stays absolute; .. and symlinks are followed
    if not path.is_relative_to(root):
        raise ValidationError(f"{given!r} is outside the agent's files folder {root}", "gcode_path")
    if not path.is_file():
        raise ValidationError(f"no file {given!r} in the agent's files folder", "gcode_path")
    return path


def _uuid(v: Any, name: str) -> UUID | None:
    if v in (None, ""):
        return None
    try:
        return UUID(str(v))
    except ValueError as exc:
        raise ValidationError(f"{name} {str(v)[:40]!r} is not an id", name) from exc


def _count(v: Any, name: str) -> int:
    if v in (None, ""):
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0 or v != int(v) \
            or v > MAX_LINES:
        raise ValidationError(f"{name} must be a whole number of lines from 0 to {MAX_LINES}", name)
    return int(v)


def _amount(v: Any, name: str) -> float:
    if v in (None, ""):
        return 0.0
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ValidationError(f"{name} must be a finite number from 0", name)
    return float(v)
