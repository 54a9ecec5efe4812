"""Bambu Lab LAN mode over MQTT (X1, P1, A1 series), without I/O.

Follows the community's public description of the printers' local protocol (Doridian/OpenBambuAPI, ``mqtt.md``
and ``ftp.md``): the printer runs an MQTT broker on TLS port 8883 (user ``bblp``, password the LAN access code),
reports on ``device/<serial>/report`` as JSON with a ``print`` object, and takes commands on
``device/<serial>/request``. P1/A1 printers send only the fields that changed, so the codec keeps the merged
state. Files go to the printer's SD card over implicit FTPS (port 990) before a print command names them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from app.devices.network.errors import BadReply
from app.devices.network.numbers import number
from app.devices.network.report import MachinePhase as Phase
from app.devices.network.report import MachineReport

USER = "bblp"
MQTT_PORT = 8883
FTPS_PORT = 990
CANCELLED_ERROR = 0x0300400C  # the print_error a printer reports after a stop ("printing was cancelled")

# A failed print leaves the printer saying FAILED until the next print, yet ready for it: that is IDLE with the
# error as its message (a job we follow ends as failed), not a fault that would keep the machine out of service.
_PHASES = {"IDLE": Phase.IDLE, "PREPARE": Phase.BUSY, "SLICING": Phase.BUSY, "RUNNING": Phase.PRINTING,
           "PAUSE": Phase.PAUSED, "FINISH": Phase.FINISHED, "FAILED": Phase.IDLE}


def report_topic(serial: str) -> str:
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    return f"device/{serial}/request"


class BambuCodec:
    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.state: dict[str, Any] = {}  # the merged ``print`` object
        self.info: dict[str, Any] = {}  # the ``info`` answer (modules, firmware versions)
        self._seq = itertools.count(1)

    # ------------------------------------------------------------------ commands (our side → printer)
    def _print_cmd(self, command: str, **fields: Any) -> bytes:
        body = {"print": {"sequence_id": str(next(self._seq)), "command": command, **fields}}
        return json.dumps(body, separators=(",", ":")).encode()

    def request_pushall(self) -> bytes:
        """Ask for a full report (P1/A1 otherwise send only deltas)."""
        return json.dumps({"pushing": {"sequence_id": str(next(self._seq)), "command": "pushall", "version": 1,
                                       "push_target": 1}}).encode()

    def request_version(self) -> bytes:
        return json.dumps({"info": {"sequence_id": str(next(self._seq)), "command": "get_version"}}).encode()

    def request_start(self, remote_name: str, plate: int = 1, use_ams: bool = False) -> bytes:
        """Start a file already on the SD card: a sliced ``.3mf`` by ``project_file`` (plate ``plate``), a
        ``.gcode`` by ``gcode_file``."""
        if remote_name.lower().endswith(".3mf"):
            return self._print_cmd("project_file", param=f"Metadata/plate_{plate}.gcode",
                                   url=f"file:///sdcard/{remote_name}", subtask_name=remote_name,
                                   file=remote_name, md5="", bed_leveling=True, flow_cali=False,
                                   vibration_cali=False, layer_inspect=False, timelapse=False,
                                   use_ams=use_ams, profile_id="0", project_id="0", subtask_id="0", task_id="0")
        return self._print_cmd("gcode_file", param=f"/sdcard/{remote_name}")

    def request_pause(self) -> bytes:
        return self._print_cmd("pause")

    def request_resume(self) -> bytes:
        return self._print_cmd("resume")

    def request_stop(self) -> bytes:
        return self._print_cmd("stop")

    def request_gcode_line(self, line: str) -> bytes:
        return self._print_cmd("gcode_line", param=line.rstrip("\n") + "\n")

    # ------------------------------------------------------------------ reports (printer → our side)
    def update_report(self, payload: bytes | str) -> MachineReport | None:
        """One message from ``device/<serial>/report``; a report when it carried print state, else None.
        Raises ``BadReply`` for a message that is not a JSON object."""
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadReply(f"Bambu {self.serial}: a report is not JSON") from exc
        if not isinstance(data, dict):
            raise BadReply(f"Bambu {self.serial}: a report is not a JSON object")
        if isinstance(data.get("info"), dict):
            self.info.update(data["info"])
        printed = data.get("print")
        if not isinstance(printed, dict):
            return None
        if printed.get("command") not in (None, "push_status"):
            return None  # an answer to one of our commands (echoed with its result), not a status report
        self.state.update(printed)
        if "gcode_state" not in self.state:
            return None  # a delta before the first full report: nothing to decide on yet
        return self._report()

    def _report(self) -> MachineReport:
        s = self.state
        raw_state = str(s.get("gcode_state") or "").upper()
        phase = _PHASES.get(raw_state)
        if phase is None:
            raise BadReply(f"Bambu {self.serial}: unknown gcode_state {raw_state[:30]!r}")
        percent = number(s.get("mc_percent"))
        minutes = number(s.get("mc_remaining_time"))
        metrics: dict[str, float] = {}
        for ours, theirs in (("temperature", "nozzle_temper"), ("target_temperature", "nozzle_target_temper"),
                             ("bed_c", "bed_temper"), ("bed_target_c", "bed_target_temper"),
                             ("chamber_c", "chamber_temper")):
            value = number(s.get(theirs))
            if value is not None:
                metrics[ours] = value
        error = int(number(s.get("print_error"), 0) or 0)
        message = f"printer error {error:08X}" if error and raw_state in ("FAILED", "PAUSE") else ""
        if raw_state == "FAILED":
            if error == CANCELLED_ERROR:
                phase, message = Phase.CANCELLED, "the print was stopped"
            else:
                message = f"the last print failed ({message or 'no error code'})"
        if raw_state == "PREPARE":
            message = "preparing (heating, levelling)"
        layer = number(s.get("layer_num"))
        total = number(s.get("total_layer_num"))
        running = phase in (Phase.PRINTING, Phase.PAUSED, Phase.BUSY)
        return MachineReport(phase, job_file=str(s.get("subtask_name") or s.get("gcode_file") or "") or None,
                             progress=percent / 100.0 if percent is not None and running else None,
                             time_left_s=minutes * 60.0 if minutes is not None and running else None,
                             layer=int(layer) if layer is not None and running else None,
                             layers_total=int(total) if total else None, metrics=metrics, message=message)

    def capabilities(self) -> dict[str, Any]:
        """What the reports say about the machine: the nozzle (newer firmware reports it) and the loaded filament
        (the AMS tray in use, else the external spool ``vt_tray``)."""
        s = self.state
        caps: dict[str, Any] = {}
        nozzle = number(s.get("nozzle_diameter"))
        if nozzle and 0.1 <= nozzle <= 2.0:
            caps["nozzle_mm"] = nozzle
        material = ""
        ams = s.get("ams") if isinstance(s.get("ams"), dict) else {}
        tray_now = str(ams.get("tray_now") or "")
        if tray_now.isdigit() and int(tray_now) < 254:  # 254/255: the external spool / none
            unit, slot = divmod(int(tray_now), 4)
            units = ams.get("ams") if isinstance(ams.get("ams"), list) else []
            if unit < len(units) and isinstance(units[unit], dict):
                trays = units[unit].get("tray") if isinstance(units[unit].get("tray"), list) else []
                tray = next((t for t in trays if isinstance(t, dict) and str(t.get("id")) == str(slot)), {})
                material = str(tray.get("tray_type") or "")
        if not material and isinstance(s.get("vt_tray"), dict):
            material = str(s["vt_tray"].get("tray_type") or "")
        if material:
            caps["loaded_material"] = material.strip().lower()[:40]
        return caps

    def firmware(self) -> str:
        for module in self.info.get("module") or ():
            if isinstance(module, dict) and module.get("name") == "ota":
                return str(module.get("sw_ver") or "")
        return ""
