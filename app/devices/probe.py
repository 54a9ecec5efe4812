"""List local serial ports and ask what answers on one: Marlin (``M115``) or GRBL (``$I``)."""

from __future__ import annotations

import asyncio
import re
import time

import serial
from serial.tools import list_ports

from app.core.drivers import SerialFind

_VER = re.compile(r"\[VER:([^\]]*)\]")
_FW = re.compile(r"FIRMWARE_NAME:(.*?)(?:\s+[A-Z_]+:|$)")


def list_serial_ports() -> list[tuple[str, str]]:
    return [(p.device, p.description or "") for p in list_ports.comports()]


def probe_blocking(port: str, baud: int = 115200, timeout_s: float = 2.5) -> SerialFind | None:
    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05, write_timeout=1.0)
    except (serial.SerialException, OSError, ValueError):
        return None
    try:
        text = _exchange(ser, b"M115\n", timeout_s / 2, ("FIRMWARE_NAME", "Grbl", "[VER:"))
        if "FIRMWARE_NAME" in text:
            m = _FW.search(text)
            return SerialFind(port, "marlin", (m.group(1) if m else "").strip())
        if "Grbl" not in text and "[VER:" not in text:
            text += _exchange(ser, b"$I\n", timeout_s / 2, ("[VER:",))
        if "[VER:" in text or "Grbl" in text:
            m = _VER.search(text)
            return SerialFind(port, "grbl", "Grbl " + (m.group(1).rstrip(":") if m else "").strip())
        return None
    except (serial.SerialException, OSError):
        return None
    finally:
        ser.close()


def _exchange(ser: serial.Serial, data: bytes, timeout_s: float, until: tuple[str, ...]) -> str:
    ser.write(data)
    got = bytearray()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got += ser.read(max(1, ser.in_waiting))
        text = got.decode("ascii", errors="replace")
        if any(u in text for u in until) and text.endswith("\n"):
            break
    return got.decode("ascii", errors="replace")


async def probe_serial(port: str, baud: int = 115200) -> SerialFind | None:
    return await asyncio.get_running_loop().run_in_executor(None, probe_blocking, port, baud)
