"""PrusaLink HTTP API v1 (Prusa MK4/MK3.9/MINI/XL/CORE One), without I/O.

Follows the public OpenAPI description of PrusaLink's v1 API (prusa3d/Prusa-Link-Web, ``spec/openapi.yaml``):
``GET /api/version``, ``GET /api/v1/info``, ``GET /api/v1/status`` (``printer`` and ``job`` objects),
``PUT /api/v1/files/{storage}/{path}`` with the ``Print-After-Upload`` and ``Overwrite`` structured-field
headers, ``PUT /api/v1/job/{id}/pause|resume`` and ``DELETE /api/v1/job/{id}``. Authentication (HTTP Digest)
is the transport's business.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.devices.network.errors import BadReply
from app.devices.network.http_request import HttpRequest, json_object
from app.devices.network.numbers import number
from app.devices.network.report import MachinePhase as Phase
from app.devices.network.report import MachineReport

STORAGE = "usb"  # the storage PrusaLink prints from on MK4/XL/MINI (``local`` on the older MK3 Pi variant)

_PHASES = {"IDLE": Phase.IDLE, "READY": Phase.IDLE, "BUSY": Phase.BUSY, "PRINTING": Phase.PRINTING,
           "PAUSED": Phase.PAUSED, "FINISHED": Phase.FINISHED, "STOPPED": Phase.CANCELLED,
           "ERROR": Phase.ERROR, "ATTENTION": Phase.PAUSED}


def request_version() -> HttpRequest:
    return HttpRequest("GET", "/api/version")


def request_info() -> HttpRequest:
    return HttpRequest("GET", "/api/v1/info")


def request_status() -> HttpRequest:
    return HttpRequest("GET", "/api/v1/status")


def request_job() -> HttpRequest:
    return HttpRequest("GET", "/api/v1/job", expect=(200, 204))


def request_upload(remote_name: str, print_after: bool = True, storage: str = STORAGE) -> HttpRequest:
    headers = {"Content-Type": "application/octet-stream", "Overwrite": "?1",
               "Print-After-Upload": "?1" if print_after else "?0"}
    return HttpRequest("PUT", f"/api/v1/files/{storage}/{quote(remote_name)}", headers, expect=(201, 204))


def request_pause(job_id: str) -> HttpRequest:
    return HttpRequest("PUT", f"/api/v1/job/{quote(job_id)}/pause", expect=(204,))


def request_resume(job_id: str) -> HttpRequest:
    return HttpRequest("PUT", f"/api/v1/job/{quote(job_id)}/resume", expect=(204,))


def request_stop(job_id: str) -> HttpRequest:
    return HttpRequest("DELETE", f"/api/v1/job/{quote(job_id)}", expect=(204,))


def update_status(body: bytes | str, job_file: str | None = None) -> MachineReport:
    """``GET /api/v1/status`` → a report. The status names no file: ``job_file`` is the name ``GET /api/v1/job``
    gave for the job number in it (see ``status_job_id``). Raises ``BadReply`` for anything not of that shape."""
    data = json_object(body, "PrusaLink status")
    printer = data.get("printer")
    if not isinstance(printer, dict) or not isinstance(printer.get("state"), str):
        raise BadReply("PrusaLink status: no printer.state in the reply")
    state = printer["state"].upper()
    phase = _PHASES.get(state)
    if phase is None:
        raise BadReply(f"PrusaLink status: unknown printer state {state[:30]!r}")
    job = data.get("job") if isinstance(data.get("job"), dict) else {}
    percent = number(job.get("progress"))
    metrics = _metrics(printer)
    message = "needs attention at the printer" if state == "ATTENTION" else ""
    status_printer = printer.get("status_printer")
    if isinstance(status_printer, dict) and status_printer.get("message"):
        message = str(status_printer["message"])[:200]
    return MachineReport(phase, job_file=job_file if job else None,
                         progress=percent / 100.0 if percent is not None else None,
                         time_left_s=number(job.get("time_remaining")), elapsed_s=number(job.get("time_printing")),
                         metrics=metrics, message=message)


def status_job_id(body: bytes | str) -> str | None:
    """The machine's job number in a status reply (None when it has no job)."""
    data = json_object(body, "PrusaLink status")
    job = data.get("job")
    if isinstance(job, dict) and job.get("id") is not None:
        return str(job["id"])
    return None


def _metrics(printer: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for ours, theirs in (("temperature", "temp_nozzle"), ("target_temperature", "target_nozzle"),
                         ("bed_c", "temp_bed"), ("bed_target_c", "target_bed"), ("z_mm", "axis_z"),
                         ("speed_percent", "speed"), ("flow_percent", "flow")):
        value = number(printer.get(theirs))
        if value is not None:
            out[ours] = value
    return out


def update_version(body: bytes | str) -> dict[str, str]:
    """``GET /api/version``: what the machine says it is (printer model, firmware, PrusaLink version)."""
    data = json_object(body, "PrusaLink version")
    if "api" not in data and "server" not in data:
        raise BadReply("PrusaLink version: no api/server field; is this a PrusaLink printer?")
    return {k: str(data[k]) for k in ("api", "server", "text", "hostname", "firmware", "original") if k in data}


def update_info(body: bytes | str) -> dict[str, Any]:
    """``GET /api/v1/info``: nozzle diameter, serial, hostname."""
    data = json_object(body, "PrusaLink info")
    out: dict[str, Any] = {}
    nozzle = number(data.get("nozzle_diameter"))
    if nozzle is not None and nozzle > 0:
        out["nozzle_mm"] = nozzle
    for key in ("serial", "hostname", "name", "location"):
        if data.get(key):
            out[key] = str(data[key])
    return out


def update_job(body: bytes | str) -> tuple[str, str]:
    """``GET /api/v1/job`` (200) → (the machine's job number, the file's name); a 204 means no job."""
    data = json_object(body, "PrusaLink job")
    if data.get("id") is None:
        raise BadReply("PrusaLink job: no id in the reply")
    file = data.get("file") if isinstance(data.get("file"), dict) else {}
    # On the USB stick of Buddy-firmware printers ``name`` is the FAT short name (IMEWE-~1.GCO); the long name
    # the file was sent under is ``display_name``.
    return str(data["id"]), str(file.get("display_name") or file.get("name") or "")
