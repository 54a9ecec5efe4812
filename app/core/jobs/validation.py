"""Turning untrusted input (CLI, JSON files, the submit dialog, a linked site) into a checked job spec.

Every rule raises ``ValidationError`` with the field that broke it, in words an operator understands.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.domain.attend import attend_flags
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.domain.materials import KNOWN_MATERIALS, material_fits_process

MAX_NAME = 200
MAX_PARTS = 1000
MAX_QUANTITY = 10_000
MAX_SIZE_MM = 10_000.0
UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4}
_NAME_RE = re.compile(r"^[\w .,()#+/:&@%-]+$")


@dataclass(slots=True)
class PartSpec:
    name: str
    process: ProcessType
    material: str
    size_mm: tuple[float, float, float] | None  # None: taken from the file
    quantity: int = 1
    complexity: int = 5
    batch_group: str = ""
    file_path: str | None = None
    depends_on: list[int] = field(default_factory=list)  # indices of parts this one waits for (assembly)
    estimated_duration_s: int = 0


@dataclass(slots=True)
class JobSpec:
    name: str
    parts: list[PartSpec]
    priority: int = 5
    due_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def check_name(value: Any, what: str, fld: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text", fld)
    name = value.strip()
    if not name:
        raise ValidationError(f"{what} is empty", fld)
    if len(name) > MAX_NAME:
        raise ValidationError(f"{what} is too long ({len(name)} characters; at most {MAX_NAME})", fld)
    if not _NAME_RE.match(name):
        raise ValidationError(
            f"{what} may contain letters, digits, spaces and - _ . , ( ) # + / : & @ % only", fld)
    return name


def _int(value: Any, what: str, fld: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{what} must be a whole number from {lo} to {hi}", fld)
    try:
        number = float(value)
    except ValueError as exc:
        raise ValidationError(f"{what} must be a whole number from {lo} to {hi}, not {str(value)[:40]!r}",
                              fld) from exc
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        raise ValidationError(f"{what} must be a whole number from {lo} to {hi}, not {str(value)[:40]}", fld)
    return int(number)


def _size(value: Any, units: str, fld: str) -> tuple[float, float, float]:
    if isinstance(value, dict):
        try:
            value = [value["x"], value["y"], value["z"]]
        except KeyError as exc:
            raise ValidationError("size needs x, y and z", fld) from exc
    if isinstance(value, str):
        value = re.split(r"[x×, ]+", value.strip().lower())
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValidationError("size must be three numbers: x, y, z", fld)
    factor = UNITS_TO_MM.get(units)
    if factor is None:
        raise ValidationError(f"unknown unit {units[:20]!r}; use mm, cm, m or in", "units")
    out = []
    for v in value:
        if isinstance(v, bool):
            raise ValidationError("size must be numbers", fld)
        try:
            mm = float(v) * factor
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"size must be numbers, not {str(v)[:40]!r}", fld) from exc
        if not math.isfinite(mm) or mm <= 0:
            raise ValidationError("every side of a part must be larger than zero", fld)
        if mm > MAX_SIZE_MM:
            raise ValidationError(f"a side of {mm:.0f} mm is larger than any machine ({MAX_SIZE_MM:.0f} mm)", fld)
        out.append(round(mm, 4))
    return (out[0], out[1], out[2])


def parse_due(value: Any, fld: str = "due_at") -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        due = value
    elif isinstance(value, str):
        try:
            due = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(f"due date {value[:40]!r} is not a date (use 2026-12-01T17:00)", fld) from exc
    else:
        raise ValidationError("due date must be an ISO date and time", fld)
    return due if due.tzinfo else due.replace(tzinfo=UTC)


def parse_part(data: Any, index: int, count: int) -> PartSpec:
    where = f"parts[{index}]"
    if not isinstance(data, dict):
        raise ValidationError(f"part {index + 1} must be an object with name, process, material and size", where)
    name = check_name(data.get("name", f"part {index + 1}"), f"part {index + 1} name", f"{where}.name")
    raw_proc = data.get("process")
    try:
        process = ProcessType(str(raw_proc).strip().lower())
    except ValueError as exc:
        known = ", ".join(p.value for p in ProcessType)
        raise ValidationError(f"part {name!r}: unknown process {str(raw_proc)[:40]!r}; known: {known}",
                              f"{where}.process") from exc
    material = str(data.get("material", data.get("material_type", ""))).strip().lower()
    if material not in KNOWN_MATERIALS:
        raise ValidationError(f"part {name!r}: unknown material {material[:40]!r}", f"{where}.material")
    if not material_fits_process(material, process):
        raise ValidationError(f"part {name!r}: {process.value} cannot use {material}", f"{where}.material")
    units = str(data.get("units", "mm")).strip().lower()
    raw_size = data.get("size_mm", data.get("size"))
    has_file = bool(data.get("file") or data.get("file_path"))
    size = None if raw_size in (None, "") and has_file else _size(raw_size, units, f"{where}.size")
    deps_raw = data.get("depends_on") or []
    if not isinstance(deps_raw, list):
        raise ValidationError(f"part {name!r}: depends_on must be a list of part numbers", f"{where}.depends_on")
    deps = [_int(d, "depends_on entry", f"{where}.depends_on", 0, count - 1) for d in deps_raw]
    if index in deps:
        raise ValidationError(f"part {name!r} cannot wait for itself", f"{where}.depends_on")
    batch = str(data.get("batch_group", "") or "")
    if len(batch) > 100:
        raise ValidationError("batch group is longer than 100 characters", f"{where}.batch_group")
    file_path = data.get("file") or data.get("file_path")
    if file_path is not None and (not isinstance(file_path, str) or len(file_path) > 1000):
        raise ValidationError("file must be a path", f"{where}.file")
    return PartSpec(
        name=name, process=process, material=material, size_mm=size,
        quantity=_int(data.get("quantity", 1), "quantity", f"{where}.quantity", 1, MAX_QUANTITY),
        complexity=_int(data.get("complexity", 5), "complexity", f"{where}.complexity", 1, 10),
        batch_group=batch, file_path=file_path, depends_on=deps,
        estimated_duration_s=_int(data.get("estimated_duration_s", 0), "estimated duration",
                                  f"{where}.estimated_duration_s", 0, 10_000_000),
    )


def parse_job_spec(data: Any) -> JobSpec:
    if isinstance(data, JobSpec):
        return data
    if not isinstance(data, dict):
        raise ValidationError("a job must be an object with a name and parts", "job")
    name = check_name(data.get("name"), "job name", "name")
    parts_raw = data.get("parts")
    if not isinstance(parts_raw, list) or not parts_raw:
        raise ValidationError("a job needs at least one part", "parts")
    if len(parts_raw) > MAX_PARTS:
        raise ValidationError(f"a job has at most {MAX_PARTS} parts", "parts")
    parts = [parse_part(p, i, len(parts_raw)) for i, p in enumerate(parts_raw)]
    _check_acyclic(parts)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationError("metadata must be an object", "metadata")
    if "attend" in metadata:  # when the job needs a person: at its start, its end, both or none
        attend_flags(metadata["attend"], "metadata attend")
        metadata = dict(metadata, attend=str(metadata["attend"]).strip().lower())
    return JobSpec(
        name=name, parts=parts, priority=_int(data.get("priority", 5), "priority", "priority", 1, 10),
        due_at=parse_due(data.get("due_at", data.get("due"))), metadata=metadata,
    )


def _check_acyclic(parts: list[PartSpec]) -> None:
    state = [0] * len(parts)  # 0 new, 1 on the path, 2 done

    def visit(i: int) -> None:
        if state[i] == 1:
            raise ValidationError(f"parts wait for each other in a circle (at {parts[i].name!r})", "parts")
        if state[i] == 0:
            state[i] = 1
            for d in parts[i].depends_on:
                visit(d)
            state[i] = 2

    for i in range(len(parts)):
        visit(i)
