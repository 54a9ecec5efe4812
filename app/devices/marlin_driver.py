"""Marlin/RepRap printers over a serial port: ``MarlinCodec`` + ``SerialTransport``."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import DriverFault, DriverState, DriverTelemetry, JobCheckpoint, JobOutcome
from app.devices import marlin_codec as mc
from app.devices.line_stream import DEFAULT_STALL_TIMEOUT_S
from app.devices.serial_driver import SerialDriver

log = logging.getLogger(__name__)
LINK_REPORT_EVERY_S = 5.0

DEFAULT_CAPS = Capabilities(process=ProcessType.FDM, build_volume_mm=(220.0, 220.0, 250.0), nozzle_mm=0.4,
                            max_power_w=350.0, idle_power_w=8.0, max_speed_mm_s=150.0)
_CALIBRATIONS = {"home": ["G28"], "bed_level": ["G28", "G29"], "pid_nozzle": ["M303 E0 S210 C8 U1"],
                 "pid_bed": ["M303 E-1 S60 C8 U1"]}


class MarlinDriver(SerialDriver):
    protocol = "Marlin"
    codec: mc.MarlinCodec

    def __init__(self, name: str, port: str, baud: int = 115200, capabilities: Capabilities | None = None, *,
                 traffic_log: Path | None = None, connect_timeout_s: float = 10.0,
                 autoreport_interval_s: int = 2, poll_interval_s: float = 2.0,
                 stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S) -> None:
        self.codec = mc.MarlinCodec(autoreport_interval_s=autoreport_interval_s, poll_interval_s=poll_interval_s)
        super().__init__(name, port, baud, capabilities or DEFAULT_CAPS, traffic_log=traffic_log,
                         connect_timeout_s=connect_timeout_s, stall_timeout_s=stall_timeout_s)
        self.resends = 0
        self._link_reported = 0.0

    def _handle(self, ev: object) -> None:
        if isinstance(ev, mc.Temperatures):
            metrics = dict(ev.metrics)
            if "nozzle_c" in metrics:  # the main heater under the names the telemetry rules watch
                metrics["temperature"] = metrics["nozzle_c"]
                if "nozzle_target_c" in metrics:
                    metrics["target_temperature"] = metrics["nozzle_target_c"]
            metrics.update(self._link_metrics())
            self._emit(DriverTelemetry(self._with_progress(metrics), self._job_id))
        elif isinstance(ev, mc.Ready):
            self._on_ready(ev)
        elif isinstance(ev, mc.ResendRequested):
            self.resends += 1
            log.debug("%s: transmission error, resending line %d (%s)", self.name, ev.line_no, ev.error or "rs")
            now = time.monotonic()
            if now - self._link_reported >= LINK_REPORT_EVERY_S:
                self._link_reported = now
                self._emit(DriverTelemetry(self._link_metrics(), self._job_id))
        elif isinstance(ev, mc.FirmwareError):
            where = f" while on {self._where(self.codec.current_index)}" if self._job_req is not None else ""
            self._fault("firmware_error", f"{self.name}: firmware reported an error{where}: {ev.message}")
        elif isinstance(ev, mc.ProtocolError):
            self._fault("protocol_error", f"{self.name}: {ev.message}")
        elif isinstance(ev, mc.FirmwareReset):
            if self.state in (DriverState.WORKING, DriverState.PAUSED):
                self._fault("firmware_reset", f"{self.name}: the printer reset itself during the job")
        elif isinstance(ev, mc.Busy):
            log.debug("%s busy: %s", self.name, ev.text)
        elif isinstance(ev, mc.Message):
            log.debug("%s says: %s", self.name, ev.text)
        else:
            super()._handle(ev)

    def _link_metrics(self) -> dict[str, float]:
        """Link quality: resend requests so far and their share of the lines sent (transmission errors)."""
        sent = max(self.codec.lines_sent, 1)
        return {"link_resends": float(self.codec.resends), "link_error_rate": round(self.codec.resends / sent, 5)}

    def _safe_stop(self) -> str:
        spindle = any(c[:2].upper() in ("M3", "M4") and not c[2:3].isdigit() for c in self._commands)
        if not self._write_now(self.codec.safe_stop(spindle)):
            return ""
        return f"; sent heaters and fan off (M104 S0, M140 S0, M107{', M5' if spindle else ''})"

    def _on_ready(self, ev: mc.Ready) -> None:
        self.firmware = ev.firmware
        feats = set(self._caps.features) | {"line_numbers", "checksums"}
        feats |= {f"cap:{k.lower()}" for k, on in ev.caps.items() if on}
        if ev.caps.get("AUTOREPORT_TEMP"):
            feats.add("autoreport_temp")
        self._caps = replace(self._caps, features=frozenset(feats))
        self._ready.set()
        if self.state is DriverState.ERROR:
            self._set_state(DriverState.IDLE, "printer restarted")

    async def pause(self) -> None:
        if self.state is DriverState.WORKING:
            self.codec.pause_job()
            self._set_state(DriverState.PAUSED, "paused by the operator")

    async def resume(self) -> None:
        if self.state is DriverState.PAUSED:
            self._set_state(DriverState.WORKING, "resumed")
            self.codec.resume_job()
            self._flush()

    def _cancel_commands(self) -> None:
        for cmd in ("M104 S0", "M140 S0", "M107"):
            self.codec.send_command(cmd)

    async def emergency_stop(self) -> None:
        checkpoint = self._checkpoint() if self._job_req is not None else None
        self._write_now(self.codec.emergency_stop())
        self._emit_estop(checkpoint)

    def _emit_estop(self, checkpoint: JobCheckpoint | None) -> None:
        self._emit(DriverFault("estop", f"{self.name}: emergency stop (M112) sent; reset the printer to go on"))
        self._finish(JobOutcome.FAILED, "emergency stop", checkpoint, DriverState.ERROR)

    async def calibrate(self, what: str = "home") -> None:
        cmds = _CALIBRATIONS.get(what)
        if cmds is None:
            raise ValidationError(f"unknown calibration {what!r}; known: {', '.join(_CALIBRATIONS)}", "what")
        for cmd in cmds:
            self.codec.send_command(cmd)
        self._flush()

    async def send(self, cmd: str) -> None:
        """A console command from the operator."""
        self.codec.send_command(cmd)
        self._flush()
