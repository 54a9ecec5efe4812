"""The window asks who is working and acts as that person (issue 14), through the real window on a real core:
the sign-in dialog at start, a viewer's emergency stop refused (the machine keeps running), an operator's
accepted, the audit log naming each person, a session that ends asking again, and the kiosk option. With
IMEWE_SCREENSHOTS=<folder> the 1366 x 768 pictures are also saved there:

    IMEWE_SCREENSHOTS=resources/screenshots QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \\
        .venv/bin/python -m pytest tests/test_ui_people.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the control room's 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb",
                allow_module_level=True)

from PySide6.QtGui import QColor, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QMessageBox, QWidget  # noqa: E402

from app.bootstrap import user_service  # noqa: E402
from app.core.auth.service import SignInPolicy  # noqa: E402
from app.core.domain.enums import NodeState  # noqa: E402
from app.core.domain.errors import PermissionDenied  # noqa: E402
from app.core.production import ProductionService  # noqa: E402
from app.core.store.repositories import AuditRepo  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.helpers import job_spec  # noqa: E402
from tests.test_ui_support import FDM, RecordingDriver, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
PASSWORD = "correct horse 1"


async def _people(core, **roles: str) -> None:
    users = user_service(core.config, core.store, core.clock)
    await users.create_admin("root", PASSWORD)
    root = await users.resolve((await users.login("root", PASSWORD))[0])
    for name, role in roles.items():
        await users.add(root, name, PASSWORD, role)


async def _audit(core) -> list:
    def read():
        with core.store.connect() as conn:
            return AuditRepo().list(conn, 500)

    return await core.store.run(read)


def _picture(win: QWidget, dialog: QWidget | None) -> QPixmap:
    """The window with the dialog over it (grabbing the X screen gives black with no compositor)."""
    shot = win.grab()
    if dialog is not None:
        painter = QPainter(shot)
        painter.fillRect(shot.rect(), QColor(0, 0, 0, 90))
        box = dialog.grab()
        painter.drawPixmap((shot.width() - box.width()) // 2, (shot.height() - box.height()) // 2, box)
        painter.end()
    return shot


async def _sign_in(win: ControlRoom, name: str, password: str = PASSWORD) -> None:
    dialog = await until(lambda: win.person.dialog if win.person.dialog and win.person.dialog.isVisible() else None,
                         what="the sign-in dialog")
    dialog.name.setText(name)
    dialog.password.setText(password)
    dialog.sign_in_button.click()


async def _estop(win: ControlRoom, node_id) -> None:
    win.fleet.select(node_id)
    win.estop_action.trigger()  # the toolbar's red button: one click, then the one confirmation
    box = win.detail.confirm_box
    assert box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.Yes).click()


def test_sign_in_viewer_estop_refused_operator_accepted_audit_names_them(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await _people(core, olga="operator", vera="viewer")
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            prod = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {node.id: driver}, store=core.store)
            win = ControlRoom(ports_of(core, control=prod), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.move(0, 0)
            win.show()
            try:
                await core.fleet.set_state(node.id, [NodeState.ASSIGNED, NodeState.EXECUTING], "test")
                dialog = await until(lambda: win.person.dialog, what="the window asking who is working")
                assert dialog.isVisible() and not dialog.isModal()  # the e-stop is never behind it
                assert win.person.text() == "Not signed in: watching only"
                out = os.environ.get("IMEWE_SCREENSHOTS")
                if out:
                    await until(lambda: dialog.geometry().width() > 0, what="the dialog laid out")
                    _picture(win, dialog).save(str(Path(out) / "sign-in.png"))

                # nobody signed in: the window watches; a stop is refused, saying to sign in
                await _estop(win, node.id)
                await until(lambda: any("nobody is signed in" in t for t in _toasts(win)), what="a refusal")
                assert driver.calls == []

                await _sign_in(win, "vera", "wrong password")
                await until(lambda: "wrong user name or password" in dialog.error.text(), what="the refusal")
                if out:
                    _picture(win, dialog).save(str(Path(out) / "sign-in-refused.png"))
                await _sign_in(win, "vera")
                # the session holds her a moment before the dialog hears its sign-in call has ended
                await until(lambda: win.session.actor is not None and not dialog.isVisible(), what="vera signed in")
                assert win.person.text() == "Person: vera · viewer"
                assert win.windowTitle().endswith("— vera")

                # a viewer's e-stop: refused before anything is sent; the machine keeps running
                await _estop(win, node.id)
                await until(lambda: any("vera may not estop" in t for t in _toasts(win)),
                            what="the viewer's refusal shown")
                assert driver.calls == [] and core.fleet.get(node.id).state is NodeState.EXECUTING
                with pytest.raises(PermissionDenied, match="vera may not submit"):
                    await win.ports.jobs.submit(job_spec(parts=1), actor="operator")  # the panel's old name
                with pytest.raises(PermissionDenied, match="vera may not priority"):
                    await win.ports.whatif.clear_whatif(actor="operator")  # the What if tab's button
                job0 = await core.jobs.submit(job_spec(parts=1, name="queued"))
                win.jobs.open_job(job0.id)
                detail = win.jobs.detail
                await until(lambda: detail.job is not None and detail.job.id == job0.id, what="the job shown")
                detail._ask_cancel()  # noqa: SLF001 - the job detail's Cancel button
                detail.confirm_box.button(QMessageBox.StandardButton.Yes).click()
                await until(lambda: any("Refused: vera (viewer) may not cancel a job." in t for t in _toasts(win)),
                            what="the viewer's cancel refused in the window")
                assert (await core.jobs.get(job0.id)).state.value != "CANCELLED"

                # switch person: the operator's stop goes out, and the audit log names her
                win.person.switch_action.trigger()
                await _sign_in(win, "olga")
                await until(lambda: win.session.actor is not None and win.session.actor.name == "olga",
                            what="olga signed in")
                assert win.person.text() == "Person: olga · operator"
                if out:
                    for toast in list(win.toasts):
                        toast.close()
                    win.tabs.setCurrentIndex(0)
                    await until(lambda: win.person.isVisible(), what="the status bar")
                    _picture(win, None).save(str(Path(out) / "status-bar-person.png"))
                job = await win.ports.jobs.submit(job_spec(parts=1, name="olgas part"), actor="operator")
                await win.ports.whatif.clear_whatif(actor="viewer")  # whatever the panel passes, olga acts
                await _estop(win, node.id)
                await until(lambda: "emergency_stop" in driver.calls, what="the operator's stop at the driver")
                entries = await _audit(core)
                assert any(e.action == "node.emergency_stop" and e.actor == "olga" for e in entries)
                assert any(e.action == "job.submit" and e.actor == "olga" and str(job.id) in e.target
                           for e in entries)
                assert not any(e.actor == "vera" and e.action.startswith(("node.", "job.")) for e in entries)
                assert {"vera", "olga"} <= {e.actor for e in entries if e.action == "user.login"}

                # olga changes her own password: the window's session goes on, the old password no longer works
                box = win.person.change_password()
                box.current.setText(PASSWORD)
                box.new.setText("a new horse 22")
                box.again.setText("a new horse 2")
                box.change_button.click()
                assert "differ" in box.error.text()
                box.again.setText("a new horse 22")
                if out:
                    _picture(win, box).save(str(Path(out) / "change-password.png"))
                grant = win.session.grant
                box.change_button.click()
                await until(lambda: not box.isVisible(), what="the password changed")
                assert win.session.grant is not grant and win.session.actor.name == "olga"
                await win.ports.jobs.submit(job_spec(parts=1, name="after the change"))  # still olga, new session
                users = user_service(core.config, core.store, core.clock)
                with pytest.raises(Exception, match="wrong user name or password"):
                    await users.login("olga", PASSWORD)
                assert any(e.action == "user.password" and e.actor == "olga" for e in await _audit(core))

                # sign out: the window asks again, and watches until someone signs in
                win.person.sign_out_action.trigger()
                await until(lambda: win.session.actor is None and dialog.isVisible(), what="asked again")
                assert win.person.text() == "Not signed in: watching only"
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def _toasts(win: ControlRoom) -> list[str]:
    return [t.label.text() for t in win.toasts if t.isVisible()]


def test_an_ended_session_asks_again_and_still_lets_its_person_stop(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await _people(core, olga="operator")
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            prod = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {node.id: driver}, store=core.store)
            win = ControlRoom(ports_of(core, control=prod), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                win.ports.admin.users.policy = SignInPolicy(session_s=1.5)  # a short session, the real rules
                await _sign_in(win, "olga")
                await until(lambda: win.session.actor is not None, what="olga signed in")
                dialog = win.person.dialog
                await until(lambda: dialog.isVisible() and "olga" in dialog.reason.text(), timeout=6.0,
                            what="the window asking again when the session ended")
                assert "session has ended" in dialog.reason.text() and dialog.name.text() == "olga"
                assert win.person.text() == "olga: session ended, sign in"
                with pytest.raises(Exception, match="nobody is signed in"):
                    await win.ports.jobs.submit(job_spec(parts=1))
                await _estop(win, node.id)  # one click still, as the person whose session ran out
                await until(lambda: "emergency_stop" in driver.calls, what="the stop at the driver")
                assert any(e.action == "node.emergency_stop" and e.actor == "olga" for e in await _audit(core))
            finally:
                win.close()

    qloop.run_until_complete(scenario())


@pytest.mark.parametrize("kiosk", ["floor", "root"])
def test_kiosk_keeps_an_operator_signed_in_and_never_an_admin(qloop, qtbot, tmp_path: Path, kiosk: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[ui]\nkiosk_user = "{kiosk}"\nkiosk_idle_s = 1.5\n', encoding="utf-8")

    async def scenario() -> None:
        async with booted_core(home) as core:
            await _people(core, floor="operator")
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            prod = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {node.id: driver}, store=core.store)
            win = ControlRoom(ports_of(core, control=prod), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                if kiosk == "root":  # an admin is refused: the window asks who is working, saying why
                    dialog = await until(lambda: win.person.dialog, what="the window asking")
                    assert "root is an admin" in dialog.reason.text() and "never" not in dialog.reason.text()
                    assert win.session.actor is None
                    return
                await until(lambda: win.session.actor is not None, what="the kiosk person signed in")
                assert win.person.text() == "Person: floor · operator · kiosk" and win.person.dialog is None
                await _estop(win, node.id)
                await until(lambda: "emergency_stop" in driver.calls, what="the kiosk operator's stop")
                first = win.session.grant
                win.person.sign_out_action.trigger()  # back to the kiosk person, no password asked
                await until(lambda: win.session.grant not in (None, first), what="the kiosk person back")
                assert win.session.kiosk and win.person.dialog is None
                entries = await _audit(core)
                assert any(e.action == "node.emergency_stop" and e.actor == "floor" for e in entries)
                assert sum(e.action == "user.kiosk_login" and e.actor == "floor" for e in entries) == 2

                # someone switches in with their password and walks away: back to the kiosk person
                win.person.switch_action.trigger()
                await _sign_in(win, "root")
                await until(lambda: win.session.actor is not None and win.session.actor.name == "root",
                            what="root switched in")
                assert not win.session.kiosk
                await until(lambda: win.session.kiosk, timeout=6.0, what="the kiosk person back after idling")
                assert win.session.actor.name == "floor" and "root signed out after" in win.status.currentMessage()
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_a_person_who_leaves_the_window_untouched_is_signed_out_and_asked_for(qloop, qtbot, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[ui]\nidle_sign_out_s = 1.5\n", encoding="utf-8")

    async def scenario() -> None:
        async with booted_core(home) as core:
            await _people(core, olga="operator")
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                await _sign_in(win, "olga")
                await until(lambda: win.session.actor is not None and win.session.actor.name == "olga",
                            what="olga signed in")
                await asyncio.sleep(0.5)
                win.session.touched()  # she is still there: a click keeps her in
                await asyncio.sleep(1.2)
                assert win.session.actor is not None and win.session.actor.name == "olga"
                await until(lambda: win.session.actor is None, timeout=6.0, what="olga signed out after idling")
                assert "olga signed out after" in win.status.currentMessage()
                await until(lambda: win.person.dialog is not None and win.person.dialog.isVisible(),
                            what="the window asking who is working")
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_first_admin_in_the_window_then_a_disabled_person_is_asked_again(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            driver = RecordingDriver("FDM-A", FDM)
            prod = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {node.id: driver}, store=core.store)
            win = ControlRoom(ports_of(core, control=prod), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.show()
            try:
                # no people yet: nothing asked, the window acts as before (the bootstrap rule)
                await until(lambda: win.person.text().startswith("No people yet"), what="the first-run line")
                assert win.person.dialog is None
                job = await win.ports.jobs.submit(job_spec(parts=1, name="before people"), actor="operator")
                assert job.name == "before people"

                admin = win.panels["admin"]
                win.tabs.setCurrentWidget(admin)
                await until(lambda: not admin.first_admin_button.isHidden(), what="the first-admin button")
                admin.name.setText("root")
                admin.password.setText(PASSWORD)
                admin.first_admin_button.click()
                await until(lambda: win.session.actor is not None, what="the first admin signed in at the window")
                assert win.person.text() == "Person: root · admin" and win.session.people
                await until(lambda: admin.users.rowCount() == 1, what="the Admin tab following the window")
                assert admin.who.text() == "Acting as root (admin)" and admin.name.isHidden()
                admin.new_user.setText("olga")
                admin.new_password.setText(PASSWORD)
                admin.role.setCurrentText("operator")
                admin.add_user_button.click()
                await until(lambda: admin.users.rowCount() == 2, what="olga added")
                out = os.environ.get("IMEWE_SCREENSHOTS")
                if out:
                    _picture(win, None).save(str(Path(out) / "admin-signed-in.png"))

                win.person.switch_action.trigger()
                await _sign_in(win, "olga")
                await until(lambda: win.session.actor is not None and win.session.actor.name == "olga",
                            what="olga signed in")
                await until(lambda: admin.who.text() == "Acting as olga (operator)", what="the Admin tab follows")

                # an admin disables olga elsewhere (the CLI): her next action is refused and the window asks
                users = user_service(core.config, core.store, core.clock)
                root = await users.resolve((await users.login("root", PASSWORD))[0])
                await users.set_active(root, "olga", False)
                with pytest.raises(Exception, match="no longer allowed"):
                    await win.ports.jobs.cancel(job.id, actor="operator")
                await until(lambda: win.person.dialog.isVisible() and "olga" in win.person.dialog.reason.text(),
                            what="asked again")
                assert win.session.actor is None and win.session.ended is None  # a disabled person may not even stop
                await _estop(win, node.id)
                await until(lambda: any("nobody is signed in" in t for t in _toasts(win)), what="the refusal")
                assert "emergency_stop" not in driver.calls
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_people_made_elsewhere_while_the_window_runs(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                await until(lambda: win.person.text().startswith("No people yet"), what="the first-run line")
                await _people(core, olga="operator")  # imewe users create-admin, from a terminal
                with pytest.raises(Exception, match="nobody is signed in"):
                    await win.ports.jobs.submit(job_spec(parts=1))
                await until(lambda: win.person.dialog is not None and win.person.dialog.isVisible(),
                            what="the window asking")
                assert "has people now" in win.person.dialog.reason.text()
                await _sign_in(win, "olga")
                await until(lambda: win.session.actor is not None, what="olga signed in")
                job = await win.ports.jobs.submit(job_spec(parts=1, name="now as olga"))
                assert any(e.action == "job.submit" and e.actor == "olga" and str(job.id) in e.target
                           for e in await _audit(core))
            finally:
                win.close()

    qloop.run_until_complete(scenario())
