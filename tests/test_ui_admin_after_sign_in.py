"""The Admin tab, first opened after someone signed in at the window, acts as that person at once (it said
"Sign in at the window…" beside "Person: root · admin" in the status bar), and with no people yet it says
in plain words that the window acts as the local operator."""

from __future__ import annotations

from pathlib import Path

from app.bootstrap import user_service
from tests import test_ui_support as ui
from tests.test_ui_support import booted_core, until, window_at_1366

qloop = ui.qloop  # the fixture
PASSWORD = "correct horse 1"


def test_admin_tab_built_after_sign_in_acts_as_the_signed_in_person(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await user_service(core.config, core.store, core.clock).create_admin("root", PASSWORD)
            async with window_at_1366(core, qtbot) as win:
                dialog = await until(lambda: win.person.dialog if win.person.dialog and win.person.dialog.isVisible()
                                     else None, what="the sign-in dialog")
                dialog.name.setText("root")
                dialog.password.setText(PASSWORD)
                dialog.sign_in_button.click()
                await until(lambda: win.session.actor is not None, what="root signed in")
                assert win.panels.built("admin") is None  # the tab is built only now, after the sign-in
                admin = win.panels["admin"]
                win.tabs.setCurrentWidget(admin)
                await until(lambda: admin.users.rowCount() == 1, what="the people listed")
                assert admin.who.text() == "Acting as root (admin)"
                assert admin.users.horizontalHeaderItem(0).text() == "Name"
                assert admin.who.wordWrap()

    qloop.run_until_complete(scenario())


def test_admin_tab_with_no_people_names_the_local_operator(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            async with window_at_1366(core, qtbot) as win:
                admin = win.panels["admin"]
                win.tabs.setCurrentWidget(admin)
                await until(lambda: admin.who.text(), what="who acts")
                assert admin.who.text() == ("No people on this site yet: the window acts as the local operator "
                                            "(admin). Create the first admin:")
                assert not admin.first_admin_button.isHidden()

    qloop.run_until_complete(scenario())
