"""One loop for Qt and asyncio (qasync), the window's life, and screenshots.

The CLI builds the core (bootstrap) and hands the window its ports (``app.window_ports.ui_ports``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.domain.errors import ImeweError

if TYPE_CHECKING:
    from app.ui.ports import Ports

log = logging.getLogger(__name__)


def make_app(headless: bool = False) -> Any:
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme
    from app.viz.qt_threads import UiThreadGc, allow_imports_in_threads

    allow_imports_in_threads()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Imewe")
    app.setOrganizationName("Imewe")
    # The window closing ends main(); the loop must outlive it so the core can shut down cleanly.
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)  # type: ignore[arg-type]
    if not hasattr(app, "_imewe_gc"):  # Qt objects in garbage cycles die on the UI thread, never on a worker's
        app._imewe_gc = UiThreadGc(parent=app)  # type: ignore[attr-defined]
    return app


def need_display(headless: bool = False) -> None:
    """Refuse in one line where Qt would abort the process for want of a display (before anything starts)."""
    if (not headless and sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        raise ImeweError("no display to open a window on; use 'imewe demo --text', '--headless', or set DISPLAY")


def run_app(main: Callable[[Any], Awaitable[int]], headless: bool = False) -> int:
    """Run ``main(app)`` on a qasync loop: Qt's event loop is the asyncio loop."""
    try:
        import qasync
    except ImportError as exc:
        raise ImeweError("the control room needs qasync: .venv/bin/pip install qasync") from exc
    need_display(headless)
    try:
        app = make_app(headless)
    except Exception as exc:  # noqa: BLE001 - no display, missing platform plugin...
        raise ImeweError(f"cannot open a window ({exc}); try 'imewe demo --headless' or set DISPLAY") from exc
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # Ctrl+C in the terminal closes the window cleanly instead of being swallowed by Qt.
    signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())
    try:
        with loop:
            return int(loop.run_until_complete(main(app)) or 0)
    finally:
        asyncio.set_event_loop(None)


async def show_window(app: Any, ports: Ports, *, screenshot: Path | None = None,
                      after_s: float = 5.0, run_for_s: float | None = None, settings: Any = None,
                      tab: str | None = None, open_file: Path | None = None,
                      size: tuple[int, int] | None = None, welcome: bool = False) -> int:
    """Open the control room on ``ports``; return when it closes (or after a screenshot / ``run_for_s``).
    ``welcome``: the first-start welcome, once per user (not over a file being opened, nor in a picture)."""
    from PySide6.QtCore import QSettings

    from app.ui.main_window import ControlRoom

    if screenshot is not None and settings is None:
        # A screenshot shows the default layout, not whatever the operator last arranged.
        settings = QSettings(str(Path(ports.site.home) / "screenshot-layout.ini"), QSettings.Format.IniFormat)
    win = ControlRoom(ports, settings=settings)
    closed = asyncio.Event()
    win.closed.connect(closed.set)
    if size is not None:
        win.fit_small_screen(*size)
    elif screenshot is not None:
        win.resize(1680, 1000)
    if tab:
        win.show_tab(tab)
    win.show()
    if welcome and screenshot is None and run_for_s is None and open_file is None:
        from app.ui.welcome import show_welcome_once

        show_welcome_once(win, win.settings)
    if open_file is not None:
        win.open_file(str(open_file))
    try:
        if screenshot is not None:
            await asyncio.sleep(min(1.0, after_s))
            win.follow_busiest()
            await asyncio.sleep(max(after_s - 1.0, 0.0))
            await grab_later(win, screenshot)
            return 0
        if run_for_s is not None:
            try:
                await asyncio.wait_for(closed.wait(), run_for_s)
            except TimeoutError:
                pass
            return 0
        await closed.wait()
        return 0
    finally:
        if not closed.is_set():
            win.close()
        win.shutdown()
        await asyncio.sleep(0)


async def grab_later(win: Any, path: Path) -> Path:
    """Grab from a plain Qt callback, outside any asyncio task: rendering may spin Qt's loop, and qasync must
    not step other tasks while one is running."""
    from PySide6.QtCore import QTimer

    done: asyncio.Future[Path] = asyncio.get_running_loop().create_future()

    def grab() -> None:
        try:
            done.set_result(save_screenshot(win, path))
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
            done.set_exception(exc)

    QTimer.singleShot(0, grab)
    return await done


def save_screenshot(win: Any, path: Path) -> Path:
    """Render the window to a PNG. Call it from a Qt callback, never from inside an asyncio task."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = win.grab()
    if image.isNull() or not image.save(str(path)):
        raise ImeweError(f"could not write the screenshot to {path}")
    log.info("screenshot saved to %s (%dx%d)", path, image.width(), image.height())
    return path
