"""The GRBL 1.1 host protocol without I/O: bytes in → events, commands in → bytes out.

Streaming uses character counting: GRBL's serial receive buffer holds 128 bytes, so the host keeps the sum of
the lengths of lines sent but not yet answered (``ok``/``error:N``) within that size. Real-time commands (``?``
status, ``!`` feed hold, ``~`` cycle start, 0x18 soft reset) bypass the buffer and go out at once.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from app.devices.gcode import clean_line
from app.devices.grbl_messages import alarm_text, error_text

RX_BUFFER_SIZE = 128
STATUS_MIN_INTERVAL_S = 0.2  # GRBL's docs ask for no more than 5 status queries per second
_BANNER = re.compile(r"^Grbl\s+(\S+)", re.IGNORECASE)
_SETTING = re.compile(r"^\$(\d+)=(\S+)")


@dataclass(frozen=True, slots=True)
class Welcome:
    version: str


@dataclass(frozen=True, slots=True)
class Ready:
    version: str
    settings: dict[int, str]
    build: dict[str, str]


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep
    mpos: tuple[float, ...] = ()
    wpos: tuple[float, ...] = ()
    feed_mm_min: float = 0.0
    spindle_rpm: float = 0.0
    planner_free: int | None = None
    rx_free: int | None = None


@dataclass(frozen=True, slots=True)
class LineAcked:
    index: int


@dataclass(frozen=True, slots=True)
class JobDone:
    total: int


@dataclass(frozen=True, slots=True)
class GrblError:
    code: int
    message: str
    job_index: int | None  # the job line the controller refused, if it was one
    command: str


@dataclass(frozen=True, slots=True)
class Alarm:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Feedback:
    text: str  # [MSG:...], [GC:...], etc.


GrblEvent = Welcome | Ready | Status | LineAcked | JobDone | GrblError | Alarm | Feedback


@dataclass(slots=True)
class _Job:
    commands: list[str]
    next_index: int = 0
    acked: int = 0
    paused: bool = False


@dataclass(slots=True)
class GrblCodec:
    rx_buffer_size: int = RX_BUFFER_SIZE
    status_interval_s: float = 0.25
    _out: bytearray = field(default_factory=bytearray)
    _buf: bytearray = field(default_factory=bytearray)
    _phase: str = "idle"  # idle → banner → info → settings → ready
    version: str = ""
    settings: dict[int, str] = field(default_factory=dict)
    build: dict[str, str] = field(default_factory=dict)
    _inflight: deque[tuple[int, int | None, str]] = field(default_factory=deque)  # (bytes, job index, cmd)
    _host: deque[str] = field(default_factory=deque)
    _job: _Job | None = None
    _last_status_q: float = float("-inf")
    _status_pending: bool = False
    last_status: Status | None = None
    _wco: tuple[float, ...] = ()

    # ---------------------------------------------------------------- host side
    def start(self) -> None:
        """Reset the controller so it prints its banner; the handshake follows from there."""
        self._out += self.soft_reset()

    @property
    def ready(self) -> bool:
        return self._phase == "ready"

    @property
    def buffered(self) -> int:
        return sum(n for n, _, _ in self._inflight)

    def send_command(self, cmd: str) -> None:
        cmd = clean_line(cmd)
        if cmd:
            self._host.append(cmd)
            self._pump()

    def start_job(self, commands: list[str], start_index: int = 0) -> None:
        if self._job is not None and self._job.next_index < len(self._job.commands):
            raise RuntimeError("a job is already streaming")
        self._job = _Job(commands, next_index=start_index, acked=start_index)
        self._pump()

    def pause_job(self) -> bytes:
        """Stop feeding and hold motion now (feed hold)."""
        if self._job:
            self._job.paused = True
        return b"!"

    def resume_job(self) -> bytes:
        if self._job:
            self._job.paused = False
            self._pump()
        return b"~"

    def cancel_job(self) -> int:
        acked = self._job.acked if self._job else 0
        self._job = None
        return acked

    def job_position(self) -> tuple[int, int]:
        return (self._job.acked, len(self._job.commands)) if self._job else (0, 0)

    def soft_reset(self) -> bytes:
        """Ctrl-X: the controller drops its buffers and prints its banner again."""
        self._inflight.clear()
        self._host.clear()
        self._job = None
        self._phase = "banner"
        return b"\x18"

    def status_query(self) -> bytes:
        return b"?"

    def tick(self, now: float) -> None:
        interval = max(self.status_interval_s, STATUS_MIN_INTERVAL_S)
        if self._phase == "ready" and now - self._last_status_q >= interval:
            self._last_status_q = now
            self._out += b"?"

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # ---------------------------------------------------------------- machine side
    def receive_data(self, data: bytes) -> list[GrblEvent]:
        self._buf += data
        events: list[GrblEvent] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(self._buf[:nl]).decode("ascii", errors="replace").strip()
            del self._buf[: nl + 1]
            if line:
                self._on_line(line, events)
        self._pump()
        return events

    def _on_line(self, line: str, events: list[GrblEvent]) -> None:
        if line == "ok":
            self._on_answer(None, events)
        elif line.startswith("error:"):
            self._on_answer(_int(line[6:]), events)
        elif line.startswith("<") and line.endswith(">"):
            self.last_status = self._parse_status(line[1:-1])
            events.append(self.last_status)
        elif line.startswith("ALARM:"):
            code = _int(line[6:])
            self._inflight.clear()  # an alarm flushes the controller's buffers: nothing more will be answered
            self._job = None
            events.append(Alarm(code, alarm_text(code)))
        elif m := _BANNER.match(line):
            self.version = m.group(1)
            self._inflight.clear()
            self._job = None
            events.append(Welcome(self.version))
            self._phase = "info"
            self._host.clear()
            self._host.extend(["$I", "$$"])
        elif m := _SETTING.match(line):
            self.settings[int(m.group(1))] = m.group(2)
        elif line.startswith("[VER:") or line.startswith("[OPT:"):
            key, _, val = line[1:-1].partition(":")
            self.build[key] = val
        else:
            events.append(Feedback(line))

    def _on_answer(self, error: int | None, events: list[GrblEvent]) -> None:
        if not self._inflight:
            return
        _, job_index, cmd = self._inflight.popleft()
        if self._phase == "info" and cmd == "$I":
            self._phase = "settings"
            return
        if self._phase == "settings" and cmd == "$$":
            self._phase = "ready"
            events.append(Ready(self.version, dict(self.settings), dict(self.build)))
            return
        if error is not None:
            events.append(GrblError(error, error_text(error), job_index, cmd))
            if job_index is not None and self._job is not None:
                self._job.paused = True  # do not feed more of a program the controller refuses
            return
        if job_index is not None and self._job is not None:
            self._job.acked = job_index + 1
            events.append(LineAcked(job_index))
            if self._job.acked == len(self._job.commands):
                events.append(JobDone(len(self._job.commands)))
                self._job = None

    def _parse_status(self, body: str) -> Status:
        fields = body.split("|")
        state = fields[0].split(":")[0]
        values: dict[str, str] = {}
        for f in fields[1:]:
            k, _, v = f.partition(":")
            values[k] = v
        if "WCO" in values:
            self._wco = _floats(values["WCO"])
        mpos = _floats(values.get("MPos", ""))
        wpos = _floats(values.get("WPos", ""))
        if mpos and not wpos and self._wco:
            wpos = tuple(m - w for m, w in zip(mpos, self._wco, strict=False))
        feed, spindle = 0.0, 0.0
        if "FS" in values:
            fs = _floats(values["FS"])
            feed, spindle = (fs + (0.0, 0.0))[:2]
        elif "F" in values:
            feed = (_floats(values["F"]) or (0.0,))[0]
        planner = rx = None
        if "Bf" in values:
            bf = values["Bf"].split(",")
            planner, rx = _int(bf[0]), _int(bf[1]) if len(bf) > 1 else None
        return Status(state, mpos, wpos, feed, spindle, planner, rx)

    # ---------------------------------------------------------------- sending
    def _pump(self) -> None:
        while True:
            if self._host and self._phase in ("info", "settings", "ready"):
                cmd = self._host[0]
                if not self._fits(cmd):
                    return
                self._host.popleft()
                self._send(cmd, None)
                continue
            job = self._job
            if self._phase != "ready" or job is None or job.paused or job.next_index >= len(job.commands):
                return
            cmd = job.commands[job.next_index]
            if not self._fits(cmd):
                return
            self._send(cmd, job.next_index)
            job.next_index += 1

    def _fits(self, cmd: str) -> bool:
        # A line longer than the whole buffer is sent alone once the buffer is empty; GRBL will refuse it.
        need = len(cmd) + 1
        return self.buffered + need <= self.rx_buffer_size or not self._inflight

    def _send(self, cmd: str, job_index: int | None) -> None:
        data = cmd.encode("ascii", errors="replace") + b"\n"
        self._inflight.append((len(data), job_index, cmd))
        self._out += data


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1


def _floats(text: str) -> tuple[float, ...]:
    out = []
    for part in text.split(","):
        try:
            out.append(float(part))
        except ValueError:
            continue
    return tuple(out)
