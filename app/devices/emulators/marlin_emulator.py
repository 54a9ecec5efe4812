"""A Marlin 2.x firmware emulator: line numbers, checksums, resends, M115, M105/M155, busy, M112, faults.

Lines can be damaged "on the wire" (seeded) before the firmware parses them; the firmware then checks them the
way Marlin's command queue does (line number first, then the checksum's presence, then its value) and asks for
the line it expected. ``style`` words the answer as other firmwares do, so hosts are tested against the shape of
the protocol rather than one wording: ``marlin`` (``Error:...`` / ``Resend: N`` / ``ok``), ``prusa`` (Marlin's
words, ``Resend:`` without the space), ``reprap`` (``Error: ...`` / ``rs N`` / ``ok``), ``smoothie`` (``rs N`` only,
no ok; ``!!`` once halted), ``terse`` (``Error: Missing checksum`` or ``Error: Bad line`` / ``Resend: N`` / ``ok``).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from app.devices.emulators.pty_base import PtyEmulator
from app.devices.gcode import xor_checksum

_WORD = re.compile(r"([A-Z])(-?\d+(?:\.\d+)?)")


@dataclass(slots=True)
class MarlinFaults:
    corrupt_rate: float = 0.0  # share of received lines damaged "on the wire"
    reply_corrupt_rate: float = 0.0  # share of the firmware's own lines damaged on their way to the host
    spurious_resend_rate: float = 0.0  # share of good lines the firmware asks for again anyway
    busy_commands: tuple[str, ...] = ("G28", "G29", "M109", "M190")  # answered with busy: keep-alives first
    busy_s: float = 0.0
    drop_after_lines: int | None = None  # the port vanishes after this many accepted lines
    error_after_lines: int | None = None  # the firmware halts with an error after this many lines
    error_message: str = "Thermal Runaway, system stopped! Heater_ID: 0"
    autoreport: bool = True
    style: str = "marlin"  # how errors and resend requests are worded (see the module docstring)
    silent_after_lines: int | None = None  # the firmware stops answering anything (a hung board)
    garbage_after_lines: int | None = None  # it answers with line noise from then on (a wrong baud, a bad cable)
    seed: int = 1


class MarlinEmulator(PtyEmulator):
    def __init__(self, faults: MarlinFaults | None = None, *, send_start: bool = True) -> None:
        super().__init__()
        self.faults = faults or MarlinFaults()
        self._rng = random.Random(self.faults.seed)
        self._buf = bytearray()
        self.last_n = 0
        self.accepted: list[str] = []  # every accepted command, in order (what the machine executed)
        self.corrupted = 0
        self.replies_corrupted = 0
        self.heard: list[str] = []  # every line that reached the board, even one it ignored
        self.resends_requested = 0
        self.estop_at: float | None = None
        self.halted = False
        self.nozzle = [22.0, 0.0]
        self.bed = [21.0, 0.0]
        self._autoreport_s = 0.0
        self._next_report = 0.0
        self._busy_until = 0.0
        self._busy_next = 0.0
        self._pending_ok = False
        if send_start:
            self.write(b"start\n")

    # ---------------------------------------------------------------- input
    def on_bytes(self, data: bytes) -> None:
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                return
            raw = bytes(self._buf[:nl]).strip(b"\r ")
            del self._buf[: nl + 1]
            if raw:
                self._on_line(raw.decode("ascii", errors="replace"))

    def _on_line(self, line: str) -> None:
        self.heard.append(line)
        if self._gone():
            return
        if line.strip() == "M112":  # the emergency parser acts before anything else
            self.estop_at = time.monotonic()
            self.halted = True
            self.write(b"echo:Emergency stop\nError:Printer halted. kill() called!\n")
            return
        if self.halted:
            if self.faults.style == "smoothie":
                self.write(b"!!\r\n")
            return
        if self._rng.random() < self.faults.corrupt_rate and line.startswith("N"):
            line = self._corrupt(line)
            self.corrupted += 1
        star = line.rfind("*")
        if line.startswith("N"):
            m = re.match(r"N(-?\d+)", line)
            n = int(m.group(1)) if m else -1
            is_m110 = "M110" in line
            if n != self.last_n + 1 and not is_m110:
                self._reject("Line Number is not Last Line Number+1", "line")
                return
            if star < 0:
                self._reject("No Checksum with line number", "missing")
                return
            body = line[:star].encode("ascii", errors="replace")
            cs_text = line[star + 1:].strip()
            if not cs_text.isdigit() or int(cs_text) != xor_checksum(body):
                self._reject("checksum mismatch", "checksum")
                return
            cmd = re.sub(r"^N-?\d+\s*", "", line[:star]).strip()
            if self._rng.random() < self.faults.spurious_resend_rate and not is_m110:
                self._reject("checksum mismatch", "checksum")  # a good line refused anyway: send it again
                return
            if not is_m110:
                self.last_n = n
        elif star >= 0:
            self._reject("No Line Number with checksum", "line")
            return
        else:
            cmd = line
        self._execute(cmd)

    def write(self, data: bytes) -> None:
        rate = self.faults.reply_corrupt_rate
        if rate > 0:
            lines = data.split(b"\n")
            for i, line in enumerate(lines):
                if line and self._rng.random() < rate:
                    lines[i] = self._corrupt(line.decode("ascii", errors="replace")).encode("ascii", "replace")
                    self.replies_corrupted += 1
            data = b"\n".join(lines)
        super().write(data)

    def _gone(self) -> bool:
        f = self.faults
        return self.hostile(len(self.accepted), f.silent_after_lines, f.garbage_after_lines, self._rng)

    def _corrupt(self, line: str) -> str:
        i = self._rng.randrange(len(line))
        alt = chr(((ord(line[i]) - 32 + self._rng.randrange(1, 94)) % 95) + 32)
        return line[:i] + alt + line[i + 1:]

    def _reject(self, why: str, kind: str) -> None:
        self.resends_requested += 1
        want = self.last_n + 1
        style = self.faults.style
        if style == "smoothie":
            self.write(f"rs N{want}\r\n".encode())
        elif style == "reprap":
            self.write(f"Error: {why}\nrs {want}\nok\n".encode())
        elif style == "prusa":
            self.write(f"Error:{why}, Last Line: {self.last_n}\nResend:{want}\nok\n".encode())
        elif style == "terse":
            text = "Missing checksum" if kind == "missing" else "Bad line"
            self.write(f"Error: {text}\nResend: {want}\nok\n".encode())
        else:
            self.write(f"Error:{why}, Last Line: {self.last_n}\nResend: {want}\nok\n".encode())

    # ---------------------------------------------------------------- commands
    def _execute(self, cmd: str) -> None:
        word = cmd.split(" ", 1)[0].upper()
        self.accepted.append(cmd)
        f = self.faults
        if word == "M110":
            m = re.search(r"N(\d+)", cmd[4:])
            self.last_n = int(m.group(1)) if m else 0
            self.write(b"ok\n")
            return
        if f.drop_after_lines is not None and len(self.accepted) >= f.drop_after_lines:
            self.drop()
            return
        if f.error_after_lines is not None and len(self.accepted) >= f.error_after_lines:
            self.halted = True
            self.write(f"Error:{f.error_message}\nError:Printer halted. kill() called!\n".encode())
            return
        words = dict(_WORD.findall(cmd[len(word):].upper()))
        if word == "M115":
            self.write(b"FIRMWARE_NAME:Marlin 2.1.2.1 (emulated) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
                       b"PROTOCOL_VERSION:1.0 MACHINE_TYPE:Imewe Emulator EXTRUDER_COUNT:1 "
                       b"UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\n")
            caps = {"SERIAL_XON_XOFF": 0, "EEPROM": 1, "AUTOREPORT_TEMP": int(f.autoreport), "EMERGENCY_PARSER": 1,
                    "BUSY_PROTOCOL": 1, "HOST_ACTION_COMMANDS": 0}
            self.write("".join(f"Cap:{k}:{v}\n" for k, v in caps.items()).encode() + b"ok\n")
        elif word == "M105":
            self.write(f"ok {self._temps()}\n".encode())
        elif word == "M155":
            self._autoreport_s = float(words.get("S", "0"))
            self._next_report = time.monotonic() + self._autoreport_s
            self.write(b"ok\n")
        elif word in ("M104", "M109"):
            self.nozzle[1] = float(words.get("S", "0"))
            self._maybe_busy(word)
        elif word in ("M140", "M190"):
            self.bed[1] = float(words.get("S", "0"))
            self._maybe_busy(word)
        else:
            self._maybe_busy(word)

    def _maybe_busy(self, word: str) -> None:
        if word in self.faults.busy_commands and self.faults.busy_s > 0:
            now = time.monotonic()
            self._busy_until = now + self.faults.busy_s
            self._busy_next = now
            self._pending_ok = True
            self.on_idle(now)
            return
        if word in ("M109",):
            self.nozzle[0] = self.nozzle[1]
        if word in ("M190",):
            self.bed[0] = self.bed[1]
        self.write(b"ok\n")

    def _temps(self) -> str:
        return (f"T:{self.nozzle[0]:.2f} /{self.nozzle[1]:.2f} B:{self.bed[0]:.2f} /{self.bed[1]:.2f} "
                f"@:0 B@:0")

    def on_idle(self, now: float) -> None:
        if self.halted:
            return
        for heater in (self.nozzle, self.bed):  # a crude first-order approach so reports move
            heater[0] += (max(heater[1], 21.0) - heater[0]) * 0.05
        if self._pending_ok:
            if now >= self._busy_until:
                self._pending_ok = False
                self.write(b"ok\n")
            elif now >= self._busy_next:
                self._busy_next = now + 0.5
                self.write(b"echo:busy: processing\n")
        if self._autoreport_s > 0 and now >= self._next_report:
            self._next_report = now + self._autoreport_s
            self.write(f" {self._temps()}\n".encode())
