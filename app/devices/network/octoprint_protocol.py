"""OctoPrint's REST and push messages → ``MachineReport`` (sans-I/O). Follows OctoPrint's REST API documentation
(docs.octoprint.org: Job operations, Printer operations, Connection handling, Push updates).

``OctoPrintState`` folds what OctoPrint says, from ``GET /api/connection``, ``/api/printer``, ``/api/job`` and the
push socket's ``current``/``history``/``event`` messages, into one picture of the machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.devices.network.errors import BadReply
from app.devices.network.numbers import number
from app.devices.network.report import MachinePhase, MachineReport, same_file

P = MachinePhase
# OctoPrint's events that end a print, and what they mean for the job.
_END_EVENTS = {"PrintDone": P.FINISHED, "PrintCancelled": P.CANCELLED, "PrintFailed": P.FAILED}
_HEATERS = {"tool0": ("temperature", "target_temperature"), "bed": ("bed_c", "bed_target_c"),
            "chamber": ("chamber_c", "chamber_target_c")}
ESTOP_AFTER = ("OctoPrint force-sent M112, switched the heaters off and closed its serial connection to the "
               "printer; reset the printer and reconnect it in OctoPrint before the next job")


def decode_push(raw: str | bytes) -> dict[str, Any]:
    """One message from ``/sockjs/websocket`` (raw websocket transport: one JSON object per frame)."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReply(f"OctoPrint's push socket sent something that is not JSON ({str(raw)[:40]!r})") from exc
    if not isinstance(msg, dict):
        raise BadReply(f"OctoPrint's push socket sent a {type(msg).__name__}, not an object")
    return msg



def _obj(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class OctoPrintState:
    port_open: bool = True  # /api/connection: OctoPrint is connected to the printer
    flags: dict[str, bool] = field(default_factory=dict)
    text: str = ""
    error: str = ""
    job_file: str | None = None
    completion_pct: float | None = None
    time_left_s: float | None = None
    elapsed_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    ended: tuple[str, MachinePhase, str] | None = None  # (file, how, reason) from the last end-of-print event

    # ------------------------------------------------------------------ REST replies
    def apply_connection(self, data: dict[str, Any]) -> None:
        state = str(_obj(data, "current").get("state") or "")
        self.port_open = not state.startswith(("Closed", "Offline")) and state != ""
        if not self.port_open:
            self.text = state or "Offline"

    def apply_printer(self, data: dict[str, Any]) -> None:
        self._apply_state(_obj(data, "state"))
        for name, reading in _obj(data, "temperature").items():
            self._heater(name, reading)

    def apply_job(self, data: dict[str, Any]) -> None:
        file = _obj(_obj(data, "job"), "file")
        self.job_file = str(file.get("path") or file.get("name") or "") or None
        progress = _obj(data, "progress")
        self.completion_pct = number(progress.get("completion"))
        self.time_left_s = number(progress.get("printTimeLeft"))
        self.elapsed_s = number(progress.get("printTime"))
        if isinstance(data.get("state"), str) and not self.flags:
            self.text = data["state"]

    # ------------------------------------------------------------------ push messages
    def apply_push(self, msg: dict[str, Any]) -> bool:
        """Fold one push message in; True when the machine's picture may have changed (worth a report)."""
        for key in ("current", "history"):
            if key in msg:
                self._apply_current(_obj(msg, key))
                return True
        if "event" in msg:
            return self._apply_event(_obj(msg, "event"))
        return False

    def _apply_current(self, data: dict[str, Any]) -> None:
        self.port_open = True
        self._apply_state(_obj(data, "state"))
        self.apply_job(data)
        temps = data.get("temps")
        if isinstance(temps, list) and temps and isinstance(temps[-1], dict):
            for name, reading in temps[-1].items():
                self._heater(name, reading)
        z = number(data.get("currentZ"))
        if z is not None:
            self.metrics["z_mm"] = z

    def _apply_event(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("type") or "")
        payload = _obj(event, "payload")
        name = str(payload.get("path") or payload.get("name") or "") or None
        if kind == "PrintStarted":
            self.ended = None
            return True
        if kind in _END_EVENTS and name:
            reason = str(payload.get("reason") or "")
            self.ended = (name, _END_EVENTS[kind], reason)
            return True
        if kind in ("Disconnected", "Error"):
            self.port_open = kind != "Disconnected"
            if kind == "Error":
                self.error = str(payload.get("error") or self.error)
            return True
        return False

    def _apply_state(self, state: dict[str, Any]) -> None:
        flags = _obj(state, "flags")
        if flags:
            self.flags = {str(k): bool(v) for k, v in flags.items()}
        if state.get("text"):
            self.text = str(state["text"])
        self.error = str(state.get("error") or "")

    def _heater(self, name: str, reading: Any) -> None:
        if not isinstance(reading, dict):
            return
        names = _HEATERS.get(name) or ((f"{name}_c", f"{name}_target_c") if name.startswith("tool") else None)
        if names is None:
            return
        actual, target = number(reading.get("actual")), number(reading.get("target"))
        if actual is not None:
            self.metrics[names[0]] = round(actual, 2)
        if target is not None:
            self.metrics[names[1]] = round(target, 2)

    # ------------------------------------------------------------------ the report
    def phase(self) -> MachinePhase:
        f = self.flags
        if f.get("error"):
            return P.ERROR
        if not self.port_open or f.get("closedOrError") or (self.flags and not f.get("operational", True)):
            return P.OFFLINE
        if f.get("cancelling"):
            return P.BUSY
        if f.get("paused") or f.get("pausing"):
            return P.PAUSED
        if f.get("printing") or f.get("resuming") or f.get("finishing"):
            return P.PRINTING
        if self.ended is not None and (self.job_file is None or same_file(self.ended[0], self.job_file)):
            return self.ended[1]
        if self.job_file and self.completion_pct is not None and self.completion_pct >= 100.0:
            return P.FINISHED
        return P.IDLE

    def report(self) -> MachineReport:
        phase = self.phase()
        job_file = self.job_file
        if phase in (P.FINISHED, P.CANCELLED, P.FAILED) and self.ended is not None and job_file is None:
            job_file = self.ended[0]
        progress = None if self.completion_pct is None else min(max(self.completion_pct / 100.0, 0.0), 1.0)
        message = self.error or self.text
        if phase is P.FAILED and self.ended is not None and self.ended[2]:
            message = f"the print failed on OctoPrint ({self.ended[2]})"
        return MachineReport(phase, job_file, progress, time_left_s=self.time_left_s, elapsed_s=self.elapsed_s,
                             metrics=dict(self.metrics), message=message)


def capabilities_from_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """What OctoPrint's printer profile tells about the machine (``GET /api/printerprofiles``)."""
    caps: dict[str, Any] = {}
    volume = _obj(profile, "volume")
    dims = [number(volume.get(k)) for k in ("width", "depth", "height")]
    if all(d is not None and d > 0 for d in dims):
        caps["build_volume_mm"] = dims
    nozzle = number(_obj(profile, "extruder").get("nozzleDiameter"))
    if nozzle:
        caps["nozzle_mm"] = nozzle
    return caps


def current_profile(data: dict[str, Any]) -> dict[str, Any]:
    profiles = _obj(data, "profiles")
    for profile in profiles.values():
        if isinstance(profile, dict) and profile.get("current"):
            return profile
    return next((p for p in profiles.values() if isinstance(p, dict)), {})
