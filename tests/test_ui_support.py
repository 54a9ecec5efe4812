"""Support for the control-room tests (no tests here): one qasync loop per test, a real booted core on a
SQLite file in tmp_path, the window on it at 1366 x 768, a driver that records what reaches it, and a polling
wait."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

# Plain widgets render off screen; the xcb platform under xvfb-run works the same (QT_QPA_PLATFORM=xcb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.bootstrap import Core, build_core  # noqa: E402
from app.core.config import load_config  # noqa: E402
from app.core.domain.capabilities import Capabilities  # noqa: E402
from app.core.drivers import DriverBase, DriverState  # noqa: E402
from app.ui.ports import Ports  # noqa: E402
from app.viz.qt_threads import UiThreadGc  # noqa: E402
from app.window_ports import ui_ports  # noqa: E402

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla", "petg"],
       "loaded_material": "pla", "max_power_w": 350}
MILL = {"process": "cnc_mill", "build_volume_mm": [600, 400, 200], "materials": ["aluminium", "pom"],
        "loaded_material": "aluminium", "max_power_w": 1500}


@pytest.fixture
def qloop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    """Qt's event loop as the asyncio loop, as in the application (where closing the window ends the
    scenario, not the loop: the core still shuts down on it)."""
    qapp.setQuitOnLastWindowClosed(False)
    collector = UiThreadGc()  # as in the application: garbage cycles are collected on this thread only
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        # Callbacks the scenario left (task ends, deleteLater, widget timers) run while the loop still exists,
        # not later inside another test's event processing.
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0.1))
        qapp.processEvents()
        loop.close()
        asyncio.set_event_loop(None)
        del loop
        gc.collect()  # the loop's Qt helpers go now, not inside a later test's event processing
        qapp.processEvents()
        collector.stop()


@asynccontextmanager
async def booted_core(home: Path, *, connect_machines: bool = True) -> AsyncIterator[Core]:
    """``connect_machines`` False: machines without drivers, so nothing starts work but the test."""
    core = build_core(load_config(home=str(home)), connect_machines=connect_machines)
    await core.kernel.boot()
    try:
        yield core
    finally:
        await core.kernel.shutdown()


@asynccontextmanager
async def window_at_1366(core: Core, qtbot: Any, *, small_screen: bool = False, **ports: Any) -> AsyncIterator[Any]:
    """The control room on ``core``, shown at 1366 x 768 (``small_screen``: laid out for it, the machine panel
    narrower, as ``--size 1366x768`` does), its settings beside the core's home; closed at the end. ``ports``
    replace some of the window's ports (a test's control or alerts)."""
    from app.ui.main_window import ControlRoom

    settings = QSettings(str(Path(core.config.paths.home).parent / "ui.ini"), QSettings.Format.IniFormat)
    win = ControlRoom(ports_of(core, **ports), settings=settings)
    qtbot.addWidget(win)
    if small_screen:
        win.fit_small_screen(1366, 768)
    else:
        win.resize(1366, 768)
    win.show()
    try:
        yield win
    finally:
        win.close()


def ports_of(core: Core, **over: Any) -> Ports:
    """The ports the composition root gives the window, with some replaced (a test's control or alerts)."""
    return dataclasses.replace(ui_ports(core), **over)


def settings_in(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


async def until(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Let the one loop run (Qt events and asyncio tasks) until ``pred()`` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class RecordingDriver(DriverBase):
    """A real driver object (the FabricationDevice interface) that records the commands reaching it."""

    def __init__(self, name: str, caps: dict[str, Any]) -> None:
        super().__init__(name, Capabilities.from_dict(caps))
        self.calls: list[str] = []

    async def connect(self) -> None:
        self._set_state(DriverState.IDLE)

    async def disconnect(self) -> None:
        self._set_state(DriverState.DISCONNECTED)

    async def execute(self, job: Any) -> None:
        self.calls.append("execute")

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")

    async def cancel(self) -> None:
        self.calls.append("cancel")

    async def emergency_stop(self) -> None:
        self.calls.append("emergency_stop")
        self._set_state(DriverState.ERROR, "emergency stop")

    async def calibrate(self, what: str = "home") -> None:
        self.calls.append(f"calibrate:{what}")
