"""The Admin tab as a real Qt widget (offscreen) on a real store: the first admin, signing in, people and roles,
an API key shown once, the audit log filtered and its chain verified, and a refusal in the core's words."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.bootstrap import build_store_core, user_service  # noqa: E402
from app.core.auth.admin_access import AdminAccess  # noqa: E402
from app.core.config import load_config  # noqa: E402
from app.ui.admin_panel import AdminPanel  # noqa: E402

PASSWORD = "correct horse 1"


def test_admin_panel_first_admin_people_keys_audit(qtbot, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[sites]\nheartbeat = 2\n", encoding="utf-8")
    core = build_store_core(load_config(str(tmp_path)))
    port = AdminAccess(user_service(core.config, core.store, core.clock), core.store, core.config)
    panel = AdminPanel(port)
    qtbot.addWidget(panel)

    async def go() -> None:
        await panel.start()
        assert "No people on this site yet" in panel.who.text() and not panel.first_admin_button.isHidden()
        assert "did you mean heartbeat_s" in panel.config_text.text()
        panel.name.setText("root")
        panel.password.setText(PASSWORD)
        await panel.create_first_admin()
        assert panel.who.text() == "Acting as root (admin)" and panel.first_admin_button.isHidden()
        panel.new_user.setText("olga")
        panel.new_password.setText(PASSWORD)
        panel.role.setCurrentText("operator")
        await panel.add_user()
        names = {panel.users.item(r, 0).text(): panel.users.item(r, 1).text() for r in range(panel.users.rowCount())}
        assert names == {"olga": "operator", "root": "admin"}
        panel.users.selectRow([r for r in range(2) if panel.users.item(r, 0).text() == "olga"][0])
        panel.role.setCurrentText("viewer")
        await panel._on_selected("role")  # noqa: SLF001 - what the button does
        panel.key_name.setText("dashboard")
        panel.key_scopes.setText("read")
        panel.key_user.setText("olga")
        await panel.create_key()
        secret = panel.new_key.text()
        assert secret.startswith("imk_") and panel.keys.rowCount() == 1
        assert secret not in [panel.keys.item(0, c).text() for c in range(panel.keys.columnCount())]
        panel.audit_action.setText("user.")
        await panel.load_audit()
        actions = {panel.audit.item(r, 2).text() for r in range(panel.audit.rowCount())}
        assert {"user.add", "user.login", "user.role"} <= actions and "apikey.create" not in actions
        await panel.verify_chain()
        assert panel.chain.text().startswith("audit chain intact")
        await panel.sign_out()
        panel.name.setText("olga")
        panel.password.setText(PASSWORD)
        await panel.sign_in()
        assert panel.who.text() == "Acting as olga (viewer)"
        assert "olga may not audit" in panel.message.text()  # the core's refusal, in its own words
        panel.new_user.setText("x1")
        panel.new_password.setText(PASSWORD)
        try:
            await panel.add_user()
            raise AssertionError("a viewer added a person")
        except Exception as exc:  # noqa: BLE001 - the refusal the button's error line shows
            assert "may not users" in str(exc)

    try:
        asyncio.run(go())
    finally:
        core.store.close()
