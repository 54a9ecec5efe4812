"""Emergency stop: one click away in the toolbar, asks once, and reaches the machine's driver; the other
actions follow the machine's state."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from app.core.domain.enums import NodeState
from app.core.production import ProductionService
from app.core.store.repositories import AuditRepo
from app.ui.actions import DriverMapControl
from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, RecordingDriver, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def _answer(box: QMessageBox, yes: bool) -> None:
    assert box.isVisible() and box.windowModality() != 0
    box.button(QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No).click()


def test_estop_confirms_then_reaches_the_driver(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            win = ControlRoom(ports_of(core, control=DriverMapControl({node.id: driver})), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                win.fleet.select(node.id)
                win.estop_action.trigger()  # the toolbar's big red button
                box = win.detail.confirm_box
                assert box is not None and "Stop FDM-A NOW" in box.text()
                _answer(box, yes=False)
                await until(lambda: not box.isVisible(), what="the box to close")
                assert driver.calls == []  # "No" stops nothing

                win.detail.estop.click()  # the detail's own e-stop
                box = win.detail.confirm_box
                assert box.button(QMessageBox.StandardButton.Yes).text() == "STOP NOW"
                _answer(box, yes=True)
                await until(lambda: driver.calls, what="the stop to reach the driver")
                assert driver.calls == ["emergency_stop"]
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_estop_through_the_production_service_and_state_gated_actions(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            prod = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {node.id: driver}, store=core.store)
            win = ControlRoom(ports_of(core, control=prod), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                d = win.detail
                d.show_node(node.id)
                # idle: nothing to pause or cancel; e-stop and maintenance are available
                assert (d.pause.isEnabled(), d.cancel.isEnabled(), d.estop.isEnabled(), d.maint.isEnabled()) == \
                    (False, False, True, True)
                await core.fleet.set_state(node.id, [NodeState.ASSIGNED, NodeState.EXECUTING], "test")
                await until(lambda: d.pause.isEnabled(), what="pause to be offered while working")
                assert d.cancel.isEnabled() and not d.maint.isEnabled() and not d.decommission.isEnabled()

                d.pause.click()
                await until(lambda: driver.calls == ["pause"], what="pause at the driver")
                await until(lambda: d.resume.isEnabled() and not d.pause.isEnabled(), what="resume to be offered")
                d.resume.click()
                await until(lambda: driver.calls == ["pause", "resume"], what="resume at the driver")

                d.estop.click()
                _answer(d.confirm_box, yes=True)
                await until(lambda: "emergency_stop" in driver.calls, what="the stop through the service")
                # the service wrote who stopped which machine
                def read():
                    with core.store.connect() as conn:
                        return AuditRepo().list(conn, 20)

                entries = await core.store.run(read)
                assert any(e.action == "node.emergency_stop" and e.actor == "operator" for e in entries)
            finally:
                win.close()

    qloop.run_until_complete(scenario())
