"""The GRBL 1.1 host protocol without I/O: bytes in → events, commands in → bytes out.

Streaming uses character counting: GRBL's serial receive buffer holds 128 bytes, so the host keeps the sum of
the lengths of lines sent but not yet answered (``ok``/``error:N``) within that size. Real-time commands (``?``
status, ``!`` feed hold, ``~`` cycle start, 0x18 soft reset) bypass the buffer and go out at once.

Connecting does not reset the controller: a reset while it moves loses position (ALARM 3) and, with homing
enabled, locks it again. ``start`` asks for a status first; a controller that answers is taken as it is (the
banner of a board that rebooted when the port opened is as good); only silence earns a soft reset.

A job is done when every line is acknowledged *and* a status asked for after the last acknowledgement says
``Idle`` (or ``Check`` in check mode) with the planner empty: an ``ok`` only means a line entered the planner.
GRBL answers ``?`` at once whatever it is doing, so status replies are its heartbeat: silence while work is
outstanding is a stall.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from app.devices.grbl_messages import alarm_text, error_text
from app.devices.line_stream import JobDone, LineAcked, LineStream, Sent, Stalled

__all__ = ["JobDone", "LineAcked", "Stalled", "GrblCodec"]

RX_BUFFER_SIZE = 128
PLANNER_BLOCKS = 15  # GRBL 1.1 on an ATmega328p; [OPT:...,<blocks>,<rx>] tells the real figure
STATUS_MIN_INTERVAL_S = 0.2  # GRBL's docs ask for no more than 5 status queries per second
_BANNER = re.compile(r"^Grbl\s+(\S+)", re.IGNORECASE)
_SETTING = re.compile(r"^\$(\d+)=(\S+)")
_RESTING = ("Idle", "Check")  # states in which nothing moves


@dataclass(frozen=True, slots=True)
class Welcome:
    version: str


@dataclass(frozen=True, slots=True)
class Ready:
    version: str
    settings: dict[int, str]
    build: dict[str, str]
    state: str = ""  # the controller's state when the handshake ended ("Alarm": it needs $X or $H)


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep
    mpos: tuple[float, ...] = ()
    wpos: tuple[float, ...] = ()
    feed_mm_min: float = 0.0
    spindle_rpm: float = 0.0
    planner_free: int | None = None
    rx_free: int | None = None
    substate: str = ""  # Hold:0 = hold complete, Hold:1 = still decelerating

    @property
    def hold_complete(self) -> bool:
        return self.state == "Hold" and self.substate == "0"


@dataclass(frozen=True, slots=True)
class GrblError:
    code: int
    message: str
    job_index: int | None  # the job line the controller refused, if it was one
    command: str
    file_line: int | None = None


@dataclass(frozen=True, slots=True)
class Alarm:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Feedback:
    text: str  # [MSG:...], [GC:...], etc.


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A host command (not a job line) was answered: ``error`` is None for ``ok``."""

    command: str
    error: int | None


GrblEvent = Welcome | Ready | Status | LineAcked | JobDone | Stalled | GrblError | Alarm | Feedback | CommandDone


@dataclass(slots=True)
class GrblCodec(LineStream):
    rx_buffer_size: int = RX_BUFFER_SIZE
    status_interval_s: float = 0.25
    # Silence this long after the first status query earns a reset (an Arduino reboots when the port opens and
    # takes about 2 s to print its banner, which also starts the handshake).
    probe_timeout_s: float = 2.5
    _phase: str = "idle"  # idle → probe → (banner →) info → settings → ready
    version: str = ""
    settings: dict[int, str] = field(default_factory=dict)
    build: dict[str, str] = field(default_factory=dict)
    planner_blocks: int = PLANNER_BLOCKS
    _inflight: deque[Sent] = field(default_factory=deque)
    _last_status_q: float = float("-inf")
    _probe_at: float | None = None
    _queries: int = 0  # status queries sent
    _replies: int = 0  # status replies seen
    _drain_after: int | None = None  # a status reply numbered above this one was asked after the last ok
    last_status: Status | None = None
    _wco: tuple[float, ...] = ()

    # ---------------------------------------------------------------- host side
    def start(self) -> None:
        """Ask the controller how it is; the handshake follows from its answer (see the module docstring)."""
        self._inflight.clear()
        self._host.clear()
        self._phase = "probe"
        self._probe_at = None
        self.last_status = None
        self._query()

    def reset(self) -> None:
        """Soft reset now (the handshake follows the banner)."""
        self._out += self.soft_reset()

    @property
    def ready(self) -> bool:
        return self._phase == "ready"

    @property
    def buffered(self) -> int:
        return sum(s.size for s in self._inflight)

    def pause_job(self) -> bytes:
        """Stop feeding and hold motion now: the feed hold to write at once."""
        LineStream.pause_job(self)
        return b"!"

    def resume_job(self) -> bytes:
        """Feed again and resume motion: the cycle start to write at once."""
        LineStream.resume_job(self)
        return b"~"

    def soft_reset(self) -> bytes:
        """Ctrl-X: the controller drops its buffers and prints its banner again."""
        self._inflight.clear()
        self._host.clear()
        self._job = None
        self._phase = "banner"
        return b"\x18"

    def status_query(self) -> bytes:
        self._queries += 1
        return b"?"

    def _query(self) -> None:
        """A status query, never more often than GRBL asks (5 a second): one too soon waits for the next tick."""
        if self._now is not None and self._now - self._last_status_q < STATUS_MIN_INTERVAL_S:
            return
        self._last_status_q = self._now if self._now is not None else float("inf")  # stamped at the next tick
        self._out += self.status_query()

    def tick(self, now: float) -> list:
        self._now = now
        if self._last_status_q == float("inf"):
            self._last_status_q = now
        if self._phase == "probe":
            if self._probe_at is None:
                self._probe_at = now
            elif self.last_status is not None:
                # It answered but is moving (a job still running): never reset it; ask until it rests.
                self._query()
            elif now - self._probe_at >= self.probe_timeout_s:
                self.reset()  # no answer to a status query: a controller that lost its way, or still booting
            return []
        interval = max(self.status_interval_s, STATUS_MIN_INTERVAL_S)
        if self._phase == "ready" and now - self._last_status_q >= interval:
            self._query()
        return LineStream.tick(self, now)

    def _work_outstanding(self) -> bool:
        return self._phase == "ready" and (bool(self._inflight) or
                                           (self._job is not None and (self._job.draining or not self._job.paused)))

    # ---------------------------------------------------------------- machine side
    def _on_line(self, line: str, events: list) -> None:
        if line == "ok":
            self._on_answer(None, events)
        elif line.startswith("error:"):
            self._on_answer(_int(line[6:]), events)
        elif line.startswith("<") and line.endswith(">"):
            self._on_status(self._parse_status(line[1:-1]), events)
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
            self._begin_info()
        elif m := _SETTING.match(line):
            self.settings[int(m.group(1))] = m.group(2)
        elif line.startswith("[VER:") or line.startswith("[OPT:"):
            key, _, val = line[1:-1].partition(":")
            self.build[key] = val
            if key == "OPT":
                parts = val.split(",")
                if len(parts) >= 2 and parts[1].isdigit():
                    self.planner_blocks = int(parts[1])
        else:
            events.append(Feedback(line))

    def _begin_info(self) -> None:
        self._replies = self._queries  # queries a reset or a boot swallowed will never be answered
        self._phase = "info"
        self._host.clear()
        self._host.extend(["$I", "$$"])

    def _on_status(self, st: Status, events: list) -> None:
        self._replies += 1
        self.last_status = st
        self._alive()
        events.append(st)
        if self._phase == "probe" and st.state in ("Idle", "Alarm", "Check", "Sleep"):
            self._begin_info()  # it answered and nothing moves: take it as it is, no reset
            return
        job = self._job
        if job is not None and job.draining and self._drain_after is not None and self._replies > self._drain_after \
                and st.state in _RESTING and (st.planner_free is None or st.planner_free >= self.planner_blocks):
            self._drain_after = None
            self._job_done(events)

    def _on_answer(self, error: int | None, events: list) -> None:
        if not self._inflight:
            return
        self._alive()
        sent = self._inflight.popleft()
        if self._phase == "info" and sent.cmd == "$I":
            self._phase = "settings"
            return
        if self._phase == "settings" and sent.cmd == "$$":
            self._phase = "ready"
            state = self.last_status.state if self.last_status else ""
            events.append(Ready(self.version, dict(self.settings), dict(self.build), state))
            return
        if sent.job_index is None:
            events.append(CommandDone(sent.cmd, error))
            if error is not None:
                events.append(GrblError(error, error_text(error), None, sent.cmd))
            return
        if error is not None:
            events.append(GrblError(error, error_text(error), sent.job_index, sent.cmd,
                                    self.file_line(sent.job_index)))
            if self._job is not None:
                self._job.paused = True  # do not feed more of a program the controller refuses
            return
        self._ack_job_line(sent.job_index, events)

    def _on_all_acked(self, events: list) -> None:
        # Done once a status asked from now on says nothing moves; ask at once rather than at the next tick.
        self._drain_after = self._queries
        self._query()

    def _parse_status(self, body: str) -> Status:
        fields = body.split("|")
        state, _, substate = fields[0].partition(":")
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
        return Status(state, mpos, wpos, feed, spindle, planner, rx, substate)

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
            if self._phase != "ready":
                return
            nxt = self._next_job_command()
            if nxt is None:
                return
            idx, cmd = nxt
            if not self._fits(cmd):
                return
            self._mark_sent(idx)
            self._send(cmd, idx)

    def _fits(self, cmd: str) -> bool:
        # A line longer than the whole buffer is sent alone once the buffer is empty; GRBL will refuse it.
        need = len(cmd) + 1
        return self.buffered + need <= self.rx_buffer_size or not self._inflight

    def _send(self, cmd: str, job_index: int | None) -> None:
        data = cmd.encode("ascii", errors="replace") + b"\n"
        self._inflight.append(Sent(cmd, job_index, len(data)))
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
