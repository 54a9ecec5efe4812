"""Duet / RepRapFirmware 3.x standalone HTTP API, without I/O.

Follows Duet3D's public "HTTP requests" page (RepRapFirmware wiki) and ``Developer-documentation/OpenAPI.yaml``:
``rr_connect?password=&sessionKey=yes`` (RRF 3.5 returns a ``sessionKey`` to send as ``X-Session-Key``),
``rr_model?key=&flags=`` (the object model: ``state.status``, ``job.file``, ``job.filePosition``,
``job.timesLeft``, ``heat.heaters[]``), ``rr_upload?name=`` (file in the POST body, ``crc32`` checked),
``rr_gcode?gcode=`` and ``rr_disconnect``. G-codes from the RepRapFirmware G-code dictionary: ``M32`` starts a
file, ``M25`` pauses, ``M24`` resumes, ``M0`` after a pause cancels, ``M112`` stops at once (then ``M999``).
"""

from __future__ import annotations

import zlib
from typing import Any

from app.devices.network.errors import BadReply, CredentialsRefused
from app.devices.network.http_request import HttpRequest, json_object
from app.devices.network.numbers import number
from app.devices.network.report import MachinePhase as Phase
from app.devices.network.report import MachineReport

GCODES_DIR = "0:/gcodes"
# depth 99, verbose (all values, not only the frequently changing ones: a file name is not "frequent"), with
# nulls (a missing job reads as null, not as an absent key)
MODEL_FLAGS = "d99vn"
POLLED_KEYS = ("state", "job", "heat")  # what one status poll reads; a full model is tens of kB on a board

_PHASES = {"idle": Phase.IDLE, "processing": Phase.PRINTING, "simulating": Phase.PRINTING,
           "resuming": Phase.PRINTING, "paused": Phase.PAUSED, "pausing": Phase.PAUSED,
           "cancelling": Phase.BUSY, "busy": Phase.BUSY, "changingTool": Phase.BUSY, "starting": Phase.BUSY,
           "updating": Phase.BUSY, "halted": Phase.ERROR, "off": Phase.ERROR}


def remote_path(name: str) -> str:
    return f"{GCODES_DIR}/{name}"


def request_connect(password: str) -> HttpRequest:
    return HttpRequest("GET", "/rr_connect", params={"password": password, "sessionKey": "yes"})


def request_disconnect() -> HttpRequest:
    return HttpRequest("GET", "/rr_disconnect")


def request_model(key: str = "", flags: str = MODEL_FLAGS) -> HttpRequest:
    return HttpRequest("GET", "/rr_model", params={"key": key, "flags": flags})


def request_upload(name: str, data_crc32: int) -> HttpRequest:
    return HttpRequest("POST", "/rr_upload", {"Content-Type": "application/octet-stream"},
                       params={"name": remote_path(name), "crc32": f"{data_crc32:08x}"})


def request_gcode(code: str) -> HttpRequest:
    return HttpRequest("GET", "/rr_gcode", params={"gcode": code})


def request_start(name: str) -> HttpRequest:
    return request_gcode(f'M32 "{remote_path(name)}"')


def crc32(data: bytes, value: int = 0) -> int:
    return zlib.crc32(data, value) & 0xFFFFFFFF


def update_connect(body: bytes | str, url: str) -> dict[str, Any]:
    """``rr_connect`` → ``{"session_key": str | None, "timeout_ms": int, "board": str}``."""
    data = json_object(body, f"Duet at {url} (rr_connect)")
    err = number(data.get("err"))
    if err == 1:
        raise CredentialsRefused(f"Duet at {url}: the machine password was refused")
    if err == 2:
        raise BadReply(f"Duet at {url}: no free HTTP session on the board (too many clients connected)")
    if err != 0:
        raise BadReply(f"Duet at {url}: rr_connect answered err={data.get('err')!r}")
    key = data.get("sessionKey")
    return {"session_key": str(int(key)) if isinstance(key, int | float) and not isinstance(key, bool) else None,
            "timeout_ms": int(number(data.get("sessionTimeout"), 8000) or 8000),
            "board": str(data.get("boardType") or "")}


def update_err(body: bytes | str, what: str) -> None:
    data = json_object(body, what)
    if number(data.get("err"), 0) != 0:
        raise BadReply(f"{what}: the board answered err={data.get('err')!r}")


def model_result(body: bytes | str, key: str = "") -> Any:
    """The ``result`` of an ``rr_model`` reply: an object for the whole model or an object key, a list for
    array keys (``boards``, ``tools``)."""
    data = json_object(body, "Duet object model")
    if "result" not in data:
        raise BadReply(f"Duet object model: no result in the reply to key {key!r}")
    result = data["result"]
    if not key and not isinstance(result, dict):
        raise BadReply("Duet object model: the model is not an object")
    return result


def update_model(model: dict[str, Any]) -> MachineReport:
    """The object model (``rr_model`` result with at least ``state``, ``job``, ``heat``) → a report."""
    state = model.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("status"), str):
        raise BadReply("Duet object model: no state.status")
    status = state["status"]
    phase = _PHASES.get(status)
    if phase is None:
        raise BadReply(f"Duet object model: unknown state.status {status[:30]!r}")
    job = model.get("job") if isinstance(model.get("job"), dict) else {}
    file = job.get("file") if isinstance(job.get("file"), dict) else {}
    file_name = str(file.get("fileName") or "")
    fraction = None
    size = number(file.get("size"))
    position = number(job.get("filePosition"))
    if size and position is not None and file_name:
        fraction = max(0.0, min(1.0, position / size))
    last = str(job.get("lastFileName") or "")
    if phase is Phase.IDLE and not file_name and last and not job.get("lastFileAborted"):
        # RRF keeps the last file's name and how it ended: report the end so a job we follow can close. An
        # aborted file stays IDLE: a job we follow then ends as failed.
        file_name = last
        phase = Phase.CANCELLED if job.get("lastFileCancelled") else Phase.FINISHED
    times = job.get("timesLeft") if isinstance(job.get("timesLeft"), dict) else {}
    left = next((v for v in (number(times.get(k)) for k in ("slicer", "file", "filament")) if v), None)
    message = "emergency stop: the board is halted (reset it with M999)" if status == "halted" else ""
    if status == "off":
        message = "the board reports its motor power is off"
    layer = number(job.get("layer"))
    layers = number(file.get("numLayers"))
    return MachineReport(phase, job_file=file_name or None, progress=fraction, time_left_s=left,
                         elapsed_s=number(job.get("duration")), layer=int(layer) if layer is not None else None,
                         layers_total=int(layers) if layers else None, metrics=_heat(model), message=message)


def _heat(model: dict[str, Any]) -> dict[str, float]:
    heat = model.get("heat") if isinstance(model.get("heat"), dict) else {}
    heaters = heat.get("heaters") if isinstance(heat.get("heaters"), list) else []
    beds = [int(b) for b in heat.get("bedHeaters") or () if isinstance(b, int) and b >= 0]
    tool_heater = 1
    tools = model.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict) and tools[0].get("heaters"):
        tool_heater = int(tools[0]["heaters"][0])
    out: dict[str, float] = {}
    for index, (current, target) in (
            (tool_heater, ("temperature", "target_temperature")),
            (beds[0] if beds else 0, ("bed_c", "bed_target_c"))):
        if 0 <= index < len(heaters) and isinstance(heaters[index], dict):
            h = heaters[index]
            cur = number(h.get("current"))
            if cur is not None and cur > -273:  # RRF reports -273.1 for a heater with no sensor
                out[current] = cur
            act = number(h.get("active"))
            if act is not None:
                out[target] = act if h.get("state") in ("active", None) else 0.0
    return out


def update_board(model: dict[str, Any]) -> dict[str, str]:
    boards = model.get("boards")
    if isinstance(boards, list) and boards and isinstance(boards[0], dict):
        b = boards[0]
        return {"board": str(b.get("name") or b.get("shortName") or ""),
                "firmware": f"{b.get('firmwareName', 'RepRapFirmware')} {b.get('firmwareVersion', '')}".strip()}
    return {}
