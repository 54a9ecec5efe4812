"""A serial port, thin: one reader thread per port hands bytes to the event loop; writes are short and direct.

Raw traffic (both directions) goes to the machine's own log file when a path is given, so a support engineer can
replay what the firmware said without the rest of the application log in the way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import serial

from app.core.domain.errors import DeviceError

log = logging.getLogger(__name__)


class TrafficLog:
    """Per-machine raw traffic log ("> " sent, "< " received)."""

    def __init__(self, path: Path | None) -> None:
        self._fh = None
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="ascii", errors="replace", buffering=1 << 16)

    def write(self, direction: str, data: bytes) -> None:
        if self._fh is None:
            return
        text = data.decode("ascii", errors="replace").replace("\x18", "<CAN>")
        with self._lock:
            for line in text.splitlines() or [text]:
                self._fh.write(f"{direction} {line}\n")

    def close(self) -> None:
        if self._fh is not None:
            with self._lock:
                self._fh.close()
                self._fh = None


class SerialTransport:
    def __init__(self, port: str, baud: int, *, on_data: Callable[[bytes], None],
                 on_lost: Callable[[str], None], traffic_log: Path | None = None) -> None:
        self.port = port
        self.baud = baud
        self._on_data = on_data
        self._on_lost = on_lost
        self._serial: serial.Serial | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._write_lock = threading.Lock()
        self._traffic_path = traffic_log
        self._traffic = TrafficLog(traffic_log)
        self.bytes_out = 0
        self.bytes_in = 0

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    async def open(self) -> None:
        if self._serial is not None:  # reopening after a lost port: let go of the dead one first
            await self.close()
        self._loop = asyncio.get_running_loop()
        try:
            # Opening can block for a moment on real USB adapters; keep it off the loop.
            self._serial = await self._loop.run_in_executor(None, self._open_blocking)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open serial port {self.port}: {exc}") from exc
        self._stop.clear()
        self._traffic.close()
        self._traffic = TrafficLog(self._traffic_path)
        self._thread = threading.Thread(target=self._read_loop, name=f"serial:{self.port}", daemon=True)
        self._thread.start()

    def _open_blocking(self) -> serial.Serial:
        return serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05, write_timeout=2.0)

    def write(self, data: bytes) -> None:
        """Write now. Lines are short and the OS buffers them, so this does not hold the loop."""
        if not data:
            return
        ser = self._serial
        if ser is None:
            raise DeviceError(f"serial port {self.port} is not open")
        try:
            with self._write_lock:
                ser.write(data)
        except (serial.SerialException, OSError) as exc:
            self._lost(f"write failed: {exc}")
            raise DeviceError(f"serial port {self.port} failed: {exc}") from exc
        self.bytes_out += len(data)
        self._traffic.write(">", data)

    async def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 1.0)
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass
        self._traffic.close()

    def _read_loop(self) -> None:
        ser = self._serial
        assert ser is not None and self._loop is not None
        while not self._stop.is_set():
            try:
                data = ser.read(max(1, ser.in_waiting))
                if data and ser.in_waiting:  # the rest of a reply that arrived with its first byte: one hop
                    data += ser.read(ser.in_waiting)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial's posix read races with close and can see a None fd.
                if not self._stop.is_set():
                    self._loop.call_soon_threadsafe(self._lost, f"{exc}")
                return
            if data:
                self.bytes_in += len(data)
                self._traffic.write("<", data)
                try:
                    self._loop.call_soon_threadsafe(self._on_data, data)
                except RuntimeError:  # the loop closed under us
                    return

    def _lost(self, why: str) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        log.warning("serial port %s lost: %s", self.port, why)
        self._on_lost(why)
