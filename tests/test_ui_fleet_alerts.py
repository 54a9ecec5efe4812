"""A machine changing state in the core changes its tile and its table row; an alert appears in the list,
the status bar and the machine's tile, and can be acknowledged."""

from __future__ import annotations

from pathlib import Path

from app.core.domain.enums import NodeState, Severity
from app.core.events import AlertAcknowledged
from app.core.telemetry.alerts import AlertService
from app.ui.fleet_model import NODE_ROLE, ROW_ROLE
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def _row(panel, view_model, node_id):
    """The proxy index of a machine as the tiles and the table show it."""
    for r in range(view_model.rowCount()):
        idx = view_model.index(r, 0)
        if idx.data(NODE_ROLE).id == node_id:
            return idx
    return None


def test_state_change_reaches_tile_and_table_row(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            a = await core.fleet.register("FDM-A", FDM, location="bay 1", bring_up=True)
            b = await core.fleet.register("MILL-B", MILL, location="bay 2", bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                panel = win.fleet
                assert panel.proxy.rowCount() == 2
                tile = _row(panel, panel.tiles.model(), a.id)
                assert tile.data(ROW_ROLE).node.state is NodeState.IDLE

                await core.fleet.start_maintenance(a.id, "nozzle swap")
                await until(lambda: _row(panel, panel.tiles.model(), a.id).data(ROW_ROLE).node.state
                            is NodeState.MAINTENANCE, what="the tile to show MAINTENANCE")
                row = _row(panel, panel.table.model(), a.id)
                assert panel.table.model().index(row.row(), 2).data() == "Maintenance"  # words, not the enum name
                other = _row(panel, panel.table.model(), b.id)
                assert panel.table.model().index(other.row(), 2).data() == "Ready"

                # filters: by state, by area, by text
                panel.state.setCurrentIndex(panel.state.findData("MAINTENANCE"))
                assert panel.proxy.rowCount() == 1 and panel.count.text() == "1 / 2"
                panel.state.setCurrentIndex(0)
                panel.area.setCurrentIndex(panel.area.findData("bay 2"))
                assert [panel.proxy.index(r, 0).data() for r in range(panel.proxy.rowCount())] == ["MILL-B"]
                panel.area.setCurrentIndex(0)
                panel.search.setText("fdm-a")
                assert panel.proxy.rowCount() == 1
                panel.search.clear()

                # a new machine appears without a restart
                await core.fleet.register("FDM-C", FDM, bring_up=True)
                await until(lambda: panel.proxy.rowCount() == 3, what="the new machine")
                win.status.refresh()
                assert win.status.machines.text() == "Machines: 2 online / 3"
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_alert_appears_with_count_toast_and_badge_and_is_acknowledged(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            alerts = AlertService(core.store, core.bus, core.clock)
            acks: list[AlertAcknowledged] = []
            core.bus.subscribe(AlertAcknowledged, acks.append)
            win = ControlRoom(ports_of(core, alerts=alerts), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                alert = await alerts.raise_alert(str(node.id), "thermal_runaway", Severity.CRITICAL,
                                                 "hot end rising with the heater off", node_id=node.id)
                table = win.alerts.table
                await until(lambda: table.rowCount() == 1, what="the alert in the list")
                # words, not the enum's capitals; the whole message in the tooltip where the column cuts it
                assert [table.item(0, c).text() for c in (0, 2, 3)] == ["Critical", "FDM-A", "thermal runaway"]
                assert table.item(0, 4).toolTip() == "FDM-A: hot end rising with the heater off"
                assert win.status.alerts.text() == "Alerts: 1 (1 critical)"
                assert any(t.isVisible() and "hot end rising" in t.label.text() for t in win.toasts)
                tile = _row(win.fleet, win.fleet.tiles.model(), node.id).data(ROW_ROLE)
                assert tile.alert is Severity.CRITICAL and tile.alerts == 1

                table.selectRow(0)
                win.alerts.ack_btn.click()
                await until(lambda: table.rowCount() == 0, what="the acknowledged alert to leave the list")
                await until(lambda: acks, what="the acknowledgement on the bus")
                assert acks[0].alert_id == alert.id and acks[0].by == "operator"
                assert win.status.alerts.text() == "Alerts: 0"
                stored = await core.store.run(lambda: alerts.list(open_only=True))
                assert stored == []
                win.alerts.show_acked.setChecked(True)
                assert table.rowCount() == 1 and table.item(0, 5).text().startswith("operator")
            finally:
                win.close()

    qloop.run_until_complete(scenario())
