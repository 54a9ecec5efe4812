"""What the Marlin and GRBL drivers share: the transport, the tick task, job bookkeeping and checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path

from app.core.domain.capabilities import Capabilities
from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import (
    DriverBase,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    JobCheckpoint,
    JobOutcome,
    JobRequest,
)
from app.devices.gcode import commands_from_lines, load_commands
from app.devices.serial_transport import SerialTransport

log = logging.getLogger(__name__)
TICK_S = 0.05
PROGRESS_EVERY_S = 0.25


_AXIS_WORD = re.compile(r"([XYZEF])\s*(-?\d*\.?\d+)", re.IGNORECASE)


def last_position(commands: list[str], acked: int, lookback: int = 20_000) -> dict[str, float]:
    """The last commanded value of each axis (and feed) among the acknowledged lines: where to resume from.
    Words are taken as written (absolute positioning, as slicers emit)."""
    found: dict[str, float] = {}
    for cmd in reversed(commands[max(0, acked - lookback):acked]):
        if cmd[:1] not in "Gg":
            continue
        for axis, value in _AXIS_WORD.findall(cmd):
            key = f"{axis.lower()}_mm" if axis.upper() != "F" else "feed_mm_min"
            found.setdefault(key, float(value))
        if len(found) == 5:
            break
    return found


class SerialDriver(DriverBase):
    """Subclasses set ``self.codec`` and implement ``_on_bytes``; everything runs on the event loop thread."""

    protocol = "serial"

    def __init__(self, name: str, port: str, baud: int, capabilities: Capabilities, *,
                 traffic_log: Path | None = None, connect_timeout_s: float = 10.0) -> None:
        super().__init__(name, capabilities)
        self.port = port
        self.baud = baud
        self.connect_timeout_s = connect_timeout_s
        self._transport = SerialTransport(port, baud, on_data=self._on_bytes, on_lost=self._on_lost,
                                          traffic_log=traffic_log)
        self._ready = asyncio.Event()
        self._tick_task: asyncio.Task | None = None
        self._job_req: JobRequest | None = None
        self._job_total = 0
        self._last_progress = 0.0
        self._done: asyncio.Future[DriverJobFinished] | None = None
        self.firmware: dict[str, str] = {}
        self._commands: list[str] = []

    # ------------------------------------------------------------------ life cycle
    async def connect(self) -> None:
        if self._tick_task is not None:  # reconnecting after a lost port
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        self._set_state(DriverState.CONNECTING, f"opening {self.port}")
        await self._transport.open()
        self._ready.clear()
        self.codec.start()
        self._flush()
        self._tick_task = asyncio.get_running_loop().create_task(self._ticker(), name=f"tick:{self.name}")
        try:
            await asyncio.wait_for(self._ready.wait(), self.connect_timeout_s)
        except TimeoutError as exc:
            await self.disconnect()
            raise DeviceError(f"{self.name}: no {self.protocol} firmware answered on {self.port} within "
                              f"{self.connect_timeout_s:.0f} s; check the port, the baud rate ({self.baud}) "
                              "and that the machine is powered") from exc
        self._set_state(DriverState.IDLE, "connected")

    async def disconnect(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        await self._transport.close()
        if self.state is not DriverState.OFFLINE:
            self._set_state(DriverState.DISCONNECTED, "disconnected")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.codec.tick(time.monotonic())
            self._flush()

    def _flush(self) -> None:
        data = self.codec.data_to_send()
        if data and self._transport.is_open:
            try:
                self._transport.write(data)
            except DeviceError:
                pass  # the lost-port path already reported it

    # ------------------------------------------------------------------ jobs
    async def execute(self, job: JobRequest) -> None:
        if self.state not in (DriverState.IDLE,):
            raise DeviceError(f"{self.name} cannot start a job while {self.state.value}")
        if job.gcode_path is not None:
            commands = await asyncio.get_running_loop().run_in_executor(None, load_commands, job.gcode_path)
        elif job.gcode_lines is not None:
            commands = commands_from_lines(job.gcode_lines)
        else:
            raise ValidationError(f"{self.name} runs G-code; the job has no G-code file", "job")
        if not 0 <= job.start_line <= len(commands):
            raise ValidationError(f"start line {job.start_line} is outside the program ({len(commands)} lines)")
        self._job_req = job
        self._commands = commands
        self._job_id = job.job_id
        self._job_total = len(commands)
        self._done = asyncio.get_running_loop().create_future()
        self._set_state(DriverState.WORKING, f"running {job.describe()}")
        self.codec.start_job(commands, job.start_line)
        self._flush()

    async def wait_job(self) -> DriverJobFinished:
        """Until the current job ends (used by ``imewe run`` and tests)."""
        if self._done is None:
            raise DeviceError(f"{self.name} has no job")
        return await asyncio.shield(self._done)

    def _checkpoint(self) -> JobCheckpoint:
        acked, total = self.codec.job_position()
        if total == 0:
            acked, total = self._acked, self._job_total
        return JobCheckpoint(self._job_id, acked, total, acked / total if total else 0.0,
                             last_position(self._commands, acked))

    def _with_progress(self, metrics: dict[str, float]) -> dict[str, float]:
        if self._job_req is not None and self._job_total:
            metrics["progress"] = round(self._acked / self._job_total, 4)
        return metrics

    def _progress(self, acked: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY_S:
            self._acked = acked  # keep status() exact between the throttled events
            return
        self._last_progress = now
        total = self._job_total or 1
        self._emit(DriverJobProgress(self._job_id, acked / total, acked, self._job_total))

    def _finish(self, outcome: JobOutcome, message: str, checkpoint: JobCheckpoint | None = None,
                next_state: DriverState = DriverState.IDLE) -> None:
        if self._job_req is None:
            self._set_state(next_state, message)
            return
        job_id = self._job_id
        self._job_req = None
        event = DriverJobFinished(job_id, outcome, message, checkpoint)
        self._emit(event)
        if self._done is not None and not self._done.done():
            self._done.set_result(event)
        self._job_id = None
        self._set_state(next_state, message)

    def _fault(self, kind: str, message: str, fatal: bool = True, code: int | None = None,
               outcome: JobOutcome = JobOutcome.FAILED, next_state: DriverState = DriverState.ERROR) -> None:
        log.warning("%s", message)
        checkpoint = self._checkpoint() if self._job_req is not None else None
        if self._job_req is not None:
            self.codec.cancel_job()
        self._emit(DriverFault(kind, message, fatal, code))
        self._finish(outcome, message, checkpoint, next_state)

    def _on_lost(self, why: str) -> None:
        if self.state in (DriverState.DISCONNECTED, DriverState.OFFLINE):
            return
        self._ready.clear()
        # The machine may still hold the job and nothing acknowledged is lost: the job is PAUSED with its
        # position saved, so it can be resumed from there or moved by the scheduler.
        self._fault("link_lost", f"{self.name}: lost the serial port {self.port} ({why})",
                    outcome=JobOutcome.PAUSED, next_state=DriverState.OFFLINE)

    async def cancel(self) -> None:
        if self._job_req is None:
            return
        checkpoint = self._checkpoint()
        self.codec.cancel_job()
        self._cancel_commands()
        self._flush()
        self._finish(JobOutcome.CANCELLED, "cancelled by the operator", checkpoint)

    def _cancel_commands(self) -> None:
        """What to send after a cancel (heaters off, spindle stop)."""

    def _on_bytes(self, data: bytes) -> None:
        raise NotImplementedError
