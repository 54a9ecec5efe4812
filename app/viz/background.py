"""Run a slow function (reading a big part or G-code file) off the UI thread and report back by signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from app.core.domain.errors import ImeweError

log = logging.getLogger(__name__)

Progress = Callable[[int, str], None]


class _Worker(QObject):
    progress = Signal(int, str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[Progress], Any]) -> None:
        super().__init__()
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn(lambda pct, text: self.progress.emit(int(pct), text))
        except ImeweError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # the widget must survive any bad file; the log keeps the details
            log.exception("background load failed")
            self.failed.emit(f"could not load: {type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)


class BackgroundTask(QObject):
    """One job on its own QThread. Signals arrive on the thread that created the task (the UI thread)."""

    progress = Signal(int, str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[Progress], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._worker = _Worker(fn)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.done.connect(self._finish_ok)
        self._worker.failed.connect(self._finish_err)

    def start(self) -> None:
        self._thread.start()

    def wait(self, ms: int = 30000) -> bool:
        return self._thread.wait(ms)

    def finish(self, ms: int = 300_000) -> bool:
        """Let the running job end, then stop its thread, without the UI thread's help: its result signal is
        queued to the UI thread, which is the one waiting here, so waiting alone would never end."""
        self._thread.quit()  # thread-safe: the thread's loop exits once the job in progress returns
        return self._thread.wait(ms)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def _finish_ok(self, result: object) -> None:
        self._stop()
        self.done.emit(result)

    def _finish_err(self, message: str) -> None:
        self._stop()
        self.failed.emit(message)

    def _stop(self) -> None:
        self._thread.quit()
        self._thread.wait(5000)


class BackgroundLoading:
    """What a preview widget needs to load off the UI thread: its tasks, a progress bar fed by them, and a
    clean close. The widget provides ``progress`` (QProgressBar), ``plotter`` and ``_on_failed``."""

    _tasks: list[BackgroundTask]
    failure_text = "cannot show this file"

    @property
    def busy(self) -> bool:
        return any(t.running for t in self._tasks)

    def close_view(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.finish()
        self.plotter.close()  # type: ignore[attr-defined]

    def _start(self, fn: Any, on_done: Any) -> BackgroundTask:
        task = BackgroundTask(fn, self)  # type: ignore[arg-type]
        task.done.connect(on_done)
        task.failed.connect(self._on_failed)
        if getattr(self, "_closed", False):
            return task  # a result queued before the close asked for more work: none starts on a closed view
        self._tasks = [t for t in self._tasks if t.running] + [task]
        task.start()
        return task

    def _on_progress(self, pct: int, text: str) -> None:
        self.progress.setValue(pct)  # type: ignore[attr-defined]
        self.progress.setFormat(f"{text} ... %p%")  # type: ignore[attr-defined]

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)  # type: ignore[attr-defined]
        self.info.setText(f"{self.failure_text}: {message}")  # type: ignore[attr-defined]
        self.failed.emit(message)  # type: ignore[attr-defined]
