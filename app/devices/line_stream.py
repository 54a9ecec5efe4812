"""What every line-based machine protocol shares, without I/O: bytes in → lines → events, commands → bytes out.

A ``LineStream`` keeps the host command queue and the job being streamed (which command is next, how many the
machine acknowledged, where each command sits in the G-code file), the history of numbered lines a resend request
is served from, splits the machine's replies into lines, and
watches for a stall: work outstanding and no sign of life (a reply that moves the work on, or the protocol's
keep-alive) for ``stall_timeout_s``. Subclasses (Marlin, GRBL, and the network protocols that stream lines) say
how a line goes out, what counts as an answer, and when a finished job has really finished on the machine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from app.devices.gcode import clean_line

DEFAULT_STALL_TIMEOUT_S = 30.0


# ------------------------------------------------------------------ events every line protocol reports
@dataclass(frozen=True, slots=True)
class LineAcked:
    index: int  # index into the job's commands
    line_no: int = 0  # the protocol's own line number, when it numbers lines


@dataclass(frozen=True, slots=True)
class JobDone:
    """Every line acknowledged and the machine idle (nothing queued in its planner)."""

    total: int


@dataclass(frozen=True, slots=True)
class Stalled:
    """Work outstanding and no sign of life from the machine for ``seconds``."""

    seconds: float
    index: int | None  # the job line the machine was last given, if any
    file_line: int | None


@dataclass(slots=True)
class Sent:
    """A line the machine was given and has not answered yet (or, for resends, one it may ask for again)."""

    cmd: str
    job_index: int | None  # None for host commands
    size: int = 0  # bytes on the wire


@dataclass(slots=True)
class StreamJob:
    commands: list[str]
    file_lines: list[int]  # file line number (1-based) of each command
    next_index: int = 0
    acked: int = 0
    paused: bool = False
    draining: bool = False  # every line acknowledged; waiting for the machine to finish moving

    @property
    def total(self) -> int:
        return len(self.commands)

    @property
    def all_sent(self) -> bool:
        return self.next_index >= len(self.commands)


@dataclass(slots=True)
class LineStream:
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S
    history_size: int = 2000  # numbered lines kept for resend requests
    _out: bytearray = field(default_factory=bytearray)
    _buf: bytearray = field(default_factory=bytearray)
    _host: deque[str] = field(default_factory=deque)
    _job: StreamJob | None = None
    _now: float | None = None  # the latest time ``tick`` was given (None before the first tick)
    _alive_at: float | None = None  # last sign of life while work was outstanding
    _last_index: int | None = None  # the job line most recently handed to the machine
    _stalled: bool = False
    _history: dict[int, Sent] = field(default_factory=dict)  # line number → what went out under it
    _resend_next: int | None = None  # the next line number to send again

    # ---------------------------------------------------------------- host side
    def send_command(self, cmd: str) -> None:
        """A host command; goes before the remaining job lines."""
        cmd = clean_line(cmd)
        if cmd:
            self._host.append(cmd)
            self._pump()

    def start_job(self, commands: list[str], start_index: int = 0, file_lines: list[int] | None = None) -> None:
        if self._job is not None and not self._job.all_sent:
            raise RuntimeError("a job is already streaming")
        lines = list(file_lines) if file_lines is not None else list(range(1, len(commands) + 1))
        if len(lines) != len(commands):
            raise ValueError("one file line number per command")
        self._job = StreamJob(commands, lines, next_index=start_index, acked=start_index)
        self._stalled = False
        self._alive_at = None
        self._pump()

    def pause_job(self) -> bytes | None:
        """Stop feeding job lines (what is already with the machine runs on)."""
        if self._job:
            self._job.paused = True
        return None

    def resume_job(self) -> bytes | None:
        if self._job:
            self._job.paused = False
            self._pump()
        return None

    def cancel_job(self) -> int:
        """Stop feeding the job; returns how many of its lines the machine acknowledged."""
        acked = self._job.acked if self._job else 0
        self._job = None
        return acked

    def job_position(self) -> tuple[int, int]:
        return (self._job.acked, self._job.total) if self._job else (0, 0)

    @property
    def job_active(self) -> bool:
        return self._job is not None

    def file_line(self, index: int | None) -> int | None:
        """The G-code file's line number of job command ``index`` (what an operator finds in an editor)."""
        job = self._job
        if index is None or job is None or not 0 <= index < job.total:
            return None
        return job.file_lines[index]

    @property
    def current_index(self) -> int | None:
        """The job line most recently handed to the machine."""
        return self._last_index

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def tick(self, now: float) -> list:
        """Called periodically with a monotonic time. Returns events (a stall) that time alone produces."""
        self._now = now
        events: list = []
        if not self._work_outstanding() or self._stalled:
            self._alive_at = None
            return events
        if self._alive_at is None:
            self._alive_at = now
        elif now - self._alive_at >= self.stall_timeout_s:
            self._stalled = True
            idx = self._last_index
            events.append(Stalled(round(now - self._alive_at, 1), idx, self.file_line(idx)))
        return events

    # ---------------------------------------------------------------- machine side
    def receive_data(self, data: bytes) -> list:
        self._buf += data
        events: list = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(self._buf[:nl]).decode("ascii", errors="replace").strip()
            del self._buf[: nl + 1]
            if line:
                self._on_line(line, events)
        if len(self._buf) > 4096:  # a peer that never ends a line: keep memory bounded, it is garbage anyway
            del self._buf[:-256]
        self._pump()
        return events

    # ---------------------------------------------------------------- for subclasses
    def _alive(self) -> None:
        """The machine showed it is working on what it was given (an answer or a keep-alive)."""
        self._alive_at = self._now  # None before the first tick: the next tick starts the clock
        self._stalled = False

    # resend bookkeeping, for protocols that number their lines
    def _remember(self, line_no: int, sent: Sent) -> None:
        self._history[line_no] = sent
        self._history.pop(line_no - self.history_size, None)

    def _forget_history(self) -> None:
        self._history.clear()
        self._resend_next = None

    def _request_resend(self, line_no: int) -> bool:
        """The machine asks for ``line_no`` and everything after it again. False when it is no longer held."""
        if line_no not in self._history:
            return False
        self._resend_next = line_no
        return True

    def _next_resend(self, last_sent: int) -> tuple[int, Sent] | None:
        """The next line to send again, in order, up to ``last_sent``."""
        n = self._resend_next
        if n is None:
            return None
        self._resend_next = n + 1 if n + 1 <= last_sent and n + 1 in self._history else None
        return n, self._history[n]

    def _next_job_command(self) -> tuple[int, str] | None:
        job = self._job
        if job is None or job.paused or job.all_sent:
            return None
        return job.next_index, job.commands[job.next_index]

    def _mark_sent(self, index: int) -> None:
        assert self._job is not None
        self._job.next_index = index + 1
        self._last_index = index

    def _ack_job_line(self, index: int, events: list, line_no: int = 0) -> None:
        job = self._job
        if job is None:
            return
        job.acked = index + 1
        events.append(LineAcked(index, line_no))
        if job.acked == job.total:
            job.draining = True
            self._on_all_acked(events)

    def _on_all_acked(self, events: list) -> None:
        """Every line acknowledged. Protocols whose machines buffer motion wait for it to drain first."""
        self._job_done(events)

    def _job_done(self, events: list) -> None:
        if self._job is not None:
            events.append(JobDone(self._job.total))
            self._job = None

    def _work_outstanding(self) -> bool:
        """Something was sent and is not answered, or a job waits to drain: silence now means a stall."""
        return self._job is not None and not self._job.paused

    def _on_line(self, line: str, events: list) -> None:
        raise NotImplementedError

    def _pump(self) -> None:
        raise NotImplementedError
