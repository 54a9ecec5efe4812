"""What the Marlin and GRBL drivers share: the transport, the tick task, job bookkeeping, checkpoints, stall
handling and the safe stop after a failure. The codec (a ``LineStream``) turns bytes into events; this class
turns events into driver events and node state."""

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
from app.devices import line_stream as ls
from app.devices.gcode import load_program, program_from_lines
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
    """Subclasses set ``self.codec`` before calling ``__init__`` and handle their protocol's own events in
    ``_handle``; everything runs on the event loop thread."""

    protocol = "serial"
    codec: ls.LineStream

    def __init__(self, name: str, port: str, baud: int, capabilities: Capabilities, *,
                 traffic_log: Path | None = None, connect_timeout_s: float = 10.0,
                 stall_timeout_s: float = ls.DEFAULT_STALL_TIMEOUT_S) -> None:
        super().__init__(name, capabilities)
        if not stall_timeout_s > 0:
            raise ValidationError("the stall timeout must be a positive number of seconds", "stall_timeout_s")
        self.port = port
        self.baud = baud
        self.connect_timeout_s = connect_timeout_s
        self.codec.stall_timeout_s = stall_timeout_s
        self._stop_task: asyncio.Task | None = None
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
        self._file_lines: list[int] = []

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
        if self._stop_task is not None:  # finish a safe stop in progress before letting go of the port
            with contextlib.suppress(asyncio.CancelledError, DeviceError):
                await self._stop_task
            self._stop_task = None
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
            for ev in self.codec.tick(time.monotonic()):
                self._handle(ev)
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
            commands, file_lines = await asyncio.get_running_loop().run_in_executor(None, load_program,
                                                                                    job.gcode_path)
        elif job.gcode_lines is not None:
            commands, file_lines = program_from_lines(job.gcode_lines)
        else:
            raise ValidationError(f"{self.name} runs G-code; the job has no G-code file", "job")
        if not 0 <= job.start_line <= len(commands):
            raise ValidationError(f"start line {job.start_line} is outside the program ({len(commands)} lines)")
        self._job_req = job
        self._commands = commands
        self._file_lines = file_lines
        self._job_id = job.job_id
        self._job_total = len(commands)
        self._done = asyncio.get_running_loop().create_future()
        self._set_state(DriverState.WORKING, f"running {job.describe()}")
        self.codec.start_job(commands, job.start_line, file_lines)
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
               outcome: JobOutcome = JobOutcome.FAILED, next_state: DriverState = DriverState.ERROR,
               stop: bool = True) -> None:
        checkpoint = self._checkpoint() if self._job_req is not None else None
        if self._job_req is not None:
            self.codec.cancel_job()
            if stop and self._transport.is_open:
                message += self._safe_stop()
        log.warning("%s", message)
        self._emit(DriverFault(kind, message, fatal, code))
        self._finish(outcome, message, checkpoint, next_state)

    def _on_lost(self, why: str) -> None:
        if self.state in (DriverState.DISCONNECTED, DriverState.OFFLINE):
            return
        self._ready.clear()
        # The machine may still hold the job and nothing acknowledged is lost: the job is PAUSED with its
        # position saved, so it can be resumed from there or moved by the scheduler.
        self._fault("link_lost", f"{self.name}: lost the serial port {self.port} ({why})",
                    outcome=JobOutcome.PAUSED, next_state=DriverState.OFFLINE, stop=False)

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

    def _safe_stop(self) -> str:
        """After a failure mid-job: bring the machine to a safe stop; returns what was done, for the message."""
        return ""

    def _write_now(self, data: bytes) -> bool:
        """Straight out, ahead of anything queued. False when the port is gone."""
        if not self._transport.is_open:
            return False
        try:
            self._transport.write(data)
        except DeviceError:
            return False
        return True

    # ------------------------------------------------------------------ codec events
    def _on_bytes(self, data: bytes) -> None:
        for ev in self.codec.receive_data(data):
            self._handle(ev)
        self._flush()

    def _handle(self, ev: object) -> None:
        """Events every line protocol reports; subclasses handle their own and hand the rest here."""
        if isinstance(ev, ls.LineAcked):
            self._progress(ev.index + 1)
        elif isinstance(ev, ls.JobDone):
            self._progress(ev.total, force=True)
            self._finish(JobOutcome.COMPLETED, f"all {ev.total} lines acknowledged and the machine stopped moving")
        elif isinstance(ev, ls.Stalled):
            where = f" (last sent: {self._where(ev.index)})" if ev.index is not None else ""
            self._fault("stall", f"{self.name}: no answer from the machine for {ev.seconds:g} s{where}; "
                        "the link or the firmware stopped responding")

    def _where(self, index: int | None) -> str:
        """A job line as an operator finds it: the file's line number and the command."""
        if index is None or not 0 <= index < len(self._commands):
            return "no job line"
        line = self._file_lines[index] if index < len(self._file_lines) else index + 1
        return f"file line {line} ({self._commands[index]!r})"
