"""OpenSCAD templates: parameters read from the file's top-level assignments (the Customizer convention,
``width = 20; // [5:100] description``), rendered by the ``openscad`` program off the event loop."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from app.core.catalog.params import Param, material_param, process_param
from app.core.domain.errors import ImeweError, ValidationError

RENDER_TIMEOUT_S = 120.0
MAX_SCAD_BYTES = 1_000_000
_ASSIGN = re.compile(r"^(\w+)\s*=\s*([^;]+);\s*(?://\s*(.*))?$")
_RANGE = re.compile(r"^\[\s*(-?[\d.]+)\s*:\s*(?:(-?[\d.]+)\s*:\s*)?(-?[\d.]+)\s*\]\s*(.*)$")


class OpenScadError(ImeweError):
    """OpenSCAD is missing, failed or took too long."""


def openscad_program(name: str = "openscad") -> str:
    found = shutil.which(name)
    if not found:
        raise OpenScadError("OpenSCAD is not installed: install it (apt install openscad) to make OpenSCAD "
                            "templates; built-in templates work without it")
    return found


def scad_params(source: str) -> list[Param]:
    """Parameters from top-level assignments before the first module or geometry. A number with ``[lo:hi]`` gets
    those limits; without, any value of its type; the material and process of the part are always asked."""
    params: list[Param] = []
    depth = 0
    for line in source.splitlines():
        stripped = line.strip()
        if depth == 0 and (m := _ASSIGN.match(stripped)):
            params.append(_param(m.group(1), m.group(2).strip(), (m.group(3) or "").strip()))
        depth += line.count("{") - line.count("}")
    names = {p.name for p in params}
    if "material" not in names:
        params.append(material_param("pla"))
    if "process" not in names:
        params.append(process_param("fdm"))
    if "quantity" not in names:
        params.append(Param("quantity", "count", 1, 1, 10_000))
    return params


def _param(name: str, value: str, comment: str) -> Param:
    lo = hi = None
    described = comment
    if r := _RANGE.match(comment):
        lo, hi = float(r.group(1)), float(r.group(3))
        described = r.group(4)
    if value in ("true", "false"):
        return Param(name, "bool", value, description=described)
    if value.startswith('"') and value.endswith('"'):
        return Param(name, "text", value[1:-1], description=described)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"OpenSCAD parameter {name} = {value[:40]} is not a number, text or true/false; "
                              "compute it after the parameters", name) from None
    whole = re.fullmatch(r"-?\d+", value) is not None and (lo is None or lo.is_integer() and hi.is_integer())
    kind = "count" if whole else "number"
    return Param(name, kind, int(number) if whole else number, lo, hi, description=described)


def _define(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'  # check_params refused quotes and backslashes
    return repr(value)


def render_scad(source_file: Path, values: dict[str, Any], out_stl: Path, program: str = "openscad",
                timeout_s: float = RENDER_TIMEOUT_S) -> Path:
    """Blocking: run it in an executor. Only the file's own parameters are passed (-D), never material/process."""
    exe = openscad_program(program)
    names = {p.name for p in scad_params(source_file.read_text(encoding="utf-8"))}
    cmd = [exe, "-o", str(out_stl)]
    for key, value in values.items():
        if key in names and key not in ("material", "process", "quantity"):
            cmd += ["-D", f"{key}={_define(value)}"]
    cmd.append(str(source_file))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise OpenScadError(f"OpenSCAD took longer than {timeout_s:g} s on {source_file.name}") from exc
    if done.returncode != 0 or not out_stl.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OpenScadError(f"OpenSCAD could not render {source_file.name}: {last[:200]}")
    return out_stl
