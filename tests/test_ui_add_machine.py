"""The Add machine dialog: printers advertised on the network (real zeroconf on 127.0.0.1) are listed with name,
model and version; the operator picks the Klipper one, gives its API key once, and it is registered with the
volume and nozzle it reports, then driven. A refused key is one line in the dialog, nothing registered. The
picture of it (1366x768) is made here; IMEWE_SAVE_SCREENSHOTS=1 writes it to resources/screenshots/."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter, QPixmap
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from app.core.clock import SystemClock
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.core.drivers import DriverState
from app.devices.emulators.spawn import EmulatorProcess
from app.ui.add_machine_dialog import AddMachineDialog
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.mdns import KINDS, LOOPBACK, TYPES, instance
from tests.test_ui_support import booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
ROOT = Path(__file__).resolve().parents[1]
KEY = "klipper-key-5f3e9a"
OURS = {"voron-1", "Ender 3 bay 1", "Prusa MK4 bay 2"}


def adverts(port: int) -> list[AsyncServiceInfo]:
    lo = [socket.inet_aton("127.0.0.1")]
    return [
        AsyncServiceInfo(TYPES["moonraker"], instance("voron-1", "moonraker"), port=port, addresses=lo,
                         server="voron-1.local.", properties={"version": "v0.9.3"}),
        AsyncServiceInfo(TYPES["octoprint"], instance("Ender 3 bay 1", "octoprint"), port=5000,
                         addresses=lo, server="octopi.local.",
                         properties={"version": "1.11.8", "api": "0.1", "path": "/", "model": "Creality Ender-3"}),
        AsyncServiceInfo(TYPES["prusalink"], instance("Prusa MK4 bay 2", "prusalink"), port=8080,
                         addresses=lo, server="mk4.local.", properties={"printer_type": "MK4", "version": "2.1.2"}),
    ]


def composite(win: ControlRoom, dialog: AddMachineDialog) -> QPixmap:
    """What the operator sees: the window at 1366x768 with the dialog over its middle."""
    shot = win.grab()
    over = dialog.grab()
    painter = QPainter(shot)
    painter.drawPixmap(QPoint((shot.width() - over.width()) // 2, (shot.height() - over.height()) // 2), over)
    painter.end()
    return shot


@pytest.mark.slow
def test_found_machines_are_listed_and_one_is_added_with_its_key(qloop, qtbot, tmp_path: Path) -> None:
    emu = EmulatorProcess("app.devices.emulators.moonraker_emulator",
                          ["--storage", str(tmp_path / "gcodes"), "--api-key", KEY]).start()

    async def scenario() -> dict:
        async with booted_core(tmp_path / "home") as core:
            disc = ZeroconfDiscovery(core.fleet, core.bus, SystemClock(), lambda a: None, interfaces=LOOPBACK,
                                     kinds=KINDS)
            await disc.start()
            core.discovery = disc
            other = AsyncZeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
            infos = adverts(emu.port)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.show()
            out: dict = {}
            try:
                for info in infos:
                    await (await other.async_register_service(info))
                await until(lambda: OURS <= {a.name for a in disc.list_found()}, 15, "the three adverts")
                assert win.fleet.stack.currentWidget() is win.fleet.empty and win.fleet.add_button.isVisible()
                win.fleet.add_button.click()  # from the fleet panel's empty state
                dialog = await until(lambda: next((w for w in win.findChildren(AddMachineDialog)
                                                   if w.isVisible()), None), what="the dialog")
                out["rows"] = [[dialog.table.item(r, c).text() for c in range(5)]
                               for r in range(dialog.table.rowCount())]
                row = next(r for r, v in enumerate(out["rows"]) if v[0] == "voron-1")
                dialog.table.selectRow(row)
                out["asks"] = [k for k, e in dialog.fields.items() if dialog._form.isRowVisible(e)]
                dialog.fields["api_key"].setText("wrong")
                dialog.add_button.click()
                await until(lambda: dialog.add_button.isEnabled() and "refused" in dialog.error.text(), 15,
                            "the refusal")
                out["refused"] = dialog.error.text()
                out["after_refusal"] = [n.name for n in core.fleet.list()]
                dialog.fields["api_key"].setText(KEY)
                dialog.error.setText("")
                for r, v in enumerate(out["rows"]):  # the picture shows this test's machines only (a Bambu
                    dialog.table.setRowHidden(r, v[0] not in OURS)  # another test announces by SSDP may show)
                shot = composite(win, dialog)
                out["shot"] = tmp_path / "add-machine.png"
                shot.save(str(out["shot"]))
                if os.environ.get("IMEWE_SAVE_SCREENSHOTS"):
                    shot.save(str(ROOT / "resources" / "screenshots" / "add-machine.png"))
                dialog.add_button.click()
                await until(lambda: not dialog.isVisible(), 15, "the dialog to close")
                node = core.fleet.find("voron-1")
                out["node"] = node
                out["secrets"] = json.loads((core.config.paths.keys / "machines" / f"{node.id}.json").read_text())
                await until(lambda: node.id in core.drivers and core.drivers[node.id].state is DriverState.IDLE,
                            15, "the machine to be driven")
                out["fields_cleared"] = all(not e.text() for e in dialog.fields.values())
            finally:
                win.close()
                for info in infos:
                    await (await other.async_unregister_service(info))
                await other.async_close()
                await disc.stop()
            return out

    try:
        out = qloop.run_until_complete(scenario())
    finally:
        emu.stop()
    # zeroconf: this run's service types only; a Bambu another test announces by SSDP may be listed too
    rows = sorted(r for r in out["rows"] if r[0] in OURS)
    assert rows[0][:4] == ["Ender 3 bay 1", "OctoPrint", "Creality Ender-3", "1.11.8"]
    assert rows[1][:4] == ["Prusa MK4 bay 2", "PrusaLink", "MK4", "2.1.2"]
    assert rows[2][:2] == ["voron-1", "Klipper (Moonraker)"] and rows[2][3] == "v0.9.3"
    assert out["asks"] == ["api_key"]
    assert "the API key was refused" in out["refused"] and out["after_refusal"] == []
    node = out["node"]
    assert node.driver == "moonraker" and node.capabilities.build_volume_mm == (235.0, 235.0, 250.0)
    assert node.capabilities.nozzle_mm == 0.4 and out["secrets"] == {"api_key": KEY} and out["fields_cleared"]
    img = QPixmap(str(out["shot"]))
    assert (img.width(), img.height()) == (1366, 768)
