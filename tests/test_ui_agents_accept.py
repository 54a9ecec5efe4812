"""The Add machine dialog's Node agent page: a real agent on 127.0.0.1 (TLS, real zeroconf) waits with its key
fingerprint until the operator accepts it; then it joins the fleet. The picture (1366x768) is made here."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QPushButton

from app.bootstrap import agent_desk, agent_trust, agent_updates, node_token
from app.core.clock import ScaledClock, SystemClock
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import NodeState, ProcessType
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import read_agent_key
from app.devices.factory import agent_driver_factory
from app.devices.simulator import SimConfig, SimulatedMachine
from app.ui.add_machine_dialog import AddMachineDialog
from app.ui.agents_page import grouped
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.mdns import KINDS, LOOPBACK, NODE_TYPE
from tests.test_ui_support import booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_operator_accepts_a_waiting_agent_in_the_add_machine_dialog(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> dict:
        async with booted_core(tmp_path / "home") as core:
            token = node_token(core.config)
            disc = ZeroconfDiscovery(core.fleet, core.bus, SystemClock(), agent_driver_factory(token),
                                     interfaces=LOOPBACK, trust=agent_trust(core.config), key_probe=read_agent_key,
                                     kinds=KINDS)
            await disc.start()
            core.discovery = disc
            core.agent_updates = agent_updates(core, disc)  # as wire_site_services does
            ident = proto.AgentIdentity.generate()
            sim = SimulatedMachine("Prusa XL bay 4", Capabilities(process=ProcessType.FDM), ScaledClock(60),
                                   SimConfig(telemetry_interval_s=30))
            agent = NodeAgent(sim, token=token, identity=ident, host="127.0.0.1", interfaces=LOOPBACK,
                              software_version="0.9.2", service_type=NODE_TYPE)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.show()
            out: dict = {}
            agents: list = []
            try:
                await sim.connect()
                await agent.start()
                # the machine list says an agent waits, and leads to where it is accepted
                await until(lambda: win.fleet.agents_banner.isVisible()
                            and "Prusa XL bay 4" in win.fleet.agents_note.text(), 15, "the fleet's banner")
                out["banner"] = win.fleet.agents_note.text()
                out["banner_shot"] = tmp_path / "fleet-waiting.png"
                win.grab().save(str(out["banner_shot"]))
                win.fleet.agents_banner.findChild(QPushButton).click()
                dialog = await until(lambda: next((w for w in win.findChildren(AddMachineDialog)
                                                   if w.isVisible()), None), what="the dialog")
                page = dialog.agents
                out["on_agents_page"] = dialog.pages.currentWidget() is page

                def our_row() -> tuple[int] | None:
                    page.refresh()
                    return next(((r,) for r in range(page.table.rowCount())
                                 if page.table.item(r, 2).text() == grouped(ident.fingerprint)
                                 and page.table.item(r, 4).text() == "Waiting for you"), None)

                (row,) = await until(our_row, 15, "the agent waiting")
                for r in range(page.table.rowCount()):  # the picture shows this test's agent only
                    page.table.setRowHidden(r, r != row)
                out["cells"] = [page.table.item(row, c).text() for c in range(5)]
                out["enabled_before"] = page.accept_button.isEnabled()
                page.table.selectRow(row)
                out["enabled_after"] = page.accept_button.isEnabled()
                out["in_fleet_before"] = [n.name for n in core.fleet.list()]
                shot = win.grab()
                over = dialog.grab()
                painter = QPainter(shot)
                painter.drawPixmap(QPoint((shot.width() - over.width()) // 2,
                                          (shot.height() - over.height()) // 2), over)
                painter.end()
                out["shot"] = tmp_path / "add-agent.png"
                shot.save(str(out["shot"]))
                if os.environ.get("IMEWE_SAVE_SCREENSHOTS"):
                    shot.save(str(ROOT / "resources" / "screenshots" / "add-agent.png"))
                page.accept_button.click()
                await until(lambda: any(n.id == ident.node_id and n.state is NodeState.IDLE
                                        for n in core.fleet.list()), 20, "the accepted agent in the fleet")
                await until(lambda: "accepted" in page.status.text(), 5, "the dialog saying so")
                out["status"] = page.status.text()
                page.refresh()
                out["after"] = next(page.table.item(r, 4).text() for r in range(page.table.rowCount())
                                    if page.table.item(r, 2).text() == grouped(ident.fingerprint))
                out["hellos"] = agent.hellos
                # a newer agent is not offered an update; an older one is, and its refusal is shown
                page.select("Prusa XL bay 4")
                out["update_newer"] = page.update_button.isEnabled()
                old_ident = proto.AgentIdentity.generate()
                old_sim = SimulatedMachine("Laser bay 5", Capabilities(process=ProcessType.LASER), ScaledClock(60),
                                           SimConfig(telemetry_interval_s=30))
                old_agent = NodeAgent(old_sim, token=token, identity=old_ident, host="127.0.0.1",
                                      interfaces=LOOPBACK, software_version="0.0.5", service_type=NODE_TYPE)
                agents.append((old_agent, old_sim))
                await old_sim.connect()
                await old_agent.start()
                await until(lambda: disc.trust.get(old_ident.fingerprint) is not None, 15, "the old agent heard")
                await agent_desk(core).decide("cli", old_ident.fingerprint, accept=True)
                await until(lambda: any(n.id == old_ident.node_id and n.state is NodeState.IDLE
                                        for n in core.fleet.list()), 20, "the old agent in the fleet")
                page.refresh()
                page.select("Laser bay 5")
                out["update_older"] = page.update_button.isEnabled()
                out["update_text"] = page.update_button.text()
                page.update_button.click()
                await until(lambda: "failed" in page.rollout.text(), 20, "the rollout outcome")
                out["rollout"] = page.rollout.text()
                for r in range(page.table.rowCount()):
                    page.table.setRowHidden(r, page.table.item(r, 0).text() not in ("Prusa XL bay 4", "Laser bay 5"))
                out["update_shot"] = tmp_path / "agents-update.png"
                page.grab().save(str(out["update_shot"]))
                # the machine list shows the agent's software version
                dialog.close()
                win.fleet.table_btn.click()
                await until(lambda: win.fleet.table.model().rowCount() >= 1, 5, "the fleet table")
                model = win.fleet.table.model()
                col = next(c for c in range(model.columnCount())
                           if model.headerData(c, Qt.Orientation.Horizontal) == "Software")
                out["software"] = [model.index(r, col).data() for r in range(model.rowCount())
                                   if model.index(r, 0).data() == "Prusa XL bay 4"]
                win.fleet.table.selectRow(next(r for r in range(model.rowCount())
                                               if model.index(r, 0).data() == "Prusa XL bay 4"))
                await asyncio.sleep(0.3)
                out["panel_title"] = win.detail.title.text()
                await until(lambda: "Prusa XL bay 4" not in win.fleet.agents_note.text()
                            or not win.fleet.agents_banner.isVisible(), 5, "the banner to drop it")
                out["banner_after"] = win.fleet.agents_banner.isVisible() and "Prusa XL bay 4" in \
                    win.fleet.agents_note.text()
                out["table_shot"] = tmp_path / "fleet-software.png"
                win.grab().save(str(out["table_shot"]))
            finally:
                win.close()
                for a, s in [(agent, sim), *agents]:
                    await a.stop()
                    await s.disconnect()
                await disc.stop()
            return out

    out = qloop.run_until_complete(scenario())
    name, address, fp, version, state = out["cells"]
    assert name == "Prusa XL bay 4" and address.startswith("wss://127.0.0.1:") and version == "0.9.2"
    assert state == "Waiting for you" and len(fp.split()) == 8
    assert not out["enabled_before"] and out["enabled_after"]
    assert "Prusa XL bay 4" not in out["in_fleet_before"]
    assert "accepted" in out["status"] and out["after"].startswith("Accepted") and out["hellos"] >= 1
    assert out["on_agents_page"] and "wait" in out["banner"] and "Prusa XL bay 4" in out["banner"]
    assert not out["banner_after"]
    assert out["software"] == ["0.9.2"]
    assert not out["update_newer"] and out["update_older"] and out["update_text"].startswith("Update to ")
    assert "Laser bay 5: failed" in out["rollout"] and "takes no software updates" in out["rollout"] and "software 0.9.2" in out["panel_title"]
    img = QPixmap(str(out["shot"]))
    assert (img.width(), img.height()) == (1366, 768)
