"""A GRBL 1.1h emulator: 128-byte receive buffer (overflows are counted), a 15-block planner that runs moves in
real time (``time_scale`` > 0: each block takes its length / feed rate, scaled), status, feed hold that decelerates
(``Hold:1`` then ``Hold:0``), soft reset (ALARM 3 if it cuts a move), check mode (``$C``), homing lock, alarms,
and hostile behaviours (silence, line noise)."""

from __future__ import annotations

import random
import re
import time
from collections import deque
from dataclasses import dataclass

from app.devices.emulators.pty_base import PtyEmulator

RX_SIZE = 128
PLANNER_BLOCKS = 15
_WORD = re.compile(r"([A-Z])\s*(-?\d*\.?\d+)")
_SUPPORTED_G = {"0", "1", "2", "3", "4", "10", "17", "18", "19", "20", "21", "28", "28.1", "30", "30.1", "38.2",
                "38.3", "38.4", "38.5", "40", "43.1", "49", "53", "54", "55", "56", "57", "58", "59", "61", "80",
                "90", "91", "91.1", "92", "92.1", "93", "94"}
_SUPPORTED_M = {"0", "1", "2", "30", "3", "4", "5", "7", "8", "9", "56"}
_LETTERS = set("GMXYZFSTPRIJKLN")
SETTINGS = {0: "10", 1: "25", 2: "0", 3: "0", 4: "0", 5: "0", 6: "0", 10: "1", 11: "0.010", 12: "0.002",
            13: "0", 20: "0", 21: "0", 22: "1", 23: "0", 24: "25.000", 25: "500.000", 26: "250", 27: "1.000",
            30: "1000", 31: "0", 32: "0", 100: "250.000", 101: "250.000", 102: "250.000", 110: "500.000",
            111: "500.000", 112: "500.000", 120: "10.000", 121: "10.000", 122: "10.000", 130: "200.000",
            131: "200.000", 132: "200.000"}


@dataclass(slots=True)
class GrblFaults:
    block_time_s: float = 0.0  # how long one motion block takes to "run"
    alarm_after_lines: int | None = None
    alarm_code: int = 1
    drop_after_lines: int | None = None
    time_scale: float = 0.0  # > 0: a block lasts its length / feed (G0 at $110) times this; 0: block_time_s
    hold_decel_s: float = 0.05  # a feed hold takes this long to bring the axes to rest (Hold:1 → Hold:0)
    homing_lock: bool = False  # $22=1 with the lock: alarm at power-up and after every reset until $H or $X
    silent_after_lines: int | None = None  # stops answering anything, status included (a hung board)
    garbage_after_lines: int | None = None  # answers with line noise from then on
    seed: int = 1


class GrblEmulator(PtyEmulator):
    idle_interval_s = 0.002

    def __init__(self, faults: GrblFaults | None = None) -> None:
        super().__init__()
        self.faults = faults or GrblFaults()
        self._rng = random.Random(self.faults.seed)
        self._rx = bytearray()
        self.overflows = 0  # bytes lost because the host broke the 128-byte rule
        self.max_rx = 0
        self.executed: list[str] = []  # G-code lines accepted into the planner, in order
        self.errors: list[tuple[str, int]] = []
        self.state = "Idle"
        self.pos = [0.0, 0.0, 0.0]
        self.feed = 0.0
        self.spindle = 0.0
        self._planner: deque[tuple[float, str]] = deque()
        self._block_started = 0.0
        self.realtime_seen: list[tuple[float, bytes]] = []
        self.resets = 0
        self._hold_at = 0.0
        self._rapid = False
        self.check_mode = False
        self.alarm3 = 0  # resets that cut a move short
        if self.faults.homing_lock:
            self.state = "Alarm"

    def _gone(self) -> bool:
        f = self.faults
        return self.hostile(len(self.executed), f.silent_after_lines, f.garbage_after_lines, self._rng)

    def on_bytes(self, data: bytes) -> None:
        if self._gone():
            return
        for b in data:
            ch = bytes([b])
            if ch in (b"?", b"!", b"~", b"\x18"):
                self.realtime_seen.append((time.monotonic(), ch))
                self._realtime(ch)
                continue
            if len(self._rx) >= RX_SIZE:
                self.overflows += 1
                continue
            self._rx.append(b)
        self.max_rx = max(self.max_rx, len(self._rx))
        self._process_rx()

    def _realtime(self, ch: bytes) -> None:
        if ch == b"?":
            self.write(self._status().encode())
        elif ch == b"!":
            if self.state in ("Run", "Idle") and self._planner:
                self.state = "Hold"
                self._hold_at = time.monotonic()
        elif ch == b"~":
            if self.state == "Hold":
                self.state = "Run" if self._planner else "Idle"
        elif ch == b"\x18":
            self.resets += 1
            was_moving = self.state == "Run" or (self.state == "Hold" and self._decelerating())
            self._rx.clear()
            self._planner.clear()
            self.spindle = 0.0  # a reset stops the spindle
            self.check_mode = False
            locked = self.state == "Alarm" or self.faults.homing_lock
            self.state = "Alarm" if was_moving or locked else "Idle"
            self.write(b"\r\nGrbl 1.1h ['$' for help]\r\n")
            if was_moving:
                self.alarm3 += 1
                self.write(b"ALARM:3\r\n")
            elif locked:
                self.write(b"[MSG:'$H'|'$X' to unlock]\r\n")

    def _decelerating(self) -> bool:
        return time.monotonic() - self._hold_at < self.faults.hold_decel_s

    def _status(self) -> str:
        pos = ",".join(f"{p:.3f}" for p in self.pos)
        free_rx = RX_SIZE - len(self._rx)
        state = self.state
        if state == "Hold":
            state = "Hold:1" if self._decelerating() else "Hold:0"
        return (f"<{state}|MPos:{pos}|Bf:{PLANNER_BLOCKS - len(self._planner)},{free_rx}"
                f"|FS:{self.feed:.0f},{self.spindle:.0f}>\r\n")

    def _process_rx(self) -> None:
        while len(self._planner) < PLANNER_BLOCKS:
            nl = self._rx.find(b"\n")
            if nl < 0:
                return
            line = bytes(self._rx[:nl]).decode("ascii", errors="replace").strip()
            del self._rx[: nl + 1]
            self._line(line)
            if self.dropped:
                return

    def _line(self, line: str) -> None:
        if line.startswith("$"):
            self._system(line)
            return
        if not line:
            self.write(b"ok\r\n")
            return
        if self.state == "Alarm":
            self._error(line, 9)
            return
        code = self._validate(line.upper())
        if code:
            self._error(line, code)
            return
        self.executed.append(line)
        if self.check_mode:  # parsed and checked, never moved
            self.write(b"ok\r\n")
            return
        f = self.faults
        if f.drop_after_lines is not None and len(self.executed) >= f.drop_after_lines:
            self.drop()
            return
        if f.alarm_after_lines is not None and len(self.executed) >= f.alarm_after_lines:
            self.state = "Alarm"
            self._planner.clear()
            self.write(f"ALARM:{f.alarm_code}\r\n".encode())
            return
        words = dict(_WORD.findall(line.upper()))
        if "F" in words:
            self.feed = float(words["F"])
        if "S" in words:
            self.spindle = float(words["S"])
        target = list(self.pos)
        for i, axis in enumerate("XYZ"):
            if axis in words:
                target[i] = float(words[axis])
        block_s = f.block_time_s
        if f.time_scale > 0:
            dist = sum((a - b) ** 2 for a, b in zip(target, self.pos, strict=True)) ** 0.5
            rapid = words.get("G") in ("0", "00") or (words.get("G") is None and self._rapid)
            rate = float(SETTINGS[110]) if rapid else max(self.feed, 1.0)
            block_s = dist / rate * 60.0 * f.time_scale
        if "G" in words:
            self._rapid = words["G"] in ("0", "00")
        if block_s > 0:
            if not self._planner:
                self._block_started = time.monotonic()
            self._planner.append((block_s, ",".join(map(str, target))))
            if self.state == "Idle":
                self.state = "Run"
        self.pos = target
        self.write(b"ok\r\n")

    def _validate(self, line: str) -> int:
        for letter, value in _WORD.findall(line):
            if letter not in _LETTERS:
                return 20
            if letter == "G" and _norm(value) not in _SUPPORTED_G:
                return 20
            if letter == "M" and _norm(value) not in _SUPPORTED_M:
                return 20
        if len(line) > 80:
            return 11
        return 0

    def _error(self, line: str, code: int) -> None:
        self.errors.append((line, code))
        self.write(f"error:{code}\r\n".encode())

    def _system(self, line: str) -> None:
        cmd = line.upper()
        if cmd == "$$":
            self.write("".join(f"${k}={v}\r\n" for k, v in SETTINGS.items()).encode() + b"ok\r\n")
        elif cmd == "$I":
            self.write(b"[VER:1.1h.20190825:]\r\n[OPT:V,15,128]\r\nok\r\n")
        elif cmd == "$X":
            if self.state == "Alarm":
                self.state = "Idle"
                self.write(b"[MSG:Caution: Unlocked]\r\n")
            self.write(b"ok\r\n")
        elif cmd == "$H":
            self.pos = [0.0, 0.0, 0.0]
            self.state = "Idle"
            self.write(b"ok\r\n")
        elif cmd == "$C":
            if self.state not in ("Idle", "Check"):
                self._error(line, 8)
            elif self.check_mode:  # leaving check mode resets the controller, as GRBL does
                self.write(b"[MSG:Disabled]\r\nok\r\n")
                self._realtime(b"\x18")
            else:
                self.check_mode = True
                self.state = "Check"
                self.write(b"[MSG:Enabled]\r\nok\r\n")
        else:
            self._error(line, 3)

    def on_idle(self, now: float) -> None:
        if self._planner and self.state == "Run" and now - self._block_started >= self._planner[0][0]:
            self._planner.popleft()
            self._block_started = now
            if not self._planner:
                self.state = "Idle"
            self._process_rx()


def _norm(value: str) -> str:
    try:
        f = float(value)
    except ValueError:
        return value
    return str(int(f)) if f == int(f) else f"{f:g}"
