"""What a machine says about itself, in one shape for every protocol (sans-I/O).

Each protocol module turns its wire messages (OctoPrint's job/printer JSON, Moonraker's printer objects, ...) into
a ``MachineReport``; the shared ``JobTracker`` turns the reports into driver events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from uuid import UUID


class MachinePhase(StrEnum):
    IDLE = "idle"  # ready, nothing running
    BUSY = "busy"  # preparing a job (heating, homing, printing from the start of a file) but not yet reporting
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"  # the last job completed (the machine still shows it)
    CANCELLED = "cancelled"  # the last job was cancelled on the machine
    FAILED = "failed"  # the last job failed on the machine, which is usable again
    ERROR = "error"  # the machine is in a fault state
    OFFLINE = "offline"  # the host answers but the printer behind it is not connected (e.g. OctoPrint, no serial)


@dataclass(frozen=True, slots=True)
class MachineReport:
    phase: MachinePhase
    job_file: str | None = None  # the file the machine is printing or last printed (its own name for it)
    progress: float | None = None  # 0..1, the machine's figure
    layer: int | None = None
    layers_total: int | None = None
    time_left_s: float | None = None  # the machine's own estimate
    elapsed_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # telemetry names (see DriverTelemetry)
    message: str = ""  # the machine's words for an error or state


# A job we send carries its id in the file name, so the job can be recognised on the machine after a lost link
# or a restart of Imewe, and is never started twice.
_OURS = re.compile(r"^imewe-([0-9a-f]{32})-", re.IGNORECASE)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def remote_name(job_id: UUID | None, local_name: str) -> str:
    """The name a job's file gets on the machine: ``imewe-<job id hex>-<safe original name>``."""
    stem = _SAFE.sub("_", PurePosixPath(local_name).name).strip("._") or "job.gcode"
    return f"imewe-{job_id.hex if job_id else '0' * 32}-{stem}"


def job_id_from_remote(name: str | None) -> UUID | None:
    """The job id in a file name made by ``remote_name`` (any folder), or None for files that are not ours."""
    if not name:
        return None
    m = _OURS.match(PurePosixPath(name).name)
    if m is None or m.group(1) == "0" * 32:
        return None
    return UUID(hex=m.group(1))


def same_file(a: str | None, b: str | None) -> bool:
    """Machines report paths differently (``local/x.gcode``, ``/x.gcode``, ``x.gcode``): compare base names."""
    return bool(a) and bool(b) and PurePosixPath(a).name == PurePosixPath(b).name  # type: ignore[arg-type]
