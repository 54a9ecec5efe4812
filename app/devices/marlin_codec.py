"""The Marlin/RepRap host protocol without I/O: bytes in → events, commands in → bytes out.

Every line goes out numbered with an XOR checksum and is kept in a history so a resend request (``Resend: N``,
``rs N``, ``rs N5 ...``) can be served. One line is in flight at a time (ping-pong, like OctoPrint's default): it
is the only scheme under which resend requests are unambiguous, and a pty or USB link is fast enough that it is not
the bottleneck.

Errors are told apart by what follows them, never by their wording (firmwares word them many ways): an error
line followed by a resend request is a transmission error (the line is sent again and the job goes on; the count
is a link-quality figure); an error that no resend follows (the next ``ok`` comes, or ``error_grace_s`` passes)
is a machine fault. Marlin and Prusa answer a damaged line ``Error:...`` / ``Resend: N`` / ``ok``; Smoothieware
says only ``rs N`` with no ``ok``: whether an ``ok`` follows a resend request is learnt from the first one. Noise
can hit the printer's replies too; every doubt is settled by sending the line in flight again under its own number,
which is always safe (a firmware that has the line already refuses the duplicate and asks for the next one): a
line that is a resend request but for a damaged character or two, or one request for a line never sent. A lost
``ok`` is recovered after ``comm_timeout_s`` with an unnumbered ``M105``.

Handshake: ``M110 N0`` (reset line numbers) → ``M115`` (firmware and ``Cap:`` report) → ``M155 S<n>`` when the
firmware auto-reports temperatures, else ``M105`` is polled from ``tick``. A ``start`` line (the board reset)
restarts the handshake. A finished job sends ``M400`` (wait for the planner to empty) and is done when it is
answered, so "done" means the printer stopped moving.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from app.devices.gcode import numbered
from app.devices.line_stream import JobDone, LineAcked, LineStream, Sent, Stalled

__all__ = ["JobDone", "LineAcked", "Stalled", "MarlinCodec"]

_TEMP = re.compile(r"\b([TBC]\d?):\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(-?\d+(?:\.\d+)?))?")
_RESEND = re.compile(r"^(?:resend|rs)[:\s]\s*N?(\d+)", re.IGNORECASE)
_M115_KEYS = re.compile(r"\b(FIRMWARE_NAME|SOURCE_CODE_URL|PROTOCOL_VERSION|MACHINE_TYPE|EXTRUDER_COUNT|UUID):")
_HEAT_AND_WAIT = ("M109", "M190", "M191", "M116")  # commands that hold the ok until a heater is at temperature
_DRAIN = -1  # job_index of the end-of-job drain command (M400)


# ------------------------------------------------------------------ events
@dataclass(frozen=True, slots=True)
class Ready:
    firmware: dict[str, str]
    caps: dict[str, bool]


@dataclass(frozen=True, slots=True)
class Temperatures:
    metrics: dict[str, float]


@dataclass(frozen=True, slots=True)
class Busy:
    text: str


@dataclass(frozen=True, slots=True)
class ResendRequested:
    """A transmission error: the printer asks for ``line_no`` again (``error``: what it said before, if any)."""

    line_no: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class FirmwareError:
    """An error no resend request followed: the machine itself reports a fault."""

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


MarlinEvent = Ready | LineAcked | JobDone | Stalled | Temperatures | Busy | ResendRequested | FirmwareError | \
    FirmwareReset | Message | ProtocolError


@dataclass(slots=True)
class MarlinCodec(LineStream):
    autoreport_interval_s: int = 2
    poll_interval_s: float = 2.0
    comm_timeout_s: float = 10.0  # a line in flight and silence this long: its ok was lost, ask again (M105)
    handshake_retry_s: float = 2.0
    error_grace_s: float = 0.5  # how long an error line waits for the resend request that would excuse it
    resend_ok_grace_s: float = 0.3  # how long to wait for the ok that Marlin sends after a resend request
    drain_command: str = "M400"  # "" to call a job done at the last acknowledgement
    _phase: str = "idle"  # idle → m110 → m115 → ready
    _firmware: dict[str, str] = field(default_factory=dict)
    _caps: dict[str, bool] = field(default_factory=dict)
    _line_no: int = 0  # last number used
    _inflight: int | None = None  # line number awaiting its ok
    _requeue: Sent | None = None  # a rejected line to send again under a new number (the printer lost count)
    _resend_ok_wait: bool = False  # a resend request whose trailing ok has not come yet
    _resend_ok_since: float | None = None  # since when (set by the first tick after the request)
    _ok_follows_resend: bool | None = None  # learnt from the firmware: does an ok follow a resend request?
    _errors: list[str] = field(default_factory=list)  # error lines waiting to see whether a resend follows
    _error_at: float | None = None
    _drain_sent: bool = False
    _last_poll: float = float("-inf")
    _handshake_seen_at: float | None = None
    _nudged_at: float = float("-inf")  # when the last lost-ok M105 went out
    _inflight_no: int | None = None  # the line a resend request answered
    _unknown_resends: int = 0  # resend requests in a row for lines never sent
    timeouts: int = 0
    resends: int = 0
    lines_sent: int = 0
    halted: bool = False

    # ---------------------------------------------------------------- host side
    def start(self) -> None:
        """Begin (or restart) the handshake."""
        self._phase = "m110"
        self._line_no = 0
        self._forget_history()
        self._inflight = None
        self._requeue = None
        self._resend_ok_wait = False
        self._errors.clear()
        self._host.clear()
        self._handshake_seen_at = None
        self.halted = False
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

    def start_job(self, commands: list[str], start_index: int = 0, file_lines: list[int] | None = None) -> None:
        self._drain_sent = False
        LineStream.start_job(self, commands, start_index, file_lines)

    def emergency_stop(self) -> bytes:
        """Bytes to write at once, ahead of anything queued. Marlin's emergency parser acts on an unnumbered M112
        even while its command buffer is full."""
        self._stop_streaming()
        return b"M112\n"

    def safe_stop(self, spindle: bool = False) -> bytes:
        """After a failure: stop streaming and turn heaters, fan (and spindle or laser) off. The lines go out
        unnumbered so they are taken whatever line number the printer expects next."""
        self._stop_streaming()
        cmds = ["M104 S0", "M140 S0", "M107"] + (["M5"] if spindle else [])
        return "".join(f"{c}\n" for c in cmds).encode()

    def _stop_streaming(self) -> None:
        self._job = None
        self._host.clear()
        self._inflight = None
        self._resend_next = None
        self._requeue = None
        self._resend_ok_wait = False
        self.halted = True

    def tick(self, now: float) -> list:
        """Called periodically with a monotonic time: handshake retries, errors no resend followed, the trailing
        ok a resend request did not get, lost-ok recovery, temperature polls and stall detection."""
        self._now = now
        events: list = []
        if self._phase in ("m110", "m115"):
            # A board that was still booting drops what we sent; say hello again until it answers.
            if self._handshake_seen_at is None:
                self._handshake_seen_at = now
            elif now - self._handshake_seen_at >= self.handshake_retry_s:
                self._handshake_seen_at = now
                self.start()
            return events
        self._handshake_seen_at = None
        if self._errors:
            if self._error_at is None:
                self._error_at = now
            elif now - self._error_at >= self.error_grace_s:
                self._commit_errors(events)
        if self._resend_ok_wait:
            if self._resend_ok_since is None:
                self._resend_ok_since = now
            elif self._ok_follows_resend is not True and now - self._resend_ok_since >= self.resend_ok_grace_s:
                self._resend_ok_wait = False
                self._ok_follows_resend = False  # this firmware does not answer a resend request with an ok
                self._pump()
            elif now - self._resend_ok_since >= self.comm_timeout_s:
                self._resend_ok_wait = False  # that ok was lost on the wire: resend anyway (numbers keep it safe)
                self.timeouts += 1
                self._pump()
        events += LineStream.tick(self, now)
        self._check_timeout(now)
        if self._phase != "ready" or self.autoreport or self.halted:
            return events
        if now - self._last_poll >= self.poll_interval_s and "M105" not in self._host:
            self._last_poll = now
            self._host.append("M105")
            self._pump()
        return events

    def _check_timeout(self, now: float) -> None:
        """A line in flight and no answer or keep-alive for ``comm_timeout_s``: its ok was probably lost on the
        wire. An unnumbered M105 draws an ok that frees the slot; if the line itself was lost, the printer asks for
        it again (a resend, served from history) when the next numbered line arrives. Temperature reports do not
        count as answers: an auto-reporting printer sends them whatever happened to our line."""
        since = self._alive_at
        if self._inflight is None or self.halted or since is None:
            return
        if now - max(since, self._nudged_at) >= self.comm_timeout_s:
            self._nudged_at = now
            self.timeouts += 1
            self._out += b"M105\n"

    def _work_outstanding(self) -> bool:
        return self._phase == "ready" and not self.halted and (
            self._inflight is not None or self._resend_ok_wait)

    # ---------------------------------------------------------------- machine side
    def _on_line(self, line: str, events: list) -> None:
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
            self.start()
            return
        if low.startswith("echo:busy") or low.startswith("busy:"):
            self._alive()
            events.append(Busy(line.split(":", 2)[-1].strip()))
            return
        if low == "wait":
            return  # idle keep-alive
        if low.startswith("error") or low.startswith("!!"):
            if not self._errors:
                self._error_at = self._now  # None before the first tick: the next tick starts the clock
            text = line[2:] if low.startswith("!!") else line[5:]
            self._errors.append(text.lstrip(":").strip() or "halted")
            return
        if line.startswith("FIRMWARE_NAME:"):
            self._firmware = _parse_m115(line)
            return
        if line.startswith("Cap:"):
            _, name, val = (line.split(":", 2) + ["", ""])[:3]
            self._caps[name.strip()] = val.strip() == "1"
            return
        if self._errors and self._inflight is not None and _near_resend(line, self._inflight):
            # An error, then a line that is a resend request for the line in flight but for a damaged character
            # or two: a transmission error whose request was hit by noise too. Sending the line again under its
            # own number is safe either way (a firmware that has it already refuses it and asks for the next).
            self._on_resend(self._inflight, events)
            return
        if _TEMP.search(line) and ("T:" in line or "B:" in line):
            if self._waiting_on_heat():
                self._alive()  # firmwares without the busy protocol report temperatures while they heat
            events.append(Temperatures(parse_temperatures(line)))
            return
        events.append(Message(line))

    def _waiting_on_heat(self) -> bool:
        sent = self._history.get(self._inflight) if self._inflight is not None else None
        return sent is not None and sent.cmd.split(" ", 1)[0].upper() in _HEAT_AND_WAIT

    def _commit_errors(self, events: list) -> None:
        """Errors that no resend request followed: the machine reports a fault."""
        if self._errors:
            events.append(FirmwareError("; ".join(self._errors)))
            self._errors.clear()

    def _on_ok(self, line: str, events: list) -> None:
        if "T:" in line:
            events.append(Temperatures(parse_temperatures(line)))
        if self._resend_ok_wait:
            # The ok that closes a resend request (Marlin, Prusa); it answers the rejected line, not a new one.
            self._resend_ok_wait = False
            self._ok_follows_resend = True
            self._alive()
            return
        refused = bool(self._errors)
        self._commit_errors(events)
        line_no = self._inflight
        self._inflight = None
        if line_no is None or refused:
            # An unsolicited ok (after a reset, or a keep-alive), or the ok closing an error no resend request
            # followed: it answers a line the firmware did not carry out, so nothing is acknowledged.
            return
        self._alive()
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
        if sent is None or sent.job_index is None or self._job is None:
            return
        if sent.job_index == _DRAIN:
            self._job_done(events)
        else:
            self._ack_job_line(sent.job_index, events, line_no)

    def _on_all_acked(self, events: list) -> None:
        if not self.drain_command:
            self._job_done(events)

    def _on_resend(self, line_no: int, events: list) -> None:
        self._alive()
        self.resends += 1
        events.append(ResendRequested(line_no, "; ".join(self._errors)))
        self._errors.clear()  # they were about the damaged line: link noise, not a fault
        self._inflight_no = self._inflight
        rejected = self._history.get(self._inflight) if self._inflight is not None else None
        self._inflight = None  # the request answers the line in flight
        if self._ok_follows_resend is not False:
            self._resend_ok_wait = True
            self._resend_ok_since = self._now
        if line_no > self._line_no:
            # A line we never sent. Once, it is most likely the request's own number damaged on the wire: send the
            # rejected line again under its number (a firmware that really expects another one says so again).
            # Asked twice in a row, the firmware lost count (e.g. after a reset): renumber from there.
            self._unknown_resends += 1
            if self._unknown_resends == 1 and self._inflight_no is not None \
                    and self._request_resend(self._inflight_no):
                return
            self._line_no = line_no - 1
            self._resend_next = None
            self._requeue = rejected
            return
        self._unknown_resends = 0
        if not self._request_resend(line_no):
            events.append(ProtocolError(f"printer asked to resend line {line_no}, which is no longer held"))

    # ---------------------------------------------------------------- sending
    def _pump(self) -> None:
        if self._inflight is not None or self._resend_ok_wait or self.halted:
            return
        if self._requeue is not None:
            sent, self._requeue = self._requeue, None
            self._send_numbered(sent.cmd, sent.job_index)
            return
        again = self._next_resend(self._line_no)
        if again is not None:
            n, sent = again
            self._emit_line(n, sent.cmd, sent.job_index)
            return
        if self._phase != "ready":
            return
        if self._host:
            self._send_numbered(self._host.popleft(), None)
            return
        job = self._job
        if job is not None and job.draining and not self._drain_sent and self.drain_command:
            self._drain_sent = True
            self._send_numbered(self.drain_command, _DRAIN)
            return
        nxt = self._next_job_command()
        if nxt is not None:
            idx, cmd = nxt
            self._mark_sent(idx)
            self._send_numbered(cmd, idx)

    def _send_numbered(self, cmd: str, job_index: int | None) -> None:
        self._line_no += 1
        self._emit_line(self._line_no, cmd, job_index)

    def _emit_line(self, line_no: int, cmd: str, job_index: int | None) -> None:
        self._remember(line_no, Sent(cmd, job_index))
        self._inflight = line_no
        self.lines_sent += 1
        self._out += numbered(line_no, cmd)


def _near_resend(line: str, line_no: int) -> bool:
    """``line`` reads as a request to resend ``line_no`` with a character or two damaged."""
    low = line.lower()
    forms = (f"resend: {line_no}", f"resend:{line_no}", f"rs n{line_no}", f"rs {line_no}")
    return any(difflib.SequenceMatcher(None, low, form).ratio() >= 0.75 for form in forms)


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
