"""GRBL 1.1 CNC mills and lasers over a serial port: ``GrblCodec`` + ``SerialTransport``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import DriverFault, DriverState, DriverTelemetry, JobOutcome
from app.devices import grbl_codec as gc
from app.devices.grbl_codec import STATUS_MIN_INTERVAL_S
from app.devices.line_stream import DEFAULT_STALL_TIMEOUT_S
from app.devices.serial_driver import SerialDriver

log = logging.getLogger(__name__)

DEFAULT_CAPS = Capabilities(process=ProcessType.CNC_MILL, build_volume_mm=(300.0, 300.0, 80.0), nozzle_mm=3.175,
                            max_power_w=600.0, idle_power_w=15.0, max_speed_mm_s=80.0)
_CALIBRATIONS = {"home": ["$H"], "unlock": ["$X"], "probe_z": ["G38.2 Z-20 F50"]}
# GRBL's state word → what the driver reports; Run/Jog/Home are work, Hold/Door hold it.
_STATE = {"Idle": DriverState.IDLE, "Run": DriverState.WORKING, "Jog": DriverState.WORKING,
          "Home": DriverState.WORKING, "Hold": DriverState.PAUSED, "Door": DriverState.PAUSED,
          "Alarm": DriverState.ERROR, "Check": DriverState.WORKING, "Sleep": DriverState.IDLE}
_AT_REST = ("Idle", "Alarm", "Check", "Sleep", "Door")


class GrblDriver(SerialDriver):
    protocol = "GRBL"
    codec: gc.GrblCodec

    def __init__(self, name: str, port: str, baud: int = 115200, capabilities: Capabilities | None = None, *,
                 traffic_log: Path | None = None, connect_timeout_s: float = 10.0,
                 status_interval_s: float = 0.25, stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
                 hold_timeout_s: float = 5.0) -> None:
        self.codec = gc.GrblCodec(status_interval_s=status_interval_s)
        super().__init__(name, port, baud, capabilities or DEFAULT_CAPS, traffic_log=traffic_log,
                         connect_timeout_s=connect_timeout_s, stall_timeout_s=stall_timeout_s)
        self.hold_timeout_s = hold_timeout_s
        self.last_status: gc.Status | None = None
        self._statuses = 0
        self.errors: list[gc.GrblError] = []
        self.connect_state = ""
        self._answers: dict[str, asyncio.Future[int | None]] = {}

    def _handle(self, ev: object) -> None:
        if isinstance(ev, gc.Status):
            self._on_status(ev)
        elif isinstance(ev, gc.Ready):
            self._on_ready(ev)
        elif isinstance(ev, gc.CommandDone):
            fut = self._answers.pop(ev.command, None)
            if fut is not None and not fut.done():
                fut.set_result(ev.error)
        elif isinstance(ev, gc.GrblError):
            self.errors.append(ev)
            if ev.job_index is not None and self._job_req is not None:
                # A refused program line: the program is wrong, the machine is fine.
                msg = f"{self.name}: {self._where(ev.job_index)} refused: {ev.message}"
                self._fault("firmware_error", msg, fatal=False, code=ev.code, next_state=DriverState.IDLE)
            else:
                log.info("%s: %r refused: %s", self.name, ev.command, ev.message)
        elif isinstance(ev, gc.Alarm):
            # GRBL has already stopped every motion and flushed its buffers; a reset now would only lock it again.
            self._fault("alarm", f"{self.name}: {ev.message}; the controller stopped all motion itself",
                        code=ev.code, stop=False)
        elif isinstance(ev, gc.Welcome):
            if self.state in (DriverState.WORKING, DriverState.PAUSED):
                self._fault("firmware_reset", f"{self.name}: the controller reset during the job", stop=False)
        elif isinstance(ev, gc.Feedback):
            log.debug("%s says: %s", self.name, ev.text)
        else:
            super()._handle(ev)

    # ------------------------------------------------------------------ connecting
    async def connect(self) -> None:
        try:
            await super().connect()
        except DeviceError as exc:
            st = self.codec.last_status
            if st is not None and st.state not in ("Idle", "Alarm", "Check", "Sleep"):
                raise DeviceError(f"{self.name}: the controller on {self.port} is busy ({st.state}); it was left "
                                  "alone (a reset would stop it mid-move): wait for it to finish") from exc
            raise
        if self.connect_state == "Alarm":
            self._set_state(DriverState.ERROR, "controller is in alarm; unlock ($X) or home ($H)")

    async def prepare(self, *, unlock: bool = False, home: bool = False, check: bool = False) -> None:
        """Before a job: home ($H) or unlock ($X) a controller in alarm, and enter check mode ($C) if asked.
        Waits for each answer; a refusal is an operator-facing error."""
        if home:
            await self._command("$H", 300.0)  # a homing cycle can take minutes on a big machine
        elif unlock:
            await self._command("$X", 10.0)
        if home or unlock:
            self._set_state(DriverState.IDLE, "homed" if home else "unlocked")
        if check and await self._fresh_state() != "Check":  # $C toggles: ask the controller where it is first
            await self._command("$C", 10.0)

    async def leave_check_mode(self) -> None:
        """Out of check mode ($C again; GRBL resets itself as it leaves it), so the next job moves."""
        if await self._fresh_state() == "Check":
            with contextlib.suppress(DeviceError):
                await self._command("$C", 5.0)

    async def _fresh_state(self, timeout_s: float = 2.0) -> str | None:
        """The controller's state from a status report asked for now: $C toggles check mode, so deciding on a
        report from before the last command (a busy host reads its replies late) could toggle the wrong way."""
        seen = self._statuses
        deadline = time.monotonic() + timeout_s
        while self._statuses == seen and time.monotonic() < deadline:
            self._write_now(self.codec.status_query())
            await asyncio.sleep(STATUS_MIN_INTERVAL_S)
        return self.last_status.state if self.last_status is not None else None

    async def _command(self, cmd: str, timeout_s: float) -> None:
        fut: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._answers[cmd] = fut
        self.codec.send_command(cmd)
        self._flush()
        try:
            error = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError as exc:
            raise DeviceError(f"{self.name}: no answer to {cmd} within {timeout_s:g} s") from exc
        finally:
            self._answers.pop(cmd, None)
        if error is not None:
            raise DeviceError(f"{self.name}: {cmd} refused: {gc.error_text(error)}")

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
        self.connect_state = ev.state
        self._ready.set()

    def _on_status(self, st: gc.Status) -> None:
        self.last_status = st
        self._statuses += 1
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
        self._safe_stop()

    def _safe_stop(self) -> str:
        """Feed hold now; once the hold has brought the machine to rest (or ``hold_timeout_s`` passed), a soft
        reset drops whatever is still buffered and stops the spindle. Resetting only after the hold keeps the
        position (a reset while moving loses it: ALARM 3)."""
        if not self._write_now(b"!"):
            return ""
        self._ready.clear()
        self._stop_task = asyncio.get_running_loop().create_task(self._reset_after_hold(),
                                                                 name=f"safe-stop:{self.name}")
        return "; sent feed hold (!) and soft reset (Ctrl-X)"

    async def _reset_after_hold(self) -> None:
        deadline = time.monotonic() + self.hold_timeout_s
        seen = self._statuses
        while time.monotonic() < deadline:
            st = self.last_status
            if self._statuses > seen and st is not None and (st.hold_complete or st.state in _AT_REST):
                break
            self._write_now(self.codec.status_query())
            await asyncio.sleep(STATUS_MIN_INTERVAL_S)
        self._write_now(self.codec.soft_reset())

    async def emergency_stop(self) -> None:
        checkpoint = self._checkpoint() if self._job_req is not None else None
        self._write_now(b"!" + self.codec.soft_reset())
        self._emit(DriverFault("estop", f"{self.name}: emergency stop (feed hold + reset); home before going on"))
        self._finish(JobOutcome.FAILED, "emergency stop", checkpoint, DriverState.ERROR)

    async def disconnect(self) -> None:
        for fut in self._answers.values():
            fut.cancel()
        await super().disconnect()

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
