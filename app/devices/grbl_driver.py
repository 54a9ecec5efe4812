"""GRBL 1.1 CNC mills and lasers over a serial port: ``GrblCodec`` + ``SerialTransport``."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import DriverFault, DriverState, DriverTelemetry, JobOutcome
from app.devices import grbl_codec as gc
from app.devices.serial_driver import SerialDriver

log = logging.getLogger(__name__)

DEFAULT_CAPS = Capabilities(process=ProcessType.CNC_MILL, build_volume_mm=(300.0, 300.0, 80.0), nozzle_mm=3.175,
                            max_power_w=600.0, idle_power_w=15.0, max_speed_mm_s=80.0)
_CALIBRATIONS = {"home": ["$H"], "unlock": ["$X"], "probe_z": ["G38.2 Z-20 F50"]}
# GRBL's state word → what the driver reports; Run/Jog/Home are work, Hold/Door hold it.
_STATE = {"Idle": DriverState.IDLE, "Run": DriverState.WORKING, "Jog": DriverState.WORKING,
          "Home": DriverState.WORKING, "Hold": DriverState.PAUSED, "Door": DriverState.PAUSED,
          "Alarm": DriverState.ERROR, "Check": DriverState.WORKING, "Sleep": DriverState.IDLE}


class GrblDriver(SerialDriver):
    protocol = "GRBL"

    def __init__(self, name: str, port: str, baud: int = 115200, capabilities: Capabilities | None = None, *,
                 traffic_log: Path | None = None, connect_timeout_s: float = 10.0,
                 status_interval_s: float = 0.25) -> None:
        self.codec = gc.GrblCodec(status_interval_s=status_interval_s)
        super().__init__(name, port, baud, capabilities or DEFAULT_CAPS, traffic_log=traffic_log,
                         connect_timeout_s=connect_timeout_s)
        self.last_status: gc.Status | None = None
        self.errors: list[gc.GrblError] = []

    def _on_bytes(self, data: bytes) -> None:
        for ev in self.codec.receive_data(data):
            self._handle(ev)
        self._flush()

    def _handle(self, ev: gc.GrblEvent) -> None:
        if isinstance(ev, gc.LineAcked):
            self._progress(ev.index + 1)
        elif isinstance(ev, gc.JobDone):
            self._progress(ev.total, force=True)
            self._finish(JobOutcome.COMPLETED, f"all {ev.total} lines acknowledged")
        elif isinstance(ev, gc.Status):
            self._on_status(ev)
        elif isinstance(ev, gc.Ready):
            self._on_ready(ev)
        elif isinstance(ev, gc.GrblError):
            self.errors.append(ev)
            if ev.job_index is not None and self._job_req is not None:
                # A refused program line: the program is wrong, the machine is fine.
                msg = f"{self.name}: line {ev.job_index + 1} ({ev.command!r}) refused: {ev.message}"
                self._fault("firmware_error", msg, fatal=False, code=ev.code, next_state=DriverState.IDLE)
            else:
                log.warning("%s: %r refused: %s", self.name, ev.command, ev.message)
        elif isinstance(ev, gc.Alarm):
            self._fault("alarm", f"{self.name}: {ev.message}", code=ev.code)
        elif isinstance(ev, gc.Welcome):
            if self.state in (DriverState.WORKING, DriverState.PAUSED):
                self._fault("firmware_reset", f"{self.name}: the controller reset during the job")
        elif isinstance(ev, gc.Feedback):
            log.debug("%s says: %s", self.name, ev.text)

    def _on_ready(self, ev: gc.Ready) -> None:
        self.firmware = {"FIRMWARE_NAME": f"Grbl {ev.version}", **{k: v for k, v in ev.build.items()}}
        feats = set(self._caps.features) | {"char_counting", "realtime_status", "feed_hold"}
        if ev.settings.get(32) == "1":
            feats.add("laser_mode")
        caps = self._caps
        try:
            travel = tuple(abs(float(ev.settings[k])) for k in (130, 131, 132))
            caps = replace(caps, build_volume_mm=travel)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            pass
        self._caps = replace(caps, features=frozenset(feats))
        self._ready.set()

    def _on_status(self, st: gc.Status) -> None:
        self.last_status = st
        metrics = {"feed_mm_min": st.feed_mm_min, "spindle_rpm": st.spindle_rpm}
        for axis, v in zip("xyz", st.wpos or st.mpos, strict=False):
            metrics[f"{axis}_mm"] = v
        self._emit(DriverTelemetry(self._with_progress(metrics), self._job_id))
        mapped = _STATE.get(st.state)
        if mapped is DriverState.PAUSED and self.state is DriverState.WORKING:
            self._set_state(DriverState.PAUSED, f"controller in {st.state}")
        elif mapped is DriverState.ERROR and self.state not in (DriverState.ERROR, DriverState.OFFLINE):
            self._fault("alarm", f"{self.name}: controller is in alarm; unlock ($X) or home ($H)")

    # ------------------------------------------------------------------ operator commands
    async def pause(self) -> None:
        if self.state is DriverState.WORKING:
            self._transport.write(self.codec.pause_job())
            self._set_state(DriverState.PAUSED, "feed hold")

    async def resume(self) -> None:
        if self.state is DriverState.PAUSED:
            self._transport.write(self.codec.resume_job())
            self._set_state(DriverState.WORKING if self._job_req else DriverState.IDLE, "cycle start")
            self._flush()

    def _cancel_commands(self) -> None:
        # Stop motion now: a soft reset drops what the controller buffered; the banner restarts the handshake.
        self._transport.write(b"!")
        self._transport.write(self.codec.soft_reset())
        self._ready.clear()

    async def emergency_stop(self) -> None:
        checkpoint = self._checkpoint() if self._job_req is not None else None
        if self._transport.is_open:
            self._transport.write(b"!" + self.codec.soft_reset())
        self._emit(DriverFault("estop", f"{self.name}: emergency stop (feed hold + reset); home before going on"))
        self._finish(JobOutcome.FAILED, "emergency stop", checkpoint, DriverState.ERROR)

    async def unlock(self) -> None:
        self.codec.send_command("$X")
        self._flush()
        if self.state is DriverState.ERROR:
            self._set_state(DriverState.IDLE, "unlocked")

    async def calibrate(self, what: str = "home") -> None:
        cmds = _CALIBRATIONS.get(what)
        if cmds is None:
            raise ValidationError(f"unknown calibration {what!r}; known: {', '.join(_CALIBRATIONS)}", "what")
        for cmd in cmds:
            self.codec.send_command(cmd)
        self._flush()
        if what == "unlock" and self.state is DriverState.ERROR:
            self._set_state(DriverState.IDLE, "unlocked")

    async def send(self, cmd: str) -> None:
        self.codec.send_command(cmd)
        self._flush()
