"""A firmware emulator on the master side of a real pty; the driver opens the slave path like a USB port."""

from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
import tty

log = logging.getLogger(__name__)


class PtyEmulator:
    """Subclasses implement ``on_bytes`` (input from the host) and may override ``on_idle`` (periodic work)."""

    idle_interval_s = 0.02

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        # Raw mode at once: a cooked pty would echo our own output back to us before the host configures it.
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.dropped = False
        self.bytes_in = 0

    def __enter__(self) -> PtyEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"emulator:{self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._close_master()
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1

    def drop(self) -> None:
        """The USB cable is pulled: the host's reads fail from now on."""
        self.dropped = True
        self._stop.set()
        self._close_master()
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1

    def _close_master(self) -> None:
        with self._lock:
            if self._master >= 0:
                os.close(self._master)
                self._master = -1

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._master < 0:
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                except OSError:
                    return
                view = view[n:]

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._master
            if fd < 0:
                return
            try:
                readable, _, _ = select.select([fd], [], [], self.idle_interval_s)
            except (OSError, ValueError):
                return
            if readable and not self._stop.is_set():
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if data:
                    self.bytes_in += len(data)
                    try:
                        self.on_bytes(data)
                    except Exception:  # keep the emulator alive; the test sees the missing answer
                        log.exception("emulator failed on input")
            if not self._stop.is_set():
                self.on_idle(time.monotonic())

    def hostile(self, done: int, silent_after: int | None, garbage_after: int | None, rng: random.Random) -> bool:
        """A hung board says nothing; a garbled link (wrong baud, bad cable) says nonsense. True from the chosen
        point of the job (``done`` lines so far) on: the caller then ignores its input."""
        if silent_after is not None and done >= silent_after:
            return True
        if garbage_after is not None and done >= garbage_after:
            self.write(bytes(rng.randrange(256) for _ in range(24)) + b"\r\n")
            return True
        return False

    def on_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def on_idle(self, now: float) -> None:
        pass
