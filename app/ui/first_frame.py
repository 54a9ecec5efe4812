"""The window's first frame: when it was painted (logged, as seconds since the process started) and what waits
for it (issue 17: the frame first, the charts and other heavy parts right after)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


def since_start() -> float | None:
    """Wall seconds since this process started (Linux: /proc), None where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class FirstFrame(QObject):
    """Watches a window for its first paint; ``done`` fires once, on the next turn of the loop after it."""

    done = Signal()

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.wall_s: float | None = None  # seconds from the process's start to the first frame
        self.cpu_s: float | None = None
        self.painted = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.painted and event.type() == QEvent.Type.Paint:
            self.painted = True
            self.wall_s, self.cpu_s = since_start(), time.process_time()
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self._done)
        return False

    def _done(self) -> None:
        wall = f"{self.wall_s:.2f} s" if self.wall_s is not None else "?"
        log.info("first frame %s after start (%.2f s CPU)", wall, self.cpu_s or 0.0)
        self.done.emit()
