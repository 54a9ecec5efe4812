"""The Marlin/RepRap host protocol without I/O: bytes in → events, commands in → bytes out.

Every line goes out numbered with an XOR checksum and is kept in a history so a ``Resend:``/``rs`` request can be
served. One line is in flight at a time (ping-pong, like OctoPrint's default): it is the only scheme under which
Marlin's resend requests are unambiguous, and a pty or USB link is fast enough that it is not the bottleneck.

Handshake: ``M110 N0`` (reset line numbers) → ``M115`` (firmware and ``Cap:`` report) → ``M155 S<n>`` when the
firmware auto-reports temperatures, else ``M105`` is polled from ``tick``. A ``start`` line (the board reset)
restarts the handshake.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from app.devices.gcode import clean_line, numbered

_TEMP = re.compile(r"\b([TBC]\d?):\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(-?\d+(?:\.\d+)?))?")
_RESEND = re.compile(r"^(?:resend|rs)[:\s]\s*N?(\d+)", re.IGNORECASE)
_M115_KEYS = re.compile(r"\b(FIRMWARE_NAME|SOURCE_CODE_URL|PROTOCOL_VERSION|MACHINE_TYPE|EXTRUDER_COUNT|UUID):")
# Error lines that only announce a resend request that follows; they are link noise, not machine faults.
_COMM_ERRORS = ("checksum mismatch", "line number is not", "no checksum", "no line number", "format error")


# ------------------------------------------------------------------ events
@dataclass(frozen=True, slots=True)
class Ready:
    firmware: dict[str, str]
    caps: dict[str, bool]


@dataclass(frozen=True, slots=True)
class LineAcked:
    index: int  # index into the job's commands
    line_no: int


@dataclass(frozen=True, slots=True)
class JobDone:
    total: int


@dataclass(frozen=True, slots=True)
class Temperatures:
    metrics: dict[str, float]


@dataclass(frozen=True, slots=True)
class Busy:
    text: str


@dataclass(frozen=True, slots=True)
class ResendRequested:
    line_no: int


@dataclass(frozen=True, slots=True)
class FirmwareError:
    message: str


@dataclass(frozen=True, slots=True)
class FirmwareReset:
    pass


@dataclass(frozen=True, slots=True)
class Message:
    text: str


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The host cannot go on (e.g. a resend of a line no longer in history)."""

    message: str


MarlinEvent = Ready | LineAcked | JobDone | Temperatures | Busy | ResendRequested | FirmwareError | \
    FirmwareReset | Message | ProtocolError


@dataclass(slots=True)
class _Sent:
    cmd: str
    job_index: int | None  # None for host commands


@dataclass(slots=True)
class _Job:
    commands: list[str]
    next_index: int = 0
    acked: int = 0
    paused: bool = False


@dataclass(slots=True)
class MarlinCodec:
    autoreport_interval_s: int = 2
    poll_interval_s: float = 2.0
    history_size: int = 2000
    _out: bytearray = field(default_factory=bytearray)
    _buf: bytearray = field(default_factory=bytearray)
    _phase: str = "idle"  # idle → m110 → m115 → ready
    _firmware: dict[str, str] = field(default_factory=dict)
    _caps: dict[str, bool] = field(default_factory=dict)
    _line_no: int = 0  # last number used
    _history: dict[int, _Sent] = field(default_factory=dict)
    _inflight: int | None = None  # line number awaiting its ok
    _skip_ok: int = 0  # oks that answer a rejected line, not a processed one
    _resend_next: int | None = None
    _host: deque[str] = field(default_factory=deque)
    _job: _Job | None = None
    _last_poll: float = float("-inf")
    _handshake_seen_at: float | None = None
    comm_timeout_s: float = 10.0
    _rx_seen: bool = False
    _last_rx: float | None = None
    timeouts: int = 0
    handshake_retry_s: float = 2.0
    halted: bool = False

    # ---------------------------------------------------------------- host side
    def start(self) -> None:
        """Begin (or restart) the handshake."""
        self._phase = "m110"
        self._line_no = 0
        self._history.clear()
        self._inflight = None
        self._skip_ok = 0
        self._resend_next = None
        self._host.clear()
        self._handshake_seen_at = None
        self._emit_line(0, "M110 N0", None)

    @property
    def ready(self) -> bool:
        return self._phase == "ready"

    @property
    def autoreport(self) -> bool:
        return self._caps.get("AUTOREPORT_TEMP", False)

    @property
    def firmware(self) -> dict[str, str]:
        return dict(self._firmware)

    @property
    def caps(self) -> dict[str, bool]:
        return dict(self._caps)

    def send_command(self, cmd: str) -> None:
        """A host command; goes before the remaining job lines."""
        cmd = clean_line(cmd)
        if cmd:
            self._host.append(cmd)
            self._pump()

    def start_job(self, commands: list[str], start_index: int = 0) -> None:
        if self._job is not None and self._job.next_index < len(self._job.commands):
            raise RuntimeError("a job is already streaming")
        self._job = _Job(commands, next_index=start_index, acked=start_index)
        self._pump()

    def pause_job(self) -> None:
        if self._job:
            self._job.paused = True

    def resume_job(self) -> None:
        if self._job:
            self._job.paused = False
            self._pump()

    def cancel_job(self) -> int:
        """Stop feeding the job; returns how many of its lines the machine acknowledged."""
        acked = self._job.acked if self._job else 0
        self._job = None
        return acked

    def job_position(self) -> tuple[int, int]:
        return (self._job.acked, len(self._job.commands)) if self._job else (0, 0)

    def emergency_stop(self) -> bytes:
        """Bytes to write at once, ahead of anything queued. Marlin's emergency parser acts on an unnumbered M112
        even while its command buffer is full."""
        self._job = None
        self._host.clear()
        self.halted = True
        return b"M112\n"

    def tick(self, now: float) -> None:
        """Called periodically with a monotonic time: polls temperatures when the firmware does not auto-report."""
        if self._phase in ("m110", "m115"):
            # A board that was still booting drops what we sent; say hello again until it answers.
            if self._handshake_seen_at is None:
                self._handshake_seen_at = now
            elif now - self._handshake_seen_at >= self.handshake_retry_s:
                self._handshake_seen_at = now
                self.start()
            return
        self._handshake_seen_at = None
        self._check_timeout(now)
        if self._phase != "ready" or self.autoreport or self.halted:
            return
        if now - self._last_poll >= self.poll_interval_s and "M105" not in self._host:
            self._last_poll = now
            self._host.append("M105")
            self._pump()

    def _check_timeout(self, now: float) -> None:
        """A line in flight and nothing heard for a long time (busy: keep-alives count): its ok was lost on the
        wire. An unnumbered M105 draws an ok that frees the slot; if the line itself was lost, the printer asks
        for it again with a resend, served from history."""
        if self._rx_seen or self._last_rx is None:
            self._rx_seen = False
            self._last_rx = now
            return
        if self._inflight is not None and not self.halted and now - self._last_rx >= self.comm_timeout_s:
            self._last_rx = now
            self.timeouts += 1
            self._out += b"M105\n"

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # ---------------------------------------------------------------- machine side
    def receive_data(self, data: bytes) -> list[MarlinEvent]:
        self._rx_seen = True
        self._buf += data
        events: list[MarlinEvent] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            raw = bytes(self._buf[:nl]).decode("ascii", errors="replace").strip()
            del self._buf[: nl + 1]
            if raw:
                self._on_line(raw, events)
        self._pump()
        return events

    def _on_line(self, line: str, events: list[MarlinEvent]) -> None:
        low = line.lower()
        if low.startswith("ok"):
            self._on_ok(line, events)
            return
        m = _RESEND.match(line)
        if m:
            self._on_resend(int(m.group(1)), events)
            return
        if low == "start":
            events.append(FirmwareReset())
            self.halted = False
            self.start()
            return
        if low.startswith("echo:busy") or low.startswith("busy:"):
            events.append(Busy(line.split(":", 2)[-1].strip()))
            return
        if low == "wait":
            return  # idle keep-alive
        if low.startswith("error:") or low.startswith("!!"):
            msg = line.split(":", 1)[1].strip() if ":" in line else line[2:].strip()
            if not any(k in msg.lower() for k in _COMM_ERRORS):
                events.append(FirmwareError(msg))
            return
        if line.startswith("FIRMWARE_NAME:"):
            self._firmware = _parse_m115(line)
            return
        if line.startswith("Cap:"):
            _, name, val = (line.split(":", 2) + ["", ""])[:3]
            self._caps[name.strip()] = val.strip() == "1"
            return
        if _TEMP.search(line) and ("T:" in line or "B:" in line):
            events.append(Temperatures(parse_temperatures(line)))
            return
        events.append(Message(line))

    def _on_ok(self, line: str, events: list[MarlinEvent]) -> None:
        if "T:" in line:
            events.append(Temperatures(parse_temperatures(line)))
        if self._skip_ok:
            self._skip_ok -= 1
            self._inflight = None
            return
        line_no = self._inflight
        self._inflight = None
        if line_no is None:
            return  # an unsolicited ok (after a reset, or a keep-alive): nothing to acknowledge
        sent = self._history.get(line_no)
        if self._phase == "m110" and line_no == 0:
            self._phase = "m115"
            self._send_numbered("M115", None)
            return
        if self._phase == "m115" and sent is not None and sent.cmd == "M115":
            self._phase = "ready"
            if self.autoreport:
                self._host.appendleft(f"M155 S{self.autoreport_interval_s}")
            events.append(Ready(dict(self._firmware), dict(self._caps)))
            return
        if sent is not None and sent.job_index is not None and self._job is not None:
            self._job.acked = sent.job_index + 1
            events.append(LineAcked(sent.job_index, line_no))
            if self._job.acked == len(self._job.commands):
                events.append(JobDone(len(self._job.commands)))
                self._job = None

    def _on_resend(self, line_no: int, events: list[MarlinEvent]) -> None:
        events.append(ResendRequested(line_no))
        if line_no > self._line_no:
            # The firmware asks for a line we never sent: it lost count (e.g. after a reset). Resynchronise.
            self._skip_ok += 1 if self._inflight is not None else 0
            self._line_no = line_no - 1
            return
        if line_no not in self._history:
            events.append(ProtocolError(f"printer asked to resend line {line_no}, which is no longer held"))
            return
        if self._inflight is not None:
            self._skip_ok += 1  # the rejected line still gets its ok; it must not count as processed
        self._resend_next = line_no

    # ---------------------------------------------------------------- sending
    def _pump(self) -> None:
        if self._inflight is not None or self._skip_ok or self.halted:
            return
        if self._resend_next is not None:
            n = self._resend_next
            sent = self._history[n]
            self._resend_next = n + 1 if n + 1 <= self._line_no else None
            self._emit_line(n, sent.cmd, sent.job_index)
            return
        if self._phase != "ready":
            return
        if self._host:
            self._send_numbered(self._host.popleft(), None)
            return
        job = self._job
        if job is not None and not job.paused and job.next_index < len(job.commands):
            idx = job.next_index
            job.next_index += 1
            self._send_numbered(job.commands[idx], idx)

    def _send_numbered(self, cmd: str, job_index: int | None) -> None:
        self._line_no += 1
        self._emit_line(self._line_no, cmd, job_index)

    def _emit_line(self, line_no: int, cmd: str, job_index: int | None) -> None:
        self._history[line_no] = _Sent(cmd, job_index)
        old = line_no - self.history_size
        if old in self._history:
            del self._history[old]
        self._inflight = line_no
        self._out += numbered(line_no, cmd)


def parse_temperatures(line: str) -> dict[str, float]:
    """``T:210.1 /210.0 B:60.2 /60.0 T0:... T1:...`` → ``nozzle_c``, ``nozzle_target_c``, ``bed_c``..."""
    out: dict[str, float] = {}
    for key, cur, target in _TEMP.findall(line):
        name = {"T": "nozzle", "T0": "nozzle", "B": "bed", "C": "chamber"}.get(key)
        if name is None:
            if key.startswith("T"):
                name = f"nozzle{key[1:]}"
            else:
                continue
        if name == "nozzle" and key == "T0" and "nozzle_c" in out:
            continue
        out[f"{name}_c"] = float(cur)
        if target:
            out[f"{name}_target_c"] = float(target)
    return out


def _parse_m115(line: str) -> dict[str, str]:
    keys = list(_M115_KEYS.finditer(line))
    out = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(line)
        out[m.group(1)] = line[m.end():end].strip()
    return out
